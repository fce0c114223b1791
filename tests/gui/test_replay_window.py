"""The replay window driven as a clinician does: opened from History's Replay…, played and paused
with Space, moved with the seek slider, a phase chosen in the list, the speed changed; the target
line follows the session's own threshold log."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QImage

from biofeedback.appmodel.replay import ReplayModel
from biofeedback.engine import Engine
from biofeedback.errors import StorageError
from biofeedback.gui.history_panel import HistoryDialog
from biofeedback.gui.replay_window import (
    SLIDER_STEPS_PER_S,
    ReplayWindow,
    describe_reason,
    open_replay,
)
from biofeedback.gui.tension_gauge import format_uv
from biofeedback.gui.theme import PALETTE
from biofeedback.session import RecordingSession
from biofeedback.storage.database import Database
from biofeedback.training.protocol import parse_protocol

PROTOCOL = """
format = 1
name = "replay-window-test"
description = "baseline, a trial, rest, a trial with its own target"
[threshold]
target = "90% of baseline"
[[phases]]
kind = "baseline"
duration = "4 s"
[[phases]]
kind = "train"
duration = "6 s"
[[phases]]
kind = "rest"
duration = "2 s"
[[phases]]
kind = "train"
duration = "4 s"
target = "3 uV"
"""

SIM = "sim://?scenario=relax&board=12bit&seed=8&speed=max"


def _record(protocol: str | None, subject: str) -> int:
    """A session stored in the data dir's store through RecordingSession (as the window does)."""
    db = Database()
    with Engine(SIM) as engine:
        proto = parse_protocol(protocol, "test.toml") if protocol else None
        session = RecordingSession(
            engine, db, proto, subject_id=subject, duration_s=None if proto else 3.0
        )
        session_id = session.start()
        assert session.wait(120)
        session.finish()
    db.close()
    return session_id


@pytest.fixture
def session_id() -> int:
    return _record(PROTOCOL, "R9")


def _opened(qtbot, session_id: int) -> ReplayWindow:
    """The replay window of ``session_id`` once it has read the session."""
    window = open_replay(None, None, session_id)
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.is_loaded, timeout=30000)
    return window


def _from_history(qtbot) -> tuple[HistoryDialog, ReplayWindow]:
    dialog = HistoryDialog("R9")
    qtbot.addWidget(dialog)
    dialog.show()
    assert not dialog.replay_button.isEnabled()  # nothing chosen yet
    dialog.table.selectRow(0)
    assert dialog.replay_button.isEnabled()
    qtbot.mouseClick(dialog.replay_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: getattr(dialog, "replay_window", None) is not None, timeout=30000)
    window = dialog.replay_window
    qtbot.waitUntil(window.isVisible, timeout=10000)
    return dialog, window


def test_history_opens_the_replay_and_space_plays_and_pauses(qtbot, session_id) -> None:
    dialog, window = _from_history(qtbot)
    model = window.model
    assert f"session {session_id}" in window.windowTitle()
    assert window.time_label.text() == "0:00 / 0:16" and window.play_button.text() == "Play"
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    window.speed_box.setCurrentIndex(window.speed_box.findData(8.0))
    assert model.speed == 8.0
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert model.playing and window.play_button.text() == "Pause"
    qtbot.waitUntil(lambda: model.position_s > 1.0, timeout=10000)
    qtbot.waitUntil(lambda: window.slider.value() >= 10, timeout=5000)
    window.phase_list.setFocus()  # Space pauses whatever has the focus
    qtbot.keyClick(window.phase_list, Qt.Key.Key_Space)
    assert not model.playing and not window.timer.isActive()
    assert window.play_button.text() == "Play"
    stopped = model.position_s
    qtbot.mouseClick(window.play_button, Qt.MouseButton.LeftButton)  # the button does the same
    qtbot.waitUntil(lambda: model.position_s > stopped, timeout=10000)
    qtbot.waitUntil(lambda: not model.playing, timeout=20000)  # 16 s at 8x: ends by itself
    assert model.position_s == model.duration_s and window.play_button.text() == "Play"
    dialog.close()


def test_seek_and_phase_jump_show_that_moments_target(qtbot, session_id) -> None:
    _, window = _from_history(qtbot)
    model = window.model
    card = window.cards[0]
    window.slider.setValue(2 * SLIDER_STEPS_PER_S)  # baseline: no target yet
    assert model.position_s == pytest.approx(2.0)
    assert window.target_lines[0].path().isEmpty() and card.gauge.isHidden()
    assert card.warning.text() == "No target yet at this moment of the session."
    assert window.target_label.text() == "No target yet: the session set its first at 0:04."
    window.slider.setValue(7 * SLIDER_STEPS_PER_S)
    assert window.time_label.text() == "0:07 / 0:16"
    first = model.target_at(0)
    assert first is not None and first != 3.0
    line = window.target_lines[0].path().boundingRect()  # from 4 s (-3 s) to now, at `first`
    assert (line.left(), line.right()) == pytest.approx((-3.0, 0.0))
    assert line.top() == pytest.approx(first) and line.height() == 0
    assert card.gauge.threshold_uv == pytest.approx(first) and not card.gauge.isHidden()
    assert window.phase_label.text() == "Phase 2 of 4: train"
    # a click on the last phase in the list jumps to its start, with its own 3 uV target
    item = window.phase_list.item(3)
    rect = window.phase_list.visualItemRect(item)
    qtbot.mouseClick(window.phase_list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert model.position_s == pytest.approx(12.0) and model.current_phase == 3
    assert window.slider.value() == 12 * SLIDER_STEPS_PER_S
    assert window.phase_label.text() == "Phase 4 of 4: train"
    assert card.gauge.threshold_uv == pytest.approx(3.0)
    window.slider.setValue(14 * SLIDER_STEPS_PER_S)  # the window shows the step down to 3 uV
    path = window.target_lines[0].path()
    steps = sorted({round(path.elementAt(i).y, 6) for i in range(path.elementCount())})
    assert steps == [3.0, round(first, 6)]
    window.slider.setValue(12 * SLIDER_STEPS_PER_S)
    assert "target 3.0 µV" in window.target_label.text()
    # at the phase's first moment nothing of it is scored yet: words, not a dash
    assert window.score_label.text().endswith("\u00a0% so far, nothing scored yet in this phase")
    window.previous_button.click()  # within 1 s of its start: the phase before
    assert model.current_phase == 2 and window.phase_list.currentRow() == 2
    # the env output was not scored: no target is shown for it, and the card says which was
    assert window.cards[1].warning.text() == "Not scored: this session's target was on raw."


def test_a_recording_without_phases(qtbot) -> None:
    session_id = _record(None, "R10")
    window = _opened(qtbot, session_id)
    assert not window.phase_list.isEnabled() and not window.next_button.isEnabled()
    window.slider.setValue(25)
    assert window.target_label.text() == "This session recorded no target."
    assert window.cards[0].warning.text() == "This session recorded no target for this channel."


def test_a_session_gone_from_the_store_is_the_dialogs_message(qtbot, session_id) -> None:
    dialog = HistoryDialog("R9")
    qtbot.addWidget(dialog)
    dialog.table.selectRow(0)
    with Database() as db:
        chosen = db.get_session(session_id)
        with db.transaction() as conn:  # gone behind the dialog's back (another window)
            conn.execute("DELETE FROM chunks WHERE session_id = ?", (chosen.id,))
    qtbot.mouseClick(dialog.replay_button, Qt.MouseButton.LeftButton)
    assert dialog.message.text() == (
        f"session {session_id} has no recorded samples: nothing to replay"
    )
    assert getattr(dialog, "replay_window", None) is None


LONG_PROTOCOL = """
format = 1
name = "replay-window-seek"
description = "a baseline and a long trial"
[threshold]
target = "90% of baseline"
[[phases]]
kind = "baseline"
duration = "5 s"
[[phases]]
kind = "train"
duration = "25 s"
[[phases]]
kind = "rest"
duration = "10 s"
"""


def _trace_pixels(plot, curve_colour: str, which: str) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) in data units of the pixels of ``curve_colour`` inside plot ``which`` ("raw" or
    "env") of a LivePlotWidget, read from what the widget paints (grab())."""
    image = plot.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    ptr = image.constBits()
    rgb = np.frombuffer(ptr, dtype=np.uint32).reshape(image.height(), image.bytesPerLine() // 4)
    rgb = rgb[:, : image.width()] & 0xFFFFFF
    vb = (plot.raw_plot if which == "raw" else plot.env_plot).vb
    area = plot.mapFromScene(vb.sceneBoundingRect()).boundingRect()
    ys, xs = np.nonzero(rgb == (QColor(curve_colour).rgb() & 0xFFFFFF))
    inside = (xs > area.left()) & (xs < area.right()) & (ys > area.top()) & (ys < area.bottom())
    points = [
        vb.mapSceneToView(plot.mapToScene(int(x), int(y)))
        for x, y in zip(xs[inside], ys[inside], strict=True)
    ]
    return np.array([p.x() for p in points]), np.array([p.y() for p in points])


def _shows_window_ending_now(window: ReplayWindow, c: int) -> bool:
    """The envelope trace of card ``c`` is painted across the 10 s window at the data's level."""
    plot = window.cards[c].plot
    x, y = _trace_pixels(plot, PALETTE.envelope_trace, "env")
    if len(x) < 100:
        return False
    env = window.model.trace_window().envelope_uv[c]
    level = float(np.nanmedian(env))
    span = plot.env_plot.vb.viewRange()[1][1]
    return bool(x.min() < -9.5 and x.max() > -0.3 and abs(float(np.median(y)) - level) < 0.1 * span)


@pytest.fixture
def long_session() -> int:
    return _record(LONG_PROTOCOL, "R11")


@pytest.mark.parametrize("played_first", [False, True], ids=["just-opened", "played-paused"])
def test_a_seek_while_paused_draws_that_moments_traces_and_target(
    qtbot, long_session, played_first
) -> None:
    window = _opened(qtbot, long_session)
    model = window.model
    if played_first:
        window.speed_box.setCurrentIndex(window.speed_box.findData(8.0))
        model.play()
        qtbot.waitUntil(lambda: model.position_s > 2.0, timeout=10000)
        model.pause()
    window.slider.setValue(round(model.duration_s / 2 * SLIDER_STEPS_PER_S))  # 20 s: the trial
    assert model.position_s == pytest.approx(20.0) and not model.playing
    card = window.cards[0]
    qtbot.waitUntil(lambda: _shows_window_ending_now(window, 0), timeout=5000)
    rx, _ = _trace_pixels(card.plot, PALETTE.raw_trace, "raw")
    assert rx.min() < -9.5 and rx.max() > -0.3
    target = model.target_at(0)
    assert target is not None
    label = card.plot.threshold_label
    assert label.isVisible() and card.plot._label_text == f"target {format_uv(target)} µV"
    assert label.pos().y() == pytest.approx(target)
    # resized while paused (maximized, a screen change): drawn again at the new size
    width = card.plot.width()
    window.resize(window.width() + 300, window.height() + 100)
    qtbot.waitUntil(lambda: card.plot.width() > width + 200, timeout=5000)
    qtbot.waitUntil(lambda: _shows_window_ending_now(window, 0), timeout=5000)


def _label_reads(window: ReplayWindow, c: int) -> bool:
    """The envelope plot's target label is shown, at the target in force, with its value."""
    target = window.model.target_at(c)
    plot = window.cards[c].plot
    return (
        target is not None
        and plot.threshold_label.isVisible()
        and plot._label_text == f"target {format_uv(target)} µV"
        and plot.threshold_label.pos().y() == pytest.approx(target)
    )


def test_phase_jump_speed_and_seek_while_playing_keep_the_picture(qtbot, long_session) -> None:
    window = _opened(qtbot, long_session)
    model = window.model
    # a phase chosen while paused: the window ending at its start (the rest, 30 s in)
    rect = window.phase_list.visualItemRect(window.phase_list.item(2))
    qtbot.mouseClick(window.phase_list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert model.position_s == pytest.approx(30.0) and not model.playing
    qtbot.waitUntil(lambda: _shows_window_ending_now(window, 0), timeout=5000)
    assert _label_reads(window, 0)
    assert window.cards[0].plot.env_plot.getAxis("bottom").labelText == "seconds before 0:30"
    assert window.phase_label.text() == "Phase 3 of 3: rest"
    assert window.score_label.text().endswith("nothing scored yet in this phase")
    # the speed changed while paused: nothing moves, nothing is lost
    window.speed_box.setCurrentIndex(window.speed_box.findData(4.0))
    assert model.speed == 4.0 and model.position_s == pytest.approx(30.0)
    qtbot.waitUntil(lambda: _shows_window_ending_now(window, 0), timeout=5000)
    assert _label_reads(window, 0)
    # a seek while playing plays on from there
    window.speed_box.setCurrentIndex(window.speed_box.findData(1.0))
    window.slider.setValue(10 * SLIDER_STEPS_PER_S)
    model.play()
    window.slider.setValue(20 * SLIDER_STEPS_PER_S)
    assert model.playing and model.position_s == pytest.approx(20.0)
    qtbot.waitUntil(lambda: model.position_s > 20.2, timeout=5000)
    model.pause()
    assert model.position_s < 25.0
    qtbot.waitUntil(lambda: _shows_window_ending_now(window, 0), timeout=5000)
    assert _label_reads(window, 0)
    assert window.slider.value() == round(model.position_s * SLIDER_STEPS_PER_S)
    window.slider.setValue(12 * SLIDER_STEPS_PER_S)
    qtbot.keyClick(window.slider, Qt.Key.Key_Right)  # a second at a time
    assert model.position_s == pytest.approx(13.0)
    qtbot.waitUntil(lambda: _shows_window_ending_now(window, 0), timeout=5000)


def test_a_held_slider_holds_the_replay(qtbot, long_session) -> None:
    window = _opened(qtbot, long_session)
    model = window.model
    window.slider.setSliderDown(True)  # the clinician holds the handle on a moment
    window.slider.setValue(15 * SLIDER_STEPS_PER_S)
    model.play()
    ticks = []
    window.timer.timeout.connect(lambda: ticks.append(model.position_s))
    qtbot.waitUntil(lambda: len(ticks) >= 5, timeout=5000)
    assert set(ticks) == {15.0} and model.playing
    window.slider.setSliderDown(False)
    qtbot.waitUntil(lambda: model.position_s > 15.1, timeout=5000)


def test_reasons_are_written_as_the_window_writes_numbers() -> None:
    """One way of writing percentages (``43 %``), µV, and "target" kept for the µV line."""
    shaping = "shaping: 43% below in last 60 s (target 70%): raised 10.3% (2 steps of 5%)"
    assert describe_reason(shaping).replace("\u00a0", " ") == (
        "shaping: 43 % below in last 60 s (aim 70 %): raised 10.3 % (2 steps of 5 %)"
    )
    assert "60\u00a0s" in describe_reason(shaping)  # a line never wraps before its unit
    start = describe_reason("start: 90% of baseline 8.39 uV")
    assert start.replace("\u00a0", " ") == "start: 90 % of baseline 8.39 µV"
    assert describe_reason("clinician") == "set by the clinician"


def test_the_window_shows_at_once_and_reads_the_session_on_a_worker(
    qtbot, session_id, monkeypatch
) -> None:
    """A long session takes seconds to read: the window is there at once, "Loading…", the GUI
    thread free, and it builds itself when the model arrives."""
    release = threading.Event()
    readers: list[str] = []
    real_open = ReplayModel.open

    def slow_open(db_path, sid):
        readers.append(threading.current_thread().name)
        assert release.wait(30)
        return real_open(db_path, sid)

    monkeypatch.setattr(ReplayModel, "open", staticmethod(slow_open))
    window = open_replay(None, None, session_id)
    qtbot.addWidget(window)
    assert window.isVisible() and not window.is_loaded
    assert window.loading_label.text() == f"Loading {window.windowTitle()[len('Replay of ') :]}…"
    assert window.loading_label.text().startswith(f"Loading session {session_id} (R9, ")
    qtbot.waitUntil(lambda: readers != [], timeout=5000)
    assert readers[0].startswith("replay-load")  # not the GUI thread
    ticks: list[int] = []  # the GUI thread runs timers while the session is read
    beat = QTimer(window)
    beat.timeout.connect(lambda: ticks.append(1))
    beat.start(10)
    qtbot.waitUntil(lambda: len(ticks) >= 5, timeout=5000)
    assert not window.is_loaded
    with qtbot.waitSignal(window.loaded, timeout=30000):
        release.set()
    assert window.time_label.text() == "0:00 / 0:16" and not window.loading_label.isVisible()


def test_a_session_that_cannot_be_read_says_so_in_the_window(
    qtbot, session_id, monkeypatch
) -> None:
    def broken(db_path, sid):
        raise StorageError(
            f"session {sid}: its samples cannot be read (database disk image is malformed)"
        )

    monkeypatch.setattr(ReplayModel, "open", staticmethod(broken))
    window = open_replay(None, None, session_id)
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.failure != "", timeout=5000)
    assert window.loading_label.text() == (
        f"This session cannot be replayed: session {session_id}: its samples cannot be read"
        " (database disk image is malformed)"
    )
    assert window.loading_bar.isHidden() and not window.is_loaded
