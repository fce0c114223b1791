"""The session runner: phases on the sample clock, calibration, scoring, shaping, prompts,
control calls, determinism across block sizes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from biofeedback.core.types import Flag
from biofeedback.errors import ProtocolFileError
from biofeedback.training import (
    EventType,
    SessionRunner,
    load_protocol,
    parse_protocol,
    run_session,
)
from biofeedback.training.metrics import (
    NO_CONTRACTION_NOTE,
    contraction_happened,
    patient_summary_text,
)

FS = 100.0


def proto(body: str, header: str = 'name = "t"\n'):
    return parse_protocol(header + body, "t.toml")


def noisy(level: np.ndarray | float, n: int, rng: np.random.Generator, rel_sd: float = 0.15):
    """A plausible moving-RMS envelope: `level` times 1 + correlated noise (tau 50 ms)."""
    a = np.exp(-1.0 / (0.05 * FS))
    w = rng.standard_normal(n) * np.sqrt(1 - a * a)
    x = np.empty(n)
    acc = 0.0
    for i in range(n):
        acc = a * acc + w[i]
        x[i] = acc
    return np.maximum(np.broadcast_to(level, (n,)) * (1.0 + rel_sd * x), 0.0)


SMALL = """
[[phases]]
kind = "baseline"
duration = "20 s"
[[phases]]
name = "trial"
repeat = 2
  [[phases.block]]
  name = "trial"
  kind = "train"
  duration = "30 s"
  shaping = { interval_s = 10 }
  [[phases.block]]
  kind = "rest"
  duration = "5 s"
[[phases]]
kind = "transfer"
duration = "10 s"
"""


def types(events) -> list[str]:
    return [str(e.type) for e in events]


def test_phases_follow_the_sample_clock() -> None:
    p = proto(SMALL)
    n = round(p.duration_s * FS)
    env = np.full(n, 4.0)
    r = run_session(p, FS, env, first_index=1000, block=7)
    assert r.finished
    started = [e for e in r.events if e.type == EventType.PHASE_STARTED]
    assert [e.data["name"] for e in started] == [
        "baseline",
        "trial 1",
        "rest 1",
        "trial 2",
        "rest 2",
        "transfer",
    ]
    assert [e.sample_index for e in started] == [1000, 3000, 6000, 6500, 9500, 10000]
    assert [e.time_s for e in started] == [0, 20, 50, 55, 85, 90]
    ended = r.events[-1]
    assert ended.type == EventType.SESSION_ENDED and ended.sample_index == 1000 + n
    summary = r.summary()
    assert summary.completed and not summary.aborted
    assert [m.duration_s for m in summary.phases] == [20, 30, 5, 30, 5, 10]
    json.dumps([e.to_dict() for e in r.events])
    # samples after the end are ignored
    assert r.tick(1000 + n, np.ones(10)) == []


def test_start_threshold_is_90_percent_of_the_baseline_median() -> None:
    p = proto(SMALL)
    rng = np.random.default_rng(1)
    n = round(p.duration_s * FS)
    env = noisy(4.0, n, rng)
    r = run_session(p, FS, env, noise_floor_uv=0.5)
    base = float(np.median(env[:2000]))
    assert r.baseline_uv == base
    assert r.baseline_sd_uv == pytest.approx(float(np.std(env[:2000])))
    mad = np.median(np.abs(env[:2000] - base))
    assert r.baseline_robust_sd_uv == pytest.approx(1.4826 * mad)
    first = r.threshold_log[0]
    assert first.source == "start" and first.sample_index == 2000
    assert first.new_uv == pytest.approx(0.9 * base)
    assert first.reason == f"start: 90% of baseline {base:.3g} uV"
    calibrated = [e for e in r.events if e.type == EventType.CALIBRATED]
    assert calibrated[0].data["what"] == "baseline"


def test_threshold_floor_is_1_5_times_the_noise_floor() -> None:
    p = proto(SMALL)
    n = round(p.duration_s * FS)
    r = run_session(p, FS, np.full(n, 1.0), noise_floor_uv=2.0)
    first = r.threshold_log[0]
    assert first.new_uv == 3.0
    assert first.reason == (
        "start: 90% of baseline 1 uV, raised to the floor 1.5 x noise floor 2 uV = 3 uV"
    )
    # shaping never goes below it either
    assert min(c.new_uv for c in r.threshold_log) == 3.0


def test_per_phase_means_match_a_hand_computation() -> None:
    p = proto(SMALL)
    n = round(p.duration_s * FS)
    rng = np.random.default_rng(7)
    env = noisy(np.linspace(6, 3, n), n, rng)
    flags = np.zeros(n, np.uint16)
    flags[rng.random(n) < 0.05] = Flag.MOTION
    flags[4000:4100] = Flag.MISSING
    env[4000:4100] = np.nan
    r = run_session(p, FS, env, flags, block=13)
    bounds = np.cumsum([0] + [round(ph.duration_s * FS) for ph in p.phases])
    for m, a, b in zip(r.summary().phases, bounds[:-1], bounds[1:], strict=True):
        ok = flags[a:b] == 0
        values = env[a:b][ok]
        assert m.n_included == ok.sum()
        assert m.mean_uv == pytest.approx(values.mean(), abs=1e-6)
        assert m.median_uv == pytest.approx(np.median(values), abs=1e-6)
        assert m.sd_uv == pytest.approx(values.std(), abs=1e-6)
        assert m.apdf90_uv == pytest.approx(np.percentile(values, 90), abs=1e-6)
        assert m.pct_excluded == pytest.approx(100 * (b - a - ok.sum()) / (b - a))


def test_flagged_samples_are_never_rewarded() -> None:
    p = proto(SMALL)
    n = round(p.duration_s * FS)
    env = np.full(n, 10.0)
    flags = np.zeros(n, np.uint16)
    # in trial 1 (samples 2000-5000) a stretch reads 0 uV, but it is flagged: not "relaxed"
    env[2500:3500] = 0.0
    flags[2500:3500] = Flag.FLAT
    # and a NaN without a flag is not rewarded either
    env[3600:3700] = np.nan
    r = run_session(p, FS, env, flags)
    trial = r.summary().phases[1]
    assert trial.pct_below == 0.0
    assert trial.gaps == 0 and trial.rest_time_pct == 0.0
    assert trial.pct_excluded == pytest.approx(100 * 1100 / 3000)
    # live state: the latest sample flagged -> not below
    r2 = SessionRunner(p, FS)
    r2.tick(0, np.full(2000, 10.0))
    r2.tick(2000, np.zeros(10), np.full(10, Flag.CLIPPED, np.uint16))
    state = r2.state()
    assert state.is_below is False and state.latest_uv is None


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_samples_same_results_whatever_the_block_sizes(seed: int) -> None:
    p = proto(
        SMALL
        + """
[[phases]]
kind = "train"
duration = "40 s"
micro_break_after_s = 5
shaping = false
[[phases]]
kind = "reference-contraction"
duration = "3 s"
[[phases]]
kind = "recovery"
duration = "20 s"
""",
        header='name = "t"\nasymmetry_pairs = [[0, 1]]\n',
    )
    rng = np.random.default_rng(100 + seed)
    n = round(p.duration_s * FS)
    level = np.full(n, 5.0)
    level[-2300:-2000] = 60.0
    env = np.column_stack([noisy(level, n, rng), noisy(level * 0.8, n, rng)])
    flags = np.zeros((n, 2), np.uint16)
    flags[rng.random(n) < 0.02, 0] = Flag.MOTION
    whole = run_session(p, FS, env, flags, noise_floor_uv=[0.5, 0.6])
    sizes = rng.integers(1, 700, size=n)
    coalesce_s = [0.0, 0.1, 3.0][seed]
    r = SessionRunner(p, FS, noise_floor_uv=[0.5, 0.6], coalesce_s=coalesce_s)
    a = 0
    for size in sizes:
        b = min(n, a + int(size))
        r.tick(a, env[a:b], flags[a:b])
        a = b
        if a >= n:
            break
    r.flush()
    assert r.finished
    assert [e.to_dict() for e in r.events] == [e.to_dict() for e in whole.events]
    assert r.summary().to_dict() == whole.summary().to_dict()
    assert any(e.type == EventType.PROMPT for e in r.events)
    assert any(c.source == "shaping" for c in r.threshold_log)


def test_shaping_keeps_success_in_the_band_on_a_stationary_signal() -> None:
    p = proto(
        """
[[phases]]
kind = "baseline"
duration = "60 s"
[[phases]]
kind = "train"
duration = "20 min"
"""
    )
    rng = np.random.default_rng(3)
    n = round(p.duration_s * FS)
    env = noisy(5.0, n, rng, rel_sd=0.2)
    r = run_session(p, FS, env)
    windows = r.summary().phases[1].shaping
    assert len(windows) == 20
    later = [w["success_pct"] for w in windows[2:]]
    assert all(60 <= s <= 80 for s in later), later
    assert windows[0]["success_pct"] < 60  # started at 90 % of the baseline: too hard
    assert windows[0]["changed"] and windows[0]["new_uv"] > windows[0]["threshold_uv"]


def test_pause_stops_the_phase_clock() -> None:
    p = proto(SMALL)
    r = SessionRunner(p, FS)
    r.tick(0, np.full(1000, 4.0))
    events = r.pause()
    assert types(events) == ["paused"] and events[0].sample_index == 1000
    r.tick(1000, np.full(500, 99.0))  # not scored, not stored
    assert r.state().paused and r.state().elapsed_s == 10.0
    assert types(r.resume()) == ["resumed"]
    r.tick(1500, np.full(1000, 4.0))
    baseline = r.phase_metrics[0]
    assert baseline.duration_s == 20.0 and baseline.paused_s == 5.0
    assert baseline.mean_uv == 4.0
    trial = [e for e in r.events if e.type == EventType.PHASE_STARTED][1]
    assert trial.sample_index == 2500


def test_skip_and_abort() -> None:
    p = proto(SMALL)
    r = SessionRunner(p, FS)
    r.tick(0, np.full(2500, 4.0))  # 5 s into trial 1
    events = r.skip()
    assert types(events) == ["phase_ended", "phase_started"]
    assert events[0].data["skipped"] and events[0].data["metrics"]["duration_s"] == 5.0
    assert events[1].data["name"] == "rest 1" and events[1].sample_index == 2500
    events = r.abort("patient felt unwell")
    assert types(events) == ["phase_ended", "session_ended"]
    assert events[1].data["aborted"] and events[1].data["reason"] == "patient felt unwell"
    s = r.summary()
    assert s.aborted and not s.completed and len(s.phases) == 3
    assert r.tick(2500, np.ones(10)) == [] and r.skip() == [] and r.abort() == []


def test_clinician_override_wins_over_shaping_until_released() -> None:
    p = proto(SMALL)
    n = round(p.duration_s * FS)
    rng = np.random.default_rng(5)
    env = noisy(4.0, n, rng)
    r = SessionRunner(p, FS)
    r.tick(0, env[:2500])
    events = r.override_threshold(2.0, "patient tense today")
    assert types(events) == ["threshold_changed"]
    assert events[0].data["reason"] == "clinician override: patient tense today"
    assert events[0].data["source"] == "clinician" and events[0].sample_index == 2500
    r.tick(2500, env[2500:6500])  # through the rest of trial 1 and into trial 2
    assert r.threshold_uv == 2.0  # shaping suspended (success ~0 % would have raised it)
    windows = r.phase_metrics[1].shaping
    assert all(w["reason"].endswith("suspended (clinician override)") for w in windows)
    assert r.state().override
    r.release_override()
    r.tick(6500, env[6500:])
    assert r.threshold_log[-1].source == "shaping" and r.threshold_uv > 2.0


def test_override_until_phase_end() -> None:
    p = proto(SMALL)
    r = SessionRunner(p, FS)
    r.tick(0, np.full(2100, 4.0))
    r.override_threshold(1.0, until="phase")
    r.tick(2100, np.full(3000, 4.0))  # trial 1 ends at 5000
    assert not r.state().override
    with pytest.raises(ValueError):
        r.override_threshold(-1.0)
    with pytest.raises(ValueError):
        r.override_threshold(1.0, until="forever")


DESK = """
[[phases]]
kind = "baseline"
duration = "10 s"
[[phases]]
kind = "train"
duration = "200 s"
shaping = false
target = "5 uV"
micro_break_after_s = 60
"""


def test_micro_break_after_60_s_without_a_gap() -> None:
    p = proto(DESK)
    n = round(p.duration_s * FS)
    env = np.full(n, 8.0)  # tense all the time (threshold 5 uV)
    start = 1000
    env[start + 3000 : start + 3010] = 1.0  # a 0.1 s dip: not a gap, does not reset
    r = run_session(p, FS, env, block=37)
    prompts = [e for e in r.events if e.type == EventType.PROMPT]
    # a prompt when 60 s of included samples have passed since the train phase began (the
    # sample completing them), then 60 s after each prompt
    assert [e.sample_index for e in prompts] == [start + 5999, start + 11999, start + 17999]
    assert prompts[0].data["prompt"] == "micro-break"
    assert r.summary().phases[1].prompts == 3


def test_micro_break_resets_on_a_gap_and_ignores_excluded_samples() -> None:
    p = proto(DESK)
    n = round(p.duration_s * FS)
    env = np.full(n, 8.0)
    flags = np.zeros(n, np.uint16)
    start = 1000
    env[start + 3000 : start + 3020] = 1.0  # a 0.2 s gap at 30 s: the count restarts
    flags[start + 5000 : start + 6000] = Flag.MOTION  # 10 s excluded: not counted
    r = run_session(p, FS, env, flags, block=50)
    prompts = [e.sample_index for e in r.events if e.type == EventType.PROMPT]
    # count restarts at the gap's last sample (start + 3019); 60 s of included samples after it
    # with 10 s excluded in between -> start + 3019 + 6000 + 1000
    assert prompts[0] == start + 3019 + 6000 + 1000
    state_runner = SessionRunner(p, FS)
    state_runner.tick(0, env[: start + 2000], flags[: start + 2000])
    assert state_runner.state().micro_break_in_s == pytest.approx(40.0, abs=0.011)


NOISE = """
[[phases]]
kind = "noise-floor"
duration = "10 s"
[[phases]]
kind = "baseline"
duration = "20 s"
[[phases]]
kind = "train"
duration = "10 s"
"""


def test_noise_floor_phase_is_measured_and_reported_for_the_pipeline() -> None:
    p = proto(NOISE)
    n = round(p.duration_s * FS)
    applied = 0.5
    true = np.r_[np.full(1000, 0.8), np.full(n - 1000, 4.0)]  # uncorrected RMS
    env = np.sqrt(true**2 - applied**2)  # what the pipeline delivers
    r = run_session(p, FS, np.column_stack([env, env]), noise_floor_uv=applied)
    cal = next(e for e in r.events if e.type == EventType.CALIBRATED)
    assert cal.data["what"] == "noise_floor" and cal.sample_index == 1000
    assert cal.data["values_uv"] == pytest.approx([0.8, 0.8])
    assert cal.data["adopted"] == [True, True]
    assert r.noise_floor_uv == pytest.approx(0.8)
    assert r.summary().noise_floor_uv == pytest.approx(0.8)


def test_implausible_noise_floor_is_not_adopted() -> None:
    p = proto(NOISE)
    n = round(p.duration_s * FS)
    r = run_session(p, FS, np.full(n, 4.0), noise_floor_uv=0.5)  # electrodes on the muscle
    warning = next(e for e in r.events if e.type == EventType.WARNING)
    assert (
        "is 8.1 x the expected 0.5 uV: the electrodes were probably on an active muscle"
        in (warning.data["message"])
    )
    cal = next(e for e in r.events if e.type == EventType.CALIBRATED)
    assert cal.data["values_uv"] == [0.5] and cal.data["adopted"] == [False]
    assert r.noise_floor_uv == 0.5


def test_failed_baseline_warns_and_leaves_training_unscored() -> None:
    p = proto(SMALL)
    n = round(p.duration_s * FS)
    flags = np.zeros(n, np.uint16)
    flags[:2000] = Flag.FLAT  # electrode off during the whole baseline
    r = run_session(p, FS, np.full(n, 4.0), flags)
    messages = [e.data["message"] for e in r.events if e.type == EventType.WARNING]
    assert messages[0] == (
        "phase 'baseline': baseline not measured (100% of the samples excluded): check the "
        "electrodes and repeat the baseline"
    )
    assert messages[1].startswith("phase 'trial 1': target 90% of baseline cannot be set")
    assert r.threshold_uv is None and r.summary().phases[1].pct_below is None
    # the clinician can still set one
    r2 = SessionRunner(p, FS)
    r2.tick(0, np.full(2000, 4.0), flags[:2000])
    r2.override_threshold(5.0, "by hand")
    r2.tick(2000, np.full(3000, 4.0))
    assert r2.phase_metrics[1].pct_below == 100.0


def test_reference_target_and_recovery_and_contrast() -> None:
    p = proto(
        """
[[phases]]
kind = "baseline"
duration = "20 s"
[[phases]]
kind = "reference-contraction"
duration = "5 s"
[[phases]]
kind = "recovery"
duration = "30 s"
[[phases]]
kind = "train"
duration = "10 s"
target = "10% of reference"
shaping = false
[[phases]]
kind = "tense"
duration = "6 s"
[[phases]]
kind = "release"
duration = "30 s"
"""
    )
    rng = np.random.default_rng(11)
    t_rec = np.arange(3000) / FS
    level = np.r_[
        np.full(2000, 4.0),
        np.full(500, 60.0),
        4.0 + 20.0 * np.exp(-t_rec / 2.0),
        np.full(1000, 4.0),
        np.full(600, 40.0),
        np.full(3000, 5.0),
    ]
    env = noisy(level, len(level), rng, rel_sd=0.05)
    r = run_session(p, FS, env)
    assert r.reference_uv == pytest.approx(60.0, rel=0.05)
    changes = [c for c in r.threshold_log if c.source == "target"]
    assert changes and changes[0].new_uv == pytest.approx(0.1 * r.reference_uv)
    assert changes[0].reason.startswith("target of phase 'train': 10% of reference")
    phases = r.summary().phases
    recovery = phases[2]
    level_uv = r.baseline_uv + 2 * r.baseline_robust_sd_uv
    assert recovery.recovery_level_uv == pytest.approx(level_uv)
    expected = 2.0 * np.log(20.0 / (level_uv - 4.0))
    assert recovery.recovery_s == pytest.approx(expected, abs=0.3)
    release = phases[5]
    assert release.contrast_ratio == pytest.approx(phases[4].mean_uv / release.mean_uv)
    assert phases[3].recovery_s is None and phases[3].recovery_level_uv is None
    prompts = [e.data["prompt"] for e in r.events if e.type == EventType.PROMPT]
    assert prompts == ["contract", "tense", "release"]


def test_scored_max_and_asymmetry() -> None:
    p = proto(
        SMALL,
        header='name = "t"\nscored_channel = "max"\nasymmetry_pairs = [[0, 1]]\n',
    )
    n = round(p.duration_s * FS)
    env = np.column_stack([np.full(n, 3.0), np.full(n, 5.0)])
    r = run_session(p, FS, env)
    assert r.baseline_uv == 5.0
    m = r.summary().phases[0]
    assert m.asymmetry_pct == pytest.approx(100 * (3 - 5) / 8)


def test_channel_mismatch_is_a_clear_error() -> None:
    p = proto(SMALL, header='name = "t"\nscored_channel = 1\n')
    with pytest.raises(ProtocolFileError, match="source has 1 output channel"):
        SessionRunner(p, FS, n_channels=1)
    r = SessionRunner(p, FS)
    with pytest.raises(ProtocolFileError):
        r.tick(0, np.ones(10))


def test_index_jumps_become_missing_samples_and_overlaps_are_ignored() -> None:
    p = proto(SMALL)
    r = SessionRunner(p, FS)
    r.tick(0, np.full(500, 4.0))
    r.tick(700, np.full(300, 4.0))  # 200 samples lost
    r.tick(900, np.full(200, 4.0))  # 100 already seen
    assert r.next_index == 1100 and r.overlap_samples == 100
    r.tick(1100, np.full(900, 4.0))
    baseline = r.phase_metrics[0]
    assert baseline.n_samples == 2000 and baseline.n_included == 1800


def test_state_snapshot() -> None:
    p = load_protocol("breathing")
    r = SessionRunner(p, FS)
    s0 = r.state()
    assert not s0.started and s0.phase_name == "baseline" and s0.remaining_s == 60
    r.tick(0, np.full(round(75 * FS), 4.0))  # 15 s into the breathing phase
    s = r.state()
    assert s.phase_kind == "breathing" and s.phase_index == 1
    assert s.elapsed_s == 15.0 and s.remaining_s == 225.0
    assert s.session_elapsed_s == 75.0 and s.session_remaining_s == 600 - 75
    assert s.pacer_bpm == 6.0 and s.pacer_inhale_pct == 40.0
    assert s.pacer_position == pytest.approx(0.5)  # 15 s at 6/min = 1.5 breaths
    assert s.threshold_uv == pytest.approx(3.6) and s.target_zone_uv == (0.0, s.threshold_uv)
    assert s.is_below is False and s.latest_uv == 4.0 and s.success_pct == 0.0
    assert s.show_visual and not s.play_audio
    json.dumps(s.to_dict())


def test_pain_ratings() -> None:
    r = SessionRunner(proto(SMALL), FS)
    r.set_pain(before=7)
    r.set_pain(after=3.5)
    assert (r.summary().pain_before, r.summary().pain_after) == (7.0, 3.5)
    with pytest.raises(ValueError, match="pain rating after must be a number from 0 to 10"):
        r.set_pain(after=11)


def test_small_ticks_are_coalesced_and_control_calls_flush_them() -> None:
    p = proto(SMALL)
    r = SessionRunner(p, FS, coalesce_s=1.0)  # 100 samples
    first = r.tick(0, np.full(30, 4.0))
    assert types(first) == ["phase_started"]  # the session starts at once
    assert r.tick(30, np.full(30, 4.0)) == []  # held back
    assert r.next_index == 0 and r.state().elapsed_s == 0.0
    r.tick(60, np.full(50, 4.0))  # 110 waiting: processed
    assert r.next_index == 110
    r.tick(110, np.full(20, 4.0))
    events = r.pause()  # applies after the 20 held-back samples
    assert events[-1].type == EventType.PAUSED and events[-1].sample_index == 130
    assert r.flush() == []
    # the caller may reuse its buffer: held-back samples were copied
    r2 = SessionRunner(p, FS, coalesce_s=1.0)
    buf = np.full(50, 4.0)
    r2.tick(0, buf)
    buf[:] = 1000.0
    r2.tick(50, np.full(50, 4.0))
    assert r2.state().latest_uv == 4.0
    r2.tick(100, np.full(1900, 4.0))
    assert r2.phase_metrics[0].mean_uv == 4.0


# hypothesis: any split of the same samples into ticks gives the same events and measures

_HYP_PROTOCOL = proto(
    """
[[phases]]
kind = "baseline"
duration = "3 s"
[[phases]]
kind = "train"
duration = "6 s"
micro_break_after_s = 5
shaping = { interval_s = 5 }
[[phases]]
kind = "tense"
duration = "1 s"
[[phases]]
kind = "release"
duration = "4 s"
"""
)
_HYP_N = round(_HYP_PROTOCOL.duration_s * FS)
_HYP_RNG = np.random.default_rng(42)
_HYP_ENV = noisy(np.r_[np.full(900, 4.0), np.full(100, 30.0), np.full(400, 4.0)], _HYP_N, _HYP_RNG)
_HYP_FLAGS = np.where(_HYP_RNG.random(_HYP_N) < 0.03, int(Flag.MOTION), 0).astype(np.uint16)
_HYP_WHOLE = run_session(_HYP_PROTOCOL, FS, _HYP_ENV, _HYP_FLAGS, coalesce_s=0)


@settings(max_examples=30, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 400), min_size=1, max_size=60),
    coalesce_s=st.sampled_from([0.0, 0.05, 1.0]),
)
def test_block_invariance_property(sizes: list[int], coalesce_s: float) -> None:
    r = SessionRunner(_HYP_PROTOCOL, FS, coalesce_s=coalesce_s)
    a = 0
    i = 0
    while a < _HYP_N:
        b = min(_HYP_N, a + sizes[i % len(sizes)])
        r.tick(a, _HYP_ENV[a:b], _HYP_FLAGS[a:b])
        a, i = b, i + 1
    r.flush()
    assert [e.to_dict() for e in r.events] == [e.to_dict() for e in _HYP_WHOLE.events]


def test_no_recovery_time_without_a_contraction() -> None:
    # A "contraction" that stays at rest (the steady simulator, a patient who did not tense):
    # the recovery phase would settle at once and read 0.0 s; it must be "not measured".
    p = proto(
        """
[[phases]]
kind = "baseline"
duration = "20 s"
[[phases]]
kind = "reference-contraction"
duration = "5 s"
[[phases]]
kind = "recovery"
duration = "20 s"
[[phases]]
kind = "tense"
duration = "5 s"
[[phases]]
kind = "release"
duration = "20 s"
"""
    )
    rng = np.random.default_rng(3)
    n = 7000
    env = noisy(np.full(n, 5.0), n, rng, rel_sd=0.1)
    r = run_session(p, FS, env)
    s = r.summary()
    recovery, release = s.phases[2], s.phases[4]
    for phase in (recovery, release):
        assert phase.recovery_s is None and phase.recovery_level_uv is None
        assert phase.recovery_note == NO_CONTRACTION_NOTE
    assert s.recovery_s is None
    text = patient_summary_text(s)
    assert "settled back" not in text and "not measured (no contraction above rest)" in text
    assert "Tensing raised" not in text
    assert s.to_dict()["phases"][2]["recovery_note"] == NO_CONTRACTION_NOTE
    assert s.to_dict()["scored_channel"] == 0


@pytest.mark.parametrize(
    ("mean_uv", "level_uv", "expected"),
    [
        (None, 6.0, False),
        (5.2, 6.0, False),
        (9.0, 6.0, False),
        (12.0, 6.0, True),
        (8.0, 9.0, False),
    ],
)
def test_contraction_happened(mean_uv: float | None, level_uv: float, expected: bool) -> None:
    # baseline 5 uV: a contraction must exceed both the level and 2 x baseline (10 uV)
    assert contraction_happened(mean_uv, 5.0, level_uv) is expected
