"""Reading from the clinic: a local SQLite cache of what the clinic database holds, filled by the
sync module's pull, so the existing read code (sessions list, export, report, course report,
outcomes show, history) runs on it unchanged and gives the same results as on a local store.

The cache is one file per clinic database, ``<data dir>/clinic-cache/<clinic>.sqlite`` (mode
0600 in a 0700 folder; ``<clinic>`` a hash of host, port and database). Rows keep the clinic's
ids, so a session id shown by ``sessions --clinic`` is the one to give ``report --clinic``.
Each opening brings the cache up to date: only sessions whose revision changed at the clinic are
fetched again. docs/clinic.md, "Reading from the clinic".
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from biofeedback.clinic.connect import clinic_errors, connect, describe
from biofeedback.clinic.sync import SyncResult, _Run, clinic_key, pull
from biofeedback.errors import ClinicError, StorageError
from biofeedback.storage.database import Database

log = logging.getLogger(__name__)

CACHE_FOLDER = "clinic-cache"


def cache_path(conninfo: str) -> Path:
    """Where the cache of the clinic ``conninfo`` lives (the folder is made 0700)."""
    from biofeedback.config import data_dir

    folder = data_dir() / CACHE_FOLDER
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
    except OSError as exc:
        raise StorageError(
            f"cannot create {folder}: {exc.strerror}; choose a folder you may write with --data-dir"
        ) from None
    return folder / f"{clinic_key(conninfo)}.sqlite"


def clinic_database(
    conninfo: str, *, subject: str | None = None, session_id: int | None = None
) -> Database:
    """The clinic's data as a local Database (close it when done): every subject's, or only
    ``subject``'s, or session ``session_id``'s (the clinic's id) with its subject's sessions,
    courses and questionnaires. ClinicError (one line) when the clinic cannot be read."""
    from biofeedback.clinic.migrate import check_schema

    db = Database(cache_path(conninfo), auto_backup=False)
    try:
        with connect(conninfo) as conn, clinic_errors(conninfo):
            check_schema(conn, conninfo)
            subjects = _subjects(conn, conninfo, subject, session_id)
            run = _Run(db, clinic_key(conninfo), SyncResult(clinic=describe(conninfo)), None, None)
            # a session of a subject comes with the subject's others (reports show trends)
            run.conn, run.keep_ids = conn, True
            run.session_id = session_id if session_id is not None and not subjects else None
            run.every_session = subject is None and session_id is None
            pull(run, subjects)
    except BaseException:
        db.close()
        raise
    if run.result.errors:
        log.warning("reading the clinic: %s", "; ".join(run.result.errors))
    return db


def _subjects(
    conn: object, conninfo: str, subject: str | None, session_id: int | None
) -> list[str]:
    where = describe(conninfo)
    execute = conn.execute  # type: ignore[attr-defined]
    if session_id is not None:
        row = execute("SELECT subject_id FROM sessions WHERE id = %s", (session_id,)).fetchone()
        if row is None:
            raise ClinicError(
                f"the clinic {where} has no session {session_id}: see 'biofeedback sessions "
                "--clinic'"
            )
        return [] if row[0] is None else [str(row[0])]
    if subject is not None:
        if execute("SELECT 1 FROM subjects WHERE id = %s", (subject,)).fetchone() is None:
            raise ClinicError(f"the clinic {where} has no subject {subject}")
        return [subject]
    return [str(r[0]) for r in execute("SELECT id FROM subjects ORDER BY id").fetchall()]
