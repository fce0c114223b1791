"""The envelope overview kept while recording, so a report need not reprocess the session.

A clinician report plots the whole session's envelope in about 1500 bins. Computing it from the
stored samples means running the session's pipeline over every sample again (about 2 s for a
40-minute session). The recorder therefore keeps, while it records, the same quantities the
report bins, per bin of :data:`OVERVIEW_BIN_S` of samples (a "fine bin"): per output channel the
sum and the count of the valid envelope values (flags 0, finite), and per bin the number of
flagged samples. Only samples that were stored are counted (samples that never arrived count as
flagged, as the store reads them back), so the overview describes exactly the stored session. It is written in the recorder's last commit, with the last samples; a
session that ended in a crash has none (or one that does not cover what was stored), and the
report then reprocesses the samples as before (docs/storage.md, "Envelope overview").
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import sqlite3
import time
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from biofeedback.storage.database import Database, SessionRecord

log = logging.getLogger(__name__)

#: Length of one fine bin of the stored overview, seconds (100 ms: a 40-minute session keeps
#: 24 000 bins, a few hundred kB; the report's bins are a whole number of fine bins).
OVERVIEW_BIN_S = 0.1


def fine_bin_samples(fs_hz: float) -> int:
    """Samples per fine bin at ``fs_hz``."""
    return max(1, round(fs_hz * OVERVIEW_BIN_S))


def report_bin_samples(total: int, points: int, fine: int) -> int:
    """Samples per bin of a ``points``-bin plot of ``total`` samples: about ``total / points``,
    rounded up to whole fine bins once a bin holds at least one (short sessions keep the exact
    size, and are reprocessed: they are quick)."""
    size = max(1, math.ceil(total / max(1, points)))
    if size >= fine:
        size = fine * math.ceil(size / fine)
    return size


def pipeline_key(record: SessionRecord) -> str:
    """A digest of the pipeline the session's stored settings give (what a report would use)."""
    from biofeedback.storage.reprocess import pipeline_for

    return described_key(pipeline_for(record).describe())


def described_key(described: dict[str, Any]) -> str:
    """A digest of a fresh pipeline's ``describe()``."""
    text = json.dumps(described, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class StoredOverview:
    """A session's fine-binned envelope (bin ``i`` starts at ``first_index + i * bin_samples``)."""

    bin_samples: int
    first_index: int
    end_index: int
    n_samples: int  # samples counted (stored samples; gaps between blocks are not)
    pipeline_sha256: str
    sums: np.ndarray  # [bins, k] sum of valid envelope values, uV
    counts: np.ndarray  # [bins, k] number of valid envelope values
    flagged: np.ndarray  # [bins] samples with any flag set

    @property
    def n_bins(self) -> int:
        return len(self.flagged)


class OverviewAccumulator:
    """Builds a :class:`StoredOverview` from the live pipeline's output, chunk by chunk."""

    def __init__(self, bin_samples: int, n_outputs: int, pipeline_sha256: str) -> None:
        self.bin_samples = int(bin_samples)
        self.k = int(n_outputs)
        self.pipeline_sha256 = pipeline_sha256
        self.first: int | None = None
        self.end: int | None = None
        self.n_samples = 0
        self._sums = np.zeros((0, self.k))
        self._counts = np.zeros((0, self.k), dtype=np.int64)
        self._flagged = np.zeros(0, dtype=np.int64)

    def add(self, first_index: int, envelope_uv: np.ndarray, flags: np.ndarray) -> None:
        """Count one stored chunk's envelope [n, k] and flags [n, k] starting at ``first_index``."""
        n = len(envelope_uv)
        if n == 0:
            return
        if self.first is None:
            self.first = int(first_index)
        if self.end is not None and first_index > self.end:
            self._count_missing(self.end, int(first_index))
        bins = (np.arange(first_index, first_index + n) - self.first) // self.bin_samples
        lo = int(bins[0])
        local = bins - lo
        width = int(local[-1]) + 1
        self._grow(lo + width)
        ok = (flags == 0) & np.isfinite(envelope_uv)
        for c in range(self.k):
            sel = ok[:, c]
            self._sums[lo : lo + width, c] += np.bincount(
                local[sel], weights=envelope_uv[sel, c], minlength=width
            )
            self._counts[lo : lo + width, c] += np.bincount(local[sel], minlength=width)
        self._flagged[lo : lo + width] += np.bincount(
            local, weights=(flags != 0).any(axis=1), minlength=width
        ).astype(np.int64)
        self.n_samples += n
        self.end = max(self.end or 0, int(first_index) + n)

    def _count_missing(self, start: int, stop: int) -> None:
        """Samples that never reached the store: read back, they are missing (flagged) rows."""
        assert self.first is not None
        b0 = (start - self.first) // self.bin_samples
        b1 = (stop - 1 - self.first) // self.bin_samples
        self._grow(b1 + 1)
        edges = self.first + np.arange(b0, b1 + 2, dtype=np.int64) * self.bin_samples
        edges[0], edges[-1] = start, stop
        self._flagged[b0 : b1 + 1] += np.diff(edges)

    def _grow(self, needed: int) -> None:
        have = len(self._flagged)
        if needed <= have:
            return
        size = max(needed, 2 * have, 1024)
        self._sums = np.concatenate([self._sums, np.zeros((size - have, self.k))])
        self._counts = np.concatenate(
            [self._counts, np.zeros((size - have, self.k), dtype=np.int64)]
        )
        self._flagged = np.concatenate([self._flagged, np.zeros(size - have, dtype=np.int64)])

    def result(self) -> StoredOverview | None:
        """The overview so far (None before the first sample)."""
        if self.first is None or self.end is None:
            return None
        n_bins = math.ceil((self.end - self.first) / self.bin_samples)
        return StoredOverview(
            self.bin_samples,
            self.first,
            self.end,
            self.n_samples,
            self.pipeline_sha256,
            self._sums[:n_bins].copy(),
            self._counts[:n_bins].copy(),
            self._flagged[:n_bins].copy(),
        )


def _pack(ov: StoredOverview) -> bytes:
    parts = [
        ov.sums.astype("<f8").tobytes(),
        ov.counts.astype("<i4").tobytes(),
        ov.flagged.astype("<i4").tobytes(),
    ]
    return zlib.compress(b"".join(parts), 6)


def _unpack(blob: bytes, n_bins: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three arrays; ValueError when the blob does not hold exactly them."""
    try:
        raw = zlib.decompress(blob)
    except zlib.error as exc:
        raise ValueError(f"not readable ({exc})") from None
    expected = n_bins * (8 * k + 4 * k + 4)
    if len(raw) != expected:
        raise ValueError(f"{len(raw)} bytes where {n_bins} bins of {k} outputs need {expected}")
    a, b = n_bins * k * 8, n_bins * k * 12
    sums = np.frombuffer(raw[:a], dtype="<f8").reshape(n_bins, k).astype(np.float64)
    counts = np.frombuffer(raw[a:b], dtype="<i4").reshape(n_bins, k).astype(np.int64)
    flagged = np.frombuffer(raw[b:], dtype="<i4").astype(np.int64)
    return sums, counts, flagged


def write_overview(conn: sqlite3.Connection, session_id: int, ov: StoredOverview) -> None:
    """Store (replace) a session's overview inside the caller's transaction."""
    conn.execute(
        "INSERT OR REPLACE INTO overviews (session_id, bin_samples, first_index, end_index, "
        "n_samples, n_bins, n_outputs, pipeline_sha256, data, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            int(session_id),
            ov.bin_samples,
            ov.first_index,
            ov.end_index,
            ov.n_samples,
            ov.n_bins,
            ov.sums.shape[1],
            ov.pipeline_sha256,
            _pack(ov),
            time.time(),
        ),
    )


def read_overview(db: Database, session_id: int) -> StoredOverview | None:
    """A session's stored overview; None when there is none or it is damaged (logged)."""
    rows = db._query(
        "SELECT bin_samples, first_index, end_index, n_samples, n_bins, n_outputs, "
        "pipeline_sha256, data FROM overviews WHERE session_id = ?",
        (int(session_id),),
    )
    if not rows:
        return None
    bin_samples, first, end, n_samples, n_bins, k, key, blob = rows[0]
    try:
        if bin_samples < 1 or n_bins != math.ceil((end - first) / bin_samples):
            raise ValueError(f"{n_bins} bins of {bin_samples} samples for {first}..{end}")
        sums, counts, flagged = _unpack(bytes(blob), int(n_bins), int(k))
    except (ValueError, TypeError) as exc:
        log.warning(
            "session %s: the stored envelope overview is damaged (%s): the report reprocesses "
            "the samples instead",
            session_id,
            exc,
        )
        return None
    return StoredOverview(
        int(bin_samples), int(first), int(end), int(n_samples), str(key), sums, counts, flagged
    )


def usable_overview(
    db: Database, record: SessionRecord, described: dict[str, Any]
) -> StoredOverview | None:
    """The stored overview when it describes exactly what is stored now and was made with the
    pipeline a report would use (``described``: its fresh ``describe()``); else None (the
    caller reprocesses the samples)."""
    ov = read_overview(db, record.id)
    if ov is None:
        return None
    first, end, total = db.stored_extent(record.id)
    if (first, end, total) != (ov.first_index, ov.end_index, ov.n_samples):
        log.info(
            "session %s: the envelope overview covers %s..%s (%s samples), the store %s..%s "
            "(%s): reprocessing",
            record.id,
            ov.first_index,
            ov.end_index,
            ov.n_samples,
            first,
            end,
            total,
        )
        return None
    n_outputs = len(described.get("outputs") or [])
    if ov.sums.shape[1] != n_outputs or ov.pipeline_sha256 != described_key(described):
        log.info("session %s: the envelope overview was made with other settings", record.id)
        return None
    return ov


def start_overview(record: SessionRecord) -> OverviewAccumulator | None:
    """An empty overview for a session about to be recorded (None, logged, if its pipeline
    settings cannot be turned into a pipeline: the report then reprocesses)."""
    from biofeedback.dsp.settings import PipelineSettingsError
    from biofeedback.storage.reprocess import pipeline_for

    try:
        described = pipeline_for(record).describe()
    except (PipelineSettingsError, ValueError, TypeError, ArithmeticError) as exc:
        log.warning("session %s: no envelope overview is kept (%s)", record.id, exc)
        return None
    k = len(described.get("outputs") or [])
    return OverviewAccumulator(fine_bin_samples(record.info.fs_hz), k, described_key(described))
