/*
 * Host-side unit tests of firmware/biofeedback/frame.c (built with the host gcc, run by
 * tests/firmware/test_firmware_build.py).
 *
 *   test_frame tests/data/wire_vectors.json
 *
 * Checks every golden vector (one JSON object per line, see tests/firmware/make_wire_vectors.py),
 * then property tests: random payloads round-trip, every 1-, 2- and 3-bit error in a frame is
 * rejected, and the byte receiver resynchronises after garbage. Prints "N passed, N failed".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

static int passed;
static int failed;

#define CHECK(cond, ...)                                                                          \
    do {                                                                                          \
        if (cond) {                                                                               \
            passed++;                                                                             \
        } else {                                                                                  \
            failed++;                                                                             \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                  \
            fprintf(stderr, __VA_ARGS__);                                                         \
            fputc('\n', stderr);                                                                  \
        }                                                                                         \
    } while (0)

/* ---- a tiny reader for the one-object-per-line vector file ---- */

/* Find the top-level "key": in line; returns a pointer just after the colon and space, or NULL. */
static const char *field(const char *line, const char *key)
{
    char pattern[64];
    const char *p;
    snprintf(pattern, sizeof(pattern), "\"%s\": ", key);
    p = strstr(line, pattern);
    return p ? p + strlen(pattern) : NULL;
}

static int field_str(const char *line, const char *key, char *out, size_t cap)
{
    const char *p = field(line, key);
    size_t n = 0;
    if (!p || *p != '"') {
        return 0;
    }
    p++;
    while (*p && *p != '"' && n + 1 < cap) {
        out[n++] = *p++;
    }
    out[n] = 0;
    return 1;
}

static long field_int(const char *line, const char *key, long fallback)
{
    const char *p = field(line, key);
    return p ? strtol(p, NULL, 10) : fallback;
}

static size_t unhex(const char *hex, uint8_t *out)
{
    size_t n = 0;
    while (hex[0] && hex[1]) {
        unsigned v;
        sscanf(hex, "%2x", &v);
        out[n++] = (uint8_t)v;
        hex += 2;
    }
    return n;
}

static const char *error_name(int rc)
{
    switch (rc) {
    case FRAME_ERR_EMPTY:
        return "empty";
    case FRAME_ERR_TOO_LONG:
        return "too_long";
    case FRAME_ERR_COBS:
        return "cobs";
    case FRAME_ERR_SHORT:
        return "short";
    case FRAME_ERR_CRC:
        return "crc";
    default:
        return "ok";
    }
}

static char hexbuf[4096];
static uint8_t a[2048];
static uint8_t b[2048];
static uint8_t c[2048];

static void vector_crc(const char *line, const char *name)
{
    size_t n;
    field_str(line, "input", hexbuf, sizeof(hexbuf));
    n = unhex(hexbuf, a);
    CHECK(frame_crc16(a, n) == (uint16_t)field_int(line, "crc", -1), "%s: crc %04x", name,
          frame_crc16(a, n));
}

static void vector_cobs(const char *line, const char *name)
{
    size_t n, m, e;
    field_str(line, "input", hexbuf, sizeof(hexbuf));
    n = unhex(hexbuf, a);
    field_str(line, "encoded", hexbuf, sizeof(hexbuf));
    e = unhex(hexbuf, b);
    m = frame_cobs_encode(a, n, c);
    CHECK(m == e && memcmp(b, c, e) == 0, "%s: encoding differs", name);
    m = frame_cobs_decode(b, e, c);
    CHECK(m == n && memcmp(a, c, n) == 0, "%s: decoding differs", name);
}

static void vector_frame(const char *line, const char *name)
{
    size_t body_len, wire_len, n;
    frame_t f;
    int rc;
    long version = field_int(line, "version", -1);
    long type = field_int(line, "type", -1);
    long seq = field_int(line, "seq", -1);
    field_str(line, "body", hexbuf, sizeof(hexbuf));
    body_len = unhex(hexbuf, a);
    field_str(line, "wire", hexbuf, sizeof(hexbuf));
    wire_len = unhex(hexbuf, b);
    if (version == FRAME_PROTOCOL_VERSION) {
        n = frame_build((uint8_t)type, (uint16_t)seq, a, body_len, c);
        CHECK(n == wire_len && memcmp(b, c, n) == 0, "%s: built frame differs from the golden bytes",
              name);
    }
    CHECK(b[wire_len - 1] == 0, "%s: golden frame lacks its delimiter", name);
    rc = frame_parse(b, wire_len - 1, &f);
    CHECK(rc == FRAME_OK, "%s: parse failed (%s)", name, error_name(rc));
    if (rc == FRAME_OK) {
        CHECK(f.version == version && f.type == type && f.seq == seq, "%s: header fields", name);
        CHECK(f.body_len == body_len && memcmp(f.body, a, body_len) == 0, "%s: body", name);
    }
}

static void vector_reject(const char *line, const char *name)
{
    char expected[32];
    size_t n;
    frame_t f;
    int rc;
    field_str(line, "wire", hexbuf, sizeof(hexbuf));
    n = unhex(hexbuf, b);
    field_str(line, "error", expected, sizeof(expected));
    rc = frame_parse(b, n, &f);
    CHECK(strcmp(error_name(rc), expected) == 0, "%s: got %s, want %s", name, error_name(rc), expected);
}

static void vector_stream(const char *line, const char *name)
{
    static uint8_t stream[8192];
    uint8_t rx_buf[FRAME_MAX_RAW + 1];
    frame_rx_t rx;
    frame_t f;
    size_t n, i;
    long want[64][2];
    int n_want = 0, got = 0, ok = 1;
    const char *p = field(line, "frames");
    field_str(line, "wire", hexbuf, sizeof(hexbuf));
    n = unhex(hexbuf, stream);
    /* "frames": [[t, s], [t, s], ...] */
    while (p && n_want < 64 && (p = strchr(p, '[')) != NULL) {
        char *end;
        if (p[1] == '[') {
            p++;
            continue;
        }
        want[n_want][0] = strtol(p + 1, &end, 10);
        want[n_want][1] = strtol(end + 1, &end, 10);
        n_want++;
        p = end;
        if (p[1] == ']') {
            break;
        }
    }
    frame_rx_init(&rx, rx_buf, sizeof(rx_buf));
    for (i = 0; i < n; i++) {
        if (frame_rx_push(&rx, stream[i], &f)) {
            if (got >= n_want || f.type != want[got][0] || f.seq != want[got][1]) {
                ok = 0;
            }
            got++;
        }
    }
    CHECK(ok && got == n_want, "%s: received %d frames, want %d", name, got, n_want);
    CHECK(rx.errors == field_int(line, "errors", -1), "%s: %u errors counted, want %ld", name,
          rx.errors, field_int(line, "errors", -1));
}

static int run_vectors(const char *path)
{
    static char line[16384];
    FILE *fh = fopen(path, "r");
    int count = 0;
    if (!fh) {
        perror(path);
        return -1;
    }
    while (fgets(line, sizeof(line), fh)) {
        char kind[32], name[128];
        if (!field_str(line, "kind", kind, sizeof(kind))) {
            continue;
        }
        field_str(line, "name", name, sizeof(name));
        count++;
        if (strcmp(kind, "crc") == 0) {
            vector_crc(line, name);
        } else if (strcmp(kind, "cobs") == 0) {
            vector_cobs(line, name);
        } else if (strcmp(kind, "frame") == 0) {
            vector_frame(line, name);
        } else if (strcmp(kind, "reject") == 0) {
            vector_reject(line, name);
        } else if (strcmp(kind, "stream") == 0) {
            vector_stream(line, name);
        } else {
            CHECK(0, "unknown vector kind %s", kind);
        }
    }
    fclose(fh);
    return count;
}

/* ---- property tests ---- */

static uint32_t rng_state = 12345;
static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static void property_roundtrip(void)
{
    int trial, bad = 0;
    for (trial = 0; trial < 20000; trial++) {
        size_t len = rng() % (FRAME_MAX_BODY + 1);
        size_t i, n;
        frame_t f;
        for (i = 0; i < len; i++) {
            /* many zeros, as in 10-bit samples: exercises short COBS blocks */
            a[i] = (rng() % 3 == 0) ? 0 : (uint8_t)rng();
        }
        n = frame_build(FRAME_TYPE_SAMPLES, (uint16_t)trial, a, len, b);
        if (n < 2 || b[n - 1] != 0 || memchr(b, 0, n - 1) != NULL || n > FRAME_MAX_WIRE) {
            bad++;
            continue;
        }
        if (frame_parse(b, n - 1, &f) != FRAME_OK || f.body_len != len ||
            memcmp(f.body, a, len) != 0 || f.seq != (uint16_t)trial) {
            bad++;
        }
    }
    CHECK(bad == 0, "round trip failed for %d of 20000 random frames", bad);
    CHECK(frame_build(FRAME_TYPE_SAMPLES, 0, a, FRAME_MAX_BODY + 1, b) == 0,
          "a body over FRAME_MAX_BODY must be refused");
}

static void property_bit_errors_detected(void)
{
    /* CRC-16/CCITT has Hamming distance 4 at these lengths: every 1-3 bit error is caught */
    int trial, accepted = 0;
    for (trial = 0; trial < 30000; trial++) {
        size_t len = 6 + rng() % 240;
        size_t i, raw_len;
        uint16_t crc;
        int flips = 1 + trial % 3, k;
        for (i = 0; i < len; i++) {
            a[i] = (uint8_t)rng();
        }
        crc = frame_crc16(a, len);
        a[len] = (uint8_t)(crc >> 8);
        a[len + 1] = (uint8_t)crc;
        raw_len = len + 2;
        memcpy(c, a, raw_len);
        for (k = 0; k < flips; k++) {
            size_t bit = rng() % (raw_len * 8);
            a[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        /* flips may cancel (the same bit twice): only a real change must be caught */
        if (memcmp(a, c, raw_len) != 0 && frame_crc16(a, raw_len) == 0) {
            accepted++;
        }
    }
    CHECK(accepted == 0, "%d frames with 1-3 bit errors passed the CRC", accepted);
}

static void property_exhaustive_bit_flips(void)
{
    /* every single and double bit flip in one real samples frame is rejected by frame_parse */
    static const uint8_t body[] = {0x40, 0xe2, 0x01, 0x00, 0x03, 0x02, 0x00, 0x02, 0x00,
                                   0x00, 0xff, 0x01, 0xff, 0x03, 0x00, 0x01, 0x00, 0x02};
    size_t n = frame_build(FRAME_TYPE_SAMPLES, 77, body, sizeof(body), a);
    size_t bits = (n - 1) * 8, i, j;
    int accepted = 0;
    frame_t f;
    for (i = 0; i < bits; i++) {
        for (j = i; j < bits; j++) {
            memcpy(b, a, n - 1);
            b[i / 8] ^= (uint8_t)(1u << (i % 8));
            if (j != i) {
                b[j / 8] ^= (uint8_t)(1u << (j % 8));
            }
            if (memchr(b, 0, n - 1) != NULL) {
                continue; /* a flip made a delimiter: the frame splits, never parses whole */
            }
            if (frame_parse(b, n - 1, &f) == FRAME_OK) {
                accepted++;
            }
        }
    }
    CHECK(accepted == 0, "%d single/double bit flips were accepted", accepted);
}

static void property_rx_resync(void)
{
    uint8_t rx_buf[FRAME_MAX_RAW + 1];
    frame_rx_t rx;
    frame_t f;
    size_t i, n;
    int got = 0;
    frame_rx_init(&rx, rx_buf, sizeof(rx_buf));
    /* 600 bytes of non-zero garbage overflow the buffer, then a valid frame must get through */
    for (i = 0; i < 600; i++) {
        frame_rx_push(&rx, (uint8_t)(1 + rng() % 255), &f);
    }
    frame_rx_push(&rx, 0, &f);
    CHECK(rx.errors == 1, "overflowing garbage should count as one error, got %u", rx.errors);
    n = frame_build(FRAME_CMD_START, 9, NULL, 0, a);
    for (i = 0; i < n; i++) {
        got += frame_rx_push(&rx, a[i], &f);
    }
    CHECK(got == 1 && f.type == FRAME_CMD_START && f.seq == 9, "no resync after garbage");
}

int main(int argc, char **argv)
{
    int count;
    if (argc < 2) {
        fprintf(stderr, "usage: %s tests/data/wire_vectors.json\n", argv[0]);
        return 2;
    }
    count = run_vectors(argv[1]);
    CHECK(count >= 20, "only %d vectors read from %s", count, argv[1]);
    property_roundtrip();
    property_bit_errors_detected();
    property_exhaustive_bit_flips();
    property_rx_resync();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
