/*
 * frame.c - COBS framing and CRC-16/CCITT-FALSE for the biofeedback wire protocol.
 * See frame.h and docs/wire-protocol.md. No dynamic memory, no Arduino calls.
 */
#include "frame.h"

uint16_t frame_crc16_update(uint16_t crc, uint8_t byte)
{
    uint8_t i;
    crc ^= (uint16_t)byte << 8;
    for (i = 0; i < 8; i++) {
        /* bitwise form: 250 bytes of flash instead of a 512-byte table on the AVR */
        crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
    }
    return crc;
}

uint16_t frame_crc16(const uint8_t *data, size_t len)
{
    uint16_t crc = 0xFFFFu;
    size_t i;
    for (i = 0; i < len; i++) {
        crc = frame_crc16_update(crc, data[i]);
    }
    return crc;
}

size_t frame_cobs_encode(const uint8_t *in, size_t len, uint8_t *out)
{
    size_t read = 0;
    size_t write = 1;
    size_t code_pos = 0;
    uint8_t code = 1;
    while (read < len) {
        if (in[read] == 0) {
            out[code_pos] = code;
            code_pos = write++;
            code = 1;
        } else {
            out[write++] = in[read];
            code++;
            if (code == 0xFF) {
                out[code_pos] = code;
                code_pos = write++;
                code = 1;
            }
        }
        read++;
    }
    out[code_pos] = code;
    return write;
}

size_t frame_cobs_decode(const uint8_t *in, size_t len, uint8_t *out)
{
    size_t read = 0;
    size_t write = 0;
    while (read < len) {
        uint8_t code = in[read];
        uint8_t i;
        if (code == 0 || read + code > len) {
            return (size_t)-1;
        }
        read++;
        for (i = 1; i < code; i++) {
            uint8_t byte = in[read++];
            if (byte == 0) {
                return (size_t)-1; /* a zero inside a frame: not COBS */
            }
            out[write++] = byte;
        }
        if (code != 0xFF && read < len) {
            out[write++] = 0;
        }
    }
    return write;
}

size_t frame_build(uint8_t type, uint16_t seq, const uint8_t *body, size_t body_len, uint8_t *out)
{
    /* Assemble the raw frame at the tail of out, then encode to the front: COBS output is
     * one byte longer than its input here, so encoding in place from offset 1 is safe
     * (the write position never overtakes the read position). */
    uint8_t *raw = out + 1;
    size_t raw_len = FRAME_HEADER_LEN + body_len + FRAME_CRC_LEN;
    size_t i;
    uint16_t crc;
    size_t n;
    if (body_len > FRAME_MAX_BODY) {
        return 0;
    }
    raw[0] = FRAME_PROTOCOL_VERSION;
    raw[1] = type;
    frame_put_u16(raw + 2, seq);
    if (body != raw + FRAME_HEADER_LEN) {
        for (i = 0; i < body_len; i++) {
            raw[FRAME_HEADER_LEN + i] = body[i];
        }
    }
    crc = frame_crc16(raw, raw_len - FRAME_CRC_LEN);
    raw[raw_len - 2] = (uint8_t)(crc >> 8);
    raw[raw_len - 1] = (uint8_t)(crc & 0xFF);
    n = frame_cobs_encode(raw, raw_len, out);
    out[n] = 0;
    return n + 1;
}

int frame_parse(uint8_t *buf, size_t len, frame_t *out)
{
    size_t raw_len;
    if (len == 0) {
        return FRAME_ERR_EMPTY;
    }
    if (len > FRAME_MAX_RAW + 1) {
        return FRAME_ERR_TOO_LONG;
    }
    raw_len = frame_cobs_decode(buf, len, buf);
    if (raw_len == (size_t)-1) {
        return FRAME_ERR_COBS;
    }
    if (raw_len < FRAME_HEADER_LEN + FRAME_CRC_LEN) {
        return FRAME_ERR_SHORT;
    }
    if (frame_crc16(buf, raw_len) != 0) {
        return FRAME_ERR_CRC;
    }
    out->version = buf[0];
    out->type = buf[1];
    out->seq = frame_get_u16(buf + 2);
    out->body = buf + FRAME_HEADER_LEN;
    out->body_len = raw_len - FRAME_HEADER_LEN - FRAME_CRC_LEN;
    return FRAME_OK;
}

void frame_rx_init(frame_rx_t *rx, uint8_t *buf, size_t cap)
{
    rx->buf = buf;
    rx->cap = cap;
    rx->len = 0;
    rx->overflow = 0;
    rx->errors = 0;
}

int frame_rx_push(frame_rx_t *rx, uint8_t byte, frame_t *out)
{
    if (byte != 0) {
        if (rx->len < rx->cap) {
            rx->buf[rx->len++] = byte;
        } else {
            rx->overflow = 1;
        }
        return 0;
    }
    /* delimiter: an empty frame (two zeros in a row) is padding, not an error */
    if (rx->overflow) {
        rx->errors++;
        rx->overflow = 0;
        rx->len = 0;
        return 0;
    }
    if (rx->len == 0) {
        return 0;
    }
    {
        int rc = frame_parse(rx->buf, rx->len, out);
        rx->len = 0;
        if (rc != FRAME_OK) {
            rx->errors++;
            return 0;
        }
    }
    return 1;
}

void frame_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xFF);
    p[1] = (uint8_t)(v >> 8);
}

void frame_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v & 0xFF);
    p[1] = (uint8_t)((v >> 8) & 0xFF);
    p[2] = (uint8_t)((v >> 16) & 0xFF);
    p[3] = (uint8_t)(v >> 24);
}

uint16_t frame_get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | ((uint16_t)p[1] << 8));
}

uint32_t frame_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
