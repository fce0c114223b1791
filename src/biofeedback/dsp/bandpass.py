"""The RAW filter stage: band-pass, mains notches, the low (motion) band, "auto" mains.

:class:`BandpassStage` filters the RAW rows of a block in place into the rows the moving sum
needs (band-passed, mains parts, low band, output; see :class:`biofeedback.dsp.layout.SumRows`).
The output is the band-passed signal through the notch bank in use, scaled so that it reads the
RMS within the pass band for a typical surface-EMG spectrum (:func:`passband_gain`). Hum is
measured at 50 and at 60 Hz whatever the notch: the bank at the frequency not notched runs only
for that measurement. Design and sources: docs/signal-processing.md.
"""

from __future__ import annotations

import math

import numpy as np

from biofeedback.dsp.filters import (
    MAX_EDGE_FRACTION,
    SosFilter,
    design_band_sos,
    design_bandpass,
    design_notches,
    noise_bandwidth_hz,
    power_gain_grid,
)
from biofeedback.dsp.layout import SumRows
from biofeedback.dsp.settings import PipelineSettings, PipelineSettingsError

__all__ = ["BandpassStage", "NotchBank", "passband_gain", "reference_emg_psd"]


def reference_emg_psd(freqs_hz: np.ndarray) -> np.ndarray:
    """A typical surface-EMG power spectrum (peak ~80 Hz, median ~113 Hz; arbitrary scale).

    The classic shape ``f^2 fh^4 / ((f^2 + fl^2)(f^2 + fh^2)^2)`` (Shwedyk et al. 1977) with
    fl = 100 Hz, fh = 120 Hz. Used only to size the notch-loss compensation, which hardly
    depends on the shape (white noise gives within 0.3 % of the same factor).
    """
    f = np.asarray(freqs_hz, dtype=float)
    fl, fh = 100.0, 120.0
    return np.asarray(f**2 * fh**4 / ((f**2 + fl**2) * (f**2 + fh**2) ** 2))


def passband_gain(fs_hz: float, band_hz: tuple[float, float], chain: list[np.ndarray]) -> float:
    """Gain that makes the causal ``chain`` read the RMS within ``band_hz`` of typical sEMG.

    ``sqrt(integral of P over the band / integral of P |H|^2)`` for the reference spectrum
    :func:`reference_emg_psd`: the Butterworth skirts and the notches remove a few percent of
    in-band power (3-4 % in amplitude at 2 kHz with 50 Hz notches).
    """
    f = power_gain_grid(chain[0], fs_hz)[0]
    p = reference_emg_psd(f)
    h = np.ones_like(f)
    for sos in chain:
        h = h * power_gain_grid(sos, fs_hz)[1]
    inside = p[(f >= band_hz[0]) & (f <= band_hz[1])].sum()
    return math.sqrt(inside / float((p * h).sum()))


class NotchBank:
    """One mains frequency: notch cascade state, centre frequencies and pass-band gain."""

    def __init__(
        self,
        fs: float,
        mains_hz: float,
        s: PipelineSettings,
        band: tuple[float, float],
        bp: np.ndarray,
        rows: int,
    ) -> None:
        self.mains_hz = mains_hz
        self.sos, self.freqs = design_notches(fs, mains_hz, s.notch_q, band[1], s.notch_harmonics)
        self.filter = SosFilter(self.sos, rows)
        self.gain = passband_gain(fs, band, [bp, self.sos]) if s.passband_compensation else 1.0

    def describe(self) -> str:
        extra = len(self.freqs) - 1
        harm = f" + {extra} harmonic{'s' if extra != 1 else ''}" if extra else ""
        return f"notch {self.mains_hz:g} Hz{harm}"


class BandpassStage:
    """Band-pass + notches + low band for ``kr`` RAW rows (see the module docstring).

    ``in_gain`` is the ADC scale folded into the band-pass and low-band filters (1 when the RAW
    rows arrive in uV). The pass-band gain of the chain in use at the start is folded into the
    band-pass too (``bp_gain``); window thresholds on band-passed powers are scaled to match.
    """

    def __init__(self, fs: float, s: PipelineSettings, kr: int, in_gain: float) -> None:
        self.fs, self.settings, self.kr = fs, s, kr
        try:
            bp, band = design_bandpass(fs, s.highpass_hz, s.lowpass_hz, s.filter_order)
        except ValueError as exc:
            raise PipelineSettingsError(f"RAW band-pass: {exc}") from None
        self.band, self.bp_sos = band, bp
        self.banks = [NotchBank(fs, f0, s, band, bp, kr) for f0 in self._mains_choices(s, band)]
        self.mains_fixed: float | None = None
        self.bp_gain = passband_gain(fs, band, [bp]) if s.passband_compensation else 1.0
        if isinstance(s.mains_hz, float) and self.banks:
            self.mains_fixed = s.mains_hz
            self.bp_gain = self.banks[0].gain
        self.auto = s.mains_hz == "auto"
        scaled = bp.copy()
        scaled[0, :3] *= self.bp_gain * in_gain
        self._bp = SosFilter(scaled, kr)
        m_lo, m_hi = s.motion_band_hz
        m_hi = min(m_hi, MAX_EDGE_FRACTION * fs, band[0])
        self._motion: SosFilter | None = None
        if m_hi > m_lo:
            motion_sos = design_band_sos(fs, m_lo, m_hi)
            motion_sos[0, :3] *= in_gain
            self._motion = SosFilter(motion_sos, kr)
        self.rows = SumRows(kr, 0, len(self.banks))
        self.reset()

    @staticmethod
    def _mains_choices(s: PipelineSettings, band: tuple[float, float]) -> list[float]:
        """Notch banks to run: the notched frequency first; the other one (50 <-> 60 Hz) only to
        measure hum there (hum at the frequency not notched must be flagged too)."""
        if isinstance(s.mains_hz, float):
            choices = [s.mains_hz, 110.0 - s.mains_hz] if s.mains_hz < band[1] else []
        else:
            choices = [50.0, 60.0]
        return [f0 for f0 in choices if f0 < band[1]]

    @property
    def mains_hz(self) -> list[float]:
        """The frequencies of the notch banks, in the order of the mains-part rows."""
        return [b.mains_hz for b in self.banks]

    def reset(self) -> None:
        """Forget all signal history (and an "auto" choice)."""
        for f in self._filters():
            f.reset()
        self.mains_active = self.mains_fixed
        self._active_bank: int | None = 0 if self.mains_fixed is not None else None
        self.gain_active = self.bp_gain
        self._auto_next = 0
        self._auto_acc = np.zeros(1 + len(self.banks))

    def start(self, first: int) -> None:
        """Anchor the "auto" decision's delay at the stream's first sample ``first``."""
        self._auto_next = first + round(self.settings.auto_mains_after_s * self.fs)

    def _filters(self) -> list[SosFilter]:
        out = [self._bp] + [b.filter for b in self.banks]
        return out + ([self._motion] if self._motion is not None else [])

    def notch_freqs(self) -> list[float]:
        """Centre frequencies of the notches in use (empty: none)."""
        return next((b.freqs for b in self.banks if b.mains_hz == self.mains_active), [])

    def passband(self) -> str:
        """The RAW pass band, as text for reports."""
        lo, hi = self.band
        order = self.settings.filter_order
        text = f"{lo:g}-{hi:g} Hz (Butterworth {order}+{order}, causal)"
        if self.mains_fixed is not None:
            text += ", " + self.banks[0].describe()
        elif self.settings.mains_hz == "auto":
            text += ", notch auto 50/60 Hz"
        return text

    def noise_bandwidth_hz(self) -> float:
        """Equivalent noise bandwidth of the output chain, with its gain (for the noise model)."""
        chain = [self.bp_sos] + ([self.banks[0].sos] if self.mains_fixed else [])
        return noise_bandwidth_hz(chain, self.fs) * self.bp_gain**2

    def process(
        self,
        work: np.ndarray,
        restarts: dict[int, list[int]] | None,
        squares: np.ndarray,
        first: int,
    ) -> np.ndarray:
        """Filter ``work[:kr]`` (RAW rows) into the rows of ``work`` [o_e, n]; returns the output
        rows. ``squares`` [>= o_y, n] is scratch space for the "auto" decision."""
        kr, rows = self.kr, self.rows
        b = work[:kr]
        low = work[rows.o_l : rows.o_y]
        low[...] = b
        self._bp.filter_inplace(b, restarts)
        y = work[rows.o_y : rows.o_e]
        ys: list[np.ndarray] = []
        if self.mains_fixed is not None:  # the usual case: one notch bank, output = its own
            self._fixed_notch(work, y, restarts)
        else:
            ys = self._all_notches(work, restarts)
        if self._motion is not None:
            self._motion.filter_inplace(low, restarts)
        else:
            low[...] = 0.0
        if self.mains_fixed is None:
            if self._active_bank is not None:
                np.multiply(ys[self._active_bank], self.gain_active / self.bp_gain, out=y)
            else:
                y[...] = b
                if self.auto and ys:
                    np.multiply(work[: rows.o_y], work[: rows.o_y], out=squares[: rows.o_y])
                    self._auto_mains(y, ys, squares, first)
        return y

    def _fixed_notch(
        self, work: np.ndarray, y: np.ndarray, restarts: dict[int, list[int]] | None
    ) -> None:
        kr = self.kr
        b = work[:kr]
        y[...] = b
        self.banks[0].filter.filter_inplace(y, restarts)
        np.subtract(b, y, out=work[kr : 2 * kr])
        if len(self.banks) > 1:  # hum at the other mains frequency (measured only)
            d = work[2 * kr : 3 * kr]
            d[...] = b
            self.banks[1].filter.filter_inplace(d, restarts)
            np.subtract(b, d, out=d)

    def _all_notches(
        self, work: np.ndarray, restarts: dict[int, list[int]] | None
    ) -> list[np.ndarray]:
        """Every bank's notched signal (mains parts into their rows); no notch in use yet."""
        kr = self.kr
        b = work[:kr]
        ys = []
        for j, bank in enumerate(self.banks):
            yj = b.copy()
            bank.filter.filter_inplace(yj, restarts)
            np.subtract(b, yj, out=work[kr * (1 + j) : kr * (2 + j)])
            ys.append(yj)
        if not ys:
            work[kr : 2 * kr] = 0.0
        return ys

    def _auto_mains(self, y: np.ndarray, ys: list[np.ndarray], q: np.ndarray, first: int) -> None:
        """Switch the notch on where the hum is clearly at 50 or at 60 Hz (``mains_hz="auto"``).

        The in-band and mains-part powers of all RAW channels are accumulated sample by sample
        since the stream started; from ``auto_mains_after_s`` on, a frequency's notch is switched
        on at the first sample where its share of the in-band power is at least
        ``auto_mains_min_ratio`` and twice the other's. The notch banks run from the start, so
        the switch causes no transient. ``y`` is updated in place from the switch on.
        """
        kr, nb, n = self.kr, len(self.banks), y.shape[1]
        acc = np.empty((1 + nb, n + 1))
        acc[:, 0] = self._auto_acc
        for j in range(1 + nb):
            np.add.reduce(q[kr * j : kr * (j + 1)], axis=0, out=acc[j, 1:])
        np.add.accumulate(acc, axis=1, out=acc)
        self._auto_acc = acc[:, -1].copy()
        start = max(0, self._auto_next - first)
        if start >= n:
            return
        band = acc[0, 1 + start :]
        with np.errstate(invalid="ignore", divide="ignore"):
            ratios = acc[1:, 1 + start :] / band
        for j in range(nb):
            good = (band > 0) & (ratios[j] >= self.settings.auto_mains_min_ratio)
            for i in range(nb):
                if i != j:
                    good &= ratios[j] >= 2.0 * ratios[i]
            hit = np.flatnonzero(good)
            if len(hit):
                p = start + int(hit[0])
                bank = self.banks[j]
                self.mains_active = bank.mains_hz
                self._active_bank = j
                self.gain_active = bank.gain
                y[:, p:] = ys[j][:, p:] * (bank.gain / self.bp_gain)
                return
