"""The clinic schema: one neutral description of the stored tables, rendered as PostgreSQL DDL.

The local store (``storage/database.py``, SQLite) and the clinic database (PostgreSQL) hold the
same logical schema. :data:`TABLES` describes it once: every column with a logical type, its
NOT NULL, default and CHECK, the schema version that added it (the local store's
``MIGRATIONS`` numbers), and per table the *key* that identifies a row in every database.
Integer ``id`` columns are each database's own (a station's session 12 is not the clinic's
session 12); rows are matched across databases by their key: a subject's id, the ``uid`` of
sessions, courses and outcomes, and the natural keys of the rows that belong to them (a chunk's
session and first sample, a phase's session and number, ...).

The clinic's versioned migrations are rendered from this description (:func:`pg_migrations`);
the local store's hand-written migrations are checked against it by a test
(tests/clinic/test_schema_drift.py), so the two cannot drift apart. docs/clinic.md, "What is
stored".
"""

from __future__ import annotations

from dataclasses import dataclass

#: The PostgreSQL schema (namespace) the clinic's tables live in.
PG_SCHEMA = "biofeedback"

#: Logical column types -> (SQLite declared type, PostgreSQL type). ``id`` is a row id local to
#: each database; ``time`` is Unix seconds as a float (as the local store keeps it); ``date`` an
#: ISO date as text; ``json`` JSON kept as text (read back byte for byte, never reformatted).
TYPES: dict[str, tuple[str, str]] = {
    "id": ("INTEGER", "BIGINT GENERATED ALWAYS AS IDENTITY"),
    "int": ("INTEGER", "BIGINT"),
    "real": ("REAL", "DOUBLE PRECISION"),
    "time": ("REAL", "DOUBLE PRECISION"),
    "text": ("TEXT", "TEXT"),
    "date": ("TEXT", "TEXT"),
    "json": ("TEXT", "TEXT"),
    "blob": ("BLOB", "BYTEA"),
}

#: Tables of the local store that the clinic does not hold, and why.
LOCAL_ONLY_TABLES = {
    "store_settings": "settings of one data folder (its station role)",
    "overviews": "derived from the samples; each database makes its own",
    "sqlite_sequence": "SQLite's own bookkeeping",
}

#: Set (``SET LOCAL``) by sync in a transaction that writes rows with the revisions they already
#: have: the clinic's revision triggers then leave them alone (:func:`pg_revision_triggers`).
SYNC_SETTING = "biofeedback.sync"


@dataclass(frozen=True)
class Column:
    """One column. ``default`` and ``check`` are SQL both backends read the same way."""

    name: str
    type: str
    not_null: bool = False
    default: str | None = None
    check: str | None = None
    #: (table, ON DELETE action) of a foreign key to that table's primary key
    references: tuple[str, str] | None = None
    since: int = 1


@dataclass(frozen=True)
class Index:
    name: str
    columns: tuple[str, ...]
    unique: bool = False
    where: str = ""
    since: int = 1


@dataclass(frozen=True)
class Table:
    """A table; ``key`` identifies a row in every database (unique and NOT NULL in the clinic)."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    key: tuple[str, ...]
    indexes: tuple[Index, ...] = ()
    since: int = 1

    def columns_at(self, version: int) -> tuple[Column, ...]:
        """The columns a database at schema ``version`` has (none before the table existed)."""
        return tuple(c for c in self.columns if c.since <= version)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def key_since(self) -> int:
        return max(self.column(name).since for name in self.key)


def _id() -> Column:
    return Column("id", "id")


def _text(name: str, since: int = 1) -> Column:
    """A text column that is never NULL and empty by default."""
    return Column(name, "text", not_null=True, default="''", since=since)


def _session_ref() -> Column:
    return Column("session_id", "int", not_null=True, references=("sessions", "CASCADE"))


_PAIN = "{0} IS NULL OR {0} BETWEEN 0 AND 10"

SUBJECTS = Table(
    "subjects",
    (
        Column("id", "text"),
        Column("name", "text"),
        Column("weekly_goal", "int", check="weekly_goal IS NULL OR weekly_goal BETWEEN 0 AND 21"),
        Column("reminder", "text"),
        _text("notes"),
        Column("created_at", "time", not_null=True),
    ),
    primary_key=("id",),
    key=("id",),
)

SESSIONS = Table(
    "sessions",
    (
        _id(),
        Column("subject_id", "text", references=("subjects", "NO ACTION")),
        _text("protocol"),
        Column("started_at", "time", not_null=True),
        Column("ended_at", "time"),
        Column(
            "status",
            "text",
            not_null=True,
            check="status IN ('recording', 'complete', 'interrupted')",
        ),
        Column("fs_hz", "real", not_null=True),
        Column("info_json", "json", not_null=True),
        Column("pipeline_json", "json", not_null=True, default="'{}'"),
        Column("hardware_json", "json", not_null=True, default="'{}'"),
        *(
            _text(name)
            for name in (
                "electrode_site",
                "muscle",
                "side",
                "electrode_type",
                "skin_prep",
                "isolation_mode",
                "clinician",
                "notes",
            )
        ),
        Column("pain_before", "int", check=_PAIN.format("pain_before")),
        Column("pain_after", "int", check=_PAIN.format("pain_after")),
        Column("summary_json", "json", not_null=True, default="'{}'"),
        Column("first_index", "int"),
        Column("end_index", "int"),
        Column("n_samples", "int", not_null=True, default="0"),
        Column("writer_pid", "int"),
        Column("writer_host", "text"),
        Column("heartbeat_at", "time"),
        Column("uid", "text", since=3),
        Column("course_id", "int", references=("courses", "SET NULL"), since=3),
        Column(
            "setting",
            "text",
            check="setting IS NULL OR setting IN ('clinic', 'home')",
            since=3,
        ),
        Column("utc_offset_min", "int", since=3),
        Column("revision", "int", not_null=True, default="0", since=4),
        Column("updated_at", "time", since=4),
    ),
    primary_key=("id",),
    key=("uid",),
    indexes=(
        Index("sessions_by_subject", ("subject_id", "started_at")),
        Index("sessions_by_course", ("course_id", "started_at"), since=3),
    ),
)

CHUNKS = Table(
    "chunks",
    (
        _id(),
        _session_ref(),
        Column("first_index", "int", not_null=True),
        Column("n", "int", not_null=True, check="n > 0"),
        Column("codec", "int", not_null=True),
        Column("data", "blob", not_null=True),
        Column("nan_mask", "blob"),
        Column("flags", "blob"),
    ),
    primary_key=("id",),
    key=("session_id", "first_index"),
)

MARKERS = Table(
    "markers",
    (
        _id(),
        _session_ref(),
        Column("sample_index", "int", not_null=True),
        Column("label", "text", not_null=True),
        _text("note"),
        Column("created_at", "time", not_null=True),
    ),
    primary_key=("id",),
    key=("session_id", "sample_index", "label", "created_at"),
    indexes=(Index("markers_by_session", ("session_id", "sample_index")),),
)

PHASES = Table(
    "phases",
    (
        _session_ref(),
        Column("seq", "int", not_null=True),
        Column("name", "text", not_null=True),
        _text("kind"),
        Column("start_index", "int"),
        Column("end_index", "int"),
        Column("measures_json", "json", not_null=True),
    ),
    primary_key=("session_id", "seq"),
    key=("session_id", "seq"),
)

THRESHOLD_LOG = Table(
    "threshold_log",
    (
        _id(),
        _session_ref(),
        Column("sample_index", "int", not_null=True),
        Column("channel", "int", not_null=True, default="0"),
        Column("old_uv", "real"),
        Column("new_uv", "real", not_null=True),
        _text("reason"),
        Column("created_at", "time", not_null=True),
    ),
    primary_key=("id",),
    key=("session_id", "sample_index", "channel", "created_at"),
    indexes=(Index("threshold_by_session", ("session_id", "sample_index")),),
)

OUTCOMES = Table(
    "outcomes",
    (
        Column("id", "id", since=2),
        Column("uid", "text", not_null=True, since=2),
        Column("subject_id", "text", not_null=True, references=("subjects", "NO ACTION"), since=2),
        Column("instrument", "text", not_null=True, since=2),
        Column("instrument_version", "text", not_null=True, since=2),
        Column("instrument_sha256", "text", not_null=True, since=2),
        Column("taken_at", "time", not_null=True, since=2),
        _text("timepoint", since=2),
        Column("session_id", "int", references=("sessions", "SET NULL"), since=2),
        Column("answers_json", "json", not_null=True, since=2),
        Column("scores_json", "json", not_null=True, since=2),
        Column("created_at", "time", not_null=True, since=2),
    ),
    primary_key=("id",),
    key=("uid",),
    indexes=(Index("outcomes_by_subject", ("subject_id", "instrument", "taken_at"), since=2),),
    since=2,
)

COURSES = Table(
    "courses",
    (
        Column("id", "id", since=3),
        Column("uid", "text", not_null=True, since=3),
        Column("subject_id", "text", not_null=True, references=("subjects", "NO ACTION"), since=3),
        Column("start_date", "date", not_null=True, since=3),
        Column("end_date", "date", since=3),
        _text("clinician", since=3),
        _text("muscle", since=3),
        _text("electrode_site", since=3),
        Column(
            "planned_clinic_sessions",
            "int",
            check="planned_clinic_sessions IS NULL OR planned_clinic_sessions BETWEEN 0 AND 100",
            since=3,
        ),
        _text("notes", since=3),
        Column("created_at", "time", not_null=True, since=3),
        Column("updated_at", "time", not_null=True, since=3),
        _text("template", since=4),
        _text("outcome_schedule_json", since=4),
    ),
    primary_key=("id",),
    key=("uid",),
    indexes=(
        Index("courses_one_open", ("subject_id",), unique=True, where="end_date IS NULL", since=3),
        Index("courses_by_subject", ("subject_id", "start_date"), since=3),
    ),
    since=3,
)

PRESCRIPTIONS = Table(
    "prescriptions",
    (
        Column("id", "id", since=3),
        Column("course_id", "int", not_null=True, references=("courses", "CASCADE"), since=3),
        Column("valid_from", "date", not_null=True, since=3),
        Column("protocols_json", "json", not_null=True, default="'[]'", since=3),
        Column(
            "sessions_per_week",
            "int",
            not_null=True,
            check="sessions_per_week BETWEEN 0 AND 21",
            since=3,
        ),
        Column(
            "minutes_per_session",
            "int",
            not_null=True,
            check="minutes_per_session BETWEEN 1 AND 180",
            since=3,
        ),
        Column("until_date", "date", since=3),
        Column("created_at", "time", not_null=True, since=3),
    ),
    primary_key=("id",),
    key=("course_id", "valid_from"),
    since=3,
)

#: The shared tables, in an order where every table comes after the ones it refers to (except
#: sessions.course_id, added with courses in version 3).
TABLES: tuple[Table, ...] = (
    SUBJECTS,
    SESSIONS,
    CHUNKS,
    MARKERS,
    PHASES,
    THRESHOLD_LOG,
    OUTCOMES,
    COURSES,
    PRESCRIPTIONS,
)
TABLES_BY_NAME = {table.name: table for table in TABLES}

#: The newest version of the description (the local store's SCHEMA_VERSION may be ahead of it
#: by versions that change only local tables; the drift test checks this).
LATEST_VERSION = 5
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
    if column.default is not None:
        parts.append(f"DEFAULT {column.default}")
    if column.check:
        parts.append(f"CHECK ({column.check})")
    if column.references:
        target, on_delete = column.references
        parts.append(f"REFERENCES {target}({TABLES_BY_NAME[target].primary_key[0]})")
        if on_delete != "NO ACTION":
            parts.append(f"ON DELETE {on_delete}")
    return " ".join(parts)


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


def _index(table: Table, index: Index) -> str:
    unique = "UNIQUE " if index.unique else ""
    where = f" WHERE {index.where}" if index.where else ""
    return f"CREATE {unique}INDEX {index.name} ON {table.name} ({', '.join(index.columns)}){where}"


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
    steps += [_index(t, i) for t in TABLES for i in t.indexes if i.since == version]
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
