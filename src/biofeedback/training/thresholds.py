"""Calibration (noise floor, baseline, reference contraction) and threshold shaping.

The rule (clinical practice, docs/clinical-background.md): the threshold starts at 90 % of the
baseline median RMS with a floor of 1.5 x the noise floor; every 60 s of training it moves +-5 %
toward 70 % time below threshold; the clinician can override it at any time; every change is
logged with its reason.
Pure functions plus one small stateful class (:class:`ThresholdTracker`); no I/O, no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from biofeedback.training.protocol import ShapingRule, Target, TargetKind

#: Fewest included seconds for a baseline / noise floor to count as measured.
MIN_CALIBRATION_S = 1.0
#: The one rounding rule for what people read and compare on screen: targets and levels are
#: shown, typed (the target spin box's step and decimals) and classified in steps of 0.1 uV.
UV_STEP = 0.1
#: Decimals that match UV_STEP (the target spin box uses them).
UV_DECIMALS = 1


def round_uv(value_uv: float) -> float:
    """A target or level on the 0.1 uV grid everything on screen uses (NaN stays NaN)."""
    if not math.isfinite(value_uv):
        return value_uv
    return round(value_uv, UV_DECIMALS)


def round_target(value_uv: float) -> float:
    """A target as set in the window: on the 0.1 uV grid and never below one step."""
    return max(UV_STEP, round_uv(value_uv))


def format_uv(value_uv: float) -> str:
    """A target or level as shown: ``9.6``, ``10.3``, ``152.0`` ("–" when unknown)."""
    if not math.isfinite(value_uv):
        return "–"
    return f"{round_uv(value_uv):.{UV_DECIMALS}f}"


def below_target(level_uv: float, threshold_uv: float) -> bool:
    """The rule for the window's feedback: the level as shown is below the target as shown.

    Gauge colour, caption and number, the patient orb and the tone all use it, so a number
    that reads like the target is never called "below" while a bar sits on the line.
    """
    return round_uv(level_uv) < round_uv(threshold_uv)


#: A target from recent signal: this fraction of its median RMS (the starting rule above) ...
RECENT_TARGET_FRACTION = 0.9
#: ... and never below this many times the channel's noise floor.
NOISE_FLOOR_FACTOR = 1.5
#: Seconds of signal that give the first target of a channel with none remembered.
FIRST_TARGET_S = 5.0
#: One press of + / - multiplies the target by this (or divides by it): 5 %.
NUDGE_FACTOR = 1.05


@dataclass(frozen=True)
class ThresholdChange:
    """One entry of the threshold log.

    ``sample_index`` is the first sample scored with ``new_uv``; ``source`` is one of
    ``start``, ``target``, ``shaping``, ``clinician``, ``release``.
    """

    sample_index: int
    time_s: float
    old_uv: float | None
    new_uv: float
    reason: str
    source: str
    phase_index: int | None = None
    phase_name: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "sample_index": self.sample_index,
            "time_s": self.time_s,
            "old_uv": self.old_uv,
            "new_uv": self.new_uv,
            "reason": self.reason,
            "source": self.source,
            "phase_index": self.phase_index,
            "phase_name": self.phase_name,
        }


def _fmt(value: float) -> str:
    """uV with 3 significant digits: ``4.2``, ``0.85``, ``12.3``."""
    return f"{value:.3g}"


def estimate_noise_floor(envelope_uv: np.ndarray, applied_floor_uv: float = 0.0) -> float | None:
    """System noise floor: median of the uncorrected moving RMS during a noise-floor phase.

    ``envelope_uv`` holds the included samples of one channel as delivered by the pipeline,
    which has already subtracted ``applied_floor_uv`` in quadrature; adding it back gives the
    uncorrected RMS. (Where the correction clipped to zero, the median reads ``applied_floor_uv``:
    the estimate cannot fall below the floor already in use.) None when there are no samples.
    """
    env = np.asarray(envelope_uv, dtype=np.float64)
    env = env[np.isfinite(env)]
    if env.size == 0:
        return None
    return float(np.median(np.sqrt(env * env + applied_floor_uv * applied_floor_uv)))


def estimate_baseline(envelope_uv: np.ndarray) -> tuple[float, float] | None:
    """Resting baseline: (median, SD) of the included moving-RMS samples; None when empty."""
    env = np.asarray(envelope_uv, dtype=np.float64)
    env = env[np.isfinite(env)]
    if env.size == 0:
        return None
    return float(np.median(env)), float(np.std(env))


def robust_sd(values: np.ndarray) -> float:
    """SD estimated from the median absolute deviation (1.4826 x MAD).

    Equals the SD for Gaussian data but ignores brief bursts (a swallow, a posture shift during
    the baseline), which would otherwise inflate "baseline + 2 SD" several-fold.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 0.0
    return float(1.4826 * np.median(np.abs(v - np.median(v))))


def estimate_reference(
    envelope_uv: np.ndarray, included: np.ndarray, fs_hz: float, window_s: float = 1.0
) -> float | None:
    """Reference contraction: the highest mean over any ``window_s`` window of the phase.

    Windows where fewer than 90 % of the samples are included are skipped (an artefact must not
    become the reference). With a phase shorter than the window, the whole phase is one window.
    None when no window qualifies.
    """
    env = np.where(included, np.asarray(envelope_uv, dtype=np.float64), 0.0)
    env = np.nan_to_num(env, nan=0.0)
    inc = np.asarray(included, dtype=np.float64)
    n = env.size
    if n == 0:
        return None
    w = min(n, max(1, round(window_s * fs_hz)))
    csum = np.concatenate(([0.0], np.cumsum(env)))
    cinc = np.concatenate(([0.0], np.cumsum(inc)))
    sums = csum[w:] - csum[:-w]
    counts = cinc[w:] - cinc[:-w]
    ok = counts >= 0.9 * w
    if not ok.any():
        return None
    return float(np.max(sums[ok] / counts[ok]))


def target_threshold(
    target: Target, baseline_uv: float | None, reference_uv: float | None
) -> float | None:
    """The threshold a target asks for, or None when its calibration value is missing."""
    if target.kind == TargetKind.UV:
        return target.value
    if target.kind == TargetKind.PCT_BASELINE:
        return None if baseline_uv is None else baseline_uv * target.value / 100.0
    return None if reference_uv is None else reference_uv * target.value / 100.0


def target_reason(target: Target, baseline_uv: float | None, reference_uv: float | None) -> str:
    """``"90% of baseline 4.2 uV"`` (the words logged with a start threshold)."""
    if target.kind == TargetKind.UV:
        return f"absolute {target.describe()}"
    if target.kind == TargetKind.PCT_BASELINE:
        return f"{target.value:g}% of baseline {_fmt(baseline_uv or 0.0)} uV"
    return f"{target.value:g}% of reference {_fmt(reference_uv or 0.0)} uV"


@dataclass(frozen=True)
class ShapingDecision:
    """What one shaping interval decided. ``new_uv`` equals ``old_uv`` when nothing changes."""

    success_pct: float | None
    included_pct: float
    old_uv: float
    new_uv: float
    steps: int
    reason: str

    @property
    def changed(self) -> bool:
        """True when the threshold moves."""
        return self.new_uv != self.old_uv


def shaping_step(
    rule: ShapingRule,
    threshold_uv: float,
    window_env_uv: np.ndarray,
    window_included: np.ndarray,
    window_below: np.ndarray,
    floor_uv: float = 0.0,
) -> ShapingDecision:
    """Decide one shaping step from the samples of the last interval.

    Parameters
    ----------
    rule : the shaping rule of the phase.
    threshold_uv : the threshold in force during the interval.
    window_env_uv, window_included, window_below : the interval's samples (scored envelope,
        included mask, below-threshold mask as scored live).
    floor_uv : the threshold never goes below this (1.5 x noise floor).
    """
    n = len(window_included)
    n_inc = int(np.count_nonzero(window_included))
    included_pct = 100.0 * n_inc / n if n else 0.0
    if n == 0 or included_pct < rule.min_included_pct:
        return ShapingDecision(
            None,
            included_pct,
            threshold_uv,
            threshold_uv,
            0,
            f"shaping skipped: only {included_pct:.0f}% of the last {rule.interval_s:g} s "
            "was artefact-free",
        )
    success = 100.0 * int(np.count_nonzero(window_below)) / n_inc
    target = rule.target_success_pct
    low, high = rule.band_pct
    head = f"shaping: {success:.0f}% below in last {rule.interval_s:g} s"
    if abs(success - target) <= rule.deadband_pct:
        return ShapingDecision(
            success, included_pct, threshold_uv, threshold_uv, 0, f"{head}: on target"
        )
    step = rule.step_pct / 100.0
    raise_it = success < target  # too hard: raise the threshold
    factor = 1.0 + step if raise_it else 1.0 - step
    steps = 1
    if (success < low or success > high) and rule.max_steps > 1:
        # Far outside the band: take as many steps as the last interval says are needed to come
        # back to the target (its target-th percentile), at most max_steps.
        env = np.asarray(window_env_uv, dtype=np.float64)[np.asarray(window_included, bool)]
        ideal = float(np.percentile(env, target))
        if ideal > 0 and threshold_uv > 0:
            wanted = math.log(ideal / threshold_uv) / math.log(factor)
            steps = int(min(rule.max_steps, max(1, round(wanted))))
    new = threshold_uv * factor**steps
    direction = "raised" if raise_it else "lowered"
    pct = (factor**steps - 1.0) * 100.0
    reason = f"{head} (target {target:g}%): {direction} {abs(pct):.1f}%"
    if steps > 1:
        reason += f" ({steps} steps of {rule.step_pct:g}%)"
    if new < floor_uv:
        new = floor_uv
        reason += f", held at the floor {_fmt(floor_uv)} uV"
    return ShapingDecision(success, included_pct, threshold_uv, new, steps, reason)


class ThresholdTracker:
    """The threshold in force, its floor, the clinician override and the log of changes."""

    def __init__(self, floor_x_noise: float = 1.5) -> None:
        self.floor_x_noise = floor_x_noise
        self.value_uv: float | None = None
        self.noise_floor_uv: float = 0.0
        self.active_target: Target | None = None
        self.override: str | None = None  # None, "session" or "phase"
        self.log: list[ThresholdChange] = []

    @property
    def floor_uv(self) -> float:
        """Lowest threshold the rules may set (clinician overrides may go lower)."""
        return self.floor_x_noise * self.noise_floor_uv

    def apply_floor(self, value_uv: float) -> tuple[float, str]:
        """Value clamped to the floor, and the words to append when it was clamped."""
        if value_uv < self.floor_uv:
            return self.floor_uv, (
                f", raised to the floor {self.floor_x_noise:g} x noise floor "
                f"{_fmt(self.noise_floor_uv)} uV = {_fmt(self.floor_uv)} uV"
            )
        return value_uv, ""

    def set(
        self,
        value_uv: float,
        reason: str,
        source: str,
        sample_index: int,
        time_s: float,
        phase_index: int | None = None,
        phase_name: str = "",
    ) -> ThresholdChange | None:
        """Change the threshold and log it; None when the value does not change."""
        if self.value_uv is not None and value_uv == self.value_uv:
            return None
        change = ThresholdChange(
            sample_index=sample_index,
            time_s=time_s,
            old_uv=self.value_uv,
            new_uv=float(value_uv),
            reason=reason,
            source=source,
            phase_index=phase_index,
            phase_name=phase_name,
        )
        self.value_uv = float(value_uv)
        self.log.append(change)
        return change


def target_from_recent(
    envelope_uv: np.ndarray, noise_floor_uv: float | None = None
) -> float | None:
    """Target from recent moving-RMS samples: RECENT_TARGET_FRACTION x their median, at least
    NOISE_FLOOR_FACTOR x the noise floor (when known); None without finite samples."""
    env = np.asarray(envelope_uv, dtype=np.float64)
    env = env[np.isfinite(env)]
    if env.size == 0:
        return None
    target = RECENT_TARGET_FRACTION * float(np.median(env))
    if noise_floor_uv is not None and math.isfinite(noise_floor_uv):
        target = max(target, NOISE_FLOOR_FACTOR * noise_floor_uv)
    return target if target > 0 else None
