"""The streaming EMG pipeline: input units -> microvolts at the electrodes -> RMS envelope + flags.

One :class:`Pipeline` per stream, built from its :class:`StreamInfo` and :class:`PipelineSettings`
(docs/signal-processing.md). It makes one output channel per RAW or ENV input, in input order:

- RAW path: ``(RAW - REF) x scale_uv`` (without REF the band-pass removes the offset) ->
  Butterworth band-pass (causal SOS, steady-state start) -> mains notch + harmonics -> causal
  moving RMS -> noise floor removed in quadrature.
- ENV path: ``ENV x scale_uv`` (ARV in uV at the electrodes) ``x arv_to_rms`` -> moving average
  over the same window -> noise floor removed in quadrature.

The pipeline is a short composition of stages, each owning its state and its ``reset()``:

======================  ===========================================================
stage                   module
======================  ===========================================================
screening, offset/scale :class:`~biofeedback.dsp.inputs.InputStage`
gaps                    :class:`~biofeedback.dsp.inputs.GapStage`
band-pass + notches     :class:`~biofeedback.dsp.bandpass.BandpassStage` (RAW only)
envelope                :class:`~biofeedback.dsp.envelope.EnvelopeStage`
noise floor             :class:`~biofeedback.dsp.noise_floor.NoiseFloorStage`
quality                 :class:`~biofeedback.dsp.quality_stage.QualityStage`
======================  ===========================================================

Inside, the outputs are rows, RAW first (:class:`~biofeedback.dsp.layout.ChannelLayout`); the
pipeline hands each stage the arrays it writes into, so a block costs few numpy calls: at 100
blocks/s the per-call overhead, not the arithmetic, is the cost.

:meth:`Pipeline.process` is causal and chunk-invariant: feeding a stream in blocks of any size gives
bit-identical output to one call on the whole array (filters and moving sums carry exact state,
quality detectors carry their run lengths). Everything is vectorised across channels and samples;
a 10 ms block of 4 channels costs about 50-80 us of CPU (see benchmarks/pipeline.py).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from biofeedback.core.types import Chunk, Flag, ProcessedChunk, StreamInfo
from biofeedback.dsp.bandpass import BandpassStage, passband_gain, reference_emg_psd
from biofeedback.dsp.envelope import EnvelopeStage
from biofeedback.dsp.inputs import GapStage, InputStage
from biofeedback.dsp.layout import ChannelLayout, SumRows
from biofeedback.dsp.noise_floor import NoiseFloorStage, OutputChannel, OutputModel
from biofeedback.dsp.quality import ABSURD_UV, QualitySummary, valid_input_range
from biofeedback.dsp.quality_stage import QualityStage
from biofeedback.dsp.settings import PipelineSettings, PipelineSettingsError

__all__ = [
    "ABSURD_UV",
    "OutputChannel",
    "Pipeline",
    "PipelineSettings",
    "PipelineSettingsError",
    "passband_gain",
    "reference_emg_psd",
    "valid_input_range",
]

#: Blocks longer than this are processed in pieces (bounded memory; results are identical).
MAX_BLOCK = 1 << 16
#: Index jumps up to this long (seconds) are treated as missing samples; longer ones restart.
MAX_FILL_S = 10.0
_MISSING = np.uint16(Flag.MISSING)


class Pipeline:
    """Streaming processor for one stream (see module docstring).

    Parameters
    ----------
    info:
        What the source delivers (rate, channel kinds, ADC bits, units).
    settings:
        Processing settings; defaults in :class:`PipelineSettings`.
    """

    def __init__(self, info: StreamInfo, settings: PipelineSettings | None = None) -> None:
        self.info = info
        self.settings = s = settings if settings is not None else PipelineSettings()
        fs = float(info.fs_hz)
        if not (fs > 0 and math.isfinite(fs)):
            raise PipelineSettingsError(f"the stream's sampling rate must be positive, got {fs!r}")
        self.fs_hz = fs
        self._layout = lay = ChannelLayout(info)
        self._inputs = InputStage(info, lay, s)
        self._bandpass = BandpassStage(fs, s, lay.kr, self._inputs.filter_gain) if lay.kr else None
        bp = self._bandpass
        self._rows = rows = SumRows(lay.kr, lay.ke, len(bp.banks) if bp else 0)
        self._gaps = GapStage(lay.kr, lay.ke, max(0, round(s.gap_reset_s * fs)))
        self._envelope = EnvelopeStage(rows, max(1, round(s.rms_window_s * fs)))
        self._model = OutputModel(info, s, lay, bp.band if bp else None)
        self._outputs_internal = self._model.build(
            self._inputs.raw_scale,
            self._inputs.env_scale,
            bp.noise_bandwidth_hz() if bp else 0.0,
            bp.passband() if bp else "",
        )
        self._quality = QualityStage(
            fs,
            s,
            lay,
            rows,
            (self._inputs.clip_mid, self._inputs.clip_half),
            bp.bp_gain if bp else 1.0,
            bp.mains_hz if bp else [],
            [o.name for o in self.outputs],
        )
        self._floor = NoiseFloorStage(np.zeros(lay.k))
        self._set_floors()
        self.reset()

    # ------------------------------------------------------------------ description

    @property
    def quality(self) -> QualitySummary:
        """Running totals of the quality flags per output, and the mains ratio."""
        return self._quality.summary

    @property
    def outputs(self) -> list[OutputChannel]:
        """Output channels in input-column order."""
        return self._layout.to_outputs(self._outputs_internal)

    @property
    def noise_floor_uv(self) -> np.ndarray:
        """Noise floor removed in quadrature per output, uV RMS (output order)."""
        f = self._floor.floor_uv
        return (f if self._layout.perm is None else f[self._layout.perm]).copy()

    @property
    def mains_hz_active(self) -> float | None:
        """Mains frequency currently notched (None: no notch yet / off)."""
        return self._bandpass.mains_active if self._bandpass else None

    @property
    def mains_ratio(self) -> list[float | None]:
        """Per output: power near the mains / in-band power over the last RMS window, before
        the notch (None for ENV outputs)."""
        return self.quality.mains_ratio()[0]

    @property
    def warnings(self) -> list[str]:
        """User-facing notes about what this stream can and cannot measure."""
        notes = [f"{o.name}: {o.warning}" for o in self.outputs if o.warning]
        if self._inputs.note:
            notes.append(self._inputs.note)
        return notes

    def set_noise_floor(self, values: float | list[float | None] | np.ndarray) -> None:
        """Replace the noise floor(s) by measured values (uV RMS; one, or one per output,
        None keeping the current value). Calibration calls this after a noise measurement."""
        k = self._layout.k
        given: Any = values  # a number, a 0-d array or a sequence
        vals: list[float | None]
        if np.ndim(given) == 0:
            vals = [float(given)] * k
        else:
            vals = [None if v is None else float(v) for v in given]
        if len(vals) != k:
            raise PipelineSettingsError(
                f"set_noise_floor needs {k} values (one per output), got {len(vals)}"
            )
        if any(v is not None and not (math.isfinite(v) and v >= 0) for v in vals):
            raise PipelineSettingsError(f"noise floors must be >= 0 uV, got {vals!r}")
        for out_pos, v in enumerate(vals):
            if v is None:
                continue
            i = self._layout.internal_row(out_pos)
            o = replace(self._outputs_internal[i], noise_floor_uv=v, noise_floor_source="measured")
            self._outputs_internal[i] = self._model.with_rest_check(o)
        self._set_floors()

    def _set_floors(self) -> None:
        outs = self._outputs_internal
        floor = np.array([o.noise_floor_uv for o in outs])
        self._floor.set(floor)
        self._quality.set_floors(floor, [o.resolves_rest for o in outs[: self._layout.kr]])

    def describe(self) -> dict[str, Any]:
        """Everything needed to interpret (and redo) the processing, for storing with sessions."""
        s, bp = self.settings, self._bandpass
        return {
            "fs_hz": self.fs_hz,
            "band_hz": list(bp.band) if bp else None,
            "filter": f"Butterworth band-pass, order {s.filter_order} per side, causal SOS, "
            "steady-state start",
            "mains_hz": s.mains_hz,
            "mains_hz_active": self.mains_hz_active,
            "notch_hz": bp.notch_freqs() if bp else [],
            "notch_q": s.notch_q,
            "passband_gain": round(bp.gain_active if bp else 1.0, 5),
            "rms_window_s": self._envelope.window / self.fs_hz,
            "arv_to_rms": s.arv_to_rms,
            "env_pot_kohm": s.env_pot_kohm,
            "outputs": [
                {
                    "name": o.name,
                    "kind": o.kind.value,
                    "input_index": o.input_index,
                    "ref_index": o.ref_index,
                    "passband": o.passband,
                    "noise_floor_uv": round(o.noise_floor_uv, 4),
                    "noise_floor_source": o.noise_floor_source,
                    "model_noise_floor_uv": round(o.model_noise_floor_uv, 4),
                    "resolution_uv": round(o.resolution_uv, 4),
                    "resolves_rest": o.resolves_rest,
                    "warning": o.warning,
                }
                for o in self.outputs
            ],
            "warnings": self.warnings,
            "settings": s.to_dict(),
        }

    # ------------------------------------------------------------------ streaming

    def reset(self) -> None:
        """Forget all signal history; the next chunk starts a new stream (settling again)."""
        if self._bandpass is not None:
            self._bandpass.reset()
        for stage in (self._inputs, self._gaps, self._envelope, self._floor, self._quality):
            stage.reset()
        self._next_index: int | None = None

    def _start(self, first: int) -> None:
        """Anchor the sample-clock schedules (quality points, auto-mains) at ``first``."""
        self._quality.start(first)
        if self._bandpass is not None:
            self._bandpass.start(first)

    def process(self, chunk: Chunk) -> ProcessedChunk:
        """Process one chunk; returns signal, envelope and flags per output channel.

        Chunks should be contiguous on the sample clock. A jump forward of up to 10 s is
        processed as missing samples (their output is not returned); a longer jump or a jump
        back starts the stream afresh.

        Invalid input (NaN not marked ``MISSING``, +-inf, values outside
        :func:`valid_input_range`) is screened here, at the entry, for every source: those
        values become NaN, their rows get :attr:`Flag.INVALID` in the input flags, and the
        outputs they feed are flagged ``INVALID | MISSING`` and handled like a gap. The chunk is
        updated in place (``chunk.samples`` and ``chunk.flags`` become new arrays), so what the
        engine buffers and the recorder stores is NaN + flag, never inf or a made-up value.
        """
        samples = chunk.samples
        if samples.ndim != 2 or samples.shape[1] != self.info.n_channels:
            raise ValueError(
                f"chunk has {samples.shape[1] if samples.ndim == 2 else '?'} columns, the stream "
                f"has {self.info.n_channels} channels"
            )
        first = int(chunk.first_index)
        if self._next_index is None:
            self._start(first)
        elif first != self._next_index:
            jump = first - self._next_index
            if 0 < jump <= MAX_FILL_S * self.fs_hz:
                gap = np.full((jump, self.info.n_channels), np.nan)
                self._process_blocks(gap, np.full(jump, _MISSING), self._next_index)
            else:
                self.reset()
                self._start(first)
        flags = chunk.flags if chunk.flags is not None else np.zeros(len(samples), np.uint16)
        self._inputs.reset()
        out = self._process_blocks(samples, flags, first)
        self._inputs.write_back(chunk, flags)
        return out

    def _process_blocks(self, samples: np.ndarray, flags: np.ndarray, first: int) -> ProcessedChunk:
        n = len(samples)
        if n <= MAX_BLOCK:
            return self._process_block(samples, flags, first)
        parts = [
            self._process_block(samples[i : i + MAX_BLOCK], flags[i : i + MAX_BLOCK], first + i)
            for i in range(0, n, MAX_BLOCK)
        ]
        return ProcessedChunk(
            first,
            np.concatenate([p.signal_uv for p in parts]),
            np.concatenate([p.envelope_uv for p in parts]),
            np.concatenate([p.flags for p in parts]),
        )

    def _process_block(self, samples: np.ndarray, flags: np.ndarray, first: int) -> ProcessedChunk:
        """One block through the stages. RAW rows live in ``work`` (the band-pass stage's rows)
        and ENV rows in ``sig`` (the output signal), so that no stage copies its input."""
        n = len(samples)
        lay = self._layout
        kr, ke, k = lay.kr, lay.ke, lay.k
        self._next_index = first + n
        if n == 0:
            empty = np.zeros((0, k))
            return ProcessedChunk(first, empty, empty.copy(), np.zeros((0, k), np.uint16))
        blk = self._inputs.screen(samples, flags, first)
        work = np.empty((self._rows.o_e, n)) if kr else None
        sig = np.empty((k, n)) if ke else None
        raw = work[:kr] if work is not None else None
        env_in = sig[kr:] if sig is not None else None
        self._inputs.scale(blk, raw, env_in)
        valid, restarts, raw_restarts = self._gaps.process(blk, raw, env_in)
        q = self._envelope.input_rows(n)
        y = None
        if self._bandpass is not None and work is not None:
            y = self._bandpass.process(work, raw_restarts, q.T, first)
        sums, power = self._envelope.process(q, work, env_in, valid)
        env = self._floor.apply(power)
        fl, flagged = self._quality.process(blk, valid, restarts, sums, power)
        if sig is None:
            assert y is not None  # no ENV: there are RAW rows
            sig = y
        elif y is not None:
            sig[:kr] = y
        if valid is not None:
            sig[~valid] = np.nan
        sig_out = sig.T
        if lay.perm is not None:
            sig_out, env, fl = sig_out[:, lay.perm], env[:, lay.perm], fl[:, lay.perm]
        self._quality.count(fl, flagged)
        return ProcessedChunk(first, sig_out, env, fl)
