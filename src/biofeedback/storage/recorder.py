"""Recorder: stores every sample of a live session without ever making acquisition wait on disk.

The engine calls :meth:`Recorder.sink` on the device thread for every chunk. The sink only puts the
chunk on a bounded queue; a writer thread drains it into memory and, at least every
``commit_interval_s`` (0.5 s by default), writes everything pending (samples in blocks of up to
``block_s`` seconds, markers, threshold changes, phases) in one short write transaction. A crash
or SIGKILL therefore loses at most the last commit interval plus what sat in the queue.

The write transaction is opened only at commit time and closed at once, so several recordings and
readers can share one database: the write lock is held for milliseconds, never while the recorder
waits for data. A commit that finds the database busy is retried with back-off
(``Database.transaction``, up to ``BUSY_WAIT_S``); meanwhile the samples
stay pending. A source running at ``speed=max`` also commits whenever ``flush_s`` of signal is
pending, which bounds the memory the pending samples take.

The writer also keeps the envelope overview of the stored samples (from the live pipeline's
output the sink receives; ``storage/overview.py``) and stores it in the last commit, so a report
need not reprocess the session.

Real-time sources (``info.realtime``): if the queue is full the chunk is dropped and counted (an
overrun), and the hole is stored as a gap; the device thread never blocks. Sources that run as fast
as the consumer allows (``speed=max``) get back-pressure instead, so nothing is lost.
"""

from __future__ import annotations

import collections
import logging
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from biofeedback.core.types import Chunk, ProcessedChunk, StreamInfo
from biofeedback.errors import StorageError
from biofeedback.storage.database import Database, _error_advice, _refresh_extent
from biofeedback.storage.overview import OverviewAccumulator, start_overview, write_overview

log = logging.getLogger(__name__)

_STOP = object()


@dataclass
class RecorderStats:
    """Counters of one recording (read them from any thread)."""

    samples_received: int = 0
    samples_written: int = 0
    blocks_written: int = 0
    bytes_written: int = 0
    commits: int = 0
    overruns: int = 0
    dropped_samples: int = 0
    index_resets: int = 0
    queue_high_water: int = 0
    last_commit_at: float = 0.0
    committed_end_index: int | None = None


class Recorder:
    """Writes one session's samples, markers and threshold changes from a background thread.

    Parameters
    ----------
    db_path
        The database file (a :class:`Database` path).
    session_id
        A session created with :meth:`Database.create_session` (status 'recording').
    info
        The stream being recorded (``info.realtime`` decides drop vs back-pressure).
    queue_size
        Chunks the queue holds before the sink drops (real time) or waits (``speed=max``).
    commit_interval_s
        Longest time between commits; bounds what a crash can lose.
    block_s
        Samples are stored in blocks of up to this many seconds.
    flush_s
        Commit early once this much signal is pending (a source faster than real time).
    """

    #: SQLite page cache of the recorder's connection (KiB): appending needs only the right
    #: edge of the b-trees, and the default (2 MB) would grow with the file for the first hours.
    CACHE_KIB = 64

    def __init__(
        self,
        db_path: Path | str,
        session_id: int,
        info: StreamInfo,
        queue_size: int = 2048,
        commit_interval_s: float = 0.5,
        block_s: float = 1.0,
        flush_s: float = 10.0,
    ) -> None:
        self.db_path = Path(db_path)
        self.session_id = int(session_id)
        self.info = info
        self.commit_interval_s = float(commit_interval_s)
        self.block_samples = max(1, round(block_s * info.fs_hz))
        self.flush_samples = max(self.block_samples, round(flush_s * info.fs_hz))
        self.stats = RecorderStats()
        self.error: str = ""
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, int(queue_size)))
        # Markers, threshold changes and phases are rare: an unbounded deque keeps them from
        # ever being dropped or blocking the GUI thread.
        self._control: collections.deque[tuple[str, tuple[Any, ...]]] = collections.deque()
        self._failed = threading.Event()
        self._closed = False
        self._db = Database(self.db_path)  # opened here so a bad path fails before streaming
        try:
            record = self._db.get_session(self.session_id)
            if self._db._conn is not None:
                self._db._conn.execute(f"PRAGMA cache_size = -{int(self.CACHE_KIB)}")
        except StorageError:
            self._db.close()
            raise
        self._pending: list[Chunk] = []
        self._pending_n = 0
        self._expected: int | None = None
        # the envelope overview of what is stored (written with the last commit; see overview.py)
        self._overview: OverviewAccumulator | None = start_overview(record)
        self._thread = threading.Thread(target=self._writer, name="recorder", daemon=True)
        self._thread.start()

    # -- producer side (device thread) -----------------------------------------------------------
    def sink(self, chunk: Chunk, processed: ProcessedChunk | None = None) -> None:
        """Engine sink: queue ``chunk`` for storage. Never blocks for a real-time source.

        Raises :class:`StorageError` once the writer has failed (disk full, permissions), so the
        engine reports it; what was committed before stays stored.
        """
        if self._failed.is_set():
            self.stats.dropped_samples += len(chunk)
            raise StorageError(self.error)
        if self._closed:
            raise StorageError("the recorder is closed: start a new recording")
        self.stats.samples_received += len(chunk)
        if self.info.realtime:
            try:
                self._queue.put_nowait(_item(chunk, processed))
            except queue.Full:
                self.stats.overruns += 1
                self.stats.dropped_samples += len(chunk)
                return
        else:
            while True:
                try:
                    self._queue.put(_item(chunk, processed), timeout=0.25)
                    break
                except queue.Full:
                    if self._failed.is_set():
                        raise StorageError(self.error) from None
                    if not self._thread.is_alive():
                        raise StorageError("the recorder stopped: start a new recording") from None
        size = self._queue.qsize()
        if size > self.stats.queue_high_water:
            self.stats.queue_high_water = size

    def __call__(self, chunk: Chunk, processed: ProcessedChunk | None = None) -> None:
        """Same as :meth:`sink`, so the recorder itself can be passed to ``engine.add_sink``."""
        self.sink(chunk, processed)

    def add_marker(self, index: int, label: str, note: str = "") -> None:
        """Store a marker at sample ``index`` (queued; written with the next commit)."""
        self._control.append(("marker", (int(index), str(label), str(note))))

    def log_threshold(
        self, index: int, old: float | None, new: float, reason: str, channel: int = 0
    ) -> None:
        """Store a threshold change (queued; written with the next commit)."""
        self._control.append(
            ("threshold", (int(index), old, float(new), str(reason), int(channel)))
        )

    def save_phases(self, phases: list[dict[str, Any]], origin_index: int | None = None) -> None:
        """Store the per-phase measures so far, replacing earlier ones (queued). ``start_s`` in
        the dicts counts from ``origin_index`` (default: the first recorded sample), as in
        :meth:`Database.save_phases`."""
        self._control.append(("phases", ([dict(p) for p in phases], origin_index)))

    def save_summary(self, summary: dict[str, Any]) -> None:
        """Store the session summary so far (queued), so what the runner kept (the answers of a
        step phase, the measures) survives a crash; :meth:`close` writes the final one."""
        self._control.append(("summary", (dict(summary),)))

    @property
    def failed(self) -> bool:
        """True once the writer hit an error; :attr:`error` says what to do."""
        return self._failed.is_set()

    def close(
        self,
        status: str = "complete",
        summary: dict[str, Any] | None = None,
        busy_wait_s: float | None = None,
    ) -> None:
        """Write what is queued, commit, close the session with ``status`` and stop the thread.

        Raises :class:`StorageError` if the writer failed; the session is then left for
        :meth:`Database.recover_interrupted` if it could not be closed here.
        """
        if self._closed:
            return
        self._closed = True
        # Sentinel after the data: blocks if the queue is full of data being written.
        while self._thread.is_alive():
            try:
                self._queue.put(_STOP, timeout=0.25)
                break
            except queue.Full:
                continue
        self._thread.join()
        try:
            full = {
                "recorder": {
                    "samples_written": self.stats.samples_written,
                    "dropped_samples": self.stats.dropped_samples,
                    "overruns": self.stats.overruns,
                    "index_resets": self.stats.index_resets,
                    "bytes_written": self.stats.bytes_written,
                },
                **(summary or {}),
            }
            if self._failed.is_set():
                full["storage_error"] = self.error
                status = "interrupted"
            try:
                if busy_wait_s is None:
                    self._db.finish_session(self.session_id, status, full)
                else:  # the session already failed: a short try, then the pending journal
                    with self._db.short_busy_wait(busy_wait_s):
                        self._db.finish_session(self.session_id, status, full)
            except StorageError as exc:
                if not self._failed.is_set():
                    self.error = str(exc)
                    self._failed.set()
        finally:
            self._db.close()
        if self._failed.is_set():
            raise StorageError(self.error)

    # -- writer thread ------------------------------------------------------------------------------
    def _writer(self) -> None:
        next_commit = time.monotonic() + self.commit_interval_s
        try:
            while True:
                timeout = max(0.0, next_commit - time.monotonic())
                try:
                    item = self._queue.get(timeout=timeout)
                except queue.Empty:
                    item = None
                stop = item is _STOP
                if isinstance(item, tuple):
                    self._add(*item)
                due = time.monotonic() >= next_commit or self._pending_n >= self.flush_samples
                if stop or due:
                    self._flush(final=stop)
                    next_commit = time.monotonic() + self.commit_interval_s
                if stop:
                    return
        except (sqlite3.Error, StorageError) as exc:
            self._fail(exc)
            self._drain_after_failure()
        except Exception as exc:  # unexpected: kept as the session's error, traceback logged
            log.exception("recorder of session %s failed unexpectedly", self.session_id)
            self._fail(StorageError(f"{type(exc).__name__}: {exc}"))
            self._drain_after_failure()

    def _flush(self, final: bool = False) -> None:
        """One short write transaction: everything pending, then COMMIT (busy: retried). The
        ``final`` one also stores the envelope overview, with the last samples."""
        with self._db.transaction() as conn:
            added, end = self._write_pending(conn)
            self._write_control(conn)
            if added:
                _refresh_extent_fast(conn, self.session_id, added, end)
            overview = self._overview.result() if final and self._overview else None
            if overview is not None:
                write_overview(conn, self.session_id, overview)
            conn.execute(
                "UPDATE sessions SET heartbeat_at = ? WHERE id = ?", (time.time(), self.session_id)
            )
        self.stats.samples_written += added
        if end is not None:
            self.stats.committed_end_index = end
        self.stats.commits += 1
        self.stats.last_commit_at = time.time()

    def _add(self, chunk: Chunk, live: tuple[np.ndarray, np.ndarray] | None) -> None:
        if self._expected is not None and chunk.first_index < self._expected:
            # The source's sample counter went backwards (device reset): keep the samples, placed
            # right after what is stored, and count it.
            self.stats.index_resets += 1
            chunk = Chunk(self._expected, chunk.samples, chunk.flags)
        if self._overview is not None:
            if live is None or len(live[0]) != len(chunk):
                self._overview = None  # a chunk without its envelope: no overview at all
            else:
                self._overview.add(chunk.first_index, *live)
        self._pending.append(chunk)
        self._pending_n += len(chunk)
        self._expected = chunk.end_index

    def _write_pending(self, conn: sqlite3.Connection) -> tuple[int, int | None]:
        """Write every pending sample (contiguous runs split into blocks); returns the number of
        samples written and the index after the last one."""
        if not self._pending:
            return 0, None
        # Split pending chunks into contiguous runs (a gap starts a new block).
        runs: list[list[Chunk]] = [[self._pending[0]]]
        for chunk in self._pending[1:]:
            if chunk.first_index != runs[-1][-1].end_index:
                runs.append([chunk])
            else:
                runs[-1].append(chunk)
        added = 0
        end: int | None = None
        for run in runs:
            first = run[0].first_index
            samples = np.concatenate([c.samples for c in run]) if len(run) > 1 else run[0].samples
            flags = np.concatenate([c.flags for c in run]) if len(run) > 1 else run[0].flags
            for pos in range(0, len(samples), self.block_samples):
                n = min(self.block_samples, len(samples) - pos)
                nbytes = self._db.write_block(
                    conn, self.session_id, first + pos, samples[pos : pos + n], flags[pos : pos + n]
                )
                self.stats.blocks_written += 1
                self.stats.bytes_written += nbytes
                added += n
                end = first + pos + n
        self._pending = []
        self._pending_n = 0
        return added, end

    def _write_control(self, conn: sqlite3.Connection) -> None:
        now = time.time()
        # Items appended meanwhile (other threads) wait for the next commit.
        for _ in range(len(self._control)):
            kind, args = self._control.popleft()
            if kind == "marker":
                index, label, note = args
                conn.execute(
                    "INSERT INTO markers (session_id, sample_index, label, note, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (self.session_id, index, label, note, now),
                )
            elif kind == "threshold":
                index, old, new, reason, channel = args
                conn.execute(
                    "INSERT INTO threshold_log (session_id, sample_index, channel, old_uv, "
                    "new_uv, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (self.session_id, index, channel, old, new, reason, now),
                )
            elif kind == "phases":
                # Database.save_phases opens its own transaction; we are inside ours, so write
                # the rows directly with the same conversion.
                self._save_phases_in(conn, args[0], args[1])
            elif kind == "summary":
                from biofeedback.storage.database import _dumps

                conn.execute(
                    "UPDATE sessions SET summary_json = ? WHERE id = ? AND status = 'recording'",
                    (_dumps(args[0]), self.session_id),
                )

    def _save_phases_in(
        self, conn: sqlite3.Connection, phases: list[dict[str, Any]], origin_index: int | None
    ) -> None:
        from biofeedback.storage.database import _dumps, _phase_extent

        origin = origin_index
        if origin is None:
            row = conn.execute(
                "SELECT MIN(first_index) FROM chunks WHERE session_id = ?", (self.session_id,)
            ).fetchone()
            origin = row[0] or 0
        conn.execute("DELETE FROM phases WHERE session_id = ?", (self.session_id,))
        for seq, phase in enumerate(phases):
            start, end = _phase_extent(phase, self.info.fs_hz, origin)
            conn.execute(
                "INSERT INTO phases (session_id, seq, name, kind, start_index, end_index, "
                "measures_json) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    self.session_id,
                    seq,
                    str(phase.get("name", f"phase {seq + 1}")),
                    str(phase.get("kind", "")),
                    start,
                    end,
                    _dumps(phase),
                ),
            )

    def _fail(self, exc: BaseException) -> None:
        advice = str(exc) if isinstance(exc, StorageError) else _error_advice(exc, self.db_path)
        kept = self.stats.samples_written / self.info.fs_hz
        self.error = (
            f"recording stopped saving: {advice}. The first {kept:.1f} s of this session are kept"
        )
        self._pending = []
        self._pending_n = 0
        self._failed.set()

    def _drain_after_failure(self) -> None:
        # Keep emptying the queue so a back-pressured producer never deadlocks.
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if isinstance(item, tuple):
                self.stats.dropped_samples += len(item[0])


def _item(
    chunk: Chunk, processed: ProcessedChunk | None
) -> tuple[Chunk, tuple[np.ndarray, np.ndarray] | None]:
    """A queue item: the chunk and, for the overview, the live envelope and flags of it."""
    if processed is None or processed.first_index != chunk.first_index:
        return chunk, None
    return chunk, (processed.envelope_uv, processed.flags)


def _refresh_extent_fast(
    conn: sqlite3.Connection, session_id: int, added: int, end_index: int | None
) -> None:
    # Incremental: avoid re-scanning every block of a long session on each commit.
    row = conn.execute("SELECT first_index FROM sessions WHERE id = ?", (session_id,)).fetchone()
    if row is None or row[0] is None:
        _refresh_extent(conn, session_id)
        return
    conn.execute(
        "UPDATE sessions SET n_samples = n_samples + ?, end_index = MAX(COALESCE(end_index, 0), ?) "
        "WHERE id = ?",
        (int(added), int(end_index or 0), session_id),
    )
