"""Per-phase measures against hand computations (docs/protocols.md, "Measures per phase")."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from biofeedback.training.metrics import (
    PhaseMetrics,
    SessionSummary,
    asymmetry_pct,
    body_part_words,
    centred_rms,
    compute_phase_metrics,
    gap_stats,
    patient_summary_text,
    recovery_time,
    runs,
)
from biofeedback.training.protocol import MeasureSettings, PhaseKind

FS = 100.0


def _metrics(env, included, below=None, threshold=None, **kw) -> PhaseMetrics:
    return compute_phase_metrics(
        index=0,
        name="p",
        kind=kw.pop("kind", PhaseKind.TRAIN),
        fs_hz=FS,
        start_s=0.0,
        planned_s=len(env) / FS,
        envelope_uv=np.asarray(env, float),
        included=np.asarray(included, bool),
        below=None if below is None else np.asarray(below, bool),
        threshold_uv=threshold,
        threshold_start_uv=threshold,
        measures=kw.pop("measures", MeasureSettings()),
        **kw,
    )


def test_amplitude_measures_use_exactly_the_included_samples() -> None:
    env = [1.0, 2.0, 3.0, 4.0, 5.0, 100.0, np.nan]
    inc = [True, True, True, True, True, False, False]
    m = _metrics(env, inc)
    assert m.n_samples == 7 and m.n_included == 5
    assert m.mean_uv == 3.0
    assert m.median_uv == 3.0
    assert m.sd_uv == pytest.approx(math.sqrt(2.0))  # population SD of 1..5
    assert m.apdf10_uv == pytest.approx(1.4)  # linear interpolation
    assert m.apdf50_uv == 3.0
    assert m.apdf90_uv == pytest.approx(4.6)
    assert m.pct_excluded == pytest.approx(100 * 2 / 7)
    assert m.pct_below is None  # no threshold yet
    json.dumps(m.to_dict())


def test_percent_below_and_gaps() -> None:
    n = 1000  # 10 s at 100 Hz
    below = np.zeros(n, bool)
    below[100:110] = True  # 0.1 s: too short for a gap
    below[200:220] = True  # 0.2 s: a gap
    below[500:550] = True  # 0.5 s: a gap
    below[700:740] = True  # 0.4 s, but ...
    inc = np.ones(n, bool)
    inc[720] = False  # ... an excluded sample splits it into 0.2 s + 0.19 s
    below &= inc
    env = np.where(below, 1.0, 5.0)
    m = _metrics(env, inc, below, threshold=2.0)
    assert m.pct_below == pytest.approx(100 * below.sum() / inc.sum())
    assert m.gaps == 3  # 0.2 s, 0.5 s, and the first 0.2 s piece
    assert m.gaps_per_min == pytest.approx(3 / (inc.sum() / FS / 60))
    assert m.rest_time_pct == pytest.approx(100 * (20 + 50 + 20) / inc.sum())
    assert gap_stats(below, FS, 0.2) == (3, 90)


def test_fixed_gap_threshold_overrides_the_training_threshold() -> None:
    env = np.r_[np.full(50, 0.5), np.full(50, 3.0)]
    inc = np.ones(100, bool)
    m = _metrics(env, inc, env < 4.0, 4.0, measures=MeasureSettings(gap_threshold_uv=1.0))
    assert m.pct_below == 100.0
    assert m.gaps == 1 and m.rest_time_pct == 50.0


def test_runs() -> None:
    starts, lengths = runs(np.array([1, 1, 0, 1, 0, 0, 1, 1, 1], bool))
    assert starts.tolist() == [0, 3, 6] and lengths.tolist() == [2, 1, 3]
    assert runs(np.zeros(0, bool))[0].size == 0


def test_recovery_time_on_an_exponential() -> None:
    # rest 4 uV, 10 uV excess decaying with tau 2 s: falls to 5 uV at 2 ln(10) = 4.605 s
    t = np.arange(0, 60, 1 / FS)
    env = 4.0 + 10.0 * np.exp(-t / 2.0)
    inc = np.ones_like(t, bool)
    exact = 2.0 * math.log(10.0)
    assert recovery_time(env, inc, 5.0, FS, 2.0, smooth_s=0.0) == pytest.approx(exact, abs=0.011)
    # the centred 1 s RMS is unbiased to well within 0.1 s on this decay
    assert recovery_time(env, inc, 5.0, FS, 2.0, smooth_s=1.0) == pytest.approx(exact, abs=0.1)
    # never settles
    assert recovery_time(env, inc, 3.0, FS) is None
    # an excluded stretch after the crossing breaks the hold: recovery comes after it
    inc2 = inc.copy()
    inc2[600:700] = False
    assert recovery_time(env, inc2, 5.0, FS, 2.0, smooth_s=0.0) == pytest.approx(7.0)


def test_centred_rms_is_the_rms_of_the_window() -> None:
    env = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    out = centred_rms(env, np.ones(5, bool), 1.0, 3.0)  # window of 3 samples
    assert out[2] == pytest.approx(math.sqrt((4 + 9 + 16) / 3))
    assert out[0] == pytest.approx(math.sqrt((1 + 4) / 2))  # shrinks at the edge


def test_recovery_is_measured_in_the_phase_metrics() -> None:
    t = np.arange(0, 30, 1 / FS)
    env = 4.0 + 10.0 * np.exp(-t / 2.0)
    m = _metrics(env, np.ones_like(t, bool), kind=PhaseKind.RECOVERY, recovery_level_uv=5.0)
    assert m.recovery_level_uv == 5.0
    assert m.recovery_s == pytest.approx(2.0 * math.log(10.0), abs=0.1)


def test_asymmetry() -> None:
    assert asymmetry_pct(3.0, 1.0) == 50.0
    assert asymmetry_pct(2.0, 2.0) == 0.0
    assert asymmetry_pct(0.0, 0.0) is None
    n = 100
    pair_env = np.column_stack([np.full(n, 6.0), np.full(n, 2.0)])
    pair_inc = np.ones((n, 2), bool)
    pair_env[:10, 0] = 1000.0
    pair_inc[:10, 0] = False  # left flagged: those rows are left out for both sides
    pair_env[10:20, 1] = 0.0  # right lower in rows the left sees
    m = _metrics(np.full(n, 4.0), np.ones(n, bool), pairs=[((0, 1), pair_env, pair_inc)])
    right = (10 * 0.0 + 80 * 2.0) / 90
    assert m.asymmetry_pct == pytest.approx(100 * (6.0 - right) / (6.0 + right))
    assert m.asymmetry[0]["left_uv"] == 6.0


def _phase(index, name, kind, pct_below=None, n=6000, n_inc=6000, **kw) -> PhaseMetrics:
    m = PhaseMetrics(index, name, str(kind), 0.0, n / FS, n / FS, n, n_inc, 100 * (n - n_inc) / n)
    m.pct_below = pct_below
    for key, value in kw.items():
        setattr(m, key, value)
    return m


def _summary(phases, **kw) -> SessionSummary:
    base = dict(
        protocol="clinical-session",
        fs_hz=FS,
        start_index=0,
        end_index=1000,
        duration_s=10.0,
        completed=True,
        aborted=False,
        abort_reason="",
        body_part="",
        muscles=["upper trapezius"],
        noise_floor_uv=None,
        baseline_uv=4.0,
        baseline_sd_uv=1.0,
        baseline_robust_sd_uv=0.9,
        reference_uv=None,
        phases=phases,
        threshold_log=[],
    )
    base.update(kw)
    return SessionSummary(**base)


def test_session_summary_and_patient_text() -> None:
    phases = [
        _phase(0, "baseline", PhaseKind.BASELINE, median_uv=5.0),
        _phase(1, "trial 1", PhaseKind.TRAIN, 55.0, n_inc=6000),
        _phase(2, "trial 2", PhaseKind.TRAIN, 75.0, n=3000, n_inc=3000),
        _phase(3, "transfer", PhaseKind.TRANSFER, 64.0, n_inc=5400),
        _phase(4, "recovery", PhaseKind.RECOVERY, recovery_s=3.4, recovery_level_uv=6.0),
        _phase(5, "post-baseline", PhaseKind.BASELINE, median_uv=4.0),
    ]
    s = _summary(phases, pain_before=6, pain_after=4)
    assert s.trials_pct_below == [55.0, 75.0]
    assert s.training_pct_below == pytest.approx((55 * 6000 + 75 * 3000) / 9000)
    assert s.transfer_pct_below == 64.0
    assert s.recovery_s == 3.4
    assert s.pct_excluded == pytest.approx(100 * 600 / 33000)
    text = patient_summary_text(s)
    assert text == (
        "Your shoulders were relaxed (below the target) 62 % of the training time: 75 % in the "
        "last trial, up from 55 % in the first. Without the display you stayed relaxed 64 % of "
        "the time. Resting tension: 5.0 uV at the start, 4.0 uV at the end (20 % lower). After "
        "tensing, your shoulders settled back to rest in 3.4 s. Pain: 6 out of 10 before, 4 after."
    )
    d = s.to_dict()
    json.dumps(d)
    assert d["patient_summary"] == text and d["pain_before"] == 6


def test_patient_text_mentions_artefacts_and_abort() -> None:
    s = _summary([_phase(0, "trial 1", PhaseKind.TRAIN, 40.0, n_inc=4000)], aborted=True)
    text = patient_summary_text(s)
    assert text.startswith("The session was stopped early")
    assert "33 % of the recording could not be scored" in text


def test_body_part_words() -> None:
    assert body_part_words("", ["lumbar paraspinals"]) == "lower back"
    assert body_part_words("", ["frontalis"]) == "forehead"
    assert body_part_words("neck", ["upper trapezius"]) == "neck"
    assert body_part_words("", []) == "muscles"


def test_patient_text_for_pmr_and_desk_mode() -> None:
    phases = [
        _phase(0, "tense 1", PhaseKind.TENSE, mean_uv=40.0),
        _phase(1, "release 1", PhaseKind.RELEASE, mean_uv=4.0, contrast_ratio=10.0),
        _phase(2, "work", PhaseKind.TRAIN, 80.0, prompts=3),
    ]
    text = patient_summary_text(_summary(phases, body_part="neck"))
    assert "Your neck was relaxed (below the target) 80 % of the training time." in text
    assert (
        "Tensing raised the tension to 40 uV on average; letting go brought it down to 4.0 uV "
        "(10 times less)." in text
    )
    assert "You were reminded to take a micro-break 3 times." in text
