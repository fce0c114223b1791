"""Schema 3 (courses): migration from schema 1 and 2 databases, the course store, which course
and setting a new session gets, and adherence read from stored sessions."""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import sys
from dataclasses import replace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "storage"))
from legacy_schema import LEGACY_MIGRATIONS
from storage_helpers import myoware_info

from biofeedback.errors import StorageError
from biofeedback.storage import database
from biofeedback.storage.courses import (
    adherence,
    change_prescription,
    current_course,
    end_course,
    open_course,
    session_course_meta,
    set_station_role,
    start_course,
    station_role,
)
from biofeedback.storage.database import Database
from biofeedback.storage.outcomes import list_outcomes
from biofeedback.training.adherence import Prescription

UUID4 = re.compile(r"^[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}$")


def _old_database(path: Path, version: int, n_sessions: int = 3) -> None:
    """A database as an earlier release wrote it (schema ``version``, made by that release's
    scripts), with sessions."""
    conn = sqlite3.connect(path)
    for _version, script in LEGACY_MIGRATIONS[:version]:
        for statement in database._split_sql(script):
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.execute("INSERT INTO subjects (id, name, created_at) VALUES ('P1', 'Pat', 1.0)")
    for i in range(n_sessions):
        conn.execute(
            "INSERT INTO sessions (subject_id, started_at, status, fs_hz, info_json, first_index, "
            "end_index) VALUES ('P1', ?, 'complete', 1000, ?, 0, 600000)",
            (1.7e9 + i * 86400, json.dumps(database.info_to_dict(myoware_info()))),
        )
    if version >= 2:
        conn.execute(
            "INSERT INTO outcomes (uid, subject_id, instrument, instrument_version, "
            "instrument_sha256, taken_at, answers_json, scores_json, created_at) "
            "VALUES ('u1', 'P1', 'pain-nrs', '1', 'x', 5.0, '{}', '{}', 5.0)"
        )
    conn.commit()
    conn.close()


@pytest.mark.parametrize("version", [1, 2])
def test_migration_gives_every_old_session_a_stable_unique_id(tmp_path: Path, version: int) -> None:
    path = tmp_path / "old.sqlite"
    _old_database(path, version, n_sessions=50)
    with Database(path) as db:
        assert db.schema_version == database.SCHEMA_VERSION >= 4
        records = db.list_sessions("P1")
        uids = [r.uid for r in records]
        assert len(set(uids)) == 50 and all(UUID4.match(u) for u in uids)
        assert all(r.course_id is None and r.setting is None for r in records)
        assert all(r.utc_offset_min is None for r in records)
        assert records[0].local_start == dt.datetime.fromtimestamp(1.7e9)  # this machine's zone
        assert db.get_subject("P1")["name"] == "Pat"
        if version == 2:
            assert [o.uid for o in list_outcomes(db, "P1")] == ["u1"]
        assert db.integrity_check() == "ok"
    with Database(path) as db:  # reopened: the ids stay
        assert [r.uid for r in db.list_sessions("P1")] == uids
        with pytest.raises(StorageError), db.transaction() as conn:  # the index keeps them unique
            conn.execute("UPDATE sessions SET uid = ? WHERE id = ?", (uids[0], records[1].id))


def test_migration_to_4_gives_revisions_and_triggers_keep_them(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    _old_database(path, 3, n_sessions=2)
    with Database(path) as db:
        first, second = db.list_sessions("P1")
        assert (first.revision, first.updated_at) == (1, first.started_at)  # no heartbeat, no end
        db.update_session(first.id, notes="after the fact")
        assert db.get_session(first.id).revision == 2
        db.add_marker(first.id, 10, "cough")
        db.save_phases(first.id, [{"name": "rest", "kind": "baseline", "start_index": 0}])
        bumped = db.get_session(first.id)
        assert bumped.revision >= 4 and bumped.updated_at > first.updated_at
        assert db.get_session(second.id).revision == 1  # only the changed session moves
        with db.transaction() as conn:  # a copy that brings its own revision keeps it
            conn.execute(
                "UPDATE sessions SET revision = 42, notes = 'x' WHERE id = ?", (second.id,)
            )
        assert db.get_session(second.id).revision == 42
        row = db._query("SELECT template, outcome_schedule_json FROM courses LIMIT 1")
        assert row == []  # the new course columns exist (no course yet)
        new = db.create_session("P1", "x", myoware_info())
        assert db.get_session(new).revision == 1


def test_new_sessions_get_uid_offset_course_and_setting(tmp_path: Path) -> None:
    with Database(tmp_path / "db.sqlite") as db:
        db.add_subject("P1")
        course_id = start_course(
            db, "P1", dt.date(2026, 11, 2), Prescription(dt.date(2026, 11, 2), 5, 10)
        )
        meta = session_course_meta(db, "P1")
        assert meta == {"course_id": course_id, "setting": "home"}  # no station role: home
        sid = db.create_session("P1", "x", myoware_info(), **meta)
        record = db.get_session(sid)
        assert (
            UUID4.match(record.uid) and record.course_id == course_id and record.setting == "home"
        )
        assert record.utc_offset_min == database.utc_offset_minutes(record.started_at)
        assert record.to_dict()["uid"] == record.uid
        assert db.session_id_for_uid(record.uid) == sid and db.session_id_for_uid("0" * 32) is None
        copied = db.create_session("P1", "x", myoware_info(), uid="ab" * 16)
        assert db.get_session(copied).uid == "ab" * 16
        set_station_role(db, "clinic")
        assert station_role(db) == "clinic"
        assert session_course_meta(db, "P1")["setting"] == "clinic"
        assert session_course_meta(db, "P1", "home")["setting"] == "home"  # given wins
        assert session_course_meta(db, "P2") == {"course_id": None, "setting": "clinic"}
        assert session_course_meta(db, None) == {"course_id": None, "setting": "clinic"}
        with pytest.raises(StorageError, match="clinic"):
            session_course_meta(db, "P1", "office")
        with pytest.raises(StorageError, match="hex"):
            db.create_session("P1", "x", myoware_info(), uid="not-a-uid")


def test_no_station_and_no_course_leaves_the_setting_unsaid(tmp_path: Path) -> None:
    with Database(tmp_path / "db.sqlite") as db:
        assert session_course_meta(db, "P1") == {"course_id": None, "setting": None}


def test_one_open_course_per_subject_and_dated_prescriptions(tmp_path: Path) -> None:
    start = dt.date(2026, 11, 5)
    with Database(tmp_path / "db.sqlite") as db:
        with pytest.raises(StorageError, match="subjects add P1"):
            start_course(db, "P1", start, Prescription(start, 5, 10))
        db.add_subject("P1")
        start_course(db, "P1", start, Prescription(start, 5, 10), clinician="Dr K")
        with pytest.raises(StorageError, match="open course"):
            start_course(db, "P1", start, Prescription(start, 5, 10))
        with pytest.raises(StorageError, match="UNIQUE"), db.transaction() as conn:
            conn.execute(  # the database itself refuses a second open course too
                "INSERT INTO courses (uid, subject_id, start_date, created_at, updated_at) "
                "VALUES ('x', 'P1', '2026-12-01', 0, 0)"
            )
        course = open_course(db, "P1")
        assert course is not None and course.clinician == "Dr K"
        with pytest.raises(StorageError, match="before the course start"):
            change_prescription(db, course, dt.date(2026, 11, 1), {"sessions_per_week": 3})
        change_prescription(db, course, dt.date(2026, 11, 16), {"sessions_per_week": 3})
        change_prescription(db, course, dt.date(2026, 11, 16), {"minutes_per_session": 20})
        course = current_course(db, "P1")
        assert [
            (p.valid_from.day, p.sessions_per_week, p.minutes_per_session)
            for p in course.prescriptions
        ] == [
            (5, 5, 10),
            (16, 3, 20),
        ]  # the second change on the same day replaced the first, keeping its other fields
        with pytest.raises(StorageError, match="0 to 21"):
            change_prescription(db, course, dt.date(2026, 11, 20), {"sessions_per_week": 22})
        with pytest.raises(StorageError, match="before the course start"):
            end_course(db, "P1", dt.date(2026, 11, 1))
        ended = end_course(db, "P1", dt.date(2026, 11, 30))
        assert ended.end_date == dt.date(2026, 11, 30) and open_course(db, "P1") is None
        assert current_course(db, "P1").end_date == dt.date(2026, 11, 30)
        start_course(db, "P1", dt.date(2026, 12, 1), Prescription(dt.date(2026, 12, 1), 2, 10))


def _session(
    db: Database, course_id: int, when: dt.datetime, minutes: float, setting: str, status="complete"
) -> int:
    sid = db.create_session(
        "P1",
        "home",
        myoware_info(),
        started_at=when.timestamp(),
        course_id=course_id,
        setting=setting,
    )
    db.finish_session(sid, status)
    with db.transaction() as conn:
        conn.execute(
            "UPDATE sessions SET first_index = 0, end_index = ? WHERE id = ?",
            (round(minutes * 60 * 1000), sid),
        )
    return sid


def test_adherence_from_stored_sessions(tmp_path: Path) -> None:
    start = dt.date(2026, 11, 2)
    with Database(tmp_path / "db.sqlite") as db:
        db.add_subject("P1")
        course_id = start_course(db, "P1", start, Prescription(start, 2, 10))
        _session(db, course_id, dt.datetime(2026, 11, 2, 9), 30, "clinic")
        _session(db, course_id, dt.datetime(2026, 11, 3, 19), 10, "home")
        _session(db, course_id, dt.datetime(2026, 11, 4, 19), 3, "home", "interrupted")
        _session(db, course_id, dt.datetime(2026, 11, 5, 19), 10, "home")
        db.create_session("P1", "", myoware_info(), setting="home")  # no course: not counted
        result = adherence(db, current_course(db, "P1"), today=dt.date(2026, 11, 8))
    (w,) = result.weeks
    assert (w.sessions_done, w.clinic_sessions, w.interrupted_short, w.days_practised) == (
        2,
        1,
        1,
        2,
    )
    assert w.met is True and result.this_week_text() == "2 of 2 this week"


def test_the_local_day_comes_from_the_stored_offset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session recorded late on a Sunday in UTC+1 stays in the next ISO week wherever it is read."""
    start = dt.date(2026, 11, 2)
    with Database(tmp_path / "db.sqlite") as db:
        db.add_subject("P1")
        course_id = start_course(db, "P1", start, Prescription(start, 1, 10))
        sid = _session(db, course_id, dt.datetime(2026, 11, 8, 12), 10, "home")
        utc = dt.datetime(2026, 11, 8, 23, 30, tzinfo=dt.UTC).timestamp()  # Monday 00:30 in UTC+1
        with db.transaction() as conn:
            conn.execute(
                "UPDATE sessions SET started_at = ?, utc_offset_min = 60 WHERE id = ?", (utc, sid)
            )
        result = adherence(db, current_course(db, "P1"), today=dt.date(2026, 11, 9))
    assert [w.sessions_done for w in result.weeks] == [0, 1]
    assert result.weeks[1].iso_week == "2026-W46"


def test_a_course_ends_by_today_and_courses_do_not_overlap(tmp_path: Path) -> None:
    start, rx = dt.date(2026, 11, 5), Prescription(dt.date(2026, 11, 5), 5, 10)
    with Database(tmp_path / "db.sqlite") as db:
        db.add_subject("P1")
        start_course(db, "P1", start, rx)
        with pytest.raises(StorageError, match=r"after today.*--until 2099-01-01"):
            end_course(db, "P1", dt.date(2099, 1, 1), today=dt.date(2026, 11, 30))
        assert open_course(db, "P1") is not None  # still open
        end_course(db, "P1", dt.date(2026, 11, 28), today=dt.date(2026, 11, 30))
        overlap = dt.date(2026, 11, 20)
        with pytest.raises(StorageError, match=r"ran until 2026-11-28.*--start 2026-11-29"):
            start_course(db, "P1", overlap, replace(rx, valid_from=overlap))
        assert open_course(db, "P1") is None
        after = dt.date(2026, 11, 29)
        start_course(db, "P1", after, replace(rx, valid_from=after))
        assert open_course(db, "P1") is not None
