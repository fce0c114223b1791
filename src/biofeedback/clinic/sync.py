"""Sync between this station's local store and the clinic database (``biofeedback sync``).

Push (local -> clinic): subjects (never the name), courses with their prescriptions, finished and
interrupted sessions (never one still recording) with their samples exactly as stored, markers,
phases and threshold log, then questionnaires. Pull (clinic -> local): what this station needs to
show a subject's history: courses, prescriptions, sessions with everything (samples too, so
reports and exports work) and questionnaires of the subjects this station has (or ``subject``).

- Idempotent: rows are matched by their key (uid, subject id; schema.py) and upserted; a second
  sync adds nothing.
- Resumable: each session is one transaction at the clinic; a sync cut off keeps the sessions
  done and redoes the one under way next time.
- Verified: after a session's upload, a SHA-256 over its sample blocks in order is computed by
  the clinic and compared with the one computed here (:func:`samples_sha256`); a mismatch is an
  error and the session stays pending. Pulled sessions are checked the same way.
- Never blocks recording: the local store is read in short read transactions (one per session)
  and written in small ones.

Local bookkeeping (in ``store_settings``, so the local schema is unchanged): per clinic and
session, the revision confirmed at the clinic (``clinic-sync:<clinic>:<uid>``), and the state of
the last sync (``clinic-sync``). A session changed here and at the clinic since the last sync is
refused with one line and stays pending (docs/clinic.md, "Sync").
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from biofeedback.clinic.connect import (
    check_conninfo,
    clinic_errors,
    connect,
    describe,
    sync_transaction,
)
from biofeedback.clinic.schema import TABLES_BY_NAME, pg_upsert, shared_columns
from biofeedback.errors import ClinicError, StorageError
from biofeedback.storage.bundle import (
    _drop_overview,
    _insert,
    _read_connection,
    _session_doc,
    _update,
)
from biofeedback.storage.database import Database

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

#: store_settings key of the last sync's state; per-session keys start with it and a colon.
STATE_KEY = "clinic-sync"
#: Sample blocks sent per round trip (progress is reported after each).
CHUNK_BATCH = 64

Progress = Callable[[int, int, str], None]

_CHUNK_COLUMNS = ("first_index", "n", "codec", "data", "nan_mask", "flags")
_MARKER_COLUMNS = ("sample_index", "label", "note", "created_at")
_PHASE_COLUMNS = ("seq", "name", "kind", "start_index", "end_index", "measures_json")
_THRESHOLD_COLUMNS = ("sample_index", "channel", "old_uv", "new_uv", "reason", "created_at")
_LIVENESS = ("writer_pid", "writer_host", "heartbeat_at")
_HEAD = struct.Struct(">qii")

#: The clinic's :func:`samples_sha256` of one session (``%s``: the clinic's session id).
_CLINIC_SAMPLES_SHA = (
    "SELECT encode(sha256(coalesce(string_agg(int8send(first_index) || int4send(n::int4) || "
    "int4send(codec::int4) || sha256(data) || "
    "CASE WHEN nan_mask IS NULL THEN '\\x00'::bytea ELSE '\\x01'::bytea || sha256(nan_mask) END || "
    "CASE WHEN flags IS NULL THEN '\\x00'::bytea ELSE '\\x01'::bytea || sha256(flags) END, "
    "''::bytea ORDER BY first_index), ''::bytea)), 'hex') FROM chunks WHERE session_id = %s"
)


@dataclass
class SyncResult:
    """What one sync did."""

    pushed_sessions: int = 0
    pushed_outcomes: int = 0
    pulled_sessions: int = 0
    pulled_outcomes: int = 0
    already: int = 0
    verified: int = 0
    pending: int = 0
    errors: list[str] = field(default_factory=list)
    clinic: str = ""
    stopped: bool = False

    def text(self) -> str:
        parts = [
            f"{_count(self.pushed_sessions, 'session')} sent ({self.verified} verified)",
            f"{_count(self.pushed_outcomes, 'questionnaire')} sent",
            f"{_count(self.pulled_sessions, 'session')} received",
            f"{_count(self.pulled_outcomes, 'questionnaire')} received",
            f"{self.already} already there",
            f"{self.pending} pending",
        ]
        line = f"clinic {self.clinic}: " + ", ".join(parts)
        if self.stopped:
            line += " (stopped; the rest goes next time)"
        if self.errors:
            line += f"; {_count(len(self.errors), 'error')}: {self.errors[0]}"
        return line

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "text": self.text()}


@dataclass
class SyncState:
    """The last sync as this data folder remembers it (no network)."""

    last_sync_at: float | None
    last_error: str
    pending: int
    clinic: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextmanager
def refused(run: _Run, what: str) -> Iterator[None]:
    """A row the clinic refuses (a constraint, e.g. another open course of the subject there)
    is one error line; the rest of the sync goes on. A lost connection still ends it."""
    from psycopg import errors

    try:
        yield
    except (errors.IntegrityError, errors.DataError) as exc:
        reason = " ".join(str(exc).split())[:160]
        log.info("the clinic refused %s: %s", what, reason)
        run.result.errors.append(
            f"{what}: the clinic refused it ({reason}); it stays pending"
            if what.startswith("session")
            else f"{what}: the clinic refused it ({reason}); end one of the subject's open "
            "courses (here or at the clinic), then sync again"
        )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


# -- bookkeeping -------------------------------------------------------------------------------------
def clinic_key(conninfo: str) -> str:
    """A short name of the clinic database (host, port, database; not the user), for the
    bookkeeping keys and the cache file."""
    parts = check_conninfo(conninfo)
    where = "|".join(parts.get(k, "") for k in ("service", "host", "hostaddr", "port", "dbname"))
    return hashlib.sha256(where.encode("utf-8")).hexdigest()[:16]


def _session_key(key: str, uid: str) -> str:
    return f"{STATE_KEY}:{key}:{uid}"


def _setting(conn: sqlite3.Connection, name: str) -> Any:
    row = conn.execute("SELECT value FROM store_settings WHERE key = ?", (name,)).fetchone()
    if row is None:
        return None
    try:
        return json.loads(row[0])
    except json.JSONDecodeError:
        return None


def _put(conn: sqlite3.Connection, name: str, value: Any) -> None:
    conn.execute(
        "INSERT INTO store_settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET "
        "value = excluded.value",
        (name, json.dumps(value)),
    )


def _confirmed(conn: sqlite3.Connection, key: str) -> dict[str, int]:
    """uid -> the revision confirmed at the clinic ``key``."""
    prefix = f"{STATE_KEY}:{key}:"
    rows = conn.execute(
        "SELECT key, value FROM store_settings WHERE key >= ? AND key < ?",
        (prefix, prefix[:-1] + ";"),
    )
    done = {}
    for name, value in rows:
        try:
            done[name[len(prefix) :]] = int(json.loads(value)["revision"])
        except (ValueError, KeyError, TypeError):
            continue
    return done


def _pending(conn: sqlite3.Connection, key: str | None, subject: str | None = None) -> list[Any]:
    """(id, uid, revision) of the finished or interrupted sessions not confirmed at the clinic
    at their current revision, oldest first."""
    done = _confirmed(conn, key) if key else {}
    sql = "SELECT id, uid, revision FROM sessions WHERE status != 'recording'"
    params: tuple[Any, ...] = ()
    if subject is not None:
        sql, params = sql + " AND subject_id = ?", (subject,)
    rows = conn.execute(sql + " ORDER BY started_at, id", params).fetchall()
    return [tuple(r) for r in rows if done.get(r[1]) != int(r[2])]


def sync_state(db: Database) -> SyncState:
    """The last sync's time, error and clinic, and the sessions still to push (local only)."""
    conn = _read_connection(db)
    try:
        state = _setting(conn, STATE_KEY) or {}
        pending = len(_pending(conn, state.get("key")))
    finally:
        conn.close()
    last = state.get("last_sync_at")
    return SyncState(
        last_sync_at=float(last) if isinstance(last, int | float) else None,
        last_error=str(state.get("last_error") or ""),
        pending=pending,
        clinic=str(state.get("clinic") or ""),
    )


def _save_state(db: Database, key: str, clinic: str, error: str, finished: bool) -> None:
    try:
        with db.transaction() as conn:
            state = _setting(conn, STATE_KEY) or {}
            state.update(key=key, clinic=clinic, last_error=error)
            if finished:
                state["last_sync_at"] = time.time()
            _put(conn, STATE_KEY, state)
    except ClinicError:
        raise
    except StorageError as exc:  # the sync itself is done; only its note is lost
        log.warning("could not note the sync state in %s: %s", db.path, exc)


def _confirm(db: Database, key: str, uid: str, revision: int) -> None:
    with db.transaction() as conn:
        _put(conn, _session_key(key, uid), {"revision": int(revision), "at": time.time()})


# -- checksum ------------------------------------------------------------------------------------------
def samples_sha256(chunks: Iterable[tuple[Any, ...]]) -> str:
    """SHA-256 over a session's sample blocks in order (first_index, n, codec, and the SHA-256
    of data, NaN mask and flags, NULL told apart); the clinic computes the same in SQL."""
    digest = hashlib.sha256()
    for first, n, codec, data, mask, flags in chunks:
        digest.update(_HEAD.pack(int(first), int(n), int(codec)))
        digest.update(hashlib.sha256(bytes(data)).digest())
        for extra in (mask, flags):
            digest.update(b"\x00" if extra is None else b"\x01" + hashlib.sha256(extra).digest())
    return digest.hexdigest()


def _clinic_sha(conn: psycopg.Connection[Any], session_id: int) -> str:
    row = conn.execute(_CLINIC_SAMPLES_SHA, (session_id,)).fetchone()
    return "" if row is None else str(row[0])


# -- the sync ----------------------------------------------------------------------------------------
def sync(
    db: Database,
    conninfo: str,
    *,
    subject: str | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> SyncResult:
    """Push then pull (module docstring). ClinicError (one line) when the clinic cannot be
    reached or is lost; per-session problems are listed in ``errors`` and stay pending."""
    from biofeedback.clinic.migrate import check_schema

    key = clinic_key(conninfo)
    result = SyncResult(clinic=describe(conninfo))
    run = _Run(db, key, result, progress, stop)
    try:
        with connect(conninfo) as conn, clinic_errors(conninfo):
            check_schema(conn, conninfo)
            conn.commit()
            run.conn = conn
            subjects = _local_subjects(db, subject)
            if subject is not None:
                _check_subject(db, conn, subject, result.clinic)
            _push(run, subjects, subject)
            if not run.result.stopped:
                pull(run, subjects)
    except ClinicError as exc:
        _save_state(db, key, result.clinic, str(exc), finished=False)
        raise
    conn_r = _read_connection(db)
    try:
        result.pending = len(_pending(conn_r, key, subject))
    finally:
        conn_r.close()
    _save_state(db, key, result.clinic, result.errors[0] if result.errors else "", True)
    log.info("sync: %s", result.text())
    return result


@dataclass
class _Run:
    db: Database
    key: str
    result: SyncResult
    progress: Progress | None
    stop: threading.Event | None
    conn: Any = None
    #: the mirror keeps the clinic's ids (so ids shown are the clinic's)
    keep_ids: bool = False
    session_id: int | None = None
    #: pull sessions of no subject too (the mirror of the whole clinic)
    every_session: bool = False

    def stopped(self) -> bool:
        """Whether to stop here (noted in the result: the rest goes next time)."""
        if self.stop is not None and self.stop.is_set():
            self.result.stopped = True
        return self.result.stopped

    def tell(self, done: int, total: int, what: str) -> None:
        if self.progress is not None:
            self.progress(done, total, what)


def _local_subjects(db: Database, subject: str | None) -> list[str]:
    conn = _read_connection(db)
    try:
        if subject is not None:
            return [subject]
        return [r[0] for r in conn.execute("SELECT id FROM subjects ORDER BY id")]
    finally:
        conn.close()


def _check_subject(db: Database, conn: Any, subject: str, where: str) -> None:
    if db.get_subject(subject) is not None:
        return
    if conn.execute("SELECT 1 FROM subjects WHERE id = %s", (subject,)).fetchone() is None:
        conn.rollback()
        raise ClinicError(
            f"there is no subject {subject} here or at the clinic {where}: check the id "
            "('biofeedback subjects list')"
        )
    conn.rollback()


# -- push ----------------------------------------------------------------------------------------------
def _push(run: _Run, subjects: list[str], subject: str | None) -> None:
    _push_catalogue(run, subjects)
    conn = _read_connection(run.db)
    try:
        todo = _pending(conn, run.key, subject)
        confirmed = _confirmed(conn, run.key)
    finally:
        conn.close()
    for n, (session_id, uid, _) in enumerate(todo, start=1):
        run.tell(n - 1, len(todo), f"sending session {n} of {len(todo)}")
        if run.stopped():
            return
        with refused(run, f"session {uid}"):
            _push_session(run, int(session_id), confirmed.get(uid), n, len(todo))
    _push_outcomes(run, subjects)


def _read_catalogue(db: Database, subjects: list[str]) -> tuple[list[Any], list[Any]]:
    conn = _read_connection(db)
    try:
        marks = ", ".join("?" for _ in subjects)
        rows = [
            dict(r) for r in conn.execute(f"SELECT * FROM subjects WHERE id IN ({marks})", subjects)
        ]
        courses = [
            dict(r)
            for r in conn.execute(
                f"SELECT * FROM courses WHERE subject_id IN ({marks}) "
                "ORDER BY end_date IS NULL, start_date",
                subjects,
            )
        ]
        for course in courses:
            course["prescriptions"] = [
                dict(r)
                for r in conn.execute(
                    "SELECT * FROM prescriptions WHERE course_id = ?", (course["id"],)
                )
            ]
        return rows, courses
    finally:
        conn.close()


def _values(row: dict[str, Any], table: str, **changes: Any) -> tuple[Any, ...]:
    columns = shared_columns(TABLES_BY_NAME[table])
    merged = {**row, **changes}
    return tuple(merged.get(c) for c in columns)


def _push_catalogue(run: _Run, subjects: list[str]) -> None:
    """Subjects (without the name), courses (ended ones first) and their prescriptions."""
    rows, courses = _read_catalogue(run.db, subjects)
    conn = run.conn
    with sync_transaction(conn):
        for row in rows:
            conn.execute(pg_upsert("subjects", update=False), _values(row, "subjects", name=None))
        for course in courses:
            found = conn.execute(
                "SELECT id, updated_at FROM courses WHERE uid = %s", (course["uid"],)
            ).fetchone()
            if found is not None and float(found[1]) >= float(course["updated_at"]):
                continue
            with refused(run, f"course {course['uid']} of {course['subject_id']}"):
                _push_course(conn, course)


def _push_course(conn: Any, course: dict[str, Any]) -> None:
    with conn.transaction():  # a savepoint: a refused course leaves the others
        values = _values(course, "courses")
        course_id = conn.execute(pg_upsert("courses"), values).fetchone()[0]
        for rx in course["prescriptions"]:
            conn.execute(
                pg_upsert("prescriptions"), _values(rx, "prescriptions", course_id=course_id)
            )


def _read_session(db: Database, session_id: int) -> dict[str, Any] | None:
    """A local session with its children and samples, in one short read transaction."""
    conn = _read_connection(db)
    try:
        row = conn.execute("SELECT * FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if row is None or row["status"] == "recording":
            return None
        doc = _session_doc(conn, row)
        doc["row"].update(subject_id=row["subject_id"], uid=row["uid"])
        doc["row"].update(revision=int(row["revision"]), updated_at=row["updated_at"])
        doc["chunks"] = [
            tuple(r)
            for r in conn.execute(
                f"SELECT {', '.join(_CHUNK_COLUMNS)} FROM chunks WHERE session_id = ? "
                "ORDER BY first_index",
                (session_id,),
            )
        ]
        return doc
    finally:
        conn.close()


def decide(
    local: tuple[int, Any] | None, clinic: tuple[int, Any] | None, confirmed: int | None
) -> str:
    """'send', 'receive', 'already' or 'conflict' for a session with these (revision,
    updated_at) here and at the clinic and the revision last confirmed (None: absent / never
    synced). Sync keeps both, so the same pair means the same version."""
    if clinic is None:
        return "send"
    if local is None:
        return "receive"
    if local[0] == clinic[0] and local[1] == clinic[1]:
        return "already"
    if confirmed is not None and local[0] > confirmed and clinic[0] > confirmed:
        return "conflict"
    if local[0] == clinic[0]:
        return "conflict"
    return "send" if local[0] > clinic[0] else "receive"


def conflict_line(uid: str) -> str:
    return (
        f"session {uid} was changed here and at the clinic since the last sync: neither copy was "
        "overwritten; keep the clinic's by deleting it here ('biofeedback sessions delete ID') "
        "and syncing again"
    )


def _push_session(run: _Run, session_id: int, confirmed: int | None, n: int, total: int) -> None:
    doc = _read_session(run.db, session_id)
    if doc is None:
        return
    uid, revision = doc["uid"], int(doc["revision"])
    local_sha = samples_sha256(doc["chunks"])
    conn = run.conn
    with sync_transaction(conn):
        found = conn.execute(
            "SELECT id, revision, updated_at FROM sessions WHERE uid = %s FOR UPDATE", (uid,)
        ).fetchone()
        there = None if found is None else (int(found[1]), found[2])
        decision = decide((revision, doc["updated_at"]), there, confirmed)
        if decision == "send":
            clinic_id = _write_clinic_session(run, doc, n, total)
    if decision in ("receive", "conflict"):
        if decision == "conflict":
            run.result.errors.append(conflict_line(uid))
        return
    if decision == "already":
        clinic_id = int(found[0])
    if _clinic_sha(conn, clinic_id) != local_sha:
        conn.rollback()
        run.result.errors.append(
            f"session {uid}: the samples at the clinic differ from the ones here (checksum); "
            "it stays pending"
        )
        return
    conn.rollback()
    run.result.verified += decision == "send"
    run.result.pushed_sessions += decision == "send"
    run.result.already += decision == "already"
    _confirm(run.db, run.key, uid, revision)


def _write_clinic_session(run: _Run, doc: dict[str, Any], n: int, total: int) -> int:
    conn = run.conn
    course_id = None
    if doc.get("course_uid"):
        found = conn.execute("SELECT id FROM courses WHERE uid = %s", (doc["course_uid"],))
        row = found.fetchone()
        course_id = None if row is None else row[0]
    values = _values(doc["row"], "sessions", course_id=course_id, **dict.fromkeys(_LIVENESS))
    clinic_id = int(conn.execute(pg_upsert("sessions"), values).fetchone()[0])
    with conn.cursor() as cur:
        for table, columns, update in (
            ("markers", _MARKER_COLUMNS, True),
            ("phases", _PHASE_COLUMNS, True),
            ("threshold_log", _THRESHOLD_COLUMNS, False),
        ):
            items = [(clinic_id, *(item[c] for c in columns)) for item in doc[table]]
            if items:
                cur.executemany(pg_upsert(table, ("session_id", *columns), update=update), items)
        sql = pg_upsert("chunks", ("session_id", *_CHUNK_COLUMNS), update=False)
        chunks = doc["chunks"]
        for start in range(0, len(chunks), CHUNK_BATCH):
            cur.executemany(sql, [(clinic_id, *c) for c in chunks[start : start + CHUNK_BATCH]])
            run.tell(n - 1, total, f"sending session {n} of {total}: samples")
    return clinic_id


def _push_outcomes(run: _Run, subjects: list[str]) -> None:
    conn_r = _read_connection(run.db)
    try:
        marks = ", ".join("?" for _ in subjects)
        rows = [
            dict(r)
            for r in conn_r.execute(
                "SELECT o.*, s.uid AS session_uid FROM outcomes o LEFT JOIN sessions s "
                f"ON s.id = o.session_id WHERE o.subject_id IN ({marks}) ORDER BY o.taken_at",
                subjects,
            )
        ]
    finally:
        conn_r.close()
    conn = run.conn
    with sync_transaction(conn):
        for row in rows:
            session = None
            if row["session_uid"]:
                found = conn.execute(
                    "SELECT id FROM sessions WHERE uid = %s", (row["session_uid"],)
                ).fetchone()
                session = None if found is None else found[0]
            values = _values(row, "outcomes", session_id=session)
            added = conn.execute(pg_upsert("outcomes", update=False), values).fetchone()
            run.result.pushed_outcomes += added is not None


# -- pull ----------------------------------------------------------------------------------------------
def pull(run: _Run, subjects: list[str]) -> None:
    """Bring the subjects' courses, sessions and questionnaires from the clinic into the local
    store (also the mirror's fill)."""
    _pull_catalogue(run, subjects)
    remote = _remote_sessions(run, subjects)
    local_conn = _read_connection(run.db)
    try:
        here = {
            r[0]: (int(r[1]), r[2])
            for r in local_conn.execute("SELECT uid, revision, updated_at FROM sessions")
        }
        confirmed = _confirmed(local_conn, run.key)
    finally:
        local_conn.close()
    todo = []
    for clinic_id, uid, revision, updated_at in remote:
        decision = decide(here.get(uid), (int(revision), updated_at), confirmed.get(uid))
        if decision == "receive":
            todo.append((int(clinic_id), uid))
        elif decision == "conflict" and not any(uid in e for e in run.result.errors):
            run.result.errors.append(conflict_line(uid))
    if run.keep_ids and run.session_id is None:
        _forget_gone(run, subjects, {r[1] for r in remote})
    for n, (clinic_id, uid) in enumerate(todo, start=1):
        run.tell(n - 1, len(todo), f"receiving session {n} of {len(todo)}")
        if run.stopped():
            return
        _pull_session(run, clinic_id, uid)
    _pull_outcomes(run, subjects)


def _remote_sessions(run: _Run, subjects: list[str]) -> list[Any]:
    """(id, uid, revision, updated_at) of the sessions at the clinic to bring here."""
    sql = "SELECT id, uid, revision, updated_at FROM sessions WHERE subject_id = ANY(%s)"
    params: list[Any] = [subjects]
    if run.session_id is not None:
        sql = "SELECT id, uid, revision, updated_at FROM sessions WHERE id = %s"
        params = [run.session_id]
    elif run.every_session:
        sql = "SELECT id, uid, revision, updated_at FROM sessions WHERE true"
        params = []
    remote = run.conn.execute(sql + " ORDER BY started_at, id", params).fetchall()
    run.conn.rollback()
    return list(remote)


def _forget_gone(run: _Run, subjects: list[str], at_clinic: set[str]) -> None:
    """The mirror drops the sessions its clinic no longer has (deleted there by its owner)."""
    conn = _read_connection(run.db)
    try:
        sql = "SELECT id, uid FROM sessions"
        params: list[Any] = []
        if not run.every_session:
            sql += f" WHERE subject_id IN ({', '.join('?' for _ in subjects)})"
            params = subjects
        gone = [int(r[0]) for r in conn.execute(sql, params) if r[1] not in at_clinic]
    finally:
        conn.close()
    if gone:
        with run.db.transaction() as local:
            local.executemany("DELETE FROM sessions WHERE id = ?", [(i,) for i in gone])


def _rows(conn: Any, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    cur = conn.execute(sql, params)
    names = [d.name for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _pull_catalogue(run: _Run, subjects: list[str]) -> None:
    conn = run.conn
    people = _rows(conn, "SELECT * FROM subjects WHERE id = ANY(%s)", (subjects,))
    courses = _rows(
        conn,
        "SELECT * FROM courses WHERE subject_id = ANY(%s) ORDER BY end_date IS NULL, start_date",
        (subjects,),
    )
    for course in courses:
        course["prescriptions"] = _rows(
            conn, "SELECT * FROM prescriptions WHERE course_id = %s", (course["id"],)
        )
    conn.rollback()
    with run.db.transaction() as local:
        for person in people:
            if local.execute("SELECT 1 FROM subjects WHERE id = ?", (person["id"],)).fetchone():
                continue
            _insert(local, "subjects", {**person, "name": None})
        for course in courses:
            _store_course(run, local, course)


def _store_course(run: _Run, local: sqlite3.Connection, course: dict[str, Any]) -> None:
    found = local.execute(
        "SELECT id, updated_at FROM courses WHERE uid = ?", (course["uid"],)
    ).fetchone()
    if found is not None and float(found[1]) >= float(course["updated_at"]):
        return
    values = {k: v for k, v in course.items() if k not in ("id", "prescriptions")}
    if run.keep_ids:
        values["id"] = course["id"]
    try:
        if found is None:
            course_id = _insert(local, "courses", values)
        else:
            course_id = int(found[0])
            _update(local, "courses", course_id, values)
    except sqlite3.IntegrityError:
        run.result.errors.append(
            f"course {course['uid']} of {course['subject_id']}: this station has another open "
            "course for the subject; end one of them, then sync again"
        )
        return
    local.execute("DELETE FROM prescriptions WHERE course_id = ?", (course_id,))
    for rx in course["prescriptions"]:
        rx_values = {k: v for k, v in rx.items() if k != "id"}
        _insert(local, "prescriptions", {**rx_values, "course_id": course_id})


def _fetch_session(conn: Any, clinic_id: int) -> dict[str, Any]:
    row = _rows(
        conn,
        "SELECT s.*, c.uid AS course_uid FROM sessions s LEFT JOIN courses c "
        "ON c.id = s.course_id WHERE s.id = %s",
        (clinic_id,),
    )[0]
    doc: dict[str, Any] = {"row": row}
    for table, columns, order in (
        ("markers", _MARKER_COLUMNS, "sample_index, id"),
        ("phases", _PHASE_COLUMNS, "seq"),
        ("threshold_log", _THRESHOLD_COLUMNS, "sample_index, id"),
        ("chunks", _CHUNK_COLUMNS, "first_index"),
    ):
        cur = conn.execute(
            f"SELECT {', '.join(columns)} FROM {table} WHERE session_id = %s ORDER BY {order}",
            (clinic_id,),
        )
        doc[table] = [tuple(r) for r in cur.fetchall()]
    doc["sha"] = _clinic_sha(conn, clinic_id)
    conn.rollback()
    return doc


def _pull_session(run: _Run, clinic_id: int, uid: str) -> None:
    doc = _fetch_session(run.conn, clinic_id)
    if samples_sha256(doc["chunks"]) != doc["sha"]:
        run.result.errors.append(f"session {uid}: the samples received do not match the clinic's")
        return
    row = doc["row"]
    revision = int(row["revision"])
    with run.db.transaction() as local:
        existing = local.execute("SELECT id FROM sessions WHERE uid = ?", (uid,)).fetchone()
        course_id = None
        if row.get("course_uid"):
            found = local.execute(
                "SELECT id FROM courses WHERE uid = ?", (row["course_uid"],)
            ).fetchone()
            course_id = None if found is None else int(found[0])
        values = {k: v for k, v in row.items() if k not in ("id", "course_uid")}
        values.update(course_id=course_id, **dict.fromkeys(_LIVENESS))
        if run.keep_ids:
            values["id"] = clinic_id
        _store_session(local, values, doc, None if existing is None else int(existing[0]))
        _put(local, _session_key(run.key, uid), {"revision": revision, "at": time.time()})
    run.result.pulled_sessions += 1


def _store_session(
    conn: sqlite3.Connection, values: dict[str, Any], doc: dict[str, Any], session_id: int | None
) -> None:
    if session_id is None:
        session_id = _insert(conn, "sessions", values)
    else:
        for table in ("markers", "phases", "threshold_log", "chunks"):
            conn.execute(f"DELETE FROM {table} WHERE session_id = ?", (session_id,))
        _drop_overview(conn, session_id)
        _update(conn, "sessions", session_id, values)
    for table, columns in (
        ("markers", _MARKER_COLUMNS),
        ("phases", _PHASE_COLUMNS),
        ("threshold_log", _THRESHOLD_COLUMNS),
        ("chunks", _CHUNK_COLUMNS),
    ):
        names = ("session_id", *columns)
        conn.executemany(
            f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
            [(session_id, *item) for item in doc[table]],
        )
    # the triggers counted the rows above as changes: put the clinic's revision back (twice, so
    # the trigger sees a revision set by the writer even when the numbers agree)
    conn.execute("UPDATE sessions SET revision = -1 WHERE id = ?", (session_id,))
    conn.execute(
        "UPDATE sessions SET revision = ?, updated_at = ? WHERE id = ?",
        (values["revision"], values["updated_at"], session_id),
    )


def _pull_outcomes(run: _Run, subjects: list[str]) -> None:
    rows = _rows(
        run.conn,
        "SELECT o.*, s.uid AS session_uid FROM outcomes o LEFT JOIN sessions s "
        "ON s.id = o.session_id WHERE o.subject_id = ANY(%s) ORDER BY o.taken_at, o.id",
        (subjects,),
    )
    run.conn.rollback()
    with run.db.transaction() as local:
        for row in rows:
            found = local.execute("SELECT id FROM outcomes WHERE uid = ?", (row["uid"],)).fetchone()
            if found is not None and not run.keep_ids:
                continue
            session_id = None
            if row["session_uid"]:
                found = local.execute(
                    "SELECT id FROM sessions WHERE uid = ?", (row["session_uid"],)
                ).fetchone()
                session_id = None if found is None else int(found[0])
            values = {k: v for k, v in row.items() if k not in ("id", "session_uid")}
            if found is not None:  # the mirror follows edits made at the clinic
                _update(local, "outcomes", int(found[0]), {**values, "session_id": session_id})
                continue
            if run.keep_ids:
                values["id"] = row["id"]
            _insert(local, "outcomes", {**values, "session_id": session_id})
            run.result.pulled_outcomes += 1
