"""The simulated MyoWare 2.0 sensor: realism, ground truth, determinism, pacing, URL errors."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import signal

from biofeedback.core.clock import FakeClock
from biofeedback.core.hardware import AMPLIFIER_NOISE_UV, ARV_TO_RMS, BOARDS, myoware_env_gain
from biofeedback.core.types import ChannelKind, Flag, counts_to_uv_scale
from biofeedback.devices.base import DeviceState
from biofeedback.devices.registry import open_device
from biofeedback.devices.sim_synth import emg_psd, median_frequency_hz
from biofeedback.devices.simulated import (
    SimulatedDevice,
    Synthesiser,
    synthesise,
    truth_recovery_time_s,
)
from biofeedback.errors import SourceURLError

# --------------------------------------------------------------------------- helpers (own maths)


def raw_uv(samples: np.ndarray, board: str) -> np.ndarray:
    """RAW - REF in uV at the electrodes (docs/hardware.md, code to volts; columns raw, env, ref)."""
    b = BOARDS[board]
    return (samples[:, 0] - samples[:, 2]) * b.vref_v / 2**b.adc_bits / 200.0 * 1e6


def band_rms(x: np.ndarray, fs_hz: float, lo: float = 20.0, hi: float = 450.0) -> float:
    """RMS of ``x`` inside [lo, hi] Hz (ideal FFT band-pass)."""
    spec = np.fft.rfft(x - x.mean())
    f = np.fft.rfftfreq(len(x), 1.0 / fs_hz)
    spec[(f < lo) | (f > hi)] = 0.0
    return float(np.sqrt(np.mean(np.fft.irfft(spec, len(x)) ** 2)))


def moving_rms(x: np.ndarray, n: int) -> np.ndarray:
    c = np.concatenate([[0.0], np.cumsum(x * x)])
    return np.sqrt((c[n:] - c[:-n]) / n)


def collect(device: SimulatedDevice, timeout: float = 60.0):
    chunks = []
    device.open()
    device.start(chunks.append)
    assert device.wait(timeout), "simulated device did not finish"
    return chunks


# --------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("scenario", ["dropout", "learner", "fatigue", "noisy"])
def test_same_url_gives_identical_samples_whatever_the_chunking(scenario):
    url = f"sim://?scenario={scenario}&seed=7&board=12bit"
    whole = synthesise(url, n_samples=25_000)
    synth = Synthesiser.from_url(url)
    rng = np.random.default_rng(0)
    parts = []
    while synth.position < 25_000:
        parts.append(synth.generate(min(int(rng.integers(1, 3000)), 25_000 - synth.position)))
    samples = np.concatenate([p.samples for p in parts])
    np.testing.assert_array_equal(samples, whole.samples)  # NaN == NaN here
    np.testing.assert_array_equal(np.concatenate([p.flags for p in parts]), whole.flags)
    np.testing.assert_array_equal(np.concatenate([p.truth_uv for p in parts]), whole.truth_uv)
    assert [e for p in parts for e in p.events] == whole.events


def test_device_chunk_size_does_not_change_the_stream():
    base = "sim://?scenario=dropout&seed=3&speed=max&duration_s=4"
    a = collect(open_device(base + "&chunk_ms=10"))
    dev_b = open_device(base + "&chunk_ms=7.3")
    b = collect(dev_b)
    assert {len(c) for c in a[:-1]} == {10} and len(b[0]) == 7
    sa = np.concatenate([c.samples for c in a])
    sb = np.concatenate([c.samples for c in b])
    np.testing.assert_array_equal(sa, sb)
    assert len(sa) == 4000
    # chunks are contiguous on the absolute sample clock
    assert all(c2.first_index == c1.end_index for c1, c2 in itertools.pairwise(b))
    offline = synthesise(base, n_samples=4000)
    np.testing.assert_array_equal(dev_b.truth.read_range(0, 4000)[1], offline.truth_uv)
    assert dev_b.events == offline.events


def test_seeds_differ():
    a = synthesise("sim://?seed=1&board=uno-r4", n_samples=2000).samples
    b = synthesise("sim://?seed=2&board=uno-r4", n_samples=2000).samples
    assert not np.array_equal(a, b)


# --------------------------------------------------------------------------- signal realism


def test_spectrum_peaks_near_80_hz_with_most_power_in_20_250():
    block = synthesise("sim://?board=uno-r4&fs=2000&level_uv=50&mains_hz=0&seed=4", duration_s=30)
    x = raw_uv(block.samples, "uno-r4")
    f, p = signal.welch(x - x.mean(), fs=2000, nperseg=2000)
    smooth = np.convolve(p, np.ones(9) / 9, mode="same")
    assert 60 <= f[np.argmax(smooth)] <= 110
    assert p[(f >= 20) & (f <= 250)].sum() / p[f > 0].sum() > 0.9
    assert p[(f > 0) & (f < 20)].sum() / p[f > 0].sum() < 0.02
    # the model's expected spectrum says the same, and is normalised to the band
    f2, psd = emg_psd(1000.0)
    inside = (f2 >= 20) & (f2 <= 450)
    assert np.trapezoid(psd[inside], f2[inside]) == pytest.approx(1.0, rel=1e-3)
    assert 70 <= f2[np.argmax(psd)] <= 90


@pytest.mark.parametrize(
    ("board", "level_uv", "tolerance"),
    [
        ("12bit", 2.0, 0.03),
        ("12bit", 5.0, 0.03),
        ("12bit", 50.0, 0.03),
        ("12bit", 500.0, 0.03),
        ("uno-r4", 5.0, 0.03),
        ("uno", 50.0, 0.03),
        ("uno", 500.0, 0.03),
    ],
)
def test_steady_true_rms_recovered_from_counts(board, level_uv, tolerance):
    block = synthesise(f"sim://?board={board}&level_uv={level_uv}&seed=5&mains_uv=0", duration_s=20)
    measured = band_rms(raw_uv(block.samples, board), 1000.0)
    # noise floor model: amplifier noise plus RAW quantisation (step^2 / 12) within the band
    step_uv = BOARDS[board].raw_uv_per_step
    floor_sq = AMPLIFIER_NOISE_UV**2 + step_uv**2 / 12.0 * (430.0 / 500.0)
    corrected = math.sqrt(max(measured**2 - floor_sq, 0.0))
    assert corrected == pytest.approx(level_uv, rel=tolerance)
    assert np.all(block.truth_uv == level_uv)
    # the EMG component itself has exactly that RMS in the band (up to sampling variation)
    assert band_rms(block.emg_uv, 1000.0) == pytest.approx(level_uv, rel=0.02)


def test_env_reads_the_rms_through_the_arv_factor_and_follows_the_pot():
    level = 20.0
    a = synthesise(f"sim://?board=12bit&level_uv={level}&seed=2&mains_uv=0", duration_s=20)
    b = synthesise(
        f"sim://?board=12bit&level_uv={level}&seed=2&mains_uv=0&pot_kohm=20", duration_s=20
    )
    env_uv = a.samples[:, 1] * counts_to_uv_scale(3.3, 12, myoware_env_gain(50.0)) * ARV_TO_RMS
    expected = math.sqrt(level**2 + 0.7**2)  # EMG plus amplifier noise, both Gaussian
    assert env_uv.mean() == pytest.approx(expected, rel=0.03)
    ratio = np.mean(a.samples[:, 1]) / np.mean(b.samples[:, 1])
    assert ratio == pytest.approx(myoware_env_gain(50.0) / myoware_env_gain(20.0), rel=0.02)
    # ENV is smooth (a few Hz low-pass), RAW is not
    env, raw = a.samples[:, 1], a.samples[:, 0]
    assert np.std(np.diff(env)) / np.std(env) < 0.1
    assert np.std(np.diff(raw)) / np.std(raw) > 0.5


@pytest.mark.parametrize("board", ["uno", "12bit", "uno-r4"])
def test_codes_are_integers_in_range_and_ref_sits_mid_scale(board):
    block = synthesise(f"sim://?board={board}&level_uv=500&seed=1", duration_s=5)
    s = block.samples
    full = 2 ** BOARDS[board].adc_bits - 1
    assert s.dtype == np.float64
    assert np.all(s == np.round(s)) and s.min() >= 0 and s.max() <= full
    # RAW does not clip at 500 uV (0.1 V at the output) on any board
    assert s[:, 0].min() > 0 and s[:, 0].max() < full
    assert np.mean(s[:, 2]) == pytest.approx(2 ** (BOARDS[board].adc_bits - 1), rel=0.005)
    assert np.ptp(s[:, 2]) <= 4  # REF is quiet


def test_ten_bit_quantisation_step_is_visible():
    uno = synthesise("sim://?board=uno&level_uv=5&seed=3&mains_uv=0", duration_s=5).samples
    r4 = synthesise("sim://?board=uno-r4&level_uv=5&seed=3&mains_uv=0", duration_s=5).samples
    codes = np.unique(uno[:, 0])
    assert len(codes) <= 5  # 5 uV RMS is a fraction of the 24.4 uV step
    assert np.all(np.diff(codes) == 1)
    step_uv = np.diff(np.unique(raw_uv(uno, "uno")))
    assert np.min(step_uv[step_uv > 1e-9]) == pytest.approx(24.41, rel=0.01)
    assert len(np.unique(r4[:, 0])) > 15


@pytest.mark.parametrize("bits", [10, 12, 14])
def test_bits_sets_the_adc_resolution_its_scale_and_quantisation_step(bits):
    url = f"sim://?board=uno&bits={bits}&level_uv=200&seed=3&mains_uv=0&speed=max"
    device = open_device(url)
    info = device.open()
    assert info.adc_bits == bits and info.vref_v == 5.0 and info.board == "uno"
    assert info.full_scale == 2**bits - 1
    for ch in info.channels:
        assert ch.scale_uv == pytest.approx(counts_to_uv_scale(5.0, bits, ch.gain))
    s = synthesise(url, duration_s=2).samples
    assert np.all(s == np.round(s)) and s.max() <= 2**bits - 1
    # REF sits mid-scale of this resolution, and one code of RAW is Vref / 2**bits / 200
    assert np.mean(s[:, 2]) == pytest.approx(2 ** (bits - 1), rel=0.005)
    step_uv = np.diff(np.unique(s[:, 0])) * info.channels[0].scale_uv
    assert np.min(step_uv) == pytest.approx(5.0 / 2**bits / 200 * 1e6)
    assert np.min(step_uv) == pytest.approx(BOARDS["uno"].with_bits(bits).raw_uv_per_step)


def test_bits_default_is_the_boards_own_and_matches_an_explicit_value():
    plain = synthesise("sim://?board=uno-r4&seed=2", n_samples=500).samples
    same = synthesise("sim://?board=uno-r4&bits=14&seed=2", n_samples=500).samples
    assert np.array_equal(plain, same)
    assert open_device("sim://?board=12bit").config.adc_bits is None
    assert open_device("sim://?board=12bit").open().adc_bits == 12
    # the same signal at 10 bits is the 14-bit signal rounded to a 16x coarser step
    coarse = synthesise("sim://?board=uno-r4&bits=10&seed=2", n_samples=500).samples
    assert np.max(np.abs(coarse[:, 0] * 16 - plain[:, 0])) <= 8


def test_channel_selection_and_stream_info():
    device = open_device("sim://?board=12bit&channels=env,raw&fs=2000&seed=9&speed=max")
    info = device.open()
    assert [c.kind for c in info.channels] == [ChannelKind.ENV, ChannelKind.RAW]
    assert info.fs_hz == 2000 and info.adc_bits == 12 and info.vref_v == 3.3
    assert info.board == "12bit" and info.device == "simulated MyoWare 2.0"
    assert info.realtime is False and info.units == "counts"
    assert info.extra["scenario"] == "steady" and info.extra["seed"] == "9"
    env, raw = info.channels
    assert raw.gain == 200 and raw.scale_uv == pytest.approx(counts_to_uv_scale(3.3, 12, 200))
    assert env.gain == 10_200 and env.scale_uv == pytest.approx(counts_to_uv_scale(3.3, 12, 10_200))
    block = device.synthesiser.generate(100)
    assert block.samples.shape == (100, 2)
    assert open_device("sim://").open().realtime is True


# --------------------------------------------------------------------------- scenarios


def test_dropout_marks_missing_samples_electrode_off_and_clipping():
    device = open_device("sim://?scenario=dropout&board=uno&seed=1&speed=max&duration_s=25")
    chunks = collect(device)
    samples = np.concatenate([c.samples for c in chunks])
    flags = np.concatenate([c.flags for c in chunks])
    missing = np.isnan(samples).any(axis=1)
    assert missing.sum() >= 60
    assert np.array_equal(missing, np.isnan(samples).all(axis=1))
    assert np.array_equal(missing, (flags & Flag.MISSING) != 0)
    assert device.stats.missing_samples == missing.sum()
    events = device.events
    starts = [i for i, name in events if name == "dropout_start"]
    ends = [i for i, name in events if name == "dropout_end"]
    assert len(starts) == len(ends) >= 2 and (1000, "dropout_start") in events
    for lo, hi in zip(starts, ends, strict=True):
        assert missing[lo:hi].all() and not missing[hi] and not missing[lo - 1]
    # electrode off: every output flat at the positive rail (10-12 s), then back
    assert (10_000, "electrode_off_start") in events and (12_000, "electrode_off_end") in events
    off = samples[10_000:12_000][~missing[10_000:12_000]]
    assert np.all(off[:, 0] == 1023) and np.all(off[:, 1] == 1023)
    assert np.ptp(samples[12_500:13_500, 0][~missing[12_500:13_500]]) > 0
    # electrode pop at 20 s drives RAW into the rail, reported as clipping
    clip = [(i, n) for i, n in events if n.startswith("clip") and i >= 19_000]
    assert clip[0] == (20_000, "clip_start") and clip[1][1] == "clip_end"
    assert 50 < clip[1][0] - clip[0][0] < 400
    assert np.all(samples[20_000 : clip[1][0], 0] == 1023)


def test_tense_release_ground_truth_recovery_and_events():
    url = "sim://?scenario=tense-release&board=12bit&seed=2&lead_s=10&cycles=2&tau_s=1.5"
    synth = Synthesiser.from_url(url)
    block = synth.generate(90_000)
    scenario = synth.scenario
    (s0, e0), (s1, e1) = scenario.contractions(5)
    assert (s0, e0, s1, e1) == (10_000, 16_000, 46_000, 52_000)
    assert [e for e in block.events if e[1].startswith("contraction")] == [
        (s0, "contraction_start"),
        (e0, "contraction_end"),
        (s1, "contraction_start"),
        (e1, "contraction_end"),
    ]
    for threshold in (4.5, 5.0, 8.0, 50.0):
        exact = scenario.recovery_time_s(threshold)
        for end in (e0, e1):
            assert truth_recovery_time_s(block.truth_uv, 1000.0, end, threshold) == pytest.approx(
                exact, abs=1.5e-3
            )
    assert scenario.recovery_time_s(4.0) == math.inf
    # the measured amplitude follows the script: tense ~100 uV, rest ~4 uV
    x = raw_uv(block.samples, "12bit")
    assert band_rms(x[s0 + 1000 : e0 - 500], 1000.0) == pytest.approx(100.0, rel=0.05)
    truth_tense = block.truth_uv[s0 + 1000 : e0 - 500]
    assert np.allclose(truth_tense, 100.0)
    assert np.allclose(block.truth_uv[: s0 - 1], 4.0)
    # after the last cycle it stays at rest
    assert block.truth_uv[-1] == pytest.approx(4.0, abs=1e-6)


def test_relax_falls_towards_end_level():
    block = synthesise("sim://?scenario=relax&seed=1&tau_s=20", duration_s=150)
    truth = block.truth_uv
    assert truth[:10_000].mean() > 6.0
    assert truth[-30_000:].mean() == pytest.approx(3.0, rel=0.15)
    assert np.std(truth[-30_000:]) > 0.01  # fluctuates a little


def test_fatigue_median_frequency_falls_as_predicted():
    synth = Synthesiser.from_url("sim://?scenario=fatigue&board=12bit&seed=3&tau_s=20&mains_uv=0")
    block = synth.generate(80_000)
    x = raw_uv(block.samples, "12bit")

    def mdf(seg: np.ndarray) -> float:
        f, p = signal.welch(seg - seg.mean(), fs=1000, nperseg=1000)
        inside = (f >= 20) & (f <= 450)
        cum = np.cumsum(p[inside])
        return float(f[inside][np.searchsorted(cum, cum[-1] / 2)])

    early, late = mdf(x[:10_000]), mdf(x[70_000:80_000])
    assert early - late > 20
    assert early == pytest.approx(float(synth.median_frequency_hz(5_000)[0]), abs=8)
    assert late == pytest.approx(float(synth.median_frequency_hz(75_000)[0]), abs=8)
    assert median_frequency_hz(1000.0, 0.0) > median_frequency_hz(1000.0, 1.0) + 30
    assert block.truth_uv[-1] > block.truth_uv[0] * 1.15  # amplitude rises with fatigue


def test_noisy_has_strong_mains_wander_and_motion():
    block = synthesise("sim://?scenario=noisy&board=uno&seed=1", duration_s=30)
    x = raw_uv(block.samples, "uno")
    f, p = signal.welch(x - x.mean(), fs=1000, nperseg=1000)
    band = (f >= 20) & (f <= 450)
    assert p[(f >= 49) & (f <= 51)].sum() / p[band].sum() > 0.5
    assert p[(f >= 149) & (f <= 151)].sum() > 10 * p[(f >= 140) & (f <= 145)].mean()
    assert p[(f > 0) & (f < 20)].sum() > p[band].sum()  # wander + motion below 20 Hz
    motion = [i for i, name in block.events if name == "motion_start"]
    assert len(motion) >= 2
    clean = synthesise("sim://?scenario=noisy&board=uno&seed=1&mains_hz=0", duration_s=10)
    xc = raw_uv(clean.samples, "uno")
    f, p = signal.welch(xc - xc.mean(), fs=1000, nperseg=1000)
    assert p[(f >= 49) & (f <= 51)].sum() / p[(f >= 20) & (f <= 450)].sum() < 0.1


def test_learner_time_below_a_fixed_threshold_rises_across_trials():
    url = (
        "sim://?scenario=learner&board=12bit&seed=4&check_s=5&baseline_s=30&trial_s=60"
        "&rest_s=15&trials=4&tau_s=120&noise_s=5&contraction_s=5&recovery_s=10"
    )
    synth = Synthesiser.from_url(url)
    phases = {name: (lo, hi) for name, lo, hi in synth.scenario.phases}
    assert list(phases) == [
        "check", "noise", "baseline", "contraction", "recovery", "trial_1", "rest_1", "trial_2",
        "rest_2", "trial_3", "rest_3", "trial_4", "post",
    ]  # fmt: skip
    # the patient follows the clinical-session script: inputs shorted, then a shrug
    assert np.all(block_truth(synth, phases["noise"]) == 0.0)
    block = synth.generate(phases["post"][0] + 10_000)
    assert (phases["trial_1"][0], "trial_1_start") in block.events
    assert any(name == "burst_start" for _, name in block.events)
    sos = signal.butter(2, [20, 450], "bandpass", fs=1000, output="sos")
    rms = moving_rms(signal.sosfilt(sos, raw_uv(block.samples, "12bit")), 100)
    rms = np.concatenate([np.full(99, np.nan), rms])
    lo, hi = phases["baseline"]
    threshold = 0.9 * np.median(rms[lo:hi])
    below = [np.mean(rms[slice(*phases[f"trial_{k}"])] < threshold) for k in range(1, 5)]
    assert below[-1] - below[0] > 0.3
    assert below[-1] > 0.8
    truth_trials = [block.truth_uv[slice(*phases[f"trial_{k}"])].mean() for k in range(1, 5)]
    assert truth_trials[0] > truth_trials[-1] + 1.5
    assert np.median(block.truth_uv[slice(*phases["baseline"])]) == pytest.approx(8.0, rel=0.25)
    assert np.all(block.truth_uv[slice(*phases["contraction"])] == 80.0)


def block_truth(synth: Synthesiser, span: tuple[int, int]) -> np.ndarray:
    """Ground truth over ``span`` from a fresh synthesiser of the same URL."""
    fresh = Synthesiser(synth.config)
    return fresh.generate(span[1]).truth_uv[span[0] : span[1]]


# --------------------------------------------------------------------------- pacing


class _RecordingClock(FakeClock):
    def __init__(self) -> None:
        super().__init__(100.0)
        self.sleeps = 0

    def sleep_until(self, t, stop=None):
        self.sleeps += 1
        return super().sleep_until(t, stop)


@pytest.mark.parametrize(("speed", "factor"), [("1", 1.0), ("10", 10.0)])
def test_pacing_with_fake_clock_delivers_on_schedule_without_drift(speed, factor):
    clock = _RecordingClock()
    device = SimulatedDevice.from_url(
        f"sim://?duration_s=3&chunk_ms=7&speed={speed}&seed=1", clock=clock
    )
    times = []
    device.open()
    device.start(lambda c: times.append((c.end_index, clock.now())))
    assert device.wait(30)
    assert device.state is DeviceState.FINISHED
    assert device.stats.samples == 3000 and times[-1][0] == 3000
    for end_index, now in times:
        assert now == pytest.approx(100.0 + end_index / 1000.0 / factor, abs=1e-9)
    assert clock.sleeps == len(times)


def test_speed_max_never_waits_on_the_clock():
    class NoSleep(FakeClock):
        def sleep_until(self, t, stop=None):
            raise AssertionError("speed=max must not pace")

    device = SimulatedDevice.from_url(
        "sim://?scenario=learner&speed=max&duration_s=60", clock=NoSleep()
    )
    chunks = collect(device)
    assert device.state is DeviceState.FINISHED
    assert sum(len(c) for c in chunks) == 60_000
    assert device.truth.end_index == 60_000


def test_real_time_stream_can_be_stopped_and_restarted_contiguously(wait_for):
    device = open_device("sim://?seed=1")
    chunks = []
    device.open()
    device.start(chunks.append)
    wait_for(lambda: len(chunks) >= 3, 10, "no chunks from the real-time simulator")
    device.stop()
    assert device.state is DeviceState.STOPPED and chunks
    n_first = len(chunks)
    device.start(chunks.append)
    wait_for(lambda: len(chunks) >= n_first + 3, 10, "no chunks after the restart")
    device.close()
    assert len(chunks) > n_first
    assert all(b.first_index == a.end_index for a, b in itertools.pairwise(chunks))
    assert not device.running


def test_stop_interrupts_a_slow_pace_promptly():
    device = open_device("sim://?speed=0.01&chunk_ms=1000")  # first chunk due after 100 s
    chunks = []
    device.open()
    device.start(chunks.append)
    thread = device._thread
    device.stop()
    assert thread is not None and not thread.is_alive()
    assert device.state is DeviceState.STOPPED and chunks == []


# --------------------------------------------------------------------------- URL errors


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sim://?scenario=zen", "choose one of: steady, relax, tense-release"),
        ("sim://zen", "unknown scenario 'zen'"),
        ("sim://?board=mega", "choose one of: uno, 12bit, uno-r4"),
        ("sim://?channels=raw,raw", "twice"),
        ("sim://?channels=raw,emg", "allowed: raw, env, rect, ref"),
        ("sim://?speed=fast", "use max"),
        ("sim://?speed=0", "use max"),
        ("sim://?fs=10", "out of range"),
        ("sim://?fs=nan", "finite"),
        ("sim://?level_uv=-1", "out of range"),
        ("sim://?mains_hz=20", "mains_hz"),
        ("sim://?seed=x", "not a whole number"),
        ("sim://?tau_s=3", "applies to scenario"),
        ("sim://?scenario=learner&tense_uv=3", "tense-release only"),
        ("sim://?scenario=learner&trials=0", "out of range"),
        ("sim://?senario=relax", "unknown option"),
        ("sim://?duration_s=0", "out of range"),
        ("sim://?bits=7", r"bits=7 is out of range \[8, 16\]"),
        ("sim://?bits=17", "out of range"),
        ("sim://?bits=x", "bits='x' is not a whole number"),
        ("sim://?bits=12.5", "not a whole number"),
    ],
)
def test_bad_urls_give_clear_source_url_errors(url, message):
    with pytest.raises(SourceURLError, match=message):
        open_device(url)


def test_scenario_as_url_path_and_defaults():
    device = open_device("sim://relax?seed=2&speed=max")
    assert device.config.scenario == "relax" and device.config.effective_level_uv == 8.0
    assert open_device("sim://").config.board == "uno"
    assert open_device("sim://").config.fs_hz == 1000.0
