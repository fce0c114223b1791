"""The first stages of a block: screening, offset and scale, gaps.

:class:`InputStage` checks a block of input columns (one test tells an ordinary block apart: every
value within the clip limits), screens out invalid values (see
:func:`biofeedback.dsp.quality.valid_input_range`), and turns the columns into rows in uV at the
electrodes: RAW rows ``(RAW - REF) x scale_uv``, ENV rows ``ENV x scale_uv x arv_to_rms``. When all
RAW channels share one ADC scale, the scale is folded into the RAW filters instead (the RAW rows
then stay in ADC counts; one multiplication less per block).

:class:`GapStage` holds the last value over missing samples and says where rows restart
(:class:`biofeedback.dsp.quality.GapTracker`); blocks without a gap skip it.
"""

from __future__ import annotations

import numpy as np

from biofeedback.core.hardware import myoware_env_gain
from biofeedback.core.types import Chunk, Flag, StreamInfo, counts_to_uv_scale
from biofeedback.dsp.layout import ChannelLayout
from biofeedback.dsp.quality import GapTracker, deviation, find_invalid, valid_input_range
from biofeedback.dsp.settings import PipelineSettings

__all__ = ["GapStage", "InputBlock", "InputStage"]

_MISSING = np.uint16(Flag.MISSING)


class InputBlock:
    """One block after screening: what the later stages need to know about the input.

    ``samples``/``flags``: the block (new arrays when invalid values were screened out);
    ``clean``: every value within the clip limits (so no NaN, nothing clipped or invalid);
    ``dev``: |value - clip mid| per sample and column (NaN at invalid values);
    ``any_flag``/``missing``: some input flag / some ``MISSING`` flag set; ``bad_out``: per
    internal row [k, n], fed by an invalid value, or None; ``consts``: the input stage's
    constants for blocks of this length.
    """

    __slots__ = (
        "any_flag",
        "bad_out",
        "clean",
        "consts",
        "dev",
        "first",
        "flags",
        "missing",
        "samples",
    )

    def __init__(self, first: int, samples: np.ndarray, flags: np.ndarray) -> None:
        self.first = first
        self.samples = samples
        self.flags = flags
        self.clean = True
        self.consts: tuple[np.ndarray, ...] = ()
        self.dev = samples
        self.any_flag = False
        self.missing = False
        self.bad_out: np.ndarray | None = None


class InputStage:
    """Screening, offset and scale (see the module docstring).

    It holds no signal history; its only state is the blocks of the current chunk it screened,
    which :meth:`write_back` puts into the chunk.
    """

    def __init__(self, info: StreamInfo, layout: ChannelLayout, s: PipelineSettings) -> None:
        self._layout = layout
        raw_scale = np.array([info.channels[c].scale_uv for c in layout.raw_cols], dtype=float)
        env_scale = np.array([info.channels[c].scale_uv for c in layout.env_cols], dtype=float)
        #: why a setting could not be used (empty when all were)
        self.note = ""
        if s.env_pot_kohm is not None and layout.ke:
            if info.units == "counts" and info.adc_bits and info.vref_v:
                env_scale[:] = counts_to_uv_scale(
                    info.vref_v, info.adc_bits, myoware_env_gain(s.env_pot_kohm)
                )
            else:
                self.note = "env_pot_kohm ignored: the ENV input is not ADC counts"
        self.raw_scale = raw_scale
        self.env_scale = env_scale
        self._raw_scale = raw_scale[:, None]
        self._env_factor = (env_scale * s.arv_to_rms)[:, None]
        # with one ADC scale for all RAW channels (the usual case) the RAW filters take the scale
        self.fold_scale = bool(layout.kr and np.all(raw_scale == raw_scale[0]))
        self.filter_gain = float(raw_scale[0]) if self.fold_scale else 1.0
        self._set_limits(info, layout, s)
        self._consts: dict[int, tuple[np.ndarray, ...]] = {}
        self._screened: list[tuple[int, np.ndarray, np.ndarray]] = []

    def reset(self) -> None:
        """Forget the screened blocks not written back (a new chunk starts)."""
        self._screened.clear()

    def write_back(self, chunk: Chunk, flags: np.ndarray) -> None:
        """Put the screened samples and input flags of this chunk's blocks into the chunk (new
        arrays), so that what is buffered and stored is NaN + ``INVALID``, never the bad value."""
        if not self._screened:
            return
        samples, new_flags = chunk.samples.copy(), flags.copy()
        for block_first, block, block_flags in self._screened:
            i = block_first - chunk.first_index
            samples[i : i + len(block)] = block
            new_flags[i : i + len(block)] = block_flags
        self._screened.clear()
        chunk.samples, chunk.flags = samples, new_flags

    def _set_limits(self, info: StreamInfo, layout: ChannelLayout, s: PipelineSettings) -> None:
        """Clip limits (``clip_mid``, ``clip_half`` per input column) and the clean test's."""
        n_cols = info.n_channels
        mid = np.zeros(n_cols)
        half = np.full(n_cols, np.inf)
        full = info.full_scale
        if full is not None:
            clip_cols = layout.raw_cols + layout.ref_cols
            mid[clip_cols] = full / 2.0
            half[clip_cols] = (0.5 - s.clip_margin) * full
            # ENV: only the upper rail (ENV near zero is a relaxed muscle); the lower edge is
            # that of valid input, so the clean test also screens ENV
            mid[layout.env_cols] = (s.env_clip_fraction - 1.0) / 2.0 * full
            half[layout.env_cols] = (1.0 + s.env_clip_fraction) / 2.0 * full
        self.clip_mid, self.clip_half = mid, half
        # A block passing the clean test (all values within the clip limits, or within the
        # valid range where a column cannot clip) holds only valid values, so the usual block
        # pays nothing for screening.
        self._valid_lo, self._valid_hi = valid_input_range(info)
        no_clip = ~np.isfinite(half)
        self._screen_mid = np.where(no_clip, (self._valid_lo + self._valid_hi) / 2.0, mid)
        self._screen_mid[no_clip & ~np.isfinite(self._valid_hi)] = 0.0
        self._screen_half = np.where(no_clip, (self._valid_hi - self._valid_lo) / 2.0, half)

    def _block_consts(self, n: int) -> tuple[np.ndarray, ...]:
        """Make the per-block-length constants (cached up to 4096 samples), full-sized: same-shape
        numpy operations on small arrays cost less than broadcasting ones."""
        if len(self._consts) > 16:
            self._consts.clear()
        consts = (
            np.repeat(self._raw_scale, n, axis=1),
            np.repeat(self._env_factor, n, axis=1),
            np.repeat(self._screen_mid[None, :], n, axis=0),
            np.repeat(self._screen_half[None, :], n, axis=0),
        )
        if n <= 4096:
            self._consts[n] = consts
        return consts

    def screen(self, samples: np.ndarray, flags: np.ndarray, first: int) -> InputBlock:
        """The clean test and, when it fails, invalid values made NaN and flagged INVALID."""
        blk = InputBlock(first, samples, flags)
        n = len(samples)
        blk.consts = consts = self._consts.get(n) or self._block_consts(n)
        blk.clean, blk.dev = deviation(samples, consts[2], consts[3])
        blk.any_flag = bool(np.count_nonzero(flags))
        if not blk.clean:
            found = find_invalid(samples, flags, self._valid_lo, self._valid_hi)
            if found is not None:
                blk.samples, blk.flags, bad = found
                blk.dev[bad] = np.nan  # never counted as clipped
                blk.any_flag = True
                blk.bad_out = self._layout.bad_outputs(bad)
                self._screened.append((first, blk.samples, blk.flags))
        blk.missing = blk.any_flag and bool(np.count_nonzero(blk.flags & _MISSING))
        return blk

    def scale(self, blk: InputBlock, raw: np.ndarray | None, env: np.ndarray | None) -> None:
        """Write the RAW rows (uV, or ADC counts with ``fold_scale``) and the ENV rows (uV RMS
        equivalent) of the block into ``raw`` [kr, n] and ``env`` [ke, n]."""
        lay = self._layout
        st = blk.samples.T
        raw_scale, env_factor = blk.consts[0], blk.consts[1]
        if raw is not None:
            raw_in = st[lay.raw_sel]
            if lay.ref_sel is not None:
                np.subtract(raw_in, st[lay.ref_sel], out=raw)
                if not self.fold_scale:
                    raw *= raw_scale
            elif self.fold_scale:
                raw[...] = raw_in
            else:
                np.multiply(raw_in, raw_scale, out=raw)
        if env is not None:
            np.multiply(st[lay.env_sel], env_factor, out=env)


class GapStage:
    """Missing samples: held over, and restarts where a gap was long (see the module docstring)."""

    def __init__(self, kr: int, ke: int, reset_len: int) -> None:
        self._kr = kr
        self._tracker = GapTracker(kr + ke, reset_len)

    def reset(self) -> None:
        """Back to "nothing seen yet"."""
        self._tracker.reset()

    def process(
        self, blk: InputBlock, raw: np.ndarray | None, env: np.ndarray | None
    ) -> tuple[np.ndarray | None, dict[int, list[int]], dict[int, list[int]] | None]:
        """Fill the gaps of ``raw`` and ``env`` in place.

        Returns ``(valid, restarts, raw_restarts)``: ``valid`` [k, n] per internal row (None when
        the block has no gap and nothing is pending: the fast path), the restart positions per
        row and those of the RAW rows (None on the fast path).
        """
        tracker = self._tracker
        slow = blk.missing or not tracker.settled
        if not blk.clean and not slow:
            slow = bool(np.count_nonzero(np.isnan(blk.samples)))
        if not slow:
            # a gap starting the next block must hold this block's last value (as one call on
            # the whole array would)
            tracker.hold_last(
                raw[:, -1] if raw is not None else None, env[:, -1] if env is not None else None
            )
            return None, {}, None
        kr = self._kr
        if raw is None:
            assert env is not None  # a pipeline has RAW or ENV rows
            x = env.copy()
        else:
            x = np.concatenate([raw, env]) if env is not None else raw.copy()
        valid = np.isfinite(x)
        if blk.missing:
            valid &= ((blk.flags & _MISSING) == 0)[None, :]
        restarts = tracker.process(x, valid)
        if raw is not None:
            raw[...] = x[:kr]
        if env is not None:
            env[...] = x[kr:]
        return valid, restarts, {r: p for r, p in restarts.items() if r < kr}
