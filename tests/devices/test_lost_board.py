"""A serial board that disappears and never comes back ends the stream after the reconnect window.

The device gives up with a final ERROR ("the board at PORT has been gone for N s: ..."), so
``Engine.wait()`` returns and ``biofeedback record --duration 15`` exits 1 with one line, the
session stored as interrupted with what was recorded. Ptys stand in for the boards.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from fake_board import FakeBoard, TextBoard

from biofeedback.cli import main
from biofeedback.devices.base import DeviceState, DeviceStatus
from biofeedback.devices.registry import open_device
from biofeedback.devices.serial_device import DEFAULT_RECONNECT_S, SerialDevice
from biofeedback.errors import SourceURLError
from biofeedback.storage.database import Database

pytestmark = pytest.mark.skipif(
    not hasattr(__import__("os"), "openpty"), reason="needs ptys (POSIX)"
)

#: Slack on top of the reconnect window for noticing the loss and a loaded machine.
MARGIN_S = 6.0


def _wait(cond, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


class _Watch:
    def __init__(self) -> None:
        self.samples = 0
        self.statuses: list[tuple[float, DeviceStatus]] = []
        self.lock = threading.Lock()

    def chunk(self, chunk) -> None:
        with self.lock:
            self.samples += len(chunk)

    def status(self, status: DeviceStatus) -> None:
        with self.lock:
            self.statuses.append((time.monotonic(), status))

    def errors(self) -> list[tuple[float, str]]:
        with self.lock:
            return [(t, s.message) for t, s in self.statuses if s.state == DeviceState.ERROR]


@pytest.mark.parametrize("text", [False, True], ids=["binary", "text"])
def test_a_board_gone_beyond_the_window_ends_the_stream_with_an_error(tmp_path: Path, text) -> None:
    board = TextBoard(tmp_path, rate_hz=200.0) if text else FakeBoard(tmp_path, fs_hz=1000)
    board.start()
    url = f"{board.url}?reconnect_s=1" + ("&format=text&fs=200" if text else "")
    dev = open_device(url)
    assert isinstance(dev, SerialDevice) and dev.reconnect_s == 1.0
    watch = _Watch()
    dev.start(watch.chunk, watch.status)
    try:
        assert _wait(lambda: watch.samples >= 100, 30.0)
        gone_at = time.monotonic()
        board.unplug()  # and never plugged back in
        assert _wait(lambda: watch.errors(), 1.0 + MARGIN_S), watch.statuses
        assert dev.wait(5.0)  # the reader thread has ended
    finally:
        dev.close()
        board.stop()
    ((t_error, message),) = watch.errors()
    assert t_error - gone_at <= 1.0 + MARGIN_S
    assert message == (
        f"the board at {board.path} has been gone for 1 s: check the cable, then start a new "
        "recording"
    )
    states = [s.state for _, s in watch.statuses]
    assert DeviceState.RECONNECTING in states and states[-1] == DeviceState.ERROR


def test_a_port_that_reopens_but_stays_silent_also_ends_the_stream(tmp_path: Path) -> None:
    # a text port reopens at once (no handshake): without data it must not count as "back"
    from biofeedback.devices.serial_device import SILENCE_RECONNECT_S

    with TextBoard(tmp_path, rate_hz=200.0) as board:
        dev = open_device(f"{board.url}?format=text&fs=200&reconnect_s=1")
        watch = _Watch()
        dev.start(watch.chunk, watch.status)
        try:
            assert _wait(lambda: watch.samples >= 100, 30.0)
            silent_at = time.monotonic()
            board._t0 = time.monotonic() + 1e6  # the sketch hangs: no more lines, port stays
            assert _wait(lambda: watch.errors(), SILENCE_RECONNECT_S + 1.0 + MARGIN_S)
        finally:
            dev.close()
    ((t_error, message),) = watch.errors()
    assert t_error - silent_at <= SILENCE_RECONNECT_S + 1.0 + MARGIN_S
    assert "has been gone for 1 s" in message


def test_a_board_back_within_the_window_still_resumes(tmp_path: Path) -> None:
    with FakeBoard(tmp_path, fs_hz=1000) as board:
        dev = open_device(f"{board.url}?reconnect_s=20")
        watch = _Watch()
        dev.start(watch.chunk, watch.status)
        try:
            assert _wait(lambda: watch.samples >= 100, 30.0)
            board.unplug()
            assert _wait(
                lambda: any(s.state == DeviceState.RECONNECTING for _, s in watch.statuses), 10.0
            )
            board.replug()
            assert _wait(
                lambda: (
                    watch.statuses[-1][1].state == DeviceState.CONNECTED
                    and "reconnected" in watch.statuses[-1][1].message
                ),
                20.0,
            )
        finally:
            dev.close()
    assert watch.errors() == []


def test_the_window_is_validated_everywhere(tmp_path: Path) -> None:
    assert DEFAULT_RECONNECT_S == 30.0
    assert SerialDevice("/dev/null").reconnect_s == 30.0
    for bad in ("601", "-1", "nan", "inf"):
        with pytest.raises(SourceURLError):
            open_device(f"serial:///dev/ttyX?reconnect_s={bad}")
    dev = SerialDevice("/dev/ttyX")
    for bad in (600.5, -0.1, float("nan")):
        with pytest.raises(SourceURLError, match="0 to 600"):
            dev.set_reconnect_window(bad)
    dev.set_reconnect_window(0)
    assert dev.reconnect_s == 0
    dev.set_reconnect_window(None)  # not given: unchanged
    assert dev.reconnect_s == 0
    sim = open_device("sim://")
    sim.set_reconnect_window(10)  # a source that never reconnects accepts and ignores it
    with pytest.raises(SourceURLError):
        sim.set_reconnect_window(1000)


@pytest.mark.parametrize("command", ["record", "stream"])
@pytest.mark.parametrize("value", ["601", "-1", "nan"])
def test_cli_refuses_a_bad_reconnect_window_in_one_line(capsys, command, value) -> None:
    args = [command, "--source", "sim://?speed=max", "--duration", "1", "--reconnect-s", value]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--reconnect-s" in err and "0 to 600" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def _unplug_after(board: FakeBoard, samples: int, done: list[float]) -> threading.Thread:
    def run() -> None:
        if _wait(lambda: len(board.sent) >= samples, 60.0):
            board.unplug()
            done.append(time.monotonic())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_record_from_a_board_that_never_comes_back_exits_1_and_keeps_the_session(
    tmp_path: Path, capsys
) -> None:
    board = FakeBoard(tmp_path, fs_hz=1000).start()
    unplugged: list[float] = []
    try:
        thread = _unplug_after(board, 1500, unplugged)
        code = main(
            ["record", "--source", board.url, "--duration", "15", "--reconnect-s", "1", "--json"]
        )
        ended = time.monotonic()
        thread.join(5)
    finally:
        board.stop()
    out = capsys.readouterr()
    assert code == 1, out.err
    assert unplugged and ended - unplugged[0] <= 1.0 + MARGIN_S
    gone = [line for line in out.err.splitlines() if "has been gone for 1 s" in line]
    assert len(gone) == 1 and "check the cable, then start a new recording" in gone[0]
    assert "Traceback" not in out.err
    data = json.loads(out.out)
    assert data["status"] == "interrupted"
    with Database() as db:
        record = db.get_session(data["session_id"])
        _, samples, _ = db.read_samples(data["session_id"])
    assert record.status == "interrupted"
    assert len(samples) >= 1000  # what was recorded before the board went is kept


def test_stream_from_a_board_that_never_comes_back_exits_1(tmp_path: Path, capsys) -> None:
    board = FakeBoard(tmp_path, fs_hz=1000).start()
    unplugged: list[float] = []
    try:
        thread = _unplug_after(board, 500, unplugged)
        code = main(
            ["stream", "--source", board.url, "--duration", "15", "--reconnect-s", "1", "--json"]
        )
        ended = time.monotonic()
        thread.join(5)
    finally:
        board.stop()
    out = capsys.readouterr()
    assert code == 1, out.err
    assert unplugged and ended - unplugged[0] <= 1.0 + MARGIN_S
    summary = json.loads(out.out)
    assert summary["samples"] >= 400 and summary["state"] == "error"
