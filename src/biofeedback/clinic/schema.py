"""The clinic schema: the one description of the stored tables, rendered as PostgreSQL DDL.

The local store (``storage/database.py``, SQLite) and the clinic database (PostgreSQL) hold the
same logical schema, described once in ``biofeedback.storage.schema`` (re-exported here):
every column with a logical type, its NOT NULL, default and CHECK, the schema version that
added it, and per table the *key* that identifies a row in every database. Integer ``id``
columns are each database's own (a station's session 12 is not the clinic's session 12); rows
are matched across databases by their key: a subject's id, the ``uid`` of sessions, courses and
outcomes, and the natural keys of the rows that belong to them (a chunk's session and first
sample, a phase's session and number, ...).

Both backends' versioned migrations are rendered from that description: the clinic's here
(:func:`pg_migrations`), the local store's in ``storage/schema.py``; tables and indexes marked
local-only are skipped here. docs/clinic.md, "What is stored".
"""

from __future__ import annotations

from biofeedback.storage.schema import (
    LATEST_VERSION,
    LOCAL_ONLY_TABLES,
    TABLES,
    TABLES_BY_NAME,
    TYPES,
    Column,
    Index,
    Table,
    column_clauses,
    create_index,
)

__all__ = [
    "LATEST_VERSION",
    "LOCAL_ONLY_TABLES",
    "LOCAL_ONLY_VERSIONS",
    "PG_SCHEMA",
    "SYNC_SETTING",
    "TABLES",
    "TABLES_BY_NAME",
    "TYPES",
    "Column",
    "Index",
    "Table",
    "pg_column",
    "pg_migration",
    "pg_migrations",
    "pg_upsert",
    "shared_columns",
]

#: The PostgreSQL schema (namespace) the clinic's tables live in.
PG_SCHEMA = "biofeedback"

#: Set (``SET LOCAL``) by sync in a transaction that writes rows with the revisions they already
#: have: the clinic's revision triggers then leave them alone (:func:`pg_revision_triggers`).
SYNC_SETTING = "biofeedback.sync"

#: Versions whose change touches only local tables (nothing to do in the clinic but record it).
LOCAL_ONLY_VERSIONS = {5: "the envelope overviews (local, derived)"}

#: Data steps of the clinic's migrations, run after the version's new columns are added and
#: before its keys are made NOT NULL and unique: the same fills as the local store's scripts.
_PG_FILLS: dict[int, tuple[str, ...]] = {
    3: (
        "UPDATE sessions SET uid = md5(random()::text || clock_timestamp()::text || id::text) "
        "WHERE uid IS NULL",
    ),
    4: (
        "UPDATE sessions SET revision = 1, updated_at = COALESCE(heartbeat_at, ended_at, started_at)",
    ),
}

_NOW_PG = "extract(epoch FROM clock_timestamp())::double precision"
_SYNCING_PG = f"coalesce(current_setting('{SYNC_SETTING}', true), '') = 'on'"

#: Version 4's revision rules, as the local store's triggers have them: a change to a session
#: row (unless the writer sets ``revision`` itself) or to its markers, phases or threshold log
#: bumps the session's ``revision`` and ``updated_at``. A transaction that set
#: :data:`SYNC_SETTING` writes revisions as they are. The child trigger runs as the schema's
#: owner (SECURITY DEFINER) so a clinician who may add a marker need not update sessions.
_PG_REVISION_TRIGGERS = (
    f"""CREATE FUNCTION session_row_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.revision IS NOT DISTINCT FROM OLD.revision AND NOT {_SYNCING_PG} THEN
        NEW.revision := OLD.revision + 1;
        NEW.updated_at := {_NOW_PG};
    END IF;
    RETURN NEW;
END $$""",
    "CREATE TRIGGER sessions_revision BEFORE UPDATE ON sessions FOR EACH ROW "
    "EXECUTE FUNCTION session_row_revision()",
    f"""CREATE FUNCTION session_child_revision() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = {PG_SCHEMA}, pg_temp AS $$
BEGIN
    IF NOT {_SYNCING_PG} THEN
        UPDATE sessions SET revision = revision + 1, updated_at = {_NOW_PG}
        WHERE id = CASE WHEN TG_OP = 'DELETE' THEN OLD.session_id ELSE NEW.session_id END;
    END IF;
    RETURN NULL;
END $$""",
    *(
        f"CREATE TRIGGER {table}_revision AFTER INSERT OR UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION session_child_revision()"
        for table in ("markers", "phases", "threshold_log")
    ),
)

_PG_EXTRA: dict[int, tuple[str, ...]] = {4: _PG_REVISION_TRIGGERS}


def pg_column(table: Table, column: Column, version: int) -> str:
    """The column's PostgreSQL definition in a table created at ``version``."""
    parts = [column.name, TYPES[column.type][1]]
    in_key = column.name in table.key and table.key_since <= version
    if column.not_null or in_key:
        parts.append("NOT NULL")
    return " ".join(parts + column_clauses(column))


def _create_table(table: Table) -> str:
    v = table.since
    lines = [pg_column(table, c, v) for c in table.columns_at(v)]
    lines.append(f"PRIMARY KEY ({', '.join(table.primary_key)})")
    if table.key != table.primary_key and table.key_since == v:
        lines.append(f"CONSTRAINT {table.name}_key UNIQUE ({', '.join(table.key)})")
    return f"CREATE TABLE {table.name} (\n    " + ",\n    ".join(lines) + "\n)"


def _added_key(table: Table) -> list[str]:
    """NOT NULL and UNIQUE for a key whose columns came after the table."""
    steps = [
        f"ALTER TABLE {table.name} ALTER COLUMN {name} SET NOT NULL"
        for name in table.key
        if not table.column(name).not_null
    ]
    if table.key != table.primary_key:
        steps.append(
            f"ALTER TABLE {table.name} ADD CONSTRAINT {table.name}_key UNIQUE ({', '.join(table.key)})"
        )
    return steps


def pg_migration(version: int) -> list[str]:
    """The statements that bring a clinic database from ``version - 1`` to ``version``."""
    created = [t for t in TABLES if t.since == version]
    steps = [_create_table(t) for t in created]
    for table in TABLES:
        if table.since < version:
            steps += [
                f"ALTER TABLE {table.name} ADD COLUMN {pg_column(table, c, version - 1)}"
                for c in table.columns
                if c.since == version
            ]
    steps += _PG_FILLS.get(version, ())
    steps += [
        s for t in TABLES if t.since < version and t.key_since == version for s in _added_key(t)
    ]
    steps += [
        create_index(t, i)
        for t in TABLES
        for i in t.indexes
        if i.since == version and not i.local_only
    ]
    steps += _PG_EXTRA.get(version, ())
    return steps


def pg_migrations() -> list[tuple[int, list[str]]]:
    """(version, statements) for every version, oldest first; version 1 creates the tables."""
    return [(v, pg_migration(v)) for v in range(1, LATEST_VERSION + 1)]


def shared_columns(table: Table) -> tuple[str, ...]:
    """The columns one database copies to another: all but the row id (each database's own)."""
    return tuple(c.name for c in table.columns if c.type != "id")


def pg_upsert(
    table_name: str,
    columns: tuple[str, ...] | None = None,
    *,
    update: bool = True,
    only_if: str = "",
) -> str:
    """An INSERT of one row (``%s`` placeholders for ``columns``, default
    :func:`shared_columns`) that meets an existing row by the table's key: it updates the other
    columns (``update``; only where the SQL condition ``only_if`` holds, e.g.
    ``"sessions.revision < EXCLUDED.revision"``) or leaves it alone. Tables with a row id return
    it (``RETURNING id``); a row left alone returns nothing, so look it up by its key.

    Columns that refer to another table's id (``session_id``, ``course_id``) take the clinic's
    ids, never a station's: find them by the referred row's key first.
    """
    table = TABLES_BY_NAME[table_name]
    names = columns if columns is not None else shared_columns(table)
    missing = [k for k in table.key if k not in names]
    if missing:
        raise ValueError(f"an upsert into {table_name} needs its key columns {missing}")
    placeholders = ", ".join(["%s"] * len(names))
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({placeholders})"
    sql += f" ON CONFLICT ({', '.join(table.key)})"
    changes = [name for name in names if name not in table.key]
    if update and changes:
        sql += " DO UPDATE SET " + ", ".join(f"{name} = EXCLUDED.{name}" for name in changes)
        sql += f" WHERE {only_if}" if only_if else ""
    else:
        sql += " DO NOTHING"
    if any(c.type == "id" for c in table.columns):
        sql += " RETURNING id"
    return sql
