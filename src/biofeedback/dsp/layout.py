"""Where things are: a stream's input columns, the pipeline's internal rows and its outputs.

Inside the pipeline the outputs are *rows*: all RAW outputs first, then all ENV outputs
(:class:`ChannelLayout`), so that each path works on one contiguous block of rows. The one
moving sum the envelope and the window-quality rules share has the columns listed in
:class:`SumRows`. Both are fixed when the pipeline is built and never change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from biofeedback.core.types import ChannelKind, StreamInfo
from biofeedback.dsp.settings import PipelineSettingsError

__all__ = ["ChannelLayout", "SumRows"]

T = TypeVar("T")


def _selector(cols: list[int]) -> slice | np.ndarray:
    """A slice when the columns are consecutive (a view, no copy), else an index array."""
    if cols and cols == list(range(cols[0], cols[-1] + 1)):
        return slice(cols[0], cols[-1] + 1)
    return np.array(cols, dtype=np.intp)


class ChannelLayout:
    """Input columns by kind and the mapping between internal rows and outputs.

    ``raw_cols``/``env_cols``/``ref_cols``: input columns of each kind; ``refs``: the REF column
    of each RAW column (one REF for all, or one per RAW; empty without REF). Outputs are in
    input-column order; ``perm`` maps output positions to internal rows (None: same order).
    """

    def __init__(self, info: StreamInfo) -> None:
        kinds = [ch.kind for ch in info.channels]
        raw = [i for i, k in enumerate(kinds) if k == ChannelKind.RAW]
        env = [i for i, k in enumerate(kinds) if k == ChannelKind.ENV]
        ref = [i for i, k in enumerate(kinds) if k == ChannelKind.REF]
        if not raw and not env:
            raise PipelineSettingsError(
                "the stream has no RAW or ENV channel to process: connect the MyoWare RAW and/or "
                "ENV output and name the channels (e.g. channels=raw,env)"
            )
        if ref and len(ref) not in (1, len(raw)):
            raise PipelineSettingsError(
                f"{len(raw)} RAW channels but {len(ref)} REF channels: give one REF for "
                f"all, or one REF per RAW channel"
            )
        self.raw_cols, self.env_cols, self.ref_cols = raw, env, ref
        self.refs: list[int] = (ref * len(raw) if len(ref) == 1 else ref) if ref else []
        self.kr, self.ke = len(raw), len(env)
        self.k = self.kr + self.ke
        # RAW and ENV of the same sensors (as many of each, paired in order): ENV outputs
        # inherit RAW's mains and flat flags
        self.env_inherits = self.kr > 0 and self.kr == self.ke
        internal = raw + env
        order = sorted(internal)
        self.perm: np.ndarray | None = (
            None if internal == order else np.array([internal.index(c) for c in order])
        )
        self.raw_out_pos = [order.index(c) for c in raw]
        self.raw_sel = _selector(raw)
        self.env_sel = _selector(env)
        self.ref_sel: int | slice | np.ndarray | None = None
        if self.refs:
            self.ref_sel = self.refs[0] if len(set(self.refs)) == 1 else _selector(self.refs)
        # input column of each internal row, and of each RAW row's REF (clipping on either)
        self.clip_rows = np.array(internal, dtype=np.intp)
        self.clip_ref_rows = np.array(self.refs, dtype=np.intp) if self.refs else None

    def internal_row(self, out_pos: int) -> int:
        """Internal row of the output at ``out_pos``."""
        return out_pos if self.perm is None else int(self.perm[out_pos])

    def to_outputs(self, rows: Sequence[T]) -> list[T]:
        """Per-internal-row values in output order."""
        return list(rows) if self.perm is None else [rows[i] for i in self.perm]

    def from_outputs(self, values: Sequence[T]) -> list[T]:
        """Per-output values in internal-row order."""
        if self.perm is None:
            return list(values)
        out = list(values)
        for pos, row in enumerate(self.perm):
            out[row] = values[pos]
        return out

    def bad_outputs(self, bad: np.ndarray) -> np.ndarray:
        """Per internal row [k, n]: fed by an invalid input value (RAW: its RAW or REF column)."""
        cols = bad.T
        rows = []
        if self.kr:
            raw = cols[self.raw_cols]
            if self.refs:
                raw = raw | cols[self.refs]
            rows.append(raw)
        if self.ke:
            rows.append(cols[self.env_cols])
        return np.concatenate(rows) if len(rows) > 1 else rows[0]


class SumRows:
    """Columns of the shared moving sum (time along axis 0).

    RAW (``kr`` rows each): squares of the band-passed signal, of the ``n_mains`` mains parts
    (band-passed minus notched, one group per notch bank; at least one group), of the low band
    (motion) and of the output; then the ENV values (``ke``); then one valid-sample count per
    output (``k``). ``o_l``, ``o_y``, ``o_e``, ``o_v`` are where the low band, the RAW output,
    the ENV values and the counts start; ``n_cols`` is the total.
    """

    def __init__(self, kr: int, ke: int, n_mains: int) -> None:
        nm = max(1, n_mains) if kr else 0
        self.kr, self.ke, self.n_mains = kr, ke, nm
        self.o_l = kr * (1 + nm)
        self.o_y = kr * (2 + nm)
        self.o_e = kr * (3 + nm)
        self.o_v = self.o_e + ke
        self.n_cols = self.o_v + kr + ke
        # what the flat rule sums: RAW in-band power and ENV level
        self.flat_rows = np.r_[0:kr, self.o_e : self.o_v]
