/*
 * sim_harness.c - run the biofeedback firmware in simavr with its UART on a pty and its ADC fed
 * from a file, so the host's own serial driver can be tested end to end without a board.
 *
 * The stock `simavr` command can neither expose the UART as a pty for a program to open nor
 * drive the ADC, hence this small harness against libsimavr:
 *   - ATmega328P at 16 MHz, VCC = AVCC = AREF = 5000 mV;
 *   - UART0 <-> pty master (raw mode): bytes the AVR sends (UART_IRQ_OUTPUT) go to the pty;
 *     bytes the host writes are raised on UART_IRQ_INPUT only while the UART signals XON (its
 *     receive FIFO has room), so nothing is dropped; the UART's stdio echo is switched off;
 *   - ADC: on every conversion start (ADC_IRQ_OUT_TRIGGER) the next value of that channel's
 *     column is raised on ADC_IRQ_ADC0 + channel, in millivolts. simavr converts it to
 *     code = mV * 1023 / 5000 (integer division), which the tests predict exactly;
 *   - paced to real time by default (--fast: as fast as the host reads).
 *
 * Usage:
 *   sim_harness --firmware biofeedback.elf --adc samples.u16 --columns N
 *               [--fast] [--seconds S] [--link PATH]
 * The ADC file is little-endian uint16 millivolts, row-major with N columns (column c = pin Ac);
 * it is replayed in a loop. The harness prints "pty PATH" on stdout once the port is ready and,
 * on exit (SIGTERM/SIGINT or --seconds of emulated time), one JSON line of statistics.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "avr_adc.h"
#include "avr_uart.h"
#include "sim_avr.h"
#include "sim_elf.h"
#include "sim_irq.h"

#define OUT_CAP (1u << 20)
#define IN_CAP (1u << 16)
#define MAX_COLUMNS 8

typedef struct {
    uint8_t *data;
    size_t head, tail, cap, count;
} bytes_fifo_t;

static avr_t *avr;
static avr_irq_t *adc_irq;
static avr_irq_t *uart_in_irq;
static bytes_fifo_t out_fifo; /* AVR -> host */
static bytes_fifo_t in_fifo;  /* host -> AVR */
static int uart_xon = 1;
static int pty_master = -1;
static int pty_slave = -1;
static uint16_t *adc_data;
static size_t adc_rows;
static unsigned adc_columns;
static uint64_t adc_cursor[MAX_COLUMNS];
static uint64_t bytes_out, bytes_in, bytes_dropped;
static int fast_mode;
static volatile sig_atomic_t stop_requested;

static void fifo_init(bytes_fifo_t *f, size_t cap)
{
    f->data = malloc(cap);
    f->cap = cap;
    f->head = f->tail = f->count = 0;
}

static int fifo_put(bytes_fifo_t *f, uint8_t b)
{
    if (f->count == f->cap) {
        return 0;
    }
    f->data[f->head] = b;
    f->head = (f->head + 1) % f->cap;
    f->count++;
    return 1;
}

static uint8_t fifo_get(bytes_fifo_t *f)
{
    uint8_t b = f->data[f->tail];
    f->tail = (f->tail + 1) % f->cap;
    f->count--;
    return b;
}

static void on_uart_output(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    if (!fifo_put(&out_fifo, (uint8_t)value)) {
        /* the host stopped reading for longer than OUT_CAP bytes: a real USB bridge drops too */
        bytes_dropped++;
    }
}

static void on_uart_xon(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)value;
    (void)param;
    uart_xon = 1;
}

static void on_uart_xoff(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)value;
    (void)param;
    uart_xon = 0;
}

static void on_adc_trigger(struct avr_irq_t *irq, uint32_t value, void *param)
{
    union {
        avr_adc_mux_t mux;
        uint32_t v;
    } e;
    unsigned ch;
    uint32_t mv = 0;
    (void)irq;
    (void)param;
    e.v = value;
    if (e.mux.kind != ADC_MUX_SINGLE) {
        return;
    }
    ch = e.mux.src;
    if (ch < adc_columns && ch < MAX_COLUMNS) {
        size_t row = (size_t)(adc_cursor[ch] % adc_rows);
        mv = adc_data[row * adc_columns + ch];
        adc_cursor[ch]++;
    }
    avr_raise_irq(adc_irq + ADC_IRQ_ADC0 + ch, mv);
}

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int load_adc(const char *path, unsigned columns)
{
    FILE *fh = fopen(path, "rb");
    long size;
    if (!fh) {
        perror(path);
        return -1;
    }
    fseek(fh, 0, SEEK_END);
    size = ftell(fh);
    fseek(fh, 0, SEEK_SET);
    if (size <= 0 || size % (2 * (long)columns) != 0) {
        fprintf(stderr, "%s: size %ld is not a whole number of %u-column uint16 rows\n", path, size, columns);
        fclose(fh);
        return -1;
    }
    adc_data = malloc((size_t)size);
    if (fread(adc_data, 1, (size_t)size, fh) != (size_t)size) {
        perror(path);
        fclose(fh);
        return -1;
    }
    fclose(fh);
    adc_rows = (size_t)size / (2u * columns);
    adc_columns = columns;
    return 0;
}

/* Move bytes between the pty and the FIFOs; never blocks. */
static void pump_io(void)
{
    uint8_t buf[4096];
    ssize_t n;
    /* host -> AVR */
    if (in_fifo.count < in_fifo.cap - sizeof(buf)) {
        n = read(pty_master, buf, sizeof(buf));
        if (n > 0) {
            ssize_t i;
            for (i = 0; i < n; i++) {
                fifo_put(&in_fifo, buf[i]);
            }
            bytes_in += (uint64_t)n;
        }
    }
    while (uart_xon && in_fifo.count) {
        avr_raise_irq(uart_in_irq, fifo_get(&in_fifo));
    }
    /* AVR -> host */
    while (out_fifo.count) {
        size_t chunk = out_fifo.count;
        if (chunk > out_fifo.cap - out_fifo.tail) {
            chunk = out_fifo.cap - out_fifo.tail;
        }
        n = write(pty_master, out_fifo.data + out_fifo.tail, chunk);
        if (n <= 0) {
            break; /* pty full (EAGAIN): the host is not reading right now */
        }
        out_fifo.tail = (out_fifo.tail + (size_t)n) % out_fifo.cap;
        out_fifo.count -= (size_t)n;
        bytes_out += (uint64_t)n;
    }
}

static void usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s --firmware ELF --adc FILE --columns N [--fast] [--seconds S] [--link PATH]\n",
            prog);
}

int main(int argc, char **argv)
{
    const char *firmware = NULL, *adc_path = NULL, *link_path = NULL;
    unsigned columns = 0;
    double seconds = 0;
    elf_firmware_t fw;
    char slave_name[256];
    struct termios tio;
    uint32_t flags = 0;
    double t0, sim_s = 0;
    int i;
    unsigned ch;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--firmware") && i + 1 < argc) {
            firmware = argv[++i];
        } else if (!strcmp(argv[i], "--adc") && i + 1 < argc) {
            adc_path = argv[++i];
        } else if (!strcmp(argv[i], "--columns") && i + 1 < argc) {
            columns = (unsigned)atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else if (!strcmp(argv[i], "--link") && i + 1 < argc) {
            link_path = argv[++i];
        } else if (!strcmp(argv[i], "--fast")) {
            fast_mode = 1;
        } else {
            usage(argv[0]);
            return 2;
        }
    }
    if (!firmware || !adc_path || columns < 1 || columns > MAX_COLUMNS) {
        usage(argv[0]);
        return 2;
    }
    if (load_adc(adc_path, columns) != 0) {
        return 2;
    }

    memset(&fw, 0, sizeof(fw));
    if (elf_read_firmware(firmware, &fw) != 0) {
        fprintf(stderr, "cannot read firmware %s\n", firmware);
        return 2;
    }
    avr = avr_make_mcu_by_name("atmega328p");
    if (!avr) {
        fprintf(stderr, "simavr has no atmega328p core\n");
        return 2;
    }
    avr_init(avr);
    avr->log = 1; /* errors only: warnings about unimplemented registers would flood stderr */
    avr_load_firmware(avr, &fw);
    avr->frequency = 16000000;
    avr->vcc = avr->avcc = avr->aref = 5000;

    /* UART0: no stdio echo (the stream is binary) and no poll-sleeping (it would throttle) */
    avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT),
                            on_uart_output, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON),
                            on_uart_xon, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF),
                            on_uart_xoff, NULL);
    uart_in_irq = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
    adc_irq = avr_io_getirq(avr, AVR_IOCTL_ADC_GETIRQ, 0);
    avr_irq_register_notify(adc_irq + ADC_IRQ_OUT_TRIGGER, on_adc_trigger, NULL);

    fifo_init(&out_fifo, OUT_CAP);
    fifo_init(&in_fifo, IN_CAP);
    if (openpty(&pty_master, &pty_slave, slave_name, NULL, NULL) != 0) {
        perror("openpty");
        return 2;
    }
    /* raw on both sides; keeping the slave open means the master never sees a hangup while
     * the host closes and reopens the port */
    tcgetattr(pty_slave, &tio);
    cfmakeraw(&tio);
    tcsetattr(pty_slave, TCSANOW, &tio);
    tcgetattr(pty_master, &tio);
    cfmakeraw(&tio);
    tcsetattr(pty_master, TCSANOW, &tio);
    fcntl(pty_master, F_SETFL, fcntl(pty_master, F_GETFL) | O_NONBLOCK);
    if (link_path) {
        unlink(link_path);
        if (symlink(slave_name, link_path) != 0) {
            perror(link_path);
            return 2;
        }
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
    printf("pty %s\n", link_path ? link_path : slave_name);
    fflush(stdout);

    t0 = now_s();
    while (!stop_requested) {
        int state = cpu_Running;
        for (i = 0; i < 2000; i++) {
            state = avr_run(avr);
            if (state == cpu_Done || state == cpu_Crashed) {
                break;
            }
        }
        if (state == cpu_Done || state == cpu_Crashed) {
            fprintf(stderr, "firmware stopped (state %d)\n", state);
            break;
        }
        pump_io();
        sim_s = (double)avr->cycle / avr->frequency;
        if (seconds > 0 && sim_s >= seconds) {
            break;
        }
        if (fast_mode) {
            /* as fast as possible, but never faster than the host reads */
            while (out_fifo.count > 65536 && !stop_requested) {
                struct pollfd p = {pty_master, POLLOUT, 0};
                poll(&p, 1, 20);
                pump_io();
            }
        } else {
            double ahead = sim_s - (now_s() - t0);
            if (ahead > 0.002) {
                struct pollfd p = {pty_master, POLLIN, 0};
                poll(&p, 1, (int)(ahead * 1000));
            }
        }
    }
    /* give the host what is still buffered (bounded: it may have gone away) */
    {
        double deadline = now_s() + 2.0;
        while (out_fifo.count && now_s() < deadline) {
            struct pollfd p = {pty_master, POLLOUT, 0};
            poll(&p, 1, 20);
            pump_io();
        }
    }
    printf("{\"sim_s\": %.6f, \"wall_s\": %.3f, \"bytes_out\": %llu, \"bytes_in\": %llu, "
           "\"bytes_dropped\": %llu, \"adc_conversions\": [",
           sim_s, now_s() - t0, (unsigned long long)bytes_out, (unsigned long long)bytes_in,
           (unsigned long long)bytes_dropped);
    for (ch = 0; ch < adc_columns; ch++) {
        printf("%s%llu", ch ? ", " : "", (unsigned long long)adc_cursor[ch]);
    }
    printf("]}\n");
    fflush(stdout);
    if (link_path) {
        unlink(link_path);
    }
    return 0;
}
