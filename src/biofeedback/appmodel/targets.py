"""Per-channel targets: the one place a channel's target (uV RMS) is kept and changed.

Every change goes through :meth:`Targets.set` and is announced once on :attr:`Targets.changed`
as ``(channel, value_uv, reason)``; the gauge, the envelope plot, the spin box, the tone and
the network streams all subscribe to that event, so they can never disagree. Reasons:
``clinician`` (spin box, line drag, + / -), ``protocol`` (the session's runner), ``first
seconds`` (no remembered target: from the first seconds of signal), ``kept`` (a remembered
target restored), ``from recent signal`` (the button). Each change is logged in
:attr:`Targets.log`.

The rule for a target from recent signal lives in :mod:`biofeedback.training.thresholds`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from biofeedback.appmodel.events import Signal
from biofeedback.training import thresholds as rules

log = logging.getLogger(__name__)

#: Recent moving-RMS samples per channel: an array [channels, samples] or one array each.
Recent = np.ndarray | Sequence[np.ndarray] | Sequence[Sequence[float]]

#: Target of a channel with none remembered, until the first seconds of signal give one.
PLACEHOLDER_UV = 5.0
#: Targets are kept in this range (uV RMS); the spin box offers the same.
MIN_UV, MAX_UV = 0.1, 5000.0


@dataclass
class TargetChange:
    """One entry of the window's threshold log: who changed which channel's target, when, to what."""

    index: int
    channel: int
    value_uv: float
    reason: str


class Targets:
    """The channels' targets and their log.

    ``sample_index`` returns the newest sample index (for the log); ``remembered`` maps channel
    names to the targets kept from an earlier run.
    """

    def __init__(self, sample_index: Callable[[], int] = lambda: 0) -> None:
        self.sample_index = sample_index
        self.names: list[str] = []
        self.values_uv: list[float] = []
        self.pending: list[bool] = []  # no target yet: the first seconds will give one
        self.log: list[TargetChange] = []
        #: (channel, value_uv, reason) after every change
        self.changed = Signal("targets.changed")
        #: the channel list was replaced (a new source): (names,)
        self.reset = Signal("targets.reset")

    def __len__(self) -> int:
        return len(self.values_uv)

    def setup(self, names: Sequence[str], remembered: dict[str, float]) -> None:
        """New channels (a source opened): remembered targets, else a placeholder pending."""
        self.names = [str(n) for n in names]
        values, pending = [], []
        for name in self.names:
            value = remembered.get(name)
            usable = isinstance(value, int | float) and math.isfinite(value) and value > 0
            values.append(float(value) if usable else PLACEHOLDER_UV)  # type: ignore[arg-type]
            pending.append(not usable)
        # in place: views holding the list (the network streams) see the new channels
        self.values_uv[:], self.pending[:] = values, pending
        self.reset.emit(list(self.names))

    def set(self, channel: int, value_uv: float, reason: str = "clinician") -> bool:
        """Set one channel's target; True when it changed (then ``changed`` was emitted)."""
        if not (0 <= channel < len(self.values_uv)):
            return False
        if not (isinstance(value_uv, int | float) and math.isfinite(value_uv) and value_uv > 0):
            return False
        value = rules.round_target(min(max(float(value_uv), MIN_UV), MAX_UV))
        if abs(self.values_uv[channel] - value) < 1e-9 and not self.pending[channel]:
            return False
        self.values_uv[channel] = value
        self.pending[channel] = False
        self.log.append(TargetChange(self.sample_index(), channel, value, reason))
        self.changed.emit(channel, value, reason)
        return True

    def nudge(self, up: bool) -> None:
        """Every channel's target 5 % up or down (keys + and -)."""
        factor = rules.NUDGE_FACTOR if up else 1 / rules.NUDGE_FACTOR
        self.scale(factor)

    def scale(self, factor: float) -> None:
        """Multiply every channel's target by ``factor`` (a clinician's change)."""
        for c, value in enumerate(list(self.values_uv)):
            self.set(c, value * factor, "clinician")

    def from_recent(
        self,
        recent_uv: Recent,
        noise_floor_uv: Sequence[float],
        reason: str = "from recent signal",
    ) -> list[int]:
        """Targets from recent moving-RMS samples per channel (training.thresholds rule);
        returns the channels set."""
        done = []
        for c, values in enumerate(recent_uv[: len(self.values_uv)]):
            floor = float(noise_floor_uv[c]) if c < len(noise_floor_uv) else math.nan
            target = rules.target_from_recent(values, floor)
            if target is not None:
                self.set(c, target, reason)
                done.append(c)
        return done

    @property
    def first_target_due(self) -> bool:
        """A channel still waits for its first target."""
        return any(self.pending)

    def first_seconds(self, recent_uv: Recent, noise_floor_uv: Sequence[float]) -> None:
        """The first targets from the first seconds; channels with a target keep theirs."""
        pending = list(self.pending)
        for c, values in enumerate(recent_uv[: len(pending)]):
            if not pending[c]:
                continue
            floor = float(noise_floor_uv[c]) if c < len(noise_floor_uv) else math.nan
            target = rules.target_from_recent(values, floor)
            if target is not None:
                self.set(c, target, "first seconds")

    def follow_protocol(self, value_uv: float | None, channels: Sequence[int]) -> None:
        """The running protocol's target becomes these channels' target (reason ``protocol``);
        it also ends the wait for a first-seconds target."""
        if value_uv is None:
            return
        for c in range(len(self.pending)):
            self.pending[c] = False
        for c in channels:
            if 0 <= c < len(self.values_uv) and abs(self.values_uv[c] - value_uv) > 1e-6:
                self.set(c, value_uv, "protocol")

    def scored_channels(self, scored: object) -> list[int]:
        """The channels a protocol's ``scored_channel`` means (an index, or all of them)."""
        if isinstance(scored, int) and 0 <= scored < len(self.values_uv):
            return [scored]
        return list(range(len(self.values_uv)))

    def by_name(self) -> dict[str, float]:
        """The targets by channel name (what is remembered)."""
        return dict(zip(self.names, self.values_uv, strict=False))

    def leading_channel(self, levels_uv: np.ndarray) -> int | None:
        """The channel furthest above (or least below) its target: what the patient works on."""
        if not self.values_uv or len(levels_uv) == 0:
            return None
        n = min(len(levels_uv), len(self.values_uv))
        with np.errstate(invalid="ignore", divide="ignore"):
            ratios = np.asarray(levels_uv[:n], dtype=float) / np.asarray(self.values_uv[:n])
        if not np.isfinite(ratios).any():
            return 0
        return int(np.nanargmax(ratios))
