"""``clinic init`` against a real PostgreSQL server: the schema as described, versions, idempotence,
migration from an older version, and the revision rules the local store has."""

from __future__ import annotations

import re
import threading
import time

import pytest

from biofeedback.clinic.connect import connect, sync_transaction
from biofeedback.clinic.migrate import (
    check_schema,
    clinic_status,
    clinic_version,
    init_clinic,
    migrate,
)
from biofeedback.clinic.schema import LATEST_VERSION, PG_SCHEMA, TABLES, TYPES
from biofeedback.errors import ClinicError

_PG_TYPES = {
    "BIGINT": "bigint",
    "DOUBLE PRECISION": "double precision",
    "TEXT": "text",
    "BYTEA": "bytea",
}


def _pg_type(logical: str) -> str:
    return _PG_TYPES[TYPES[logical][1].split(" GENERATED")[0]]


def _columns(conn, table: str) -> list[tuple[str, str, bool]]:
    rows = conn.execute(
        "SELECT column_name, data_type, is_nullable = 'NO' FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        (PG_SCHEMA, table),
    ).fetchall()
    return [tuple(r) for r in rows]


def _add_session(conn, uid: str | None = None, revision: int | None = None) -> int:
    conn.execute("INSERT INTO subjects (id, created_at) VALUES ('P001', 1) ON CONFLICT DO NOTHING")
    columns = "subject_id, started_at, status, fs_hz, info_json"
    values = "'P001', 100, 'complete', 1000, '{}'"
    if uid is not None:
        columns += ", uid"
        values += f", '{uid}'"
    if revision is not None:
        columns += ", revision"
        values += f", {revision}"
    row = conn.execute(
        f"INSERT INTO sessions ({columns}) VALUES ({values}) RETURNING id"
    ).fetchone()
    return int(row[0])


def test_init_creates_the_described_schema(clinic_url: str) -> None:
    result = init_clinic(clinic_url)
    assert (result.from_version, result.version) == (0, LATEST_VERSION)
    assert result.applied == list(range(1, LATEST_VERSION + 1))
    assert "schema created at version" in result.text()
    with connect(clinic_url) as conn:
        assert clinic_version(conn) == LATEST_VERSION
        for table in TABLES:
            wanted = [
                (c.name, _pg_type(c.type), c.not_null or c.name in table.key or c.type == "id")
                for c in table.columns
            ]
            assert _columns(conn, table.name) == wanted, table.name
        rows = conn.execute(
            f"SELECT version, app_version FROM {PG_SCHEMA}.schema_migrations"
        ).fetchall()
        assert [r[0] for r in rows] == list(range(1, LATEST_VERSION + 1))
    status = clinic_status(clinic_url)
    assert status.version == LATEST_VERSION and status.counts["sessions"] == 0
    assert all(status.roles.values())


def test_init_twice_changes_nothing(clinic_url: str) -> None:
    init_clinic(clinic_url)
    with connect(clinic_url) as conn:
        _add_session(conn, uid="a" * 32)
        conn.commit()
    again = init_clinic(clinic_url)
    assert again.applied == [] and again.roles_created == []
    assert again.text().endswith(f"schema already at version {LATEST_VERSION}")
    assert clinic_status(clinic_url).counts["sessions"] == 1


def test_migrates_an_older_clinic_keeping_its_rows(clinic_url: str) -> None:
    with connect(clinic_url, autocommit=True) as conn:
        assert migrate(conn, target=2) == (0, [1, 2])
        assert "uid" not in [c[0] for c in _columns(conn, "sessions")]
        _add_session(conn)
        _add_session(conn)
    result = init_clinic(clinic_url)
    assert (result.from_version, result.applied) == (2, [3, 4, 5])
    assert "migrated from version 2 to 5" in result.text()
    with connect(clinic_url) as conn:
        rows = conn.execute("SELECT uid, revision, updated_at FROM sessions ORDER BY id").fetchall()
    assert len(rows) == 2 and rows[0][0] != rows[1][0]
    for uid, revision, updated_at in rows:
        assert re.fullmatch(r"[0-9a-f]{32}", uid) and revision == 1 and updated_at == 100


def test_a_newer_clinic_schema_is_refused(clinic_url: str) -> None:
    init_clinic(clinic_url)
    with connect(clinic_url, autocommit=True) as conn:
        conn.execute(
            f"INSERT INTO {PG_SCHEMA}.schema_migrations VALUES (%s, 0, 'future')",
            (LATEST_VERSION + 1,),
        )
    with pytest.raises(ClinicError, match=r"newer than this biofeedback knows.*update biofeedback"):
        init_clinic(clinic_url)


def test_status_of_a_database_without_the_schema(clinic_url: str) -> None:
    with pytest.raises(
        ClinicError, match="has no biofeedback schema: run 'biofeedback clinic init"
    ):
        clinic_status(clinic_url)


def test_revisions_bump_like_the_local_store_except_in_a_sync_transaction(clinic_url: str) -> None:
    init_clinic(clinic_url)
    with connect(clinic_url, autocommit=True) as conn:
        session = _add_session(conn, uid="b" * 32, revision=3)
        before = time.time()
        conn.execute("UPDATE sessions SET notes = 'seen' WHERE id = %s", (session,))
        conn.execute(
            "INSERT INTO markers (session_id, sample_index, label, created_at) VALUES (%s, 5, 'x', 1)",
            (session,),
        )
        revision, updated_at = conn.execute(
            "SELECT revision, updated_at FROM sessions WHERE id = %s", (session,)
        ).fetchone()
        assert revision == 5 and updated_at >= before - 1
        with sync_transaction(conn):
            conn.execute("UPDATE sessions SET notes = 'synced' WHERE id = %s", (session,))
            conn.execute(
                "INSERT INTO phases (session_id, seq, name, measures_json) VALUES (%s, 0, 'rest', '{}')",
                (session,),
            )
        assert (
            conn.execute("SELECT revision FROM sessions WHERE id = %s", (session,)).fetchone()[0]
            == 5
        )
        conn.execute("UPDATE sessions SET revision = 9 WHERE id = %s", (session,))
        assert (
            conn.execute("SELECT revision FROM sessions WHERE id = %s", (session,)).fetchone()[0]
            == 9
        )


def test_check_schema_says_what_to_do(clinic_url: str) -> None:
    with connect(clinic_url, autocommit=True) as conn:
        with pytest.raises(
            ClinicError, match=r"no biofeedback schema: run 'biofeedback clinic init"
        ):
            check_schema(conn, clinic_url)
        migrate(conn, target=LATEST_VERSION - 1)
        with pytest.raises(
            ClinicError, match=r"needs 5: have its owner run 'biofeedback clinic init"
        ):
            check_schema(conn, clinic_url)
        migrate(conn)
        assert check_schema(conn, clinic_url) == LATEST_VERSION
        conn.execute(f"INSERT INTO {PG_SCHEMA}.schema_migrations VALUES (99, 0, 'future')")
        with pytest.raises(ClinicError, match="newer than this biofeedback knows"):
            check_schema(conn, clinic_url)


def test_two_inits_at_once_apply_each_version_once(clinic_url: str) -> None:
    start = threading.Barrier(2)
    results: list[object] = []

    def init() -> None:
        start.wait(timeout=30)
        try:
            results.append(init_clinic(clinic_url))
        except Exception as exc:  # reported by the assertion below
            results.append(exc)

    threads = [threading.Thread(target=init) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    applied = sorted(v for r in results for v in getattr(r, "applied", [r]))
    assert applied == list(range(1, LATEST_VERSION + 1)), results
    with connect(clinic_url) as conn:
        rows = conn.execute(f"SELECT count(*) FROM {PG_SCHEMA}.schema_migrations").fetchone()
    assert rows[0] == LATEST_VERSION
