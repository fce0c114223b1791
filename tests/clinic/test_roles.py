"""The two roles for real: login roles in each group do what docs/clinic.md says and no more."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from biofeedback.clinic.connect import connect, sync_transaction
from biofeedback.clinic.migrate import clinic_status, init_clinic
from biofeedback.clinic.roles import CLINICIAN_ROLE, STATION_ROLE
from biofeedback.clinic.schema import pg_upsert
from biofeedback.errors import ClinicError

if TYPE_CHECKING:
    import psycopg


def _login(pg_cluster, clinic_url: str, group: str | None) -> str:
    """A new login role in ``group`` (None: in neither); its URL for the clinic database."""
    name = f"login_{uuid.uuid4().hex[:10]}"
    member = f" IN ROLE {group}" if group else ""
    pg_cluster.sql(f"CREATE ROLE {name} LOGIN{member}")
    return pg_cluster.url(urlsplit(clinic_url).path.lstrip("/"), user=name)


@pytest.fixture
def clinic(pg_cluster, clinic_url: str):
    init_clinic(clinic_url)
    with connect(clinic_url, autocommit=True) as conn:
        conn.execute("INSERT INTO subjects (id, created_at) VALUES ('P001', 1)")
        session = conn.execute(
            "INSERT INTO sessions (subject_id, started_at, status, fs_hz, info_json, uid) "
            "VALUES ('P001', 1, 'complete', 1000, '{}', %s) RETURNING id",
            ("c" * 32,),
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO chunks (session_id, first_index, n, codec, data) VALUES (%s, 0, 1, 1, 'x')",
            (session,),
        )
    return clinic_url, session


def _denied(conn: psycopg.Connection, statement: str, *params: object) -> None:
    from psycopg import errors  # psycopg only where the server tests run

    with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
        conn.execute(statement, params)


def test_station_inserts_reads_and_upserts_but_never_deletes(pg_cluster, clinic) -> None:
    url, _ = clinic
    with connect(_login(pg_cluster, url, STATION_ROLE), autocommit=True) as conn:
        conn.execute("INSERT INTO subjects (id, created_at) VALUES ('P002', 2)")
        new = conn.execute(
            "INSERT INTO sessions (subject_id, started_at, status, fs_hz, info_json, uid) "
            "VALUES ('P002', 2, 'recording', 1000, '{}', %s) "
            "ON CONFLICT (uid) DO UPDATE SET status = EXCLUDED.status RETURNING id",
            ("d" * 32,),
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO chunks (session_id, first_index, n, codec, data) VALUES (%s, 0, 1, 1, 'y') "
            "ON CONFLICT DO NOTHING",
            (new,),
        )
        conn.execute("UPDATE sessions SET status = 'complete' WHERE id = %s", (new,))
        assert conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 2
        for table in ("sessions", "chunks", "subjects", "markers", "outcomes", "courses"):
            _denied(conn, f"DELETE FROM {table}")
        _denied(conn, "TRUNCATE chunks")
        _denied(conn, "UPDATE chunks SET data = 'z'")
        _denied(conn, "UPDATE threshold_log SET reason = 'z'")
        _denied(conn, "DROP TABLE markers")
    assert clinic_status(url).counts["chunks"] == 2


def test_clinician_reads_everything_and_annotates(pg_cluster, clinic) -> None:
    url, session = clinic
    with connect(_login(pg_cluster, url, CLINICIAN_ROLE), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM chunks").fetchone()[0] == 1
        conn.execute(
            "INSERT INTO markers (session_id, sample_index, label, created_at) "
            "VALUES (%s, 10, 'reviewed', 5)",
            (session,),
        )
        conn.execute("UPDATE markers SET note = 'ok' WHERE session_id = %s", (session,))
        conn.execute("UPDATE sessions SET notes = 'good progress' WHERE id = %s", (session,))
        conn.execute("UPDATE subjects SET notes = 'n' WHERE id = 'P001'")
        conn.execute(
            "INSERT INTO outcomes (uid, subject_id, instrument, instrument_version, "
            "instrument_sha256, taken_at, answers_json, scores_json, created_at) "
            "VALUES (%s, 'P001', 'nprs', '1', 'h', 1, '{}', '{}', 1)",
            ("e" * 32,),
        )
        # the marker and the note bumped the session's revision (a trigger the clinician may run)
        assert (
            conn.execute("SELECT revision FROM sessions WHERE id = %s", (session,)).fetchone()[0]
            == 3
        )
        _denied(conn, "UPDATE sessions SET status = 'interrupted' WHERE id = %s", session)
        _denied(conn, "UPDATE sessions SET revision = 1 WHERE id = %s", session)
        _denied(conn, "INSERT INTO subjects (id, created_at) VALUES ('P009', 1)")
        _denied(
            conn,
            "INSERT INTO chunks (session_id, first_index, n, codec, data) VALUES (%s, 9, 1, 1, 'x')",
            session,
        )
        _denied(conn, "UPDATE chunks SET n = 2")
        _denied(conn, "UPDATE markers SET sample_index = 0")
        _denied(conn, "DELETE FROM markers")
        _denied(conn, "DELETE FROM outcomes")


def test_a_login_in_neither_role_reads_nothing(pg_cluster, clinic) -> None:
    url, _ = clinic
    outsider = _login(pg_cluster, url, None)
    with pytest.raises(ClinicError, match=r"may not read the clinic.*grant it biofeedback_station"):
        clinic_status(outsider)


def test_init_by_a_user_who_may_not_create_the_schema(pg_cluster, clinic_url: str) -> None:
    station = _login(pg_cluster, clinic_url, None)
    with pytest.raises(
        ClinicError, match=r"may not create the clinic schema: run .* as the database's owner"
    ):
        init_clinic(station)


def test_a_station_upserts_by_key_with_the_rendered_statements(pg_cluster, clinic) -> None:
    url, _ = clinic
    row = {
        "subject_id": "P001",
        "started_at": 10.0,
        "status": "recording",
        "fs_hz": 1000.0,
        "info_json": "{}",
        "uid": "f" * 32,
        "revision": 2,
    }
    newer = "sessions.revision < EXCLUDED.revision"
    sql = pg_upsert("sessions", tuple(row), only_if=newer)
    with connect(_login(pg_cluster, url, STATION_ROLE), autocommit=True) as conn:
        with sync_transaction(conn):
            first = conn.execute(sql, tuple(row.values())).fetchone()
        with sync_transaction(conn):
            again = conn.execute(sql, (*list(row.values())[:-1], 2)).fetchone()  # same revision
            assert again is None  # left alone: nothing returned
            newer_row = {**row, "status": "complete", "revision": 3}
            assert conn.execute(sql, tuple(newer_row.values())).fetchone() == first
        status, revision = conn.execute(
            "SELECT status, revision FROM sessions WHERE uid = %s", (row["uid"],)
        ).fetchone()
        assert (status, revision) == ("complete", 3)
        chunk = pg_upsert(
            "chunks", ("session_id", "first_index", "n", "codec", "data"), update=False
        )
        for _ in range(2):
            conn.execute(chunk, (first[0], 0, 1, 1, b"\x00\x01"))
        assert (
            conn.execute("SELECT count(*) FROM chunks WHERE session_id = %s", first).fetchone()[0]
            == 1
        )
    with pytest.raises(ValueError, match="key columns"):
        pg_upsert("sessions", ("subject_id",))


def test_the_databases_owner_without_superuser_runs_init(pg_cluster) -> None:
    owner = f"owner_{uuid.uuid4().hex[:10]}"
    pg_cluster.sql(f"CREATE ROLE {owner} LOGIN CREATEROLE")
    pg_cluster.sql(f"CREATE DATABASE {owner} OWNER {owner}")
    url = pg_cluster.url(owner, user=owner)
    assert init_clinic(url).version == 5
    station = _login(pg_cluster, url, STATION_ROLE)
    with connect(station, autocommit=True) as conn:
        conn.execute("INSERT INTO subjects (id, created_at) VALUES ('P001', 1)")
        _denied(conn, "DELETE FROM subjects")
    assert clinic_status(station).counts["subjects"] == 1
