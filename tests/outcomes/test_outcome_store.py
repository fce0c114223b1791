"""The outcomes table: migration from schema 1 (the schema before it), storing and reading back."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "storage"))
from legacy_schema import LEGACY_MIGRATIONS

from biofeedback.errors import StorageError
from biofeedback.storage import database
from biofeedback.storage.database import Database
from biofeedback.storage.outcomes import add_outcome, delete_outcome, list_outcomes


def _schema_1_database(path: Path) -> None:
    """A database as the release before outcomes wrote it, with a subject and a session."""
    conn = sqlite3.connect(path)
    for statement in database._split_sql(LEGACY_MIGRATIONS[0][1]):
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO subjects (id, name, created_at) VALUES ('P1', 'Pat', 1.0)")
    conn.execute(
        "INSERT INTO sessions (subject_id, started_at, status, fs_hz, info_json) "
        "VALUES ('P1', 2.0, 'complete', 1000, '{}')"
    )
    conn.commit()
    conn.close()


def test_schema_1_is_migrated_keeping_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    _schema_1_database(path)
    with Database(path) as db:
        assert db.schema_version == database.SCHEMA_VERSION >= 2
        assert db.get_subject("P1")["name"] == "Pat"
        columns = {r["name"] for r in db._query("PRAGMA table_info(outcomes)")}
        assert {
            "uid",
            "subject_id",
            "instrument",
            "instrument_version",
            "instrument_sha256",
            "taken_at",
            "timepoint",
            "session_id",
            "answers_json",
            "scores_json",
        } <= columns
        session_id = int(db._query("SELECT id FROM sessions")[0]["id"])
        record = add_outcome(
            db, "P1", "pain-nrs", "1", "ab" * 32, {"now": 3.0}, {"now": {"value": 3.0}},
            timepoint="session 1", session_id=session_id, taken_at=10.0,
        )  # fmt: skip
        assert db.integrity_check() == "ok"
    with Database(path) as db:  # reopened: not migrated twice, the row is there
        (row,) = list_outcomes(db, "P1")
        assert row.id == record and row.session_id == session_id and row.timepoint == "session 1"
        assert row.answers == {"now": 3.0} and row.scores == {"now": {"value": 3.0}}
        db.delete_session(session_id)  # the questionnaire stays, no longer tied to the session
        assert list_outcomes(db, "P1")[0].session_id is None


def test_answers_keep_their_order_and_records_are_listed_oldest_first(tmp_path: Path) -> None:
    with Database(tmp_path / "db.sqlite") as db:
        later = add_outcome(db, "P2", "x", "1", "0" * 64, {"b": 1, "a": 2}, {}, taken_at=20.0)
        first = add_outcome(db, "P2", "y", "1", "0" * 64, {}, {}, taken_at=10.0)
        rows = list_outcomes(db, "P2")
        assert [r.id for r in rows] == [first, later]
        assert list(rows[1].answers) == ["b", "a"] and rows[1].subject_id == "P2"
        assert [r.id for r in list_outcomes(db, "P2", "x")] == [later]
        assert len({r.uid for r in rows}) == 2
        delete_outcome(db, first)
        with pytest.raises(StorageError, match=f"no outcome record {first}"):
            delete_outcome(db, first)
        with pytest.raises(StorageError, match="no session 99"):
            add_outcome(db, "P2", "x", "1", "0" * 64, {}, {}, session_id=99)
        with pytest.raises(StorageError, match="subject id"):
            add_outcome(db, "bad id!", "x", "1", "0" * 64, {}, {})
