"""Per-phase measures and the session summary (docs/protocols.md, "Measures per phase").

All amplitude measures are computed on the live envelope the patient was scored on: the
pipeline's causal moving RMS (100 ms by default), one value per sample, noise-floor corrected.
Only *included* samples count (no quality flag, finite value); flagged samples are reported as
``pct_excluded`` and are never counted as below threshold. A gap is a run of included samples
below threshold lasting at least ``gap_min_s`` (0.2 s); an excluded sample ends a run.
Computing everything from the stored per-sample arrays at the end of a phase makes the results
independent of how the samples were split into blocks. docs/protocols.md explains the choices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from biofeedback.training.protocol import MeasureSettings, PhaseKind
from biofeedback.training.thresholds import ThresholdChange


@dataclass
class PhaseMetrics:
    """Measures of one phase. Amplitudes in uV RMS; None where not defined (no samples, no
    threshold yet, no contraction before a recovery phase)."""

    index: int
    name: str
    kind: str
    start_s: float
    duration_s: float
    planned_s: float
    n_samples: int
    n_included: int
    pct_excluded: float
    mean_uv: float | None = None
    median_uv: float | None = None
    sd_uv: float | None = None
    apdf10_uv: float | None = None
    apdf50_uv: float | None = None
    apdf90_uv: float | None = None
    pct_below: float | None = None
    threshold_uv: float | None = None
    threshold_start_uv: float | None = None
    gaps: int | None = None
    gaps_per_min: float | None = None
    rest_time_pct: float | None = None
    recovery_s: float | None = None
    recovery_level_uv: float | None = None
    recovery_note: str = ""
    asymmetry_pct: float | None = None
    asymmetry: list[dict[str, Any]] = field(default_factory=list)
    contrast_ratio: float | None = None
    feedback: str = ""
    skipped: bool = False
    aborted: bool = False
    paused_s: float = 0.0
    repeat_index: int | None = None
    shaping: list[dict[str, Any]] = field(default_factory=list)
    prompts: int = 0
    calibration: dict[str, Any] = field(default_factory=dict)
    #: Step phases (education, thought record, reflection): "continued", "answered", "skipped",
    #: "timed-out" or "aborted"; "" for EMG phases.
    step_status: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (floats, ints, None, lists, dicts)."""
        return {
            "index": self.index,
            "name": self.name,
            "kind": self.kind,
            "start_s": self.start_s,
            "duration_s": self.duration_s,
            "planned_s": self.planned_s,
            "n_samples": self.n_samples,
            "n_included": self.n_included,
            "mean_uv": self.mean_uv,
            "median_uv": self.median_uv,
            "sd_uv": self.sd_uv,
            "apdf10_uv": self.apdf10_uv,
            "apdf50_uv": self.apdf50_uv,
            "apdf90_uv": self.apdf90_uv,
            "pct_below": self.pct_below,
            "threshold_uv": self.threshold_uv,
            "threshold_start_uv": self.threshold_start_uv,
            "gaps": self.gaps,
            "gaps_per_min": self.gaps_per_min,
            "rest_time_pct": self.rest_time_pct,
            "recovery_s": self.recovery_s,
            "recovery_level_uv": self.recovery_level_uv,
            "recovery_note": self.recovery_note,
            "asymmetry_pct": self.asymmetry_pct,
            "asymmetry": list(self.asymmetry),
            "contrast_ratio": self.contrast_ratio,
            "pct_excluded": self.pct_excluded,
            "feedback": self.feedback,
            "skipped": self.skipped,
            "aborted": self.aborted,
            "paused_s": self.paused_s,
            "repeat_index": self.repeat_index,
            "shaping": list(self.shaping),
            "prompts": self.prompts,
            "calibration": dict(self.calibration),
            "step_status": self.step_status,
        }


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start indices and lengths of the runs of True in a boolean array."""
    m = np.asarray(mask, dtype=bool)
    if m.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    edges = np.diff(np.concatenate(([0], m.view(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return starts, ends - starts


def gap_stats(below: np.ndarray, fs_hz: float, gap_min_s: float) -> tuple[int, int]:
    """(number of gaps, samples inside gaps): runs of ``below`` lasting >= ``gap_min_s``."""
    _, lengths = runs(below)
    min_n = max(1, round(gap_min_s * fs_hz))
    long = lengths[lengths >= min_n]
    return int(long.size), int(long.sum())


def centred_rms(
    envelope_uv: np.ndarray, included: np.ndarray, fs_hz: float, window_s: float
) -> np.ndarray:
    """Zero-phase RMS over ``window_s`` centred on each sample, from the included samples of a
    moving-RMS envelope (mean of env^2, then sqrt: the RMS of the longer window).

    NaN where fewer than half of the window's samples are included. The window shrinks at the
    array's ends. Offline only (it looks ahead), used for the recovery time.
    """
    env = np.nan_to_num(np.asarray(envelope_uv, dtype=np.float64), nan=0.0)
    inc = np.asarray(included, dtype=bool)
    n = env.size
    half = max(0, int(window_s * fs_hz / 2.0))  # 2 * half + 1 samples
    if half == 0 or n == 0:
        return np.where(inc, env, np.nan)
    power = np.concatenate(([0.0], np.cumsum(np.where(inc, env * env, 0.0))))
    count = np.concatenate(([0], np.cumsum(inc, dtype=np.int64)))
    lo = np.maximum(np.arange(n) - half, 0)
    hi = np.minimum(np.arange(n) + half + 1, n)
    k = count[hi] - count[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.sqrt(np.maximum(power[hi] - power[lo], 0.0) / k)
    return np.where(k * 2 >= hi - lo, out, np.nan)


#: A contraction counts (and the recovery after it is measured) only when its mean envelope
#: exceeds both the recovery level (baseline + k SD) and this multiple of the baseline: without
#: a contraction the envelope is already at rest and the "recovery time" would read 0 s.
CONTRACTION_MIN_RATIO = 2.0

#: Why a recovery phase has no recovery time although it follows a contraction phase.
NO_CONTRACTION_NOTE = "not measured (no contraction above rest)"


def contraction_happened(
    contraction_mean_uv: float | None, baseline_uv: float | None, level_uv: float | None
) -> bool:
    """True when a contraction phase's mean envelope clearly rose above rest.

    It must exceed the recovery level (``level_uv``, baseline + k SD) and
    :data:`CONTRACTION_MIN_RATIO` x the baseline.
    """
    if contraction_mean_uv is None or baseline_uv is None or not math.isfinite(contraction_mean_uv):
        return False
    floor = CONTRACTION_MIN_RATIO * baseline_uv
    if level_uv is not None:
        floor = max(floor, level_uv)
    return contraction_mean_uv > floor


def recovery_time(
    envelope_uv: np.ndarray,
    included: np.ndarray,
    level_uv: float,
    fs_hz: float,
    hold_s: float = 2.0,
    smooth_s: float = 1.5,
    delay_s: float = 0.0,
) -> float | None:
    """Seconds from the start of the array (the end of the contraction) until the RMS stays at
    or below ``level_uv`` for at least ``hold_s`` (docs/clinical-background.md).

    The RMS is the envelope smoothed to a centred ``smooth_s`` window (:func:`centred_rms`):
    the 100 ms envelope of a resting muscle fluctuates by ~13 %, so it rarely stays under
    baseline + 2 SD for 2 s even when the muscle is back at rest, and its crossing time jitters
    by seconds; a centred 1.5 s RMS has ~3 % noise and no delay. ``delay_s`` is the lag of the
    envelope itself (a causal moving RMS lags by half its window) and is subtracted. Windows
    with too few included samples break the hold (a stretch that cannot be seen cannot prove
    rest). None when it never settles inside the array.
    """
    rms = (
        centred_rms(envelope_uv, included, fs_hz, smooth_s)
        if smooth_s > 0
        else np.where(included, envelope_uv, np.nan)
    )
    ok = np.nan_to_num(rms, nan=np.inf) <= level_uv
    starts, lengths = runs(ok)
    hold_n = max(1, round(hold_s * fs_hz))
    hit = np.flatnonzero(lengths >= hold_n)
    if hit.size == 0:
        return None
    return max(0.0, float(starts[hit[0]]) / fs_hz - delay_s)


def asymmetry_pct(left_uv: float, right_uv: float) -> float | None:
    """Left/right asymmetry 100 x (L - R) / (L + R): 0 symmetric, +100 all left, -100 all right."""
    total = left_uv + right_uv
    if not math.isfinite(total) or total <= 0:
        return None
    return 100.0 * (left_uv - right_uv) / total


def amplitude_stats(values_uv: np.ndarray) -> dict[str, float | None]:
    """mean, median, SD (population, ddof=0) and APDF 10/50/90 (linear-interpolated
    percentiles) of the included samples."""
    v = np.asarray(values_uv, dtype=np.float64)
    if v.size == 0:
        return dict.fromkeys(("mean_uv", "median_uv", "sd_uv", "apdf10", "apdf50", "apdf90"))
    p10, p50, p90 = np.percentile(v, [10.0, 50.0, 90.0])
    return {
        "mean_uv": float(np.mean(v)),
        "median_uv": float(np.median(v)),
        "sd_uv": float(np.std(v)),
        "apdf10": float(p10),
        "apdf50": float(p50),
        "apdf90": float(p90),
    }


def compute_phase_metrics(
    *,
    index: int,
    name: str,
    kind: PhaseKind,
    fs_hz: float,
    start_s: float,
    planned_s: float,
    envelope_uv: np.ndarray,
    included: np.ndarray,
    below: np.ndarray | None,
    threshold_uv: float | None,
    scored: np.ndarray | None = None,
    threshold_start_uv: float | None,
    measures: MeasureSettings,
    pairs: list[tuple[tuple[int, int], np.ndarray, np.ndarray]] | None = None,
    recovery_level_uv: float | None = None,
    contraction_mean_uv: float | None = None,
    envelope_delay_s: float = 0.0,
) -> PhaseMetrics:
    """Measures of one phase from its stored per-sample arrays.

    Parameters
    ----------
    envelope_uv, included : the scored envelope and its included mask, one entry per (unpaused)
        sample of the phase.
    below : included samples below the threshold in force at each sample (as scored live);
        None before any threshold exists.
    scored : included samples that had a threshold to be scored against (default: included);
        % below and gaps are relative to these.
    pairs : for asymmetry, ``((left, right), env [n, 2], included [n, 2])`` per channel pair.
    recovery_level_uv : baseline + k SD when the phase follows a contraction (recovery time is
        measured from the phase start); None otherwise.
    contraction_mean_uv : mean of the contraction before a release phase (contrast ratio).
    envelope_delay_s : lag of the envelope (half the causal RMS window), taken off the recovery
        time.
    """
    env = np.asarray(envelope_uv, dtype=np.float64)
    inc = np.asarray(included, dtype=bool)
    n = int(env.size)
    n_inc = int(np.count_nonzero(inc))
    values = env[inc]
    stats = amplitude_stats(values)
    m = PhaseMetrics(
        index=index,
        name=name,
        kind=str(kind),
        start_s=start_s,
        duration_s=n / fs_hz,
        planned_s=planned_s,
        n_samples=n,
        n_included=n_inc,
        pct_excluded=100.0 * (n - n_inc) / n if n else 0.0,
        mean_uv=stats["mean_uv"],
        median_uv=stats["median_uv"],
        sd_uv=stats["sd_uv"],
        apdf10_uv=stats["apdf10"],
        apdf50_uv=stats["apdf50"],
        apdf90_uv=stats["apdf90"],
        threshold_uv=threshold_uv,
        threshold_start_uv=threshold_start_uv,
    )
    _add_below_and_gaps(m, env, inc, below, scored, measures, fs_hz)
    if recovery_level_uv is not None:
        m.recovery_level_uv = recovery_level_uv
        m.recovery_s = recovery_time(
            env,
            inc,
            recovery_level_uv,
            fs_hz,
            measures.recovery_hold_s,
            measures.recovery_smooth_s,
            envelope_delay_s,
        )
    if contraction_mean_uv is not None and m.mean_uv:
        m.contrast_ratio = contraction_mean_uv / m.mean_uv
    _add_asymmetry(m, pairs or [])
    return m


def _add_below_and_gaps(
    m: PhaseMetrics,
    env: np.ndarray,
    inc: np.ndarray,
    below: np.ndarray | None,
    scored: np.ndarray | None,
    measures: MeasureSettings,
    fs_hz: float,
) -> None:
    """% time below threshold, gaps per minute and relative rest time (see compute_phase_metrics).

    Gaps are counted on a fixed ``measures.gap_threshold_uv`` when one is set (relative to the
    included samples), else on the live threshold (relative to the scored samples).
    """
    n_inc = int(np.count_nonzero(inc))
    sc = inc if scored is None else np.asarray(scored, dtype=bool)
    n_sc = int(np.count_nonzero(sc))
    gap_below, n_gap_base = None, 0
    if measures.gap_threshold_uv is not None:
        gap_below = inc & (np.nan_to_num(env, nan=np.inf) < measures.gap_threshold_uv)
        n_gap_base = n_inc
    elif below is not None:
        gap_below, n_gap_base = np.asarray(below, dtype=bool), n_sc
    if below is not None and n_sc:
        m.pct_below = 100.0 * int(np.count_nonzero(below)) / n_sc
    if gap_below is not None and n_gap_base:
        gaps, gap_samples = gap_stats(gap_below, fs_hz, measures.gap_min_s)
        m.gaps = gaps
        m.gaps_per_min = gaps / (n_gap_base / fs_hz / 60.0)
        m.rest_time_pct = 100.0 * gap_samples / n_gap_base


def _add_asymmetry(
    m: PhaseMetrics, pairs: list[tuple[tuple[int, int], np.ndarray, np.ndarray]]
) -> None:
    """Left/right means and asymmetry % per channel pair over samples included on both sides."""
    for (left, right), pair_env, pair_inc in pairs:
        both = pair_inc[:, 0] & pair_inc[:, 1]
        if not both.any():
            value, lmean, rmean = None, None, None
        else:
            lmean = float(np.mean(pair_env[both, 0]))
            rmean = float(np.mean(pair_env[both, 1]))
            value = asymmetry_pct(lmean, rmean)
        m.asymmetry.append(
            {"left": left, "right": right, "left_uv": lmean, "right_uv": rmean, "pct": value}
        )
    if m.asymmetry:
        m.asymmetry_pct = m.asymmetry[0]["pct"]


# --------------------------------------------------------------------------- session summary


def _weighted_pct_below(phases: list[PhaseMetrics]) -> float | None:
    """% below over the phases' included samples (each phase weighted by its included count)."""
    pairs = [(p.pct_below, p.n_included) for p in phases if p.pct_below is not None]
    total = sum(n for _, n in pairs)
    if not total:
        return None
    return sum(pct * n for pct, n in pairs) / total


@dataclass
class SessionSummary:
    """What a whole session measured; ``to_dict()`` is the JSON the CLI prints and stores."""

    protocol: str
    fs_hz: float
    start_index: int
    end_index: int
    duration_s: float
    completed: bool
    aborted: bool
    abort_reason: str
    body_part: str
    muscles: list[str]
    noise_floor_uv: float | None
    baseline_uv: float | None
    baseline_sd_uv: float | None
    baseline_robust_sd_uv: float | None
    reference_uv: float | None
    phases: list[PhaseMetrics]
    threshold_log: list[ThresholdChange]
    pain_before: float | None = None
    pain_after: float | None = None
    notes: list[str] = field(default_factory=list)
    #: Output channel the measures are computed on: an index, or "max" / "mean" over channels.
    scored_channel: int | str | None = None
    #: What the patient wrote in step phases (thought records, reflections) and which education
    #: pages were read: private to the subject, never in the default report (docs/protocols.md).
    responses: list[dict[str, Any]] = field(default_factory=list)

    @property
    def step_s(self) -> float:
        """Time spent in step phases (reading, writing): recorded but not training time."""
        return float(sum(p.duration_s for p in self.phases if p.step_status))

    def _of_kind(self, *kinds: PhaseKind) -> list[PhaseMetrics]:
        names = {str(k) for k in kinds}
        return [p for p in self.phases if p.kind in names and p.n_samples > 0]

    @property
    def trials_pct_below(self) -> list[float | None]:
        """% time below threshold per train phase, in order."""
        return [p.pct_below for p in self._of_kind(PhaseKind.TRAIN)]

    @property
    def training_pct_below(self) -> float | None:
        """% below over all training samples (trials weighted by their included samples)."""
        return _weighted_pct_below(self._of_kind(PhaseKind.TRAIN))

    @property
    def transfer_pct_below(self) -> float | None:
        """% below in the transfer phase(s) (without feedback), included-sample weighted."""
        return _weighted_pct_below(self._of_kind(PhaseKind.TRANSFER))

    @property
    def recovery_s(self) -> float | None:
        """Recovery time after the first contraction that has one (reactivity test)."""
        for p in self.phases:
            if p.recovery_level_uv is not None:
                return p.recovery_s
        return None

    @property
    def pct_excluded(self) -> float:
        """% of all scored (unpaused) samples excluded as artefact or gap."""
        n = sum(p.n_samples for p in self.phases)
        inc = sum(p.n_included for p in self.phases)
        return 100.0 * (n - inc) / n if n else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "protocol": self.protocol,
            "fs_hz": self.fs_hz,
            "start_index": self.start_index,
            "end_index": self.end_index,
            "duration_s": self.duration_s,
            "completed": self.completed,
            "aborted": self.aborted,
            "abort_reason": self.abort_reason,
            "body_part": self.body_part,
            "muscles": list(self.muscles),
            "noise_floor_uv": self.noise_floor_uv,
            "baseline_uv": self.baseline_uv,
            "baseline_sd_uv": self.baseline_sd_uv,
            "baseline_robust_sd_uv": self.baseline_robust_sd_uv,
            "reference_uv": self.reference_uv,
            "pain_before": self.pain_before,
            "pain_after": self.pain_after,
            "trials_pct_below": self.trials_pct_below,
            "training_pct_below": self.training_pct_below,
            "transfer_pct_below": self.transfer_pct_below,
            "recovery_s": self.recovery_s,
            "pct_excluded": self.pct_excluded,
            "phases": [p.to_dict() for p in self.phases],
            "threshold_log": [c.to_dict() for c in self.threshold_log],
            "notes": list(self.notes),
            "scored_channel": self.scored_channel,
            "step_s": self.step_s,
            "responses": [dict(r) for r in self.responses],
            "patient_summary": patient_summary_text(self),
        }


_BODY_WORDS = (
    ("trapez", "shoulders"),
    ("neck", "neck"),
    ("paraspinal", "lower back"),
    ("erector", "lower back"),
    ("lumbar", "lower back"),
    ("frontalis", "forehead"),
    ("masseter", "jaw"),
)


def body_part_words(body_part: str, muscles: list[str] | tuple[str, ...]) -> str:
    """Plain words for the trained muscle (``"shoulders"``), for patient texts."""
    if body_part:
        return body_part
    for muscle in muscles:
        for key, words in _BODY_WORDS:
            if key in muscle.lower():
                return words
    return "muscles"


def _uv(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def _pct(value: float) -> str:
    return f"{value:.0f} %"


def _training_sentence(summary: SessionSummary, body: str, verb: str) -> str:
    """% of the training time below the target, and how the first and last trial compare."""
    trials = [v for v in summary.trials_pct_below if v is not None]
    overall = summary.training_pct_below
    if overall is None:
        return ""
    text = f"Your {body} {verb} relaxed (below the target) {_pct(overall)} of the training time"
    if len(trials) >= 2:
        first, last = trials[0], trials[-1]
        if round(last) > round(first):
            text += f": {_pct(last)} in the last trial, up from {_pct(first)} in the first"
        elif round(last) < round(first):
            text += f": {_pct(last)} in the last trial, down from {_pct(first)} in the first"
        else:
            text += f", the same in the first and the last trial ({_pct(first)})"
    return text + "."


def _tense_release_sentences(summary: SessionSummary, body: str) -> list[str]:
    """Tense/release contrast and recovery time after tensing (PMR, reactivity test)."""
    out: list[str] = []
    # A release after a "tense" phase without a contraction has nothing to compare.
    releases = [
        p
        for p in summary._of_kind(PhaseKind.RELEASE)
        if p.contrast_ratio is not None and not p.recovery_note
    ]
    if releases:
        tense = [p.mean_uv for p in summary._of_kind(PhaseKind.TENSE) if p.mean_uv is not None]
        relaxed = [p.mean_uv for p in releases if p.mean_uv is not None]
        if tense and relaxed:
            t, r = float(np.mean(tense)), float(np.mean(relaxed))
            text = (
                f"Tensing raised the tension to {_uv(t)} uV on average; letting go brought it "
                f"down to {_uv(r)} uV"
            )
            if r > 0 and t / r >= 2:
                text += f" ({t / r:.0f} times less)"
            out.append(text + ".")
    recovery_phases = [p for p in summary.phases if p.recovery_level_uv is not None]
    if not recovery_phases and any(p.recovery_note for p in summary.phases):
        out.append(f"Recovery after tensing was {NO_CONTRACTION_NOTE}.")
    if recovery_phases:
        times = [p.recovery_s for p in recovery_phases if p.recovery_s is not None]
        if times:
            out.append(
                f"After tensing, your {body} settled back to rest in "
                f"{float(np.median(times)):.1f} s."
            )
        else:
            out.append(f"After tensing, your {body} did not fully settle within the rest time.")
    return out


def patient_summary_text(summary: SessionSummary) -> str:
    """A few plain sentences for the patient about this session."""
    body = body_part_words(summary.body_part, summary.muscles)
    verb = "was" if body in ("neck", "lower back", "forehead", "jaw") else "were"
    out: list[str] = []
    if summary.aborted:
        out.append("The session was stopped early; these results cover the part that ran.")
    training = _training_sentence(summary, body, verb)
    if training:
        out.append(training)
    transfer = summary.transfer_pct_below
    if transfer is not None:
        out.append(f"Without the display you stayed relaxed {_pct(transfer)} of the time.")
    baselines = [
        p.median_uv for p in summary._of_kind(PhaseKind.BASELINE) if p.median_uv is not None
    ]
    if len(baselines) >= 2 and baselines[0]:
        first, last = baselines[0], baselines[-1]
        change = 100.0 * (last - first) / first
        word = "lower" if change < 0 else "higher"
        out.append(
            f"Resting tension: {first:.1f} uV at the start, {last:.1f} uV at the end "
            f"({abs(change):.0f} % {word})."
        )
    elif baselines:
        out.append(f"Resting tension: {baselines[0]:.1f} uV.")
    out.extend(_tense_release_sentences(summary, body))
    breaks = sum(p.prompts for p in summary.phases)
    if breaks:
        how_often = "once" if breaks == 1 else f"{breaks} times"
        out.append(f"You were reminded to take a micro-break {how_often}.")
    if summary.pain_before is not None and summary.pain_after is not None:
        out.append(f"Pain: {summary.pain_before:g} out of 10 before, {summary.pain_after:g} after.")
    elif summary.pain_before is not None:
        out.append(f"Pain before the session: {summary.pain_before:g} out of 10.")
    if summary.pct_excluded >= 10.0:
        out.append(
            f"{_pct(summary.pct_excluded)} of the recording could not be scored because of "
            "signal problems (electrode contact or movement)."
        )
    if not out:
        out.append("No measures yet.")
    return " ".join(out)
