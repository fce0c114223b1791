"""Signal-quality detectors -> per-sample quality flags (docs/signal-processing.md, "Quality flags").

All detectors are vectorised over a block of samples ``[rows, n]`` (one row per output channel)
and carry what they need across blocks, so their output does not depend on how the stream is
cut into blocks. Clipping and gaps are judged per sample; the window rules (:class:`WindowQuality`)
use the pipeline's moving-window sums (the RMS window, 100 ms by default) at evaluation points
every 100 ms on the sample clock, and their flags hold until the next point. The thresholds are
:class:`biofeedback.dsp.settings.PipelineSettings` fields.

Rules (starting points, to be tuned on recordings):

- clipping: RAW input within 2 % of an ADC rail, or ENV >= 98 % of full scale; the flag is held
  for 0.5 s after the last clipped sample (the amplifier recovers slowly).
- flat line: in-band RMS (RAW) below 0.05 uV, or ENV below half of what the amplifier's own
  noise gives (a connected, powered MyoWare never reads that low), for more than 1 s.
- mains: P(mains +-1 Hz, and harmonics) / P(20-450 Hz), measured before the notch, above 0.5
  for more than 1 s. Hum is measured at both 50 and 60 Hz whatever the notch (the larger ratio
  counts), so hum at the frequency not notched is flagged too. ENV outputs paired with a RAW
  output of the same sensor inherit its mains flag, and its flat flag when that RAW resolves
  rest (see the pipeline).
- motion: power below 20 Hz (1-20 Hz, before the high-pass) above the in-band power and above
  100 uV RMS; or the RMS jumping above 10 x its slow baseline for less than 2 s.
- gaps: missing samples (NaN or ``Flag.MISSING``); a gap longer than 50 ms restarts the filters.
- invalid input: NaN the source did not mark as a gap, +-inf, or a value no ADC or electrode can
  produce (see :func:`valid_input_range`) is flagged ``INVALID`` and
  becomes a gap (NaN, ``MISSING``) before anything else sees it.
"""

from __future__ import annotations

import math

import numpy as np

from biofeedback.core.types import Flag, StreamInfo
from biofeedback.dsp.filters import SosFilter

__all__ = [
    "ABSURD_UV",
    "ClipDetector",
    "GapTracker",
    "QualitySummary",
    "WindowQuality",
    "deviation",
    "find_invalid",
    "run_lengths",
    "screen_input",
    "valid_input_range",
]

_MAINS = np.uint16(Flag.MAINS)
_MOTION = np.uint16(Flag.MOTION)
_FLAT = np.uint16(Flag.FLAT)

#: Effectively infinite run length: "a gap since forever" before the first sample.
_FOREVER = np.int64(2**62)


def run_lengths(cond: np.ndarray, carry: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Length of the run of True ending at each sample (0 where False).

    ``cond`` [rows, n] bool; ``carry`` [rows] int64 = run length at the end of the previous
    block. Returns ``(runs [rows, n] int64, new_carry [rows])``.
    """
    rows, n = cond.shape
    if n == 0:
        return np.zeros((rows, 0), dtype=np.int64), carry.copy()
    pos = np.arange(1, n + 1, dtype=np.int64)
    last_false = np.where(cond, 0, pos)
    np.maximum.accumulate(last_false, axis=1, out=last_false)
    runs = pos - last_false
    runs += np.where(last_false == 0, carry[:, None], 0)
    return runs, runs[:, -1].copy()


def deviation(samples: np.ndarray, mid: np.ndarray, half: np.ndarray) -> tuple[bool, np.ndarray]:
    """``(all |samples - mid| < half, |samples - mid|)``: False when any value is NaN or at or
    beyond the limit. ``mid``/``half`` broadcast against ``samples`` [n, columns]."""
    dev = samples - mid
    np.abs(dev, out=dev)
    inside = dev < half  # False for NaN and clipped
    return bool(np.count_nonzero(inside) == inside.size), dev


class ClipDetector:
    """Flags input samples at or near an ADC rail and holds the flag for ``blank`` samples after.

    Works on the raw input columns ``[columns, n]``. A sample of column c is clipped when
    ``|value - mid[c]| >= half[c]`` (use ``half = inf`` for columns that cannot clip; put ``mid``
    far below zero to test only the upper rail). The same test also says whether a block is
    clean at all (no NaN, nothing clipped), which makes it the pipeline's first check.
    """

    def __init__(self, mid: np.ndarray, half: np.ndarray, blank: int) -> None:
        self.mid = np.asarray(mid, dtype=np.float64)
        self.half = np.asarray(half, dtype=np.float64)
        self.blank = int(blank)
        self.reset()

    def reset(self) -> None:
        """Forget the last clipped sample."""
        self._last = np.full(len(self.mid), -_FOREVER, dtype=np.int64)
        self._last_max = -int(_FOREVER)

    def clean(
        self, samples: np.ndarray, mid: np.ndarray | None = None, half: np.ndarray | None = None
    ) -> tuple[bool, np.ndarray]:
        """For samples [n, columns]: (no NaN and nothing clipped, deviations for :meth:`process`).

        ``mid``/``half`` may be given already broadcast to the block's shape (faster).
        """
        return deviation(
            samples, self.mid if mid is None else mid, self.half if half is None else half
        )

    def holding(self, first_index: int) -> bool:
        """Is a block starting at ``first_index`` still within the hold after a clipped sample?"""
        return first_index - self._last_max <= self.blank

    def process(self, dev: np.ndarray, first_index: int) -> np.ndarray | None:
        """Clip flags [columns, n] (with blanking) from :meth:`clean`'s ``dev`` [n, columns], or
        None when nothing is flagged. NaN samples never count as clipped."""
        clipped = (dev >= self.half).T
        n = clipped.shape[1]
        if not np.count_nonzero(clipped) and first_index - self._last_max > self.blank:
            return None
        idx = np.arange(first_index, first_index + n, dtype=np.int64)
        last = np.where(clipped, idx, -_FOREVER)
        last[:, 0] = np.maximum(last[:, 0], self._last)
        np.maximum.accumulate(last, axis=1, out=last)
        self._last = last[:, -1].copy()
        self._last_max = int(self._last.max())
        out = (idx - last) <= self.blank
        return out if np.count_nonzero(out) else None


class WindowQuality:
    """The window-based rules, evaluated every ``step`` samples on the sample clock.

    At each evaluation point (``origin + m * step``) the moving-window sums at that sample give:

    - mains: P(mains parts) > ``mains_ratio`` x P(band), for ``sustain`` points in a row;
    - motion (low band): P(low) > ``motion_ratio`` x P(band) and > ``motion_min_uv``^2 x count;
    - flat: window sum below ``flat_thr`` x count (RAW: in-band power; ENV: ENV level), for
      ``sustain`` points in a row;
    - motion (burst): mean square above ``burst_factor``^2 x its baseline, for at most
      ``burst_points`` points in a row. The baseline is an exponential average of the log mean
      square (time constant ``baseline_points``), started ``delay`` samples after a row's first
      sample and held over gaps; powers are raised to at least ``floor_power`` first.

    The flags found at a point hold for the samples from that point up to the next one. RAW rows
    come first (``n_raw`` of them), then ENV rows; mains and low-band rules apply to RAW only.
    """

    def __init__(
        self,
        n_raw: int,
        n_env: int,
        step: int,
        sustain: int,
        mains_ratio: float,
        motion_ratio: float,
        motion_min_uv: float,
        flat_thr: np.ndarray,
        burst_factor: float,
        burst_points: int,
        baseline_points: float,
        delay: int,
    ) -> None:
        self.kr, self.k = int(n_raw), int(n_raw) + int(n_env)
        self.step = max(1, int(step))
        self.sustain = max(1, int(sustain))
        self.mains_ratio = float(mains_ratio)
        self.motion_ratio = float(motion_ratio)
        self.motion_min2 = float(motion_min_uv) ** 2
        self.flat_thr = np.asarray(flat_thr, dtype=np.float64)[:, None]
        self.log_factor = 2.0 * math.log(burst_factor)
        self.burst_points = int(burst_points)
        self.delay = int(delay)
        a = math.exp(-1.0 / max(float(baseline_points), 1.0))
        self._ema = SosFilter(np.array([[1.0 - a, 0.0, 0.0, 1.0, -a, 0.0]]), self.k)
        self.floor_power = np.full(self.k, 1e-12)[:, None]
        self.reset()

    def reset(self, origin: int = 0) -> None:
        """Forget everything; evaluation points fall on ``origin + m * step``."""
        k = self.k
        self._next = int(origin)
        self._held = np.zeros(k, dtype=np.uint16)
        self._held_any = False
        self._zero_carry = np.zeros(k, dtype=np.int64)
        self._mains_run: np.ndarray | None = None  # run carries; None: no run going
        self._flat_run: np.ndarray | None = None
        self._burst_run: np.ndarray | None = None
        self._start_at = np.full(k, -1, dtype=np.int64)
        self._last_lp = np.zeros(k)
        self._ema.reset()

    def schedule(self, starts: dict[int, list[int]], first_index: int) -> None:
        """Note the rows' (re)starts in the block at ``first_index``; a row's first start
        schedules its burst baseline."""
        for r, positions in starts.items():
            if self._start_at[r] < 0 and positions:
                self._start_at[r] = first_index + positions[0] + self.delay

    def points(self, first_index: int, n: int) -> np.ndarray | None:
        """Positions (in the block) of the evaluation points in ``[first, first + n)``."""
        if self._next >= first_index + n:
            return None
        pts = np.arange(self._next - first_index, n, self.step)
        self._next = first_index + int(pts[-1]) + self.step
        return pts

    def _runs(self, cond: np.ndarray, name: str) -> np.ndarray | None:
        """Run lengths of ``cond`` continuing the carry ``name`` (None when no run is going)."""
        carry = getattr(self, name)
        if not np.count_nonzero(cond):
            if carry is not None:
                setattr(self, name, None)
            return None
        runs, new = run_lengths(cond, carry if carry is not None else self._zero_carry[: len(cond)])
        setattr(self, name, new)
        return runs

    def evaluate(
        self,
        pts: np.ndarray,
        first_index: int,
        p_band: np.ndarray | None,
        p_mains: np.ndarray | None,
        p_low: np.ndarray | None,
        flat_sum: np.ndarray,
        power: np.ndarray,
        count: np.ndarray,
        gaps: bool = True,
    ) -> np.ndarray:
        """Flag bits [rows, len(pts)] at the points; arrays are [rows, len(pts)] values there
        (``power``: mean square, NaN where the window holds no data; ``gaps=False`` promises
        there is none)."""
        kr = self.kr
        bits = np.zeros(power.shape, dtype=np.uint16)
        if kr:
            assert p_band is not None and p_mains is not None and p_low is not None  # RAW rows
            runs = self._runs(p_mains > self.mains_ratio * p_band, "_mains_run")
            if runs is not None:
                bits[:kr][runs >= self.sustain] |= _MAINS
            moving = p_low > self.motion_min2 * count[:kr]
            if np.count_nonzero(moving):
                moving &= p_low > self.motion_ratio * p_band
                bits[:kr][moving] |= _MOTION
        runs = self._runs(flat_sum < self.flat_thr * count, "_flat_run")
        if runs is not None:
            bits[runs >= self.sustain] |= _FLAT
        # burst: log mean square against its slow baseline
        lp = np.log(np.maximum(power, self.floor_power))
        if gaps and np.count_nonzero(np.isnan(lp)):  # hold the last log power over gaps
            m = lp.shape[1]
            pos = np.where(np.isnan(lp), -1, np.arange(m))
            np.maximum.accumulate(pos, axis=1, out=pos)
            held = np.take_along_axis(lp, np.maximum(pos, 0), axis=1)
            lp = np.where(pos >= 0, held, self._last_lp[:, None])
        self._last_lp = lp[:, -1]
        if self._ema.all_started:
            base = lp.copy()
            self._ema.filter_inplace(base)
        else:
            begin: dict[int, list[int]] = {}
            abs_pts = pts + first_index
            for r in np.flatnonzero(~self._ema.started):
                if self._start_at[r] >= 0:
                    hit = np.flatnonzero(abs_pts >= self._start_at[r])
                    if len(hit):
                        begin[int(r)] = [int(hit[0])]
            # rows whose baseline has not started yet get base = lp: never a burst
            base = self._ema.process(lp, begin, autostart=False)
        base += self.log_factor
        runs = self._runs(lp > base, "_burst_run")
        if runs is not None:
            bits[(runs > 0) & (runs <= self.burst_points)] |= _MOTION
        return bits

    def expand(self, pts: np.ndarray | None, bits: np.ndarray | None, n: int) -> np.ndarray | None:
        """Per-sample flags [rows, n] from the held flags and the new points, or None if none."""
        if pts is None:
            if not self._held_any:
                return None
            return np.repeat(self._held[:, None], n, axis=1)
        assert bits is not None  # evaluated at the points
        held, held_any = self._held, self._held_any
        self._held = bits[:, -1].copy()
        if not np.count_nonzero(bits):
            self._held_any = False
            if not held_any:
                return None
        else:
            self._held_any = bool(np.count_nonzero(self._held))
        states = np.concatenate([held[:, None], bits], axis=1)
        lengths = np.diff(np.concatenate([[0], pts, [n]]))
        return np.repeat(states, lengths, axis=1)


class GapTracker:
    """Finds missing samples, holds the last value over them and says where filters restart.

    A row (re)starts at its first valid sample and at the first valid sample after a run of
    more than ``reset_len`` missing samples. Shorter gaps are bridged by holding the last valid
    value (the filters run on, the held samples stay marked missing).
    """

    def __init__(self, n_rows: int, reset_len: int) -> None:
        self.n_rows = int(n_rows)
        self.reset_len = int(reset_len)
        self.reset()

    def reset(self) -> None:
        """Back to "nothing seen yet"."""
        self._last_value = np.zeros(self.n_rows)
        self._missing_run = np.full(self.n_rows, _FOREVER, dtype=np.int64)
        self.settled = False

    def hold_last(self, *rows: np.ndarray | None) -> None:
        """Remember the last values of a block processed without gaps (row groups in order)."""
        self._last_value = np.concatenate([r for r in rows if r is not None])

    def process(self, x: np.ndarray, valid: np.ndarray) -> dict[int, list[int]]:
        """Fill ``x`` [rows, n] in place where ``valid`` is False; return the restarts (row ->
        positions in this block)."""
        n = x.shape[1]
        if n == 0:
            return {}
        runs, new_carry = run_lengths(~valid, self._missing_run)
        prev = np.empty_like(runs)
        prev[:, 0] = self._missing_run
        prev[:, 1:] = runs[:, :-1]
        restart_mask = valid & (prev > self.reset_len)
        restarts: dict[int, list[int]] = {}
        for r, p in zip(*np.nonzero(restart_mask), strict=True):
            restarts.setdefault(int(r), []).append(int(p))
        pos = np.where(valid, np.arange(n), -1)
        np.maximum.accumulate(pos, axis=1, out=pos)
        held = np.take_along_axis(x, np.maximum(pos, 0), axis=1)
        x[...] = np.where(pos >= 0, held, self._last_value[:, None])
        self._last_value = x[:, -1].copy()
        self._missing_run = new_carry
        self.settled = not new_carry.any()
        return restarts


#: Largest believable value at the electrodes (10 V) for inputs that are not ADC counts of a
#: known ADC: skin potentials are millivolts (EMG < 10 mV, electrode offsets < 0.5 V), and no
#: amplifier input survives 10 V. Beyond it a number is corrupt, not a signal.
ABSURD_UV = 1e7
_INVALID = np.uint16(Flag.INVALID)
_MISSING = np.uint16(Flag.MISSING)


def valid_input_range(info: StreamInfo) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest believable input value per input column (``lo``, ``hi`` arrays).

    ADC counts of a known ADC (full scale ``F = 2**bits - 1``): ``-F .. 2F``, one full scale
    beyond either rail, which no ADC produces whatever the sketch's offset convention. Other
    inputs (uV, mV, V, counts of an unknown ADC): ``|value x scale_uv| <= ABSURD_UV`` (10 V at
    the electrodes). NaN the source did not mark as a gap, +-inf and values outside these limits
    are flagged :attr:`Flag.INVALID` by :meth:`biofeedback.dsp.pipeline.Pipeline.process` and treated as a gap.
    """
    n = info.n_channels
    full = info.full_scale
    if full is not None:
        return np.full(n, -full), np.full(n, 2.0 * full)
    scale = np.array([abs(ch.scale_uv) for ch in info.channels], dtype=np.float64)
    with np.errstate(divide="ignore"):
        limit = np.where(scale > 0, ABSURD_UV / np.where(scale > 0, scale, 1.0), np.inf)
    return -limit, limit


def find_invalid(
    samples: np.ndarray, flags: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Invalid values in ``samples`` [n, cols] given the range ``lo``..``hi`` per column.

    NaN in a row flagged ``MISSING`` is a gap the source declared, not invalid. Returns None
    when nothing is invalid, else (a copy of the samples with NaN at the invalid values, a copy
    of ``flags`` [n] with ``INVALID`` on their rows, the invalid mask [n, cols]).
    """
    with np.errstate(invalid="ignore"):
        bad = ~((samples >= lo) & (samples <= hi))
    if not np.count_nonzero(bad):
        return None
    gap_rows = (flags & _MISSING) != 0
    if np.count_nonzero(gap_rows):
        bad &= ~(np.isnan(samples) & gap_rows[:, None])
        if not np.count_nonzero(bad):
            return None
    fixed = samples.copy()
    fixed[bad] = np.nan
    new_flags = np.array(flags, dtype=np.uint16, copy=True)
    new_flags[bad.any(axis=1)] |= _INVALID
    return fixed, new_flags, bad


def screen_input(
    info: StreamInfo, samples: np.ndarray, flags: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(samples, flags)`` with invalid values (see :func:`valid_input_range`) made NaN and their
    rows flagged ``INVALID``; the inputs themselves when nothing is invalid. For writers that
    store samples without running the pipeline (file import)."""
    lo, hi = valid_input_range(info)
    values = np.asarray(samples, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    found = find_invalid(values, np.asarray(flags, dtype=np.uint16), lo, hi)
    return (samples, flags) if found is None else (found[0], found[1])


#: Flag bits reported in summaries, with the names used by :meth:`Flag.describe`.
SUMMARY_FLAGS: dict[str, Flag] = {
    "gap": Flag.MISSING,
    "clipping": Flag.CLIPPED,
    "flat": Flag.FLAT,
    "mains": Flag.MAINS,
    "motion": Flag.MOTION,
    "settling": Flag.SETTLING,
    "invalid": Flag.INVALID,
}


class QualitySummary:
    """Running totals of the quality flags per output channel, and the mains ratio.

    ``as_dict()`` gives the fraction of samples with each flag (and with any flag) and, per RAW
    output, the mains ratio (power near the mains over in-band power, before the notch) at the
    last quality evaluation and averaged over all of them (power-weighted; None for ENV).
    """

    def __init__(self, names: list[str], raw_rows: np.ndarray | None = None) -> None:
        self.names = list(names)
        self._raw_rows = raw_rows  # output positions of the RAW outputs
        self.reset()

    def reset(self) -> None:
        """Start counting again."""
        k = len(self.names)
        self.samples = 0
        self.counts = {name: np.zeros(k, dtype=np.int64) for name in SUMMARY_FLAGS}
        self.any_flag = np.zeros(k, dtype=np.int64)
        nr = 0 if self._raw_rows is None else len(self._raw_rows)
        self._p_mains = np.zeros(nr)
        self._p_band = np.zeros(nr)
        self._last_mains: np.ndarray | None = None
        self._last_band: np.ndarray | None = None
        self._p_by_hz: dict[float, np.ndarray] = {}

    def add_mains(
        self,
        p_mains: np.ndarray,
        p_band: np.ndarray,
        parts: dict[float, np.ndarray] | None = None,
    ) -> None:
        """Add RAW window powers [k_raw, m] near the mains and in band at m evaluation points.

        ``parts`` optionally gives the powers near each mains frequency (Hz -> [k_raw, m]) when
        several are measured; ``p_mains`` is then their maximum.
        """
        self._last_mains, self._last_band = p_mains[:, -1], p_band[:, -1]
        for hz, p in (parts or {}).items():
            acc = self._p_by_hz.get(hz)
            if acc is None:
                acc = self._p_by_hz[hz] = np.zeros(len(self._p_band))
            acc += p.sum(axis=1)
        if p_mains.shape[1] == 1:
            self._p_mains += self._last_mains
            self._p_band += self._last_band
        else:
            self._p_mains += p_mains.sum(axis=1)
            self._p_band += p_band.sum(axis=1)

    def update(self, flags: np.ndarray) -> None:
        """Add a block of flags [n, k]."""
        self.samples += len(flags)
        if not np.count_nonzero(flags):
            return
        for name, bit in SUMMARY_FLAGS.items():
            self.counts[name] += np.count_nonzero(flags & bit, axis=0)
        self.any_flag += np.count_nonzero(flags, axis=0)

    def fractions(self) -> dict[str, list[float]]:
        """Fraction (0-1) of samples with each flag, per channel, plus ``"any"``."""
        total = max(self.samples, 1)
        out = {name: (c / total).tolist() for name, c in self.counts.items()}
        out["any"] = (self.any_flag / total).tolist()
        return out

    def mains_ratio(self) -> tuple[list[float | None], list[float | None]]:
        """(last, mean) mains ratio per output; None for ENV outputs or before any data."""
        k = len(self.names)
        last: list[float | None] = [None] * k
        mean: list[float | None] = [None] * k
        if self._raw_rows is None or self._last_mains is None or self._last_band is None:
            return last, mean
        for j, pos in enumerate(self._raw_rows):
            if self._last_band[j] > 0:
                last[pos] = round(float(self._last_mains[j] / self._last_band[j]), 4)
            if self._p_band[j] > 0:
                mean[pos] = round(float(self._p_mains[j] / self._p_band[j]), 4)
        return last, mean

    def mains_ratio_by_hz(self) -> dict[float, list[float | None]]:
        """Mean mains ratio per measured mains frequency (Hz -> per output; None for ENV).

        Empty when only one frequency is measured (or before any data)."""
        k = len(self.names)
        out: dict[float, list[float | None]] = {}
        if self._raw_rows is None:
            return out
        for hz, acc in sorted(self._p_by_hz.items()):
            ratios: list[float | None] = [None] * k
            for j, pos in enumerate(self._raw_rows):
                if self._p_band[j] > 0:
                    ratios[pos] = round(float(acc[j] / self._p_band[j]), 4)
            out[hz] = ratios
        return out

    def mains_hum_hz(self) -> list[float | None]:
        """Per output, the mains frequency (50 or 60 Hz) with the larger mean hum; None for ENV
        outputs or when only one frequency is measured."""
        best: list[float | None] = [None] * len(self.names)
        top: list[float] = [-1.0] * len(self.names)
        for hz, ratios in self.mains_ratio_by_hz().items():
            for pos, r in enumerate(ratios):
                if r is not None and r > top[pos]:
                    best[pos], top[pos] = hz, r
        return best

    def as_dict(self) -> dict[str, object]:
        """JSON-ready summary."""
        last, mean = self.mains_ratio()
        return {
            "channels": self.names,
            "samples": self.samples,
            "fraction": self.fractions(),
            "mains_ratio_last": last,
            "mains_ratio_mean": mean,
            "mains_ratio_by_hz": {f"{hz:g}": r for hz, r in self.mains_ratio_by_hz().items()},
        }
