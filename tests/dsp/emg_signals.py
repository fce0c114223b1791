"""Synthetic MyoWare signals with known ground truth, for the DSP tests.

EMG is Gaussian noise with the reference sEMG spectrum, limited to 20-450 Hz, so its level is
exactly "uV RMS within the pass band". The amplifier noise is white, AMPLIFIER_NOISE_UV RMS
within 20-450 Hz (as core.hardware specifies it). ENV is modelled like the MyoWare's: the
rectified in-band signal smoothed by a first-order low-pass, times the ENV gain, quantised with
a little ADC noise. Independent of the simulator, so the pipeline's tests do not depend on it.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from biofeedback.core.hardware import (
    AMPLIFIER_NOISE_UV,
    MYOWARE_RAW_GAIN,
    board,
    myoware_env_gain,
)
from biofeedback.core.types import ChannelInfo, ChannelKind, StreamInfo, counts_to_uv_scale
from biofeedback.dsp.pipeline import reference_emg_psd

KINDS = {"raw": ChannelKind.RAW, "env": ChannelKind.ENV, "ref": ChannelKind.REF}


def myoware_info(
    board_key: str = "12bit",
    kinds: str = "raw,env,ref",
    fs_hz: float | None = None,
    pot_kohm: float = 50.0,
) -> StreamInfo:
    """StreamInfo of a MyoWare 2.0 on a board, in ADC counts."""
    b = board(board_key)
    chans = []
    for i, kind in enumerate(kinds.split(",")):
        k = KINDS[kind]
        gain = {
            ChannelKind.RAW: MYOWARE_RAW_GAIN,
            ChannelKind.ENV: myoware_env_gain(pot_kohm),
            ChannelKind.REF: 1.0,
        }[k]
        scale = counts_to_uv_scale(b.vref_v, b.adc_bits, gain)
        chans.append(ChannelInfo(f"{kind}{i}" if kinds.count(kind) > 1 else kind, k, gain, scale))
    return StreamInfo(
        fs_hz or b.default_fs_hz, tuple(chans), adc_bits=b.adc_bits, vref_v=b.vref_v, board=b.key
    )


def band_noise(
    n: int, fs_hz: float, rng: np.random.Generator, lo: float = 20.0, hi: float = 450.0,
    shaped: bool = True,
) -> np.ndarray:  # fmt: skip
    """Unit-RMS Gaussian noise with the reference sEMG spectrum (or white), only in lo-hi Hz."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / fs_hz)
    g = np.sqrt(reference_emg_psd(f)) if shaped else np.ones_like(f)
    g[(f < lo) | (f > hi)] = 0.0
    x = np.fft.irfft(spec * g, n)
    return x / x.std()


def amplifier_noise(n: int, fs_hz: float, rng: np.random.Generator) -> np.ndarray:
    """White noise with AMPLIFIER_NOISE_UV RMS within 20-450 Hz."""
    return rng.standard_normal(n) * AMPLIFIER_NOISE_UV * np.sqrt(fs_hz / 2.0 / 430.0)


def myoware_counts(
    info: StreamInfo,
    emg_uv: np.ndarray,
    rng: np.random.Generator,
    amp_noise: bool = True,
    adc_noise_lsb: float = 0.0,
    env_adc_noise_lsb: float = 0.4,
    env_cutoff_hz: float = 8.0,
) -> np.ndarray:
    """ADC codes [n, channels] for EMG ``emg_uv`` [n] at the electrodes (every RAW/ENV column
    sees the same muscle; REF sits at mid-scale)."""
    fs = info.fs_hz
    n = len(emg_uv)
    full = 2**info.adc_bits - 1
    mid = 2 ** (info.adc_bits - 1)
    v = emg_uv + (amplifier_noise(n, fs, rng) if amp_noise else 0.0)
    cols = []
    for ch in info.channels:
        if ch.kind == ChannelKind.RAW:
            code = mid + v / ch.scale_uv + rng.standard_normal(n) * adc_noise_lsb
        elif ch.kind == ChannelKind.ENV:
            inband = signal.sosfilt(
                signal.butter(2, [20, min(450, 0.45 * fs)], "bandpass", fs=fs, output="sos"), v
            )
            arv = signal.sosfilt(
                signal.butter(1, env_cutoff_hz, "lowpass", fs=fs, output="sos"), np.abs(inband)
            )
            code = arv / ch.scale_uv + rng.standard_normal(n) * env_adc_noise_lsb
        else:
            code = np.full(n, float(mid))
        cols.append(np.clip(np.round(code), 0, full))
    return np.column_stack(cols)


def steady_emg(level_uv: float, seconds: float, fs_hz: float, seed: int = 0) -> np.ndarray:
    """In-band EMG of constant level (uV RMS within 20-450 Hz)."""
    rng = np.random.default_rng(seed)
    return band_noise(int(seconds * fs_hz), fs_hz, rng) * level_uv
