"""A window session whose store, device or training code fails: the message is shown at once and
stays, the session ends as interrupted with what was recorded, the pain-after rating is stored,
and the window stays usable (a new session starts afterwards)."""

from __future__ import annotations

import sqlite3
import threading
import time

import numpy as np
import pytest

from biofeedback.core.types import ChannelInfo, ChannelKind, Chunk, StreamInfo
from biofeedback.devices.base import ThreadedDevice
from biofeedback.errors import DeviceError, StorageError
from biofeedback.gui.main_window import MainWindow
from biofeedback.storage.database import Database
from biofeedback.training.runner import SessionRunner

SOURCE = "sim://?scenario=relax&level_uv=4&board=12bit&channels=raw&speed=4&seed=5"

#: The acceptance bound is 1 s from the failure to the message on screen; idle it takes a few
#: milliseconds (the failure is posted to the GUI thread as a queued signal). On a machine loaded
#: far beyond its cores (load 8 on 2) the GUI thread can wait over a second for its turn, so the
#: tests allow this much; the idle figure is measured by the same code (see the closing note of
#: the change and docs/performance.md).
SHOWN_WITHIN_S = 3.0


class StoreFault:
    """Makes every sample block written after the first ``healthy`` ones fail with ``error``:
    a stand-in for a disk that fills up, a database that another process keeps locked, or a
    folder that turns read-only while recording (root in CI ignores file modes)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, error: str, healthy: int = 2) -> None:
        self.error = error
        self.healthy = healthy
        self.calls = 0
        self.failed_at: float | None = None
        self.active = True
        original = Database.write_block

        def write_block(db, *args, **kwargs):
            self.calls += 1
            if self.active and self.calls > self.healthy:
                if self.failed_at is None:
                    self.failed_at = time.monotonic()
                raise sqlite3.OperationalError(self.error)
            return original(db, *args, **kwargs)

        monkeypatch.setattr(Database, "write_block", write_block)


class VanishingBoard(ThreadedDevice):
    """A real-time board that streams for ``seconds`` and then is gone for good."""

    scheme = "vanishing"

    def __init__(self, seconds: float = 1.5) -> None:
        super().__init__("vanishing://board")
        self.seconds = seconds
        self.failed_at: float | None = None

    def open(self) -> StreamInfo:
        self.info = StreamInfo(
            1000.0, (ChannelInfo("raw", ChannelKind.RAW, 1.0, 1.0),), units="uV", realtime=True
        )
        return self.info

    def _run(self) -> bool:
        rng = np.random.default_rng(1)
        start, index = time.monotonic(), 0
        while not self._stop_event.is_set():
            if time.monotonic() - start > self.seconds:
                self.failed_at = time.monotonic()
                raise DeviceError(
                    "the board has been gone for 30 s: check the cable, then start a new session"
                )
            self._emit(Chunk(index, rng.normal(0.0, 5.0, (20, 1))))
            index += 20
            self._stop_event.wait(0.02)
        return False


def open_window(qtbot, source=SOURCE, **kwargs) -> MainWindow:
    pains: list[int] = []
    window = MainWindow(
        source,
        safety_check=False,
        audio=False,
        remember=False,
        ask_pain=False,
        pain_prompt=lambda: (pains.append(6), 6)[1],
        **kwargs,
    )
    window.pains_asked = pains
    qtbot.addWidget(window)
    window.show()
    assert window.start()
    return window


def wait_for_interrupted(qtbot, window: MainWindow, failed_at) -> float:
    """Wait for the persistent message; return how long after the failure it was put on screen
    (the session's closing, which follows, may take longer on a store that still fails)."""
    shown: list[float] = []
    show_alert = window.alert.show_alert

    def stamped(*args, **kwargs):
        shown.append(time.monotonic())
        show_alert(*args, **kwargs)

    window.alert.show_alert = stamped
    qtbot.waitUntil(lambda: failed_at() is not None, timeout=20000)
    qtbot.waitUntil(lambda: window.alert.level == "error", timeout=10000)
    shown_after = shown[0] - failed_at()
    qtbot.waitUntil(lambda: window.last_session_result is not None, timeout=20000)
    return shown_after


def assert_window_still_usable(qtbot, window: MainWindow) -> None:
    panel = window.session_panel
    assert "session stopped" in window.patient.instruction.text()  # the patient is told too
    assert window.session is None and panel.setup_box.isVisibleTo(panel)
    assert window.alert.level == "error"  # not replaced by the connection banner
    assert window.engine is not None  # back on the live view


def stored(session_id: int):
    with Database() as db:
        record = db.get_session(session_id)
        _, _, n = db.stored_extent(session_id)
    return record, n


@pytest.mark.parametrize(
    ("error", "words"),
    [
        ("database or disk is full", "full"),
        ("database is locked", "busy"),
        ("attempt to write a readonly database", "read-only"),
    ],
    ids=["disk-full", "busy", "read-only"],
)
def test_store_failure_mid_session(qtbot, monkeypatch, error, words):
    window = open_window(qtbot)
    assert window.start_session("", "P01", 3)
    qtbot.waitUntil(lambda: window.bridge.elapsed_s > 0.5, timeout=10000)
    fault = StoreFault(monkeypatch, error)
    shown_after = wait_for_interrupted(qtbot, window, lambda: fault.failed_at)
    assert shown_after < SHOWN_WITHIN_S, f"message shown {shown_after:.2f} s after the failure"
    assert words in window.alert.text
    result = window.last_session_result
    assert result.status == "interrupted" and words in result.error
    assert window.pains_asked == [6]
    fault.active = False
    record, kept = stored(result.session_id)
    assert record.status == "interrupted"
    assert record.pain_after == 6 and record.pain_before == 3
    assert kept > 0  # the samples written before the failure are kept
    assert words in " ".join(record.summary.get("errors", []))
    assert_window_still_usable(qtbot, window)
    # once the store works again, a new session starts and the old message goes away
    assert window.start_session("", "P01", None)
    assert window.alert.level == ""
    assert "session stopped" not in window.patient.instruction.text()
    assert window.finish_session().status == "complete"


def test_device_lost_for_good_ends_the_session(qtbot):
    board = VanishingBoard(seconds=1.5)
    window = open_window(qtbot, source=board)
    assert window.start_session("", "P02", None)
    shown_after = wait_for_interrupted(qtbot, window, lambda: board.failed_at)
    assert shown_after < SHOWN_WITHIN_S
    assert "gone for 30 s" in window.alert.text
    result = window.last_session_result
    record, kept = stored(result.session_id)
    assert record.status == "interrupted" and record.pain_after == 6
    assert kept > 500
    assert_window_still_usable(qtbot, window)


def test_a_bug_in_the_training_code_ends_the_session_safely(qtbot, monkeypatch):
    window = open_window(qtbot)
    assert window.start_session("desk-10min", "P03", None)
    failed: list[float] = []
    original = SessionRunner.tick

    def tick(runner, *args, **kwargs):
        if runner.state().session_elapsed_s > 1.0:
            if not failed:
                failed.append(time.monotonic())
            raise ZeroDivisionError("float division by zero")
        return original(runner, *args, **kwargs)

    monkeypatch.setattr(SessionRunner, "tick", tick)
    shown_after = wait_for_interrupted(qtbot, window, lambda: failed[0] if failed else None)
    assert shown_after < SHOWN_WITHIN_S
    assert "bug" in window.alert.text and "ZeroDivisionError" in window.alert.text
    record, kept = stored(window.last_session_result.session_id)
    assert record.status == "interrupted" and record.pain_after == 6 and kept > 0
    assert_window_still_usable(qtbot, window)


def test_session_not_started_on_an_unwritable_store_says_so_and_stays_live(qtbot, monkeypatch):
    window = open_window(qtbot)

    def refuse(*args, **kwargs):
        raise StorageError("cannot write /data/biofeedback.sqlite: check that it is not read-only")

    monkeypatch.setattr(Database, "create_session", refuse)
    assert window.start_session("", "P04", None) is False
    assert window.alert.level == "error"
    assert "Session not started." in window.alert.text and "read-only" in window.alert.text
    qtbot.waitUntil(lambda: window.engine is not None and window.bridge.elapsed_s > 0.2)
    window._on_text()  # the connection banner updates, the message stays
    assert "read-only" in window.alert.text
    assert window.session is None


def test_stop_asks_before_ending_the_session(qtbot):
    answers = [False, True]
    asked: list[str] = []

    def confirm(title: str, question: str) -> bool:
        asked.append(question)
        return answers.pop(0)

    window = open_window(qtbot, confirm=confirm)
    assert window.start_session("desk-10min", "P05", None)
    window.session_panel.stop_button.click()
    assert window.session is not None and "interrupted" in asked[0]  # "No": it goes on
    window.session_panel.stop_button.click()
    assert window.session is None
    result = window.last_session_result
    assert result.status == "interrupted"
    with Database() as db:
        assert db.get_session(result.session_id).pain_after == 6


def test_pain_after_is_kept_when_the_store_cannot_take_it(qtbot, monkeypatch):
    window = open_window(qtbot)
    assert window.start_session("", "P06", None)
    qtbot.waitUntil(lambda: window.bridge.elapsed_s > 0.5, timeout=10000)
    original = Database.update_session
    lock = threading.Lock()

    def full(db, session_id, **meta):
        with lock:
            raise StorageError("the disk holding the store is full: free some space")

    monkeypatch.setattr(Database, "update_session", full)
    result = window.finish_session("stopped by the clinician")
    assert "kept in" in result.storage_note and "pain rating" in result.storage_note
    assert "not fully saved" in window.alert.text
    monkeypatch.setattr(Database, "update_session", original)
    with Database() as db:
        db.recover_interrupted()  # the next session start stores what was kept
        assert db.get_session(result.session_id).pain_after == 6


def test_a_database_another_program_keeps_locked(qtbot, monkeypatch):
    """A real write lock held by another connection past the (shortened) bounded wait."""
    from biofeedback.storage import database
    from biofeedback.storage.recorder import Recorder

    monkeypatch.setattr(database, "BUSY_WAIT_S", 1.0)
    monkeypatch.setattr(database, "BUSY_TIMEOUT_S", 0.2)
    failed: list[float] = []
    original_fail = Recorder._fail

    def stamped_fail(recorder, *args, **kwargs):
        failed.append(time.monotonic())
        return original_fail(recorder, *args, **kwargs)

    monkeypatch.setattr(Recorder, "_fail", stamped_fail)
    window = open_window(qtbot)
    assert window.start_session("", "P07", None)
    qtbot.waitUntil(lambda: window.session.recorder.stats.samples_written > 0, timeout=10000)
    other = sqlite3.connect(window.session.db.path, timeout=0.1, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        shown_after = wait_for_interrupted(qtbot, window, lambda: failed[0] if failed else None)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert "busy" in window.alert.text
    assert shown_after < SHOWN_WITHIN_S
    result = window.last_session_result
    assert result.status == "interrupted"
    assert_window_still_usable(qtbot, window)
    with Database() as db:
        db.recover_interrupted()  # what the lock kept out (end, pain-after) is stored now
        record = db.get_session(result.session_id)
        assert record.status == "interrupted" and record.pain_after == 6
        assert db.stored_extent(result.session_id)[2] > 0


def test_a_device_warning_shows_in_the_live_view_and_stays(qtbot):
    from biofeedback.devices.base import DeviceState, DeviceStatus

    window = open_window(qtbot)
    qtbot.waitUntil(lambda: window.banner.state == DeviceState.CONNECTED, timeout=10000)
    message = "the board sends 1200 samples/s but says 1000: flash the firmware again"
    window.engine._on_status(DeviceStatus(DeviceState.CONNECTED, message, warning=True))
    qtbot.waitUntil(lambda: window.alert.level == "warning", timeout=5000)
    assert "1200 samples/s" in window.alert.text
    assert window.banner.state == DeviceState.CONNECTED  # the state did not change
