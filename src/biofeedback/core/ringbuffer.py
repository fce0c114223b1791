"""Fixed-capacity ring buffer indexed by absolute sample number, with independent readers.

One writer (the device thread) appends; any number of readers each keep their own cursor
(docs/architecture.md, principle 5). Readers always get copies, so they never see a half-written block.
"""

from __future__ import annotations

import threading

import numpy as np


class RingBuffer:
    """Holds the most recent ``capacity`` rows of shape ``row_shape`` and dtype ``dtype``.

    Row ``i`` of the stream lives at slot ``i % capacity``. ``end_index`` is the absolute index one
    past the newest row; the oldest row still held is ``max(start_index, end_index - capacity)``.
    """

    def __init__(
        self,
        capacity: int,
        row_shape: tuple[int, ...] = (),
        dtype: np.dtype | type = np.float64,
        start_index: int = 0,
    ) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = int(capacity)
        self._data = np.zeros((self.capacity, *row_shape), dtype=dtype)
        self._lock = threading.Lock()
        self._start = int(start_index)
        self._end = int(start_index)

    @property
    def dtype(self) -> np.dtype:
        """Element type of the rows."""
        return self._data.dtype

    @property
    def row_shape(self) -> tuple[int, ...]:
        """Shape of one row."""
        return tuple(self._data.shape[1:])

    @property
    def end_index(self) -> int:
        """Absolute index one past the newest row."""
        with self._lock:
            return self._end

    @property
    def oldest_index(self) -> int:
        """Absolute index of the oldest row still held."""
        with self._lock:
            return max(self._start, self._end - self.capacity)

    def reset(self, start_index: int = 0) -> None:
        """Forget everything; the next write starts at ``start_index``."""
        with self._lock:
            self._start = self._end = int(start_index)

    def write(self, rows: np.ndarray, first_index: int | None = None) -> None:
        """Append rows. ``first_index`` must equal ``end_index`` if given (no silent gaps:
        the source marks gaps explicitly with NaN rows)."""
        rows = np.asarray(rows, dtype=self._data.dtype)
        n = len(rows)
        with self._lock:
            if first_index is not None and first_index != self._end:
                if self._end == self._start:
                    self._start = self._end = int(first_index)
                else:
                    raise ValueError(
                        f"non-contiguous write: expected index {self._end}, got {first_index}"
                    )
            if n == 0:
                return
            if n >= self.capacity:
                rows = rows[-self.capacity :]
                skip = n - self.capacity
            else:
                skip = 0
            m = len(rows)
            pos = (self._end + skip) % self.capacity
            first = min(m, self.capacity - pos)
            self._data[pos : pos + first] = rows[:first]
            if first < m:
                self._data[: m - first] = rows[first:]
            self._end += n

    def _copy(self, lo: int, hi: int) -> np.ndarray:
        n = hi - lo
        out = np.empty((n, *self._data.shape[1:]), dtype=self._data.dtype)
        if n == 0:
            return out
        pos = lo % self.capacity
        first = min(n, self.capacity - pos)
        out[:first] = self._data[pos : pos + first]
        if first < n:
            out[first:] = self._data[: n - first]
        return out

    def read_range(self, lo: int, hi: int) -> tuple[int, np.ndarray]:
        """Copy rows ``[lo, hi)`` clipped to what is held; returns ``(first_index, rows)``."""
        with self._lock:
            oldest = max(self._start, self._end - self.capacity)
            lo = max(int(lo), oldest)
            hi = min(int(hi), self._end)
            hi = max(hi, lo)
            return lo, self._copy(lo, hi)

    def read_since(self, cursor: int, max_rows: int | None = None) -> tuple[int, np.ndarray]:
        """Rows from ``cursor`` to the newest (at most ``max_rows``). If the cursor fell behind
        the oldest row held, reading starts at the oldest; compare the returned first index with
        the cursor to count what was overwritten."""
        with self._lock:
            oldest = max(self._start, self._end - self.capacity)
            lo = max(int(cursor), oldest)
            hi = self._end if max_rows is None else min(self._end, lo + max_rows)
            hi = max(hi, lo)
            return lo, self._copy(lo, hi)

    def read_last(self, n: int) -> tuple[int, np.ndarray]:
        """The newest ``n`` rows (fewer if not yet written); a peek that moves no cursor."""
        with self._lock:
            oldest = max(self._start, self._end - self.capacity)
            lo = max(self._end - int(n), oldest)
            return lo, self._copy(lo, self._end)

    def reader(self, from_start: bool = False) -> RingReader:
        """A new independent reader; by default it starts at the newest row."""
        return RingReader(self, self.oldest_index if from_start else self.end_index)


class RingReader:
    """A cursor into a :class:`RingBuffer`. ``read()`` returns new rows and advances; ``lost``
    counts rows overwritten before this reader got to them."""

    def __init__(self, buffer: RingBuffer, cursor: int) -> None:
        self.buffer = buffer
        self.cursor = int(cursor)
        self.lost = 0

    def read(self, max_rows: int | None = None) -> tuple[int, np.ndarray]:
        """New rows since the last read, as ``(first_index, rows)``."""
        first, rows = self.buffer.read_since(self.cursor, max_rows)
        if first > self.cursor:
            self.lost += first - self.cursor
        self.cursor = first + len(rows)
        return first, rows

    def available(self) -> int:
        """Rows waiting for this reader."""
        return max(0, self.buffer.end_index - self.cursor)
