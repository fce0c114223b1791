"""A board sending faster (or slower) than it declares is flagged once; a good one never is.

The pure monitor (:class:`RateCheck`) is driven with synthetic arrival times (USB batching,
start-up bursts, host stalls); the device hook is checked with pty fake boards at 1.2x their
declared rate (binary) and 2x (text), and with a board at the right rate on a loaded machine.
"""

from __future__ import annotations

import multiprocessing
import re
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from fake_board import FakeBoard, TextBoard

from biofeedback.cli import main
from biofeedback.devices import wire
from biofeedback.devices.base import DeviceState, DeviceStatus
from biofeedback.devices.rate_check import RateCheck
from biofeedback.devices.registry import open_device
from biofeedback.devices.serial_device import SerialDevice

pytestmark = pytest.mark.skipif(
    not hasattr(__import__("os"), "openpty"), reason="needs ptys (POSIX)"
)


# ---------------------------------------------------------------- the pure monitor


def _feed(
    check: RateCheck,
    true_hz: float,
    seconds: float,
    *,
    chunk_s: float = 0.01,
    latency=lambda t, rng: 0.0,
    seed: int = 0,
) -> list[tuple[float, object]]:
    """Chunks sampled at ``true_hz`` every ``chunk_s``, arriving ``latency(t)`` late, in order."""
    rng = np.random.default_rng(seed)
    verdicts, last_arrival = [], -1.0
    for k in range(1, int(seconds / chunk_s) + 1):
        t_sampled = k * chunk_s
        arrival = max(last_arrival, t_sampled + latency(t_sampled, rng))  # in order
        last_arrival = arrival
        verdict = check.add(round(t_sampled * true_hz), arrival)
        if verdict is not None:
            verdicts.append((arrival, verdict))
    return verdicts


def test_a_source_at_its_rate_is_never_flagged_despite_batching_bursts_and_stalls() -> None:
    def latency(t: float, rng: np.random.Generator) -> float:
        lat = rng.uniform(0.0, 0.05)  # USB batching up to 50 ms
        if t < 2.0:
            lat += 2.0 - t  # the first 2 s arrive together (a start-up backlog)
        if t % 7.0 < 0.8:
            lat += 0.8 - t % 7.0  # the host stalls 0.8 s every 7 s, then catches up
        return lat

    check = RateCheck(1000.0)
    assert _feed(check, 1000.0, 120.0, latency=latency) == []
    assert check.verdict is None
    assert check.measured_hz == pytest.approx(1000.0, rel=0.02)


@pytest.mark.parametrize(("ratio", "flagged"), [(1.2, True), (10.0, True), (0.9, True),
                                                (1.04, False), (0.96, False), (1.06, True)])  # fmt: skip
def test_off_by_more_than_5_percent_for_2_s_is_flagged_once(ratio, flagged) -> None:
    check = RateCheck(1000.0)
    verdicts = _feed(check, 1000.0 * ratio, 30.0, latency=lambda t, rng: rng.uniform(0, 0.02))
    assert len(verdicts) == (1 if flagged else 0)
    if flagged:
        at, verdict = verdicts[0]
        # 1 s warm-up + a 2 s window + off for 2 s (plus one evaluation step)
        assert 5.0 <= at <= 6.0
        assert verdict.measured_hz == pytest.approx(1000.0 * ratio, rel=0.02)
        assert verdict.too_fast == (ratio > 1)
        assert "declares 1000 Hz" in verdict.describe()


def test_a_restart_or_an_index_going_back_starts_afresh() -> None:
    check = RateCheck(100.0)
    t, i = 0.0, 0
    for _ in range(600):  # 6 s on rate
        t += 0.01
        i += 1
        assert check.add(i, t) is None
    assert check.measured_hz == pytest.approx(100.0)
    check.restart()  # a reconnect: the gap it fills arrives at once, then the rate resumes
    i += 5000
    for _ in range(600):
        t += 0.01
        i += 1
        assert check.add(i, t) is None
    for _ in range(600):  # a rebooted board counting from 0 again
        t += 0.01
        i = 1 if i > 1000 else i + 1
        assert check.add(i, t) is None
    assert check.verdict is None
    with pytest.raises(ValueError):
        RateCheck(0.0)


# ---------------------------------------------------------------- on the device, with ptys


class FastBoard(FakeBoard):
    """firmware/biofeedback whose timer runs ``speed`` times faster than its INFO declares."""

    speed = 1.2

    def _stream_due(self) -> None:  # FakeBoard._stream_due, paced at fs x speed
        due = self._stream_i0 + int((time.monotonic() - self._stream_t0) * self.fs_hz * self.speed)
        k, n_ch = self.per_frame, len(self.channels)
        while self._index + k <= due and not self._stop.is_set():
            codes = self.values(np.arange(self._index, self._index + k), n_ch)
            body = struct.pack("<IBB", self._index & 0xFFFFFFFF, n_ch, k)
            self._write(self._frame(wire.PacketType.SAMPLES, body + codes.astype("<u2").tobytes()))
            self._index += k
        if time.monotonic() - self._last_status > 1.0:
            self._last_status = time.monotonic()
            self._send_status()


class _Watch:
    def __init__(self) -> None:
        self.statuses: list[DeviceStatus] = []
        self.samples = 0
        self.lock = threading.Lock()

    def chunk(self, chunk) -> None:
        with self.lock:
            self.samples += len(chunk)

    def status(self, status: DeviceStatus) -> None:
        with self.lock:
            self.statuses.append(status)

    def warnings(self) -> list[str]:
        with self.lock:
            return [s.message for s in self.statuses if s.warning]


def _wait(cond, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def test_binary_board_streaming_1_2x_its_declared_rate_is_flagged(tmp_path: Path) -> None:
    with FastBoard(tmp_path, fs_hz=1000) as board:
        dev = open_device(board.url)
        watch = _Watch()
        dev.open()
        assert dev.info.fs_hz == 1000
        dev.start(watch.chunk, watch.status)
        try:
            assert _wait(lambda: watch.warnings(), 30.0), dev.stats
        finally:
            dev.close()
    (message,) = watch.warnings()
    assert f"the board on {board.path}" in message and "declares 1000 Hz" in message
    assert "flash firmware/biofeedback" in message
    assert dev.warnings == [message]
    assert dev.rate_check.verdict.measured_hz == pytest.approx(1200, rel=0.03)
    # a warning is not a state change: the board is still connected
    warned = next(s for s in watch.statuses if s.warning)
    assert warned.state == DeviceState.CONNECTED


def test_text_sketch_printing_twice_the_rate_it_was_given_is_flagged(tmp_path: Path) -> None:
    with TextBoard(tmp_path, rate_hz=200.0) as board:
        dev = open_device(f"{board.url}?format=text&fs=100")
        watch = _Watch()
        dev.start(watch.chunk, watch.status)
        try:
            assert _wait(lambda: watch.warnings(), 30.0), dev.stats
        finally:
            dev.close()
    (message,) = watch.warnings()
    assert "declares 100 Hz" in message
    # the advice names the measured rate; a loaded machine may measure it a few samples off
    suggested = re.search(r"fs=(\d+)", message)
    assert suggested is not None and abs(int(suggested.group(1)) - 200) <= 10, message


def _busy(stop) -> None:  # a CPU hog for the load test
    while not stop.is_set():
        pass


def test_a_board_at_its_rate_is_not_flagged_under_load(tmp_path: Path) -> None:
    stop = multiprocessing.Event()
    hogs = [multiprocessing.Process(target=_busy, args=(stop,), daemon=True) for _ in range(2)]
    for hog in hogs:
        hog.start()
    try:
        with FakeBoard(tmp_path, fs_hz=1000) as board:
            dev = open_device(board.url)
            assert isinstance(dev, SerialDevice)
            watch = _Watch()
            dev.start(watch.chunk, watch.status)
            try:
                # 9 s of signal: warm-up, a full window and twice the hold time
                assert _wait(lambda: watch.samples >= 9000, 60.0), dev.stats
            finally:
                dev.close()
    finally:
        stop.set()
        for hog in hogs:
            hog.join(5)
    assert watch.warnings() == [] and dev.warnings == []
    assert dev.rate_check is not None and dev.rate_check.verdict is None
    measured = dev.stats.extra["rate_measured_hz"]
    assert measured == pytest.approx(1000, rel=0.05)


def test_sim_sources_expect_their_speed_and_speed_max_is_not_checked() -> None:
    fast = open_device("sim://?speed=10")
    fast.open()
    assert fast.paced_rate_hz == pytest.approx(10 * fast.info.fs_hz)
    flat_out = open_device("sim://?speed=max")
    flat_out.open()
    assert flat_out.paced_rate_hz is None


def test_doctor_reports_the_measured_and_declared_rate_and_what_to_do(tmp_path, capsys) -> None:
    with FastBoard(tmp_path, fs_hz=1000) as board:
        code = main(["doctor", "--source", board.url, "--duration", "12", "--json"])
    out = capsys.readouterr().out
    import json

    report = json.loads(out)
    assert code == 1
    rate = report["checks"]["rate"]
    assert rate["declared_hz"] == 1000 and rate["measured_hz"] == pytest.approx(1200, rel=0.03)
    assert rate["flagged"] is True
    (problem,) = [p for p in report["problems"] if p["check"] == "rate"]
    assert "faster" in problem["problem"] and "flash firmware/biofeedback" in problem["fix"]


def test_record_says_it_once_and_stores_it_in_the_session_notes(tmp_path, capsys) -> None:
    import json

    from biofeedback.storage.database import Database

    with FastBoard(tmp_path, fs_hz=1000) as board:
        code = main(["record", "--source", board.url, "--duration", "14"])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "declares 1000 Hz" in line]
    assert code == 0 and len(lines) == 1 and "warning" in lines[0], err
    with Database() as db:
        (session,) = db.list_sessions()
        stored = db.get_session(session.id)
    assert any("declares 1000 Hz" in note for note in stored.summary.get("notes", []))
    json.dumps(stored.summary)


def test_stream_says_it_once_and_lists_it_in_the_summary(tmp_path, capsys) -> None:
    import json

    with FastBoard(tmp_path, fs_hz=1000) as board:
        code = main(["stream", "--source", board.url, "--duration", "14", "--json"])
    out = capsys.readouterr()
    summary = json.loads(out.out)
    assert code == 0
    assert sum("declares 1000 Hz" in w for w in summary["warnings"]) == 1
    assert "quality" in summary and "pct_invalid" in summary["quality"]
