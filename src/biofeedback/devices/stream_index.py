"""StreamIndexer: puts a board's samples on the stream's clock and makes every gap explicit.

A stream's sample index counts from 0 for the whole session, across reconnects. The firmware
numbers its own samples (from boot); text sketches number nothing. The indexer maps either onto
the stream index and fills what never arrived with NaN samples flagged :attr:`Flag.MISSING`,
never a silent splice:

- binary: stream index = device index + offset. While the board keeps counting (a cable pulled
  and put back) the offset holds and a gap is exact; after the board restarted its count
  (``rebase``) the gap is estimated from the time since the last sample.
- text: lines are consecutive; after a reconnect the gap is estimated from time.

Protocols (:mod:`biofeedback.devices.protocol`) hand it decoded rows; it hands chunks to the
device's ``emit``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from biofeedback.core.types import Chunk, Flag, StreamInfo
from biofeedback.devices.base import DeviceStats

log = logging.getLogger(__name__)

#: Longest stretch of missing samples filled with NaN (longer outages are capped, with a message).
MAX_GAP_FILL_S = 600.0
GAP_CHUNK_S = 1.0


class StreamIndexer:
    """Stream indices for rows from a board, with gaps filled; see the module docstring."""

    def __init__(
        self,
        emit: Callable[[Chunk], None],
        stats: DeviceStats,
        note: Callable[[str], None] = lambda message: None,
    ) -> None:
        self._emit = emit
        self._stats = stats
        self._note = note
        #: The stream's format (set once the protocol has opened the board).
        self.info: StreamInfo | None = None
        #: Stream index minus device index for the current connection (None before a block).
        self.offset: int | None = None
        #: Next rows: the source restarted (or was away); place them by time, not by index.
        self.rebase = False
        self.next_index = 0  # stream index of the next sample to emit
        self.last_arrival: float | None = None
        #: Device index one past the last sample received (binary), None before the first.
        self.device_end: int | None = None

    def _info(self) -> StreamInfo:
        if self.info is None:
            raise RuntimeError("StreamIndexer used before the stream's format is known")
        return self.info

    def block(self, device_index: int, codes: np.ndarray, now: float) -> None:
        """Rows numbered by the device (the firmware's absolute sample index)."""
        n = len(codes)
        if self.offset is None:
            self.offset = self.next_index - device_index
        elif self.rebase or device_index + self.offset < self.next_index:
            self.offset = self.estimate_index(n, now) - device_index
            self.rebase = False
        first = self.fill_gap(device_index + self.offset)
        self.device_end = device_index + n
        self.last_arrival = now
        self.emit_rows(first, codes.astype(np.float64))

    def rows(self, rows: np.ndarray, now: float) -> None:
        """Consecutive rows without numbers (text lines) that arrived at ``now``."""
        first = self.next_index
        if self.rebase:
            first = self.fill_gap(self.estimate_index(len(rows), now))
            self.rebase = False
        self.last_arrival = now
        self.emit_rows(first, rows)

    def estimate_index(self, n: int, now: float) -> int:
        """Stream index of the first of ``n`` samples that arrived at ``now`` after an outage of
        unknown length: the elapsed time since the last sample times the rate."""
        if self.last_arrival is None:
            return self.next_index
        elapsed = now - self.last_arrival
        missing = round(elapsed * self._info().fs_hz) - n
        return self.next_index + max(0, missing)

    def fill_gap(self, first: int) -> int:
        """Emit NaN samples flagged MISSING up to ``first``; returns where the data goes, which
        is earlier than ``first`` when an outage longer than MAX_GAP_FILL_S was capped."""
        info = self._info()
        gap = first - self.next_index
        if gap <= 0:
            return first
        cap = int(MAX_GAP_FILL_S * info.fs_hz)
        if gap > cap:
            message = f"gap of {gap / info.fs_hz:.0f} s capped at {MAX_GAP_FILL_S:.0f} s"
            log.warning("%s", message)
            self._note(message)
            # later samples of this connection move up by the same amount
            if self.offset is not None:
                self.offset -= gap - cap
            gap = cap
        step = max(1, int(GAP_CHUNK_S * info.fs_hz))
        n_ch = info.n_channels
        start = self.next_index
        for lo in range(0, gap, step):
            k = min(step, gap - lo)
            self._emit(
                Chunk(
                    start + lo,
                    np.full((k, n_ch), np.nan),
                    np.full(k, int(Flag.MISSING), dtype=np.uint16),
                )
            )
        self._stats.missing_samples += gap
        self.next_index = start + gap
        return self.next_index

    def emit_rows(self, first: int, rows: np.ndarray) -> None:
        """Hand ``rows`` on as the chunk starting at stream index ``first``."""
        self._emit(Chunk(first, rows))
        self.next_index = first + len(rows)
