"""Questionnaires in the window: one large item per screen with keyboard and mouse, the dialog,
the due questionnaires around a session (stored at once) and the home-practice line."""

from __future__ import annotations

import datetime as dt

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from biofeedback.gui.main_window import MainWindow
from biofeedback.gui.patient_view import DEFAULT_INSTRUCTION, PatientViewWidget
from biofeedback.gui.questionnaire import (
    DueQuestionnaires,
    QuestionnaireDialog,
    QuestionnaireWidget,
    ask_questionnaire,
    can_skip,
    practice_text,
)
from biofeedback.outcomes.asking import Questionnaire
from biofeedback.outcomes.instrument import load_instrument, parse_instrument
from biofeedback.outcomes.scoring import check_answers, score_answers
from biofeedback.storage.courses import adherence, open_course, set_station_role, start_course
from biofeedback.storage.database import Database
from biofeedback.storage.outcomes import list_outcomes
from biofeedback.training.adherence import Prescription
from biofeedback.training.outcome_schedule import DueOutcome, OutcomeSchedule


def _widget(qtbot, instrument_id: str) -> QuestionnaireWidget:
    widget = QuestionnaireWidget()
    qtbot.addWidget(widget)
    widget.resize(1100, 700)
    widget.show()
    widget.start(load_instrument(instrument_id))
    return widget


def _cli_scores(instrument_id: str, given: dict[str, object]) -> list:
    instrument = load_instrument(instrument_id)
    return score_answers(instrument, check_answers(instrument, given))


def test_pain_by_keys_digits_arrows_back_and_enter(qtbot) -> None:
    widget = _widget(qtbot, "pain-nrs")
    assert widget.item_id == "now" and widget.progress.text() == "Question 1 of 3"
    assert not widget.back_button.isEnabled() and widget.skip_button.isHidden()
    assert len(widget.entry.buttons) == 11
    qtbot.keyClick(widget, Qt.Key.Key_Return)  # nothing chosen: stays, says so calmly
    assert widget.item_id == "now" and "choose a number" in widget.message.text()
    qtbot.keyClick(widget, Qt.Key.Key_4)
    qtbot.keyClick(widget, Qt.Key.Key_Return)
    assert widget.item_id == "average" and widget.message.text() == ""
    qtbot.keyClick(widget, Qt.Key.Key_End)  # 10
    qtbot.keyClick(widget, Qt.Key.Key_Left)  # 9
    qtbot.keyClick(widget, Qt.Key.Key_Left)  # 8
    qtbot.keyClick(widget, Qt.Key.Key_Enter)
    assert widget.item_id == "worst" and widget.next_button.text() == "Done"
    qtbot.keyClick(widget, Qt.Key.Key_Backspace)  # back: the answer is kept
    assert widget.item_id == "average" and widget.entry.value() == 8.0
    qtbot.keyClick(widget, Qt.Key.Key_Right)  # 9
    qtbot.keyClick(widget, Qt.Key.Key_Return)
    qtbot.keyClick(widget, Qt.Key.Key_9)
    qtbot.keyClick(widget, Qt.Key.Key_Right)  # 10
    with qtbot.waitSignal(widget.finished, timeout=2000) as done:
        qtbot.keyClick(widget, Qt.Key.Key_Return)
    answers, scores = done.args
    assert answers == {"now": 4.0, "average": 9.0, "worst": 10.0}
    assert scores == _cli_scores("pain-nrs", {"now": 4, "average": 9, "worst": 10})
    with qtbot.assertNotEmitted(widget.finished):  # a second Enter asks nothing more
        qtbot.keyClick(widget, Qt.Key.Key_Return)


def test_pain_by_mouse_with_back(qtbot) -> None:
    widget = _widget(qtbot, "pain-nrs")
    qtbot.mouseClick(widget.entry.buttons[3], Qt.MouseButton.LeftButton)
    assert widget.entry.value() == 3.0 and widget.item_id == "now"  # a click only chooses
    qtbot.mouseClick(widget.next_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(widget.entry.buttons[10], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(widget.next_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(widget.back_button, Qt.MouseButton.LeftButton)
    assert widget.item_id == "average" and widget.entry.buttons[10].isChecked()
    qtbot.mouseClick(widget.entry.buttons[6], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(widget.next_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(widget.entry.buttons[0], Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(widget.finished, timeout=2000) as done:
        qtbot.mouseClick(widget.next_button, Qt.MouseButton.LeftButton)
    assert done.args[0] == {"now": 3.0, "average": 6.0, "worst": 0.0}
    assert done.args[1] == _cli_scores("pain-nrs", {"now": 3, "average": 6, "worst": 0})


def test_pgic_by_keys_and_by_mouse(qtbot) -> None:
    widget = _widget(qtbot, "pgic")
    labels = [b.text() for b in widget.entry.buttons]
    assert labels[0] == "Very much better" and len(labels) == 7 and widget.progress.text() == ""
    assert widget.skip_button.isHidden()  # its only score needs the one item
    qtbot.keyClick(widget, Qt.Key.Key_Down)  # first choice
    qtbot.keyClick(widget, Qt.Key.Key_Down)
    assert widget.entry.value() == 2.0
    qtbot.keyClick(widget, Qt.Key.Key_Up)
    qtbot.keyClick(widget, Qt.Key.Key_3)  # the third choice by position
    with qtbot.waitSignal(widget.finished, timeout=2000) as done:
        qtbot.keyClick(widget, Qt.Key.Key_Return)
    assert done.args[0] == {"change": 3.0}
    assert done.args[1] == _cli_scores("pgic", {"change": "A little better"})

    widget.start(load_instrument("pgic"))
    qtbot.mouseClick(widget.entry.buttons[1], Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(widget.finished, timeout=2000) as done:
        qtbot.mouseClick(widget.next_button, Qt.MouseButton.LeftButton)
    assert done.args[0] == {"change": 2.0} and done.args[1][0].value == 2.0


def test_skip_where_the_instrument_allows_a_missing_item(qtbot) -> None:
    widget = _widget(qtbot, "pain-interference")  # its mean allows one missing item
    assert widget.skip_button.isVisible()
    qtbot.mouseClick(widget.skip_button, Qt.MouseButton.LeftButton)
    assert widget.item_id == "sleep" and not widget.skip_button.isVisible()
    qtbot.keyClick(widget, Qt.Key.Key_Return)  # nothing chosen and no more skips: stays
    assert widget.item_id == "sleep"
    qtbot.keyClick(widget, Qt.Key.Key_5)
    qtbot.keyClick(widget, Qt.Key.Key_Return)
    qtbot.keyClick(widget, Qt.Key.Key_7)
    with qtbot.waitSignal(widget.finished, timeout=2000) as done:
        qtbot.keyClick(widget, Qt.Key.Key_Return)
    assert done.args[0] == {"activity": None, "sleep": 5.0, "mood": 7.0}
    assert done.args[1][0].value == 6.0
    assert done.args[1] == _cli_scores("pain-interference", {"sleep": 5, "mood": 7})


def test_can_skip_follows_each_score_rule() -> None:
    psfs = Questionnaire(load_instrument("psfs"))
    assert can_skip(psfs)  # activity 1 may stay empty while 2-4 can still be named
    for name in ("walking", "lifting", "sitting"):
        psfs.answer(name)
    assert can_skip(psfs)  # activity 4 is optional
    psfs.skip()
    psfs.skip()  # activity 5
    assert psfs.screen().item.id == "rating1" and not can_skip(psfs)  # 3 ratings needed
    pgic = Questionnaire(load_instrument("pgic"))
    assert not can_skip(pgic)


def test_psfs_text_items_typed_and_their_ratings(qtbot) -> None:
    widget = _widget(qtbot, "psfs")
    assert widget.focusWidget() is widget.entry  # typing goes to the line at once
    for name in ("walking", "lifting a box", "sitting"):
        qtbot.keyClicks(widget.entry, name)
        qtbot.keyClick(widget.entry, Qt.Key.Key_Return)
    assert widget.item_id == "activity4"
    qtbot.keyClick(widget.entry, Qt.Key.Key_Backspace)  # typing: Backspace edits, not back
    assert widget.item_id == "activity4"
    qtbot.keyClick(widget.entry, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    assert widget.item_id == "activity3" and widget.entry.text() == "sitting"
    qtbot.keyClick(widget.entry, Qt.Key.Key_Return)
    qtbot.keyClick(widget.entry, Qt.Key.Key_Return)  # empty: left out (optional)
    qtbot.keyClick(widget.entry, Qt.Key.Key_Return)
    assert widget.item_id == "rating1" and "walking" in widget.item_text.text()
    for digit in (Qt.Key.Key_2, Qt.Key.Key_5, Qt.Key.Key_6):
        qtbot.keyClick(widget, digit)
        if widget.item_id != "rating3":
            qtbot.keyClick(widget, Qt.Key.Key_Return)
    with qtbot.waitSignal(widget.finished, timeout=2000) as done:
        qtbot.keyClick(widget, Qt.Key.Key_Return)
    answers, scores = done.args
    assert answers["activity2"] == "lifting a box" and answers["activity4"] is None
    assert scores[0].value == pytest.approx(13 / 3, abs=1e-6)


WIDE = """
format = 1
id = "wide"
name = "Wide"
version = "1"
[[items]]
id = "vas"
text = "Mark your pain"
min = 0
max = 100
[[scores]]
id = "vas"
name = "VAS"
method = "sum"
"""


def test_a_wide_scale_is_typed_and_checked(qtbot) -> None:
    widget = QuestionnaireWidget()
    qtbot.addWidget(widget)
    widget.show()
    widget.start(parse_instrument(WIDE, "wide.toml"))
    assert "0 to 100" in widget.key_hint.text()
    qtbot.keyClicks(widget.entry, "140")
    qtbot.keyClick(widget.entry, Qt.Key.Key_Return)
    assert widget.item_id == "vas" and widget.message.text().startswith("140 is outside")
    widget.entry.clear()
    qtbot.keyClicks(widget.entry, "35")
    with qtbot.waitSignal(widget.finished, timeout=2000) as done:
        qtbot.keyClick(widget.entry, Qt.Key.Key_Return)
    assert done.args[0] == {"vas": 35.0}


def test_dialog_returns_the_answers_or_none(qtbot) -> None:
    def answer() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, QuestionnaireDialog)
        qtbot.keyClick(dialog.widget, Qt.Key.Key_2)
        qtbot.keyClick(dialog.widget, Qt.Key.Key_Return)

    QTimer.singleShot(0, answer)
    answers, scores = ask_questionnaire(None, load_instrument("pgic"))
    assert answers == {"change": 2.0} and scores == _cli_scores("pgic", {"change": 2})

    def cancel() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, QuestionnaireDialog)
        qtbot.mouseClick(dialog.widget.cancel_button, Qt.MouseButton.LeftButton)

    QTimer.singleShot(0, cancel)
    assert ask_questionnaire(None, load_instrument("pgic")) is None


def test_home_practice_line_is_the_weeks_sentence() -> None:
    today = dt.date.today()
    monday = today - dt.timedelta(days=today.weekday())  # a whole week: its full target
    with Database() as db:
        db.add_subject("P7")
        db.add_subject("P8")
        start_course(db, "P7", monday, Prescription(monday, 5, 10))
        start_course(db, "P8", monday, Prescription(monday, 0, 10))
        course = open_course(db, "P7")
        assert course is not None
        expected = adherence(db, course, today).this_week_text()
    assert practice_text(None, "P7", today) == f"Home practice: {expected}"
    assert expected == "0 of 5 this week"
    assert practice_text(None, "P8", today) == ""  # clinic only: no line
    assert practice_text(None, "nobody", today) == ""


# -- the window: due questionnaires around a session ---------------------------------------------

SOURCE = "sim://?scenario=relax&board=12bit&channels=raw,ref&speed=8&seed=3"


def _clinic_course(subject: str, schedule: OutcomeSchedule) -> None:
    today = dt.date.today()
    with Database() as db:
        db.add_subject(subject)
        start_course(
            db,
            subject,
            today,
            Prescription(today, 5, 10),
            planned_clinic_sessions=1,
            outcome_schedule=schedule,
        )
        set_station_role(db, "clinic")


def _window(qtbot, **kwargs: object) -> MainWindow:
    window = MainWindow(
        SOURCE, safety_check=False, audio=False, remember=False, ask_pain=False, **kwargs
    )
    qtbot.addWidget(window)
    window.show()
    assert window.start()
    return window


def _rows(subject: str) -> list:
    with Database() as db:
        return list_outcomes(db, subject)


def _keys(qtbot, widget: QuestionnaireWidget, *keys: Qt.Key) -> None:
    for key in keys:
        qtbot.keyClick(widget, key)
        qtbot.keyClick(widget, Qt.Key.Key_Return)


def test_a_session_start_asks_the_due_questionnaires_first(qtbot) -> None:
    _clinic_course("P9", OutcomeSchedule(baseline=("pain-nrs",), each_clinic_session=("pgic",)))
    window = _window(qtbot, ask_outcomes=True)
    asked = window.patient.questionnaire
    assert window.start_session("", "P9", None)
    assert window.session is None and window.view == "patient"
    assert window.patient.showing_questionnaire and asked.instrument.id == "pain-nrs"
    assert window.patient.instruction.text() == "Before we start: 2 short questionnaires (1 of 2)"
    assert not window.start_session("", "P9", None)  # one start at a time, and says why
    assert "questionnaires due first" in window.statusBar().currentMessage()
    _keys(qtbot, asked, Qt.Key.Key_5, Qt.Key.Key_6, Qt.Key.Key_8)
    (row,) = _rows("P9")  # stored at once, before the session exists
    assert row.instrument == "pain-nrs" and row.timepoint == "baseline" and row.session_id is None
    assert row.answers == {"now": 5.0, "average": 6.0, "worst": 8.0}
    expected = _cli_scores("pain-nrs", {"now": 5, "average": 6, "worst": 8})
    assert row.scores == {s.id: s.to_dict() for s in expected}
    instrument = load_instrument("pain-nrs")
    assert (row.instrument_version, row.instrument_sha256) == (
        instrument.version,
        instrument.sha256,
    )
    assert asked.instrument.id == "pgic" and window.session is None
    assert window.patient.instruction.text().endswith("(2 of 2)")
    qtbot.mouseClick(asked.cancel_button, Qt.MouseButton.LeftButton)  # "Not now"
    qtbot.waitUntil(lambda: window.session is not None, timeout=10000)
    assert not window.patient.showing_questionnaire and len(_rows("P9")) == 1
    with Database() as db:  # the pain-nrs "now" answer is the session's pain before
        assert db.get_session(window.session.session_id).pain_before == 5
    qtbot.waitUntil(
        lambda: window.bridge is not None and window.bridge.elapsed_s > 0.3, timeout=10000
    )
    window.finish_session()
    window.close()


def test_the_end_asks_pain_once_and_keeps_it_with_the_session(qtbot, monkeypatch) -> None:
    # a clinic session counts from 5 minutes; this one lasts a fraction of a second
    monkeypatch.setattr("biofeedback.training.adherence.MIN_CLINIC_SESSION_S", 0.0)
    schedule = OutcomeSchedule(baseline=(), each_clinic_session=(), end=("pain-nrs",))
    _clinic_course("P10", schedule)
    prompts: list[str] = []
    window = _window(qtbot, ask_outcomes=True, pain_prompt=lambda: prompts.append("asked") or 4)
    assert window.start_session("", "P10", None) and window.session is not None  # none due
    assert window.patient.practice.text().startswith("Home practice: 0 of ")  # shown at start
    qtbot.waitUntil(lambda: window.bridge.elapsed_s > 0.3, timeout=10000)
    result = window.finish_session()
    assert result is not None and prompts == []  # pain-nrs asks it: no second pain question
    asked = window.patient.questionnaire
    assert window.patient.showing_questionnaire and asked.instrument.id == "pain-nrs"
    assert window.patient.instruction.text() == "Before you go: one short questionnaire"
    _keys(qtbot, asked, Qt.Key.Key_2, Qt.Key.Key_3, Qt.Key.Key_4)
    (row,) = _rows("P10")
    assert row.timepoint == "end" and row.session_id == result.session_id
    with Database() as db:
        assert db.get_session(result.session_id).pain_after == 2
        course = open_course(db, "P10")
        assert course is not None
        week = adherence(db, course).this_week_text()
    assert not window.patient.showing_questionnaire
    assert window.patient.practice.text() == f"Home practice: {week}"
    window.close()


def test_closing_after_the_first_questionnaire_keeps_it(qtbot) -> None:
    _clinic_course("P11", OutcomeSchedule(baseline=("pgic", "pain-nrs"), each_clinic_session=()))
    window = _window(qtbot, ask_outcomes=True)
    assert window.start_session("", "P11", None)
    asked = window.patient.questionnaire
    _keys(qtbot, asked, Qt.Key.Key_2)  # PGIC: much better
    assert asked.instrument.id == "pain-nrs"
    qtbot.keyClick(asked, Qt.Key.Key_3)
    window.close()
    (row,) = _rows("P11")
    assert row.instrument == "pgic" and row.answers == {"change": 2.0}
    assert window.session is None and not window.questionnaires.asking
    with Database() as db:
        assert db.list_sessions("P11") == []  # the session never started


def test_no_questionnaires_without_a_course_or_when_switched_off(qtbot) -> None:
    _clinic_course("P12", OutcomeSchedule(baseline=("pgic",)))
    window = _window(qtbot)  # ask_pain=False: nothing asked (as the other window tests expect)
    assert window.start_session("", "P12", None) and window.session is not None
    assert _rows("P12") == []
    window.finish_session()
    window.close()


def test_an_unknown_instrument_is_reported_and_the_rest_asked(qtbot) -> None:
    with Database() as db:
        db.add_subject("P13")
    view = PatientViewWidget()
    qtbot.addWidget(view)
    view.show()
    due = [DueOutcome("no-such-instrument", "baseline"), DueOutcome("pgic", "end")]
    asker = DueQuestionnaires(view, due, subject="P13", moment="session-end", session_id=None)
    failures: list[str] = []
    asker.failed.connect(failures.append)
    asker.start()
    assert len(failures) == 1 and "no-such-instrument" in failures[0]
    assert view.showing_questionnaire and view.questionnaire.instrument.id == "pgic"
    assert view.instruction.text() == "Before you go: 2 short questionnaires (2 of 2)"
    with qtbot.waitSignal(asker.done, timeout=2000):
        _keys(qtbot, view.questionnaire, Qt.Key.Key_1)
    (row,) = _rows("P13")
    assert row.timepoint == "end" and asker.answers == {"pgic": {"change": 1.0}}
    assert not view.showing_questionnaire and view.instruction.text() == DEFAULT_INSTRUCTION
