"""Store a recording made elsewhere as a session, as a live recording would have stored it.

:func:`import_file` reads a file with :func:`~biofeedback.storage.importing.load_recording` and
writes a session: the samples as the file holds them (ADC counts or uV, with the StreamInfo that
converts them) in blocks of about a second, stretches the file marks as missing left out as gaps
(they replay as missing samples, as a live device's gaps do), the file's markers at their sample
indices, the file's own start time, the default pipeline settings for its rate and channels, and
in ``hardware["imported"]`` what was imported (file name, path, format, size, SHA-256, when), so
``sessions``, ``export``, ``report`` and ``replay://ID`` work on it and reports say where it
came from.

The samples are written in transactions of :data:`IMPORT_TRANSACTION_S` of signal, so a long
import never holds the database's write lock for long (a live recording may share it); if the
import fails or is interrupted half way, the partly stored session is deleted again.

A file whose content (SHA-256) was imported before is refused with the id of that session,
unless ``again=True``: importing the same recording twice would count it twice in a subject's
progress.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from biofeedback.core.types import Flag
from biofeedback.errors import SourceURLError, StorageError
from biofeedback.storage.database import Database, SessionRecord
from biofeedback.storage.importing import (
    MAX_IMPORT_FILE_BYTES,
    Recording,
    RecordingOptions,
    load_recording,
)

log = logging.getLogger(__name__)

TYPE_CHECKING = False  # the pipeline (scipy) is imported when a session is stored
if TYPE_CHECKING:
    from biofeedback.dsp.pipeline import PipelineSettings

#: Samples are stored in blocks of about this many seconds (as the live recorder does).
IMPORT_BLOCK_S = 1.0
#: Seconds of signal written per transaction (keeps the write lock short).
IMPORT_TRANSACTION_S = 60.0
#: Bytes read per step while hashing the file.
_HASH_BLOCK = 1 << 20

#: Progress callback: (fraction done 0-1, what is being done).
Progress = Callable[[float, str], None]


@dataclass
class ImportResult:
    """What an import stored."""

    session_id: int
    path: Path
    format: str
    fs_hz: float
    channels: list[str]
    samples: int
    missing_samples: int
    duration_s: float
    start_time: str
    start_time_source: str
    markers: int
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able view (for ``biofeedback import --json``)."""
        return {
            "session_id": self.session_id,
            "file": str(self.path),
            "format": self.format,
            "fs_hz": self.fs_hz,
            "channels": self.channels,
            "samples": self.samples,
            "missing_samples": self.missing_samples,
            "duration_s": round(self.duration_s, 3),
            "start_time": self.start_time,
            "start_time_source": self.start_time_source,
            "markers": self.markers,
            "notes": self.notes,
        }


def file_digest(path: Path, progress: Progress | None = None) -> str:
    """SHA-256 of the file's bytes (read in blocks)."""
    digest = hashlib.sha256()
    size = max(1, path.stat().st_size)
    done = 0
    with path.open("rb") as fh:
        while block := fh.read(_HASH_BLOCK):
            digest.update(block)
            done += len(block)
            if progress is not None:
                progress(0.1 * done / size, "checking the file")
    return digest.hexdigest()


def imported_before(db: Database, digest: str) -> SessionRecord | None:
    """The session a file with this SHA-256 was imported as, if any."""
    for record in db.list_sessions():
        imported = (record.hardware or {}).get("imported")
        if isinstance(imported, dict) and imported.get("sha256") == digest:
            return record
    return None


def _start(recording: Recording, notes: list[str]) -> tuple[float, str, str]:
    """(Unix time, ISO text, where it came from) of the recording's first sample."""
    when = recording.start_time
    if when is not None:
        # naive: local time as the file states it (EDF, Spike Recorder names), as time.mktime
        stamp = when.timestamp()
        return stamp, when.isoformat(timespec="seconds"), "the file"
    modified = recording.path.stat().st_mtime - recording.duration_s
    notes.append(
        f"{recording.path.name}: the file does not state when it was recorded; the start time "
        "is its last modification time minus its length"
    )
    shown = datetime.fromtimestamp(modified).isoformat(timespec="seconds")
    return modified, shown, "the file's modification time"


def _pipeline_settings(
    recording: Recording, settings: PipelineSettings | None, notes: list[str]
) -> dict[str, Any]:
    """The pipeline for this stream (``settings``, default: the defaults), described as a live
    session stores it."""
    from biofeedback.dsp.pipeline import Pipeline, PipelineSettingsError

    try:
        described = Pipeline(recording.info, settings).describe()
    except PipelineSettingsError as exc:
        notes.append(f"the default processing does not fit this recording ({exc})")
        return {}
    notes.extend(str(w) for w in described.get("warnings", []))
    return described


def _runs(flags: np.ndarray, samples: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) runs of samples to store: rows flagged missing with no value are gaps."""
    gap = ((flags & int(Flag.MISSING)) != 0) & np.isnan(samples).all(axis=1)
    if not gap.any():
        return [(0, len(samples))] if len(samples) else []
    edges = np.flatnonzero(np.diff(np.concatenate(([1], gap.astype(np.int8), [1]))))
    # edges alternate: start of a stored run, end of it
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True) if b > a]


def _write_samples(
    db: Database, session_id: int, recording: Recording, progress: Progress | None
) -> int:
    """Store the samples in blocks, a transaction per ``IMPORT_TRANSACTION_S``; returns the
    number stored."""
    fs = recording.info.fs_hz
    block = max(1, round(IMPORT_BLOCK_S * fs))
    per_txn = max(block, round(IMPORT_TRANSACTION_S * fs))
    samples, flags = recording.samples, recording.flags
    total = max(1, len(samples))
    stored = 0
    for a, b in _runs(flags, samples):
        for start in range(a, b, per_txn):
            stop = min(b, start + per_txn)
            with db.transaction() as conn:
                for pos in range(start, stop, block):
                    end = min(stop, pos + block)
                    db.write_block(conn, session_id, pos, samples[pos:end], flags[pos:end])
                conn.execute(
                    "UPDATE sessions SET heartbeat_at = ? WHERE id = ?", (time.time(), session_id)
                )
            stored += stop - start
            if progress is not None:
                progress(0.1 + 0.9 * stop / total, "storing the samples")
    return stored


def _write_markers(db: Database, session_id: int, recording: Recording) -> None:
    """The file's markers inside the recording, in one transaction (files may hold thousands)."""
    now = time.time()
    rows = [
        (session_id, int(m.sample_index), str(m.label), str(m.note), now)
        for m in recording.markers
        if 0 <= m.sample_index < len(recording.samples)
    ]
    with db.transaction() as conn:
        conn.executemany(
            "INSERT INTO markers (session_id, sample_index, label, note, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            rows,
        )


def store_recording(
    db: Database,
    recording: Recording,
    subject_id: str | None = None,
    details: dict[str, Any] | None = None,
    digest: str = "",
    progress: Progress | None = None,
    pipeline: PipelineSettings | None = None,
) -> ImportResult:
    """Write ``recording`` as a complete session (module docstring); returns what was stored.

    ``details`` may hold the session text fields (muscle, side, notes, ...), ``protocol`` and
    pain ratings, as :meth:`Database.create_session` takes them.
    """
    notes = list(recording.notes)
    details = dict(details or {})
    protocol = str(details.pop("protocol", "") or "")
    started_at, start_text, start_source = _start(recording, notes)
    path = recording.path.resolve()
    imported = {
        "file": path.name,
        "path": str(path),
        "format": recording.format or path.suffix.lstrip(".").upper(),
        "bytes": path.stat().st_size,
        "sha256": digest,
        "imported_at": time.time(),
        "start_time_source": start_source,
    }
    hardware = {
        "board": recording.info.board,
        "device": recording.info.device,
        "adc_bits": recording.info.adc_bits,
        "vref_v": recording.info.vref_v,
        "source": f"file {path.name} ({imported['format']})",
        "imported": imported,
    }
    settings = _pipeline_settings(recording, pipeline, notes)
    session_id = db.create_session(
        subject_id,
        protocol,
        recording.info,
        settings,
        hardware=hardware,
        started_at=started_at,
        **details,
    )
    try:
        stored = _write_samples(db, session_id, recording, progress)
        if stored == 0:
            raise StorageError(f"{path}: the file holds no samples to store")
        _write_markers(db, session_id, recording)
        summary = {
            "duration_s": len(recording.samples) / recording.info.fs_hz,
            "imported": {k: imported[k] for k in ("file", "format", "start_time_source")},
            "notes": [f"Imported from {path.name} ({imported['format']}).", *notes],
        }
        db.finish_session(session_id, "complete", summary)
    except BaseException:
        # a half-stored import is worse than none: remove it, then report the failure
        try:
            db.delete_session(session_id)
        except StorageError:
            log.exception("could not remove the partly imported session %s", session_id)
        raise
    missing = int(((recording.flags & int(Flag.MISSING)) != 0).sum())
    return ImportResult(
        session_id=session_id,
        path=path,
        format=str(imported["format"]),
        fs_hz=recording.info.fs_hz,
        channels=[f"{c.name} ({c.kind.value})" for c in recording.info.channels],
        samples=stored,
        missing_samples=missing,
        duration_s=recording.duration_s,
        start_time=start_text,
        start_time_source=start_source,
        markers=len(db.markers(session_id)),
        notes=notes,
    )


def import_file(
    db: Database,
    path: Path | str,
    options: RecordingOptions | None = None,
    subject_id: str | None = None,
    details: dict[str, Any] | None = None,
    again: bool = False,
    progress: Progress | None = None,
    pipeline: PipelineSettings | None = None,
) -> ImportResult:
    """Read ``path`` and store it as a session (module docstring). Raises SourceURLError for a
    file that cannot be read, StorageError when it was imported before (unless ``again``)."""
    path = Path(path).expanduser()
    if subject_id is not None:
        subject_id = Database.check_subject_id(subject_id)
    db.check_writable()
    if not path.is_file():
        raise SourceURLError(f"{path}: no such file: check the path")
    size = path.stat().st_size
    if size > MAX_IMPORT_FILE_BYTES:
        raise SourceURLError(
            f"{path}: the file is {size / 1024**3:.1f} GiB, more than the "
            f"{MAX_IMPORT_FILE_BYTES / 1024**3:g} GiB limit for a recording: split it into "
            "shorter files"
        )
    # a file imported before is refused before it is read (reading a large one takes a while)
    try:
        digest = file_digest(path, progress)
    except OSError as exc:
        raise SourceURLError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    earlier = imported_before(db, digest)
    if earlier is not None and not again:
        when = datetime.fromtimestamp(earlier.started_at).strftime("%Y-%m-%d %H:%M")
        raise StorageError(
            f"{path}: this file was imported already as session {earlier.id} ({when}); "
            "import it again only on purpose (--again)"
        )
    if progress is not None:
        progress(0.1, "reading the file")
    recording = load_recording(path, options or RecordingOptions())
    return store_recording(db, recording, subject_id, details, digest, progress, pipeline)
