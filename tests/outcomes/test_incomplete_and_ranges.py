"""``outcomes record`` refuses answers that cannot be scored unless --partial (and a partial one
does not count as answered for the schedule), out-of-range ids are one line, ``show
--instrument`` says what the subject has, and session 0 is not a timepoint."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

import biofeedback.cli as cli
from biofeedback.config import data_dir
from biofeedback.errors import AnswerError
from biofeedback.outcomes import load_instrument
from biofeedback.outcomes.results import counts_as_answered, normalize_timepoint
from biofeedback.outcomes.scoring import check_answers, score_answers, unscored_reason
from biofeedback.storage.courses import due_outcomes, start_course
from biofeedback.storage.database import DB_FILENAME, Database
from biofeedback.storage.outcomes import list_outcomes, record_answers
from biofeedback.training.adherence import Prescription
from biofeedback.training.outcome_schedule import OutcomeSchedule

RECORD = ("outcomes", "record", "--subject", "P1", "--instrument", "pain-nrs")
FULL = ("--answers", "now=5", "average=5", "worst=5")


@pytest.fixture(autouse=True)
def _only_these(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["instruments", "outcomes"])


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line_exit_2(code: int, err: str, message: str) -> None:
    assert code == 2 and err.startswith("biofeedback: ") and message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("number", ["99999999999999999999", str(2**63), "-1", "0"])
def test_a_session_id_out_of_range_is_one_line(
    capsys: pytest.CaptureFixture[str], number: str
) -> None:
    code, _, err = run(capsys, *RECORD, *FULL, "--session", number)
    _one_line_exit_2(code, err, f"there is no session {number}")
    code, _, err = run(capsys, "outcomes", "delete", number)
    _one_line_exit_2(code, err, f"no outcome record {number}")


def test_unscorable_answers_are_refused_unless_partial(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(capsys, *RECORD, "--answers", "now=5", "--timepoint", "baseline")
    _one_line_exit_2(
        code,
        err,
        "pain-nrs: not stored: 'Average pain, last 7 days' cannot be scored: answer average "
        "(1 of 1 items missing, every item must be answered)",
    )
    assert err.rstrip().endswith("or add --partial to store it as not scored")
    # refused before the store was opened
    assert not (data_dir(create=False) / DB_FILENAME).exists()
    code, out, _ = run(
        capsys, *RECORD, "--answers", "now=5", "--timepoint", "baseline", "--partial"
    )
    assert code == 0 and "Average pain, last 7 days: not scored" in out
    assert "not scored: 1 of 1 items missing, every item must be answered" in out
    code, _, err = run(capsys, "outcomes", "record", "--subject", "P1", "--instrument", "psfs",
                       "--answers", "activity1=lifting", "rating1=4")  # fmt: skip
    _one_line_exit_2(code, err, "'Mean activity rating' cannot be scored: 1 answered, at least 3")


def test_a_partial_questionnaire_is_asked_again_by_the_schedule(tmp_path: Path) -> None:
    today = dt.date.today()
    instrument = load_instrument("pain-nrs")
    with Database(tmp_path / "db.sqlite") as db:
        db.add_subject("P1")
        start_course(db, "P1", today, Prescription(today, 5, 10), planned_clinic_sessions=2,
                     outcome_schedule=OutcomeSchedule(baseline=("pain-nrs",)))  # fmt: skip
        with pytest.raises(AnswerError, match="not stored: 'Average pain"):
            record_answers(db, "P1", instrument, {"now": 5}, timepoint="baseline",
                           require_scores=True)  # fmt: skip
        assert list_outcomes(db, "P1") == []
        # every score not scored: stored, but the baseline is still due
        record_answers(db, "P1", instrument, {}, timepoint="baseline")
        due = due_outcomes(db, "P1", "session-start", today, setting="clinic")
        assert [(d.instrument, d.timepoint) for d in due] == [("pain-nrs", "baseline")]
        # one score computed: it counts as answered
        record_answers(db, "P1", instrument, {"now": 5}, timepoint="baseline")
        due = due_outcomes(db, "P1", "session-start", today, setting="clinic")
        assert ("pain-nrs", "baseline") not in [(d.instrument, d.timepoint) for d in due]


def test_the_answered_rule_and_the_missing_note() -> None:
    assert counts_as_answered({}) and counts_as_answered({"a": {"value": 0}, "b": {"value": None}})
    assert not counts_as_answered({"a": {"value": None}, "b": {"value": None}})
    instrument = load_instrument("pain-nrs")
    answers = check_answers(instrument, {"now": 3, "average": 4, "worst": 5})
    assert unscored_reason(instrument, answers) is None
    notes = [r.note for r in score_answers(instrument, check_answers(instrument, {}))]
    assert set(notes) == {"not scored: 1 of 1 items missing, every item must be answered"}


def test_show_one_instrument_the_subject_lacks(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, *RECORD, *FULL)[0] == 0
    code, out, _ = run(capsys, "outcomes", "show", "--subject", "P1", "--instrument", "psfs")
    assert code == 0 and out.strip() == "P1 has no psfs questionnaires (has: pain-nrs)"
    code, out, _ = run(capsys, "outcomes", "show", "--subject", "P1", "--instrument", "psfs",
                       "--json")  # fmt: skip
    assert code == 0 and json.loads(out) == {"subject": "P1", "instruments": []}
    code, _, err = run(capsys, "outcomes", "show", "--subject", "P1", "--instrument", "nosuch")
    _one_line_exit_2(code, err, "--instrument nosuch: unknown instrument 'nosuch'")


@pytest.mark.parametrize("text", ["session 0", "s0", "Session 00"])
def test_session_0_is_not_a_timepoint(capsys: pytest.CaptureFixture[str], text: str) -> None:
    with pytest.raises(AnswerError, match="session numbers start at 1"):
        normalize_timepoint(text)
    code, _, err = run(capsys, *RECORD, *FULL, "--timepoint", text)
    _one_line_exit_2(code, err, "session numbers start at 1")
    assert normalize_timepoint("s1") == "session 1"


@pytest.mark.parametrize("when", ["0001-01-01", "1999-12-31T23:59"])
def test_taken_long_ago_is_one_line(capsys: pytest.CaptureFixture[str], when: str) -> None:
    code, _, err = run(capsys, *RECORD, *FULL, "--taken", when)
    _one_line_exit_2(code, err, f"--taken '{when}': give a date from 2000-01-01 on")
