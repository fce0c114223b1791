"""The clinician's course dialog: subjects, the course and its prescription, adherence per week,
questionnaires with the change from baseline, and the files exchanged with the patient, all
driven through the window and checked against the store and the functions the CLI prints."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QLabel, QMessageBox

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "storage"))
from storage_helpers import myoware_info

from biofeedback.gui import course_model as model
from biofeedback.gui.course_dialog import CourseDialog
from biofeedback.gui.course_forms import pydate, qdate
from biofeedback.gui.theme import PALETTE
from biofeedback.outcomes.instrument import load_instrument
from biofeedback.outcomes.results import Measurement, change_table
from biofeedback.storage.courses import (
    MAX_MINUTES_PER_SESSION,
    adherence,
    current_course,
    list_courses,
    open_course,
    start_course,
    station_role,
)
from biofeedback.storage.database import Database
from biofeedback.storage.outcomes import list_outcomes
from biofeedback.training.adherence import Prescription
from biofeedback.training.course_template import load_template

START = dt.date(2026, 11, 2)  # a Monday
TODAY = dt.date(2026, 11, 18)


def _dialog(qtbot, subject: str = "", db_path: Path | None = None) -> CourseDialog:
    dialog = CourseDialog(subject, db_path, today=TODAY)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def _table_rows(table) -> list[list[str]]:
    return [
        [table.item(r, c).text() if table.item(r, c) else "" for c in range(table.columnCount())]
        for r in range(table.rowCount())
    ]


def _session(
    db: Database, course_id: int, when: dt.datetime, minutes: float, setting: str, status="complete"
) -> None:
    sid = db.create_session(
        "P1", "course-home-practice", myoware_info(), started_at=when.timestamp(),
        course_id=course_id, setting=setting,
    )  # fmt: skip
    db.finish_session(sid, status)
    with db.transaction() as conn:
        conn.execute(
            "UPDATE sessions SET first_index = 0, end_index = ? WHERE id = ?",
            (round(minutes * 60 * 1000), sid),
        )


def _course_with_practice(path: Path | None = None) -> None:
    with Database(path) as db:
        db.add_subject("P1", "Pat Example", "neck pain")
        course_id = start_course(
            db, "P1", START, Prescription(START, 5, 12, None, ("course-home-practice",)),
            clinician="Dr K", muscle="upper trapezius", planned_clinic_sessions=6,
        )  # fmt: skip
        _session(db, course_id, dt.datetime(2026, 11, 2, 9), 30, "clinic")
        for day in (3, 4, 6, 10, 11):
            _session(db, course_id, dt.datetime(2026, 11, day, 19), 12, "home")
        _session(db, course_id, dt.datetime(2026, 11, 16, 19), 3, "home", "interrupted")


def _store_answers(db: Database, instrument_id: str, given: dict, timepoint: str) -> int:
    return model.store_questionnaire(db, "P1", load_instrument(instrument_id), given, timepoint)


# -- the pure rows -----------------------------------------------------------------------------
def test_rows_say_what_course_show_says() -> None:
    _course_with_practice()
    with Database() as db:
        course = current_course(db, "P1")
        result = adherence(db, course, TODAY)
    rows = model.adherence_rows(result)
    assert [r[0] for r in rows] == ["2026-W47", "2026-W46", "2026-W45"]  # newest first
    w45 = result.weeks[0]
    assert rows[-1][2:5] == [
        f"{w45.sessions_done} / {w45.prescribed_sessions}",
        f"{w45.minutes_done:.0f} / {w45.prescribed_minutes:.0f}",
        str(w45.days_practised),
    ]
    assert rows[-1][2] == "3 / 5" and rows[-1][6] == "1" and rows[-1][7] == "no"
    assert model.rx_text(course.prescriptions[0]) == (
        "5 sessions a week of 12 min (course-home-practice)"
    )
    details = dict(model.course_details(course, 1, TODAY))
    assert details["Clinic sessions"] == "1 of 6 planned" and details["Course"].endswith("open")
    assert model.headline("P1", course, result) == (
        "P1: course from 2026-11-02 (open). Home practice: 0 of 5 this week"
    )


def test_outcome_rows_carry_the_change_table_numbers() -> None:
    with Database() as db:
        db.add_subject("P1")
        _store_answers(db, "pain-nrs", {"now": 6, "average": 7, "worst": 9}, "baseline")
        _store_answers(db, "pain-nrs", {"now": 3, "average": 4, "worst": 8}, "end")
        records = list_outcomes(db, "P1")
    ((title, rows),) = model.outcome_groups(records, model.instrument_loader())
    assert title.endswith("(pain-nrs)")
    table = change_table(
        load_instrument("pain-nrs"),
        [Measurement(r.taken_at, r.timepoint, r.scores, r.id) for r in records],
    )
    later = {sid: cell for sid, cell in table[1].cells.items()}
    average = next(r for r in rows if r.cells[2] == "end" and r.cells[0].startswith("Average"))
    assert average.cells[3] == f"{later['average']['value']:g}" == "4"
    assert average.cells[4] == "-3 (43 % better)"
    assert average.cells[5] == later["average"]["change"]["verdict"] == "important improvement"
    assert [r.cells[2] for r in rows if r.is_baseline] == ["baseline"] * 3


# -- subjects ----------------------------------------------------------------------------------
def test_add_subject_and_a_duplicate_id_is_shown_in_the_form(qtbot) -> None:
    dialog = _dialog(qtbot, "P7")  # as typed in the session panel, not stored yet
    assert "No subjects yet" in dialog.headline.text()
    assert dialog.message.text() == "P7 is not a subject here yet: Add subject… adds it."
    assert not dialog.start_button.isEnabled()
    form = dialog.add_subject()
    assert form.subject_id.text() == "P7"
    form.name.setText("Ann Example")
    qtbot.mouseClick(form.ok, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not form.isVisible())
    assert dialog.current_subject() == "P7" and dialog.subject.currentText() == "P7 – Ann Example"
    assert dialog.start_button.isEnabled()
    with Database() as db:
        assert db.get_subject("P7")["name"] == "Ann Example"
    again = dialog.add_subject()
    again.subject_id.setText("P7")
    again.name.setText("Someone else")
    qtbot.mouseClick(again.ok, Qt.MouseButton.LeftButton)
    assert again.isVisible() and "exists already" in again.error.text()
    assert "Edit subject…" in again.error.text()  # the window's way, not a command line
    assert again.name.text() == "Someone else"  # nothing typed is lost
    again.subject_id.setText("bad id!")
    qtbot.mouseClick(again.ok, Qt.MouseButton.LeftButton)
    assert again.isVisible() and "bad id!" in again.error.text()


def test_edit_subject_name_and_notes_is_stored_and_the_notes_show(qtbot) -> None:
    with Database() as db:
        db.add_subject("P5", "Pat Example", "neck pain")
    dialog = _dialog(qtbot, "P5")
    assert dialog.subject_notes.text() == "Notes: neck pain"
    form = dialog.edit_subject()
    assert form.subject_id.text() == "P5" and form.subject_id.isReadOnly()
    assert any("cannot be changed" in label.text() for label in form.findChildren(QLabel))
    assert form.name.text() == "Pat Example" and form.notes.toPlainText() == "neck pain"
    form.name.setText("Pat Renamed")
    notes = "neck pain since 2019, desk work.\n\nPrefers the pacer at 5/min. " + "x" * 300
    form.notes.setPlainText(notes)
    qtbot.mouseClick(form.ok, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not form.isVisible())
    with Database() as db:
        row = db.get_subject("P5")
    assert row["name"] == "Pat Renamed" and row["notes"] == notes.strip()
    assert dialog.subject.currentText() == "P5 – Pat Renamed"
    assert dialog.message.text() == "Saved subject P5."
    # the notes on one line, elided, never widening the dialog; the whole notes in the tooltip
    width = dialog.width()
    shown = dialog.subject_notes
    assert shown.text() == "Notes: " + " ".join(notes.split())
    assert shown.fontMetrics().horizontalAdvance(shown.text()) > shown.width()
    assert dialog.width() == width and "x" * 80 in shown.toolTip()
    assert "".join(shown.toolTip().split()) == "".join(notes.split())
    again = dialog.edit_subject()
    again.name.clear()  # '' removes the name
    qtbot.mouseClick(again.ok, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not again.isVisible())
    with Database() as db:
        assert db.get_subject("P5")["name"] is None
    assert dialog.subject.currentText() == "P5"


def test_edit_subject_errors_stay_in_the_form_with_what_was_typed(qtbot, monkeypatch) -> None:
    import sqlite3

    from biofeedback.gui import course_dialog

    monkeypatch.setattr(course_dialog, "SUBJECT_WRITE_WAIT_S", 0.3)
    with Database() as db:
        db.add_subject("P6", "Pat Example", "neck pain")
        path = db.path
    dialog = _dialog(qtbot, "P6")
    form = dialog.edit_subject()
    form.notes.setPlainText("n" * 4001)
    qtbot.mouseClick(form.ok, Qt.MouseButton.LeftButton)
    assert form.isVisible() and form.error.text() == (
        "the subject's notes is 4001 characters: at most 4000"
    )
    assert form.notes.toPlainText() == "n" * 4001  # nothing typed is lost
    form.notes.setPlainText("shoulder pain")
    form.name.setText("Pat Busy")
    other = sqlite3.connect(path, timeout=0.1, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another program writing
    try:
        qtbot.mouseClick(form.ok, Qt.MouseButton.LeftButton)
        assert form.isVisible() and "busy" in form.error.text()
        assert form.name.text() == "Pat Busy"
    finally:
        other.execute("ROLLBACK")
        other.close()
    qtbot.mouseClick(form.ok, Qt.MouseButton.LeftButton)  # OK again once it is free
    qtbot.waitUntil(lambda: not form.isVisible())
    with Database() as db:
        row = db.get_subject("P6")
    assert (row["name"], row["notes"]) == ("Pat Busy", "shoulder pain")
    assert dialog.subject_notes.text() == "Notes: shoulder pain"


def test_edit_subject_waits_for_a_subject(qtbot) -> None:
    dialog = _dialog(qtbot)
    assert not dialog.edit_subject_button.isEnabled() and dialog.edit_subject() is None
    assert not dialog.subject_notes.isVisibleTo(dialog)
    form = dialog.add_subject()
    form.subject_id.setText("P8")
    qtbot.mouseClick(form.ok, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not form.isVisible())
    assert dialog.edit_subject_button.isEnabled()
    assert dialog.subject_notes.text() == "Notes: none (Edit subject… adds them)"


# -- the course --------------------------------------------------------------------------------
def test_start_a_course_with_a_template(qtbot) -> None:
    with Database() as db:
        db.add_subject("P2")
    dialog = _dialog(qtbot, "P2")
    form = dialog.start_course()
    form.start.setDate(qdate(START))
    form.template.setCurrentIndex(form.template.findData("six-session-back-neck"))
    template = load_template("six-session-back-neck")
    assert template.home_practice is not None
    assert form.protocols.text() == template.home_practice.protocol.name
    assert (form.per_week.value(), form.minutes.value()) == (
        template.home_practice.sessions_per_week,
        template.home_practice.minutes,
    )
    assert form.planned.value() == len(template.sessions)
    form.clinician.setText("Dr K")
    form.site.setText("C7 left")
    qtbot.mouseClick(form.ok, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not form.isVisible())
    with Database() as db:
        course = open_course(db, "P2")
        assert station_role(db) == "clinic"  # as 'course start' on a new data dir
    assert course is not None and course.start_date == START
    assert (course.clinician, course.electrode_site, course.template) == (
        "Dr K",
        "C7 left",
        "six-session-back-neck",
    )
    assert course.planned_clinic_sessions == 6 and course.outcome_schedule == template.outcomes
    (rx,) = course.prescriptions
    assert (rx.sessions_per_week, rx.minutes_per_session, rx.protocols) == (
        5,
        12,
        ("course-home-practice",),
    )
    assert "Started the course of P2" in dialog.message.text()
    assert "(open)" in dialog.headline.text() and not dialog.start_button.isEnabled()
    assert _table_rows(dialog.prescriptions)[0][:5] == [
        "2026-11-02", "5", "12", "course-home-practice", "course end",
    ]  # fmt: skip


def test_a_wrong_start_form_says_why_and_keeps_what_was_typed(qtbot) -> None:
    with Database() as db:
        db.add_subject("P3")
    dialog = _dialog(qtbot, "P3")
    form = dialog.start_course()
    assert form.minutes.maximum() == MAX_MINUTES_PER_SESSION  # the store's limits, no more
    form.start.setDate(qdate(START))
    form.clinician.setText("Dr K")
    form.protocols.setText("course-home-practise")  # a typo
    qtbot.mouseClick(form.ok, Qt.MouseButton.LeftButton)
    assert form.isVisible() and "unknown protocol 'course-home-practise'" in form.error.text()
    form.protocols.setText("course-home-practice")
    form.has_until.setChecked(True)
    form.until.setDate(qdate(START - dt.timedelta(days=1)))
    qtbot.mouseClick(form.ok, Qt.MouseButton.LeftButton)
    assert form.isVisible() and "ends before it starts" in form.error.text()
    assert form.clinician.text() == "Dr K" and form.protocols.text() == "course-home-practice"
    with Database() as db:
        assert list_courses(db, "P3") == []
    form.has_until.setChecked(False)
    qtbot.mouseClick(form.ok, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not form.isVisible())
    assert dialog.course is not None and dialog.course.clinician == "Dr K"


def test_change_prescription_edit_details_and_end(qtbot) -> None:
    _course_with_practice()
    dialog = _dialog(qtbot, "P1")
    form = dialog.change_prescription()
    form.valid_from.setDate(qdate(dt.date(2026, 11, 16)))
    assert form.per_week.value() == 5  # the prescription in force that day
    form.per_week.setValue(3)
    form.minutes.setValue(0)  # below the limit: the box keeps 1
    assert form.minutes.value() == 1
    form.minutes.setValue(15)
    qtbot.mouseClick(form.ok, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not form.isVisible())
    with Database() as db:
        rxs = current_course(db, "P1").prescriptions
    assert [(r.valid_from, r.sessions_per_week, r.minutes_per_session) for r in rxs] == [
        (START, 5, 12),
        (dt.date(2026, 11, 16), 3, 15),
    ]
    assert [r[-1] for r in _table_rows(dialog.prescriptions)] == ["", "in force"]
    details = dialog.edit_details()
    details.muscle.setText("x" * 201)
    qtbot.mouseClick(details.ok, Qt.MouseButton.LeftButton)
    assert details.isVisible() and "at most 200" in details.error.text()
    details.muscle.setText("levator scapulae")
    qtbot.mouseClick(details.ok, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not details.isVisible())
    end = dialog.end_course()
    end.end.setDate(qdate(dt.date(2026, 11, 20)))
    assert pydate(end.end.date()) == dt.date(2026, 11, 20)
    qtbot.mouseClick(end.ok, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not end.isVisible())
    with Database() as db:
        course = current_course(db, "P1")
    assert course.muscle == "levator scapulae" and course.end_date == dt.date(2026, 11, 20)
    assert "ended 2026-11-20" in dialog.headline.text()
    assert dialog.start_button.isEnabled() and not dialog.change_button.isEnabled()


def test_the_adherence_table_matches_the_store(qtbot) -> None:
    _course_with_practice()
    dialog = _dialog(qtbot, "P1")
    with Database() as db:
        result = adherence(db, current_course(db, "P1"), TODAY)
    assert _table_rows(dialog.adherence_table) == model.adherence_rows(result)
    assert len(result.weeks) == 3
    assert dialog.this_week.text() == f"Home practice: {result.this_week_text()}"
    assert "0 of 5 this week" in dialog.this_week.text()  # 3 of 12 minutes: too short to count
    assert _table_rows(dialog.adherence_table)[0][5] == "0 counted, 1 short"


# -- questionnaires ----------------------------------------------------------------------------
def test_the_outcomes_table_shows_the_change_table(qtbot) -> None:
    _course_with_practice()
    with Database() as db:
        _store_answers(db, "pain-nrs", {"now": 6, "average": 7, "worst": 9}, "baseline")
        _store_answers(db, "pain-nrs", {"now": 5, "average": 6, "worst": 9}, "session 3")
        _store_answers(db, "pgic", {"change": 2}, "end")
        records = list_outcomes(db, "P1")
    dialog = _dialog(qtbot, "P1")
    rows = _table_rows(dialog.outcomes_table)
    expected = []
    for title, group in model.outcome_groups(records, model.instrument_loader()):
        expected.append([title] + [""] * (len(model.OUTCOME_COLUMNS) - 1))
        expected.extend(r.cells for r in group)
    assert rows == expected
    assert rows[0][0] == "Pain intensity (numeric rating 0-10) (pain-nrs)"
    now = next(r for r in rows if r[2] == "session 3" and r[0] == "Pain now")
    assert now[3:] == ["5", "-1 (17 % better)", "no important change", ""]


def test_record_a_questionnaire_by_keys(qtbot) -> None:
    _course_with_practice()
    dialog = _dialog(qtbot, "P1")
    assert dialog.due_label.text().startswith(
        "No questionnaires yet. Due at the next clinic session: Pain intensity (numeric rating "
        "0-10) (baseline), "
    )
    choice = dialog.record_questionnaire()
    assert choice.instrument.currentData() == "pain-nrs"  # the first one due
    assert choice.timepoint.currentText() == "baseline"  # as the course's schedule asks
    qtbot.mouseClick(choice.ok, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.questionnaire is not None and dialog.questionnaire.isVisible())
    widget = dialog.questionnaire.widget
    assert widget.entry is not None and widget.entry.isVisible()
    for key in (Qt.Key.Key_6, Qt.Key.Key_7, Qt.Key.Key_9):
        qtbot.keyClick(widget, key)
        qtbot.keyClick(widget, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "Stored questionnaire" in dialog.message.text())
    with Database() as db:
        (record,) = list_outcomes(db, "P1")
    assert record.answers == {"now": 6.0, "average": 7.0, "worst": 9.0}
    assert record.timepoint == "baseline" and record.instrument == "pain-nrs"
    assert dialog.tabs.currentIndex() == 2 and dialog.outcomes_table.rowCount() == 4
    assert "(numeric rating 0-10) (session 2)" in dialog.due_label.text()
    again = dialog.record_questionnaire()
    assert again.instrument.currentData() == "psfs"  # its baseline is still to come
    again.instrument.setCurrentIndex(again.instrument.findData("pain-nrs"))
    assert again.timepoint.currentText() == "session 2"  # one clinic session done
    again.instrument.setCurrentIndex(again.instrument.findData("pgic"))
    assert again.timepoint.currentText() == "baseline"  # not on the schedule, never answered
    again.timepoint.setCurrentText("x" * 41)
    qtbot.mouseClick(again.ok, Qt.MouseButton.LeftButton)
    assert again.isVisible() and "at most 40 characters" in again.error.text()


# -- files -------------------------------------------------------------------------------------
def test_report_and_bundle_out_and_in(qtbot, tmp_path: Path, monkeypatch) -> None:
    _course_with_practice()
    dialog = _dialog(qtbot, "P1")
    report = tmp_path / "course.html"
    chosen = (str(tmp_path / "course"), "HTML (*.html)")  # no suffix typed: the filter's
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: chosen)
    dialog.write_report()
    qtbot.waitUntil(lambda: dialog.message.text() == f"Wrote {report}.", timeout=30000)
    assert report.is_file() and "P1" in report.read_text(encoding="utf-8")
    bundle = tmp_path / "P1.bfbundle"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(bundle), ""))
    dialog.export_bundle()
    qtbot.waitUntil(lambda: dialog.message.text().startswith(f"Wrote {bundle}"), timeout=30000)
    asked: list[str] = []

    def question(_parent, _title, text, *args, **kwargs):
        asked.append(text)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", question)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(bundle), ""))
    clinic = _dialog(qtbot, "", tmp_path / "clinic.sqlite")
    clinic.import_bundle()
    qtbot.waitUntil(lambda: clinic.message.text().startswith("P1: 7 sessions added"))
    assert asked and asked[0].startswith("P1: 7 sessions")
    assert clinic.current_subject() == "P1" and clinic.course is not None
    assert _table_rows(clinic.adherence_table) == _table_rows(dialog.adherence_table)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(report), ""))
    clinic.import_bundle()
    assert (
        clinic.message.text()
        == f"{report} is not a biofeedback bundle (not a ZIP file, or cut short)"
    )
    assert PALETTE.lost in clinic.message.styleSheet() and len(asked) == 1  # not asked again


# -- the window --------------------------------------------------------------------------------
def test_the_window_opens_the_course_of_the_subject_in_the_session_panel(qtbot) -> None:
    from PySide6.QtGui import QKeySequence

    from biofeedback.gui.main_window import MainWindow

    _course_with_practice()
    window = MainWindow(
        "sim://?scenario=relax&board=12bit&channels=raw,ref&speed=8&seed=3",
        safety_check=False,
        audio=False,
        remember=False,
        ask_pain=False,
    )
    qtbot.addWidget(window)
    window.show()
    course_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Course")
    assert [a.text() for a in course_menu.actions()] == [
        "Course…",
        "Send to clinician…",
        "Import from clinic…",
    ]
    assert window.course_action.shortcut() == QKeySequence("Ctrl+K")
    window.session_panel.subject.setText("P1")
    window.course_action.trigger()
    qtbot.waitUntil(lambda: window.course_dialog.isVisible())
    dialog = window.course_dialog
    assert dialog.current_subject() == "P1" and dialog.course is not None
    assert dialog.course.clinician == "Dr K"
    dialog.close()
    window.close()


def test_thought_records_go_into_the_report_only_when_ticked(qtbot, tmp_path, monkeypatch) -> None:
    import biofeedback.reports.course as course_report

    _course_with_practice()
    calls: list[dict] = []

    def write(db, subject, path, **kwargs):
        calls.append({"subject": subject, "path": Path(path), **kwargs})
        return Path(path)

    monkeypatch.setattr(course_report, "write_course_report", write)
    pdf = tmp_path / "r.pdf"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(pdf), "PDF (*.pdf)"))
    dialog = _dialog(qtbot, "P1")
    assert not dialog.thought_records.isChecked()
    dialog.write_report()
    qtbot.waitUntil(lambda: len(calls) == 1 and dialog.message.text() == f"Wrote {pdf}.")
    assert dialog.report_button.isEnabled() and dialog.export_button.isEnabled()  # free again
    dialog.thought_records.setChecked(True)
    dialog.write_report()
    # the task is over when the dialog says so (the call itself comes a moment before)
    qtbot.waitUntil(lambda: len(calls) == 2 and dialog.message.text() == f"Wrote {pdf}.")
    assert dialog.course is not None
    assert [c["thought_records"] for c in calls] == [False, True]
    assert all(c["subject"] == "P1" and c["course_id"] == dialog.course.id for c in calls)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: ("", ""))
    dialog.write_report()  # cancelled: nothing written, nothing said
    assert len(calls) == 2 and dialog.message.text() == f"Wrote {pdf}."


# -- layout at 1366 x 768, labels by station role --------------------------------------------------
#: What the dialog's _fit_screen gives on a 1366 x 768 screen (offscreen tests have no such one).
LAPTOP_SIZE = (1040, 680)
UNSCORED_NOTE = (
    "not scored: 1 of 1 items missing, every item must be answered (answer average: the "
    "patient stopped before this item, ask it again at the next visit)"
)


def test_a_score_not_computed_keeps_the_verdict_on_screen(qtbot) -> None:
    from biofeedback.storage.outcomes import add_outcome

    _course_with_practice()
    with Database() as db:
        _store_answers(db, "pain-nrs", {"now": 6, "average": 7, "worst": 9}, "baseline")
        _store_answers(db, "pain-nrs", {"now": 3, "average": 4, "worst": 8}, "end")
        add_outcome(
            db, "P1", "pain-nrs", "1", "ab" * 32, {"now": 5.0},
            {"average": {"name": "Average pain, last 7 days", "value": None,
                         "note": UNSCORED_NOTE}},
            timepoint="session 3", taken_at=dt.datetime(2026, 11, 17, 9).timestamp(),
        )  # fmt: skip
    dialog = _dialog(qtbot, "P1")
    dialog.resize(*LAPTOP_SIZE)
    dialog.tabs.setCurrentIndex(2)
    dialog.refresh()  # filled at the dialog's size
    table = dialog.outcomes_table
    rows = _table_rows(table)
    value, verdict, note = (model.OUTCOME_COLUMNS.index(c) for c in ("value", "verdict", "note"))
    row = next(r for r, cells in enumerate(rows) if cells[value] == "not scored")
    assert rows[row][note] == UNSCORED_NOTE and note == len(model.OUTCOME_COLUMNS) - 1
    assert table.item(row, value).toolTip() == UNSCORED_NOTE
    assert table.item(row, note).toolTip() == UNSCORED_NOTE
    qtbot.waitUntil(lambda: table.viewport().width() > 0)
    right = table.columnViewportPosition(verdict) + table.columnWidth(verdict)
    assert right <= table.viewport().width()
    assert table.columnWidth(verdict) >= table.fontMetrics().horizontalAdvance(
        "important improvement"
    )
    last = table.columnCount() - 1  # the note fills what is left, elided
    assert table.columnViewportPosition(last) + table.columnWidth(last) <= table.viewport().width()


def test_an_ended_course_stretches_the_prescription_table_and_marks_the_last_one(qtbot) -> None:
    from biofeedback.storage.courses import end_course

    _course_with_practice()
    with Database() as db:
        end_course(db, "P1", dt.date(2026, 11, 16), TODAY)
    dialog = _dialog(qtbot, "P1")
    dialog.resize(*LAPTOP_SIZE)
    table = dialog.prescriptions
    qtbot.waitUntil(lambda: table.viewport().width() > 0)
    last = table.columnCount() - 1
    assert table.model().headerData(last, Qt.Orientation.Horizontal) == "state"
    assert table.horizontalHeader().stretchLastSection()
    assert table.columnViewportPosition(last) + table.columnWidth(last) == (
        table.viewport().width()
    )
    assert _table_rows(table)[-1][last] == "at the course end"


def test_bundle_buttons_and_menu_follow_the_station_role(qtbot, monkeypatch) -> None:
    from biofeedback.gui.course_dialog import station_bundle_labels
    from biofeedback.storage.courses import set_station_role

    assert station_bundle_labels(None) == ("Send to clinician…", "Import from clinic…")
    _course_with_practice()
    dialog = _dialog(qtbot, "P1")
    assert (dialog.export_button.text(), dialog.import_button.text()) == (
        "Send to clinician…",
        "Import from clinic…",
    )
    with Database() as db:
        set_station_role(db, "clinic")
    dialog.refresh()
    assert (dialog.export_button.text(), dialog.import_button.text()) == (
        "Send to patient…",
        "Import from patient…",
    )
    titles: list[str] = []
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", lambda _p, title, *a, **k: titles.append(title) or ("", "")
    )
    dialog.export_bundle()
    assert titles == ["Send to patient"]
    assert station_bundle_labels(None) == ("Send to patient…", "Import from patient…")
    with Database() as db:
        set_station_role(db, "home")
    assert station_bundle_labels(None) == ("Send to clinician…", "Import from clinic…")


def test_the_course_menu_says_the_station_role(qtbot) -> None:
    from biofeedback.gui.main_window import MainWindow
    from biofeedback.storage.courses import set_station_role

    _course_with_practice()
    with Database() as db:
        set_station_role(db, "clinic")
    window = MainWindow(
        "sim://?scenario=relax&board=12bit&channels=raw,ref&speed=8&seed=3",
        safety_check=False,
        audio=False,
        remember=False,
        ask_pain=False,
    )
    qtbot.addWidget(window)
    course_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Course")
    course_menu.aboutToShow.emit()
    assert [a.text() for a in course_menu.actions()] == [
        "Course…",
        "Send to patient…",
        "Import from patient…",
    ]
    window.close()
