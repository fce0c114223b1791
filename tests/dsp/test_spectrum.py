"""Welch PSD, mean and median frequency (fatigue), mains detection."""

from __future__ import annotations

import numpy as np
import pytest
from emg_signals import band_noise

from biofeedback.dsp.spectrum import (
    detect_mains_hz,
    mean_frequency,
    median_frequency,
    spectral_frequencies,
    welch_psd,
)


def test_sine_has_its_frequency_as_mean_and_median() -> None:
    fs = 1000.0
    t = np.arange(5000) / fs
    mean_hz, median_hz = spectral_frequencies(np.sin(2 * np.pi * 100 * t), fs)
    assert mean_hz == pytest.approx(100, abs=1.5)
    assert median_hz == pytest.approx(100, abs=1.5)


def test_white_band_noise_is_centred_in_its_band_and_columns_work() -> None:
    fs = 2000.0
    rng = np.random.default_rng(0)
    x = np.column_stack([band_noise(40_000, fs, rng, 20, 450, shaped=False),
                         band_noise(40_000, fs, rng, 50, 150, shaped=False)])  # fmt: skip
    mean_hz, median_hz = spectral_frequencies(x, fs)
    assert mean_hz == pytest.approx([235, 100], abs=6)
    assert median_hz == pytest.approx([235, 100], abs=6)


def test_fatigue_shift_is_seen() -> None:
    """A spectrum compressed towards low frequencies (fatigue) lowers both measures."""
    fs = 1000.0
    rng = np.random.default_rng(1)
    fresh = band_noise(20_000, fs, rng, 40, 300, shaped=False)
    tired = band_noise(20_000, fs, rng, 30, 200, shaped=False)
    f1, p1 = welch_psd(fresh, fs)
    f2, p2 = welch_psd(tired, fs)
    assert mean_frequency(f2, p2) < mean_frequency(f1, p1) - 30
    assert median_frequency(f2, p2) < median_frequency(f1, p1) - 30
    assert f1[1] - f1[0] == pytest.approx(1.0)  # 1 s segments: 1 Hz bins


def test_detect_mains() -> None:
    fs = 1000.0
    rng = np.random.default_rng(2)
    t = np.arange(5000) / fs
    emg = band_noise(5000, fs, rng) * 20
    assert detect_mains_hz(emg + 10 * np.sin(2 * np.pi * 50 * t), fs) == 50.0
    assert detect_mains_hz(emg + 10 * np.sin(2 * np.pi * 60 * t), fs) == 60.0
    assert detect_mains_hz(emg, fs) is None


def test_bad_input_messages() -> None:
    with pytest.raises(ValueError, match="NaN"):
        welch_psd(np.array([1.0, np.nan] * 1000), 1000.0)
    with pytest.raises(ValueError, match="at least one 1 s segment"):
        welch_psd(np.zeros(100), 1000.0)
