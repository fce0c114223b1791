"""Spectral measures (offline): Welch PSD, mean and median frequency, mains detection.

Fatigue (optional, RAW only): Welch PSD on 1 s Hann segments; the mean and median frequency of
the EMG band fall as a muscle fatigues (docs/signal-processing.md, "Offline helpers").
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "detect_mains_hz",
    "mean_frequency",
    "median_frequency",
    "spectral_frequencies",
    "welch_psd",
]


def welch_psd(
    x: np.ndarray, fs_hz: float, segment_s: float = 1.0, overlap: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Welch power spectral density of ``x`` [n] or [n, ch] on Hann segments of ``segment_s``.

    Returns ``(freqs_hz [f], psd [f] or [f, ch])`` in input units^2 / Hz. Raises ValueError when
    ``x`` holds NaN (remove or fill gaps first) or is shorter than one segment.
    """
    from scipy import signal

    a = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError("the signal contains NaN (gaps): remove or fill them before a spectrum")
    nper = round(segment_s * fs_hz)
    if nper < 2 or len(a) < nper:
        raise ValueError(
            f"need at least one {segment_s:g} s segment ({nper} samples), got {len(a)} samples"
        )
    f, p = signal.welch(
        a, fs=fs_hz, window="hann", nperseg=nper, noverlap=int(nper * overlap), axis=0
    )
    return f, p


def _band(
    f: np.ndarray, p: np.ndarray, band_hz: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    sel = (f >= band_hz[0]) & (f <= band_hz[1])
    if sel.sum() < 2:
        raise ValueError(f"band {band_hz} Hz holds fewer than two spectral bins")
    return f[sel], p[sel]


def mean_frequency(
    f: np.ndarray, psd: np.ndarray, band_hz: tuple[float, float] = (20.0, 450.0)
) -> np.ndarray | float:
    """Power-weighted mean frequency within ``band_hz`` (per column for a 2-D ``psd``)."""
    fb, pb = _band(f, psd, band_hz)
    w = fb if pb.ndim == 1 else fb[:, None]
    total = pb.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (w * pb).sum(axis=0) / total
    return float(out) if np.ndim(out) == 0 else out


def median_frequency(
    f: np.ndarray, psd: np.ndarray, band_hz: tuple[float, float] = (20.0, 450.0)
) -> np.ndarray | float:
    """Frequency splitting the power within ``band_hz`` in halves (linear interpolation)."""
    fb, pb = _band(f, psd, band_hz)
    two_d = pb.ndim == 2
    cols = pb if two_d else pb[:, None]
    out = np.empty(cols.shape[1])
    for j in range(cols.shape[1]):
        c = np.cumsum(cols[:, j])
        if not c[-1] > 0:
            out[j] = np.nan
            continue
        out[j] = np.interp(0.5 * c[-1], c, fb)
    return out if two_d else float(out[0])


def spectral_frequencies(
    x: np.ndarray,
    fs_hz: float,
    band_hz: tuple[float, float] = (20.0, 450.0),
    segment_s: float = 1.0,
) -> tuple[np.ndarray | float, np.ndarray | float]:
    """``(mean_hz, median_hz)`` of ``x`` from a Welch PSD on 1 s Hann segments."""
    hi = min(band_hz[1], fs_hz / 2.0)
    f, p = welch_psd(x, fs_hz, segment_s)
    return mean_frequency(f, p, (band_hz[0], hi)), median_frequency(f, p, (band_hz[0], hi))


def detect_mains_hz(x: np.ndarray, fs_hz: float, min_line_ratio: float = 5.0) -> float | None:
    """50 or 60 if the spectrum of ``x`` [n] (a few seconds of RAW) shows a mains line there.

    A line is the mean PSD within +-1 Hz of the frequency over the mean PSD 3-8 Hz either side;
    the stronger of 50 and 60 Hz wins if its ratio exceeds ``min_line_ratio`` (else None: no
    visible hum, keep the user's choice). Uses 1 Hz bins, so give it at least 2 s.
    """
    f, p = welch_psd(np.asarray(x, dtype=float).ravel(), fs_hz, segment_s=1.0)
    best, best_ratio = None, min_line_ratio
    for f0 in (50.0, 60.0):
        if f0 + 8 >= fs_hz / 2:
            continue
        line = p[np.abs(f - f0) <= 1.0].mean()
        side = p[(np.abs(f - f0) >= 3.0) & (np.abs(f - f0) <= 8.0)].mean()
        ratio = line / side if side > 0 else (np.inf if line > 0 else 0.0)
        if ratio > best_ratio:
            best, best_ratio = f0, ratio
    return best
