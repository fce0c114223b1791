"""Calibration estimates, start thresholds and the shaping rule (docs/clinical-background.md)."""

from __future__ import annotations

import numpy as np
import pytest

from biofeedback.training.protocol import ShapingRule, Target, TargetKind
from biofeedback.training.thresholds import (
    ThresholdTracker,
    estimate_baseline,
    estimate_noise_floor,
    estimate_reference,
    robust_sd,
    shaping_step,
    target_reason,
    target_threshold,
)


def test_noise_floor_adds_the_applied_floor_back_in_quadrature() -> None:
    rng = np.random.default_rng(0)
    true_rms = 1.0 + 0.1 * rng.random(1001)
    applied = 0.6
    corrected = np.sqrt(true_rms**2 - applied**2)
    assert estimate_noise_floor(corrected, applied) == pytest.approx(np.median(true_rms), 1e-12)
    assert estimate_noise_floor(np.array([np.nan, 2.0, 4.0])) == 3.0
    assert estimate_noise_floor(np.array([])) is None


def test_baseline_is_median_and_sd() -> None:
    values = np.array([1.0, 2.0, 3.0, 4.0, 10.0])
    median, sd = estimate_baseline(values)
    assert median == 3.0
    assert sd == pytest.approx(np.sqrt(np.mean((values - 4.0) ** 2)))
    assert estimate_baseline(np.array([np.nan])) is None


def test_reference_is_the_best_one_second_mean_and_ignores_artefacts() -> None:
    fs = 100.0
    env = np.full(1000, 5.0)
    env[300:400] = 50.0  # a 1 s plateau
    env[700:720] = 1000.0  # an artefact ...
    included = np.ones(1000, bool)
    included[700:720] = False  # ... that is flagged
    assert estimate_reference(env, included, fs, 1.0) == pytest.approx(50.0)
    # with the artefact not flagged it would win: the flags matter
    assert estimate_reference(env, np.ones(1000, bool), fs, 1.0) > 50.0
    assert estimate_reference(env, np.zeros(1000, bool), fs, 1.0) is None
    # phase shorter than the window: the whole phase
    assert estimate_reference(np.array([2.0, 4.0]), np.ones(2, bool), fs, 1.0) == 3.0


def test_target_threshold_and_reason() -> None:
    pct = Target(TargetKind.PCT_BASELINE, 90.0)
    assert target_threshold(pct, 4.2, None) == pytest.approx(3.78)
    assert target_threshold(pct, None, None) is None
    assert target_threshold(Target(TargetKind.UV, 3.0), None, None) == 3.0
    assert target_threshold(Target(TargetKind.PCT_REFERENCE, 10.0), 4.0, 50.0) == 5.0
    assert target_reason(pct, 4.2, None) == "90% of baseline 4.2 uV"


def _window(success_pct: float, n: int = 1000, excluded: int = 0):
    """A window of n samples, `success_pct` % of the included ones below a threshold of 10."""
    env = np.linspace(0.0, 20.0, n)
    included = np.ones(n, bool)
    included[:excluded] = False
    n_inc = n - excluded
    n_below = round(n_inc * success_pct / 100)
    env[excluded:] = np.concatenate(
        [np.linspace(1, 9, n_below), np.linspace(11, 19, n_inc - n_below)]
    )
    below = included & (env < 10.0)
    return env, included, below


RULE = ShapingRule()


@pytest.mark.parametrize(
    ("success", "factor", "steps"),
    [
        (70.0, 1.0, 0),  # on target
        (75.0, 1.0, 0),  # inside the deadband
        (65.0, 1.0, 0),
        (78.0, 0.95, 1),  # too easy: lower by 5 %
        (62.0, 1.05, 1),  # too hard: raise by 5 %
    ],
)
def test_shaping_single_steps(success: float, factor: float, steps: int) -> None:
    env, inc, below = _window(success)
    d = shaping_step(RULE, 10.0, env, inc, below)
    assert d.success_pct == pytest.approx(success)
    assert d.new_uv == pytest.approx(10.0 * factor)
    assert d.steps == steps


def test_shaping_far_outside_the_band_takes_several_steps() -> None:
    env, inc, below = _window(30.0)
    d = shaping_step(RULE, 10.0, env, inc, below)
    # the 70th percentile of this window is far above 10 uV: the cap of 3 steps applies
    assert d.steps == 3
    assert d.new_uv == pytest.approx(10.0 * 1.05**3)
    assert d.reason == "shaping: 30% below in last 60 s (target 70%): raised 15.8% (3 steps of 5%)"
    env, inc, below = _window(95.0)
    d = shaping_step(RULE, 10.0, env, inc, below)
    assert d.new_uv < 10.0 and d.steps >= 1
    one = shaping_step(ShapingRule(max_steps=1), 10.0, env, inc, below)
    assert one.steps == 1 and one.new_uv == pytest.approx(9.5)


def test_shaping_respects_the_floor_and_skips_artefact_windows() -> None:
    env, inc, below = _window(95.0)
    d = shaping_step(ShapingRule(max_steps=1), 10.0, env, inc, below, floor_uv=9.8)
    assert d.new_uv == 9.8
    assert d.reason.endswith("held at the floor 9.8 uV")
    env, inc, below = _window(95.0, excluded=600)
    d = shaping_step(RULE, 10.0, env, inc, below)
    assert not d.changed and d.success_pct is None
    assert d.reason == "shaping skipped: only 40% of the last 60 s was artefact-free"


def test_tracker_logs_changes_only() -> None:
    t = ThresholdTracker(floor_x_noise=1.5)
    t.noise_floor_uv = 2.0
    assert t.floor_uv == 3.0
    assert t.apply_floor(2.0)[0] == 3.0
    assert t.apply_floor(4.0) == (4.0, "")
    first = t.set(4.0, "start: x", "start", 100, 1.0)
    assert first is not None and first.old_uv is None and first.new_uv == 4.0
    assert t.set(4.0, "again", "shaping", 200, 2.0) is None
    second = t.set(3.5, "shaping: y", "shaping", 300, 3.0)
    assert second.old_uv == 4.0
    assert [c.reason for c in t.log] == ["start: x", "shaping: y"]


def test_robust_sd_ignores_bursts() -> None:
    rng = np.random.default_rng(4)
    rest = 5.0 + rng.standard_normal(20000)
    assert robust_sd(rest) == pytest.approx(1.0, rel=0.03)
    with_bursts = rest.copy()
    with_bursts[::50] = 40.0  # 2 % of samples in bursts
    assert np.std(with_bursts) > 4.0
    assert robust_sd(with_bursts) == pytest.approx(1.0, rel=0.08)
    assert robust_sd(np.array([])) == 0.0
