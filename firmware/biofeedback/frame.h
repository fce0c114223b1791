/*
 * frame.h - biofeedback wire protocol framing (docs/wire-protocol.md).
 *
 * Plain C99 with no Arduino dependency: compiled into the sketch AND into the host-side unit
 * tests (tests/firmware/test_frame.c), so the bytes the board sends are the bytes the tests check.
 *
 * A frame on the wire is   COBS( version | type | seq_lo | seq_hi | body... | crc_hi | crc_lo ) 0x00
 * CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor) covers everything
 * before it and is appended most significant byte first, so the CRC of a whole valid raw frame is 0.
 * A raw frame never exceeds FRAME_MAX_RAW bytes, which keeps every COBS code below 0xFF.
 */
#ifndef BIOFEEDBACK_FRAME_H
#define BIOFEEDBACK_FRAME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FRAME_PROTOCOL_VERSION 1

/* Largest raw frame (header + body + CRC) before COBS; encoded it is one byte longer. */
#define FRAME_MAX_RAW 253
#define FRAME_HEADER_LEN 4
#define FRAME_CRC_LEN 2
#define FRAME_MAX_BODY (FRAME_MAX_RAW - FRAME_HEADER_LEN - FRAME_CRC_LEN)
/* Encoded frame plus its 0x00 delimiter. */
#define FRAME_MAX_WIRE (FRAME_MAX_RAW + 2)

/* Packet types, device -> host. */
#define FRAME_TYPE_INFO 0x01
#define FRAME_TYPE_SAMPLES 0x02
#define FRAME_TYPE_STATUS 0x03
#define FRAME_TYPE_ERROR 0x04
/* Packet types, host -> device (commands). */
#define FRAME_CMD_IDENTIFY 0x10
#define FRAME_CMD_START 0x11
#define FRAME_CMD_STOP 0x12
#define FRAME_CMD_SET_RATE 0x13
#define FRAME_CMD_SET_CHANNELS 0x14

/* Channel kinds in INFO and SET_CHANNELS. */
#define FRAME_KIND_RAW 0
#define FRAME_KIND_ENV 1
#define FRAME_KIND_RECT 2
#define FRAME_KIND_REF 3

/* Error codes in ERROR packets. */
#define FRAME_ERR_UNKNOWN_COMMAND 1
#define FRAME_ERR_BAD_ARGUMENT 2
#define FRAME_ERR_BUSY 3
#define FRAME_ERR_RATE 4
#define FRAME_ERR_VERSION 5

/* Sizes of the fixed parts of bodies. */
#define FRAME_SAMPLES_HEADER_LEN 6 /* u32 first_index, u8 n_channels, u8 n_samples */
#define FRAME_STATUS_BODY_LEN 16

/* Result codes of frame_parse(). */
#define FRAME_OK 0
#define FRAME_ERR_EMPTY -1
#define FRAME_ERR_TOO_LONG -2
#define FRAME_ERR_COBS -3
#define FRAME_ERR_SHORT -4
#define FRAME_ERR_CRC -5

/* One CRC-16/CCITT-FALSE step; start from 0xFFFF. */
uint16_t frame_crc16_update(uint16_t crc, uint8_t byte);
/* CRC-16/CCITT-FALSE of a buffer ("123456789" -> 0x29B1). */
uint16_t frame_crc16(const uint8_t *data, size_t len);

/* COBS-encode len bytes into out (no delimiter). out needs len + len/254 + 1 bytes.
 * Returns the encoded length. */
size_t frame_cobs_encode(const uint8_t *in, size_t len, uint8_t *out);
/* COBS-decode len bytes (no delimiter) into out (may equal in: decoding never grows).
 * Returns the decoded length, or (size_t)-1 if the input is not valid COBS. */
size_t frame_cobs_decode(const uint8_t *in, size_t len, uint8_t *out);

/* Build a complete wire frame (COBS + trailing 0x00) into out (FRAME_MAX_WIRE bytes).
 * Returns the number of bytes to send, or 0 if the body is too long. The body may already sit
 * at out + FRAME_BODY_OFFSET (no copy then), which saves a second buffer on the AVR. */
#define FRAME_BODY_OFFSET (1 + FRAME_HEADER_LEN)
size_t frame_build(uint8_t type, uint16_t seq, const uint8_t *body, size_t body_len, uint8_t *out);

typedef struct {
    uint8_t version;
    uint8_t type;
    uint16_t seq;
    const uint8_t *body; /* points into the buffer given to frame_parse */
    size_t body_len;
} frame_t;

/* Decode one encoded frame (without its 0x00 delimiter) in place and check its CRC.
 * Returns FRAME_OK and fills *out, or a negative FRAME_ERR_* code. The version is returned,
 * not checked: the caller decides what to do with another protocol version. */
int frame_parse(uint8_t *buf, size_t len, frame_t *out);

/* Byte-at-a-time receiver for a stream of frames (the firmware's command input). */
typedef struct {
    uint8_t *buf;       /* caller's buffer: the longest frame it accepts, encoded */
    size_t cap;
    size_t len;
    uint8_t overflow;   /* the current frame grew past the buffer: drop it at the delimiter */
    uint16_t errors;    /* frames dropped (bad COBS, CRC, too long) */
} frame_rx_t;

void frame_rx_init(frame_rx_t *rx, uint8_t *buf, size_t cap);
/* Push one received byte. Returns 1 when a valid frame has completed (filled into *out; its
 * body points into rx->buf and stays valid until the next push), else 0. */
int frame_rx_push(frame_rx_t *rx, uint8_t byte, frame_t *out);

/* Little-endian field helpers. */
void frame_put_u16(uint8_t *p, uint16_t v);
void frame_put_u32(uint8_t *p, uint32_t v);
uint16_t frame_get_u16(const uint8_t *p);
uint32_t frame_get_u32(const uint8_t *p);

#ifdef __cplusplus
}
#endif

#endif /* BIOFEEDBACK_FRAME_H */
