"""The outcome schedule: what a course asks before and after its sessions (pure rules), what the
store says is due, the template's [outcomes] table, and ``biofeedback outcomes due``."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import pytest

from biofeedback import cli
from biofeedback.errors import ProtocolFileError
from biofeedback.storage.courses import due_outcomes, end_course, open_course, start_course
from biofeedback.storage.database import Database
from biofeedback.storage.outcomes import add_outcome
from biofeedback.training.adherence import Prescription
from biofeedback.training.course_template import load_template
from biofeedback.training.outcome_schedule import (
    DEFAULT_SCHEDULE,
    CourseMoment,
    OutcomeSchedule,
    due_now,
    parse_schedule,
    schedule_from_json,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "storage"))
from storage_helpers import myoware_info

TODAY = dt.date(2026, 11, 2)


def _at(moment: str, number: int, **kw: object) -> CourseMoment:
    values: dict[str, object] = dict(
        moment=moment,
        setting="clinic",
        clinic_number=number,
        planned_clinic_sessions=6,
        course_end=None,
        today=TODAY,
    )
    values.update(kw)
    return CourseMoment(**values)  # type: ignore[arg-type]


def _pairs(due: list) -> list[tuple[str, str]]:
    return [(d.instrument, d.timepoint) for d in due]


def test_first_clinic_session_asks_the_baseline_and_not_pain_twice() -> None:
    assert _pairs(due_now(DEFAULT_SCHEDULE, _at("session-start", 1))) == [
        ("pain-nrs", "baseline"),
        ("psfs", "baseline"),
        ("pain-interference", "baseline"),
    ]


def test_later_sessions_ask_their_own_pain_rating_and_a_missed_baseline() -> None:
    answered = {("pain-nrs", "baseline"), ("psfs", "baseline")}
    due = due_now(DEFAULT_SCHEDULE, _at("session-start", 3, answered=answered))
    assert _pairs(due) == [("pain-interference", "baseline"), ("pain-nrs", "session 3")]
    answered |= {("pain-interference", "baseline"), ("pain-nrs", "session 3")}
    assert due_now(DEFAULT_SCHEDULE, _at("session-start", 3, answered=answered)) == []


def test_end_questionnaires_after_the_last_planned_session_only() -> None:
    assert due_now(DEFAULT_SCHEDULE, _at("session-end", 5)) == []
    assert _pairs(due_now(DEFAULT_SCHEDULE, _at("session-end", 6))) == [
        ("pain-nrs", "end"),
        ("psfs", "end"),
        ("pain-interference", "end"),
        ("pgic", "end"),
    ]
    assert due_now(DEFAULT_SCHEDULE, _at("session-end", 6, planned_clinic_sessions=None)) == []


def test_home_sessions_ask_nothing_and_follow_up_waits_its_weeks() -> None:
    assert due_now(DEFAULT_SCHEDULE, _at("session-start", 0, setting="home")) == []
    ended = TODAY - dt.timedelta(weeks=12)
    assert (
        due_now(
            DEFAULT_SCHEDULE,
            _at("session-start", 0, setting="home", course_end=ended + dt.timedelta(1)),
        )
        == []
    )
    due = due_now(DEFAULT_SCHEDULE, _at("session-start", 0, setting="home", course_end=ended))
    assert {d.timepoint for d in due} == {"follow-up"} and len(due) == 4
    assert due_now(DEFAULT_SCHEDULE, _at("session-end", 0, course_end=ended)) == []
    with pytest.raises(ValueError, match="moment"):
        due_now(DEFAULT_SCHEDULE, _at("later", 1))


def test_schedule_parsing_and_its_messages() -> None:
    s = parse_schedule({"baseline": ["odi-like"], "follow_up_weeks": 26})
    assert s.baseline == ("odi-like",) and s.end == DEFAULT_SCHEDULE.end
    assert schedule_from_json(s.to_json()) == s and schedule_from_json("") == DEFAULT_SCHEDULE
    for raw, words in (
        ({"basline": []}, "unknown key 'basline'"),
        ({"end": "pgic"}, "a list of instrument ids"),
        ({"end": ["PGIC!"]}, "is not an instrument id"),
        ({"end": [f"i{n}" for n in range(11)]}, "at most 10"),
        ({"follow_up_weeks": 0}, "outside 1-104"),
        ({"follow_up_weeks": True}, "whole number"),
    ):
        with pytest.raises(ProtocolFileError, match=words):
            parse_schedule(raw)


def test_template_outcomes_table(tmp_path: Path) -> None:
    assert load_template("six-session-back-neck").outcomes == DEFAULT_SCHEDULE
    bad = tmp_path / "t.toml"
    bad.write_text(
        'format = 1\nname = "t"\n[[sessions]]\nnumber = 1\nprotocol = "course-2-down-training"\n'
        "[outcomes]\nend = 3\n"
    )
    with pytest.raises(ProtocolFileError, match=r"t\.toml: \[outcomes\]\.end: a list"):
        load_template(bad)


def _clinic_session(db: Database, started: float) -> int:
    sid = db.create_session(
        "P1",
        "x",
        myoware_info(),
        started_at=started,
        course_id=open_course(db, "P1").id,
        setting="clinic",
    )
    db.finish_session(sid)
    return sid


def test_what_counts_as_a_clinic_session() -> None:
    from biofeedback.training.adherence import MIN_CLINIC_SESSION_S, is_clinic_session

    long = MIN_CLINIC_SESSION_S
    assert is_clinic_session("clinic", "complete", long)
    assert is_clinic_session("clinic", "interrupted", long + 1)
    assert is_clinic_session("clinic", "recording", long)  # counted by its length so far
    assert not is_clinic_session("clinic", "complete", 65.0)  # a signal check
    assert not is_clinic_session("home", "complete", 3600.0)
    assert not is_clinic_session(None, "complete", 3600.0)


def test_store_counts_clinic_sessions_and_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # these sessions hold no samples: count them whatever their length
    monkeypatch.setattr("biofeedback.training.adherence.MIN_CLINIC_SESSION_S", 0.0)
    with Database(tmp_path / "db.sqlite") as db:
        db.add_subject("P1")
        assert due_outcomes(db, "P1", "session-start") == []  # no course
        start_course(
            db,
            "P1",
            TODAY,
            Prescription(TODAY, 5, 10),
            planned_clinic_sessions=2,
            outcome_schedule=OutcomeSchedule(baseline=("pain-nrs",), end=("pgic",)),
        )
        due = due_outcomes(db, "P1", "session-start", TODAY, setting="clinic")
        assert _pairs(due) == [("pain-nrs", "baseline")] and due[0].title.startswith("Pain")
        t0 = dt.datetime.combine(TODAY, dt.time(10)).timestamp()
        add_outcome(db, "P1", "pain-nrs", "1", "x", {}, {}, timepoint="baseline", taken_at=t0)
        first = _clinic_session(db, t0)
        due = due_outcomes(db, "P1", "session-start", TODAY, setting="clinic")
        assert _pairs(due) == [("pain-nrs", "session 2")]
        assert due_outcomes(db, "P1", "session-end", TODAY, session_id=first) == []
        second = _clinic_session(db, t0 + 7 * 86400)
        assert _pairs(due_outcomes(db, "P1", "session-end", TODAY, session_id=second)) == [
            ("pgic", "end")
        ]
        end_course(db, "P1", TODAY + dt.timedelta(days=14))
        later = TODAY + dt.timedelta(days=14, weeks=12)
        assert {d.timepoint for d in due_outcomes(db, "P1", "session-start", later)} == {
            "follow-up"
        }


def test_outcomes_due_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["subjects", "add", "P1"]) == 0
    assert (
        cli.main(["course", "start", "--subject", "P1", "--template", "six-session-back-neck"]) == 0
    )
    capsys.readouterr()
    assert cli.main(["outcomes", "due", "--subject", "P1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["instrument"] for d in data["due"]] == ["pain-nrs", "psfs", "pain-interference"]
    assert cli.main(["outcomes", "due", "--subject", "P1", "--setting", "home"]) == 0
    assert "no questionnaire due" in capsys.readouterr().out
    assert cli.main(["course", "show", "--subject", "P1", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["course"]["template"] == "six-session-back-neck"
    assert shown["course"]["planned_clinic_sessions"] == 6
    assert shown["course"]["prescriptions"][0]["sessions_per_week"] == 5
    assert len(shown["due_before_next_clinic_session"]) == 3
    assert cli.main(["outcomes", "due", "--subject", "NOPE"]) == 2
    assert "NOPE" in capsys.readouterr().err
