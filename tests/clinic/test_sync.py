"""Sync against a real server: two stations recording the same subject, a sync cut off by the
server stopping mid-upload and resumed, a second sync adding nothing, a station login, conflicts,
and the ``sync`` command's messages."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from biofeedback.cli import main
from biofeedback.clinic.connect import connect
from biofeedback.clinic.migrate import init_clinic
from biofeedback.clinic.roles import STATION_ROLE
from biofeedback.clinic.sync import samples_sha256, sync, sync_state
from biofeedback.errors import ClinicError
from biofeedback.storage.database import DB_FILENAME, Database

SIM = "sim://?scenario=learner&speed=max"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def record(capsys: pytest.CaptureFixture[str], station: Path, n: int = 1) -> None:
    for _ in range(n):
        code, _, err = run(capsys, "--data-dir", str(station), "record", "--duration", "20",
                           "--source", SIM, "--subject", "P1")  # fmt: skip
        assert code == 0, err


def store(station: Path) -> Database:
    return Database(station / DB_FILENAME)


def local_sessions(station: Path) -> dict[str, tuple[int, str]]:
    """uid -> (revision, samples checksum) in a station's store."""
    with store(station) as db:
        rows = db._query("SELECT id, uid, revision FROM sessions")
        return {r["uid"]: (r["revision"], samples_sha256(_local_chunks(db, r["id"]))) for r in rows}


def _local_chunks(db: Database, session_id: int) -> list[tuple]:
    rows = db._query(
        "SELECT first_index, n, codec, data, nan_mask, flags FROM chunks WHERE session_id = ? "
        "ORDER BY first_index",
        (session_id,),
    )
    return [tuple(r) for r in rows]


def clinic_sessions(url: str) -> dict[str, tuple[int, str]]:
    """uid -> (revision, samples checksum) at the clinic; also checks no block is doubled."""
    with connect(url) as conn:
        out = {}
        for sid, uid, revision in conn.execute("SELECT id, uid, revision FROM sessions"):
            rows = conn.execute(
                "SELECT first_index, n, codec, data, nan_mask, flags FROM chunks "
                "WHERE session_id = %s ORDER BY first_index",
                (sid,),
            ).fetchall()
            out[uid] = (revision, samples_sha256(rows))
        return out


@pytest.fixture
def clinic(clinic_url: str) -> str:
    init_clinic(clinic_url)
    return clinic_url


def test_two_stations_share_a_subject(capsys, tmp_path: Path, clinic: str) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    record(capsys, a, 2)
    record(capsys, b, 1)
    with store(a) as db:
        first = sync(db, clinic)
    assert (first.pushed_sessions, first.verified, first.pulled_sessions) == (2, 2, 0)
    assert first.pending == 0 and first.errors == []
    with store(b) as db:
        second = sync(db, clinic)
    assert (second.pushed_sessions, second.verified, second.pulled_sessions) == (1, 1, 2)
    with store(a) as db:
        third = sync(db, clinic)
    assert (third.pushed_sessions, third.pulled_sessions) == (0, 1)
    at_clinic = clinic_sessions(clinic)
    assert len(at_clinic) == 3
    assert local_sessions(a) == at_clinic == local_sessions(b)
    for station in (a, b):  # a second sync adds nothing
        with store(station) as db:
            again = sync(db, clinic)
            state = sync_state(db)
        assert (again.pushed_sessions, again.pulled_sessions, again.pushed_outcomes) == (0, 0, 0)
        assert again.already == 0 and again.errors == [] and again.pending == 0
        assert state.pending == 0 and state.last_error == "" and state.last_sync_at is not None
        assert "@" in state.clinic and "password" not in state.clinic
    assert clinic_sessions(clinic) == at_clinic
    with store(b) as db:  # the subject's name never went to the clinic
        assert db.get_subject("P1") is not None
    with connect(clinic) as conn:
        assert conn.execute("SELECT name FROM subjects").fetchall() == [(None,)]
    with store(tmp_path / "c") as db:  # a new desk asks for the subject's history
        fresh = sync(db, clinic, subject="P1")
        assert (fresh.pulled_sessions, fresh.pushed_sessions, fresh.errors) == (3, 0, [])
        assert db.get_subject("P1")["name"] is None
    assert local_sessions(tmp_path / "c") == at_clinic


def test_sync_cut_off_by_the_server_stopping_resumes(
    capsys, tmp_path: Path, pg_cluster, clinic: str
) -> None:
    a = tmp_path / "a"
    record(capsys, a, 3)
    stopped = []

    def stop_mid_upload(done: int, total: int, what: str) -> None:
        if what.startswith("sending session 2 of 3: samples") and not stopped:
            stopped.append(what)
            pg_cluster.stop()

    try:
        with store(a) as db, pytest.raises(ClinicError, match=r"lost the connection|cannot reach"):
            sync(db, clinic, progress=stop_mid_upload)
    finally:
        if stopped:
            pg_cluster.start()
    assert stopped
    with store(a) as db:
        state = sync_state(db)
    assert state.pending == 2 and state.last_error and state.last_sync_at is None
    half = clinic_sessions(clinic)
    assert len(half) == 1  # the first committed, the second rolled back whole
    with store(a) as db:
        done = sync(db, clinic)
        state = sync_state(db)
    assert (done.pushed_sessions, done.verified, done.pending, done.errors) == (2, 2, 0, [])
    assert state.pending == 0 and state.last_error == ""
    assert clinic_sessions(clinic) == local_sessions(a)
    with connect(clinic) as conn:
        blocks = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
    with store(a) as db:
        assert blocks == db._query("SELECT count(*) FROM chunks")[0][0]


def test_a_station_login_syncs_but_cannot_delete(
    capsys, tmp_path: Path, pg_cluster, clinic: str
) -> None:
    from psycopg import errors

    name = f"desk_{uuid.uuid4().hex[:8]}"
    pg_cluster.sql(f"CREATE ROLE {name} LOGIN IN ROLE {STATION_ROLE}")
    desk = pg_cluster.url(urlsplit(clinic).path.lstrip("/"), user=name)
    a = tmp_path / "a"
    record(capsys, a, 1)
    with store(a) as db:
        result = sync(db, desk)
        assert (result.pushed_sessions, result.verified, result.errors) == (1, 1, [])
        session = db.list_sessions()[0]
        db.add_marker(session.id, 100, "pain", "left shoulder")  # a newer revision goes up
        info = db.get_session(session.id).info  # one still recording stays here
        recording = db.create_session("P1", "live", info)
        again = sync(db, desk)
        assert (again.pushed_sessions, again.verified, again.pending, again.errors) == (1, 1, 0, [])
        assert db.get_session(recording).status == "recording"
    at_clinic = clinic_sessions(clinic)
    assert at_clinic == {session.uid: (session.revision + 1, local_sessions(a)[session.uid][1])}
    with connect(desk) as conn:
        labels = conn.execute("SELECT label, note FROM markers").fetchall()
        assert ("pain", "left shoulder") in labels
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("DELETE FROM sessions")


def test_changed_at_the_clinic_comes_down_changed_on_both_sides_is_refused(
    capsys, tmp_path: Path, clinic: str
) -> None:
    a = tmp_path / "a"
    record(capsys, a, 1)
    with store(a) as db:
        sync(db, clinic)
        uid = db.list_sessions()[0].uid
    with connect(clinic, autocommit=True) as conn:  # a clinician's note: a newer revision there
        conn.execute("UPDATE sessions SET notes = 'seen by dr Lee' WHERE uid = %s", (uid,))
    with store(a) as db:
        pulled = sync(db, clinic)
        assert pulled.pulled_sessions == 1 and db.list_sessions()[0].notes == "seen by dr Lee"
        assert sync_state(db).pending == 0
    with connect(clinic, autocommit=True) as conn:
        conn.execute("UPDATE sessions SET notes = 'clinic side' WHERE uid = %s", (uid,))
    with store(a) as db:
        db.update_session(db.list_sessions()[0].id, notes="station side")
        both = sync(db, clinic)
        assert both.pending == 1 and len(both.errors) == 1
        assert f"session {uid} was changed here and at the clinic" in both.errors[0]
        assert db.list_sessions()[0].notes == "station side"
    with connect(clinic) as conn:
        notes = conn.execute("SELECT notes FROM sessions WHERE uid = %s", (uid,)).fetchone()[0]
    assert notes == "clinic side"
    code, _, err = run(capsys, "--data-dir", str(a), "sync", "--clinic", clinic)
    assert code == 1 and "1 error, 1 session still pending: session" in err
    assert "changed here and at the clinic" in err and len(err.splitlines()) == 1


def test_sync_command(capsys, tmp_path: Path, pg_cluster, clinic: str) -> None:
    a = tmp_path / "a"
    where = ("--data-dir", str(a))
    code, out, err = run(capsys, *where, "sync")
    assert code == 2 and "no clinic is configured" in err and len(err.splitlines()) == 1
    code, out, err = run(capsys, *where, "sync", "--clinic", "nonsense")
    assert code == 2 and "is not a PostgreSQL connection string" in err
    record(capsys, a, 2)
    code, out, err = run(capsys, *where, "sync", "--clinic", clinic)
    assert code == 0, err
    assert "session 2 of 2" in out and "2 sessions sent (2 verified)" in out.splitlines()[-1]
    code, out, err = run(capsys, *where, "sync", "--clinic", clinic, "--json")
    assert code == 0 and json.loads(out)["pushed_sessions"] == 0 and err == ""
    code, out, err = run(capsys, *where, "sync", "--clinic", clinic, "--subject", "NOPE")
    assert code == 2 and "NOPE" in err
    gone = pg_cluster.url("no_such_db")
    code, out, err = run(capsys, *where, "sync", "--clinic", gone)
    assert code == 2 and "does not exist" in err and len(err.splitlines()) == 1


def test_a_stop_between_sessions_is_resumed(capsys, tmp_path: Path, clinic: str) -> None:
    import threading

    a = tmp_path / "a"
    record(capsys, a, 2)
    stop = threading.Event()

    def after_first(done: int, total: int, what: str) -> None:
        if done == 1:
            stop.set()

    with store(a) as db:
        first = sync(db, clinic, progress=after_first, stop=stop)
        assert (first.pushed_sessions, first.pending, first.stopped) == (1, 1, True)
        assert "stopped" in first.text() and sync_state(db).pending == 1
        rest = sync(db, clinic)
    assert (rest.pushed_sessions, rest.pending, rest.stopped) == (1, 0, False)
    assert clinic_sessions(clinic) == local_sessions(a)


def test_two_open_courses_of_a_subject_are_one_error_each(
    capsys, tmp_path: Path, clinic: str
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for station in (a, b):
        code, _, err = run(capsys, "--data-dir", str(station), "subjects", "add", "P1")
        assert code == 0, err
        code, _, err = run(capsys, "--data-dir", str(station), "course", "start", "--subject",
                           "P1", "--sessions-per-week", "5", "--minutes", "12")  # fmt: skip
        assert code == 0, err
    record(capsys, b, 1)
    with store(a) as db:
        assert sync(db, clinic).errors == []
    with store(b) as db:
        result = sync(db, clinic)
    assert result.pushed_sessions == 1 and result.verified == 1 and result.pending == 0
    assert len(result.errors) == 2
    assert "the clinic refused it" in result.errors[0] and "open course" in result.errors[0]
    assert "this station has another open course" in result.errors[1]
