"""The stored tables, described once: the local store's SQLite migrations are rendered from it.

:data:`ALL_TABLES` describes every table of the local store (SQLite): every column with a
logical type, its NOT NULL, default and CHECK, the schema version that added it, and per table
the *key* that identifies a row in every database. :data:`TABLES` are the ones the clinic
database (PostgreSQL, ``biofeedback.clinic.schema``) holds as well; the others are marked
``local_only``. :func:`sqlite_migration` renders one version's SQLite script from the
description plus that version's data steps and triggers (:data:`SQLITE_EXTRA`), which are
SQLite's own SQL. Integer ``id`` columns are each database's own; rows are matched across
databases by their key. docs/storage.md, "Migrations"; docs/clinic.md, "What is stored".
"""

from __future__ import annotations

from dataclasses import dataclass

from biofeedback.session_details import TEXT_FIELDS

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
    #: kept by the local store only (the clinic's UNIQUE key constraint does its work there)
    local_only: bool = False


@dataclass(frozen=True)
class Table:
    """A table; ``key`` identifies a row in every database (unique and NOT NULL in the clinic)."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    key: tuple[str, ...]
    indexes: tuple[Index, ...] = ()
    since: int = 1
    #: in the local store only (never sent to the clinic)
    local_only: bool = False
    #: SQLite: the integer row id never reuses a deleted row's (AUTOINCREMENT)
    autoincrement: bool = False
    #: SQLite: the table has a UNIQUE constraint on ``key`` (the clinic always has one)
    unique_key: bool = False

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
        *(_text(name) for name in TEXT_FIELDS),
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
        Index("sessions_by_uid", ("uid",), unique=True, since=3, local_only=True),
        Index("sessions_by_course", ("course_id", "started_at"), since=3),
    ),
    autoincrement=True,
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
    unique_key=True,
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
    autoincrement=True,
    unique_key=True,
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
    autoincrement=True,
    unique_key=True,
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
    autoincrement=True,
    unique_key=True,
)

STORE_SETTINGS = Table(
    "store_settings",
    (Column("key", "text", since=3), Column("value", "text", not_null=True, since=3)),
    primary_key=("key",),
    key=("key",),
    since=3,
    local_only=True,
)

#: Version 5: the envelope overview the recorder keeps while recording (storage/overview.py,
#: docs/storage.md "Envelope overview"): per fine bin of ``bin_samples`` from ``first_index``,
#: zlib'd little-endian arrays (sums float64 [bins, outputs], counts int32 [bins, outputs],
#: flagged int32 [bins]). ``pipeline_sha256`` digests the settings it was made with.
OVERVIEWS = Table(
    "overviews",
    (
        Column("session_id", "int", references=("sessions", "CASCADE"), since=5),
        *(
            Column(name, "int", not_null=True, since=5)
            for name in (
                "bin_samples",
                "first_index",
                "end_index",
                "n_samples",
                "n_bins",
                "n_outputs",
            )
        ),
        Column("pipeline_sha256", "text", not_null=True, since=5),
        Column("data", "blob", not_null=True, since=5),
        Column("created_at", "time", not_null=True, since=5),
    ),
    primary_key=("session_id",),
    key=("session_id",),
    since=5,
    local_only=True,
)

#: Every table of the local store, in an order where every table comes after the ones it refers
#: to (except sessions.course_id, added with courses in version 3).
ALL_TABLES: tuple[Table, ...] = (
    SUBJECTS,
    SESSIONS,
    CHUNKS,
    MARKERS,
    PHASES,
    THRESHOLD_LOG,
    OUTCOMES,
    COURSES,
    PRESCRIPTIONS,
    STORE_SETTINGS,
    OVERVIEWS,
)
ALL_TABLES_BY_NAME = {table.name: table for table in ALL_TABLES}
#: The tables the clinic holds too.
TABLES: tuple[Table, ...] = tuple(t for t in ALL_TABLES if not t.local_only)
TABLES_BY_NAME = {table.name: table for table in TABLES}

#: Tables of the local store that the clinic does not hold, and why.
LOCAL_ONLY_TABLES = {
    "store_settings": "settings of one data folder (its station role)",
    "overviews": "derived from the samples; each database makes its own",
    "sqlite_sequence": "SQLite's own bookkeeping",
}

#: The newest schema version (the local store's ``PRAGMA user_version``).
LATEST_VERSION = 5

#: A random (version 4) UUID as 32 lowercase hex digits, made by SQLite: the same form as
#: ``uuid.uuid4().hex``, so ids made by the migration and by Python look alike.
SQL_UUID4 = (
    "lower(hex(randomblob(4)) || hex(randomblob(2)) || '4' || substr(hex(randomblob(2)), 2) || "
    "substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2) || "
    "hex(randomblob(6)))"
)

_NOW_SQL = "((julianday('now') - 2440587.5) * 86400.0)"
_BUMP_SQL = (
    "UPDATE sessions SET revision = revision + 1, updated_at = " + _NOW_SQL + " WHERE id = {id}"
)

#: Version 4's revision rules (docs/storage.md, "Revisions"): triggers bump a session's
#: ``revision`` and ``updated_at`` whenever its row, markers, phases or threshold log change, so
#: no writer can forget. A writer that sets ``revision`` itself (an imported copy) is not bumped.
_SQLITE_REVISION_TRIGGERS = (
    "CREATE TRIGGER sessions_revision AFTER UPDATE ON sessions\n"
    "    WHEN NEW.revision IS OLD.revision\n"
    f"    BEGIN {_BUMP_SQL.format(id='NEW.id')}; END",
    *(
        f"CREATE TRIGGER {table}_{event.lower()}_revision AFTER {event} ON {table}\n"
        f"    BEGIN {_BUMP_SQL.format(id=f'{row}.session_id')}; END"
        for table in ("markers", "phases", "threshold_log")
        for event, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD"))
    ),
)

#: Each version's SQLite statements that are not tables, columns or indexes: the fills of
#: columns added to existing rows, and triggers. They run after the version's new columns are
#: added and before its indexes are made.
SQLITE_EXTRA: dict[int, tuple[str, ...]] = {
    3: (f"UPDATE sessions SET uid = {SQL_UUID4} WHERE uid IS NULL",),
    4: (
        "UPDATE sessions SET revision = 1, updated_at = COALESCE(heartbeat_at, ended_at, started_at)",
        *_SQLITE_REVISION_TRIGGERS,
    ),
}


def sqlite_column(table: Table, column: Column) -> str:
    """The column's SQLite definition."""
    parts = [column.name, TYPES[column.type][0]]
    if table.primary_key == (column.name,):
        parts.append("PRIMARY KEY AUTOINCREMENT" if table.autoincrement else "PRIMARY KEY")
    if column.not_null:
        parts.append("NOT NULL")
    return " ".join(parts + column_clauses(column))


def column_clauses(column: Column) -> list[str]:
    """DEFAULT, CHECK and REFERENCES of a column: the same SQL for SQLite and PostgreSQL."""
    parts = []
    if column.default is not None:
        parts.append(f"DEFAULT {column.default}")
    if column.check:
        parts.append(f"CHECK ({column.check})")
    if column.references:
        target, on_delete = column.references
        parts.append(f"REFERENCES {target}({ALL_TABLES_BY_NAME[target].primary_key[0]})")
        if on_delete != "NO ACTION":
            parts.append(f"ON DELETE {on_delete}")
    return parts


def _sqlite_create_table(table: Table) -> str:
    lines = [sqlite_column(table, c) for c in table.columns_at(table.since)]
    if len(table.primary_key) > 1:
        lines.append(f"PRIMARY KEY ({', '.join(table.primary_key)})")
    if table.unique_key:
        lines.append(f"UNIQUE ({', '.join(table.key)})")
    return f"CREATE TABLE {table.name} (\n    " + ",\n    ".join(lines) + "\n)"


def create_index(table: Table, index: Index) -> str:
    """``CREATE [UNIQUE] INDEX`` (partial with ``WHERE``); the same SQL in both backends."""
    unique = "UNIQUE " if index.unique else ""
    where = f" WHERE {index.where}" if index.where else ""
    return f"CREATE {unique}INDEX {index.name} ON {table.name} ({', '.join(index.columns)}){where}"


def sqlite_migration(version: int) -> list[str]:
    """The statements that bring a local store from ``version - 1`` to ``version``: its new
    tables, the columns added to older ones, :data:`SQLITE_EXTRA`, then its new indexes."""
    steps = [_sqlite_create_table(t) for t in ALL_TABLES if t.since == version]
    steps += [
        f"ALTER TABLE {t.name} ADD COLUMN {sqlite_column(t, c)}"
        for t in ALL_TABLES
        if t.since < version
        for c in t.columns
        if c.since == version
    ]
    steps += SQLITE_EXTRA.get(version, ())
    steps += [create_index(t, i) for t in ALL_TABLES for i in t.indexes if i.since == version]
    return steps


def sqlite_migrations() -> list[tuple[int, str]]:
    """(version, script) for every version, oldest first: the statements of
    :func:`sqlite_migration` as one script (``;`` after each)."""
    return [
        (v, "".join(f"{statement};\n" for statement in sqlite_migration(v)))
        for v in range(1, LATEST_VERSION + 1)
    ]
