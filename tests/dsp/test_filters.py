"""Filter design for the actual fs, and the stateful causal SOS filter."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from biofeedback.dsp.filters import (
    SosFilter,
    clamp_band,
    design_bandpass,
    design_notches,
    noise_bandwidth_hz,
    power_gain,
    sosfilt_rows,
)


def test_band_edges_are_clamped_below_045_fs() -> None:
    assert clamp_band(2000, 20, 450) == (20.0, 450.0)
    assert clamp_band(1000, 20, 450) == (20.0, 450.0)
    assert clamp_band(800, 20, 450) == (20.0, pytest.approx(360.0))
    sos, band = design_bandpass(500, 20, 450, 2)
    assert band[1] == pytest.approx(225.0)
    # -3 dB at the edges actually used
    g = power_gain(sos, 500, np.array(band))
    assert np.allclose(g, 0.5, rtol=0.02)


def test_empty_band_says_what_to_do() -> None:
    with pytest.raises(ValueError, match="sample faster"):
        design_bandpass(40, 20, 450)
    with pytest.raises(ValueError, match="0 < low < high"):
        clamp_band(1000, 450, 20)


def test_bandpass_is_butterworth_of_order_per_side() -> None:
    sos, _ = design_bandpass(2000, 20, 450, 2)
    assert len(sos) == 2  # order 2 per side -> 4th-order band-pass -> 2 sections
    ref = signal.butter(2, [20, 450], "bandpass", fs=2000, output="sos")
    assert np.allclose(sos, ref)


def test_notches_cover_harmonics_below_the_band_edge_with_equal_bandwidth() -> None:
    sos, freqs = design_notches(2000, 50, 30, upper_hz=450)
    assert freqs == [50, 100, 150, 200, 250, 300, 350, 400]
    f = np.linspace(1, 999, 200_000)
    g = power_gain(sos, 2000, f)
    for f0 in freqs:
        near = np.abs(f - f0) < 10
        assert g[near].min() < 1e-4  # deep notch at the centre
        width = np.ptp(f[near][g[near] < 0.5])  # -3 dB width
        assert width == pytest.approx(50 / 30, rel=0.1)
    assert g[np.abs(f - 75) < 1].min() > 0.95  # EMG between the lines passes
    assert design_notches(2000, 60, 30, upper_hz=450)[1] == [60, 120, 180, 240, 300, 360, 420]
    assert design_notches(2000, 50, 30, 450, harmonics=False)[1] == [50]
    with pytest.raises(ValueError, match="turn the mains notch off"):
        design_notches(80, 50, 30)


def test_fast_kernel_matches_public_sosfilt() -> None:
    rng = np.random.default_rng(0)
    sos, _ = design_bandpass(1000, 20, 450)
    x = rng.standard_normal((3, 500))
    zi = rng.standard_normal((3, len(sos), 2))
    y = x.copy()
    z = zi.copy()
    sosfilt_rows(sos, y, z)
    ref, zf = signal.sosfilt(sos, x, axis=-1, zi=np.moveaxis(zi, 0, 1))
    assert np.allclose(y, ref, rtol=1e-12, atol=1e-12)
    assert np.allclose(z, np.moveaxis(zf, 1, 0))


def test_blocks_of_any_size_give_identical_output() -> None:
    rng = np.random.default_rng(1)
    sos, _ = design_bandpass(2000, 20, 450)
    x = 2048 + rng.standard_normal((4, 3000)) * 30
    whole = SosFilter(sos, 4).process(x)
    f = SosFilter(sos, 4)
    parts, i = [], 0
    while i < x.shape[1]:
        k = int(rng.integers(0, 70))
        parts.append(f.process(x[:, i : i + k]))
        i += k
    assert np.array_equal(np.concatenate(parts, axis=1), whole)


def test_steady_state_start_has_no_transient() -> None:
    sos, _ = design_bandpass(1000, 20, 450)
    offset = np.full((2, 400), 2048.0)
    offset[1] = 512.0
    y = SosFilter(sos, 2).process(offset)
    assert np.abs(y).max() < 1e-9  # a band-pass of a constant is zero from the first sample
    lp = signal.butter(2, 10, "lowpass", fs=1000, output="sos")
    y = SosFilter(lp, 2).process(offset)
    assert np.allclose(y, offset)  # a low-pass of a constant is that constant


def test_restart_reinitialises_a_row_mid_block() -> None:
    sos, _ = design_bandpass(1000, 20, 450)
    x = np.concatenate([np.full(300, 100.0), np.full(300, 900.0)])[None, :]
    f = SosFilter(sos, 1)
    y = f.process(x, restart={0: [300]})
    assert np.abs(y[0, 300:]).max() < 1e-9  # the step at 300 is hidden by the restart
    y_no = SosFilter(sos, 1).process(x)
    assert np.abs(y_no[0, 300:]).max() > 100  # without it, a big transient
    late = SosFilter(sos, 1)
    out = late.process(np.full((1, 10), np.nan), restart={0: []}, autostart=False)
    assert not late.started[0] and np.isnan(out).all()  # not started: input passed through
    out = late.process(np.full((1, 10), 5.0))
    assert late.started[0] and np.abs(out).max() < 1e-9


def test_noise_bandwidth() -> None:
    sos, _ = design_bandpass(2000, 20, 450)
    enbw = noise_bandwidth_hz([sos], 2000)
    assert 430 < enbw < 480
    notch, _ = design_notches(2000, 50, 30, 450)
    assert 0.9 < noise_bandwidth_hz([sos, notch], 2000) / enbw < 0.97
