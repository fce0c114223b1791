"""The local store's migration scripts as they were written by hand up to schema 5, frozen.

Databases of users were made by these scripts; the store now renders its migrations from one
description (biofeedback.storage.schema). tests/clinic/test_schema_drift.py checks that both
give the same schema at every version and that a database made by these upgrades to the same
result. Never edit this file.
"""

from __future__ import annotations

_SCHEMA_V1 = """
CREATE TABLE subjects (
    id          TEXT PRIMARY KEY,
    name        TEXT,
    weekly_goal INTEGER CHECK (weekly_goal IS NULL OR weekly_goal BETWEEN 0 AND 21),
    reminder    TEXT,
    notes       TEXT NOT NULL DEFAULT '',
    created_at  REAL NOT NULL
);
CREATE TABLE sessions (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    subject_id     TEXT REFERENCES subjects(id),
    protocol       TEXT NOT NULL DEFAULT '',
    started_at     REAL NOT NULL,
    ended_at       REAL,
    status         TEXT NOT NULL CHECK (status IN ('recording', 'complete', 'interrupted')),
    fs_hz          REAL NOT NULL,
    info_json      TEXT NOT NULL,
    pipeline_json  TEXT NOT NULL DEFAULT '{}',
    hardware_json  TEXT NOT NULL DEFAULT '{}',
    electrode_site TEXT NOT NULL DEFAULT '',
    muscle         TEXT NOT NULL DEFAULT '',
    side           TEXT NOT NULL DEFAULT '',
    electrode_type TEXT NOT NULL DEFAULT '',
    skin_prep      TEXT NOT NULL DEFAULT '',
    isolation_mode TEXT NOT NULL DEFAULT '',
    clinician      TEXT NOT NULL DEFAULT '',
    notes          TEXT NOT NULL DEFAULT '',
    pain_before    INTEGER CHECK (pain_before IS NULL OR pain_before BETWEEN 0 AND 10),
    pain_after     INTEGER CHECK (pain_after IS NULL OR pain_after BETWEEN 0 AND 10),
    summary_json   TEXT NOT NULL DEFAULT '{}',
    first_index    INTEGER,
    end_index      INTEGER,
    n_samples      INTEGER NOT NULL DEFAULT 0,
    writer_pid     INTEGER,
    writer_host    TEXT,
    heartbeat_at   REAL
);
CREATE INDEX sessions_by_subject ON sessions(subject_id, started_at);
CREATE TABLE chunks (
    id          INTEGER PRIMARY KEY,
    session_id  INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    first_index INTEGER NOT NULL,
    n           INTEGER NOT NULL CHECK (n > 0),
    codec       INTEGER NOT NULL,
    data        BLOB NOT NULL,
    nan_mask    BLOB,
    flags       BLOB,
    UNIQUE (session_id, first_index)
);
CREATE TABLE markers (
    id           INTEGER PRIMARY KEY,
    session_id   INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    sample_index INTEGER NOT NULL,
    label        TEXT NOT NULL,
    note         TEXT NOT NULL DEFAULT '',
    created_at   REAL NOT NULL
);
CREATE INDEX markers_by_session ON markers(session_id, sample_index);
CREATE TABLE phases (
    session_id    INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL DEFAULT '',
    start_index   INTEGER,
    end_index     INTEGER,
    measures_json TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
);
CREATE TABLE threshold_log (
    id           INTEGER PRIMARY KEY,
    session_id   INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    sample_index INTEGER NOT NULL,
    channel      INTEGER NOT NULL DEFAULT 0,
    old_uv       REAL,
    new_uv       REAL NOT NULL,
    reason       TEXT NOT NULL DEFAULT '',
    created_at   REAL NOT NULL
);
CREATE INDEX threshold_by_session ON threshold_log(session_id, sample_index);
"""

#: Version 2: outcome measures (questionnaire answers and their scores; see docs/outcomes.md).
#: ``uid`` is a stable unique id so that a copy moved between data dirs is recognised.
_SCHEMA_V2_OUTCOMES = """
CREATE TABLE outcomes (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    uid                TEXT NOT NULL UNIQUE,
    subject_id         TEXT NOT NULL REFERENCES subjects(id),
    instrument         TEXT NOT NULL,
    instrument_version TEXT NOT NULL,
    instrument_sha256  TEXT NOT NULL,
    taken_at           REAL NOT NULL,
    timepoint          TEXT NOT NULL DEFAULT '',
    session_id         INTEGER REFERENCES sessions(id) ON DELETE SET NULL,
    answers_json       TEXT NOT NULL,
    scores_json        TEXT NOT NULL,
    created_at         REAL NOT NULL
);
CREATE INDEX outcomes_by_subject ON outcomes(subject_id, instrument, taken_at);
"""

#: A random (version 4) UUID as 32 lowercase hex digits, made by SQLite: the same form as
#: ``uuid.uuid4().hex``, so ids made by the migration and by Python look alike.
_SQL_UUID4 = (
    "lower(hex(randomblob(4)) || hex(randomblob(2)) || '4' || substr(hex(randomblob(2)), 2) || "
    "substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2) || "
    "hex(randomblob(6)))"
)

#: Version 3: courses of treatment (see docs/courses.md). A course belongs to a subject (at most
#: one open at a time, enforced by a partial unique index); its home-practice prescription is a
#: dated history (``valid_from``) so adherence is judged against the one that held each week.
#: Sessions get a stable unique ``uid`` (filled here for existing rows), the ``course_id`` they
#: belong to, their ``setting`` ('clinic', 'home'; NULL for sessions recorded before) and the
#: recording machine's UTC offset at the start (``utc_offset_min``; NULL before), so a session's
#: local day is the same wherever it is read. ``store_settings`` holds settings of this data dir
#: (the station role: clinic or home).
_SCHEMA_V3_COURSES = f"""
CREATE TABLE courses (
    id                      INTEGER PRIMARY KEY AUTOINCREMENT,
    uid                     TEXT NOT NULL UNIQUE,
    subject_id              TEXT NOT NULL REFERENCES subjects(id),
    start_date              TEXT NOT NULL,
    end_date                TEXT,
    clinician               TEXT NOT NULL DEFAULT '',
    muscle                  TEXT NOT NULL DEFAULT '',
    electrode_site          TEXT NOT NULL DEFAULT '',
    planned_clinic_sessions INTEGER CHECK (planned_clinic_sessions IS NULL OR
                                           planned_clinic_sessions BETWEEN 0 AND 100),
    notes                   TEXT NOT NULL DEFAULT '',
    created_at              REAL NOT NULL,
    updated_at              REAL NOT NULL
);
CREATE UNIQUE INDEX courses_one_open ON courses(subject_id) WHERE end_date IS NULL;
CREATE INDEX courses_by_subject ON courses(subject_id, start_date);
CREATE TABLE prescriptions (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    course_id           INTEGER NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    valid_from          TEXT NOT NULL,
    protocols_json      TEXT NOT NULL DEFAULT '[]',
    sessions_per_week   INTEGER NOT NULL CHECK (sessions_per_week BETWEEN 0 AND 21),
    minutes_per_session INTEGER NOT NULL CHECK (minutes_per_session BETWEEN 1 AND 180),
    until_date          TEXT,
    created_at          REAL NOT NULL,
    UNIQUE (course_id, valid_from)
);
CREATE TABLE store_settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
ALTER TABLE sessions ADD COLUMN uid TEXT;
ALTER TABLE sessions ADD COLUMN course_id INTEGER REFERENCES courses(id) ON DELETE SET NULL;
ALTER TABLE sessions ADD COLUMN setting TEXT CHECK (setting IS NULL OR setting IN ('clinic', 'home'));
ALTER TABLE sessions ADD COLUMN utc_offset_min INTEGER;
UPDATE sessions SET uid = {_SQL_UUID4} WHERE uid IS NULL;
CREATE UNIQUE INDEX sessions_by_uid ON sessions(uid);
CREATE INDEX sessions_by_course ON sessions(course_id, started_at)
"""

#: Version 4: what a copy of a session moved between data dirs needs (bundles, clinic sync; see
#: docs/storage.md, "Revisions"). ``sessions.revision`` counts changes to a session and
#: ``updated_at`` says when the last one was made: triggers bump both whenever the session row,
#: its markers, phases or threshold log change, so no writer can forget. A writer that sets
#: ``revision`` itself (an imported copy keeps the revision it had) is not bumped. Courses get the
#: ``template`` they follow (a name, '' for none) and their outcome schedule (JSON; '' means the
#: default schedule, docs/outcomes.md "When questionnaires are due").
_NOW_SQL = "((julianday('now') - 2440587.5) * 86400.0)"
_BUMP_SQL = (
    "UPDATE sessions SET revision = revision + 1, updated_at = " + _NOW_SQL + " WHERE id = {id}"
)
_SCHEMA_V4_REVISIONS = f"""
ALTER TABLE sessions ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN updated_at REAL;
UPDATE sessions SET revision = 1, updated_at = COALESCE(heartbeat_at, ended_at, started_at);
ALTER TABLE courses ADD COLUMN template TEXT NOT NULL DEFAULT '';
ALTER TABLE courses ADD COLUMN outcome_schedule_json TEXT NOT NULL DEFAULT '';
CREATE TRIGGER sessions_revision AFTER UPDATE ON sessions
    WHEN NEW.revision IS OLD.revision
    BEGIN {_BUMP_SQL.format(id="NEW.id")}; END;
""" + "".join(
    f"""CREATE TRIGGER {table}_{event.lower()}_revision AFTER {event} ON {table}
    BEGIN {_BUMP_SQL.format(id=f"{row}.session_id")}; END;
"""
    for table in ("markers", "phases", "threshold_log")
    for event, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD"))
)

#: Version 5: the envelope overview the recorder keeps while recording (storage/overview.py,
#: docs/storage.md "Envelope overview"): per fine bin of ``bin_samples`` from ``first_index``,
#: zlib'd little-endian arrays (sums float64 [bins, outputs], counts int32 [bins, outputs],
#: flagged int32 [bins]). ``pipeline_sha256`` digests the settings it was made with. Sessions
#: recorded before have none: reports reprocess their samples.
_SCHEMA_V5_OVERVIEWS = """
CREATE TABLE overviews (
    session_id      INTEGER PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
    bin_samples     INTEGER NOT NULL,
    first_index     INTEGER NOT NULL,
    end_index       INTEGER NOT NULL,
    n_samples       INTEGER NOT NULL,
    n_bins          INTEGER NOT NULL,
    n_outputs       INTEGER NOT NULL,
    pipeline_sha256 TEXT NOT NULL,
    data            BLOB NOT NULL,
    created_at      REAL NOT NULL
)
"""

#: (version, script) as released: version N's script upgrades a database at version N-1.
LEGACY_MIGRATIONS: list[tuple[int, str]] = [
    (1, _SCHEMA_V1),
    (2, _SCHEMA_V2_OUTCOMES),
    (3, _SCHEMA_V3_COURSES),
    (4, _SCHEMA_V4_REVISIONS),
    (5, _SCHEMA_V5_OVERVIEWS),
]
