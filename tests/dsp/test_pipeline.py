"""The streaming pipeline: units, amplitude, filters in context, quality flags, settings."""

from __future__ import annotations

import json

import numpy as np
import pytest
from emg_signals import band_noise, myoware_counts, myoware_info, steady_emg

from biofeedback.core.hardware import ARV_TO_RMS
from biofeedback.core.types import ChannelInfo, ChannelKind, Chunk, Flag, StreamInfo
from biofeedback.dsp.pipeline import Pipeline, PipelineSettings, PipelineSettingsError
from biofeedback.errors import BiofeedbackError


def uv_info(fs: float = 1000.0, n: int = 1, kind: ChannelKind = ChannelKind.RAW) -> StreamInfo:
    chans = tuple(ChannelInfo(f"c{i}", kind, 1.0, 1.0) for i in range(n))
    return StreamInfo(fs, chans, units="uV")


def run(p: Pipeline, x: np.ndarray, flags: np.ndarray | None = None, first: int = 0):
    return p.process(Chunk(first, x if x.ndim == 2 else x[:, None], flags))


# ---------------------------------------------------------------- construction and settings


def test_outputs_follow_input_order_and_pair_ref() -> None:
    info = myoware_info("12bit", "env,raw,ref")
    p = Pipeline(info)
    assert [(o.name, o.kind, o.input_index) for o in p.outputs] == [
        ("env", ChannelKind.ENV, 0),
        ("raw", ChannelKind.RAW, 1),
    ]
    assert p.outputs[1].ref_index == 2 and p.outputs[0].ref_index is None
    assert len(p.noise_floor_uv) == 2
    two = myoware_info("12bit", "raw,raw,ref,ref")
    assert [o.ref_index for o in Pipeline(two).outputs] == [2, 3]


def test_bad_streams_and_settings_give_clear_errors() -> None:
    with pytest.raises(PipelineSettingsError, match="no RAW or ENV channel"):
        Pipeline(StreamInfo(1000.0, (ChannelInfo("r", ChannelKind.REF),)))
    with pytest.raises(PipelineSettingsError, match="one REF per RAW"):
        Pipeline(myoware_info("12bit", "raw,raw,raw,ref,ref"))
    with pytest.raises(PipelineSettingsError, match=r"RMS window must be 0.05-0.25 s"):
        PipelineSettings(rms_window_s=0.5)
    with pytest.raises(PipelineSettingsError, match="mains_hz must be 50, 60"):
        PipelineSettings(mains_hz=55)
    with pytest.raises(PipelineSettingsError, match="sample faster"):
        Pipeline(myoware_info("12bit", "raw", fs_hz=40.0))
    with pytest.raises(PipelineSettingsError, match="unknown pipeline setting"):
        PipelineSettings.from_dict({"bandpass": 3})
    with pytest.raises(PipelineSettingsError, match="has 2 outputs"):
        Pipeline(myoware_info("12bit"), PipelineSettings(noise_floor_uv=(1.0, 2.0, 3.0)))
    assert issubclass(PipelineSettingsError, BiofeedbackError)
    assert PipelineSettings(mains_hz="60").mains_hz == 60.0
    assert PipelineSettings(mains_hz="off").mains_hz is None
    assert PipelineSettings(mains_hz="AUTO").mains_hz == "auto"


def test_settings_round_trip_and_describe_is_json() -> None:
    s = PipelineSettings(highpass_hz=PipelineSettings.TRUNK_HIGHPASS_HZ, mains_hz=60,
                         noise_floor_uv=(None, 0.9))  # fmt: skip
    assert PipelineSettings.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    p = Pipeline(myoware_info("12bit"), s)
    d = json.loads(json.dumps(p.describe()))
    assert d["band_hz"] == [30.0, 450.0]
    assert d["notch_hz"] == [60.0, 120.0, 180.0, 240.0, 300.0, 360.0, 420.0]
    assert d["outputs"][0]["passband"].startswith("30-450 Hz")
    assert "notch 60 Hz" in d["outputs"][0]["passband"]
    assert d["outputs"][1]["noise_floor_uv"] == 0.9
    assert d["outputs"][1]["noise_floor_source"] == "setting"
    assert d["settings"]["mains_hz"] == 60.0


# ---------------------------------------------------------------- amplitude


def test_sine_rms_in_microvolts_from_millivolt_input() -> None:
    fs = 1000.0
    t = np.arange(4000) / fs
    info = StreamInfo(fs, (ChannelInfo("emg", ChannelKind.RAW, 1.0, 1000.0),), units="mV")
    p = Pipeline(info, PipelineSettings(mains_hz=None, passband_compensation=False))
    out = run(p, 0.1 * np.sin(2 * np.pi * 120 * t))  # 100 uV amplitude
    assert out.envelope_uv[1000:, 0] == pytest.approx(100 / np.sqrt(2), rel=0.01)
    assert p.outputs[0].noise_floor_source == "none" and p.noise_floor_uv[0] == 0.0


def test_offset_and_steady_state_start() -> None:
    """RAW without REF sits at mid-scale: the band-pass removes it with no start-up transient."""
    info = myoware_info("12bit", "raw")
    p = Pipeline(info)
    out = run(p, np.full(500, 2048.0))
    assert np.abs(out.signal_uv).max() < 1e-9
    assert out.flags[0, 0] & Flag.SETTLING and not out.flags[-1, 0] & Flag.SETTLING


@pytest.mark.parametrize("mains", [50.0, 60.0, None])
def test_in_band_level_is_read_within_2_percent_whatever_the_notch(mains) -> None:
    fs = 2000.0
    x = steady_emg(20.0, 10.0, fs, seed=2)
    p = Pipeline(uv_info(fs), PipelineSettings(mains_hz=mains))
    env = run(p, x).envelope_uv[int(fs) :, 0]
    assert env.mean() == pytest.approx(20.0, rel=0.02)


def test_notch_removes_hum_and_band_pass_removes_drift() -> None:
    fs = 1000.0
    n = 8000
    t = np.arange(n) / fs
    emg = steady_emg(10.0, n / fs, fs, seed=3)
    hum = 200 * np.sin(2 * np.pi * 50 * t) + 60 * np.sin(2 * np.pi * 150 * t)
    drift = 500 * np.sin(2 * np.pi * 0.3 * t)
    out = run(Pipeline(uv_info(fs)), emg + hum + drift)
    assert out.envelope_uv[2000:, 0].mean() == pytest.approx(10.0, rel=0.05)
    out_off = run(Pipeline(uv_info(fs), PipelineSettings(mains_hz=None)), emg + hum)
    assert out_off.envelope_uv[2000:, 0].mean() > 100  # without the notch the hum dominates


def test_env_path_reads_rms_equivalent_with_pot_setting() -> None:
    info = myoware_info("12bit", "env", fs_hz=500.0, pot_kohm=50.0)
    level_arv = 10.0
    codes = np.full(3000, level_arv / info.channels[0].scale_uv)
    p = Pipeline(info, PipelineSettings(noise_floor_uv=0.0))
    out = run(p, codes)
    assert out.envelope_uv[-1, 0] == pytest.approx(level_arv * ARV_TO_RMS, rel=1e-6)
    assert out.signal_uv[-1, 0] == pytest.approx(level_arv * ARV_TO_RMS, rel=1e-6)
    # measured pot at 25 kOhm: gain halves (10 200 -> 5 200), the same codes mean ~2x the uV
    p2 = Pipeline(info, PipelineSettings(noise_floor_uv=0.0, env_pot_kohm=25.0))
    assert run(p2, codes).envelope_uv[-1, 0] == pytest.approx(
        level_arv * ARV_TO_RMS * 10200 / 5200, rel=1e-6
    )


# ---------------------------------------------------------------- noise floor


def test_set_noise_floor_corrects_in_quadrature() -> None:
    info = myoware_info("12bit", "env", fs_hz=500.0)
    codes = np.full(2000, 5.0 / ARV_TO_RMS / info.channels[0].scale_uv)  # 5 uV RMS-equivalent
    p = Pipeline(info)
    p.set_noise_floor([3.0])
    assert p.outputs[0].noise_floor_source == "measured"
    assert run(p, codes).envelope_uv[-1, 0] == pytest.approx(4.0, rel=1e-6)
    with pytest.raises(PipelineSettingsError, match="needs 1 values"):
        p.set_noise_floor([1.0, 2.0])
    with pytest.raises(PipelineSettingsError, match=">= 0"):
        p.set_noise_floor(-1.0)


# ---------------------------------------------------------------- quality flags


def flag_fraction(flags: np.ndarray, bit: Flag) -> float:
    return float(np.mean((flags & bit) != 0))


def test_mains_flag_needs_strong_hum_for_more_than_a_second() -> None:
    fs = 1000.0
    n = 6000
    t = np.arange(n) / fs
    emg = steady_emg(20.0, n / fs, fs, seed=4)
    clean = run(Pipeline(uv_info(fs)), emg)
    assert not (clean.flags & Flag.MAINS).any()
    hum = np.where(t >= 2.0, 100 * np.sin(2 * np.pi * 50 * t), 0.0)
    out = run(Pipeline(uv_info(fs)), emg + hum)
    m = (out.flags[:, 0] & Flag.MAINS) != 0
    onset = np.argmax(m) / fs
    assert 3.0 <= onset <= 3.4  # > 1 s after the hum started
    assert m[3500:].all()
    weak = run(Pipeline(uv_info(fs)), emg + 0.3 * hum)  # hum power ~ 2 % of the EMG's
    assert not (weak.flags & Flag.MAINS).any()


def test_auto_mains_picks_the_hum_frequency() -> None:
    fs = 1000.0
    n = 8000
    t = np.arange(n) / fs
    emg = steady_emg(10.0, n / fs, fs, seed=5)
    for f0 in (50.0, 60.0):
        p = Pipeline(uv_info(fs), PipelineSettings(mains_hz="auto"))
        out = run(p, emg + 40 * np.sin(2 * np.pi * f0 * t))
        assert p.mains_hz_active == f0
        assert out.envelope_uv[-2000:, 0].mean() == pytest.approx(10.0, rel=0.06)
    p = Pipeline(uv_info(fs), PipelineSettings(mains_hz="auto"))
    run(p, emg)
    assert p.mains_hz_active is None  # no hum: no notch needed


@pytest.mark.parametrize("notch_hz", [50.0, 60.0])
def test_hum_at_the_frequency_not_notched_is_flagged(notch_hz) -> None:
    fs = 1000.0
    n = 5000
    t = np.arange(n) / fs
    emg = steady_emg(5.0, n / fs, fs, seed=6)
    other = 110.0 - notch_hz
    s = PipelineSettings(mains_hz=notch_hz)
    clean = Pipeline(uv_info(fs), s)
    assert not (run(clean, emg).flags & Flag.MAINS).any()
    p = Pipeline(uv_info(fs), s)
    out = run(p, emg + 40 * np.sin(2 * np.pi * other * t))
    assert p.mains_hz_active == notch_hz  # the setting is kept; only the check looks at both
    assert flag_fraction(out.flags[2500:], Flag.MAINS) == 1.0
    by_hz = p.quality.mains_ratio_by_hz()
    assert set(by_hz) == {50.0, 60.0}
    assert by_hz[other][0] > 0.9 > 0.05 > by_hz[notch_hz][0]
    assert p.quality.mains_hum_hz() == [other]
    assert p.mains_ratio[0] > 0.5  # the larger ratio counts (last window)
    assert json.dumps(p.quality.as_dict())
    # hum at the notched frequency is still flagged, and named as such
    q = Pipeline(uv_info(fs), s)
    flags = run(q, emg + 40 * np.sin(2 * np.pi * notch_hz * t)).flags
    assert flag_fraction(flags[2500:], Flag.MAINS) == 1.0
    assert q.quality.mains_hum_hz() == [notch_hz]


def _flag_runs(
    kinds: str, emg_uv: np.ndarray, raw_off: bool = False, board: str = "uno"
) -> tuple[Pipeline, np.ndarray]:
    info = myoware_info(board, kinds, fs_hz=1000.0)
    x = myoware_counts(info, emg_uv, np.random.default_rng(8), adc_noise_lsb=0.5)
    if raw_off:  # RAW electrodes off: the RAW input sits at mid-scale
        for c, ch in enumerate(info.channels):
            if ch.kind == ChannelKind.RAW:
                x[:, c] = 2.0 ** (info.adc_bits - 1)
    p = Pipeline(info)
    return p, run(p, x).flags


def test_env_inherits_mains_and_flat_from_the_raw_of_the_same_sensor() -> None:
    fs = 1000.0
    n = 4000
    t = np.arange(n) / fs
    emg = steady_emg(5.0, n / fs, fs, seed=9)
    hum = emg + 150 * np.sin(2 * np.pi * 50 * t)
    p, flags = _flag_runs("raw,env,ref", hum)
    raw, env = (flags[:, i] & Flag.MAINS for i in (0, 1))
    assert flag_fraction(raw[2500:], Flag.MAINS) == 1.0
    assert np.array_equal(env, raw)  # ENV has no mains rule of its own: exactly RAW's
    assert p.quality.fractions()["mains"][1] > 0.5
    _, flags = _flag_runs("raw,env,ref", emg)
    assert not (flags & Flag.MAINS).any()  # no hum: nothing inherited
    p, flags = _flag_runs("raw,env,ref", emg, raw_off=True, board="12bit")
    assert p.outputs[0].resolves_rest
    assert flag_fraction(flags[2500:, 0], Flag.FLAT) == 1.0
    assert np.array_equal(flags[:, 1] & Flag.FLAT, flags[:, 0] & Flag.FLAT)
    # a 10-bit RAW cannot resolve rest: flat there may be a relaxed muscle, ENV keeps its own
    p, flags = _flag_runs("raw,env,ref", emg, raw_off=True)
    assert not p.outputs[0].resolves_rest
    assert flag_fraction(flags[2500:, 0], Flag.FLAT) == 1.0
    assert not (flags[:, 1] & Flag.FLAT).any()
    # without a RAW channel (or with RAW and ENV not paired) ENV is judged on its own
    _, flags = _flag_runs("env", hum)
    assert not (flags & (Flag.MAINS | Flag.FLAT)).any()
    _, flags = _flag_runs("raw,raw,env,ref,ref", hum)
    assert flag_fraction(flags[2500:, 0], Flag.MAINS) == 1.0
    assert not (flags[:, 2] & Flag.MAINS).any()


def test_clipping_is_flagged_and_blanked_for_half_a_second() -> None:
    info = myoware_info("12bit", "raw,env,ref", fs_hz=1000.0)
    rng = np.random.default_rng(106)
    x = myoware_counts(info, steady_emg(20.0, 4.0, 1000.0, seed=6), rng)
    x[2000:2010, 0] = 4095  # RAW at the rail
    x[3000, 1] = 0.99 * 4095  # ENV near full scale
    out = run(Pipeline(info), x)
    raw_c = (out.flags[:, 0] & Flag.CLIPPED) != 0
    env_c = (out.flags[:, 1] & Flag.CLIPPED) != 0
    assert not raw_c[:2000].any() and raw_c[2000:2510].all() and not raw_c[2511:].any()
    assert not env_c[:3000].any() and env_c[3000:3501].all()


def test_flat_line_after_one_second() -> None:
    info = myoware_info("12bit", "raw,env,ref", fs_hz=1000.0)
    rng = np.random.default_rng(107)
    x = myoware_counts(info, steady_emg(20.0, 6.0, 1000.0, seed=7), rng)
    x[2000:, 0] = 1800  # RAW stuck (lead off)
    x[2000:, 1] = 0  # ENV at zero: sensor unpowered
    out = run(Pipeline(info), x)
    for k in range(2):
        f = (out.flags[:, k] & Flag.FLAT) != 0
        assert not f[:2900].any()
        assert f[3400:].all()


def test_motion_artefacts() -> None:
    fs = 1000.0
    n = 12000
    t = np.arange(n) / fs
    emg = steady_emg(5.0, n / fs, fs, seed=8)
    # a 3 Hz cable swing of 1 mV between 3 and 3.5 s
    swing = np.where((t > 3.0) & (t < 3.5), 1000 * np.sin(2 * np.pi * 3 * t), 0.0)
    out = run(Pipeline(uv_info(fs)), emg + swing)
    mo = (out.flags[:, 0] & Flag.MOTION) != 0
    assert mo[3100:3500].mean() > 0.8
    assert not mo[:3000].any() and not mo[5000:].any()
    # a burst 20x the baseline for 0.5 s is motion; a 4 s contraction is not after 2 s
    burst = np.where((t > 5.0) & (t < 5.5), 19.0, 0.0) + np.where(t > 7.0, 19.0, 0.0)
    out = run(Pipeline(uv_info(fs)), emg * (1 + burst))
    mo = (out.flags[:, 0] & Flag.MOTION) != 0
    assert mo[5100:5500].mean() > 0.8
    assert mo[7100:9000].mean() > 0.8 and not mo[9300:].any()
    assert not mo[1000:5000].any()


def test_gaps_short_and_long() -> None:
    fs = 1000.0
    x = steady_emg(20.0, 4.0, fs, seed=9)
    x[1000:1020] = np.nan  # 20 ms: bridged
    x[2000:2200] = np.nan  # 200 ms: filters restart
    p = Pipeline(uv_info(fs))
    out = run(p, x)
    miss = (out.flags[:, 0] & Flag.MISSING) != 0
    assert miss[1000:1020].all() and miss[2000:2200].all() and miss.sum() == 220
    assert np.isnan(out.signal_uv[miss, 0]).all() and not np.isnan(out.signal_uv[~miss, 0]).any()
    assert not np.isnan(out.envelope_uv[:2099, 0]).any()  # short gap: RMS over what is there
    assert np.isnan(out.envelope_uv[2099:2200, 0]).all()  # a whole window missing
    settling = (out.flags[:, 0] & Flag.SETTLING) != 0
    assert not settling[1020:1200].any()
    assert settling[2200:2300].all() and not settling[2400:].any()
    assert out.envelope_uv[2500:, 0].mean() == pytest.approx(20.0, rel=0.05)


def test_missing_flag_without_nan_and_index_jumps() -> None:
    fs = 1000.0
    x = steady_emg(20.0, 3.0, fs, seed=10)
    flags = np.zeros(len(x), np.uint16)
    flags[500:510] = Flag.MISSING
    out = run(Pipeline(uv_info(fs)), x, flags)
    assert np.isnan(out.signal_uv[500:510]).all() and not np.isnan(out.signal_uv[:500]).any()
    # a chunk arriving 30 samples late on the sample clock: the hole is processed as missing
    p = Pipeline(uv_info(fs))
    a = run(p, x[:1000])
    b = run(p, x[1030:], first=1030)
    assert a.end_index == 1000 and b.first_index == 1030
    ref = Pipeline(uv_info(fs))
    y = x.copy()
    y[1000:1030] = np.nan
    whole = run(ref, y)
    assert np.array_equal(b.envelope_uv, whole.envelope_uv[1030:], equal_nan=True)


def test_nan_in_one_channel_only_flags_that_output() -> None:
    fs = 1000.0
    x = np.column_stack([steady_emg(20.0, 3.0, fs, seed=s) for s in (11, 12)])
    x[1500:1600, 1] = np.nan
    out = run(Pipeline(uv_info(fs, 2)), x)
    assert not (out.flags[:, 0] & Flag.MISSING).any()
    assert (out.flags[1500:1600, 1] & Flag.MISSING).all()
    alone = run(Pipeline(uv_info(fs)), x[:, :1])
    assert np.array_equal(out.envelope_uv[:, 0], alone.envelope_uv[:, 0])


def test_reset_starts_afresh() -> None:
    info = myoware_info("12bit")
    x = myoware_counts(info, steady_emg(10.0, 2.0, info.fs_hz), np.random.default_rng(13))
    p = Pipeline(info)
    first = run(p, x)
    p.reset()
    again = run(p, x)
    assert np.array_equal(first.envelope_uv, again.envelope_uv)
    assert np.array_equal(first.flags, again.flags)


def test_quality_summary_counts_flags() -> None:
    fs = 1000.0
    x = steady_emg(20.0, 4.0, fs, seed=14)
    x[1000:1100] = np.nan
    p = Pipeline(uv_info(fs))
    run(p, x)
    q = p.quality.as_dict()
    assert q["samples"] == 4000
    assert q["fraction"]["gap"][0] == pytest.approx(100 / 4000)
    assert 0 < q["mains_ratio_mean"][0] < 0.2
    assert p.mains_ratio[0] is not None


def test_many_channels_match_single_channel_pipelines() -> None:
    info = myoware_info("12bit", "raw,raw,env,ref")
    rng = np.random.default_rng(15)
    emg = band_noise(8000, info.fs_hz, rng) * 15
    x = myoware_counts(info, emg, rng)
    both = run(Pipeline(info), x)
    solo_info = myoware_info("12bit", "raw,ref")
    solo = run(Pipeline(solo_info), x[:, [1, 3]])
    assert np.array_equal(both.envelope_uv[:, 1], solo.envelope_uv[:, 0])
    assert np.array_equal(both.flags[:, 1], solo.flags[:, 0])


@pytest.mark.parametrize(("fs", "warned"), [(100.0, True), (500.0, True), (1000.0, False)])
def test_raw_sampled_too_slowly_for_the_emg_band_is_named(fs: float, warned: bool) -> None:
    out = Pipeline(uv_info(fs)).outputs[0]
    assert ("keeps only" in out.warning) is warned
    if warned:
        assert f"RAW sampled at {fs:g} Hz" in out.warning and "1000 Hz or more" in out.warning
    # ENV is a slow envelope: any rate that carries it is fine
    assert Pipeline(uv_info(fs, kind=ChannelKind.ENV)).outputs[0].warning == ""
