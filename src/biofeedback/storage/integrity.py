"""Damaged databases and backups: SQLite's checks, online backups, rolling daily copies.

- :func:`run_check` runs ``PRAGMA quick_check`` (before the first write of a
  :class:`~biofeedback.storage.database.Database`) or ``PRAGMA integrity_check`` (``biofeedback
  db check``) and returns the problems, ``[]`` when the file is sound. A file SQLite cannot read at
  all counts as damaged too.
- :class:`DamagedDatabaseError`: a damaged database is never written into; the message says how
  to see the problems and where the backups are.
- :func:`backup_database` copies a live database with SQLite's online backup API
  (``sqlite3.Connection.backup``) into a 0600 file written through
  :func:`biofeedback.storage.safe_output.open_output` (never onto the database itself).
- :func:`start_daily_backup` keeps ``backups/biofeedback-YYYY-MM-DD.sqlite`` next to the database:
  at most one a day, the newest :data:`BACKUPS_KEPT` kept, taken on a background thread the first
  time a store is opened for writing that day, so a damaged file loses at most a day.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from biofeedback.errors import StorageError
from biofeedback.storage.safe_output import BACKUP_FOLDER, open_output, store_files

log = logging.getLogger(__name__)

#: Daily automatic backups kept in ``DATA_DIR/backups``.
BACKUPS_KEPT = 7
_BACKUP_RE = re.compile(r"^biofeedback-(\d{4}-\d{2}-\d{2})\.sqlite$")
_started: set[tuple[str, str]] = set()  # (backup folder, day) already started in this process
_started_lock = threading.Lock()


class DamagedDatabaseError(StorageError):
    """The database file failed SQLite's check; it is refused for writing."""


def damaged_message(path: Path, problems: list[str]) -> str:
    """One line: what is wrong with ``path`` and how to recover."""
    first = problems[0] if problems else "unknown problem"
    more = f" and {len(problems) - 1} more" if len(problems) > 1 else ""
    return (
        f"the session database {path} is damaged ({first}{more}), so nothing new is written "
        f"into it: run 'biofeedback db check' to see the problems, then restore a copy made "
        f"with 'biofeedback db backup' or one of the automatic backups in "
        f"{path.parent / BACKUP_FOLDER} (move the damaged file aside first, keep it)"
    )


def run_check(conn: sqlite3.Connection, full: bool = False, limit: int = 100) -> list[str]:
    """Problems SQLite finds in the open database, ``[]`` when it is sound.

    ``full`` runs ``integrity_check`` (also compares indexes with their tables) instead of the
    faster ``quick_check``.
    """
    pragma = "integrity_check" if full else "quick_check"
    try:
        rows = conn.execute(f"PRAGMA {pragma}({int(limit)})").fetchall()
    except sqlite3.DatabaseError as exc:  # "database disk image is malformed", "not a database"
        return [str(exc)]
    # One row may hold several lines ("*** in database main ***\nOn tree page 7 ...").
    lines = [line.strip() for row in rows for line in str(row[0]).splitlines()]
    problems = [line for line in lines if line and not line.startswith("***")]
    return [] if problems == ["ok"] else problems


# -- backups ---------------------------------------------------------------------------------------
@dataclass
class BackupResult:
    """What :func:`backup_database` wrote."""

    path: Path
    bytes: int
    seconds: float


def backup_database(
    db_path: Path | str, target: Path | str, internal: bool = False, flag: str = "-o"
) -> BackupResult:
    """Copy the database at ``db_path`` to ``target`` with SQLite's online backup API.

    The copy is a consistent snapshot even while a recorder writes (one backup step, one read
    transaction; in WAL mode the writer is not held up). It is written 0600 through a temporary
    file; the live database and its files are refused as targets. ``internal`` is for the
    automatic backups, which are written inside the data folder's ``backups/``.
    """
    db_path = Path(db_path).expanduser()
    if not db_path.is_file():
        raise StorageError(f"there is no session database at {db_path}: nothing to back up")
    started = time.perf_counter()
    try:
        source = sqlite3.connect(str(db_path), timeout=10.0)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open {db_path} to back it up: {exc}") from None
    try:
        with open_output(
            target,
            store_files(db_path),
            example="biofeedback-backup.sqlite",
            flag=flag,
            internal=internal,
        ) as out:
            out.file.close()  # SQLite writes the temporary file by its name
            _copy(source, out.tmp, db_path)
    finally:
        source.close()
    return BackupResult(out.path, out.path.stat().st_size, time.perf_counter() - started)


def _copy(source: sqlite3.Connection, tmp: Path, db_path: Path) -> None:
    try:
        dest = sqlite3.connect(str(tmp))
    except sqlite3.Error as exc:
        raise StorageError(f"cannot write the backup {tmp}: {exc}") from None
    try:
        source.backup(dest)
        # A standalone file: no -wal/-shm next to it once closed.
        dest.execute("PRAGMA journal_mode = DELETE")
    except sqlite3.Error as exc:
        raise StorageError(f"backing up {db_path} failed: {exc}") from None
    finally:
        dest.close()


def list_backups(folder: Path) -> list[Path]:
    """The automatic backups in ``folder``, oldest first (by the date in their name)."""
    try:
        names = [p for p in folder.iterdir() if _BACKUP_RE.match(p.name) and p.is_file()]
    except FileNotFoundError:
        return []
    return sorted(names, key=lambda p: p.name)


def backup_name(day: str) -> str:
    """File name of the automatic backup of ``day`` (``YYYY-MM-DD``)."""
    return f"biofeedback-{day}.sqlite"


def start_daily_backup(db_path: Path | str, day: str | None = None) -> threading.Thread | None:
    """Start today's automatic backup on a background thread unless it exists or is under way.

    The check is one ``stat``; the copy runs on a (non-daemon) thread so a recording starts at
    once and the process still finishes the copy before it exits. Returns the thread, or None.
    """
    db_path = Path(db_path).expanduser()
    folder = db_path.parent / BACKUP_FOLDER
    day = day or time.strftime("%Y-%m-%d")
    if (folder / backup_name(day)).exists():
        return None
    key = (str(folder), day)
    with _started_lock:
        if key in _started:
            return None
        _started.add(key)
    thread = threading.Thread(
        target=_daily_backup, args=(db_path, folder, day), name="db-backup", daemon=False
    )
    thread.start()
    return thread


def _daily_backup(db_path: Path, folder: Path, day: str) -> None:
    try:
        take_daily_backup(db_path, folder, day)
    except StorageError as exc:
        log.warning("biofeedback: the automatic backup of %s failed: %s", db_path, exc)
    except OSError as exc:
        log.warning("biofeedback: the automatic backup of %s failed: %s", db_path, exc)


def take_daily_backup(db_path: Path, folder: Path, day: str) -> BackupResult | None:
    """Write ``folder/biofeedback-DAY.sqlite`` (if missing) and keep the newest
    :data:`BACKUPS_KEPT`; the folder is created 0700."""
    folder.mkdir(mode=0o700, exist_ok=True)
    target = folder / backup_name(day)
    result = None
    if not target.exists():
        result = backup_database(db_path, target, internal=True)
        log.info("automatic backup %s written in %.2f s", target, result.seconds)
    for old in list_backups(folder)[:-BACKUPS_KEPT]:
        old.unlink()
    return result
