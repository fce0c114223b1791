"""The sample clock mapped to Lab Streaming Layer time, both ways (docs/interop.md).

Samples carry an absolute index on the device's clock. LSL stamps samples with
``pylsl.local_clock()`` seconds. :class:`SampleClock` anchors the two once, on the first block
the engine delivers: the newest sample of that block was measured about now. From then on the
time of sample ``i`` is ``anchor + (i - index0) / fs``, so the jitter of block arrival (a USB
frame, a busy machine) never leaks into the timestamps, and they are exactly ``1 / fs`` apart.

The other way (a time from another program's marker -> our sample index) uses the same anchor,
except when the source does not run in real time (a simulation at ``speed=10``, a replay at
full speed): then the anchor and the arrival of the newest block disagree by more than
:attr:`SampleClock.DRIFT_TOLERANCE_S` and the newest block is the better reference.

The clock reads the current time through ``now`` (``pylsl.local_clock`` by default), so tests can
drive it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from biofeedback.core.types import Chunk, ProcessedChunk


def _lsl_clock() -> float:
    import pylsl

    return float(pylsl.local_clock())


class SampleClock:
    """An engine sink that keeps the mapping between sample indices and LSL time.

    ``fs_hz`` is the stream's nominal rate. Until the first block arrives nothing is anchored:
    :meth:`time_of` returns the current time and :meth:`index_of` None.
    """

    #: Beyond this the newest block, not the anchor, maps an LSL time to a sample index.
    DRIFT_TOLERANCE_S = 0.5

    def __init__(self, fs_hz: float, now: Callable[[], float] | None = None) -> None:
        self.fs_hz = float(fs_hz)
        self._now = now or _lsl_clock
        self._lock = threading.Lock()
        self._anchor: tuple[int, float] | None = None  # (index, LSL time of that sample)
        self._latest: tuple[int, float] | None = None  # (index of the newest sample, arrival)
        self.restarts = 0

    @property
    def anchored(self) -> bool:
        """True once the first block has arrived."""
        return self._anchor is not None

    def now(self) -> float:
        """The current LSL time."""
        return self._now()

    def sink(self, chunk: Chunk, processed: ProcessedChunk) -> None:
        """Engine sink: anchor on the first block; re-anchor when the index jumps back (a board
        that restarted its counter)."""
        if len(chunk) == 0:
            return
        arrival = self._now()
        newest = chunk.end_index - 1
        with self._lock:
            latest = self._latest
            if self._anchor is None or (latest is not None and chunk.first_index <= latest[0]):
                if self._anchor is not None:
                    self.restarts += 1
                self._anchor = (newest, arrival)
            self._latest = (newest, arrival)

    def time_of(self, index: int) -> float:
        """LSL time of sample ``index`` (the current time before the first block)."""
        with self._lock:
            anchor = self._anchor
        if anchor is None:
            return self._now()
        return anchor[1] + (index - anchor[0]) / self.fs_hz

    def index_of(self, lsl_time: float) -> int | None:
        """The sample measured at ``lsl_time`` (never past the newest sample), or None before
        the first block."""
        with self._lock:
            anchor, latest = self._anchor, self._latest
        if anchor is None or latest is None:
            return None
        predicted_latest = anchor[1] + (latest[0] - anchor[0]) / self.fs_hz
        ref = anchor
        if abs(predicted_latest - latest[1]) > self.DRIFT_TOLERANCE_S:
            ref = latest
        index = ref[0] + round((lsl_time - ref[1]) * self.fs_hz)
        return min(index, latest[0])
