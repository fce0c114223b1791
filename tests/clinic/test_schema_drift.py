"""The local store's hand-written migrations against the one description (clinic/schema.py): at
every version the SQLite tables carry exactly the described columns (type, NOT NULL, default,
primary key) and indexes, so the local store and the clinic cannot drift apart. No server needed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from biofeedback.clinic.schema import LATEST_VERSION, LOCAL_ONLY_TABLES, TABLES, TYPES, Table
from biofeedback.storage.database import MIGRATIONS, SCHEMA_VERSION, Database, _split_sql


def _sqlite_at(version: int) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    for target, script in MIGRATIONS:
        if target <= version:
            for statement in _split_sql(script):
                conn.execute(statement)
    return conn


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
            c.not_null,
            c.default,
            table.primary_key.index(c.name) + 1 if c.name in table.primary_key else 0,
        )
        for c in table.columns_at(version)
    ]


def _shared_tables(conn: sqlite3.Connection) -> set[str]:
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return names - set(LOCAL_ONLY_TABLES)


def test_the_description_covers_every_local_version() -> None:
    # a new local schema version must be described (or named local-only) before it ships
    assert LATEST_VERSION == SCHEMA_VERSION


@pytest.mark.parametrize("version", range(1, SCHEMA_VERSION + 1))
def test_sqlite_migrations_match_the_description(version: int) -> None:
    conn = _sqlite_at(version)
    described = {t.name: t for t in TABLES if t.since <= version}
    assert _shared_tables(conn) == set(described)
    for name, table in described.items():
        assert _sqlite_columns(conn, name) == _described_columns(table, version), name
    indexes = {
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        )
    }
    wanted = {i.name for t in described.values() for i in t.indexes if i.since <= version}
    local_only = {"sessions_by_uid"}  # the clinic's sessions_key (UNIQUE uid) does this
    assert indexes - local_only == wanted


def test_a_fresh_store_matches_the_latest_description(tmp_path: Path) -> None:
    with Database(tmp_path / "fresh.sqlite") as db:
        conn = sqlite3.connect(db.path)
        try:
            assert _shared_tables(conn) == {t.name for t in TABLES}
            for table in TABLES:
                assert _sqlite_columns(conn, table.name) == _described_columns(
                    table, LATEST_VERSION
                )
        finally:
            conn.close()


def test_keys_name_described_columns() -> None:
    for table in TABLES:
        names = {c.name for c in table.columns}
        assert set(table.key) <= names and set(table.primary_key) <= names, table.name
        for index in table.indexes:
            assert set(index.columns) <= names, index.name
        for column in table.columns:
            assert column.type in TYPES, (table.name, column.name)
            assert column.since >= table.since, (table.name, column.name)


def _normalized(sql: str) -> str:
    return " ".join(sql.replace("(", " ( ").replace(")", " ) ").split())


@pytest.mark.parametrize("version", range(1, SCHEMA_VERSION + 1))
def test_checks_references_and_indexes_match_the_description(version: int) -> None:
    conn = _sqlite_at(version)
    for table in (t for t in TABLES if t.since <= version):
        (sql,) = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table.name,)
        ).fetchone()
        checks = [c.check for c in table.columns_at(version) if c.check]
        assert _normalized(sql).count("CHECK (") == len(checks), table.name
        for check in checks:
            assert _normalized(f"CHECK ({check})") in _normalized(sql), (table.name, check)
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
