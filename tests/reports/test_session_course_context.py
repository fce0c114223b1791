"""The session report says where the session was (home or clinic), which course it belongs to
and its place in it, and falls back to the course's clinician, muscle and electrode site."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "storage"))
from storage_helpers import myoware_info

from biofeedback.reports.data import collect
from biofeedback.storage.courses import end_course, start_course
from biofeedback.storage.database import Database
from biofeedback.training.adherence import Prescription

START = dt.date(2026, 11, 2)


def _session(db: Database, day: int, setting: str | None, course_id: int | None, **meta) -> int:
    start = dt.datetime(2026, 11, day, 10).timestamp()
    sid = db.create_session("P001", "course-home-practice", myoware_info(), started_at=start,
                            course_id=course_id, setting=setting, **meta)  # fmt: skip
    db.finish_session(sid, "complete")
    return sid


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # these sessions hold no samples: count the clinic ones whatever their length
    monkeypatch.setattr("biofeedback.training.adherence.MIN_CLINIC_SESSION_S", 0.0)
    with Database(tmp_path / "db.sqlite") as store:
        store.add_subject("P001")
        yield store


def rows(db: Database, session_id: int) -> dict[str, str]:
    return dict(collect(db, session_id).session_rows)


def test_home_and_clinic_sessions_of_a_course(db: Database) -> None:
    course_id = start_course(db, "P001", START, Prescription(START, 5, 10), clinician="Dr K",
                          muscle="upper trapezius", electrode_site="C7 left 2 cm",
                          planned_clinic_sessions=6)  # fmt: skip
    first = _session(db, 2, "home", course_id)
    clinic = [_session(db, day, "clinic", course_id) for day in (3, 10, 17)]
    home = _session(db, 18, "home", course_id, clinician="Dr J", electrode_site="C7 left 3 cm")
    assert rows(db, first)["Setting"] == (
        "home session of the open course from 2026-11-02, before clinic session 1"
    )
    third = rows(db, clinic[2])
    assert third["Setting"] == "clinic session 3 of 6 of the open course from 2026-11-02"
    assert third["Clinician"] == "Dr K (from the course)"
    assert third["Electrode site"] == "C7 left 2 cm (from the course)"
    assert third["Muscle / side"] == "upper trapezius (from the course) / -"
    later = rows(db, home)
    assert later["Setting"] == (
        "home session of the open course from 2026-11-02, after clinic session 3 of 6"
    )
    assert later["Clinician"] == "Dr J" and later["Electrode site"] == "C7 left 3 cm"
    end_course(db, "P001", dt.date(2026, 11, 20))
    assert rows(db, clinic[0])["Setting"] == (
        "clinic session 1 of 6 of the course 2026-11-02 to 2026-11-20"
    )


def test_sessions_without_a_course(db: Database) -> None:
    assert rows(db, _session(db, 2, "home", None))["Setting"] == (
        "home session (not part of a course)"
    )
    plain = rows(db, _session(db, 3, None, None))
    assert plain["Setting"] == "not recorded" and plain["Clinician"] == "-"
    assert plain["Electrode site"] == "-"
