"""Is a real-time source sending at the rate it declares? (pure: no threads, no I/O).

Time in a recording is the source's sample counter. A board that sends faster than it declares
(a text-mode sketch printing ten times faster than the ``fs=`` given for it, firmware whose INFO
says 1000 Hz while its timer runs at 1100 Hz) would be recorded as if it were real time: the
session would be longer than it was, and every rate in it wrong. :class:`RateCheck` compares
the stream's sample index with the monotonic wall clock while it streams and says so once.

How it measures, robustly to USB batching, start-up bursts and a loaded machine: every chunk's
arrival gives a point (arrival time ``t``, index one past its last sample ``i``). A sample can
arrive late (USB frames, a busy host, a burst of backlog) but never before it was sampled, so
the point with the least delay in a stretch of time (largest ``i / fs - t``) is the one that
best shows the source's own clock. Every ``every_s`` (0.25 s) the check takes the least-delayed
point in the oldest quarter and in the newest half of the last ``window_s`` (2 s) and measures
the rate between them (0.5 to 2 s apart). A start-up burst only makes the first points late; a
stall of the host (up to half the window) delays some points but leaves the least-delayed ones
alone. The rate is *off* when
it differs from the declared one by more than ``tolerance`` (5 %); when it has been off at every
measurement for ``hold_s`` (2 s), the source is flagged, once. The first ``warmup_s`` (1 s) of
each connection is ignored, and :meth:`RateCheck.restart` starts afresh after a reconnect.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

__all__ = ["RateCheck", "RateVerdict"]


@dataclass(frozen=True)
class RateVerdict:
    """The source's measured rate is off its declared rate (``measured_hz`` / ``declared_hz``)."""

    declared_hz: float
    measured_hz: float

    @property
    def ratio(self) -> float:
        """Measured over declared rate (1.2: 20 % too fast)."""
        return self.measured_hz / self.declared_hz

    @property
    def too_fast(self) -> bool:
        """True when the source sends more samples than it declares."""
        return self.measured_hz > self.declared_hz

    def describe(self, what: str = "the source") -> str:
        """One line: what was measured, and what it means."""
        pct = (self.ratio - 1.0) * 100.0
        how = "faster" if self.too_fast else "slower"
        return (
            f"{what} sends {self.measured_hz:.0f} samples/s but declares {self.declared_hz:g} Hz "
            f"({pct:+.0f} %, {how} than it says): times and durations in this recording are off "
            f"by that much"
        )

    def as_dict(self) -> dict[str, float | bool]:
        """JSON-ready figures."""
        return {
            "declared_hz": self.declared_hz,
            "measured_hz": round(self.measured_hz, 2),
            "ratio": round(self.ratio, 4),
            "too_fast": self.too_fast,
        }


class RateCheck:
    """Measured against declared sample rate of one real-time stream (see module docstring).

    Feed it with :meth:`add` for every chunk (stream index one past the chunk, arrival time on a
    monotonic clock); it returns a :class:`RateVerdict` once, the first time the rate has been
    off for ``hold_s``, and None otherwise.
    """

    def __init__(
        self,
        declared_hz: float,
        *,
        window_s: float = 2.0,
        tolerance: float = 0.05,
        hold_s: float = 2.0,
        warmup_s: float = 1.0,
        every_s: float = 0.25,
    ) -> None:
        if not (declared_hz > 0 and math.isfinite(declared_hz)):
            raise ValueError(f"declared rate must be positive, got {declared_hz!r}")
        self.declared_hz = float(declared_hz)
        self.window_s = float(window_s)
        self.tolerance = float(tolerance)
        self.hold_s = float(hold_s)
        self.warmup_s = float(warmup_s)
        self.every_s = float(every_s)
        #: The latest measurement (None before the first full window).
        self.measured_hz: float | None = None
        #: Set once the rate has been off for ``hold_s``; never cleared.
        self.verdict: RateVerdict | None = None
        self.restart()

    def restart(self) -> None:
        """Forget the points (a new connection): warm up and fill the window again."""
        self._points: deque[tuple[float, int]] = deque()
        self._t_start: float | None = None
        self._next_eval = -math.inf
        self._off_since: float | None = None

    def add(self, end_index: int, now: float) -> RateVerdict | None:
        """Samples up to ``end_index`` (exclusive) had arrived at ``now``; a verdict the first
        time the rate has been off for ``hold_s``, else None."""
        if self._t_start is None:
            self._t_start = now
        if now - self._t_start < self.warmup_s:
            return None
        points = self._points
        if points and end_index < points[-1][1]:
            self.restart()  # the index went back (a rebooted source): start afresh
            self._t_start = now
            return None
        points.append((now, int(end_index)))
        horizon = now - self.window_s
        while points and points[0][0] < horizon:
            points.popleft()
        if now < self._next_eval:
            return None
        self._next_eval = now + self.every_s
        return self._evaluate(now)

    def _evaluate(self, now: float) -> RateVerdict | None:
        measured = self._measure(now)
        self.measured_hz = measured
        if measured is None or abs(measured / self.declared_hz - 1.0) <= self.tolerance:
            self._off_since = None
            return None
        if self._off_since is None:
            self._off_since = now
        if self.verdict is None and now - self._off_since >= self.hold_s:
            self.verdict = RateVerdict(self.declared_hz, measured)
            return self.verdict
        return None

    def _measure(self, now: float) -> float | None:
        """Rate between the least-delayed points of the oldest quarter and the newest half."""
        points = self._points
        if not points or points[0][0] > now - self.window_s * 0.95:
            return None  # the window is not full yet
        quarter = self.window_s / 4.0
        old_end = now - self.window_s + quarter
        new_start = now - 2.0 * quarter
        fs = self.declared_hz
        old = new = None
        for t, i in points:
            lead = i / fs - t
            if t < old_end:
                if old is None or lead > old[0]:
                    old = (lead, t, i)
            elif t >= new_start and (new is None or lead > new[0]):
                new = (lead, t, i)
        if old is None or new is None or new[1] - old[1] <= 0:
            return None
        return (new[2] - old[2]) / (new[1] - old[1])
