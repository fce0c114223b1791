"""Noise floor honesty: the hardware model, what each board can resolve, rest levels via ENV."""

from __future__ import annotations

import numpy as np
import pytest
from emg_signals import amplifier_noise, myoware_counts, myoware_info, steady_emg

from biofeedback.core.hardware import AMPLIFIER_NOISE_UV, board
from biofeedback.core.types import ChannelKind, Chunk, Flag
from biofeedback.dsp.pipeline import Pipeline, PipelineSettings


def mean_clean(out, k: int, skip: int) -> float:
    env = out.envelope_uv[skip:, k]
    ok = out.flags[skip:, k] == 0
    return float(env[ok].mean()) if ok.any() else float("nan")


def test_10_bit_raw_floor_is_about_7_uv_and_says_use_env() -> None:
    p = Pipeline(myoware_info("uno", "raw,env,ref"))
    raw, env = p.outputs
    q = board("uno").raw_quantisation_uv  # 7.0 uV full band
    assert 0.85 * q < raw.noise_floor_uv < 1.05 * q
    assert raw.noise_floor_source == "model"
    assert not raw.resolves_rest
    assert raw.warning.startswith("RAW cannot resolve rest on a 10-bit board: use ENV")
    assert env.resolves_rest and env.warning == ""
    assert env.noise_floor_uv == pytest.approx(AMPLIFIER_NOISE_UV)
    assert env.resolution_uv == pytest.approx(board("uno").env_uv_per_step() * 1.2533, rel=1e-3)
    assert any("RAW cannot resolve rest" in w for w in p.warnings)
    assert p.describe()["outputs"][0]["resolves_rest"] is False


@pytest.mark.parametrize("key", ["12bit", "uno-r4"])
def test_finer_adcs_resolve_rest_on_raw(key: str) -> None:
    raw = Pipeline(myoware_info(key, "raw,ref")).outputs[0]
    assert raw.resolves_rest and raw.warning == ""
    assert AMPLIFIER_NOISE_UV < raw.noise_floor_uv < 1.6


def test_low_env_gain_cannot_resolve_rest_either() -> None:
    env = Pipeline(myoware_info("uno", "env", pot_kohm=1.0)).outputs[0]  # ENV gain 400
    assert not env.resolves_rest
    assert "raise the MyoWare gain" in env.warning


@pytest.mark.parametrize("key", ["uno", "12bit"])
def test_floor_model_matches_what_the_board_measures(key: str) -> None:
    """Electrodes shorted: amplifier noise + ADC quantisation only. Dithered by half an LSB of
    ADC noise (as real ADCs are), the band-passed RMS is what the model says."""
    info = myoware_info(key, "raw,ref")
    rng = np.random.default_rng(1)
    n = int(20 * info.fs_hz)
    x = myoware_counts(info, np.zeros(n), rng, adc_noise_lsb=0.5)
    p = Pipeline(info, PipelineSettings(noise_floor_uv=0.0))
    env = p.process(Chunk(0, x)).envelope_uv[int(info.fs_hz) :, 0]
    measured = float(np.sqrt(np.mean(env**2)))
    model = Pipeline(info).noise_floor_uv[0]
    # the extra half-LSB of ADC noise adds in quadrature to the quantisation step^2/12
    step = info.channels[0].scale_uv
    expected = np.hypot(model, 0.5 * step * np.sqrt(p.outputs[0].extra["quantisation_uv"] ** 2
                                                    / (step**2 / 12)))  # fmt: skip
    assert measured == pytest.approx(expected, rel=0.08)


@pytest.mark.parametrize("level", [2.0, 5.0, 20.0, 100.0, 500.0])
def test_12bit_raw_reads_steady_levels_within_3_percent(level: float) -> None:
    info = myoware_info("12bit", "raw,ref")
    fs = info.fs_hz
    x = myoware_counts(
        info, steady_emg(level, 12.0, fs, seed=int(level)), np.random.default_rng(99)
    )
    out = Pipeline(info).process(Chunk(0, x))
    assert mean_clean(out, 0, int(fs)) == pytest.approx(level, rel=0.03)


@pytest.mark.parametrize("level", [1.5, 2.0, 3.0, 5.0])
def test_10bit_env_path_gives_rest_levels_within_10_percent(level: float) -> None:
    info = myoware_info("uno", "raw,env,ref")
    fs = info.fs_hz
    x = myoware_counts(info, steady_emg(level, 20.0, fs, seed=3), np.random.default_rng(98))
    p = Pipeline(info)
    out = p.process(Chunk(0, x))
    assert p.outputs[1].kind == ChannelKind.ENV
    assert mean_clean(out, 1, int(fs)) == pytest.approx(level, rel=0.10)
    # while RAW, honestly, sees next to nothing of it (or is flagged flat)
    raw = mean_clean(out, 0, int(fs))
    assert np.isnan(raw) or raw < 0.5 * level or (out.flags[:, 0] & Flag.FLAT).any()


def test_amplifier_noise_helper_has_the_specified_in_band_level() -> None:
    from emg_signals import band_noise  # noqa: F401  (same module, checks the test's own model)

    fs = 2000.0
    x = amplifier_noise(200_000, fs, np.random.default_rng(4))
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / fs)
    inband = np.sqrt(spec[(f >= 20) & (f <= 450)].sum() * 2 / len(x) ** 2)
    assert inband == pytest.approx(AMPLIFIER_NOISE_UV, rel=0.02)
