"""Guided sessions in the window: start a protocol, follow it, skip, stop, store; history dialog."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from PySide6.QtCore import Qt

from biofeedback import config
from biofeedback.errors import StorageError
from biofeedback.gui.history_panel import (
    NO_SUBJECT,
    HistoryDialog,
    point_row,
    streak_text,
)
from biofeedback.gui.main_window import MainWindow
from biofeedback.gui.reminders import ReminderWatcher, reminder_due
from biofeedback.gui.theme import PALETTE
from biofeedback.storage.database import Database
from biofeedback.storage.progress import progress_summary

SOURCE = "sim://?scenario=relax&level_uv=4&end_uv=3&board=12bit&channels=raw,ref&speed=8&seed=3"

# Baseline and training last 1 s and 2 s at speed=8: long enough for the tests to see each phase
# and act in it even when a busy machine holds the GUI thread back for a while.

PROTOCOL = """
format = 1
name = "gui-test"
description = "A short test session: baseline, training, rest"
muscles = ["upper trapezius"]
body_part = "shoulders"

[[phases]]
kind = "baseline"
duration = "8 s"
instruction = "Sit still and breathe normally."
patient_text = "Sit comfortably; nothing to do yet."

[[phases]]
kind = "train"
duration = "16 s"
feedback = "visual"
target = "90% of baseline"
pacer_bpm = 5
instruction = "Let your shoulders sink below the line."

[[phases]]
kind = "rest"
duration = "30 s"
instruction = "Rest."
"""


@pytest.fixture
def protocol_file():
    folder = config.data_dir() / "protocols"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "gui-test.toml").write_text(PROTOCOL, encoding="utf-8")
    return "gui-test"


def open_window(qtbot, **kwargs) -> MainWindow:
    window = MainWindow(
        SOURCE, safety_check=False, audio=False, remember=False, ask_pain=False, **kwargs
    )
    qtbot.addWidget(window)
    window.show()
    assert window.start()
    return window


def test_protocol_session_runs_shows_phases_and_is_stored(qtbot, protocol_file):
    window = open_window(qtbot, protocol="gui-test")
    panel = window.session_panel
    assert panel.protocol.currentData() == "gui-test"  # --protocol preselects it
    panel.subject.setText("P07")
    panel.pain.setValue(5)
    with qtbot.waitSignal(window.session_events.received, timeout=10000):
        panel.start_button.click()
    session = window.session
    assert session is not None and session.protocol.name == "gui-test"
    assert panel.running_box.isVisibleTo(panel) and not panel.setup_box.isVisibleTo(panel)
    # the first phase shows in the panel; the patient reads the phase's own patient text
    qtbot.waitUntil(lambda: "baseline" in panel.phase_label.text(), timeout=10000)
    qtbot.waitUntil(
        lambda: window.patient.instruction.text() == "Sit comfortably; nothing to do yet.",
        timeout=5000,
    )
    assert window.timer_label.isVisibleTo(window)  # the session clock shows in a session
    # training: the runner's target (90 % of the baseline) becomes the window's target
    qtbot.waitUntil(lambda: "train" in panel.phase_label.text(), timeout=15000)
    # (logged as "protocol" unless the first-seconds target already had the same rounded value)
    runner = session.runner
    qtbot.waitUntil(
        lambda: (
            runner.threshold_uv is not None
            and abs(window.thresholds_uv[0] - runner.threshold_uv) <= 0.005
        ),
        timeout=15000,
    )
    assert window.patient.pacer.rate_bpm == 5.0 and window.patient.pacer.isVisibleTo(window.patient)
    # no patient text in training: a calm default naming the orb and the pacer, never the line
    qtbot.waitUntil(lambda: "pacer" in window.patient.instruction.text(), timeout=5000)
    assert "line" not in window.patient.instruction.text()
    assert "target" in panel.detail_label.text()
    # a marker with a note goes into the session's store
    window.add_marker()
    window.marker_note.setText("patient shrugged")
    window.marker_note.returnPressed.emit()
    # skip the long rest phase: the protocol ends and the session is stored
    qtbot.waitUntil(lambda: "rest" in panel.phase_label.text(), timeout=15000)
    panel.skip_button.click()
    qtbot.waitUntil(lambda: window.last_session_result is not None, timeout=15000)
    result = window.last_session_result
    assert result.status == "complete"
    assert window.session is None and panel.setup_box.isVisibleTo(panel)
    assert window.engine is not None  # back on the live view
    with Database() as db:
        record = db.get_session(result.session_id)
        assert record.subject_id == "P07" and record.protocol == "gui-test"
        assert record.pain_before == 5
        phases = db.phases(result.session_id)
        assert [p["kind"] for p in phases] == ["baseline", "train", "rest"]
        assert phases[-1].get("skipped") in (True, 1)
        notes = [m["note"] for m in db.markers(result.session_id)]
        assert "patient shrugged" in notes


def test_clinician_target_overrides_the_protocol_and_stop_keeps_the_recording(qtbot, protocol_file):
    window = open_window(qtbot)
    panel = window.session_panel
    panel.select_protocol("gui-test")
    assert window.start_session("gui-test", "P08", None)
    qtbot.waitUntil(lambda: "train" in panel.phase_label.text(), timeout=15000)
    window.threshold_spins[0].setValue(2.5)
    runner = window.session.runner
    assert runner.threshold_uv == pytest.approx(2.5)
    assert runner.state().override
    window.toggle_pause()
    assert runner.state().paused and panel.pause_button.text() == "Resume"
    window.toggle_pause()
    assert not runner.state().paused
    result = window.finish_session("stopped by the clinician")
    assert result.status == "interrupted"
    with Database() as db:
        log = db.threshold_log(result.session_id)
        assert any(row["new_uv"] == pytest.approx(2.5) for row in log)


def test_plain_recording_without_protocol(qtbot):
    window = open_window(qtbot)
    assert window.start_session("", "", None)
    qtbot.waitUntil(lambda: window.bridge.elapsed_s > 1.0, timeout=10000)
    window._on_text()
    assert window.session_panel.phase_label.text() == "Recording"
    result = window.finish_session()
    assert result.session_id > 0 and result.status == "complete"


def test_closing_the_window_closes_the_session_as_interrupted(qtbot, protocol_file):
    window = open_window(qtbot)
    assert window.start_session("gui-test", "P09", None)
    qtbot.waitUntil(lambda: window.bridge.elapsed_s > 1.0, timeout=10000)
    session_id = window.session.session_id
    window.close()
    with Database() as db:
        assert db.get_session(session_id).status == "interrupted"


def test_unknown_protocol_name_is_reported(qtbot):
    window = open_window(qtbot, protocol="no-such-protocol")
    assert "no-such-protocol" in window.statusBar().currentMessage()
    assert window.start_session("no-such-protocol", "", None) is False
    assert window.session is None and window.engine is not None


def test_history_dialog_shows_trends_streak_and_goal(qtbot, protocol_file):
    window = open_window(qtbot)
    for subject in ("P10", "P10"):
        assert window.start_session("gui-test", subject, 4)
        qtbot.waitUntil(lambda: "rest" in window.session_panel.phase_label.text(), timeout=20000)
        window.skip_phase()
        qtbot.waitUntil(lambda: window.session is None, timeout=15000)
    today = dt.date.today()
    dialog = HistoryDialog("P10", today=today)
    qtbot.addWidget(dialog)
    assert dialog.current_subject() == "P10"
    assert dialog.table.rowCount() == 2
    assert dialog.table.item(0, 1).text() == "gui-test"
    assert "P10: 2 sessions" in dialog.headline.text()
    assert dialog.baseline_plot.curve.getData()[1] is not None
    dialog.goal.setValue(3)
    dialog.reminder.setText("18:30")
    dialog.save_goal.click()
    with Database() as db:
        summary = progress_summary(db, "P10", today)
    assert summary.this_week.goal == 3 and summary.reminder == "18:30"
    assert "of 3 sessions" in dialog.headline.text()
    dialog.reminder.setText("25:99")
    dialog.save_goal.click()
    assert "HH:MM" in dialog.message.text()
    dialog.subject.setCurrentIndex(dialog.subject.findText(NO_SUBJECT))
    assert dialog.current_subject() is None
    dialog.close()


def test_history_text_helpers():
    from biofeedback.storage.progress import ProgressSummary, SessionPoint, WeekProgress

    point = SessionPoint(
        1, 0.0, dt.date(2025, 1, 6), "pmr", "complete", 600.0, 3.21, 71.0, 1.5, 2.0, 6, 4
    )
    assert point_row(point) == ["2025-01-06", "pmr", "complete", "10", "3.2", "71", "1.5", "6 → 4"]
    imported = dataclasses.replace(point, protocol="", imported="XDF")
    assert point_row(imported)[1] == "imported XDF"
    assert point_row(dataclasses.replace(point, protocol=""))[1] == "recording"
    summary = ProgressSummary(
        "P1", [point], [point.date], 3, 5, WeekProgress(dt.date(2025, 1, 6), 2, 3), None
    )
    assert streak_text(summary) == (
        "3-day practice streak (longest 5). This week: 2 of 3 sessions (1 to go)."
    )


def test_reminder_due_rules():
    now = dt.datetime(2025, 3, 4, 18, 45)
    assert reminder_due("18:30", False, now, None)
    assert not reminder_due("19:00", False, now, None)  # not yet
    assert not reminder_due("18:30", True, now, None)  # already practised today
    assert not reminder_due("18:30", False, now, now.date())  # shown once a day
    assert not reminder_due(None, False, now, None)


def test_reminder_watcher_shows_once_when_due(qtbot):
    with Database() as db:
        db.set_reminder("P11", "07:00")
    shown: list[str] = []
    watcher = ReminderWatcher(lambda: "P11", fallback=shown.append)
    watcher.tray = None  # no system tray offscreen: the fallback (status bar) is used
    morning = dt.datetime.combine(dt.date.today(), dt.time(7, 30))
    assert watcher.check(morning)
    assert not watcher.check(morning + dt.timedelta(minutes=5))
    assert shown == ["Time for today's relaxation practice (about 10 minutes)."]
    assert not ReminderWatcher(lambda: "", fallback=shown.append).check(morning)


def test_reminder_quotes_the_course_prescription(qtbot):
    from biofeedback.storage.courses import start_course
    from biofeedback.training.adherence import Prescription

    today = dt.date.today()
    monday = today - dt.timedelta(days=today.weekday())
    with Database() as db:
        db.add_subject("P12")
        db.set_reminder("P12", "07:00")
        start_course(db, "P12", monday, Prescription(monday, 5, 12))
    shown: list[str] = []
    watcher = ReminderWatcher(lambda: "P12", fallback=shown.append)
    watcher.tray = None
    assert watcher.check(dt.datetime.combine(today, dt.time(7, 30)))
    assert shown == ["Time for today's relaxation practice: 12 minutes (0 of 5 this week)."]


# -- protocol files opened in the window, Skip phase in a free recording --------------------------

MY_PROTOCOL = PROTOCOL.replace('name = "gui-test"', 'name = "my-file"')


def cli_message(capsys, path) -> str:
    """What ``biofeedback protocols validate FILE`` says about a bad file (without the prefix)."""
    from biofeedback.cli import main

    capsys.readouterr()
    assert main(["protocols", "validate", str(path)]) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith("biofeedback: ") and len(line.splitlines()) == 1
    return line.removeprefix("biofeedback: ")


def file_panel(qtbot, chosen, **kwargs):
    """A session panel whose file chooser returns ``chosen`` and records the folder asked in."""
    from biofeedback.gui.session_panel import SessionPanel

    asked: list[str] = []

    def choose(_parent, folder):
        asked.append(folder)
        return None if chosen is None else str(chosen)

    panel = SessionPanel(choose_file=choose, **kwargs)
    qtbot.addWidget(panel)
    panel.asked = asked
    return panel


def test_open_protocol_file_offers_it_by_name_with_its_path_and_starts_with_it(qtbot, tmp_path):
    from PySide6.QtCore import Qt

    path = tmp_path / "mine.toml"
    path.write_text(MY_PROTOCOL, encoding="utf-8")
    panel = file_panel(qtbot, path)
    count = panel.protocol.count()
    with qtbot.assertNotEmitted(panel.protocol_file_failed):
        panel.open_file_button.click()
    data = str(path.resolve())
    assert panel.protocol.currentData() == data and panel.protocol.count() == count + 1
    assert panel.protocol.currentText().startswith("my-file")
    tooltip = panel.protocol.itemData(panel.protocol.currentIndex(), Qt.ItemDataRole.ToolTipRole)
    assert tooltip.splitlines()[0] == data
    assert "my-file" in panel.file_message.text() and panel.file_message.isVisibleTo(panel)
    with qtbot.waitSignal(panel.start_requested) as started:
        panel.start_button.click()
    assert started.args[0] == data  # the session loads the file (load_protocol takes a path)
    # opening it again refreshes its entry instead of adding a second one; the dialog starts
    # in the file's folder
    assert panel.open_protocol_file() and panel.protocol.count() == count + 1
    assert panel.asked[-1] == str(tmp_path.resolve())
    # the remembered value (the path) selects it in a new panel
    again = file_panel(qtbot, None, protocol=data)
    assert again.protocol.currentData() == data


def test_invalid_protocol_file_shows_the_cli_message_and_keeps_the_choice(qtbot, tmp_path, capsys):
    folder = tmp_path / ("a-rather-long-folder-name-of-a-clinic-share" * 3)
    folder.mkdir()
    bad = folder / "bad.toml"
    bad.write_text(MY_PROTOCOL.replace('duration = "16 s"', 'duration = "-5 s"'), "utf-8")
    expected = cli_message(capsys, bad)
    panel = file_panel(qtbot, bad, protocol="pmr")
    panel.show()
    width = panel.width()
    before, count = panel.protocol.currentData(), panel.protocol.count()
    with qtbot.waitSignal(panel.protocol_file_failed) as failed:
        assert not panel.open_protocol_file()
    assert failed.args == ["Protocol file not loaded.", expected]
    assert panel.protocol.currentData() == before == "pmr" and panel.protocol.count() == count
    assert panel.file_message.isVisible() and panel.file_message.toolTip().endswith(expected)
    assert "-5 s" in panel.file_message.text() and panel.file_error == expected
    qtbot.waitUntil(lambda: panel.file_message.isVisible())  # it stays until a file loads
    assert panel.width() == width and panel.minimumSizeHint().width() < 400


def test_a_missing_remembered_file_falls_back_and_says_why(qtbot, tmp_path):
    gone = tmp_path / "gone.toml"
    panel = file_panel(qtbot, None, protocol=str(gone))
    assert panel.protocol.currentData() == ""  # free recording
    assert "file not found" in panel.file_message.toolTip()
    assert panel.file_error == f"{gone}: file not found: check the path"
    assert not panel.open_protocol_file()  # the dialog was cancelled: nothing changes
    assert panel.protocol.currentData() == ""


def test_skip_and_pause_are_disabled_in_a_free_recording(qtbot):
    from biofeedback.gui.session_panel import SessionPanel

    panel = SessionPanel()
    qtbot.addWidget(panel)
    panel.set_running(True, guided=False)
    assert not panel.skip_button.isEnabled() and not panel.pause_button.isEnabled()
    panel.show_state(None, 3.0)
    assert not panel.skip_button.isEnabled() and panel.phase_label.text() == "Recording"
    panel.set_running(False)
    panel.set_running(True, guided=True)
    assert panel.skip_button.isEnabled() and panel.pause_button.isEnabled()


def test_the_window_starts_a_session_from_a_protocol_file(qtbot, tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(MY_PROTOCOL, encoding="utf-8")
    window = open_window(qtbot, protocol=str(path))
    assert window.session_panel.protocol.currentData() == str(path.resolve())
    assert window.start_session(str(path), "", None)
    assert window.session.protocol.name == "my-file"
    assert window.prefs.protocol == str(path)
    qtbot.waitUntil(lambda: window.bridge.elapsed_s > 0.5, timeout=10000)
    window._on_text()
    assert window.session_panel.skip_button.isEnabled()
    assert window.finish_session("stopped by the clinician").status == "interrupted"


def test_a_free_recording_in_the_window_has_no_skip(qtbot):
    window = open_window(qtbot)
    assert window.start_session("", "", None)
    qtbot.waitUntil(lambda: window.bridge.elapsed_s > 0.5, timeout=10000)
    window._on_text()
    assert not window.session_panel.skip_button.isEnabled()
    assert window.finish_session().status == "complete"


# -- the subject: picked from the store's subjects or typed ---------------------------------------


def _pick_from_list(qtbot, field, typed: str) -> list[str]:
    """Type into the subject field, then choose the first line of the list it opens with the
    keyboard; the lines that were offered."""
    field.edit.setFocus()
    qtbot.waitUntil(lambda: field.subjects is not None)  # read from the store on focus
    qtbot.keyClicks(field.edit, typed)
    popup = field.completer.popup()
    qtbot.waitUntil(popup.isVisible)
    model = field.completer.completionModel()
    offered = [model.index(r, 0).data() for r in range(model.rowCount())]
    qtbot.keyClick(popup, Qt.Key.Key_Down)
    qtbot.keyClick(popup, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not popup.isVisible())
    return offered


def _panel_with_subjects(qtbot):
    from biofeedback.gui.session_panel import SessionPanel

    with Database() as db:
        db.add_subject("P001", "Ann Example", "neck pain")
        db.add_subject("P002", "Bob Sample")
    panel = SessionPanel()
    qtbot.addWidget(panel)
    panel.show()
    with qtbot.waitActive(panel):  # the field takes focus, as when the clinician clicks it
        panel.activateWindow()
    return panel


def test_a_stored_subject_is_picked_by_its_name_and_the_id_goes_in(qtbot):
    panel = _panel_with_subjects(qtbot)
    field = panel.subject_field
    assert _pick_from_list(qtbot, field, "bob") == ["P002 – Bob Sample"]
    assert panel.subject.text() == "P002" and field.state == "known"
    assert field.message.text() == "no sessions yet"  # no name on the patient's screen
    assert panel.start_button.isEnabled()
    with qtbot.waitSignal(panel.start_requested) as started:
        panel.start_button.click()
    assert started.args == ["", "P002", None]


def test_the_arrow_shows_every_stored_subject_added_since(qtbot):
    panel = _panel_with_subjects(qtbot)
    field = panel.subject_field
    with Database() as db:  # added while the window is open (Course > Course…)
        db.add_subject("P003", "Cy Later")
    field.list_action.trigger()
    popup = field.completer.popup()
    qtbot.waitUntil(popup.isVisible)
    model = field.completer.completionModel()
    assert [model.index(r, 0).data() for r in range(model.rowCount())] == [
        "P001 – Ann Example",
        "P002 – Bob Sample",
        "P003 – Cy Later",
    ]
    qtbot.keyClick(popup, Qt.Key.Key_Down)
    qtbot.keyClick(popup, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: panel.subject.text() == "P001")


def test_a_typed_wrong_id_is_explained_under_the_field_and_start_waits(qtbot):
    panel = _panel_with_subjects(qtbot)
    field = panel.subject_field
    field.edit.setFocus()
    qtbot.waitUntil(lambda: field.subjects is not None)
    qtbot.keyClicks(field.edit, "Ann Example")  # a name, not a pseudonymous id
    assert field.state == "invalid" and not panel.start_button.isEnabled()
    with pytest.raises(StorageError) as refused:
        Database.check_subject_id("Ann Example")
    assert field.message.isVisibleTo(panel) and field.message.text() == str(refused.value)
    assert PALETTE.lost in field.message.styleSheet()
    field.edit.clear()
    assert field.state == "none" and panel.start_button.isEnabled()  # no subject is allowed
    assert not field.message.isVisibleTo(panel)
    qtbot.keyClicks(field.edit, "P09")
    assert field.state == "new" and panel.start_button.isEnabled()
    assert field.message.text().startswith("P09 is new here: the session adds it")


def test_the_window_takes_the_picked_subject_into_its_session(qtbot):
    with Database() as db:
        db.add_subject("P001", "Ann Example")
    window = open_window(qtbot)
    with qtbot.waitActive(window):
        window.activateWindow()
    panel = window.session_panel
    panel.subject.clear()
    assert _pick_from_list(qtbot, panel.subject_field, "ann") == ["P001 – Ann Example"]
    assert window.session_control.subject == "P001"
    panel.start_button.click()
    qtbot.waitUntil(lambda: window.session is not None, timeout=10000)
    qtbot.waitUntil(lambda: window.bridge.elapsed_s > 0.5, timeout=10000)
    result = window.finish_session()
    with Database() as db:
        assert db.get_session(result.session_id).subject_id == "P001"
