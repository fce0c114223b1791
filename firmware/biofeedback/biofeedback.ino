/*
 * biofeedback.ino - MyoWare 2.0 -> framed binary stream for the biofeedback app.
 *
 * Sampling runs on hardware: Timer1 in CTC mode fires at the sample rate; its interrupt starts an
 * ADC conversion of the first channel, and the ADC-complete interrupt stores the result, switches
 * the multiplexer and starts the next channel until the set is complete. (ADC auto-trigger from
 * Timer1 would save one interrupt, but conversions started from the timer interrupt have the same
 * fixed latency every period and run identically in the simavr emulator used by the tests.)
 * The interrupts only fill a ring buffer; loop() builds frames and writes them to Serial, because
 * Serial.write() blocks when its 64-byte buffer is full and must never run inside an interrupt.
 *
 * Wire format: docs/wire-protocol.md (frame.h/frame.c are shared with the host C tests).
 * Default: 1000 Hz, RAW on A0, ENV on A1, REF on A2, 500000 baud (0 % error at 16 MHz).
 */
#include <Arduino.h>
#include <avr/interrupt.h>
#include <util/atomic.h>

#include "frame.h"

#define FW_MAJOR 1
#define FW_MINOR 0
#define FW_PATCH 0
#define BOARD_NAME "uno"
#define ADC_BITS 10
#define VREF_MV 5000
#define BAUD 500000UL

#define MAX_CHANNELS 6
#define DEFAULT_RATE_HZ 1000
#define MIN_RATE_HZ 10
#define MAX_RATE_HZ 4000
/* One conversion takes 13 ADC clocks at 125 kHz = 104 us, so channels x rate must stay below
 * ~9600/s; 8000 leaves time for the interrupt code itself. */
#define MAX_CONVERSIONS_PER_S 8000UL
#define STATUS_PERIOD_MS 1000

/* Ring of sample sets. Each set is stored as (low 16 bits of its sample index, value 0..n-1),
 * so loop() can tell exactly where the ISR had to drop sets when the ring was full. */
#define RING_WORDS 384

static volatile uint16_t ring[RING_WORDS];
static volatile uint16_t ring_head; /* next set slot the ISR writes */
static volatile uint16_t ring_tail; /* next set slot loop() reads */
static uint16_t ring_capacity;      /* sets that fit: RING_WORDS / (n_channels + 1) */
static uint8_t ring_stride;

static volatile uint32_t sample_index; /* index of the next sampling period */
static volatile uint16_t conv_index;   /* low 16 bits of the index of the set being converted */
static volatile uint32_t overruns;     /* sets dropped (ring full) or periods missed */
static volatile uint16_t ring_fill_max;
static volatile uint8_t conv_channel;
static volatile uint8_t converting;
static volatile uint16_t conv_values[MAX_CHANNELS];

static uint8_t n_channels = 3;
static uint8_t pins[MAX_CHANNELS] = {0, 1, 2, 3, 4, 5};
static uint8_t kinds[MAX_CHANNELS] = {FRAME_KIND_RAW, FRAME_KIND_ENV, FRAME_KIND_REF,
                                      FRAME_KIND_RAW, FRAME_KIND_RAW, FRAME_KIND_RAW};
static uint16_t rate_hz = DEFAULT_RATE_HZ;
static uint16_t timer_top;
static uint8_t timer_prescale_bits;
static uint32_t timer_tick_hz;
static uint8_t samples_per_frame;
static uint8_t streaming;

static uint16_t tx_seq;
static uint32_t next_index; /* full 32-bit index of the set at ring_tail */
static uint32_t last_status_ms;
static frame_rx_t rx;
static uint8_t wire[FRAME_MAX_WIRE];
/* bodies are written straight into the wire buffer where frame_build() expects them */
static uint8_t *const body = wire + FRAME_BODY_OFFSET;
/* commands are short: the longest is SET_CHANNELS with 6 channels (4 + 13 + 2 bytes, encoded + 1) */
static uint8_t rx_buf[32];

static void stop_sampling(void);

static inline uint8_t admux_for(uint8_t pin)
{
    /* REFS0: AVcc reference (5 V on an Uno), right-adjusted result */
    return (uint8_t)((1 << REFS0) | (pin & 0x07));
}

ISR(TIMER1_COMPA_vect)
{
    if (converting) {
        /* the previous set has not finished: this period is lost (but keeps its index) */
        overruns++;
        sample_index++;
        return;
    }
    conv_index = (uint16_t)sample_index++; /* the set is labelled with the period it started in */
    converting = 1;
    conv_channel = 0;
    ADMUX = admux_for(pins[0]);
    ADCSRA |= (1 << ADSC);
}

ISR(ADC_vect)
{
    uint8_t ch = conv_channel;
    conv_values[ch] = ADC;
    ch++;
    if (ch < n_channels) {
        conv_channel = ch;
        ADMUX = admux_for(pins[ch]);
        ADCSRA |= (1 << ADSC);
        return;
    }
    converting = 0;
    {
        uint16_t next = ring_head + 1;
        uint16_t fill;
        if (next == ring_capacity) {
            next = 0;
        }
        if (next == ring_tail) {
            overruns++; /* ring full: loop() is behind; the index gap tells the host */
        } else {
            volatile uint16_t *slot = ring + (uint16_t)ring_head * ring_stride;
            uint8_t i;
            slot[0] = conv_index;
            for (i = 0; i < n_channels; i++) {
                slot[i + 1] = conv_values[i];
            }
            ring_head = next;
            fill = (next >= ring_tail) ? next - ring_tail : next + ring_capacity - ring_tail;
            if (fill > ring_fill_max) {
                ring_fill_max = fill;
            }
        }
    }
}

static void send_frame(uint8_t type, const uint8_t *payload, size_t len)
{
    size_t n = frame_build(type, tx_seq++, payload, len, wire);
    if (n) {
        Serial.write(wire, n);
    }
}

static uint32_t read_sample_index(void)
{
    uint32_t v;
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE) { v = sample_index; }
    return v;
}

static void send_info(void)
{
    uint8_t n = 0;
    uint8_t i;
    const char *name = BOARD_NAME;
    /* actual rate in millihertz: the timer divides its clock by an integer */
    uint32_t rate_mhz = (timer_tick_hz * 1000UL + (timer_top + 1UL) / 2) / (timer_top + 1UL);
    body[n++] = FW_MAJOR;
    body[n++] = FW_MINOR;
    body[n++] = FW_PATCH;
    body[n++] = ADC_BITS;
    frame_put_u16(body + n, VREF_MV);
    n += 2;
    frame_put_u32(body + n, rate_mhz);
    n += 4;
    frame_put_u32(body + n, read_sample_index());
    n += 4;
    body[n++] = samples_per_frame;
    body[n++] = streaming;
    body[n++] = n_channels;
    for (i = 0; i < n_channels; i++) {
        body[n++] = pins[i];
        body[n++] = kinds[i];
    }
    while (*name && n < FRAME_MAX_BODY) {
        body[n++] = (uint8_t)*name++;
    }
    send_frame(FRAME_TYPE_INFO, body, n);
}

static void send_status(uint8_t ack_type, uint16_t ack_seq)
{
    uint32_t idx;
    uint32_t ovr;
    uint16_t fill_max;
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE)
    {
        idx = sample_index;
        ovr = overruns;
        fill_max = ring_fill_max;
    }
    body[0] = streaming;
    body[1] = ack_type;
    frame_put_u16(body + 2, ack_seq);
    frame_put_u32(body + 4, idx);
    frame_put_u32(body + 8, ovr);
    frame_put_u16(body + 12, rx.errors);
    frame_put_u16(body + 14, fill_max);
    send_frame(FRAME_TYPE_STATUS, body, FRAME_STATUS_BODY_LEN);
}

static void send_error(uint8_t code, uint16_t seq, const char *message)
{
    uint8_t n = 0;
    body[n++] = code;
    frame_put_u16(body + n, seq);
    n += 2;
    while (*message && n < FRAME_MAX_BODY) {
        body[n++] = (uint8_t)*message++;
    }
    send_frame(FRAME_TYPE_ERROR, body, n);
}

static void configure(void)
{
    uint32_t top;
    uint8_t spf;
    /* prescaler 8 (2 MHz ticks) gives exact 1000/2000/500 Hz; slow rates need 64 */
    if (rate_hz >= 40) {
        timer_prescale_bits = (1 << CS11);
        timer_tick_hz = F_CPU / 8;
    } else {
        timer_prescale_bits = (1 << CS11) | (1 << CS10);
        timer_tick_hz = F_CPU / 64;
    }
    top = (timer_tick_hz + rate_hz / 2) / rate_hz - 1;
    timer_top = (uint16_t)top;
    ring_stride = n_channels + 1;
    ring_capacity = RING_WORDS / ring_stride;
    /* about 10 ms of samples per frame (a small share of the 75 ms muscle-to-screen budget,
       docs/performance.md), within the frame size limit */
    spf = (uint8_t)(rate_hz / 100);
    if (spf < 1) {
        spf = 1;
    }
    if (spf > (FRAME_MAX_BODY - FRAME_SAMPLES_HEADER_LEN) / (2 * n_channels)) {
        spf = (FRAME_MAX_BODY - FRAME_SAMPLES_HEADER_LEN) / (2 * n_channels);
    }
    samples_per_frame = spf;
}

static void start_sampling(void)
{
    if (streaming) {
        return; /* idempotent: a host that reconnects may send START again */
    }
    ring_head = 0;
    ring_tail = 0;
    converting = 0;
    next_index = read_sample_index();
    ADCSRA = (1 << ADEN) | (1 << ADIE) | (1 << ADPS2) | (1 << ADPS1) | (1 << ADPS0);
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE)
    {
        TCCR1A = 0;
        TCCR1B = 0;
        TCNT1 = 0;
        OCR1A = timer_top;
        TIFR1 = (1 << OCF1A);
        TIMSK1 = (1 << OCIE1A);
        TCCR1B = (1 << WGM12) | timer_prescale_bits; /* CTC, TOP = OCR1A */
    }
    streaming = 1;
    last_status_ms = millis();
}

static void handle_command(const frame_t *f)
{
    if (f->version != FRAME_PROTOCOL_VERSION) {
        send_error(FRAME_ERR_VERSION, f->seq, "unsupported protocol version");
        return;
    }
    switch (f->type) {
    case FRAME_CMD_IDENTIFY:
        send_info();
        break;
    case FRAME_CMD_START:
        start_sampling();
        send_status(f->type, f->seq);
        break;
    case FRAME_CMD_STOP:
        stop_sampling();
        send_status(f->type, f->seq);
        break;
    case FRAME_CMD_SET_RATE: {
        uint16_t hz;
        if (f->body_len != 2) {
            send_error(FRAME_ERR_BAD_ARGUMENT, f->seq, "set rate needs a u16 rate in Hz");
            break;
        }
        if (streaming) {
            send_error(FRAME_ERR_BUSY, f->seq, "stop before changing the rate");
            break;
        }
        hz = frame_get_u16(f->body);
        if (hz < MIN_RATE_HZ || hz > MAX_RATE_HZ ||
            (uint32_t)hz * n_channels > MAX_CONVERSIONS_PER_S) {
            send_error(FRAME_ERR_RATE, f->seq, "rate out of range: 10..4000 Hz and rate x channels <= 8000");
            break;
        }
        rate_hz = hz;
        configure();
        send_status(f->type, f->seq);
        break;
    }
    case FRAME_CMD_SET_CHANNELS: {
        uint8_t n;
        uint8_t i;
        if (streaming) {
            send_error(FRAME_ERR_BUSY, f->seq, "stop before changing channels");
            break;
        }
        n = f->body_len ? f->body[0] : 0;
        if (n < 1 || n > MAX_CHANNELS || f->body_len != 1u + 2u * n) {
            send_error(FRAME_ERR_BAD_ARGUMENT, f->seq, "set channels: n (1..6) then n x (pin, kind)");
            break;
        }
        for (i = 0; i < n; i++) {
            if (f->body[1 + 2 * i] > 5 || f->body[2 + 2 * i] > FRAME_KIND_REF) {
                send_error(FRAME_ERR_BAD_ARGUMENT, f->seq, "pins are 0..5 (A0..A5), kinds 0..3");
                return;
            }
        }
        if ((uint32_t)rate_hz * n > MAX_CONVERSIONS_PER_S) {
            send_error(FRAME_ERR_RATE, f->seq, "too many channels for this rate");
            break;
        }
        n_channels = n;
        for (i = 0; i < n; i++) {
            pins[i] = f->body[1 + 2 * i];
            kinds[i] = f->body[2 + 2 * i];
        }
        configure();
        send_status(f->type, f->seq);
        break;
    }
    default:
        send_error(FRAME_ERR_UNKNOWN_COMMAND, f->seq, "unknown command");
        break;
    }
}

static uint16_t ring_count(void)
{
    uint16_t head;
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE) { head = ring_head; }
    return (head >= ring_tail) ? head - ring_tail : head + ring_capacity - ring_tail;
}

/* Send one SAMPLES frame of up to samples_per_frame consecutive sets; stops early at a gap
 * (dropped sets) so that every frame's samples are contiguous from its first index. */
static void send_samples(void)
{
    uint8_t k = 0;
    uint8_t i;
    uint32_t first = 0;
    uint8_t *p = body + FRAME_SAMPLES_HEADER_LEN;
    while (k < samples_per_frame && ring_count() > 0) {
        volatile uint16_t *slot = ring + (uint16_t)ring_tail * ring_stride;
        /* rebuild the full index from its low 16 bits (gaps are far below 65536 sets) */
        uint32_t idx = (next_index & 0xFFFF0000UL) | slot[0];
        if (idx < next_index) {
            idx += 0x10000UL;
        }
        if (k == 0) {
            first = idx;
        } else if (idx != first + k) {
            break;
        }
        for (i = 0; i < n_channels; i++) {
            uint16_t v = slot[i + 1];
            p[0] = (uint8_t)(v & 0xFF);
            p[1] = (uint8_t)(v >> 8);
            p += 2;
        }
        next_index = idx + 1;
        ring_tail = (ring_tail + 1 == ring_capacity) ? 0 : ring_tail + 1;
        k++;
    }
    if (k == 0) {
        return;
    }
    frame_put_u32(body, first);
    body[4] = n_channels;
    body[5] = k;
    send_frame(FRAME_TYPE_SAMPLES, body, FRAME_SAMPLES_HEADER_LEN + 2u * k * n_channels);
}

static void stop_sampling(void)
{
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE)
    {
        TCCR1B = 0;
        TIMSK1 = 0;
    }
    /* let a set in conversion finish, then send everything sampled so far: the host asked
     * to stop, it did not ask to lose the last milliseconds */
    while (converting) {
    }
    streaming = 0;
    while (ring_count() > 0) {
        send_samples();
    }
}

void setup()
{
    Serial.begin(BAUD);
    frame_rx_init(&rx, rx_buf, sizeof(rx_buf));
    configure();
    /* a lone delimiter ends whatever garbage the host saw during reset */
    Serial.write((uint8_t)0);
    send_info();
}

void loop()
{
    frame_t f;
    while (Serial.available() > 0) {
        if (frame_rx_push(&rx, (uint8_t)Serial.read(), &f)) {
            handle_command(&f);
        }
    }
    if (!streaming) {
        return;
    }
    if (ring_count() >= samples_per_frame) {
        send_samples();
    }
    if ((uint32_t)(millis() - last_status_ms) >= STATUS_PERIOD_MS) {
        last_status_ms += STATUS_PERIOD_MS;
        send_status(0, 0);
    }
}
