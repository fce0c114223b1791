"""Clocks: a protocol, the real monotonic clock, a fake clock for tests, and drift-free pacing."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Monotonic seconds and a way to wait."""

    def now(self) -> float:
        """Seconds on a monotonic clock."""
        ...

    def sleep_until(self, t: float, stop: threading.Event | None = None) -> bool:
        """Wait until ``now() >= t`` or ``stop`` is set; returns False if stopped."""
        ...


class MonotonicClock:
    """The real clock (``time.monotonic``)."""

    def now(self) -> float:
        """Seconds on the monotonic clock."""
        return time.monotonic()

    def sleep_until(self, t: float, stop: threading.Event | None = None) -> bool:
        """Sleep until ``t``; wakes early and returns False if ``stop`` is set."""
        delay = t - time.monotonic()
        if delay <= 0:
            return not (stop is not None and stop.is_set())
        if stop is None:
            time.sleep(delay)
            return True
        return not stop.wait(delay)


class FakeClock:
    """A clock that only moves when told to (or when someone sleeps on it). Thread-safe."""

    def __init__(self, start: float = 0.0) -> None:
        self._t = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        """Current fake time."""
        with self._lock:
            return self._t

    def advance(self, dt: float) -> None:
        """Move time forward by ``dt`` seconds."""
        with self._lock:
            self._t += float(dt)

    def sleep_until(self, t: float, stop: threading.Event | None = None) -> bool:
        """Jump straight to ``t`` (sleeping costs no real time)."""
        if stop is not None and stop.is_set():
            return False
        with self._lock:
            self._t = max(self._t, float(t))
        return True


class Pacer:
    """Releases blocks of samples on a fixed schedule without drift.

    Deadlines are computed from the start time and the absolute sample count (never by adding
    per-iteration sleeps), so rounding and scheduling jitter never accumulate.
    """

    def __init__(self, fs_hz: float, clock: Clock | None = None) -> None:
        self.fs_hz = float(fs_hz)
        self.clock: Clock = clock or MonotonicClock()
        self._t0: float | None = None
        self._n0 = 0

    def start(self, first_index: int = 0) -> None:
        """Start the schedule: sample ``first_index`` is due now."""
        self._t0 = self.clock.now()
        self._n0 = int(first_index)

    def due_time(self, index: int) -> float:
        """Clock time at which sample ``index`` is due."""
        if self._t0 is None:
            self.start()
        assert self._t0 is not None
        return self._t0 + (index - self._n0) / self.fs_hz

    def wait_for(self, end_index: int, stop: threading.Event | None = None) -> bool:
        """Wait until samples up to ``end_index`` (exclusive) are due; False if stopped."""
        return self.clock.sleep_until(self.due_time(end_index), stop)

    def due_index(self) -> int:
        """Absolute index one past the last sample due by now."""
        if self._t0 is None:
            self.start()
        assert self._t0 is not None
        return self._n0 + int((self.clock.now() - self._t0) * self.fs_hz)
