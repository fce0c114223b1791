"""The quality stage: per-sample flags for every output, and their running summary.

It combines the detectors of :mod:`biofeedback.dsp.quality`: input flags and gaps, invalid input,
clipping (with its hold), the window rules at their evaluation points (using the envelope stage's
moving sums), the flags a paired ENV output inherits from its RAW output, and SETTLING after each
(re)start. The rules and their thresholds are in docs/signal-processing.md.
"""

from __future__ import annotations

import math

import numpy as np

from biofeedback.core.hardware import AMPLIFIER_NOISE_UV
from biofeedback.core.types import Flag
from biofeedback.dsp.inputs import InputBlock
from biofeedback.dsp.layout import ChannelLayout, SumRows
from biofeedback.dsp.quality import ClipDetector, QualitySummary, WindowQuality
from biofeedback.dsp.settings import PipelineSettings

__all__ = ["QualityStage"]

_MISSING = np.uint16(Flag.MISSING)
_CLIPPED = np.uint16(Flag.CLIPPED)
_SETTLING = np.uint16(Flag.SETTLING)
_INVALID = np.uint16(Flag.INVALID)
#: Input flag bits given to every output of a row (INVALID is set per output instead).
_ROW_BITS = np.uint16(0xFFFF & ~int(Flag.INVALID))


class QualityStage:
    """Flags [n, k] per block (internal row order) and the :class:`QualitySummary` of a stream.

    ``clip_mid``/``clip_half``: clip limits per input column; ``bp_gain``: the pass-band gain
    folded into the RAW band-pass (powers of band-passed rows carry its square); ``mains_hz``:
    the notch banks' frequencies (one mains-part row group each); ``names``: output names.
    """

    def __init__(
        self,
        fs: float,
        s: PipelineSettings,
        layout: ChannelLayout,
        rows: SumRows,
        clip_limits: tuple[np.ndarray, np.ndarray],
        bp_gain: float,
        mains_hz: list[float],
        names: list[str],
    ) -> None:
        self._layout, self._rows, self._mains_hz = layout, rows, mains_hz
        kr, ke = layout.kr, layout.ke
        self._clip = ClipDetector(clip_limits[0], clip_limits[1], round(s.clip_blank_s * fs))
        self._settle_len = round((s.rms_window_s + s.settle_s) * fs)
        g2 = bp_gain**2 if kr else 1.0
        step = max(1, round(s.quality_step_s * fs))
        self._wq = WindowQuality(
            n_raw=kr,
            n_env=ke,
            step=step,
            sustain=math.ceil(s.sustain_s * fs / step),
            mains_ratio=s.mains_ratio_threshold,
            motion_ratio=s.motion_power_ratio / g2,
            motion_min_uv=s.motion_min_uv,
            # RAW: in-band power below flat_rms_uv^2; ENV: below half of what the amplifier's
            # own noise gives (a connected, powered sensor never reads that low)
            flat_thr=np.concatenate(
                [np.full(kr, s.flat_rms_uv**2 * g2), np.full(ke, 0.5 * AMPLIFIER_NOISE_UV)]
            ),
            burst_factor=s.burst_factor,
            burst_points=math.floor(s.burst_max_s * fs / step),
            baseline_points=s.burst_baseline_s * fs / step,
            delay=self._settle_len,
        )
        self._inherit_bits = np.zeros((kr, 1), dtype=np.uint16)
        #: running totals per output (output order)
        self.summary = QualitySummary(names, np.array(layout.raw_out_pos) if kr else None)
        self.reset()

    def set_floors(self, floor_uv: np.ndarray, raw_resolves_rest: list[bool]) -> None:
        """The outputs' noise floors (internal order) and whether each RAW output resolves rest."""
        # Window flags each paired ENV row takes over from its RAW row: MAINS always; FLAT only
        # when RAW resolves rest (on a coarse ADC a relaxed muscle leaves RAW flat while ENV,
        # amplified after rectification, still reads it)
        self._inherit_bits = np.array(
            [[Flag.MAINS | (Flag.FLAT if ok else 0)] for ok in raw_resolves_rest],
            dtype=np.uint16,
        )
        # bursts are judged against at least the floor (and never below 0.5 uV)
        self._wq.floor_power = (np.maximum(floor_uv, 0.5) ** 2)[:, None]

    def reset(self) -> None:
        """Forget all signal history (the summary keeps counting)."""
        self._clip.reset()
        self._wq.reset()
        self._settle_until = np.zeros(self._layout.k, dtype=np.int64)
        self._settle_max = -1

    def start(self, first: int) -> None:
        """Anchor the evaluation points at the stream's first sample ``first``."""
        self._wq.reset(origin=first)

    def process(
        self,
        blk: InputBlock,
        valid: np.ndarray | None,
        restarts: dict[int, list[int]],
        sums: np.ndarray,
        power: np.ndarray,
    ) -> tuple[np.ndarray, bool]:
        """Flags [n, k] for the block, and whether any may be set (False: all zero)."""
        n, first = len(blk.samples), blk.first
        if restarts:
            self._wq.schedule(restarts, first)
        fl = np.zeros((n, self._layout.k), dtype=np.uint16)
        flt = fl.T
        flagged = blk.any_flag or valid is not None
        if blk.any_flag:
            fl |= (blk.flags & _ROW_BITS)[:, None]
        if valid is not None:
            flt[~valid] |= _MISSING
        if blk.bad_out is not None:
            flt[blk.bad_out] |= _INVALID
        if (not blk.clean or self._clip.holding(first)) and self._clipping(flt, blk):
            flagged = True
        if self._window_flags(flt, sums, power, first, n, valid is not None):
            flagged = True
        if restarts or first < self._settle_max:
            self._settling(flt, restarts, first)
            flagged = True
        return fl, flagged

    def count(self, fl: np.ndarray, flagged: bool) -> None:
        """Add a block's flags [n, k] (output order) to the summary."""
        if flagged:
            self.summary.update(fl)
        else:
            self.summary.samples += len(fl)

    def _clipping(self, flt: np.ndarray, blk: InputBlock) -> bool:
        """Set CLIPPED on the rows fed by a clipped input (RAW: its RAW or REF column)."""
        c = self._clip.process(blk.dev, blk.first)
        if c is None:
            return False
        lay = self._layout
        hit = c[lay.clip_rows]
        if lay.clip_ref_rows is not None:
            hit[: lay.kr] |= c[lay.clip_ref_rows]
        flt[hit] |= _CLIPPED
        return True

    def _window_flags(
        self,
        flt: np.ndarray,
        sums: np.ndarray,
        power: np.ndarray,
        first: int,
        n: int,
        gaps: bool,
    ) -> bool:
        """The window rules' flags (held between evaluation points), inherited by ENV rows."""
        pts = self._wq.points(first, n)
        bits = None
        if pts is not None:
            bits = self._evaluate(pts, first, sums, power, gaps)
        wf = self._wq.expand(pts, bits, n)
        if wf is None:
            return False
        flt |= wf
        if self._layout.env_inherits:
            # ENV is the rectified, smoothed RAW of the same electrodes: hum or a dead
            # electrode seen on RAW is in ENV too (ENV alone cannot show either)
            kr = self._layout.kr
            flt[kr:] |= wf[:kr] & self._inherit_bits
        return True

    def _evaluate(
        self, pts: np.ndarray, first: int, sums: np.ndarray, power: np.ndarray, gaps: bool
    ) -> np.ndarray:
        r = self._rows
        kr = r.kr
        at = sums[pts].T  # [cols, points]
        p_band = p_mains = p_low = None
        if kr:
            p_band = at[:kr]
            p_mains = at[kr : 2 * kr]
            parts = None
            if len(self._mains_hz) > 1:  # 50 and 60 Hz: the larger hum counts
                p_other = at[2 * kr : 3 * kr]
                parts = {self._mains_hz[0]: p_mains, self._mains_hz[1]: p_other}
                p_mains = np.maximum(p_mains, p_other)
            p_low = at[r.o_l : r.o_y]
            self.summary.add_mains(p_mains, p_band, parts)
        # the flat rule: RAW in-band power and ENV level
        flat_sum = at[r.flat_rows] if kr and r.ke else (at[:kr] if kr else at[r.o_e : r.o_v])
        return self._wq.evaluate(
            pts, first, p_band, p_mains, p_low, flat_sum, power[pts].T, at[r.o_v :], gaps
        )

    def _settling(self, fl: np.ndarray, restarts: dict[int, list[int]], first: int) -> None:
        """Flag SETTLING for ``settle_len`` samples after each row's (re)start, across blocks."""
        for row in range(self._layout.k):
            stop = int(self._settle_until[row]) - first
            if stop > 0:
                fl[row, :stop] |= _SETTLING
        for row, positions in restarts.items():
            for p in positions:
                fl[row, p : p + self._settle_len] |= _SETTLING
            self._settle_until[row] = first + positions[-1] + self._settle_len
        self._settle_max = int(self._settle_until.max())
