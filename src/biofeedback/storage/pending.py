"""Session closings that could not be written to the store yet (the pending journal).

When a session ends while its database cannot be written (disk full, busy beyond the wait,
read-only, damaged), what the session still has to store — its final status, its summary and the
pain-after rating the patient just gave — is written to a small JSON file beside the database,
``pending/session-<id>.json``. :func:`apply_pending` writes these into the database the next time
it is opened for recording (``Database.recover_interrupted`` calls it) and deletes each file once
its content is stored. Nothing the patient entered is lost because the disk was full for a moment.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from biofeedback.errors import StorageError
from biofeedback.storage.safe_output import open_output

if TYPE_CHECKING:
    from biofeedback.storage.database import Database

log = logging.getLogger(__name__)

PENDING_DIRNAME = "pending"
#: A pending file larger than this is not ours (or damaged) and is left alone.
MAX_PENDING_BYTES = 1_000_000


def pending_dir(db_path: Path) -> Path:
    """The folder of pending closings for the database at ``db_path``."""
    return Path(db_path).parent / PENDING_DIRNAME


def save_pending(db_path: Path, session_id: int, record: dict[str, Any]) -> Path:
    """Write what is left to store for ``session_id`` (atomic, 0600); returns the file.

    ``record`` may hold ``status`` ('complete'/'interrupted'), ``summary`` (dict) and ``meta``
    (session details such as ``pain_after``). Raises :class:`StorageError` when even this small
    file cannot be written (the caller then shows the values so they can be noted by hand).
    """
    folder = pending_dir(db_path)
    target = folder / f"session-{int(session_id)}.json"
    data = json.dumps({"session_id": int(session_id), **record}, default=str).encode("utf-8")
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        with open_output(target, internal=True, flag="the pending journal") as out:
            out.file.write(data)
    except (OSError, StorageError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else exc
        raise StorageError(
            f"cannot keep the end of session {session_id} for later ({reason})"
        ) from None
    log.warning(
        "session %s: closing kept in %s until the database can be written", session_id, target
    )
    return target


def apply_pending(db: Database) -> list[int]:
    """Store every pending closing into ``db``; returns the session ids applied.

    A file whose session is gone is removed; a file that cannot be applied now (the store still
    failing) is kept for the next time and logged.
    """
    folder = pending_dir(db.path)
    if not folder.is_dir():
        return []
    applied: list[int] = []
    for path in sorted(folder.glob("session-*.json")):
        record = _read(path)
        if record is None:
            continue
        session_id = int(record["session_id"])
        try:
            _apply(db, session_id, record)
        except StorageError as exc:
            if "there is no session" in str(exc):
                path.unlink(missing_ok=True)
                continue
            log.warning("pending closing of session %s not applied yet: %s", session_id, exc)
            continue
        path.unlink(missing_ok=True)
        applied.append(session_id)
    return applied


def _read(path: Path) -> dict[str, Any] | None:
    try:
        if path.stat().st_size > MAX_PENDING_BYTES:
            log.warning("%s is larger than %d bytes: left alone", path, MAX_PENDING_BYTES)
            return None
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("pending closing %s unreadable (%s): left alone", path, exc)
        return None
    if not isinstance(record, dict) or not isinstance(record.get("session_id"), int):
        log.warning("pending closing %s has no session id: left alone", path)
        return None
    return record


def _apply(db: Database, session_id: int, record: dict[str, Any]) -> None:
    current = db.get_session(session_id)
    summary = record.get("summary") if isinstance(record.get("summary"), dict) else {}
    status = record.get("status")
    if current.status == "recording":  # still open: close it as the session ended
        db.finish_session(
            session_id, status if status in ("complete", "interrupted") else "interrupted", summary
        )
    elif summary:  # already closed (e.g. by recovery): keep its status, merge the summary
        db.finish_session(session_id, current.status, summary)
    meta = record.get("meta")
    if isinstance(meta, dict) and meta:
        db.update_session(session_id, **meta)
