"""Scenario scripts for the simulated sensor: what the muscle and the electrodes do over time.

A scenario maps absolute sample indices to the ground truth of one block: the true RMS of the EMG
in uV at the electrodes (``level_uv``, measured in the 20-450 Hz band), the spectral mix (fatigue),
additive artefacts, lost samples and electrode-off stretches, plus named events. The synthesiser
(:mod:`biofeedback.devices.sim_synth`) turns that into shaped noise and ADC counts.

Scenarios are asked for consecutive blocks only, always in order; all their randomness comes from
their own generator and is drawn in time order, so the result does not depend on block sizes.

========== ====================================== ==============================================
scenario   ``level_uv`` means (default)           what happens
========== ====================================== ==============================================
steady     the constant level (5)                 nothing: calibration checks
relax      start level (8)                        falls to ``end_uv`` (3) with time constant
                                                  ``tau_s`` (120 s), +-10 % slow fluctuation
tense-     rest level (4)                         ``lead_s`` rest, then cycles: ramp 0.3 s, hold
release                                           ``tense_uv`` for ``tense_s``, ramp 0.3 s down to
                                                  rest + 10 uV, exponential back to rest with
                                                  ``tau_s``; ``release_s`` per cycle
fatigue    contraction level at the start (50)    sustained contraction; the spectrum slides down
                                                  (median frequency ~100 -> ~60 Hz) with time
                                                  constant ``tau_s`` (60 s), amplitude +20 %
noisy      EMG level (5)                          strong mains (``mains_uv`` 40) with harmonics,
                                                  baseline wander, motion spikes every ~8 s
dropout    EMG level (5)                          per 30 s cycle: packet losses (NaN), electrode
                                                  off 10-12 s (outputs at the rail), electrode pop
                                                  at 20 s that drives RAW into both ADC rails
learner    resting tension at the start (8)       follows the clinical session template (check,
                                                  baseline, ``trials`` x (trial + rest), post):
                                                  tension falls with training time towards
                                                  ``end_uv`` (3.5, time constant ``tau_s`` 900 s
                                                  of trial time), rebounds a little in rests,
                                                  with bursts of activity
========== ====================================== ==============================================
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

#: Default mains pick-up at the electrodes (uV RMS of the fundamental) for the calm scenarios.
MAINS_PICKUP_UV = 0.3


@dataclass(frozen=True)
class OptionSpec:
    """A scenario-specific URL option (a number)."""

    default: float
    lo: float
    hi: float
    help: str
    integer: bool = False


@dataclass
class ScenarioBlock:
    """Ground truth of one block of ``n`` samples.

    ``level_uv`` [n]: true RMS of the EMG at the electrodes. ``mix`` [n] or None: weight (0..1) of
    the fatigued, low-frequency spectrum. ``artefact_uv`` [n] or None: added at the electrodes and
    seen by every output. ``wander_uv`` [n] or None: slow baseline wander, seen by RAW and RECT
    only (the ENV stage is AC-coupled). ``missing`` [n] bool: samples lost on the link.
    ``rail`` [n] bool: electrode off, every output stuck at the positive rail.
    """

    level_uv: np.ndarray
    mix: np.ndarray | None = None
    artefact_uv: np.ndarray | None = None
    wander_uv: np.ndarray | None = None
    missing: np.ndarray | None = None
    rail: np.ndarray | None = None
    events: list[tuple[int, str]] = field(default_factory=list)


def raised_cosine(x: np.ndarray) -> np.ndarray:
    """Smooth 0 -> 1 step over ``x`` in [0, 1] (clipped outside)."""
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(x, 0.0, 1.0))


@dataclass
class Episode:
    """One episode of a random process (burst, gap, motion spike), in samples ``[start, stop)``."""

    start: int
    stop: int
    amplitude: float
    sign: float = 1.0


class EpisodeStream:
    """Poisson episodes generated lazily in time order.

    Candidates arrive at ``max_rate_hz`` and are kept with probability ``rate_hz(t) / max_rate_hz``
    (thinning), so the rate may change over time. Every draw comes from ``rng`` in time order,
    which keeps the episodes independent of how the caller splits the stream into blocks.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        fs_hz: float,
        max_rate_hz: float,
        draw: Callable[[np.random.Generator], tuple[float, float, float]],
        rate_hz: Callable[[float], float] | None = None,
        first_s: float = 0.0,
    ) -> None:
        self._rng = rng
        self._fs = fs_hz
        self._max_rate = max_rate_hz
        self._draw = draw
        self._rate = rate_hz
        self._next_s = first_s + rng.exponential(1.0 / max_rate_hz)
        self._episodes: list[Episode] = []

    def between(self, lo: int, hi: int) -> list[Episode]:
        """Episodes overlapping samples ``[lo, hi)`` or ending inside it; call with rising ``lo``."""
        while self._next_s * self._fs < hi:
            t = self._next_s
            duration_s, amplitude, sign = self._draw(self._rng)
            keep = self._rng.random() * self._max_rate < (
                self._rate(t) if self._rate else self._max_rate
            )
            if keep:
                start = round(t * self._fs)
                stop = max(start + 1, round((t + duration_s) * self._fs))
                self._episodes.append(Episode(start, stop, amplitude, sign))
            self._next_s = t + self._rng.exponential(1.0 / self._max_rate)
        # Keep an episode until its end event (at ``stop``) has been reported.
        self._episodes = [e for e in self._episodes if e.stop >= lo]
        return [e for e in self._episodes if e.start < hi and e.stop >= lo]


class Fluctuation:
    """Slow multiplicative fluctuation with mean 1: log-normal AR(1) knots, linearly interpolated."""

    def __init__(self, rng: np.random.Generator, sd_log: float, knot_s: float, corr: float) -> None:
        self._rng = rng
        self._sd = sd_log
        self._knot_s = knot_s
        self._corr = corr
        self._values = [rng.normal(0.0, sd_log)]

    def at(self, t_s: np.ndarray) -> np.ndarray:
        """Factor at times ``t_s`` (seconds, ascending)."""
        need = math.ceil(t_s[-1] / self._knot_s) + 2
        innovation = self._sd * math.sqrt(1.0 - self._corr**2)
        while len(self._values) < need:
            self._values.append(self._corr * self._values[-1] + self._rng.normal(0.0, innovation))
        knots = np.asarray(self._values)
        times = np.arange(len(knots)) * self._knot_s
        # exp(x - sd^2/2) has mean 1, so the script's nominal levels stay the mean levels.
        return np.exp(np.interp(t_s, times, knots) - 0.5 * self._sd**2)


def _events_in(lo: int, hi: int, items: list[tuple[int, str]]) -> list[tuple[int, str]]:
    return [(i, name) for i, name in items if lo <= i < hi]


class Scenario:
    """Base class: a script of the true EMG level (and artefacts) over time."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    default_level_uv: ClassVar[float] = 5.0
    default_mains_uv: ClassVar[float] = MAINS_PICKUP_UV
    options: ClassVar[dict[str, OptionSpec]] = {}

    def __init__(
        self, fs_hz: float, level_uv: float, rng: np.random.Generator, **opts: float
    ) -> None:
        self.fs_hz = float(fs_hz)
        self.level_uv = float(level_uv)
        self.rng = rng
        values = {key: spec.default for key, spec in self.options.items()}
        unknown = set(opts) - set(values)
        if unknown:
            raise ValueError(f"scenario {self.name} has no option(s) {', '.join(sorted(unknown))}")
        values.update(opts)
        self.opts = values

    def index_of(self, t_s: float) -> int:
        """Sample index of time ``t_s`` (rounded)."""
        return round(t_s * self.fs_hz)

    def times(self, first: int, n: int) -> np.ndarray:
        """Times in seconds of samples ``first .. first + n - 1``."""
        return (first + np.arange(n)) / self.fs_hz

    def initial_level_uv(self) -> float:
        """Level at sample 0 (used to settle the synthesiser's filters before the start)."""
        return self.level_uv

    def mix_at(self, t_s: np.ndarray) -> np.ndarray:
        """Weight of the fatigued spectrum at ``t_s`` (0 unless the scenario fatigues)."""
        return np.zeros_like(np.asarray(t_s, dtype=float))

    def block(self, first: int, n: int) -> ScenarioBlock:
        """Ground truth of samples ``first .. first + n - 1``."""
        raise NotImplementedError


class Steady(Scenario):
    """Constant tension at ``level_uv``."""

    name = "steady"
    description = "constant level_uv (default 5 uV), for calibration checks"

    def block(self, first: int, n: int) -> ScenarioBlock:
        return ScenarioBlock(np.full(n, self.level_uv))


class Relax(Scenario):
    """Resting tone that slowly falls from ``level_uv`` to ``end_uv``, with slow fluctuations."""

    name = "relax"
    description = "rest tone falling from level_uv (8) to end_uv (3) with time constant tau_s"
    default_level_uv = 8.0
    options: ClassVar[dict[str, OptionSpec]] = {
        "end_uv": OptionSpec(3.0, 0.0, 5000.0, "level the tension falls towards"),
        "tau_s": OptionSpec(120.0, 1.0, 1e6, "time constant of the fall"),
    }

    def __init__(self, fs_hz: float, level_uv: float, rng: np.random.Generator, **opts: float):
        super().__init__(fs_hz, level_uv, rng, **opts)
        self._fluct = Fluctuation(rng, sd_log=0.08, knot_s=2.0, corr=0.85)

    def nominal_uv(self, t_s: np.ndarray) -> np.ndarray:
        """The level without fluctuations."""
        end, tau = self.opts["end_uv"], self.opts["tau_s"]
        return end + (self.level_uv - end) * np.exp(-np.asarray(t_s) / tau)

    def block(self, first: int, n: int) -> ScenarioBlock:
        t = self.times(first, n)
        return ScenarioBlock(self.nominal_uv(t) * self._fluct.at(t))


class TenseRelease(Scenario):
    """Progressive-muscle-relaxation cycles with an exactly known recovery.

    After ``lead_s`` at rest, each cycle: the level ramps (raised cosine, 0.3 s) to ``tense_uv``,
    holds until ``tense_s`` after the cycle start (the *contraction end*), ramps down in 0.3 s to
    rest + 10 uV and then decays exponentially to rest with time constant ``tau_s``; the next cycle
    starts ``tense_s + release_s`` after this one. ``cycles=0`` repeats for ever.
    """

    name = "tense-release"
    description = "PMR cycles: tense tense_uv for tense_s, release release_s, decay tau_s"
    default_level_uv = 4.0
    RAMP_S: ClassVar[float] = 0.3
    RESIDUAL_UV: ClassVar[float] = 10.0
    options: ClassVar[dict[str, OptionSpec]] = {
        "tense_uv": OptionSpec(100.0, 0.0, 5000.0, "contraction level"),
        "tense_s": OptionSpec(6.0, 1.0, 600.0, "contraction length (start to end of hold)"),
        "release_s": OptionSpec(30.0, 3.0, 3600.0, "time from contraction end to next start"),
        "tau_s": OptionSpec(2.0, 0.05, 60.0, "time constant of the return to rest"),
        "lead_s": OptionSpec(30.0, 0.0, 3600.0, "rest before the first contraction"),
        "cycles": OptionSpec(0, 0, 100000, "number of cycles (0 = for ever)", integer=True),
    }

    @property
    def cycle_s(self) -> float:
        """Seconds from one contraction start to the next."""
        return self.opts["tense_s"] + self.opts["release_s"]

    def contraction(self, k: int) -> tuple[int, int]:
        """Sample indices ``(start, end)`` of contraction ``k`` (0-based). ``end`` is where the
        release ramp begins: the reference point of the recovery time."""
        t0 = self.opts["lead_s"] + k * self.cycle_s
        return self.index_of(t0), self.index_of(t0 + self.opts["tense_s"])

    def contractions(self, count: int) -> list[tuple[int, int]]:
        """The first ``count`` contractions (fewer if ``cycles`` limits them)."""
        cycles = int(self.opts["cycles"])
        if cycles:
            count = min(count, cycles)
        return [self.contraction(k) for k in range(count)]

    def recovery_time_s(self, threshold_uv: float) -> float:
        """Exact time from a contraction end until the true level falls to ``threshold_uv`` and
        stays there (it decreases monotonically); ``inf`` if the threshold is at or below rest.

        Rounded to the sample grid this is what :func:`truth_recovery_time_s` finds on the
        ground truth (to within one sample).
        """
        rest, tense = self.level_uv, self.opts["tense_uv"]
        top = rest + self.RESIDUAL_UV
        if threshold_uv <= rest:
            return math.inf
        if threshold_uv >= max(tense, top):
            return 0.0
        if threshold_uv >= top:
            # inside the down-ramp: tense + (top - tense) * rc(x) = threshold
            frac = (tense - threshold_uv) / (tense - top)
            return self.RAMP_S * math.acos(1.0 - 2.0 * frac) / math.pi
        return self.RAMP_S + self.opts["tau_s"] * math.log(self.RESIDUAL_UV / (threshold_uv - rest))

    def level_at(self, t_s: np.ndarray) -> np.ndarray:
        """True level at times ``t_s`` (a pure function of time)."""
        t = np.asarray(t_s, dtype=float)
        rest, tense = self.level_uv, self.opts["tense_uv"]
        tense_s, tau = self.opts["tense_s"], self.opts["tau_s"]
        ramp, top = self.RAMP_S, rest + self.RESIDUAL_UV
        rel = t - self.opts["lead_s"]
        k = np.floor(rel / self.cycle_s)
        cycles = int(self.opts["cycles"])
        if cycles:
            k = np.minimum(k, cycles - 1)
        u = rel - k * self.cycle_s
        up = rest + (tense - rest) * raised_cosine(u / ramp)
        down = tense + (top - tense) * raised_cosine((u - tense_s) / ramp)
        decay = rest + self.RESIDUAL_UV * np.exp(-np.maximum(u - tense_s - ramp, 0.0) / tau)
        level = np.where(u < tense_s, up, np.where(u < tense_s + ramp, down, decay))
        return np.where(rel < 0, rest, level)

    def block(self, first: int, n: int) -> ScenarioBlock:
        hi = first + n
        k_lo = max(0, int((first / self.fs_hz - self.opts["lead_s"]) // self.cycle_s))
        k_hi = max(0, int((hi / self.fs_hz - self.opts["lead_s"]) // self.cycle_s) + 1)
        cycles = int(self.opts["cycles"])
        if cycles:
            k_hi = min(k_hi, cycles - 1)
        items: list[tuple[int, str]] = []
        for k in range(k_lo, k_hi + 1):
            if cycles and k >= cycles:
                break
            start, end = self.contraction(k)
            items += [(start, "contraction_start"), (end, "contraction_end")]
        return ScenarioBlock(
            self.level_at(self.times(first, n)), events=_events_in(first, hi, items)
        )


def truth_recovery_time_s(
    truth_uv: np.ndarray,
    fs_hz: float,
    end_index: int,
    threshold_uv: float,
    hold_s: float = 2.0,
    first_index: int = 0,
) -> float:
    """Recovery time on a ground-truth array (the measure of docs/protocols.md, "Measures per
    phase"): seconds from ``end_index`` until the first sample from which the level stays
    ``<= threshold_uv`` for at least ``hold_s``; ``inf`` if that never happens within the array.
    ``truth_uv[0]`` is sample ``first_index``."""
    seg = np.asarray(truth_uv[end_index - first_index :], dtype=float)
    hold = max(1, round(hold_s * fs_hz))
    above = seg > threshold_uv
    # for each sample, index of the next sample above threshold (len(seg) if none)
    idx = np.where(above, np.arange(len(seg)), len(seg))
    next_above = np.minimum.accumulate(idx[::-1])[::-1]
    ok = (~above) & (next_above - np.arange(len(seg)) >= hold)
    hits = np.flatnonzero(ok)
    return math.inf if len(hits) == 0 else hits[0] / fs_hz


class Fatigue(Scenario):
    """Sustained contraction from the start: the spectrum slides down, amplitude rises 20 %."""

    name = "fatigue"
    description = "sustained contraction at level_uv (50); median frequency falls with tau_s"
    default_level_uv = 50.0
    AMPLITUDE_GAIN: ClassVar[float] = 0.2
    options: ClassVar[dict[str, OptionSpec]] = {
        "tau_s": OptionSpec(60.0, 1.0, 1e5, "time constant of the spectral shift"),
    }

    def mix_at(self, t_s: np.ndarray) -> np.ndarray:
        return 1.0 - np.exp(-np.asarray(t_s, dtype=float) / self.opts["tau_s"])

    def block(self, first: int, n: int) -> ScenarioBlock:
        t = self.times(first, n)
        mix = self.mix_at(t)
        events = [(0, "contraction_start")] if first == 0 and n > 0 else []
        return ScenarioBlock(
            self.level_uv * (1.0 + self.AMPLITUDE_GAIN * mix), mix=mix, events=events
        )


def _motion_shape(t_rel: np.ndarray, duration_s: float) -> np.ndarray:
    """Biphasic motion transient (derivative of a Gaussian), peak 1, mostly below 20 Hz."""
    sigma = duration_s / 6.0
    x = (t_rel - duration_s / 2.0) / sigma
    return x * np.exp(0.5 * (1.0 - x * x))


class Noisy(Scenario):
    """Steady EMG under strong mains hum, baseline wander and motion spikes."""

    name = "noisy"
    description = "strong mains with harmonics (mains_uv 40), baseline wander, motion spikes"
    default_mains_uv = 40.0
    WANDER_UV: ClassVar[float] = 200.0
    MOTION_EVERY_S: ClassVar[float] = 8.0

    def __init__(self, fs_hz: float, level_uv: float, rng: np.random.Generator, **opts: float):
        super().__init__(fs_hz, level_uv, rng, **opts)
        self._phases = rng.uniform(0.0, 2.0 * np.pi, size=2)
        self._motion = EpisodeStream(
            rng,
            fs_hz,
            1.0 / self.MOTION_EVERY_S,
            lambda r: (r.uniform(0.2, 0.5), r.uniform(400.0, 1500.0), r.choice([-1.0, 1.0])),
            first_s=1.0,
        )

    def block(self, first: int, n: int) -> ScenarioBlock:
        hi = first + n
        t = self.times(first, n)
        wander = self.WANDER_UV * (
            0.7 * np.sin(2 * np.pi * 0.21 * t + self._phases[0])
            + 0.5 * np.sin(2 * np.pi * 0.067 * t + self._phases[1])
        )
        motion = np.zeros(n)
        items: list[tuple[int, str]] = []
        for ep in self._motion.between(first, hi):
            lo_i, hi_i = max(ep.start, first), min(ep.stop, hi)
            if hi_i > lo_i:
                t_rel = (np.arange(lo_i, hi_i) - ep.start) / self.fs_hz
                duration = (ep.stop - ep.start) / self.fs_hz
                motion[lo_i - first : hi_i - first] += (
                    ep.sign * ep.amplitude * _motion_shape(t_rel, duration)
                )
            items += [(ep.start, "motion_start"), (ep.stop, "motion_end")]
        return ScenarioBlock(
            np.full(n, self.level_uv),
            artefact_uv=motion,
            wander_uv=wander,
            events=_events_in(first, hi, items),
        )


class Dropout(Scenario):
    """Steady EMG with link and electrode faults, repeating every 30 s.

    Per cycle: a 60 ms packet loss at 1 s plus random losses (~1 per 3 s, 10-120 ms, whole 10 ms
    packets), the electrode off from 10 to 12 s (all outputs at the positive rail, flat), and an
    electrode pop at 20 s (+-40 mV decaying with 0.15 s) that drives RAW into an ADC rail.
    """

    name = "dropout"
    description = (
        "lost packets (NaN + MISSING), electrode off 10-12 s, clipping pop at 20 s, per 30 s"
    )
    CYCLE_S: ClassVar[float] = 30.0
    GAP_AT_S: ClassVar[float] = 1.0
    GAP_S: ClassVar[float] = 0.06
    OFF_AT_S: ClassVar[float] = 10.0
    OFF_S: ClassVar[float] = 2.0
    POP_AT_S: ClassVar[float] = 20.0
    POP_UV: ClassVar[float] = 40000.0
    POP_TAU_S: ClassVar[float] = 0.15

    def __init__(self, fs_hz: float, level_uv: float, rng: np.random.Generator, **opts: float):
        super().__init__(fs_hz, level_uv, rng, **opts)
        self._gaps = EpisodeStream(
            rng, fs_hz, 1.0 / 3.0, lambda r: (0.01 * r.integers(1, 13), 0.0, 1.0), first_s=2.0
        )

    def _scheduled(self, first: int, hi: int) -> tuple[list[Episode], list[Episode], list[int]]:
        c_lo = int(first / self.fs_hz // self.CYCLE_S)
        c_hi = int(hi / self.fs_hz // self.CYCLE_S)
        gaps, offs, pops = [], [], []
        for c in range(c_lo, c_hi + 1):
            t0 = c * self.CYCLE_S
            g0 = self.index_of(t0 + self.GAP_AT_S)
            gaps.append(Episode(g0, self.index_of(t0 + self.GAP_AT_S + self.GAP_S), 0.0))
            o0 = self.index_of(t0 + self.OFF_AT_S)
            offs.append(Episode(o0, self.index_of(t0 + self.OFF_AT_S + self.OFF_S), 0.0))
            pops.append(c)
        return gaps, offs, pops

    def block(self, first: int, n: int) -> ScenarioBlock:
        hi = first + n
        missing = np.zeros(n, dtype=bool)
        rail = np.zeros(n, dtype=bool)
        artefact = np.zeros(n)
        items: list[tuple[int, str]] = []
        gaps, offs, pops = self._scheduled(first, hi)
        # Gaps may overlap; the synthesiser reports dropout_start/end from the merged mask.
        for ep in gaps + self._gaps.between(first, hi):
            missing[max(ep.start, first) - first : max(min(ep.stop, hi) - first, 0)] = True
        for ep in offs:
            rail[max(ep.start, first) - first : max(min(ep.stop, hi) - first, 0)] = True
            items += [(ep.start, "electrode_off_start"), (ep.stop, "electrode_off_end")]
        t = self.times(first, n)
        for c in pops:
            t_pop = c * self.CYCLE_S + self.POP_AT_S
            sign = 1.0 if c % 2 == 0 else -1.0
            after = t >= t_pop
            artefact[after] += sign * self.POP_UV * np.exp(-(t[after] - t_pop) / self.POP_TAU_S)
            items.append((self.index_of(t_pop), "electrode_pop"))
        return ScenarioBlock(
            np.full(n, self.level_uv),
            artefact_uv=artefact,
            missing=missing,
            rail=rail,
            events=_events_in(first, hi, items),
        )


class Learner(Scenario):
    """A patient whose resting tension drops with training, laid out on the session template.

    Phases, aligned with the built-in ``clinical-session`` protocol (docs/protocols.md): ``check_s``
    signal check, ``noise_s`` noise floor (the patient follows the instruction to short the
    sensor inputs, so only amplifier noise remains), ``baseline_s`` baseline, a reactivity test
    (``contraction_s`` shrug at ``contraction_uv``, then ``recovery_s`` of recovery during which
    the contraction fades with time constant ``recovery_tau_s``), ``trials`` x
    (``trial_s`` trial + ``rest_s`` rest, no rest after the last trial), then "post" for ever
    (transfer / post-baseline). The nominal level is
    ``end_uv + (level_uv - end_uv) * exp(-training_time / tau_s)`` where training_time counts only
    trial time; in rests the tension rebounds by up to 1 uV, which fades within the next trial;
    after the trials it creeps back 15 % of the way up (no feedback). On top: +-10 % slow
    fluctuations and bursts of activity (swallowing, posture shifts: 10-40 uV, 0.4-2 s) whose rate
    falls as the patient learns. Events: ``<phase>_start`` (``check_start``, ``baseline_start``,
    ``trial_1_start``, ``rest_1_start``, ..., ``post_start``), ``burst_start``, ``burst_end``.
    """

    name = "learner"
    description = "resting tension falling across training trials (session template timing)"
    default_level_uv = 8.0
    REBOUND_UV: ClassVar[float] = 1.0
    CREEP: ClassVar[float] = 0.15
    options: ClassVar[dict[str, OptionSpec]] = {
        "check_s": OptionSpec(300.0, 0.0, 36000.0, "signal check length"),
        "noise_s": OptionSpec(30.0, 0.0, 36000.0, "noise-floor phase length (inputs shorted)"),
        "baseline_s": OptionSpec(180.0, 1.0, 36000.0, "baseline length"),
        "contraction_s": OptionSpec(10.0, 0.0, 600.0, "reactivity contraction length"),
        "contraction_uv": OptionSpec(80.0, 0.0, 5000.0, "reactivity contraction level"),
        "recovery_s": OptionSpec(120.0, 0.0, 36000.0, "recovery after the contraction"),
        "recovery_tau_s": OptionSpec(2.0, 0.01, 600.0, "time constant of the relaxation after it"),
        "trial_s": OptionSpec(240.0, 1.0, 36000.0, "training trial length"),
        "rest_s": OptionSpec(60.0, 0.0, 36000.0, "rest between trials"),
        "trials": OptionSpec(5, 1, 100, "number of training trials", integer=True),
        "end_uv": OptionSpec(3.5, 0.0, 5000.0, "tension the patient can learn to reach"),
        "tau_s": OptionSpec(900.0, 1.0, 1e6, "learning time constant (seconds of training)"),
    }

    def __init__(self, fs_hz: float, level_uv: float, rng: np.random.Generator, **opts: float):
        super().__init__(fs_hz, level_uv, rng, **opts)
        o = self.opts
        self._trials = int(o["trials"])
        names = ["check", "noise", "baseline", "contraction", "recovery"]
        starts = []
        t = 0.0
        for key in ("check_s", "noise_s", "baseline_s", "contraction_s", "recovery_s"):
            starts.append(t)
            t += o[key]
        self._trial_starts: list[float] = []
        for k in range(1, self._trials + 1):
            names.append(f"trial_{k}")
            starts.append(t)
            self._trial_starts.append(t)
            t += o["trial_s"]
            if k < self._trials:
                names.append(f"rest_{k}")
                starts.append(t)
                t += o["rest_s"]
        names.append("post")
        starts.append(t)
        # phases of zero length (check_s=0, rest_s=0) do not exist
        keep = [i for i in range(len(names)) if i == len(names) - 1 or starts[i + 1] > starts[i]]
        self._names = [names[i] for i in keep]
        self._starts = np.array([starts[i] for i in keep])
        self._post_s = t
        self._fluct = Fluctuation(rng, sd_log=0.10, knot_s=2.0, corr=0.8)
        self._bursts = EpisodeStream(
            rng,
            fs_hz,
            6.0 / 60.0,
            lambda r: (r.uniform(0.4, 2.0), r.uniform(10.0, 40.0), 1.0),
            rate_hz=self.burst_rate_hz,
            first_s=0.0,
        )

    @property
    def phases(self) -> list[tuple[str, int, int | None]]:
        """``(name, start_index, stop_index)``; the last phase ("post") has no end."""
        out: list[tuple[str, int, int | None]] = []
        for i, name in enumerate(self._names):
            stop = self.index_of(self._starts[i + 1]) if i + 1 < len(self._names) else None
            out.append((name, self.index_of(self._starts[i]), stop))
        return out

    def phase_at(self, t_s: float) -> str:
        """Name of the phase at time ``t_s``."""
        i = int(np.searchsorted(self._starts, t_s, side="right")) - 1
        return self._names[max(i, 0)]

    def training_s(self, t_s: np.ndarray) -> np.ndarray:
        """Seconds of trial time completed by ``t_s``."""
        t = np.asarray(t_s, dtype=float)
        total = np.zeros_like(t)
        for start in self._trial_starts:
            total += np.clip(t - start, 0.0, self.opts["trial_s"])
        return total

    def learned(self, t_s: np.ndarray) -> np.ndarray:
        """Fraction learned, 0 -> 1."""
        return 1.0 - np.exp(-self.training_s(t_s) / self.opts["tau_s"])

    def burst_rate_hz(self, t_s: float) -> float:
        """Rate of activity bursts: 3/min before training, 6/min in rests, falling in trials."""
        phase = self.phase_at(t_s)
        if phase.startswith("rest"):
            return 6.0 / 60.0
        if phase.startswith("trial"):
            m = float(self.learned(np.array([t_s]))[0])
            return (3.0 * (1.0 - m) + 0.5) / 60.0
        if phase == "post":
            return 2.0 / 60.0
        return 3.0 / 60.0

    def nominal_uv(self, t_s: np.ndarray) -> np.ndarray:
        """Tension without fluctuations and bursts."""
        t = np.asarray(t_s, dtype=float)
        start, floor = self.level_uv, self.opts["end_uv"]
        base = floor + (start - floor) * (1.0 - self.learned(t))
        extra = np.zeros_like(t)
        rest_s = self.opts["rest_s"]
        rebound_end = self.REBOUND_UV * (1.0 - math.exp(-rest_s / 10.0)) if rest_s > 0 else 0.0
        trial_s = self.opts["trial_s"]
        for k, ts in enumerate(self._trial_starts):
            # rest after trial k (not after the last)
            if k + 1 < self._trials and rest_s > 0:
                r0 = ts + trial_s
                in_rest = (t >= r0) & (t < r0 + rest_s)
                extra = np.where(in_rest, self.REBOUND_UV * (1.0 - np.exp(-(t - r0) / 10.0)), extra)
            if k > 0:
                in_trial = (t >= ts) & (t < ts + trial_s)
                extra = np.where(in_trial, rebound_end * np.exp(-(t - ts) / 20.0), extra)
        post = t >= self._post_s
        if np.any(post):
            creep = self.CREEP * (start - base) * (1.0 - np.exp(-(t - self._post_s) / 120.0))
            extra = np.where(post, creep, extra)
        return base + extra

    def initial_level_uv(self) -> float:
        return self.level_uv

    def block(self, first: int, n: int) -> ScenarioBlock:
        hi = first + n
        t = self.times(first, n)
        level = self.nominal_uv(t) * self._fluct.at(t)
        burst = np.zeros(n)
        items = [
            (self.index_of(s), f"{name}_start")
            for name, s in zip(self._names, self._starts, strict=True)
        ]
        for ep in self._bursts.between(first, hi):
            lo_i, hi_i = max(ep.start, first), min(ep.stop, hi)
            if hi_i > lo_i:
                x = (np.arange(lo_i, hi_i) - ep.start) / (ep.stop - ep.start)
                burst[lo_i - first : hi_i - first] += ep.amplitude * np.sin(np.pi * x) ** 2
            items += [(ep.start, "burst_start"), (ep.stop, "burst_end")]
        rms = np.sqrt(level**2 + burst**2)  # independent sources add in power
        for name, value in (("noise", 0.0), ("contraction", self.opts["contraction_uv"])):
            if name in self._names:
                i = self._names.index(name)
                inside = (t >= self._starts[i]) & (t < self._starts[i + 1])
                rms = np.where(inside, value, rms)
        if "recovery" in self._names:
            # after the shrug the muscle lets go exponentially, not at once
            t_end = self._starts[self._names.index("recovery")]
            after = t >= t_end
            if np.any(after):
                decay = self.opts["contraction_uv"] * np.exp(
                    -np.maximum(t - t_end, 0.0) / self.opts["recovery_tau_s"]
                )
                rms = np.where(after, np.sqrt(rms**2 + decay**2), rms)
        return ScenarioBlock(rms, events=_events_in(first, hi, items))


SCENARIOS: dict[str, type[Scenario]] = {
    cls.name: cls for cls in (Steady, Relax, TenseRelease, Fatigue, Noisy, Dropout, Learner)
}
