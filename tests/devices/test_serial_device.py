"""SerialDevice against fake boards on ptys: handshake, streaming, gaps, reconnect, text mode,
and the error messages a user sees."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from fake_board import FakeBoard, TextBoard, default_values

from biofeedback.core.types import ChannelKind, Flag
from biofeedback.devices import wire
from biofeedback.devices.base import DeviceState
from biofeedback.devices.registry import open_device, parse_source_url
from biofeedback.devices.serial_device import SerialDevice
from biofeedback.errors import DeviceError, SourceURLError

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pty-based tests need POSIX")


class Collector:
    """Chunks and status changes from a running device, with waiting helpers."""

    def __init__(self) -> None:
        self.chunks = []
        self.arrived = []  # time.monotonic() when each chunk was delivered
        self.statuses = []
        self.lock = threading.Lock()

    def on_chunk(self, chunk) -> None:
        with self.lock:
            self.chunks.append(chunk)
            self.arrived.append(time.monotonic())

    def on_status(self, status) -> None:
        with self.lock:
            self.statuses.append((time.monotonic(), status))

    def samples(self) -> int:
        with self.lock:
            return sum(len(c) for c in self.chunks)

    def wait_samples(self, n: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while self.samples() < n:
            assert time.monotonic() < deadline, f"only {self.samples()} of {n} samples arrived"
            time.sleep(0.01)

    def wait_state(self, state: DeviceState, after: int = 0, timeout: float = 20.0) -> float:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                for t, s in self.statuses[after:]:
                    if s.state == state:
                        return t
            assert time.monotonic() < deadline, f"no {state} status: {self.statuses}"
            time.sleep(0.01)

    def silent_s(self) -> float:
        """Seconds between the last chunk before the first gap and the gap's fill: how long the
        stream was silent as seen from here (the host estimates a gap from the same interval)."""
        with self.lock:
            k = next(i for i, c in enumerate(self.chunks) if (c.flags & Flag.MISSING).any())
            return self.arrived[k] - self.arrived[k - 1]

    def arrays(self):
        with self.lock:
            idx = np.concatenate([np.arange(c.first_index, c.end_index) for c in self.chunks])
            x = np.concatenate([c.samples for c in self.chunks])
            flags = np.concatenate([c.flags for c in self.chunks])
        return idx, x, flags


def stream(device, samples: int | None = None) -> Collector:
    col = Collector()
    device.start(col.on_chunk, col.on_status)
    if samples is not None:
        col.wait_samples(samples)
    return col


def unplugged_for(board, col: Collector, seconds: float) -> None:
    """Keep ``board`` unplugged until the host has noticed and at least ``seconds`` have passed
    (the outage the test is about; nothing is asserted on how long this takes)."""
    away_from = time.monotonic()
    col.wait_state(DeviceState.RECONNECTING, after=1)
    rest = seconds - (time.monotonic() - away_from)
    if rest > 0:
        time.sleep(rest)


#: Replug to reconnected, on a loaded machine (the driver retries every RECONNECT_RETRY_S, 0.25 s;
#: this bound only tells "retries promptly" from "waits for a silence timeout or never").
RECONNECT_PROMPT_S = 5.0


def check_exact(col: Collector, board: FakeBoard) -> tuple[np.ndarray, np.ndarray]:
    """Every delivered sample equals what the board sent at that device index; the stream
    index runs without holes; missing samples are NaN and flagged."""
    idx, x, flags = col.arrays()
    assert idx[0] == 0 and np.all(np.diff(idx) == 1)
    missing = (flags & Flag.MISSING) != 0
    assert np.isnan(x[missing]).all() and not np.isnan(x[~missing]).any()
    device_index = idx + min(board.sent)  # the stream starts at the first sample received
    expected = default_values(device_index, x.shape[1]).astype(float)
    assert np.array_equal(x[~missing], expected[~missing])
    return device_index, missing


# ---- binary mode ----


def test_handshake_reports_the_firmware_stream(tmp_path):
    with FakeBoard(tmp_path) as board:
        device = open_device(board.url)
        info = device.open()
        try:
            assert info.fs_hz == 1000.0 and not info.fs_estimated
            assert [c.kind for c in info.channels] == [
                ChannelKind.RAW,
                ChannelKind.ENV,
                ChannelKind.REF,
            ]
            assert [c.pin for c in info.channels] == [0, 1, 2]
            assert info.adc_bits == 10 and info.vref_v == 5.0 and info.board == "uno"
            assert info.channels[0].scale_uv == pytest.approx(5.0 / 1024 / 200 * 1e6)
            assert info.channels[1].gain == 10_200
            assert "firmware 1.0.0" in info.device
        finally:
            device.close()
        assert board.commands[0] == wire.PacketType.IDENTIFY


def test_streams_every_sample_exactly(tmp_path, wait_for):
    with FakeBoard(tmp_path) as board:
        device = open_device(board.url)
        col = stream(device, samples=600)
        device.close()
        _, missing = check_exact(col, board)
        assert not missing.any() and device.stats.frame_errors == 0
        wait_for(lambda: wire.PacketType.STOP in board.commands, 10, "no STOP reached the board")
        assert board.commands == [
            wire.PacketType.IDENTIFY,
            wire.PacketType.START,
            wire.PacketType.STOP,
        ]


def test_rate_and_channels_are_set_from_the_url(tmp_path):
    with FakeBoard(tmp_path) as board:
        device = open_device(f"{board.url}?fs=500&channels=raw,env&pins=3,4")
        info = device.open()
        device.close()
        assert info.fs_hz == 500.0
        assert [(c.pin, c.kind) for c in info.channels] == [
            (3, ChannelKind.RAW),
            (4, ChannelKind.ENV),
        ]
        assert (
            wire.PacketType.SET_RATE in board.commands
            and wire.PacketType.SET_CHANNELS in board.commands
        )


def test_firmware_refusal_is_reported(tmp_path):
    with FakeBoard(tmp_path, max_rate_hz=2000) as board:
        device = open_device(f"{board.url}?fs=3000")
        with pytest.raises(DeviceError, match="refused set_rate: rate out of range"):
            device.open()


def test_bits_that_disagree_with_the_firmware_are_refused(tmp_path):
    with FakeBoard(tmp_path) as board:  # reports a 10-bit uno
        device = open_device(f"{board.url}?bits=12")
        with pytest.raises(DeviceError, match=r"reports a 10-bit ADC, not 12-bit: remove bits="):
            device.open()
        device.close()
        # the firmware's own resolution is accepted (and so is a board read at it)
        device = open_device(f"{board.url}?bits=10&board=uno-r4")
        info = device.open()
        device.close()
        assert info.adc_bits == 10 and info.board == "uno"


def test_lost_frames_become_marked_gaps(tmp_path):
    lost = {5, 6, 20}
    with FakeBoard(tmp_path, drop=lambda k: k in lost) as board:
        device = open_device(board.url)
        col = stream(device, samples=400)
        device.close()
        device_index, missing = check_exact(col, board)
        assert missing.sum() == 30 == device.stats.missing_samples
        gap_rows = device_index[missing]
        assert set(gap_rows.tolist()) == {i for k in lost for i in range(10 * k, 10 * k + 10)}


def test_a_very_long_gap_is_capped_and_the_stream_stays_contiguous(tmp_path, monkeypatch):
    from biofeedback.devices import stream_index

    monkeypatch.setattr(stream_index, "MAX_GAP_FILL_S", 0.05)  # 50 samples at 1 kHz
    with FakeBoard(tmp_path, drop=lambda k: 5 <= k < 15) as board:
        device = open_device(board.url)
        col = stream(device, samples=400)
        device.close()
    idx, x, flags = col.arrays()
    assert idx[0] == 0 and np.all(np.diff(idx) == 1)
    missing = (flags & Flag.MISSING) != 0
    assert missing.sum() == 50 == device.stats.missing_samples
    assert not np.isnan(x[~missing]).any()


def test_unplug_and_replug_resumes_with_an_exact_gap(tmp_path):
    """The board keeps sampling while unplugged: its index makes the gap exact."""
    with FakeBoard(tmp_path) as board:
        device = open_device(board.url)
        col = stream(device, samples=500)
        board.unplug()  # waits until the host has read everything sent
        sent_before = set(board.sent)
        unplugged_for(board, col, 0.3)
        board.replug()
        plugged = time.monotonic()
        n_status = len(col.statuses)
        resumed = col.wait_state(DeviceState.CONNECTED, after=1)
        assert resumed - plugged < RECONNECT_PROMPT_S
        col.wait_samples(col.samples() + 300)
        device.close()
        states = [s for _, s in col.statuses]
        lost = next(s for s in states if s.state == DeviceState.RECONNECTING)
        assert "disappeared" in lost.message and n_status >= 2
        device_index, missing = check_exact(col, board)
        delivered = set(device_index[~missing].tolist())
        assert sent_before <= delivered  # nothing received before the gap was lost
        first_gap = int(np.argmax(missing))
        gap_len = int(missing.sum())
        # the gap is exactly the samples the board took while it was away
        after = device_index[first_gap + gap_len]
        assert gap_len == after - max(sent_before) - 1
        assert gap_len == device.stats.missing_samples and device.stats.reconnects == 1


def test_replug_after_reboot_estimates_the_gap_from_time(tmp_path):
    with FakeBoard(tmp_path) as board:
        device = open_device(f"{board.url}?fs=500")
        col = stream(device, samples=300)
        board.unplug()  # returns once the board has stopped: nothing is sent from here on
        unplugged_for(board, col, 0.6)
        board.replug(reboot=True)  # index back to 0, default rate: the host must redo SET_RATE
        col.wait_state(DeviceState.CONNECTED, after=1)
        col.wait_samples(col.samples() + 200)
        device.close()
        idx, x, flags = col.arrays()
        assert np.all(np.diff(idx) == 1)
        missing = (flags & Flag.MISSING) != 0
        gap = int(missing.sum())
        # estimated from the time away (500 Hz): at least the 0.6 s the board was off, at most
        # the time the stream was silent as delivered here (plus 0.25 s for a busy machine)
        assert 0.6 * 500 * 0.8 <= gap <= (col.silent_s() + 0.25) * 500 * 1.1
        assert board.fs_hz == 500  # the rebooted board was configured again
        after = x[~missing][-100:]
        assert not np.isnan(after).any()


def test_reconnect_off_reports_the_loss(tmp_path):
    with FakeBoard(tmp_path) as board:
        device = open_device(f"{board.url}?reconnect=off")
        col = stream(device, samples=100)
        board.unplug()
        col.wait_state(DeviceState.ERROR)
        device.close()
        message = next(s.message for _, s in col.statuses if s.state == DeviceState.ERROR)
        assert "reconnect=off" in message and "disappeared" in message


# ---- errors a user can meet ----


def test_no_such_port_lists_the_ports(tmp_path):
    with pytest.raises(
        DeviceError, match=r"no such port .*ttyNOPE; (available ports|no serial ports)"
    ):
        open_device(f"serial://{tmp_path}/ttyNOPE").open()


def test_busy_port(tmp_path):
    with FakeBoard(tmp_path) as board:
        first = open_device(board.url)
        first.open()
        try:
            with pytest.raises(DeviceError, match="busy: another program has it open"):
                open_device(board.url).open()
        finally:
            first.close()


@pytest.mark.parametrize(
    ("code", "text", "match"),
    [
        (
            errno.EACCES,
            "[Errno 13] could not open port /dev/ttyACM0: Permission denied",
            "sudo usermod -aG dialout",
        ),
        (errno.EBUSY, "[Errno 16] Device or resource busy", "busy"),
        (errno.ENOENT, "[Errno 2] No such file or directory", "no such port"),
        (None, "weird failure", "cannot open /dev/ttyACM0: weird failure"),
    ],
)
def test_open_error_messages(code, text, match, monkeypatch):
    import serial

    monkeypatch.setattr(sys, "platform", "linux")
    device = SerialDevice("/dev/ttyACM0")
    exc = serial.SerialException(code, text) if code else serial.SerialException(text)
    assert match in str(device.transport.open_error(exc))


def test_silent_port(tmp_path):
    board = TextBoard(tmp_path, rate_hz=0.001, banner=b"").start()
    try:
        with pytest.raises(
            DeviceError, match=r"no data from .* is the biofeedback firmware flashed"
        ):
            open_device(f"{board.url}?timeout=0.5").open()
    finally:
        board.stop()


def test_board_speaking_text_is_told_to_use_text_mode(tmp_path):
    with (
        TextBoard(tmp_path, rate_hz=200) as board,
        pytest.raises(
            DeviceError, match=r"no valid frame in \d+ bytes.*try format=text.*lines of text"
        ),
    ):
        open_device(f"{board.url}?timeout=0.7").open()


def test_protocol_version_mismatch(tmp_path):
    with (
        FakeBoard(tmp_path, version=2) as board,
        pytest.raises(DeviceError, match="speaks wire protocol v2; this app speaks v1"),
    ):
        open_device(board.url).open()


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("serial://?baud=500000", "needs a port"),
        ("serial:///dev/x?format=morse", "choose one of"),
        ("serial:///dev/x?pins=0,1", "as many pins as channels"),
        ("serial:///dev/x?channels=raw&pins=9", "pins are 0..5"),
        ("serial:///dev/x?format=text&channels=raw&pins=0", "binary only"),
        ("serial:///dev/x?fs=999.5", "whole hertz"),
        ("serial:///dev/x?bogus=1", "unknown option"),
        ("serial:///dev/x?format=text&bits=7", r"bits=7 is out of range \[8, 16\]"),
        ("serial:///dev/x?format=text&bits=x", "not a whole number"),
    ],
)
def test_bad_urls(url, match):
    with pytest.raises(SourceURLError, match=match):
        open_device(url)


def test_from_url_options():
    device = SerialDevice.from_url(
        parse_source_url("serial://COM3?format=text&baud=9600&board=12bit&fs=20")
    )
    assert (device.port, device.text, device.baud, device.board_key, device.fs_request) == (
        "COM3",
        True,
        9600,
        "12bit",
        20.0,
    )
    assert (
        SerialDevice("/dev/ttyACM0").baud == 500_000
        and SerialDevice("/x", text=True).baud == 115_200
    )


# ---- text mode (stock SparkFun / MyoWare example sketches) ----


def test_text_mode_estimates_the_rate_and_keeps_every_line(tmp_path):
    with TextBoard(tmp_path, rate_hz=50) as board:
        device = open_device(f"{board.url}?format=text&board=uno")
        info = device.open()
        assert info.fs_estimated and info.fs_hz == pytest.approx(50, rel=0.1)
        assert [c.kind for c in info.channels] == [ChannelKind.ENV] and info.adc_bits == 10
        col = stream(device, samples=150)
        device.close()
        idx, x, flags = col.arrays()
        assert idx[0] == 0 and np.all(np.diff(idx) == 1) and not flags.any()
        values = x[:, 0].astype(int)
        # consecutive lines of the sketch, none skipped, starting with the first whole line
        first_line = next(n for n in range(board.lines_sent) if board.value(n) == values[0])
        assert values.tolist() == [board.value(first_line + k) for k in range(len(values))]


def test_text_mode_with_three_columns_and_known_rate(tmp_path):
    with TextBoard(tmp_path, rate_hz=100, columns=3, sep=b"\t") as board:
        device = open_device(f"{board.url}?format=text&channels=raw,env,ref&fs=100&board=12bit")
        info = device.open()
        col = stream(device, samples=50)
        device.close()
        assert not info.fs_estimated and info.fs_hz == 100 and info.adc_bits == 12
        _, x, _ = col.arrays()
        first = next(n for n in range(1024) if board.value(n) == x[0, 0])
        expected = [[board.value(first + k, c) for c in range(3)] for k in range(len(x))]
        assert x.tolist() == expected


@pytest.mark.parametrize(("board_key", "bits", "vref"), [("uno-r4", 10, 5.0), ("12bit", 14, 3.3)])
def test_text_mode_bits_sets_the_adc_and_the_scale(tmp_path, board_key, bits, vref):
    """A sketch that calls analogReadResolution(n) (or an R4 left at the core's 10-bit default)."""
    with TextBoard(tmp_path, rate_hz=100, columns=2) as board:
        url = f"{board.url}?format=text&board={board_key}&bits={bits}&channels=raw,env&fs=100"
        device = open_device(url)
        assert device.adc_bits == bits
        info = device.open()
        device.close()
        assert info.adc_bits == bits and info.vref_v == vref and info.board == board_key
        assert info.full_scale == 2**bits - 1
        raw, env = info.channels
        assert raw.scale_uv == pytest.approx(vref / 2**bits / 200 * 1e6)
        assert env.scale_uv == pytest.approx(vref / 2**bits / 10_200 * 1e6)


def test_text_mode_width_mismatch(tmp_path):
    with (
        TextBoard(tmp_path, rate_hz=100, columns=2) as board,
        pytest.raises(DeviceError, match="say what they are"),
    ):
        open_device(f"{board.url}?format=text").open()


def test_text_mode_reconnect_marks_the_time_away(tmp_path):
    with TextBoard(tmp_path, rate_hz=100) as board:
        device = open_device(f"{board.url}?format=text&fs=100")
        col = stream(device, samples=60)
        board.unplug()
        unplugged_for(board, col, 0.5)
        board.start()
        col.wait_state(DeviceState.CONNECTED, after=1)
        col.wait_samples(col.samples() + 60)
        device.close()
        idx, _, flags = col.arrays()
        assert np.all(np.diff(idx) == 1)
        gap = int(((flags & Flag.MISSING) != 0).sum())
        # at least the 0.5 s the board was off, at most the silence seen here (+0.25 s, busy machine)
        assert 0.5 * 100 * 0.8 <= gap <= (col.silent_s() + 0.25) * 100 * 1.1


def test_stream_command_on_a_stock_sketch(tmp_path):
    """`biofeedback stream` on a board printing analogRead values, as SparkFun's example does."""
    with TextBoard(tmp_path, rate_hz=100) as board:
        url = f"{board.url}?format=text&board=uno"
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "biofeedback",
                "stream",
                "--source",
                url,
                "--duration",
                "1.5",
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["fs_estimated"] is True and summary["fs_hz"] == pytest.approx(100, rel=0.1)
    assert summary["board"] == "uno" and summary["adc_bits"] == 10
    assert summary["samples"] == round(1.5 * summary["fs_hz"])
    assert summary["dropped"] == 0 and summary["frame_errors"] == 0
