"""Amplitude: causal moving sums and RMS, unit conversion, noise-floor correction.

:class:`MovingSum` is the workhorse of the live path: the sum of the last ``window`` values of
each row, updated block by block. It never accumulates rounding drift and gives *bit-identical*
results however the stream is cut into blocks: time is split into fixed windows counted from
the start, the sum for a sample is (suffix sum of the previous window) + (prefix sum of the
current window), and every prefix or suffix is a plain sequential sum over at most one window of
values. So after any amount of streaming the error is that of summing one or two windows.

:class:`EnvelopeStage` is the pipeline's envelope stage: one moving sum over every row the
envelope and the window-quality rules need (:class:`biofeedback.dsp.layout.SumRows`).
"""

from __future__ import annotations

import numpy as np

from biofeedback.dsp.layout import SumRows

__all__ = [
    "EnvelopeStage",
    "MovingSum",
    "counts_to_uv",
    "linear_envelope",
    "moving_rms",
    "quadrature_correct",
]


class MovingSum:
    """Causal moving sum over the last ``window`` samples of ``n_cols`` columns.

    Feed blocks shaped ``[n, cols]`` (time along the first axis); the result for each sample
    includes that sample. Before ``window`` samples have been seen the sum covers what has been
    seen.

    Time is cut into fixed windows counted from the first sample. Within the current window a
    running prefix sum ``P`` is kept (``P[0] = 0``, ``P[j + 1] = P[j] + q[j]``, always summed in
    this order); when a window completes, its suffix sums ``P[W] - P[j]`` are kept. The moving
    sum at offset ``o`` is ``P[o + 1] + suffix_prev[o + 1]``. Every number is computed by the
    same operations in the same order whatever the block sizes, so the output is bit-identical
    for any chunking, and rounding never accumulates beyond two windows.
    """

    def __init__(self, window: int, n_cols: int) -> None:
        if window < 1:
            raise ValueError(f"moving window must be at least one sample, got {window}")
        self.window = int(window)
        self.n_cols = int(n_cols)
        self.reset()

    def reset(self) -> None:
        """Forget all history."""
        w, c = self.window, self.n_cols
        self._prefix = np.zeros((w + 1, c))  # running prefix of the current window; [0] = 0
        self._suf = np.zeros((w + 1, c))  # suffix sums of the previous window; [w] = 0
        self._pos = 0  # samples of the current window seen

    def _advance(self, q: np.ndarray) -> np.ndarray:
        """Sums for ``q`` that does not run past the end of the current window."""
        a = self._pos
        e = a + len(q)
        seg = self._prefix[a : e + 1]
        seg[1:] = q
        np.add.accumulate(seg, axis=0, out=seg)
        out = seg[1:] + self._suf[a + 1 : e + 1]
        if e == self.window:
            self._suf = self._prefix[e : e + 1] - self._prefix
            self._pos = 0
        else:
            self._pos = e
        return out

    def process(self, q: np.ndarray) -> np.ndarray:
        """Moving sums for the block ``q`` [n, cols]; returns [n, cols]."""
        w, pos = self.window, self._pos
        n, cols = q.shape
        if pos + n <= w:  # the common live case: the block stays within the current window
            return self._advance(q)
        out = np.empty((n, cols))
        i = 0
        if pos:
            i = w - pos
            out[:i] = self._advance(q[:i])
        rest = n - i
        if rest <= w:  # live blocks cross at most one window boundary
            out[i:] = self._advance(q[i:])
            return out
        n_blocks = -(-rest // w)
        flat = np.zeros((n_blocks * w, cols))
        flat[:rest] = q[i:]
        # layout [offset, block, col]: the running sums go across blocks in one vector step
        prefix = np.empty((w + 1, n_blocks, cols))
        prefix[0] = 0.0
        prefix[1:] = flat.reshape(n_blocks, w, cols).transpose(1, 0, 2)
        np.add.accumulate(prefix, axis=0, out=prefix)
        suffix = np.empty((w + 1, n_blocks, cols))
        suffix[:, 0] = self._suf
        suffix[:, 1:] = prefix[w : w + 1, :-1] - prefix[:, :-1]
        sums = prefix[1:] + suffix[1:]
        out[i:] = sums.transpose(1, 0, 2).reshape(n_blocks * w, cols)[:rest]
        complete, rem = divmod(rest, w)
        if complete:
            self._suf = prefix[w : w + 1, complete - 1] - prefix[:, complete - 1]
        if rem:
            self._prefix[: rem + 1] = prefix[: rem + 1, complete]
        self._pos = rem
        return out


class EnvelopeStage:
    """Moving mean square (RAW) and moving mean (ENV) over the RMS window, with valid counts.

    Per block: :meth:`input_rows` gives the moving sum's input [n, cols] (the RAW filter stage
    may use its squared rows as scratch), :meth:`process` fills it from the filtered RAW rows
    and the ENV rows, weights it by the valid samples where the block has gaps, and returns the
    moving sums and the power per output (RAW: mean square; ENV: squared mean; NaN where the
    window holds no valid sample).
    """

    def __init__(self, rows: SumRows, window: int) -> None:
        self.rows = rows
        self.window = int(window)
        self._sum = MovingSum(self.window, rows.n_cols)
        # input buffers by block length, reused (the moving sum copies what it needs); their
        # count columns hold ones
        self._buf: dict[int, np.ndarray] = {}

    def reset(self) -> None:
        """Forget all history."""
        self._sum.reset()

    def input_rows(self, n: int) -> np.ndarray:
        """The moving sum's input buffer [n, cols] for a block of ``n`` samples."""
        q = self._buf.get(n)
        if q is None:
            q = np.empty((n, self.rows.n_cols))
            q[:, self.rows.o_v :] = 1.0
            if n <= 4096:
                if len(self._buf) > 16:
                    self._buf.clear()
                self._buf[n] = q
        return q

    def process(
        self,
        q: np.ndarray,
        work: np.ndarray | None,
        env: np.ndarray | None,
        valid: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Moving sums [n, cols] and power [n, k] for the block whose input buffer is ``q``.

        ``work`` [o_e, n]: the RAW filter stage's rows; ``env`` [ke, n]: ENV rows; ``valid``
        [k, n]: valid samples per output row (None: all valid).
        """
        r = self.rows
        kr, o_e, o_v = r.kr, r.o_e, r.o_v
        qt = q.T
        if work is not None:
            np.multiply(work, work, out=qt[:o_e])
        if env is not None:
            qt[o_e:o_v] = env
        if valid is not None:
            validf = valid.astype(np.float64)
            if kr:
                qt[:o_e] *= np.tile(validf[:kr], (o_e // kr, 1))
            if r.ke:
                qt[o_e:o_v] *= validf[kr:]
            qt[o_v:] = validf
            self._buf.pop(len(q), None)  # its count columns no longer hold ones
        sums = self._sum.process(q)
        cnt = sums[:, o_v:]
        if valid is not None:
            none = cnt == 0
            cnt = np.maximum(cnt, 1.0)
        power = sums[:, r.o_y : o_v] / cnt  # RAW: mean square; ENV: mean, squared next
        if r.ke:
            mean_env = power[:, kr:]
            np.multiply(mean_env, mean_env, out=mean_env)
        if valid is not None:
            power[none] = np.nan
        return sums, power


def moving_rms(x: np.ndarray, window: int) -> np.ndarray:
    """Causal moving RMS of ``x`` [n] or [n, ch] over ``window`` samples (offline helper).

    The first ``window - 1`` outputs average over the samples available so far. NaN samples are
    left out of the average; where a whole window is NaN the result is NaN.
    """
    a = np.asarray(x, dtype=np.float64)
    one_d = a.ndim == 1
    cols = a[:, None] if one_d else a
    valid = np.isfinite(cols)
    sq = np.where(valid, cols, 0.0) ** 2
    k = cols.shape[1]
    ms = MovingSum(window, 2 * k).process(np.hstack([sq, valid.astype(float)]))
    count = ms[:, k:]
    rms = np.sqrt(np.maximum(ms[:, :k], 0.0) / np.maximum(count, 1.0))
    rms[count == 0] = np.nan
    return rms[:, 0] if one_d else rms


def counts_to_uv(
    counts: np.ndarray, scale_uv: float | np.ndarray, offset: float = 0.0
) -> np.ndarray:
    """Input units to microvolts at the electrodes: ``(counts - offset) * scale_uv``."""
    return (np.asarray(counts, dtype=np.float64) - offset) * scale_uv


def quadrature_correct(rms_uv: np.ndarray, floor_uv: float | np.ndarray) -> np.ndarray:
    """Remove an uncorrelated noise floor: ``sqrt(max(rms^2 - floor^2, 0))``.

    Uncorrelated powers add, so the signal's RMS is the quadrature difference; where the reading
    is below the floor the signal is taken as zero (docs/signal-processing.md, "Noise floor").
    """
    r = np.asarray(rms_uv, dtype=np.float64)
    f = np.asarray(floor_uv, dtype=np.float64)
    return np.sqrt(np.maximum(r * r - f * f, 0.0))


def linear_envelope(x: np.ndarray, fs_hz: float, cutoff_hz: float = 6.0) -> np.ndarray:
    """Offline report envelope: rectify, then 2nd-order Butterworth low-pass, zero-phase.

    Only for reports (it looks into the future); ``x`` [n] or [n, ch] should already be
    band-passed and free of NaN.
    """
    from scipy import signal

    a = np.asarray(x, dtype=np.float64)
    sos = signal.butter(2, cutoff_hz, btype="lowpass", fs=fs_hz, output="sos")
    return signal.sosfiltfilt(sos, np.abs(a), axis=0)
