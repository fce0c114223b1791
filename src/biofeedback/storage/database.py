"""The session store: one SQLite database (WAL) with subjects, sessions, raw samples and results.

Raw samples are kept as the source delivered them (ADC counts from boards) in blocks of up to
about a second, together with the :class:`~biofeedback.core.types.StreamInfo` needed to turn them
into microvolts again, so every stored session can be replayed through any pipeline later.
See docs/storage.md for the schema, the sample codecs and the crash-safety rules.

Thread use: one :class:`Database` object may be shared between threads (every method takes an
internal lock). The :class:`~biofeedback.storage.recorder.Recorder` opens its own connection on its
writer thread; SQLite's WAL mode lets readers (GUI, CLI) run while it writes.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import random
import re
import socket
import sqlite3
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from biofeedback.core.types import ChannelInfo, ChannelKind, Chunk, Flag, StreamInfo
from biofeedback.errors import StorageError
from biofeedback.session_details import TEXT_FIELDS
from biofeedback.storage.integrity import (
    DamagedDatabaseError,
    damaged_message,
    run_check,
    start_daily_backup,
)
from biofeedback.storage.schema import sqlite_migrations

DB_FILENAME = "biofeedback.sqlite"

#: Session states. 'recording' while a recorder is alive; 'interrupted' when the process died
#: (closed at the next start by :meth:`Database.recover_interrupted`) or the recording failed.
STATUSES = ("recording", "complete", "interrupted")

PAIN_FIELDS = ("pain_before", "pain_after")

#: A 'recording' session whose writer has not been heard of for this long is closed as
#: interrupted even if its process id still exists (pid reuse, another host on a shared disk).
STALE_HEARTBEAT_S = 30.0

#: Several recordings and readers share one database: a write that finds it busy waits (SQLite's
#: busy handler, up to BUSY_TIMEOUT_S per attempt) and is retried with jittered back-off until
#: BUSY_WAIT_S have passed; only then does it fail, as a StorageError that says so.
BUSY_TIMEOUT_S = 5.0
BUSY_WAIT_S = 30.0

_T = TypeVar("_T")

log = logging.getLogger(__name__)

_SUBJECT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
#: Longest subject name and notes kept.
MAX_SUBJECT_NAME_CHARS = 100
MAX_SUBJECT_NOTES_CHARS = 4000

# Sample codecs (see docs/storage.md). Both are lossless for what they store.
CODEC_INT16_DELTA = 1  # integer samples: per-channel first difference, wrapped to 16 bits
CODEC_FLOAT32 = 2  # anything else (imported uV/mV files): float32
_ZLIB_LEVEL = 6

#: Where a session was recorded (``sessions.setting``); NULL for sessions recorded before courses.
SETTINGS = ("clinic", "home")

#: (version, script). Version N's script upgrades a database at version N-1. Rendered from the
#: one description of the tables (storage/schema.py): a new version is described there.
MIGRATIONS: list[tuple[int, str]] = sqlite_migrations()
SCHEMA_VERSION = MIGRATIONS[-1][0]


# -- StreamInfo <-> JSON ---------------------------------------------------------------------------
def info_to_dict(info: StreamInfo) -> dict[str, Any]:
    """A JSON-able description of a stream (inverse of :func:`info_from_dict`)."""
    data = asdict(info)
    data["channels"] = [{**asdict(ch), "kind": str(ch.kind)} for ch in info.channels]
    return data


def info_from_dict(data: dict[str, Any]) -> StreamInfo:
    """Rebuild a StreamInfo stored by :func:`info_to_dict`."""
    channels = tuple(
        ChannelInfo(
            name=str(ch["name"]),
            kind=ChannelKind(ch["kind"]),
            gain=float(ch.get("gain", 1.0)),
            scale_uv=float(ch.get("scale_uv", 1.0)),
            pin=ch.get("pin"),
        )
        for ch in data["channels"]
    )
    return StreamInfo(
        fs_hz=float(data["fs_hz"]),
        channels=channels,
        adc_bits=data.get("adc_bits"),
        vref_v=data.get("vref_v"),
        units=str(data.get("units", "counts")),
        board=str(data.get("board", "")),
        device=str(data.get("device", "")),
        realtime=bool(data.get("realtime", True)),
        fs_estimated=bool(data.get("fs_estimated", False)),
        extra={str(k): str(v) for k, v in dict(data.get("extra", {})).items()},
    )


# -- sample codecs ---------------------------------------------------------------------------------
@dataclass
class EncodedBlock:
    """One block of samples as stored in the ``chunks`` table."""

    codec: int
    data: bytes
    nan_mask: bytes | None
    flags: bytes | None


def _shuffle(arr: np.ndarray) -> bytes:
    # Byte planes per channel: the high bytes of small numbers are mostly equal and compress well.
    arr = np.ascontiguousarray(arr)  # column selections can arrive in Fortran order
    n, ch = arr.shape
    width = arr.dtype.itemsize
    return np.ascontiguousarray(
        arr.view(np.uint8).reshape(n, ch, width).transpose(2, 1, 0)
    ).tobytes()


def _unshuffle(raw: bytes, n: int, ch: int, dtype: np.dtype) -> np.ndarray:
    width = dtype.itemsize
    planes = np.frombuffer(raw, dtype=np.uint8).reshape(width, ch, n)
    return np.ascontiguousarray(planes.transpose(2, 1, 0)).view(dtype).reshape(n, ch)


def encode_block(samples: np.ndarray, flags: np.ndarray) -> EncodedBlock:
    """Compress a block losslessly: integers within int16 as wrapped first differences, else
    float32. NaN positions go in a separate bit mask; all-zero flags are not stored. +-inf is
    never stored: it becomes NaN with ``Flag.INVALID`` on its row (the pipeline screens live
    input the same way before it gets here)."""
    values = np.asarray(samples, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    nan = ~np.isfinite(values)
    nan_mask = zlib.compress(np.packbits(nan.ravel()).tobytes()) if nan.any() else None
    filled = np.where(nan, 0.0, values)
    flag_bytes = None
    flags = np.asarray(flags, dtype=np.uint16)
    if nan.any():
        inf_rows = np.isinf(values).any(axis=1)
        if inf_rows.any():
            flags = flags | np.where(inf_rows, np.uint16(Flag.INVALID), np.uint16(0))
    if flags.any():
        flag_bytes = zlib.compress(flags.astype("<u2").tobytes(), _ZLIB_LEVEL)
    is_int = (
        len(filled) > 0
        and np.all(np.isfinite(filled))
        and filled.min() >= -32768
        and filled.max() <= 32767
        and np.array_equal(filled, np.round(filled))
    )
    if is_int:
        ints = filled.astype(np.int64)
        diffs = np.diff(ints, axis=0, prepend=np.zeros((1, ints.shape[1]), dtype=np.int64))
        wrapped = (diffs & 0xFFFF).astype("<u2")
        return EncodedBlock(
            CODEC_INT16_DELTA, zlib.compress(_shuffle(wrapped), _ZLIB_LEVEL), nan_mask, flag_bytes
        )
    as32 = np.where(np.isfinite(filled), filled, 0.0).astype("<f4")
    return EncodedBlock(
        CODEC_FLOAT32, zlib.compress(_shuffle(as32), _ZLIB_LEVEL), nan_mask, flag_bytes
    )


def decode_block(
    codec: int, data: bytes, nan_mask: bytes | None, flags: bytes | None, n: int, ch: int
) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`encode_block`: (samples float64 [n, ch], flags uint16 [n])."""
    raw = zlib.decompress(data)
    if codec == CODEC_INT16_DELTA:
        wrapped = _unshuffle(raw, n, ch, np.dtype("<u2")).astype(np.int64)
        total = np.cumsum(wrapped, axis=0)
        values = (((total + 32768) % 65536) - 32768).astype(np.float64)
    elif codec == CODEC_FLOAT32:
        values = _unshuffle(raw, n, ch, np.dtype("<f4")).astype(np.float64)
    else:
        raise StorageError(
            f"stored samples use codec {codec}, unknown to this version: update biofeedback"
        )
    if nan_mask is not None:
        bits = np.unpackbits(np.frombuffer(zlib.decompress(nan_mask), dtype=np.uint8))
        values[bits[: n * ch].reshape(n, ch).astype(bool)] = np.nan
    if flags is not None:
        flag_arr = np.frombuffer(zlib.decompress(flags), dtype="<u2").astype(np.uint16)
    else:
        flag_arr = np.zeros(n, dtype=np.uint16)
    return values, flag_arr


# -- records ----------------------------------------------------------------------------------------
@dataclass
class SessionRecord:
    """One stored session (a row of ``sessions`` with its JSON decoded)."""

    id: int
    subject_id: str | None
    protocol: str
    started_at: float
    ended_at: float | None
    status: str
    info: StreamInfo
    pipeline_settings: dict[str, Any]
    hardware: dict[str, Any]
    electrode_site: str = ""
    muscle: str = ""
    side: str = ""
    electrode_type: str = ""
    skin_prep: str = ""
    isolation_mode: str = ""
    clinician: str = ""
    notes: str = ""
    pain_before: float | None = None
    pain_after: float | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    first_index: int | None = None
    end_index: int | None = None
    n_samples: int = 0
    #: Stable unique id (32 hex digits): the same session in any data dir it is copied to.
    uid: str = ""
    #: The course the session belongs to (None: recorded outside a course).
    course_id: int | None = None
    #: 'clinic', 'home', or None (recorded before courses existed, or not said).
    setting: str | None = None
    #: The recording machine's offset from UTC at the start, in minutes (None: not stored).
    utc_offset_min: int | None = None
    #: How many times the session (its row, markers, phases or threshold log) has changed, and
    #: when it last did (Unix time): a copy with a higher revision is the newer one.
    revision: int = 0
    updated_at: float | None = None

    @property
    def conflict_copy_of(self) -> str | None:
        """The uid of the session a bundle's conflict copy was made from (summary
        ``conflict_copy_of``, set by :mod:`biofeedback.storage.bundle`), else None."""
        uid = self.summary.get("conflict_copy_of")
        return str(uid) if uid else None

    def label(self) -> str:
        """ "session 14 (P001, 2026-12-02 10:31, 20 min, clinic)": how a question names it."""
        when = self.local_start.strftime("%Y-%m-%d %H:%M")
        parts = [self.subject_id or "no subject", when, f"{self.duration_s / 60:.0f} min"]
        parts.append(self.setting or "setting not known")
        if self.conflict_copy_of:
            parts.append("conflict copy")
        return f"session {self.id} ({', '.join(parts)})"

    @property
    def local_start(self) -> dt.datetime:
        """The wall-clock time the session started where it was recorded (naive datetime): from
        the stored UTC offset, else this machine's local time zone."""
        return local_start_time(self.started_at, self.utc_offset_min)

    @property
    def fs_hz(self) -> float:
        """Sampling rate of the stored samples."""
        return self.info.fs_hz

    @property
    def duration_s(self) -> float:
        """Recorded span in seconds (sample clock, gaps included)."""
        if self.first_index is None or self.end_index is None:
            return 0.0
        return (self.end_index - self.first_index) / self.info.fs_hz

    def to_dict(self) -> dict[str, Any]:
        """JSON-able view (for ``biofeedback sessions --json``)."""
        data = {
            key: getattr(self, key)
            for key in (
                "id",
                "subject_id",
                "protocol",
                "started_at",
                "ended_at",
                "status",
                *TEXT_FIELDS,
                *PAIN_FIELDS,
                "first_index",
                "end_index",
                "n_samples",
                "uid",
                "course_id",
                "setting",
                "utc_offset_min",
                "revision",
                "updated_at",
            )
        }
        data["fs_hz"] = self.info.fs_hz
        data["duration_s"] = round(self.duration_s, 3)
        data["info"] = info_to_dict(self.info)
        data["pipeline_settings"] = self.pipeline_settings
        data["hardware"] = self.hardware
        data["summary"] = self.summary
        return data


def utc_offset_minutes(when: float) -> int:
    """This machine's offset from UTC at Unix time ``when``, in whole minutes."""
    offset = dt.datetime.fromtimestamp(when).astimezone().utcoffset()
    return 0 if offset is None else round(offset.total_seconds() / 60.0)


def local_start_time(started_at: float, utc_offset_min: int | None) -> dt.datetime:
    """Wall-clock (naive) time of Unix time ``started_at`` at ``utc_offset_min`` minutes from
    UTC; this machine's local time when the offset is unknown (sessions stored before schema 3)."""
    if utc_offset_min is None:
        return dt.datetime.fromtimestamp(started_at)
    utc = dt.datetime.fromtimestamp(started_at, tz=dt.UTC)
    return (utc + dt.timedelta(minutes=int(utc_offset_min))).replace(tzinfo=None)


def _json_default(value: object) -> object:
    # numpy scalars/arrays and enums appear in measure dicts; store them as plain JSON.
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "value"):
        return value.value  # enums
    raise TypeError(f"cannot store {type(value).__name__} in the session database")


def _inserted_id(cur: sqlite3.Cursor) -> int:
    """The rowid of the row an INSERT on ``cur`` just made.

    sqlite3 sets ``lastrowid`` after every successful single-row INSERT; None would mean the
    statement inserted nothing, which the callers' INSERT ... VALUES cannot do without raising.
    """
    rowid = cur.lastrowid
    if rowid is None:
        raise StorageError("the database did not report the id of the row just written")
    return int(rowid)


def _dumps(value: object) -> str:
    return json.dumps(value, default=_json_default, allow_nan=True, sort_keys=True)


def existing_database_path(path: Path | str | None = None) -> Path:
    """The session database at ``path`` (default: the data folder's); creates nothing.

    Raises StorageError (one line) when there is none, so that reading commands and replays of
    stored sessions on a machine without data neither make the data folder nor an empty database.
    """
    if path is None:
        from biofeedback.config import data_dir

        path = data_dir(create=False) / DB_FILENAME
    path = Path(path).expanduser()
    if not path.is_file():
        raise StorageError(
            f"there is no session database at {path}: record a session first, or give the "
            "folder that holds it with --data-dir"
        )
    return path


def _error_advice(exc: BaseException, path: Path) -> str:
    """Turn an sqlite3 error into a sentence that says what to do."""
    text = str(exc).lower()
    if "disk is full" in text or "database or disk is full" in text:
        return f"the disk holding {path} is full: free some space, then record again"
    if "readonly" in text or "read-only" in text or "permission" in text:
        return f"cannot write {path}: check that you own it and that it is not read-only"
    if "unable to open" in text:
        return f"cannot open {path}: check that the folder exists and that you may write there"
    if "locked" in text or "busy" in text:
        return busy_advice(path)
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        from biofeedback.storage.integrity import BACKUP_FOLDER

        return (
            f"{path} is damaged or not a biofeedback database, so nothing is written into it: "
            "run 'biofeedback db check' to see the problems, then move it aside (keep it) and "
            f"copy in a sound backup (the automatic ones are in {path.parent / BACKUP_FOLDER}); "
            "without one, a new database is created at the next start"
        )
    return f"session database {path}: {exc}"


def is_busy(exc: BaseException) -> bool:
    """True for SQLite's "database is locked" / "busy" errors (another connection writing)."""
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def busy_advice(path: Path, waited_s: float | None = None) -> str:
    """The message of a database that stayed busy (beyond the bounded wait, when given)."""
    how_long = f"stayed busy for {waited_s:g} s" if waited_s is not None else "is busy"
    return (
        f"{path} {how_long} (another program kept it locked for writing: another biofeedback "
        "window, recording or a database tool): close it, or try again"
    )


def retry_busy(
    action: Callable[[], _T], path: Path, what: str = "write", budget_s: float | None = None
) -> _T:
    """Run ``action`` (one SQLite statement such as ``BEGIN IMMEDIATE`` or ``COMMIT``); while it
    fails because the database is busy, retry with jittered exponential back-off (20 ms .. 1 s)
    for up to ``budget_s`` (default :data:`BUSY_WAIT_S`) in total, then raise
    :class:`StorageError` with advice. Other sqlite3 errors are raised unchanged."""
    budget = BUSY_WAIT_S if budget_s is None else budget_s
    deadline = time.monotonic() + budget
    delay = 0.02
    attempts = 0
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
            attempts += 1
            left = deadline - time.monotonic()
            if left <= 0:
                log.warning("%s: %s still busy after %d attempts", path, what, attempts)
                raise StorageError(busy_advice(path, budget)) from None
            time.sleep(min(left, delay * random.uniform(0.5, 1.5)))
            delay = min(1.0, delay * 2.0)


class Database:
    """The session store.

    Parameters
    ----------
    path
        Database file; default ``data_dir() / "biofeedback.sqlite"``. A missing parent folder is
        created with mode 0700 and the file with mode 0600 (it holds health data).
    auto_backup
        Keep the daily automatic backups (:mod:`biofeedback.storage.integrity`) when this object
        first writes; default: only for the store in the data dir (``path`` None).

    Before its first write the object runs ``PRAGMA quick_check``; a damaged file raises
    :class:`~biofeedback.storage.integrity.DamagedDatabaseError` and is never written into.
    Reading works as far as SQLite can read.
    """

    def __init__(self, path: Path | str | None = None, auto_backup: bool | None = None) -> None:
        self._auto_backup = path is None if auto_backup is None else bool(auto_backup)
        self._write_checked = False
        if path is None:
            from biofeedback.config import data_dir

            path = data_dir() / DB_FILENAME
        self.path = Path(path).expanduser()
        self._lock = threading.RLock()
        #: Bounded busy wait of this object's writes (None: :data:`BUSY_WAIT_S`); see
        #: :meth:`short_busy_wait`.
        self.busy_wait_s: float | None = None
        #: None once :meth:`close` ran; every use checks.
        self._conn: sqlite3.Connection | None = self._connect()

    # -- connection and schema -----------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        path = self.path
        try:
            if not path.parent.exists():
                # exist_ok: another process may create it at the same moment
                path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
            if not path.exists():
                # Create the file ourselves so it never exists with a wider mode than 0600.
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            if hasattr(os, "geteuid") and path.stat().st_uid == os.geteuid():
                os.chmod(path, 0o600)
        except OSError as exc:
            raise StorageError(
                f"cannot create the session database {path}: {exc.strerror}; choose a folder you "
                "may write with --data-dir"
            ) from None
        try:
            conn = sqlite3.connect(
                str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA foreign_keys = ON")
            mode = retry_busy(
                lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone()[0], path, "open"
            )
            if str(mode).lower() != "wal":
                raise StorageError(
                    f"{path}: SQLite could not switch to WAL mode (network drive?): keep the data "
                    "folder on a local disk (--data-dir)"
                )
            # FULL: every commit is on disk before it returns, so a power cut keeps it too.
            conn.execute("PRAGMA synchronous = FULL")
            # Keep the WAL from staying large after a long recording.
            conn.execute("PRAGMA journal_size_limit = 8388608")
            retry_busy(lambda: self._migrate(conn), path, "schema update")
        except sqlite3.Error as exc:
            raise StorageError(_error_advice(exc, path)) from None
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"{self.path} was written by a newer biofeedback (schema {version}, this one "
                f"knows {SCHEMA_VERSION}): update biofeedback to open it"
            )
        for target, script in MIGRATIONS:
            if target <= version:
                continue
            conn.execute("BEGIN IMMEDIATE")
            # another process may have created the schema while we waited for the lock
            if conn.execute("PRAGMA user_version").fetchone()[0] >= target:
                conn.execute("COMMIT")
                continue
            try:
                # executescript would commit implicitly; run statements one by one instead.
                for statement in _split_sql(script):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {int(target)}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    @property
    def schema_version(self) -> int:
        """``PRAGMA user_version`` of the open database."""
        with self._lock:
            if self._conn is None:
                raise StorageError("the session database is closed")
            return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        """Close the connection (checkpoints the WAL). Safe to call twice."""
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                finally:
                    self._conn = None

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error), under the object's lock.

        sqlite3 errors leave as :class:`StorageError` with advice. A busy database is waited
        for (:func:`retry_busy`, up to :data:`BUSY_WAIT_S`); keep the body short, since other
        recordings wait while it runs.
        """
        self.check_writable()  # a damaged file is never written into
        with self._lock:
            conn = self._conn
            if conn is None:
                raise StorageError("the session database is closed")
            try:
                retry_busy(
                    lambda: conn.execute("BEGIN IMMEDIATE"), self.path, budget_s=self.busy_wait_s
                )
            except sqlite3.Error as exc:
                raise StorageError(_error_advice(exc, self.path)) from None
            try:
                yield conn
                retry_busy(lambda: conn.execute("COMMIT"), self.path, budget_s=self.busy_wait_s)
            except sqlite3.Error as exc:
                _rollback(conn)
                raise StorageError(_error_advice(exc, self.path)) from None
            except BaseException:
                _rollback(conn)
                raise

    @contextmanager
    def short_busy_wait(self, seconds: float) -> Iterator[None]:
        """Within the block, a busy database is waited for ``seconds`` at most (each attempt
        and in all), not :data:`BUSY_WAIT_S`. For the closing writes of a session that already
        failed: the window must not freeze for the full wait twice; what does not get in is
        kept in the pending journal instead (see :mod:`biofeedback.storage.pending`)."""
        with self._lock:
            previous = self.busy_wait_s
            self.busy_wait_s = float(seconds)
            conn = self._conn
            if conn is not None:
                conn.execute(f"PRAGMA busy_timeout = {max(1, round(seconds * 1000))}")
        try:
            yield
        finally:
            with self._lock:
                self.busy_wait_s = previous
                if self._conn is not None:
                    wait = BUSY_TIMEOUT_S if previous is None else previous
                    self._conn.execute(f"PRAGMA busy_timeout = {round(wait * 1000)}")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            if self._conn is None:
                raise StorageError("the session database is closed")
            try:
                cur = self._conn.execute(sql, params)
                cur.row_factory = sqlite3.Row
                return cur.fetchall()
            except sqlite3.Error as exc:
                raise StorageError(_error_advice(exc, self.path)) from None

    def integrity_check(self) -> str:
        """Result of ``PRAGMA integrity_check`` ("ok" when the file is sound)."""
        rows = self._query("PRAGMA integrity_check")
        return "; ".join(str(r[0]) for r in rows)

    def problems(self, full: bool = False) -> list[str]:
        """What SQLite's quick check (``full``: integrity check) finds; ``[]`` when sound."""
        with self._lock:
            if self._conn is None:
                raise StorageError("the session database is closed")
            return run_check(self._conn, full=full)

    def _skip_writes_when_damaged(self) -> bool:
        """True (and one warning) when the file is damaged: housekeeping writes are skipped so
        that reading commands still work; recording is refused later with the advice."""
        try:
            self.check_writable()
        except DamagedDatabaseError as exc:
            log.warning("%s", exc)
            return True
        return False

    def check_writable(self) -> None:
        """Before this object's first write: ``PRAGMA quick_check`` (about 0.1 s per 100 MB).

        Raises :class:`DamagedDatabaseError` (with the way to recover) when the file is damaged.
        When it is sound and this is the data dir's store, today's automatic backup is started
        on a background thread if there is none yet.
        """
        if self._write_checked:
            return
        found = self.problems()
        if found:
            raise DamagedDatabaseError(damaged_message(self.path, found))
        self._write_checked = True
        if self._auto_backup:
            start_daily_backup(self.path)

    # -- subjects --------------------------------------------------------------------------------
    @staticmethod
    def check_subject_id(subject_id: str) -> str:
        """Validate a pseudonymous subject id (letters, digits, ``. _ -``, up to 64 chars)."""
        text = str(subject_id).strip()
        if not _SUBJECT_RE.match(text):
            raise StorageError(
                f"subject id {subject_id!r} is not allowed: use 1-64 letters, digits, '.', '_' or "
                "'-' (a pseudonym such as P001, not a name)"
            )
        return text

    def ensure_subject(
        self, subject_id: str, name: str | None = None, weekly_goal: int | None = None
    ) -> str:
        """Create the subject if it does not exist; update name / weekly goal when given."""
        subject_id = self.check_subject_id(subject_id)
        _check_goal(weekly_goal)
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO subjects (id, name, weekly_goal, created_at) "
                "VALUES (?, ?, ?, ?)",
                (subject_id, name, weekly_goal, time.time()),
            )
            if name is not None:
                conn.execute("UPDATE subjects SET name = ? WHERE id = ?", (name, subject_id))
            if weekly_goal is not None:
                conn.execute(
                    "UPDATE subjects SET weekly_goal = ? WHERE id = ?", (weekly_goal, subject_id)
                )
        return subject_id

    def set_weekly_goal(self, subject_id: str, sessions_per_week: int | None) -> None:
        """The clinician's weekly practice goal (sessions per week; None clears it)."""
        _check_goal(sessions_per_week)
        self.ensure_subject(subject_id)
        with self.transaction() as conn:
            conn.execute(
                "UPDATE subjects SET weekly_goal = ? WHERE id = ?", (sessions_per_week, subject_id)
            )

    def set_reminder(self, subject_id: str, time_hhmm: str | None) -> None:
        """Daily home-practice reminder time ``"HH:MM"`` (local), or None for no reminder."""
        if time_hhmm is not None:
            match = re.fullmatch(r"(\d{1,2}):(\d{2})", time_hhmm.strip())
            if not match or int(match[1]) > 23 or int(match[2]) > 59:
                raise StorageError(f"reminder time {time_hhmm!r}: use HH:MM, e.g. 18:30")
            time_hhmm = f"{int(match[1]):02d}:{match[2]}"
        self.ensure_subject(subject_id)
        with self.transaction() as conn:
            conn.execute("UPDATE subjects SET reminder = ? WHERE id = ?", (time_hhmm, subject_id))

    def get_subject(self, subject_id: str) -> dict[str, Any] | None:
        """Subject row as a dict (id, name, weekly_goal, reminder, notes, created_at) or None."""
        rows = self._query("SELECT * FROM subjects WHERE id = ?", (subject_id,))
        return dict(rows[0]) if rows else None

    def list_subjects(self) -> list[dict[str, Any]]:
        """All subjects with their session count and last session time."""
        rows = self._query(
            "SELECT s.*, COUNT(x.id) AS n_sessions, MAX(x.started_at) AS last_session_at "
            "FROM subjects s LEFT JOIN sessions x ON x.subject_id = s.id "
            "GROUP BY s.id ORDER BY s.id"
        )
        return [dict(r) for r in rows]

    def add_subject(self, subject_id: str, name: str | None = None, notes: str = "") -> str:
        """Create a new subject; StorageError when the id is taken (use :meth:`edit_subject`)."""
        subject_id = self.check_subject_id(subject_id)
        name = _check_subject_text(name, "name", MAX_SUBJECT_NAME_CHARS)
        notes = _check_subject_text(notes, "notes", MAX_SUBJECT_NOTES_CHARS) or ""
        with self.transaction() as conn:
            if conn.execute("SELECT 1 FROM subjects WHERE id = ?", (subject_id,)).fetchone():
                raise StorageError(
                    f"subject {subject_id} exists already: change it with 'biofeedback subjects "
                    "edit'"
                )
            conn.execute(
                "INSERT INTO subjects (id, name, notes, created_at) VALUES (?, ?, ?, ?)",
                (subject_id, name or None, notes, time.time()),
            )
        return subject_id

    def edit_subject(
        self, subject_id: str, name: str | None = None, notes: str | None = None
    ) -> None:
        """Change a subject's name (``""`` clears it) and/or notes; None leaves a field alone."""
        self.require_subject(subject_id)
        name = _check_subject_text(name, "name", MAX_SUBJECT_NAME_CHARS)
        notes = _check_subject_text(notes, "notes", MAX_SUBJECT_NOTES_CHARS)
        with self.transaction() as conn:
            if name is not None:
                conn.execute(
                    "UPDATE subjects SET name = ? WHERE id = ?", (name or None, subject_id)
                )
            if notes is not None:
                conn.execute("UPDATE subjects SET notes = ? WHERE id = ?", (notes, subject_id))

    def require_subject(self, subject_id: str) -> dict[str, Any]:
        """The subject's row; StorageError (one line, with the fix) when there is none."""
        subject_id = self.check_subject_id(subject_id)
        row = self.get_subject(subject_id)
        if row is None:
            raise StorageError(
                f"there is no subject {subject_id}: add it with 'biofeedback subjects add "
                f"{subject_id}' (see 'biofeedback subjects list')"
            )
        return row

    # -- sessions --------------------------------------------------------------------------------
    def create_session(
        self,
        subject_id: str | None,
        protocol: str,
        info: StreamInfo,
        pipeline_settings: dict[str, Any] | None = None,
        **meta: Any,
    ) -> int:
        """Start a session in state 'recording' and return its id.

        ``meta`` may hold the text fields in :data:`TEXT_FIELDS`, ``pain_before`` / ``pain_after``
        (0-10), ``hardware`` (dict: MyoWare version, pot value, supply, ...) and ``started_at``
        (Unix time; default now). The subject is created if needed. ``course_id`` and ``setting``
        ('clinic', 'home' or None) attach it to a course (see
        :func:`biofeedback.storage.courses.session_course_meta`); ``uid`` keeps the stable id of a
        session copied from elsewhere (default: a new random one).
        """
        started_at = float(meta.pop("started_at", time.time()))
        hardware = dict(meta.pop("hardware", None) or {})
        course_columns = _course_columns(
            meta.pop("course_id", None), meta.pop("setting", None), meta.pop("uid", None)
        )
        columns = _meta_columns(meta)
        if subject_id is not None:
            subject_id = self.ensure_subject(subject_id)
        values = {
            "subject_id": subject_id,
            "protocol": protocol or "",
            "started_at": started_at,
            "status": "recording",
            "fs_hz": float(info.fs_hz),
            "info_json": _dumps(info_to_dict(info)),
            "pipeline_json": _dumps(pipeline_settings or {}),
            "hardware_json": _dumps(hardware),
            "writer_pid": os.getpid(),
            "writer_host": socket.gethostname(),
            "heartbeat_at": time.time(),
            "revision": 1,
            "updated_at": time.time(),
            "utc_offset_min": utc_offset_minutes(started_at),
            **course_columns,
            **columns,
        }
        names = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        with self.transaction() as conn:
            cur = conn.execute(
                f"INSERT INTO sessions ({names}) VALUES ({marks})", list(values.values())
            )
            return _inserted_id(cur)

    def update_session(self, session_id: int, **meta: Any) -> None:
        """Change session details (notes, pain ratings, site, ``hardware`` ...) after the fact."""
        hardware = meta.pop("hardware", None)
        columns = _meta_columns(meta)
        if hardware is not None:
            columns["hardware_json"] = _dumps(dict(hardware))
        if not columns:
            return
        self._require_session(session_id)
        assignments = ", ".join(f"{k} = ?" for k in columns)
        with self.transaction() as conn:
            conn.execute(
                f"UPDATE sessions SET {assignments} WHERE id = ?", [*columns.values(), session_id]
            )

    def finish_session(
        self, session_id: int, status: str = "complete", summary: dict[str, Any] | None = None
    ) -> None:
        """Close a session as 'complete' or 'interrupted', storing its summary (merged into any
        summary already stored)."""
        if status not in ("complete", "interrupted"):
            raise ValueError(f"status must be 'complete' or 'interrupted', not {status!r}")
        record = self.get_session(session_id)
        merged = {**record.summary, **(summary or {})}
        with self.transaction() as conn:
            _refresh_extent(conn, session_id)
            conn.execute(
                "UPDATE sessions SET status = ?, ended_at = ?, summary_json = ?, "
                "heartbeat_at = NULL, writer_pid = NULL WHERE id = ?",
                (status, time.time(), _dumps(merged), session_id),
            )

    def delete_session(self, session_id: int) -> None:
        """Remove a session and everything stored with it."""
        self._require_session(session_id)
        with self.transaction() as conn:
            conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    def _require_session(self, session_id: int) -> None:
        if not self._query("SELECT 1 FROM sessions WHERE id = ?", (int(session_id),)):
            raise StorageError(
                f"there is no session {session_id} in {self.path}: list them with "
                "'biofeedback sessions'"
            )

    def get_session(self, session_id: int) -> SessionRecord:
        """One session; StorageError (with the fix) if there is none with that id."""
        try:
            key = int(session_id)
        except (TypeError, ValueError):
            raise StorageError(
                f"{session_id!r} is not a session id: use the number shown by 'biofeedback sessions'"
            ) from None
        if abs(key) >= 1 << 63:  # beyond SQLite's integers (binding it would overflow)
            raise StorageError(f"there is no session {key}: list them with 'biofeedback sessions'")
        rows = self._query("SELECT * FROM sessions WHERE id = ?", (key,))
        if not rows:
            self._require_session(key)
        return _record(rows[0])

    def session_id_for_uid(self, uid: str) -> int | None:
        """The id of the session with the stable unique id ``uid`` in this store, or None."""
        rows = self._query("SELECT id FROM sessions WHERE uid = ?", (str(uid),))
        return int(rows[0]["id"]) if rows else None

    def list_sessions(self, subject: str | None = None) -> list[SessionRecord]:
        """Sessions, oldest first; only one subject's when ``subject`` is given."""
        if subject is None:
            rows = self._query("SELECT * FROM sessions ORDER BY started_at, id")
        else:
            rows = self._query(
                "SELECT * FROM sessions WHERE subject_id = ? ORDER BY started_at, id", (subject,)
            )
        return [_record(r) for r in rows]

    def recover_interrupted(self) -> list[int]:
        """Close as 'interrupted' every 'recording' session whose writer is gone.

        A writer is gone when its process no longer exists on this host, or when it has not
        committed for :data:`STALE_HEARTBEAT_S`. Everything it committed is kept; the session's
        extent is recomputed from the stored blocks. Call this at every start.

        Sessions whose closing could not be written when they ended (see
        :mod:`biofeedback.storage.pending`) are closed first, with their own status, summary and
        pain-after rating.
        """
        from biofeedback.storage.pending import apply_pending

        apply_pending(self)
        rows = self._query(
            "SELECT id, writer_pid, writer_host, heartbeat_at FROM sessions "
            "WHERE status = 'recording'"
        )
        host = socket.gethostname()
        now = time.time()
        closed: list[int] = []
        for row in rows:
            heartbeat = row["heartbeat_at"]
            stale = heartbeat is None or now - float(heartbeat) > STALE_HEARTBEAT_S
            if not stale and row["writer_host"] == host:
                stale = not _pid_alive(row["writer_pid"])
            if not stale:
                continue
            if self._skip_writes_when_damaged():
                break
            session_id = int(row["id"])
            with self.transaction() as conn:
                _refresh_extent(conn, session_id)
                summary = json.loads(
                    conn.execute(
                        "SELECT summary_json FROM sessions WHERE id = ?", (session_id,)
                    ).fetchone()[0]
                )
                summary["interrupted_reason"] = "the recording process ended without closing it"
                conn.execute(
                    "UPDATE sessions SET status = 'interrupted', ended_at = COALESCE(heartbeat_at, "
                    "started_at), summary_json = ?, writer_pid = NULL WHERE id = ? "
                    "AND status = 'recording'",
                    (_dumps(summary), session_id),
                )
            closed.append(session_id)
        return closed

    # -- markers, phases, thresholds ----------------------------------------------------------
    def add_marker(self, session_id: int, index: int, label: str, note: str = "") -> int:
        """A marker at sample ``index`` (device sample clock); returns its id."""
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO markers (session_id, sample_index, label, note, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (int(session_id), int(index), str(label), str(note or ""), time.time()),
            )
            return _inserted_id(cur)

    def markers(self, session_id: int) -> list[dict[str, Any]]:
        """Markers in sample order: dicts with id, sample_index, label, note, created_at."""
        rows = self._query(
            "SELECT id, sample_index, label, note, created_at FROM markers "
            "WHERE session_id = ? ORDER BY sample_index, id",
            (int(session_id),),
        )
        return [dict(r) for r in rows]

    def save_phases(
        self,
        session_id: int,
        phases: Sequence[dict[str, Any]],
        origin_index: int | None = None,
    ) -> None:
        """Store the per-phase measures, replacing any stored before (call after every phase or
        once at the end).

        Each dict needs ``name``; ``kind``, ``start_index`` and ``end_index`` (sample clock) are
        kept in their own columns; ``start_s`` / ``duration_s`` are converted when the indices are
        missing, counting from ``origin_index`` (the runner's start sample, e.g.
        ``SessionSummary.start_index``; default: the session's first stored sample). The whole
        dict is stored as JSON and returned unchanged by :meth:`phases`.
        """
        record = self.get_session(session_id)
        origin = origin_index if origin_index is not None else record.first_index
        if origin is None:
            origin = self.stored_extent(session_id)[0] or 0
        rows = []
        for seq, phase in enumerate(phases):
            if "name" not in phase:
                raise ValueError(f"phase {seq} has no 'name'")
            start, end = _phase_extent(phase, record.info.fs_hz, origin)
            rows.append(
                (
                    int(session_id),
                    seq,
                    str(phase["name"]),
                    str(phase.get("kind", "")),
                    start,
                    end,
                    _dumps(dict(phase)),
                )
            )
        with self.transaction() as conn:
            conn.execute("DELETE FROM phases WHERE session_id = ?", (int(session_id),))
            conn.executemany(
                "INSERT INTO phases (session_id, seq, name, kind, start_index, end_index, "
                "measures_json) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def phases(self, session_id: int) -> list[dict[str, Any]]:
        """Stored phases in order: the dicts given to :meth:`save_phases`, with ``start_index``
        and ``end_index`` filled in where they could be derived."""
        rows = self._query(
            "SELECT name, kind, start_index, end_index, measures_json FROM phases "
            "WHERE session_id = ? ORDER BY seq",
            (int(session_id),),
        )
        out = []
        for r in rows:
            phase = json.loads(r["measures_json"])
            phase.setdefault("kind", r["kind"])
            if r["start_index"] is not None:
                phase["start_index"] = r["start_index"]
            if r["end_index"] is not None:
                phase["end_index"] = r["end_index"]
            out.append(phase)
        return out

    def log_threshold(
        self,
        session_id: int,
        index: int,
        old: float | None,
        new: float,
        reason: str,
        channel: int = 0,
    ) -> int:
        """Record a threshold change (uV) at sample ``index`` with its reason
        ("baseline", "shaping", "clinician override", ...)."""
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO threshold_log (session_id, sample_index, channel, old_uv, new_uv, "
                "reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    int(session_id),
                    int(index),
                    int(channel),
                    None if old is None else float(old),
                    float(new),
                    str(reason),
                    time.time(),
                ),
            )
            return _inserted_id(cur)

    def threshold_log(self, session_id: int) -> list[dict[str, Any]]:
        """Threshold changes in sample order: sample_index, channel, old_uv, new_uv, reason."""
        rows = self._query(
            "SELECT sample_index, channel, old_uv, new_uv, reason, created_at FROM threshold_log "
            "WHERE session_id = ? ORDER BY sample_index, id",
            (int(session_id),),
        )
        return [dict(r) for r in rows]

    # -- samples ---------------------------------------------------------------------------------
    def write_block(
        self,
        conn: sqlite3.Connection,
        session_id: int,
        first_index: int,
        samples: np.ndarray,
        flags: np.ndarray,
    ) -> int:
        """Insert one block inside an open :meth:`transaction`; returns the stored byte count."""
        block = encode_block(samples, flags)
        conn.execute(
            "INSERT INTO chunks (session_id, first_index, n, codec, data, nan_mask, flags) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                int(session_id),
                int(first_index),
                len(samples),
                block.codec,
                block.data,
                block.nan_mask,
                block.flags,
            ),
        )
        return len(block.data) + len(block.nan_mask or b"") + len(block.flags or b"")

    def iter_blocks(
        self, session_id: int, start: int | None = None, stop: int | None = None
    ) -> Iterator[Chunk]:
        """Stored blocks in order as Chunks (no gap filling), overlapping ``[start, stop)``.

        Reads a few blocks at a time so an 8-hour session never sits in memory.
        """
        record = self.get_session(session_id)
        n_ch = record.info.n_channels
        lo = -(2**62) if start is None else int(start)
        hi = 2**62 if stop is None else int(stop)
        cursor = lo
        last_first = None
        while True:
            # Keyset pagination: blocks are contiguous runs keyed by first_index.
            if last_first is None:
                rows = self._query(
                    "SELECT first_index, n, codec, data, nan_mask, flags FROM chunks "
                    "WHERE session_id = ? AND first_index + n > ? AND first_index < ? "
                    "ORDER BY first_index LIMIT 64",
                    (record.id, cursor, hi),
                )
            else:
                rows = self._query(
                    "SELECT first_index, n, codec, data, nan_mask, flags FROM chunks "
                    "WHERE session_id = ? AND first_index > ? AND first_index < ? "
                    "ORDER BY first_index LIMIT 64",
                    (record.id, last_first, hi),
                )
            if not rows:
                return
            for row in rows:
                values, flags = decode_block(
                    row["codec"], row["data"], row["nan_mask"], row["flags"], row["n"], n_ch
                )
                first = int(row["first_index"])
                a = max(0, lo - first)
                b = min(len(values), hi - first)
                if b > a:
                    yield Chunk(first + a, values[a:b], flags[a:b])
                last_first = first

    def iter_chunks(
        self,
        session_id: int,
        block_samples: int = 4096,
        start: int | None = None,
        stop: int | None = None,
    ) -> Iterator[Chunk]:
        """Contiguous Chunks of at most ``block_samples`` covering the stored span; gaps between
        stored blocks come out as NaN rows flagged ``Flag.MISSING`` (like a live device)."""
        record = self.get_session(session_id)
        n_ch = record.info.n_channels
        expected: int | None = None if start is None else int(start)
        for chunk in self.iter_blocks(session_id, start, stop):
            if expected is not None and chunk.first_index > expected:
                yield from _gap_chunks(expected, chunk.first_index, n_ch, block_samples)
            if expected is not None and chunk.first_index < expected:
                cut = expected - chunk.first_index
                if cut >= len(chunk):
                    continue
                chunk = Chunk(expected, chunk.samples[cut:], chunk.flags[cut:])
            for a in range(0, len(chunk), block_samples):
                yield Chunk(
                    chunk.first_index + a,
                    chunk.samples[a : a + block_samples],
                    chunk.flags[a : a + block_samples],
                )
            expected = chunk.end_index

    def read_samples(
        self, session_id: int, start: int | None = None, stop: int | None = None
    ) -> tuple[int, np.ndarray, np.ndarray]:
        """All stored samples in ``[start, stop)`` as ``(first_index, samples [n, ch], flags [n])``
        with gaps filled (NaN, ``Flag.MISSING``). Loads everything: use :meth:`iter_chunks` for
        long sessions."""
        record = self.get_session(session_id)
        parts = list(self.iter_chunks(session_id, block_samples=1 << 30, start=start, stop=stop))
        if not parts:
            first = record.first_index if start is None else int(start)
            return (
                int(first or 0),
                np.zeros((0, record.info.n_channels)),
                np.zeros(0, dtype=np.uint16),
            )
        samples = np.concatenate([p.samples for p in parts])
        flags = np.concatenate([p.flags for p in parts])
        return parts[0].first_index, samples, flags

    def stored_extent(self, session_id: int) -> tuple[int | None, int | None, int]:
        """(first_index, end_index, samples stored) from the blocks themselves."""
        rows = self._query(
            "SELECT MIN(first_index), MAX(first_index + n), COALESCE(SUM(n), 0) FROM chunks "
            "WHERE session_id = ?",
            (int(session_id),),
        )
        first, end, total = rows[0]
        return first, end, int(total)


# -- helpers -----------------------------------------------------------------------------------------
def _split_sql(script: str) -> list[str]:
    """The statements of a migration script (a trigger's body holds ``;`` of its own)."""
    statements: list[str] = []
    pending = ""
    for part in script.split(";"):
        pending += part + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                statements.append(pending.strip())
            pending = ""
    return statements


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass  # no transaction left to roll back (SQLite may already have done it)


def _check_subject_text(value: str | None, what: str, limit: int) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if len(text) > limit:
        raise StorageError(f"the subject's {what} is {len(text)} characters: at most {limit}")
    return text


def _check_goal(goal: int | None) -> None:
    if goal is not None and not (0 <= int(goal) <= 21):
        raise StorageError(f"weekly goal {goal}: give a number of sessions per week from 0 to 21")


def _course_columns(course_id: object, setting: object, uid: object) -> dict[str, Any]:
    if setting is not None and setting not in SETTINGS:
        raise StorageError(f"setting {setting!r}: use 'clinic' or 'home'")
    if uid is not None and not re.fullmatch(r"[0-9a-f]{32}", str(uid)):
        raise StorageError(f"session uid {uid!r}: expected 32 lowercase hex digits")
    return {
        "course_id": None if course_id is None else int(str(course_id)),
        "setting": setting,
        "uid": str(uid) if uid is not None else uuid.uuid4().hex,
    }


def _meta_columns(meta: dict[str, Any]) -> dict[str, Any]:
    columns: dict[str, Any] = {}
    for key, value in meta.items():
        if key in TEXT_FIELDS:
            columns[key] = "" if value is None else str(value)
        elif key in PAIN_FIELDS:
            if value is not None:
                value = float(value)
                if not 0 <= value <= 10:
                    raise StorageError(f"{key.replace('_', ' ')} {value:g}: rate pain from 0 to 10")
                value = int(value) if value.is_integer() else value
            columns[key] = value
        else:
            allowed = ", ".join((*TEXT_FIELDS, *PAIN_FIELDS, "hardware", "started_at"))
            raise TypeError(f"unknown session detail {key!r}; allowed: {allowed}")
    return columns


def _phase_extent(
    phase: dict[str, Any], fs_hz: float, origin: int
) -> tuple[int | None, int | None]:
    start = phase.get("start_index")
    end = phase.get("end_index")
    if start is None and phase.get("start_s") is not None:
        start = origin + round(float(phase["start_s"]) * fs_hz)
    if end is None and start is not None and phase.get("duration_s") is not None:
        end = int(start) + round(float(phase["duration_s"]) * fs_hz)
    return (None if start is None else int(start), None if end is None else int(end))


def _refresh_extent(conn: sqlite3.Connection, session_id: int) -> None:
    conn.execute(
        "UPDATE sessions SET first_index = (SELECT MIN(first_index) FROM chunks WHERE "
        "session_id = :id), end_index = (SELECT MAX(first_index + n) FROM chunks WHERE "
        "session_id = :id), n_samples = (SELECT COALESCE(SUM(n), 0) FROM chunks WHERE "
        "session_id = :id) WHERE id = :id",
        {"id": int(session_id)},
    )


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return False
    return True


def _record(row: sqlite3.Row) -> SessionRecord:
    return SessionRecord(
        id=int(row["id"]),
        subject_id=row["subject_id"],
        protocol=row["protocol"],
        started_at=float(row["started_at"]),
        ended_at=None if row["ended_at"] is None else float(row["ended_at"]),
        status=row["status"],
        info=info_from_dict(json.loads(row["info_json"])),
        pipeline_settings=json.loads(row["pipeline_json"]),
        hardware=json.loads(row["hardware_json"]),
        **{k: row[k] for k in TEXT_FIELDS},
        pain_before=row["pain_before"],
        pain_after=row["pain_after"],
        summary=json.loads(row["summary_json"]),
        first_index=row["first_index"],
        end_index=row["end_index"],
        n_samples=int(row["n_samples"]),
        uid=row["uid"] or "",
        course_id=row["course_id"],
        setting=row["setting"],
        utc_offset_min=row["utc_offset_min"],
        revision=int(row["revision"]),
        updated_at=None if row["updated_at"] is None else float(row["updated_at"]),
    )


def _gap_chunks(start: int, stop: int, n_ch: int, block: int) -> Iterator[Chunk]:
    for a in range(start, stop, block):
        n = min(block, stop - a)
        yield Chunk(
            a,
            np.full((n, n_ch), np.nan),
            np.full(n, int(Flag.MISSING), dtype=np.uint16),
        )
