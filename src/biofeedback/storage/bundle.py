"""Bundles: one portable file holding a subject's course, questionnaires and sessions (with their
samples), to carry them from the patient's computer to the clinic's and back without a server.

The format (version 1; docs/bundles.md) is a ZIP file:

- ``manifest.json``: format name and version, app and schema version, when it was written, the
  subject id, counts, the sessions in brief, and the SHA-256 and size of every other member;
- ``subject.json``: the subject's id and notes (never the name: it stays in its data dir);
- ``courses.json``: the courses (by ``uid``) with their dated prescriptions;
- ``outcomes.json``: the questionnaires (by ``uid``; the session they belong to by its ``uid``);
- ``sessions/<uid>.json``: a session's row as stored (revision and updated_at included), its
  markers, phases and threshold log;
- ``sessions/<uid>.chunks``: its stored sample blocks exactly as stored (no recompression), in the
  length-prefixed layout of :func:`_chunk_record`.

Importing checks every member against the manifest before anything is written, then merges the
whole bundle in one transaction (all or nothing). Sessions are matched by ``uid`` and their
``revision``; a session changed on both sides keeps both copies (the rules: docs/bundles.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import os
import re
import sqlite3
import struct
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from biofeedback import __version__
from biofeedback.errors import StorageError
from biofeedback.storage.courses import parse_date
from biofeedback.storage.database import (
    CODEC_FLOAT32,
    CODEC_INT16_DELTA,
    SCHEMA_VERSION,
    STATUSES,
    Database,
    info_from_dict,
)
from biofeedback.storage.safe_output import open_output, store_files

log = logging.getLogger(__name__)

FORMAT_NAME = "biofeedback-bundle"
FORMAT_VERSION = 1
SUFFIX = ".bfbundle"

#: Limits of a bundle this version reads (anything beyond is refused before reading it).
MAX_MANIFEST_BYTES = 1 << 20
MAX_SESSIONS = 1000
MAX_MEMBERS = 4 + 2 * MAX_SESSIONS
MAX_JSON_MEMBER_BYTES = 64 << 20
MAX_TOTAL_BYTES = 4 << 30

#: ``store_settings`` key prefix: per session, the version last exchanged through a bundle.
BASE_KEY = "bundle-base:"
#: How many incoming versions of one session are remembered as handled.
MAX_SEEN = 20

_CHUNKS_MAGIC = b"BFCHUNKS\x01\x00\x00\x00"
_CHUNK_HEAD = struct.Struct("<qIIIii")
_UID_RE = re.compile(r"^[0-9a-f]{32}$")
_MEMBER_RE = re.compile(
    r"^(manifest|subject|courses|outcomes)\.json$|^sessions/[0-9a-f]{32}\.(json|chunks)$"
)
#: Session columns that belong to this data dir, not to the session's content.
_LOCAL_COLUMNS = ("id", "subject_id", "course_id", "writer_pid", "writer_host", "heartbeat_at")
_MARKER_COLUMNS = ("sample_index", "label", "note", "created_at")
_PHASE_COLUMNS = ("seq", "name", "kind", "start_index", "end_index", "measures_json")
_THRESHOLD_COLUMNS = ("sample_index", "channel", "old_uv", "new_uv", "reason", "created_at")
_OUTCOME_CONTENT = (
    "instrument",
    "instrument_version",
    "instrument_sha256",
    "taken_at",
    "timepoint",
    "answers_json",
    "scores_json",
)

Progress = Callable[[int, int], None]


# -- results -----------------------------------------------------------------------------------------
@dataclass
class BundleInfo:
    """What a bundle holds (from its manifest), or what :func:`export_bundle` wrote."""

    path: Path
    subject_id: str
    created_at: float
    app_version: str
    format_version: int
    schema_version: int
    counts: dict[str, int]
    course: dict[str, Any] | None
    sessions: list[dict[str, Any]] = field(default_factory=list)
    bytes: int = 0

    def text(self) -> str:
        when = dt.datetime.fromtimestamp(self.created_at).strftime("%Y-%m-%d %H:%M")
        c = self.counts
        course = "no course"
        if self.course is not None:
            state = (
                "open"
                if self.course.get("end_date") is None
                else f"ended {self.course['end_date']}"
            )
            course = f"course from {self.course.get('start_date')} ({state})"
        return (
            f"{self.subject_id}: {_count(c.get('sessions', 0), 'session')}, "
            f"{_count(c.get('outcomes', 0), 'questionnaire')}, {course}; written {when} by "
            f"biofeedback {self.app_version}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "subject_id": self.subject_id,
            "created_at": self.created_at,
            "app_version": self.app_version,
            "format_version": self.format_version,
            "schema_version": self.schema_version,
            "counts": dict(self.counts),
            "course": self.course,
            "sessions": list(self.sessions),
            "bytes": self.bytes,
        }


@dataclass
class BundleImport:
    """What :func:`import_bundle` did (or would do, for a dry run)."""

    path: Path
    subject_id: str
    dry_run: bool = False
    subject_added: bool = False
    courses_added: int = 0
    courses_updated: int = 0
    prescriptions_added: int = 0
    prescriptions_updated: int = 0
    sessions_added: int = 0
    sessions_replaced: int = 0
    sessions_already: int = 0
    sessions_local_newer: int = 0
    #: (uid of the session, uid of the copy of the bundle's version stored beside it)
    conflicts: list[tuple[str, str]] = field(default_factory=list)
    recording_closed: int = 0
    outcomes_added: int = 0
    outcomes_already: int = 0
    outcomes_differ: int = 0

    def text(self) -> str:
        sessions = (
            f"{_count(self.sessions_added, 'session')} added, {self.sessions_replaced} replaced, "
            f"{self.sessions_already} already here"
        )
        if self.sessions_local_newer:
            sessions += f", {self.sessions_local_newer} kept (the copy here is newer)"
        if self.conflicts:
            sessions += f", {len(self.conflicts)} changed on both sides (both copies kept)"
        outcomes = f"{_count(self.outcomes_added, 'questionnaire')} added"
        if self.outcomes_differ:
            outcomes += f", {self.outcomes_differ} differ (kept the one here)"
        parts = [sessions, outcomes]
        if self.courses_added or self.courses_updated:
            parts.append(f"course {'added' if self.courses_added else 'updated'}")
        if self.recording_closed:
            parts.append(f"{self.recording_closed} still recording there, stored as interrupted")
        prefix = "dry run, nothing changed: " if self.dry_run else ""
        return f"{prefix}{self.subject_id}: " + "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "subject_id": self.subject_id,
            "dry_run": self.dry_run,
            "subject_added": self.subject_added,
            "courses_added": self.courses_added,
            "courses_updated": self.courses_updated,
            "prescriptions_added": self.prescriptions_added,
            "prescriptions_updated": self.prescriptions_updated,
            "sessions_added": self.sessions_added,
            "sessions_replaced": self.sessions_replaced,
            "sessions_already": self.sessions_already,
            "sessions_local_newer": self.sessions_local_newer,
            "conflicts": [{"uid": a, "copy_uid": b} for a, b in self.conflicts],
            "recording_closed": self.recording_closed,
            "outcomes_added": self.outcomes_added,
            "outcomes_already": self.outcomes_already,
            "outcomes_differ": self.outcomes_differ,
            "text": self.text(),
        }


# -- shared helpers ------------------------------------------------------------------------------------
def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _canon(value: Any) -> Any:
    """A value as hashed: whole floats as ints (SQLite may hand back 3 for 3.0 and back)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _canon(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canon(v) for v in value]
    return value


def content_hash(doc: dict[str, Any], chunks_sha256: str) -> str:
    """The SHA-256 of a session's content (row, markers, phases, threshold log, samples), the
    same in every data dir: without local ids, the writer's liveness, revision and updated_at."""
    keys = ("row", "course_uid", "markers", "phases", "threshold_log")
    digest = hashlib.sha256(
        json.dumps(
            _canon({k: doc.get(k) for k in keys}), sort_keys=True, separators=(",", ":")
        ).encode("utf-8")
    )
    digest.update(chunks_sha256.encode("ascii"))
    return digest.hexdigest()


def _chunk_record(row: sqlite3.Row | tuple[Any, ...]) -> bytes:
    """One stored block: first_index (int64), n, codec, the byte lengths of data, nan_mask and
    flags (-1: NULL), all little-endian, then the three byte strings."""
    first, n, codec, data, mask, flags = row
    head = _CHUNK_HEAD.pack(
        int(first),
        int(n),
        int(codec),
        len(data),
        -1 if mask is None else len(mask),
        -1 if flags is None else len(flags),
    )
    return head + bytes(data) + bytes(mask or b"") + bytes(flags or b"")


def _chunk_rows(conn: sqlite3.Connection, session_id: int) -> Iterator[tuple[Any, ...]]:
    cursor = conn.execute(
        "SELECT first_index, n, codec, data, nan_mask, flags FROM chunks WHERE session_id = ? "
        "ORDER BY first_index",
        (session_id,),
    )
    while rows := cursor.fetchmany(64):
        yield from (tuple(r) for r in rows)


def _session_doc(conn: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    """A stored session as it goes into ``sessions/<uid>.json`` (without the samples)."""
    sid = int(row["id"])
    course_uid = None
    if row["course_id"] is not None:
        found = conn.execute("SELECT uid FROM courses WHERE id = ?", (row["course_id"],)).fetchone()
        course_uid = None if found is None else found[0]

    def rows(table: str, columns: tuple[str, ...], order: str) -> list[dict[str, Any]]:
        sql = f"SELECT {', '.join(columns)} FROM {table} WHERE session_id = ? ORDER BY {order}"
        return [dict(zip(columns, r, strict=True)) for r in conn.execute(sql, (sid,))]

    skip = {*_LOCAL_COLUMNS, "uid", "revision", "updated_at"}
    return {
        "uid": row["uid"],
        "revision": int(row["revision"]),
        "updated_at": row["updated_at"],
        "course_uid": course_uid,
        "row": {k: v for k, v in dict(row).items() if k not in skip},
        "markers": rows("markers", _MARKER_COLUMNS, "sample_index, id"),
        "phases": rows("phases", _PHASE_COLUMNS, "seq"),
        "threshold_log": rows("threshold_log", _THRESHOLD_COLUMNS, "sample_index, id"),
    }


def _local_hashes(conn: sqlite3.Connection, row: sqlite3.Row) -> tuple[str, str]:
    """(:func:`content_hash`, SHA-256 of the samples as a ``.chunks`` member) of a session
    stored here."""
    digest = hashlib.sha256(_CHUNKS_MAGIC)
    for chunk in _chunk_rows(conn, int(row["id"])):
        digest.update(_chunk_record(chunk))
    chunks_sha = digest.hexdigest()
    return content_hash(_session_doc(conn, row), chunks_sha), chunks_sha


class _HashingWriter:
    """A file-like sink that counts and hashes what goes through it."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.target.write(data)
        self.sha.update(data)
        self.size += len(data)


# -- export --------------------------------------------------------------------------------------------
def _read_connection(db: Database) -> sqlite3.Connection:
    """A read-only connection with one snapshot for the whole export (recordings go on)."""
    uri = Path(os.path.abspath(db.path)).as_uri() + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("BEGIN")
    except sqlite3.Error as exc:
        raise StorageError(f"cannot read {db.path}: {exc}") from None
    return conn


def _rows(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sql, params)]


def _course_docs(conn: sqlite3.Connection, subject_id: str) -> list[dict[str, Any]]:
    courses = _rows(
        conn, "SELECT * FROM courses WHERE subject_id = ? ORDER BY start_date, id", (subject_id,)
    )
    for course in courses:
        course["prescriptions"] = [
            {k: v for k, v in rx.items() if k not in ("id", "course_id")}
            for rx in _rows(
                conn,
                "SELECT * FROM prescriptions WHERE course_id = ? ORDER BY valid_from",
                (course["id"],),
            )
        ]
        del course["id"], course["subject_id"]
    return courses


def _outcome_docs(conn: sqlite3.Connection, subject_id: str) -> list[dict[str, Any]]:
    rows = _rows(
        conn,
        "SELECT o.*, s.uid AS session_uid FROM outcomes o LEFT JOIN sessions s "
        "ON s.id = o.session_id WHERE o.subject_id = ? ORDER BY o.taken_at, o.id",
        (subject_id,),
    )
    for row in rows:
        del row["id"], row["subject_id"], row["session_id"]
    return rows


class _Writer:
    """Members written into the ZIP with their SHA-256 and size noted for the manifest."""

    def __init__(self, zf: zipfile.ZipFile) -> None:
        self.zf = zf
        self.members: dict[str, dict[str, Any]] = {}

    def json(self, name: str, value: Any) -> None:
        data = json.dumps(value, ensure_ascii=False, allow_nan=True, indent=1).encode("utf-8")
        self.zf.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
        self.members[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}

    def chunks(self, name: str, rows: Iterator[tuple[Any, ...]]) -> tuple[str, int, int]:
        """The samples (already compressed: stored as they are); returns (sha256, blocks, samples)."""
        info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
        info.compress_type = zipfile.ZIP_STORED
        blocks = samples = 0
        with self.zf.open(info, "w", force_zip64=True) as raw:
            out = _HashingWriter(raw)
            out.write(_CHUNKS_MAGIC)
            for row in rows:
                out.write(_chunk_record(row))
                blocks += 1
                samples += int(row[1])
        sha = out.sha.hexdigest()
        self.members[name] = {"sha256": sha, "size": out.size}
        return sha, blocks, samples


def export_bundle(
    db: Database, subject_id: str, path: Path | str, *, progress: Progress | None = None
) -> BundleInfo:
    """Write everything stored about ``subject_id`` (not the name) into one bundle file at
    ``path`` (written safely: a 0600 temporary file renamed at the end). Returns what it holds."""
    subject_id = db.require_subject(subject_id)["id"]
    conn = _read_connection(db)
    try:
        with open_output(path, store_files(db.path), example=f"{subject_id}{SUFFIX}") as out:
            with zipfile.ZipFile(out.file, "w", allowZip64=True) as zf:
                info, exchanged = _write_members(conn, zf, subject_id, progress)
            target = out.path
    finally:
        conn.close()
    _remember_exported(db, exchanged)
    info.path = target
    info.bytes = target.stat().st_size
    return info


def _write_members(
    conn: sqlite3.Connection, zf: zipfile.ZipFile, subject_id: str, progress: Progress | None
) -> tuple[BundleInfo, dict[str, tuple[int, str]]]:
    """Write every member, the manifest last; returns what was written and, per session uid,
    (revision, content hash) of the version that went out."""
    writer = _Writer(zf)
    subject = conn.execute("SELECT id, notes FROM subjects WHERE id = ?", (subject_id,)).fetchone()
    writer.json("subject.json", {"id": subject["id"], "notes": subject["notes"]})
    courses = _course_docs(conn, subject_id)
    writer.json("courses.json", courses)
    outcomes = _outcome_docs(conn, subject_id)
    writer.json("outcomes.json", outcomes)
    rows = conn.execute(
        "SELECT * FROM sessions WHERE subject_id = ? ORDER BY started_at, id", (subject_id,)
    ).fetchall()
    if len(rows) > MAX_SESSIONS:
        raise StorageError(
            f"{subject_id} has {len(rows)} sessions: a bundle holds at most {MAX_SESSIONS}"
        )
    brief: list[dict[str, Any]] = []
    exchanged: dict[str, tuple[int, str]] = {}
    for done, row in enumerate(rows, start=1):
        doc = _session_doc(conn, row)
        sha, blocks, samples = writer.chunks(
            f"sessions/{row['uid']}.chunks", _chunk_rows(conn, row["id"])
        )
        doc["chunks"] = {"blocks": blocks, "samples": samples}
        doc["content_sha256"] = content_hash(doc, sha)
        writer.json(f"sessions/{row['uid']}.json", doc)
        exchanged[row["uid"]] = (int(doc["revision"]), str(doc["content_sha256"]))
        brief.append(_brief(doc))
        if progress is not None:
            progress(done, len(rows))
    counts = {
        "sessions": len(rows),
        "courses": len(courses),
        "outcomes": len(outcomes),
        "samples": sum(int(b["samples"]) for b in brief),
    }
    manifest = _write_manifest(zf, subject_id, counts, courses, brief, writer.members)
    return _info(Path(), manifest), exchanged


def _write_manifest(
    zf: zipfile.ZipFile,
    subject_id: str,
    counts: dict[str, int],
    courses: list[dict[str, Any]],
    sessions: list[dict[str, Any]],
    members: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    manifest = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "app_version": __version__,
        "schema_version": SCHEMA_VERSION,
        "created_at": time.time(),
        "subject_id": subject_id,
        "counts": counts,
        "course": _course_brief(courses),
        "sessions": sessions,
        "members": members,
    }
    data = json.dumps(manifest, separators=(",", ":")).encode("utf-8")
    if len(data) > MAX_MANIFEST_BYTES:  # cannot happen within MAX_SESSIONS (tested)
        raise StorageError(f"the bundle's manifest would exceed {MAX_MANIFEST_BYTES} bytes")
    zf.writestr("manifest.json", data, compress_type=zipfile.ZIP_DEFLATED)
    return manifest


def _brief(doc: dict[str, Any]) -> dict[str, Any]:
    row = doc["row"]
    return {
        "uid": doc["uid"],
        "started_at": row.get("started_at"),
        "status": row.get("status"),
        "setting": row.get("setting"),
        "protocol": row.get("protocol"),
        "revision": doc["revision"],
        "samples": doc["chunks"]["samples"],
    }


def _course_brief(courses: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The open course, else the latest (the one ``course show`` would show)."""
    if not courses:
        return None
    chosen = next((c for c in courses if c.get("end_date") is None), courses[-1])
    return {k: chosen.get(k) for k in ("uid", "start_date", "end_date", "clinician", "template")}


def _remember_exported(db: Database, exchanged: dict[str, tuple[int, str]]) -> None:
    """Note, per session, the version that left in the bundle (see :func:`_decide`)."""
    if not exchanged:
        return
    try:
        with db.transaction() as conn:
            for uid, (revision, sha) in exchanged.items():
                base = _base(conn, uid)
                seen = [*base.get("seen", []), sha] if base else [sha]
                _set_base(conn, uid, revision, sha, seen)
    except StorageError as exc:  # the bundle is written; only later conflict checks are weaker
        log.warning("could not note the exported versions in %s: %s", db.path, exc)


# -- reading a bundle ----------------------------------------------------------------------------------
def _bad(path: Path, what: str) -> StorageError:
    return StorageError(f"{path} {what}")


def _open_zip(path: Path) -> zipfile.ZipFile:
    if path.is_dir():
        raise StorageError(
            f"{path} is a folder, not a bundle file: give the file 'bundle export' wrote"
        )
    if not path.is_file():
        raise StorageError(f"there is no bundle file {path}: give the file 'bundle export' wrote")
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile):
        raise _bad(path, "is not a biofeedback bundle (not a ZIP file, or cut short)") from None
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc.strerror or exc}") from None


def _read_member(zf: zipfile.ZipFile, path: Path, name: str, limit: int) -> bytes:
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise _bad(path, f"has no {name} (not a biofeedback bundle, or damaged)") from None
    if info.file_size > limit:
        raise _bad(path, f"holds a {name} of {info.file_size} bytes: at most {limit}")
    try:
        with zf.open(info) as fh:
            return fh.read(limit + 1)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise _bad(path, f"is damaged ({name}: {exc})") from None


def _manifest(zf: zipfile.ZipFile, path: Path) -> dict[str, Any]:
    raw = _read_member(zf, path, "manifest.json", MAX_MANIFEST_BYTES)
    try:
        manifest = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _bad(path, "has a damaged manifest.json") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise _bad(path, "is not a biofeedback bundle (its manifest names another format)")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise _bad(path, "has a damaged manifest.json (no format version)")
    if version > FORMAT_VERSION:
        raise _bad(
            path,
            f"was written by a newer biofeedback (bundle format {version}, this one reads "
            f"{FORMAT_VERSION}): update biofeedback to import it",
        )
    schema = manifest.get("schema_version")
    if not isinstance(schema, int) or schema > SCHEMA_VERSION:
        raise _bad(
            path,
            f"holds data of a newer biofeedback (schema {schema}, this one knows "
            f"{SCHEMA_VERSION}): update biofeedback to import it",
        )
    Database.check_subject_id(str(manifest.get("subject_id", "")))
    if not isinstance(manifest.get("members"), dict):
        raise _bad(path, "has a damaged manifest.json (no list of members)")
    return manifest


def _declared_bytes(path: Path, members: dict[str, Any]) -> int:
    """The total size the manifest declares (checked against the limit before any checksum)."""
    total = 0
    for member in members.values():
        size = member.get("size") if isinstance(member, dict) else None
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise _bad(path, "has a damaged manifest.json (a member without a size)")
        total += size
    return total


def _check_layout(zf: zipfile.ZipFile, path: Path, manifest: dict[str, Any]) -> None:
    """Every member named in the manifest is there (and nothing else), within the limits."""
    infos = zf.infolist()
    names = [i.filename for i in infos]
    members = manifest["members"]
    if len(names) > MAX_MEMBERS or len(set(names)) != len(names):
        raise _bad(path, f"has {len(names)} members (at most {MAX_MEMBERS}, each once)")
    if set(names) != {*members, "manifest.json"}:
        missing = sorted({*members} - set(names))
        raise _bad(
            path,
            f"is damaged: {', '.join(missing[:3]) or 'unlisted members'} do not match its manifest",
        )
    if any(not _MEMBER_RE.match(n) for n in names):
        raise _bad(path, "holds members with names this version does not know")
    total = max(sum(i.file_size for i in infos), _declared_bytes(path, members))
    if total > MAX_TOTAL_BYTES:
        raise _bad(path, f"would unpack to {total} bytes: at most {MAX_TOTAL_BYTES}")
    if len(manifest.get("sessions", [])) > MAX_SESSIONS:
        raise _bad(path, f"holds more than {MAX_SESSIONS} sessions")
    stems = [n[: -len(".json")] for n in names if n.startswith("sessions/") and n.endswith(".json")]
    if any(f"{stem}.chunks" not in members for stem in stems) or 2 * len(stems) + 4 != len(names):
        raise _bad(path, "is damaged (a session's samples or details are missing)")


def _verify(zf: zipfile.ZipFile, path: Path, manifest: dict[str, Any]) -> None:
    """Every member's size and SHA-256 as the manifest says (read, never unpacked to disk)."""
    for name, expected in manifest["members"].items():
        sha = hashlib.sha256()
        size = 0
        try:
            with zf.open(name) as fh:
                while block := fh.read(1 << 20):
                    sha.update(block)
                    size += len(block)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError) as exc:
            raise _bad(path, f"is damaged ({name}: {exc}): export it again") from None
        if (
            not isinstance(expected, dict)
            or size != expected.get("size")
            or sha.hexdigest() != expected.get("sha256")
        ):
            raise _bad(path, f"is damaged ({name} does not match its checksum): export it again")


def _info(path: Path, manifest: dict[str, Any]) -> BundleInfo:
    counts = manifest.get("counts") or {}
    return BundleInfo(
        path=path,
        subject_id=str(manifest["subject_id"]),
        created_at=float(manifest.get("created_at") or 0.0),
        app_version=str(manifest.get("app_version", "")),
        format_version=int(manifest["format_version"]),
        schema_version=int(manifest["schema_version"]),
        counts={str(k): int(v) for k, v in counts.items()},
        course=manifest.get("course"),
        sessions=list(manifest.get("sessions") or []),
        bytes=path.stat().st_size if path.is_file() else 0,
    )


def read_bundle_info(path: Path | str) -> BundleInfo:
    """What the bundle at ``path`` holds (its manifest, checked), without importing anything."""
    path = Path(path).expanduser()
    with _open_zip(path) as zf:
        manifest = _manifest(zf, path)
        _check_layout(zf, path, manifest)
    return _info(path, manifest)


def _json_member(zf: zipfile.ZipFile, path: Path, name: str) -> Any:
    raw = _read_member(zf, path, name, MAX_JSON_MEMBER_BYTES)
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _bad(path, f"has a damaged {name}") from None


def _iter_chunks(fh: IO[bytes], path: Path, name: str) -> Iterator[tuple[Any, ...]]:
    """The blocks of a ``.chunks`` member (see :func:`_chunk_record`)."""

    def exact(n: int) -> bytes:
        data = fh.read(n)
        if len(data) != n:
            raise _bad(path, f"is damaged ({name} is cut short)")
        return data

    if exact(len(_CHUNKS_MAGIC)) != _CHUNKS_MAGIC:
        raise _bad(path, f"is damaged ({name} is not a block list of this version)")
    while head := fh.read(_CHUNK_HEAD.size):
        if len(head) != _CHUNK_HEAD.size:
            raise _bad(path, f"is damaged ({name} is cut short)")
        first, n, codec, n_data, n_mask, n_flags = _CHUNK_HEAD.unpack(head)
        if n == 0 or max(n_data, n_mask, n_flags) > MAX_JSON_MEMBER_BYTES:
            raise _bad(path, f"is damaged ({name} has an impossible block)")
        if codec not in (CODEC_INT16_DELTA, CODEC_FLOAT32):
            raise _bad(path, f"stores samples with codec {codec}, unknown here: update biofeedback")
        data = exact(n_data)
        mask = None if n_mask < 0 else exact(n_mask)
        flags = None if n_flags < 0 else exact(n_flags)
        yield first, n, codec, data, mask, flags


# -- import --------------------------------------------------------------------------------------------
class _DryRun(Exception):
    """Raised at the end of a dry run so that the transaction is rolled back."""


@dataclass
class _Context:
    zf: zipfile.ZipFile
    path: Path
    conn: sqlite3.Connection
    result: BundleImport
    manifest: dict[str, Any]
    courses: dict[str, int] = field(default_factory=dict)


def import_bundle(
    db: Database, path: Path | str, *, progress: Progress | None = None, dry_run: bool = False
) -> BundleImport:
    """Merge the bundle at ``path`` into ``db`` (all or nothing; importing it twice adds
    nothing). ``dry_run``: work out what would change, then change nothing."""
    path = Path(path).expanduser()
    try:
        return _import(db, path, progress, dry_run)
    except StorageError as exc:
        if str(exc).endswith("nothing was imported"):
            raise
        raise StorageError(f"{exc}; nothing was imported") from None


def _import(db: Database, path: Path, progress: Progress | None, dry_run: bool) -> BundleImport:
    with _open_zip(path) as zf:
        manifest = _manifest(zf, path)
        _check_layout(zf, path, manifest)
        _verify(zf, path, manifest)
        subject = _json_member(zf, path, "subject.json")
        courses = _json_member(zf, path, "courses.json")
        outcomes = _json_member(zf, path, "outcomes.json")
        if not isinstance(subject, dict) or subject.get("id") != manifest["subject_id"]:
            raise _bad(path, "is damaged (subject.json does not name the bundle's subject)")
        result = BundleImport(path=path, subject_id=manifest["subject_id"], dry_run=dry_run)
        uids = [  # in the order written: oldest first
            n[len("sessions/") : -len(".json")]
            for n in manifest["members"]
            if n.endswith(".json") and n.startswith("sessions/")
        ]
        try:
            with db.transaction() as conn:
                conn.row_factory = sqlite3.Row
                ctx = _Context(zf, path, conn, result, manifest)
                try:
                    _merge_all(ctx, subject, courses, outcomes, uids, progress)
                finally:
                    conn.row_factory = None
                if dry_run:
                    raise _DryRun
        except _DryRun:
            pass
    log.info("bundle %s: %s", path, result.text())
    return result


def _merge_all(
    ctx: _Context,
    subject: dict[str, Any],
    courses: Any,
    outcomes: Any,
    uids: list[str],
    progress: Progress | None,
) -> None:
    if not isinstance(courses, list) or not isinstance(outcomes, list):
        raise _bad(ctx.path, "is damaged (courses.json or outcomes.json is not a list)")
    try:
        _merge_subject(ctx, subject)
        for course in courses:
            _merge_course(ctx, course)
        for done, uid in enumerate(uids, start=1):
            _merge_session(ctx, uid)
            if progress is not None:
                progress(done, len(uids))
        for outcome in outcomes:
            _merge_outcome(ctx, outcome)
    except sqlite3.IntegrityError as exc:
        raise _bad(ctx.path, f"holds data this store refuses ({exc})") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _bad(ctx.path, f"is damaged (a field is missing or wrong: {exc})") from None


def _merge_subject(ctx: _Context, subject: dict[str, Any]) -> None:
    sid = ctx.result.subject_id
    notes = str(subject.get("notes") or "")
    row = ctx.conn.execute("SELECT notes FROM subjects WHERE id = ?", (sid,)).fetchone()
    if row is None:
        ctx.conn.execute(
            "INSERT INTO subjects (id, notes, created_at) VALUES (?, ?, ?)",
            (sid, notes, time.time()),
        )
        ctx.result.subject_added = True
    elif not row["notes"] and notes:
        ctx.conn.execute("UPDATE subjects SET notes = ? WHERE id = ?", (notes, sid))


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def _insert(conn: sqlite3.Connection, table: str, values: dict[str, Any]) -> int:
    known = _columns(conn, table)
    values = {k: v for k, v in values.items() if k in known}
    names = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    cur = conn.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", list(values.values()))
    return int(cur.lastrowid or 0)


def _update(conn: sqlite3.Connection, table: str, row_id: int, values: dict[str, Any]) -> None:
    known = _columns(conn, table)
    values = {k: v for k, v in values.items() if k in known}
    assignments = ", ".join(f"{k} = ?" for k in values)
    conn.execute(f"UPDATE {table} SET {assignments} WHERE id = ?", [*values.values(), row_id])


def _other_open_course(ctx: _Context, uid: str) -> None:
    sid = ctx.result.subject_id
    row = ctx.conn.execute(
        "SELECT start_date FROM courses WHERE subject_id = ? AND end_date IS NULL AND uid != ?",
        (sid, uid),
    ).fetchone()
    if row is not None:
        raise StorageError(
            f"{sid} has another open course here (started {row[0]}) than the bundle's: end one "
            f"of them ('biofeedback course end --subject {sid}' here, or where the bundle came "
            "from), then import again"
        )


def _check_course(ctx: _Context, course: dict[str, Any]) -> None:
    """Dates and prescriptions as ``course show`` reads them."""
    uid = str(course["uid"])
    if not _UID_RE.match(uid):
        raise _bad(ctx.path, f"is damaged (course uid {uid!r})")
    try:
        dates = [("start", course["start_date"]), ("end", course.get("end_date"))]
        for rx in course.get("prescriptions") or []:
            dates += [("valid from", rx["valid_from"]), ("until", rx.get("until_date"))]
            protocols = json.loads(rx["protocols_json"])
            if not isinstance(protocols, list) or not all(isinstance(p, str) for p in protocols):
                raise StorageError("protocols are not a list of names")
        for what, text in dates:
            if text is not None:
                parse_date(text, what)
        float(course["updated_at"])
    except (StorageError, KeyError, TypeError, ValueError) as exc:
        raise _bad(ctx.path, f"is damaged (course {uid}: {exc})") from None


def _merge_course(ctx: _Context, course: dict[str, Any]) -> None:
    _check_course(ctx, course)
    uid = str(course["uid"])
    values = {k: v for k, v in course.items() if k != "prescriptions"}
    values["subject_id"] = ctx.result.subject_id
    local = ctx.conn.execute("SELECT * FROM courses WHERE uid = ?", (uid,)).fetchone()
    newer = True
    if local is None:
        if course.get("end_date") is None:
            _other_open_course(ctx, uid)
        course_id = _insert(ctx.conn, "courses", values)
        ctx.result.courses_added += 1
    else:
        course_id = int(local["id"])
        if local["subject_id"] != ctx.result.subject_id:
            raise _bad(ctx.path, f"holds course {uid} that belongs to {local['subject_id']} here")
        newer = float(course["updated_at"]) > float(local["updated_at"])
        if newer:
            if course.get("end_date") is None:
                _other_open_course(ctx, uid)
            _update(ctx.conn, "courses", course_id, values)
            ctx.result.courses_updated += 1
    ctx.courses[uid] = course_id
    for rx in course.get("prescriptions") or []:
        _merge_prescription(ctx, course_id, rx, newer)


def _merge_prescription(ctx: _Context, course_id: int, rx: dict[str, Any], newer: bool) -> None:
    local = ctx.conn.execute(
        "SELECT * FROM prescriptions WHERE course_id = ? AND valid_from = ?",
        (course_id, rx["valid_from"]),
    ).fetchone()
    values = {**rx, "course_id": course_id}
    if local is None:
        _insert(ctx.conn, "prescriptions", values)
        ctx.result.prescriptions_added += 1
        return
    keys = ("protocols_json", "sessions_per_week", "minutes_per_session", "until_date")
    if newer and any(_canon(local[k]) != _canon(rx.get(k)) for k in keys):
        _update(ctx.conn, "prescriptions", int(local["id"]), values)
        ctx.result.prescriptions_updated += 1


# -- sessions ------------------------------------------------------------------------------------------
def _base(conn: sqlite3.Connection, uid: str) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT value FROM store_settings WHERE key = ?", (BASE_KEY + uid,)
    ).fetchone()
    if row is None:
        return None
    try:
        value = json.loads(row[0])
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _set_base(
    conn: sqlite3.Connection,
    uid: str,
    revision: int,
    sha: str,
    seen: list[str],
    copied: str | None = None,
) -> None:
    """Note the version of session ``uid`` last exchanged: its revision, the content here then
    (``sha``), the incoming versions already dealt with (``seen``) and those stored as conflict
    copies (kept, plus ``copied``)."""
    before = _base(conn, uid) or {}
    copies = [*before.get("copied", []), *([copied] if copied else [])]
    value = {
        "revision": int(revision),
        "sha256": sha,
        "seen": list(dict.fromkeys(seen))[-MAX_SEEN:],
        "copied": list(dict.fromkeys(copies))[-MAX_SEEN:],
    }
    conn.execute(
        "INSERT INTO store_settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET "
        "value = excluded.value",
        (BASE_KEY + uid, json.dumps(value)),
    )


def _decide(base: dict[str, Any] | None, local_rev: int, local_sha: str, rev: int, sha: str) -> str:
    """'already', 'replace', 'local-newer' or 'conflict' for an incoming version of a session
    stored here. ``base`` is the version last exchanged through a bundle (None: never)."""
    if sha == local_sha or (base is not None and sha in base.get("copied", [])):
        return "already"
    if base is not None and sha in base.get("seen", []):
        # had before: nothing to do; "already" when it is still the version here
        unchanged = local_sha == base.get("sha256") and rev == base.get("revision")
        return "already" if unchanged else "local-newer"
    if base is None:
        if rev == local_rev:
            return "conflict"
        return "replace" if rev > local_rev else "local-newer"
    local_changed = local_sha != base.get("sha256")
    incoming_changed = rev > int(base.get("revision", 0))
    if incoming_changed and local_changed:
        return "conflict"
    if incoming_changed:
        return "replace"
    return "local-newer"


def _check_session(ctx: _Context, doc: dict[str, Any]) -> None:
    """What the rest of the app relies on when it reads a session (a bundle made by hand or by
    another program could lack it): the status, the stream description, the JSON columns."""
    row = doc["row"]
    problem = None
    if row.get("status") not in STATUSES:
        problem = f"status {row.get('status')!r}"
    elif not isinstance(doc.get("revision"), int) or not isinstance(
        row.get("started_at"), float | int
    ):
        problem = "no revision or start time"
    else:
        try:
            info_from_dict(json.loads(row["info_json"]))
            for key in ("pipeline_json", "hardware_json", "summary_json"):
                if not isinstance(json.loads(row.get(key) or "{}"), dict):
                    problem = key
            for phase in doc.get("phases") or []:
                json.loads(phase["measures_json"])
        except (KeyError, TypeError, ValueError):
            problem = "a stream description or measures that cannot be read"
    if problem is not None:
        raise _bad(ctx.path, f"is damaged (session {doc['uid']}: {problem})")


def _session_values(ctx: _Context, doc: dict[str, Any]) -> dict[str, Any]:
    """The session row to store here: the bundle's, with this data dir's course id."""
    _check_session(ctx, doc)
    row = dict(doc["row"])
    course_uid = doc.get("course_uid")
    row.update(
        subject_id=ctx.result.subject_id,
        course_id=None if course_uid is None else ctx.courses.get(course_uid),
        writer_pid=None,
        writer_host=None,
        heartbeat_at=None,
        uid=doc["uid"],
    )
    if row["status"] == "recording":
        # still being recorded where it came from: here nobody is writing it
        summary = json.loads(row.get("summary_json") or "{}")
        summary["interrupted_reason"] = "still recording when the bundle was written"
        row["summary_json"] = json.dumps(summary, sort_keys=True)
        row["status"] = "interrupted"
        row["ended_at"] = row.get("ended_at") or row.get("started_at")
    return row


def _write_session(
    ctx: _Context, doc: dict[str, Any], values: dict[str, Any], session_id: int | None
) -> tuple[int, str]:
    """Insert (``session_id`` None) or replace a session with its markers, phases, threshold log
    and samples; keeps the bundle's revision. Returns (id, sha256 of the samples member)."""
    conn = ctx.conn
    if session_id is None:
        session_id = _insert(conn, "sessions", values)
    else:
        for table in ("markers", "phases", "threshold_log", "chunks"):
            conn.execute(f"DELETE FROM {table} WHERE session_id = ?", (session_id,))
        _update(conn, "sessions", session_id, values)
    for table, columns, items in (
        ("markers", _MARKER_COLUMNS, doc.get("markers") or []),
        ("phases", _PHASE_COLUMNS, doc.get("phases") or []),
        ("threshold_log", _THRESHOLD_COLUMNS, doc.get("threshold_log") or []),
    ):
        for item in items:
            _insert(conn, table, {**{c: item.get(c) for c in columns}, "session_id": session_id})
    sha = _copy_chunks(ctx, doc["uid"], session_id)
    # the triggers counted the rows above as changes: put the bundle's revision back (set it
    # twice, so the trigger sees a revision set by the writer even when the numbers agree)
    conn.execute("UPDATE sessions SET revision = -1 WHERE id = ?", (session_id,))
    conn.execute(
        "UPDATE sessions SET revision = ?, updated_at = ? WHERE id = ?",
        (int(doc["revision"]), doc.get("updated_at"), session_id),
    )
    return session_id, sha


def _copy_chunks(ctx: _Context, uid: str, session_id: int) -> str:
    name = f"sessions/{uid}.chunks"
    digest = hashlib.sha256(_CHUNKS_MAGIC)
    with ctx.zf.open(name) as fh:
        for first, n, codec, data, mask, flags in _iter_chunks(fh, ctx.path, name):
            digest.update(_chunk_record((first, n, codec, data, mask, flags)))
            ctx.conn.execute(
                "INSERT INTO chunks (session_id, first_index, n, codec, data, nan_mask, flags) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (session_id, first, n, codec, data, mask, flags),
            )
    sha = digest.hexdigest()
    if sha != _member_sha(ctx, name):
        raise _bad(ctx.path, f"changed while it was imported ({name}): import it again")
    return sha


def _member_sha(ctx: _Context, name: str) -> str:
    return str(ctx.manifest["members"][name]["sha256"])


def _merge_session(ctx: _Context, uid: str) -> None:
    doc = _json_member(ctx.zf, ctx.path, f"sessions/{uid}.json")
    if not isinstance(doc, dict) or doc.get("uid") != uid:
        raise _bad(ctx.path, f"is damaged (sessions/{uid}.json names another session)")
    chunks_sha = _member_sha(ctx, f"sessions/{uid}.chunks")
    incoming = content_hash(doc, chunks_sha)
    values = _session_values(ctx, doc)
    local = ctx.conn.execute("SELECT * FROM sessions WHERE uid = ?", (uid,)).fetchone()
    recording = doc["row"].get("status") == "recording"
    if local is None:
        ctx.result.recording_closed += recording
        _, sha = _write_session(ctx, doc, values, None)
        _remember(ctx, uid, doc, sha, [incoming])
        ctx.result.sessions_added += 1
        return
    if local["subject_id"] != ctx.result.subject_id:
        raise _bad(ctx.path, f"holds session {uid}, which belongs to {local['subject_id']} here")
    base = _base(ctx.conn, uid)
    local_sha, local_chunks = _local_hashes(ctx.conn, local)
    decision = _decide(base, int(local["revision"]), local_sha, int(doc["revision"]), incoming)
    seen = [*(base or {}).get("seen", []), incoming]
    if decision == "replace":
        ctx.result.recording_closed += recording
        if local_chunks != chunks_sha:
            _drop_overview(ctx.conn, int(local["id"]))
        _, sha = _write_session(ctx, doc, values, int(local["id"]))
        ctx.result.sessions_replaced += 1
        _remember(ctx, uid, doc, sha, seen)
        return
    if decision == "already":
        ctx.result.sessions_already += 1
    elif decision == "local-newer":
        ctx.result.sessions_local_newer += 1
    else:
        # both changed: keep both. The one here still counts as changed (the old base is kept),
        # so a later version from elsewhere is kept beside it too until one copy is deleted.
        ctx.result.conflicts.append((uid, _conflict_copy(ctx, doc, values)))
        revision = max(int(doc["revision"]), int((base or {}).get("revision", 0)))
        _set_base(ctx.conn, uid, revision, str((base or {}).get("sha256", "")), seen, incoming)
        return
    if base is None and decision == "already":
        _set_base(ctx.conn, uid, int(local["revision"]), local_sha, seen)
    elif base is not None and incoming not in base.get("seen", []):
        _set_base(ctx.conn, uid, int(base.get("revision", 0)), str(base.get("sha256")), seen)


def _drop_overview(conn: sqlite3.Connection, session_id: int) -> None:
    """Other samples than those its envelope overview was made from (schema 5): drop it, so
    reports compute it from the samples again."""
    if _columns(conn, "overviews"):
        conn.execute("DELETE FROM overviews WHERE session_id = ?", (session_id,))


def _remember(
    ctx: _Context, uid: str, doc: dict[str, Any], chunks_sha: str, seen: list[str]
) -> None:
    """Note the version just stored as the one last exchanged (its samples are the bundle's)."""
    row = ctx.conn.execute("SELECT * FROM sessions WHERE uid = ?", (uid,)).fetchone()
    here = content_hash(_session_doc(ctx.conn, row), chunks_sha)
    _set_base(ctx.conn, uid, int(doc["revision"]), here, seen)


def _conflict_copy(ctx: _Context, doc: dict[str, Any], values: dict[str, Any]) -> str:
    """Store the bundle's version beside the one here, under a new uid, attached to no course
    (so adherence does not count the session twice), with a note saying what it is."""
    copy_uid = uuid.uuid4().hex
    name = os.fsencode(ctx.path.name).decode("utf-8", "replace")
    note = f"conflict copy of {doc['uid']} from bundle {name}"
    summary = json.loads(values.get("summary_json") or "{}")
    summary["conflict_copy_of"] = doc["uid"]
    copy = {
        **values,
        "uid": copy_uid,
        "course_id": None,
        "notes": f"{note}; {values['notes']}" if values.get("notes") else note,
        "summary_json": json.dumps(summary, sort_keys=True),
    }
    _write_session(ctx, doc, copy, None)
    return copy_uid


# -- outcomes ------------------------------------------------------------------------------------------
def _merge_outcome(ctx: _Context, outcome: dict[str, Any]) -> None:
    uid = str(outcome["uid"])
    try:
        readable = all(
            isinstance(json.loads(outcome[k]), dict) for k in ("answers_json", "scores_json")
        )
        readable = readable and math.isfinite(float(outcome["taken_at"]))
    except (KeyError, TypeError, ValueError):
        readable = False
    if not readable or not uid.strip():
        raise _bad(ctx.path, f"is damaged (questionnaire {uid}: answers or scores unreadable)")
    local = ctx.conn.execute("SELECT * FROM outcomes WHERE uid = ?", (uid,)).fetchone()
    session_uid = outcome.get("session_uid")
    session_id = None
    if session_uid is not None:
        found = ctx.conn.execute("SELECT id FROM sessions WHERE uid = ?", (session_uid,)).fetchone()
        session_id = None if found is None else int(found[0])
    if local is None:
        values = {k: v for k, v in outcome.items() if k != "session_uid"}
        _insert(
            ctx.conn,
            "outcomes",
            {**values, "subject_id": ctx.result.subject_id, "session_id": session_id},
        )
        ctx.result.outcomes_added += 1
    elif all(_canon(local[k]) == _canon(outcome.get(k)) for k in _OUTCOME_CONTENT):
        ctx.result.outcomes_already += 1
    else:
        ctx.result.outcomes_differ += 1
