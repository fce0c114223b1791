"""History and progress with a course: this week's count is the course's (as the course dialog
says it), the course's prescription sets the weekly goal, the setting column, "no data" plots,
a conflict copy marked, and Delete… of the chosen session."""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "storage"))
from storage_helpers import myoware_info

from biofeedback.gui import history_panel
from biofeedback.gui.course_dialog import CourseDialog
from biofeedback.gui.history_panel import COLUMNS, GOAL_BY_COURSE, HistoryDialog
from biofeedback.storage.courses import start_course
from biofeedback.storage.database import Database
from biofeedback.storage.outcomes import add_outcome, list_outcomes
from biofeedback.training.adherence import Prescription

START = dt.date(2026, 11, 30)  # a Monday
TODAY = dt.date(2026, 12, 4)


def _session(
    db: Database,
    when: dt.datetime,
    setting: str | None,
    course_id: int | None = None,
    summary: dict | None = None,
    minutes: float = 12,
) -> int:
    sid = db.create_session(
        "P001", "relax", myoware_info(), started_at=when.timestamp(), course_id=course_id,
        setting=setting,
    )  # fmt: skip
    db.finish_session(sid, "complete", summary)
    with db.transaction() as conn:
        conn.execute(
            "UPDATE sessions SET first_index = 0, end_index = ? WHERE id = ?",
            (round(minutes * 60 * 1000), sid),
        )
    return sid


def _busy_week() -> int:
    """11 sessions this week: 4 home sessions of the course, 2 clinic, 5 outside the course."""
    with Database() as db:
        db.add_subject("P001")
        db.set_weekly_goal("P001", 3)
        course = start_course(db, "P001", START, Prescription(START, 5, 12, None, ()))
        for day in range(4):
            _session(db, dt.datetime(2026, 11, 30, 19) + dt.timedelta(days=day), "home", course)
        for hour in (9, 11):
            _session(db, dt.datetime(2026, 12, 1, hour), "clinic", course, minutes=30)
        for day in range(5):
            _session(db, dt.datetime(2026, 11, 30, 7) + dt.timedelta(days=day), None)
    return course


def _history(qtbot, subject: str = "P001") -> HistoryDialog:
    dialog = HistoryDialog(subject, today=TODAY)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def _row_of(dialog: HistoryDialog, session_id: int) -> int:
    newest_first = list(reversed(dialog.points))
    return next(i for i, p in enumerate(newest_first) if p.session_id == session_id)


def test_this_week_is_the_course_count_and_the_course_sets_the_goal(qtbot) -> None:
    _busy_week()
    dialog = _history(qtbot)
    course = CourseDialog("P001", today=TODAY)
    qtbot.addWidget(course)
    assert course.this_week.text() == "Home practice: 4 of 5 this week"
    text = dialog.headline.text()
    assert text.startswith("P001: 11 sessions.") and "This week" not in text
    assert text.endswith(f" {course.this_week.text()}.")
    assert not dialog.goal.isEnabled() and dialog.goal.value() == 5
    assert dialog.goal.toolTip() == GOAL_BY_COURSE and dialog.goal_note.isVisible()
    assert dialog.reminder.isEnabled() and dialog.save_goal.text() == "Save reminder"
    dialog.reminder.setText("18:30")
    dialog.save_goal.click()
    with Database() as db:  # the subject's own goal is left as it was
        assert db.get_subject("P001")["weekly_goal"] == 3


def test_without_a_course_the_weekly_goal_is_the_subjects(qtbot) -> None:
    with Database() as db:
        db.set_weekly_goal("P001", 3)
        _session(db, dt.datetime(2026, 12, 1, 9), None)
    dialog = _history(qtbot)
    assert "This week: 1 of 3 sessions" in dialog.headline.text()
    assert dialog.goal.isEnabled() and dialog.goal.value() == 3
    assert not dialog.goal_note.isVisible()


def test_setting_column_no_data_plots_and_a_conflict_copy(qtbot) -> None:
    _busy_week()
    with Database() as db:
        note = "conflict copy of " + "ab" * 16 + " from bundle P001.bfbundle"
        copy = _session(
            db, dt.datetime(2026, 12, 4, 8), None, summary={"conflict_copy_of": "ab" * 16}
        )
        db.update_session(copy, notes=note)
    dialog = _history(qtbot)
    setting = COLUMNS.index("setting")
    status = COLUMNS.index("status")
    cells = [dialog.table.item(r, setting).text() for r in range(dialog.table.rowCount())]
    assert sorted(set(cells)) == ["clinic", "home", "–"] and cells.count("home") == 4
    row = _row_of(dialog, copy)
    assert dialog.table.item(row, status).text() == "conflict copy"
    assert dialog.table.item(row, status).toolTip() == note
    assert "conflict" not in dialog.table.item(row + 1, status).text()
    plot = dialog.recovery_plot  # no session here has a recovery time
    assert plot.empty_label.isVisible() and plot.empty_label.textItem.toPlainText() == "no data"
    assert not plot.getPlotItem().getAxis("left").isVisible()


def test_delete_asks_naming_the_session_and_keeps_its_questionnaires(qtbot) -> None:
    _busy_week()
    with Database() as db:
        target = next(s.id for s in db.list_sessions("P001") if s.setting == "home")
        add_outcome(
            db, "P001", "pain-nrs", "1", "ab" * 32, {"now": 3.0}, {"now": {"value": 3.0}},
            session_id=target, taken_at=1.0,
        )  # fmt: skip
        label = db.get_session(target).label()
    dialog = _history(qtbot)
    assert not dialog.delete_button.isEnabled()  # nothing chosen
    dialog.table.selectRow(_row_of(dialog, target))
    assert dialog.delete_button.isEnabled()
    asked: list[str] = []
    assert not dialog.delete(lambda _parent, text: asked.append(text) or False)
    assert asked == [label] and label == "session 1 (P001, 2026-11-30 19:00, 12 min, home)"
    assert dialog.table.rowCount() == 11
    assert dialog.delete(lambda _parent, text: True)
    assert dialog.message.text().startswith(f"Deleted {label}. Undo delete")
    assert dialog.table.rowCount() == 10 and target not in [p.session_id for p in dialog.points]
    dialog.close()  # the undo ends: the store changes now
    with Database() as db:
        assert [o.session_id for o in list_outcomes(db, "P001")] == [None]
        assert target not in [s.id for s in db.list_sessions()]


def test_delete_refuses_a_session_still_recording(qtbot, monkeypatch) -> None:
    with Database() as db:
        live = db.create_session("P001", "relax", myoware_info(), setting="home")
        done = _session(db, dt.datetime(2026, 12, 1, 9), "home")
    dialog = _history(qtbot)
    assert [p.session_id for p in dialog.points] == [done]  # one recording is not offered
    dialog.table.selectRow(0)
    with Database() as db, db.transaction() as conn:  # recording again since the list was read
        conn.execute(
            "UPDATE sessions SET status = 'recording', writer_pid = ?, writer_host = "
            "(SELECT writer_host FROM sessions WHERE id = ?), heartbeat_at = ? WHERE id = ?",
            (os.getpid(), live, time.time(), done),
        )
    monkeypatch.setattr(history_panel, "ask_delete", lambda *a: True)
    assert not dialog.delete()
    assert dialog.message.text().startswith(f"Not deleted: session {done} (P001, ")
    assert dialog.message.text().endswith("is still being recorded; stop the recording first.")
    with Database() as db:
        assert {s.id for s in db.list_sessions()} == {live, done}


def test_delete_of_a_session_gone_meanwhile_says_so(qtbot) -> None:
    with Database() as db:
        sid = _session(db, dt.datetime(2026, 12, 1, 9), "home")
    dialog = _history(qtbot)
    dialog.table.selectRow(0)
    with Database() as db:  # deleted from the command line while the dialog was open
        db.delete_session(sid)
    assert not dialog.delete(lambda *a: True)
    assert dialog.message.text().startswith(f"there is no session {sid} in ")
