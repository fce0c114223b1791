"""The one description of the tables (storage/schema.py) against what the databases hold.

The local store's migrations are rendered from the description; existing users' databases were
made by the hand-written scripts that came before (frozen in tests/storage/legacy_schema.py).
At every version both must give the same schema: tables, columns (type, NOT NULL, default,
primary key), CHECK constraints, foreign keys, indexes (unique, partial, columns) and triggers;
and a database made by the old scripts at any version upgrades to the same schema as a fresh
one. No server needed.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "storage"))
from legacy_schema import LEGACY_MIGRATIONS

from biofeedback.clinic.schema import (
    LATEST_VERSION,
    LOCAL_ONLY_TABLES,
    TABLES,
    TYPES,
    Table,
    pg_migrations,
)
from biofeedback.storage.database import MIGRATIONS, SCHEMA_VERSION, Database, _split_sql
from biofeedback.storage.schema import ALL_TABLES

VERSIONS = range(1, SCHEMA_VERSION + 1)
#: The versions released with hand-written scripts (later ones exist only as rendered).
LEGACY_VERSIONS = [v for v, _ in LEGACY_MIGRATIONS]


def _built(migrations: list[tuple[int, str]], version: int, path: Path | str = ":memory:"):
    conn = sqlite3.connect(path)
    for target, script in migrations:
        if target <= version:
            for statement in _split_sql(script):
                conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.commit()
    return conn


def _normalized(sql: str) -> str:
    return " ".join(sql.replace("(", " ( ").replace(")", " ) ").replace(",", " , ").split())


def _checks(sql: str) -> list[str]:
    """The CHECK constraints of a CREATE TABLE statement, normalized."""
    text = _normalized(sql)
    found = []
    start = text.find("CHECK (")
    while start >= 0:
        depth, end = 0, start + len("CHECK ")
        for end in range(start + len("CHECK "), len(text)):
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            if depth == 0:
                break
        found.append(text[start : end + 1])
        start = text.find("CHECK (", end)
    return sorted(found)


def _table_schema(conn: sqlite3.Connection, name: str, sql: str) -> dict[str, object]:
    indexes = {}
    for _, index, unique, origin, partial in conn.execute(f"PRAGMA index_list({name})"):
        (index_sql,) = conn.execute(
            "SELECT sql FROM sqlite_master WHERE name = ?", (index,)
        ).fetchone()
        where = _normalized(index_sql).partition(" WHERE ")[2] if index_sql else ""
        columns = [r[2] for r in conn.execute(f"PRAGMA index_info({index})")]
        indexes[index] = (bool(unique), origin, bool(partial), where, columns)
    return {
        "columns": list(conn.execute(f"PRAGMA table_info({name})")),
        "checks": _checks(sql),
        "foreign_keys": sorted(
            (row[3], row[2], row[4], row[5], row[6])  # from, table, to, on update, on delete
            for row in conn.execute(f"PRAGMA foreign_key_list({name})")
        ),
        "indexes": indexes,
    }


def _schema(conn: sqlite3.Connection) -> dict[str, object]:
    """Everything that makes a database's schema, comparable between two databases."""
    tables = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall()
    triggers = conn.execute(
        "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger'"
    ).fetchall()
    return {
        "tables": {name: _table_schema(conn, name, sql) for name, sql in tables},
        "triggers": {name: (table, _normalized(sql)) for name, table, sql in triggers},
        "version": conn.execute("PRAGMA user_version").fetchone()[0],
    }


def test_the_frozen_scripts_cover_every_version() -> None:
    assert LEGACY_VERSIONS == [1, 2, 3, 4, 5]
    assert [v for v, _ in MIGRATIONS] == list(VERSIONS)


@pytest.mark.parametrize("version", LEGACY_VERSIONS)
def test_rendered_migrations_make_the_schema_the_old_scripts_made(version: int) -> None:
    legacy = _schema(_built(LEGACY_MIGRATIONS, version))
    rendered = _schema(_built(MIGRATIONS, version))
    assert rendered["tables"].keys() == legacy["tables"].keys()
    for name, table in legacy["tables"].items():
        assert rendered["tables"][name] == table, name
    assert rendered == legacy
    assert legacy["tables"] and (version < 4 or len(legacy["triggers"]) == 10)


@pytest.mark.parametrize("version", LEGACY_VERSIONS)
def test_an_old_database_upgrades_to_the_fresh_schema(version: int, tmp_path: Path) -> None:
    old = tmp_path / "old.sqlite"
    conn = _built(LEGACY_MIGRATIONS, version, old)
    conn.execute("INSERT INTO subjects (id, name, created_at) VALUES ('P1', 'Pat', 1.0)")
    conn.execute(
        "INSERT INTO sessions (subject_id, started_at, status, fs_hz, info_json) "
        "VALUES ('P1', 2.0, 'complete', 1000, '{}')"
    )
    conn.commit()
    conn.close()
    with Database(old) as db:
        assert db.schema_version == SCHEMA_VERSION
    with Database(tmp_path / "fresh.sqlite"):
        pass
    upgraded = sqlite3.connect(old)
    fresh = sqlite3.connect(tmp_path / "fresh.sqlite")
    try:
        assert _schema(upgraded) == _schema(fresh)
        uid, revision = upgraded.execute("SELECT uid, revision FROM sessions").fetchone()
        assert upgraded.execute(
            "SELECT name, started_at, status FROM sessions JOIN subjects ON subjects.id = subject_id"
        ).fetchall() == [("Pat", 2.0, "complete")]  # the data is kept
        # the fills of the versions the database was upgraded through ran on its row
        assert (len(uid) == 32) if version < 3 else uid is None
        assert revision == (1 if version < 4 else 0)
    finally:
        upgraded.close()
        fresh.close()


def _sqlite_columns(conn: sqlite3.Connection, table: str) -> list[tuple[object, ...]]:
    return [
        (name, decl, bool(notnull), default, pk)
        for _, name, decl, notnull, default, pk in conn.execute(f"PRAGMA table_info({table})")
    ]


def _described_columns(table: Table, version: int) -> list[tuple[object, ...]]:
    return [
        (
            c.name,
            TYPES[c.type][0],
            # SQLite does not flag an INTEGER PRIMARY KEY (the row id) NOT NULL
            c.not_null,
            c.default,
            table.primary_key.index(c.name) + 1 if c.name in table.primary_key else 0,
        )
        for c in table.columns_at(version)
    ]


def _table_names(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_the_description_covers_every_local_version() -> None:
    # a new local schema version must be described before it ships
    assert LATEST_VERSION == SCHEMA_VERSION


def test_local_only_tables_are_marked_and_left_out_of_the_clinic() -> None:
    local = {t.name for t in ALL_TABLES if t.local_only}
    assert local | {"sqlite_sequence"} == set(LOCAL_ONLY_TABLES)
    assert {t.name for t in TABLES} == {t.name for t in ALL_TABLES} - local
    local_indexes = {i.name for t in ALL_TABLES for i in t.indexes if i.local_only}
    assert local_indexes == {"sessions_by_uid"}
    clinic_sql = " ".join(s for _, statements in pg_migrations() for s in statements)
    for name in local | local_indexes:
        assert f" {name} " not in f" {clinic_sql} ", name


@pytest.mark.parametrize("version", VERSIONS)
def test_sqlite_migrations_match_the_description(version: int) -> None:
    conn = _built(MIGRATIONS, version)
    described = {t.name: t for t in ALL_TABLES if t.since <= version}
    assert _table_names(conn) - {"sqlite_sequence"} == set(described)
    for name, table in described.items():
        assert _sqlite_columns(conn, name) == _described_columns(table, version), name
    indexes = {
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        )
    }
    assert indexes == {i.name for t in described.values() for i in t.indexes if i.since <= version}


def test_keys_name_described_columns() -> None:
    for table in ALL_TABLES:
        names = {c.name for c in table.columns}
        assert set(table.key) <= names and set(table.primary_key) <= names, table.name
        for index in table.indexes:
            assert set(index.columns) <= names, index.name
        for column in table.columns:
            assert column.type in TYPES, (table.name, column.name)
            assert column.since >= table.since, (table.name, column.name)
        # a UNIQUE key constraint can only be made with its table in SQLite
        assert not table.unique_key or table.key_since == table.since, table.name


@pytest.mark.parametrize("version", VERSIONS)
def test_checks_references_and_indexes_match_the_description(version: int) -> None:
    conn = _built(MIGRATIONS, version)
    for table in (t for t in ALL_TABLES if t.since <= version):
        (sql,) = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table.name,)
        ).fetchone()
        checks = [c.check for c in table.columns_at(version) if c.check]
        assert _checks(sql) == sorted(_normalized(f"CHECK ({check})") for check in checks)
        references = {
            (row[3], row[2], row[6])  # from, table, on_delete
            for row in conn.execute(f"PRAGMA foreign_key_list({table.name})")
        }
        described = {(c.name, *c.references) for c in table.columns_at(version) if c.references}
        assert references == described, table.name
        for index in (i for i in table.indexes if i.since <= version):
            columns = [r[2] for r in conn.execute(f"PRAGMA index_info({index.name})")]
            assert columns == list(index.columns), index.name
            (index_sql,) = conn.execute(
                "SELECT sql FROM sqlite_master WHERE name = ?", (index.name,)
            ).fetchone()
            assert index_sql.startswith("CREATE UNIQUE") == index.unique, index.name
            assert (" WHERE " in index_sql) == bool(index.where), index.name
