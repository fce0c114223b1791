"""Causal IIR filters designed with scipy.signal for the actual sampling rate.

Everything works on *rows*: arrays shaped ``[rows, n]`` (one row per channel, time along the last
axis), because the live path filters a few channels of a few samples at a time and per-call
overhead, not arithmetic, is what costs. :class:`SosFilter` keeps its state across calls, starts
each row in steady state for its first value (no start-up transient), and can restart a row's
state mid-block (after a long gap). Filtering in blocks of any size gives bit-identical output to
filtering the whole array at once.

``scipy.signal`` is imported inside the functions that use it, not at module level: importing it
costs 1.5-2 s, and the window shows its first frame before that import has finished
(docs/performance.md). Filter choices and their sources: docs/signal-processing.md.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
from collections.abc import Callable, Iterable

import numpy as np

__all__ = [
    "SosFilter",
    "clamp_band",
    "design_bandpass",
    "design_notches",
    "noise_bandwidth_hz",
    "power_gain",
    "power_gain_grid",
    "sosfilt_rows",
]

log = logging.getLogger(__name__)

#: Highest band edge allowed, as a fraction of fs (docs/signal-processing.md, "Filters").
MAX_EDGE_FRACTION = 0.45


def _public_sosfilt(sos: np.ndarray, x: np.ndarray, zi: np.ndarray) -> None:
    """In-place reference implementation with the public API (zi layout [rows, sections, 2])."""
    from scipy import signal  # imported on first use: see the module docstring

    y, zf = signal.sosfilt(sos, x, axis=-1, zi=np.moveaxis(zi, 0, 1))
    x[...] = y
    zi[...] = np.moveaxis(zf, 1, 0)


@functools.cache
def _fast_sosfilt() -> Callable[[np.ndarray, np.ndarray, np.ndarray], None] | None:
    """scipy's compiled in-place kernel, if present and verified against the public function.

    ``scipy.signal.sosfilt`` validates and reshapes its arguments on every call, which costs
    ~60 us; the kernel itself filters a 10 ms block of 4 channels in ~4 us. The live budget
    (1 % of a core at 100 blocks/s) needs the kernel. It is private API, so it is checked once
    here and the public function is used if it is missing or disagrees.
    """
    from scipy import signal

    try:
        from scipy.signal._sosfilt import _sosfilt
    except ImportError:  # pragma: no cover - depends on the scipy build
        return None
    try:
        rng = np.random.default_rng(0)
        sos = signal.butter(2, [0.1, 0.4], "bandpass", output="sos")
        x = rng.standard_normal((3, 64))
        zi = rng.standard_normal((3, len(sos), 2))
        x_fast, zi_fast = x.copy(), zi.copy()
        _sosfilt(sos, x_fast, zi_fast)
        x_ref, zi_ref = x.copy(), zi.copy()
        _public_sosfilt(sos, x_ref, zi_ref)
        if np.array_equal(x_fast, x_ref) and np.array_equal(zi_fast, zi_ref):
            return _sosfilt
    except Exception as exc:  # pragma: no cover - a changed private signature
        log.warning(
            "scipy's compiled sosfilt kernel failed its check (%r): filtering with the "
            "slower public scipy.signal.sosfilt",
            exc,
        )
        return None
    log.warning(  # pragma: no cover
        "scipy's compiled sosfilt kernel disagrees with scipy.signal.sosfilt: using the slower "
        "public function"
    )
    return None  # pragma: no cover


def sosfilt_rows(sos: np.ndarray, x: np.ndarray, zi: np.ndarray) -> None:
    """Filter ``x`` [rows, n] in place with second-order sections, updating ``zi`` in place.

    ``x`` must be C-contiguous float64 and ``zi`` C-contiguous float64 shaped [rows, sections, 2].
    """
    kernel = _fast_sosfilt()
    if kernel is not None:
        kernel(sos, x, zi)
    else:  # pragma: no cover - only without the compiled kernel
        _public_sosfilt(sos, x, zi)


def clamp_band(fs_hz: float, low_hz: float, high_hz: float) -> tuple[float, float]:
    """Pass band actually usable at ``fs_hz``: the upper edge is clamped to 0.45 x fs.

    Raises ValueError (saying what to change) when nothing is left of the band.
    """
    if not (fs_hz > 0 and math.isfinite(fs_hz)):
        raise ValueError(f"sampling rate must be a positive number of Hz, got {fs_hz!r}")
    if not (0 < low_hz < high_hz):
        raise ValueError(f"band edges must satisfy 0 < low < high, got {low_hz:g}-{high_hz:g} Hz")
    high = min(float(high_hz), MAX_EDGE_FRACTION * fs_hz)
    if high <= low_hz * 1.05:
        raise ValueError(
            f"at {fs_hz:g} Hz sampling the band {low_hz:g}-{high_hz:g} Hz is empty (edges are "
            f"clamped to {MAX_EDGE_FRACTION:g} x fs = {MAX_EDGE_FRACTION * fs_hz:g} Hz): sample "
            f"faster (RAW needs >= 1000 Hz) or lower the high-pass edge"
        )
    return float(low_hz), high


def design_bandpass(
    fs_hz: float, low_hz: float, high_hz: float, order: int = 2
) -> tuple[np.ndarray, tuple[float, float]]:
    """Butterworth band-pass of ``order`` per side as SOS, with the edges clamped for ``fs_hz``.

    Returns ``(sos, (low_hz, high_hz))`` where the edges are the ones actually used.
    """
    from scipy import signal

    if int(order) != order or order < 1:
        raise ValueError(f"filter order must be a positive integer, got {order!r}")
    low, high = clamp_band(fs_hz, low_hz, high_hz)
    sos = signal.butter(int(order), [low, high], btype="bandpass", fs=fs_hz, output="sos")
    return np.ascontiguousarray(sos, dtype=np.float64), (low, high)


def design_notches(
    fs_hz: float,
    mains_hz: float,
    q: float = 30.0,
    upper_hz: float | None = None,
    harmonics: bool = True,
) -> tuple[np.ndarray, list[float]]:
    """IIR notches at ``mains_hz`` and (optionally) its harmonics below ``upper_hz``.

    Every notch has the fundamental's bandwidth ``mains_hz / q`` (harmonic k uses Q = q x k):
    harmonics of the mains drift no more than k times the fundamental, and equal bandwidths
    remove about half as much EMG as a constant Q would. Returns ``(sos, centre_frequencies)``.
    """
    from scipy import signal

    if not (mains_hz > 0 and q > 0):
        raise ValueError(f"mains frequency and notch Q must be positive, got {mains_hz!r}, {q!r}")
    nyquist = fs_hz / 2.0
    upper = min(upper_hz if upper_hz is not None else nyquist, nyquist)
    if mains_hz >= upper:
        raise ValueError(
            f"a {mains_hz:g} Hz notch is outside the band at {fs_hz:g} Hz sampling: "
            f"sample faster or turn the mains notch off"
        )
    freqs: list[float] = []
    k = 1
    while k * mains_hz < upper and (harmonics or k == 1):
        freqs.append(k * mains_hz)
        k += 1
    sections = [signal.tf2sos(*signal.iirnotch(f, q * (f / mains_hz), fs=fs_hz)) for f in freqs]
    return np.ascontiguousarray(np.vstack(sections), dtype=np.float64), freqs


def design_band_sos(fs_hz: float, low_hz: float, high_hz: float, order: int = 2) -> np.ndarray:
    """Butterworth band-pass SOS without clamping (for detectors with narrow, known bands)."""
    from scipy import signal

    return np.ascontiguousarray(
        signal.butter(order, [low_hz, high_hz], btype="bandpass", fs=fs_hz, output="sos")
    )


def power_gain(sos: np.ndarray, fs_hz: float, freqs_hz: np.ndarray) -> np.ndarray:
    """|H(f)|^2 of an SOS cascade at ``freqs_hz``."""
    from scipy import signal

    _, h = signal.sosfreqz(sos, worN=np.asarray(freqs_hz, dtype=float), fs=fs_hz)
    return np.abs(h) ** 2


def power_gain_grid(
    sos: np.ndarray, fs_hz: float, n_points: int = 8192
) -> tuple[np.ndarray, np.ndarray]:
    """``(freqs, |H|^2)`` on the grid ``(k + 0.5) * fs / (2 n)``, k = 0..n-1 (vectorised over
    sections, and remembered: pipelines are rebuilt with the same filters often)."""
    sos = np.ascontiguousarray(sos, dtype=np.float64)
    return _power_gain_grid(sos.tobytes(), len(sos), float(fs_hz), int(n_points))


@functools.lru_cache(maxsize=64)
def _power_gain_grid(
    sos_bytes: bytes, n_sections: int, fs_hz: float, n_points: int
) -> tuple[np.ndarray, np.ndarray]:
    sos = np.frombuffer(sos_bytes, dtype=np.float64).reshape(n_sections, 6)
    f = (np.arange(n_points) + 0.5) * (fs_hz / 2.0 / n_points)
    z1 = np.exp(-1j * np.pi * f / (fs_hz / 2.0))
    z2 = z1 * z1
    num = sos[:, 0:1] + sos[:, 1:2] * z1 + sos[:, 2:3] * z2
    den = sos[:, 3:4] + sos[:, 4:5] * z1 + sos[:, 5:6] * z2
    g = np.prod(np.abs(num / den) ** 2, axis=0)
    f.flags.writeable = False
    g.flags.writeable = False
    return f, g


def noise_bandwidth_hz(
    sos_list: Iterable[np.ndarray], fs_hz: float, n_points: int = 16384
) -> float:
    """Equivalent noise bandwidth in Hz of a cascade: integral of |H(f)|^2 over 0..fs/2.

    White noise of RMS ``sigma`` spread over 0..fs/2 leaves ``sigma * sqrt(ENBW / (fs / 2))``
    after the cascade.
    """
    g = np.ones(n_points)
    for sos in sos_list:
        g *= power_gain_grid(sos, fs_hz, n_points)[1]
    return float(g.mean() * fs_hz / 2.0)


class SosFilter:
    """A causal SOS cascade applied independently to ``n_rows`` rows, state carried across calls.

    Each row's state is set to steady state for its first value (``sosfilt_zi`` x value) when the
    row starts and whenever it is restarted (``restart`` positions in :meth:`process`).
    """

    def __init__(self, sos: np.ndarray, n_rows: int) -> None:
        from scipy import signal

        self.sos = np.ascontiguousarray(sos, dtype=np.float64)
        self.n_rows = int(n_rows)
        self._zi_unit = signal.sosfilt_zi(self.sos)  # [sections, 2] for a unit step
        self._zi = np.zeros((self.n_rows, len(self.sos), 2))
        self._started = np.zeros(self.n_rows, dtype=bool)
        self._all_started = False

    @property
    def started(self) -> np.ndarray:
        """Per row: has it started (been given its steady-state initial value)?"""
        return self._started.copy()

    @property
    def all_started(self) -> bool:
        """Have all rows started (so that a block without restarts takes the fast path)?"""
        return self._all_started

    @property
    def n_sections(self) -> int:
        """Number of second-order sections."""
        return len(self.sos)

    def reset(self) -> None:
        """Forget all state: every row starts afresh on its next value."""
        self._zi[...] = 0.0
        self._started[:] = False
        self._all_started = False

    def process(
        self,
        x: np.ndarray,
        restart: dict[int, list[int]] | None = None,
        autostart: bool = True,
    ) -> np.ndarray:
        """Filter ``x`` [rows, n] into a new array (see :meth:`filter_inplace`)."""
        y = np.array(x, dtype=np.float64, order="C", copy=True)
        self.filter_inplace(y, restart, autostart)
        return y

    def filter_inplace(
        self,
        y: np.ndarray,
        restart: dict[int, list[int]] | None = None,
        autostart: bool = True,
    ) -> None:
        """Filter the C-contiguous float64 array ``y`` [rows, n] in place.

        ``restart`` maps a row to positions in this block where its state is re-initialised to
        steady state for the value there (the first valid sample after a long gap). Rows that
        have not started yet start at position 0 (unless ``restart`` gives a position, or
        ``autostart`` is False); before they start they keep their input unchanged, which is
        meaningless (the caller marks those samples).
        """
        n = y.shape[1]
        if n == 0:
            return
        if not restart and self._all_started:
            sosfilt_rows(self.sos, y, self._zi)
            return
        restart = dict(restart or {})
        for unstarted in np.flatnonzero(~self._started):
            restart.setdefault(int(unstarted), [0] if autostart else [])
        plain = [r for r in range(self.n_rows) if r not in restart]
        if plain:
            rows = np.asarray(plain)
            part = np.ascontiguousarray(y[rows])
            zi = np.ascontiguousarray(self._zi[rows])
            sosfilt_rows(self.sos, part, zi)
            y[rows] = part
            self._zi[rows] = zi
        for row, positions in restart.items():
            bounds = [0, *sorted(set(positions)), n]
            zi = np.ascontiguousarray(self._zi[row : row + 1])
            for i, (lo, hi) in enumerate(itertools.pairwise(bounds)):
                if i > 0:  # a restart at lo
                    zi[0] = self._zi_unit * y[row, lo]
                    self._started[row] = True
                if hi > lo and self._started[row]:
                    sosfilt_rows(self.sos, y[row : row + 1, lo:hi], zi)
            self._zi[row] = zi[0]
        self._all_started = bool(self._started.all())
