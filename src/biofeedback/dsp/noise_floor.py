"""Noise floor: the output channels' floor model and its removal from the envelope.

Each output's floor comes from a model of the hardware (ADC quantisation through the filter
chain plus the amplifier's own noise), from the settings, or from a measurement
(:meth:`biofeedback.dsp.pipeline.Pipeline.set_noise_floor`); :class:`NoiseFloorStage` removes it
in quadrature from the moving mean square. Whether an output can resolve a relaxed muscle follows
from its floor and ADC step. The model and its sources are in docs/signal-processing.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from biofeedback.core.hardware import AMPLIFIER_NOISE_UV
from biofeedback.core.types import ChannelKind, StreamInfo
from biofeedback.dsp.layout import ChannelLayout
from biofeedback.dsp.settings import PipelineSettings, PipelineSettingsError

__all__ = ["NoiseFloorStage", "OutputChannel", "OutputModel"]

#: The band in which the amplifier's white noise is specified (``AMPLIFIER_NOISE_UV``).
_AMP_NOISE_BAND_HZ = 450.0 - 20.0


@dataclass(frozen=True)
class OutputChannel:
    """One pipeline output (per RAW or ENV input).

    ``scale_uv``: input units -> uV at the electrodes (for ENV: uV ARV, before ``arv_to_rms``).
    ``noise_floor_uv``: floor removed in quadrature, in uV RMS, from ``noise_floor_source``
    ("model": hardware model from ADC and gains; "setting": PipelineSettings.noise_floor_uv;
    "measured": :meth:`Pipeline.set_noise_floor`; "none": unknown hardware, nothing removed).
    ``resolution_uv``: one ADC step in output units (0 if unknown). ``resolves_rest``: whether
    the channel can resolve a relaxed muscle (floor and step <= rest_level_uv); if not,
    ``warning`` says why and what to do. ``passband``: text for reports.
    """

    name: str
    kind: ChannelKind
    input_index: int
    ref_index: int | None = None
    scale_uv: float = 1.0
    noise_floor_uv: float = 0.0
    noise_floor_source: str = "none"
    model_noise_floor_uv: float = 0.0
    resolution_uv: float = 0.0
    resolves_rest: bool = True
    passband: str = ""
    warning: str = ""
    extra: dict[str, float] = field(default_factory=dict)


class OutputModel:
    """Builds the output channels of a stream (internal row order: RAW, then ENV).

    ``band``: the RAW pass band actually used (None without RAW); ``enbw_hz``: equivalent noise
    bandwidth of the RAW output chain including its gain; ``passband``: its text.
    """

    def __init__(
        self,
        info: StreamInfo,
        s: PipelineSettings,
        layout: ChannelLayout,
        band: tuple[float, float] | None,
    ) -> None:
        self.info, self.settings, self.layout, self.band = info, s, layout, band

    def build(
        self, raw_scale: np.ndarray, env_scale: np.ndarray, enbw_hz: float, passband: str
    ) -> list[OutputChannel]:
        """Every output with its model floor, the settings' overrides and the rest check."""
        info, lay = self.info, self.layout
        counts_model = info.units == "counts" and info.adc_bits is not None
        outs = [
            self._raw_output(c, j, float(raw_scale[j]), enbw_hz, passband, counts_model)
            for j, c in enumerate(lay.raw_cols)
        ]
        outs += [
            self._env_output(c, float(env_scale[j]), counts_model)
            for j, c in enumerate(lay.env_cols)
        ]
        for i, ov in enumerate(self._overrides()):
            if ov is not None:
                outs[i] = replace(outs[i], noise_floor_uv=ov, noise_floor_source="setting")
        return [self.with_rest_check(o) for o in outs]

    def _raw_output(
        self, c: int, j: int, step: float, enbw: float, passband: str, counts_model: bool
    ) -> OutputChannel:
        fs = self.info.fs_hz
        if counts_model:
            quant = step / math.sqrt(12.0) * math.sqrt(enbw / (fs / 2.0))
            # white amplifier noise specified as uV RMS within 20-450 Hz
            amp = AMPLIFIER_NOISE_UV * math.sqrt(enbw / _AMP_NOISE_BAND_HZ)
            model, source, resolution = math.hypot(quant, amp), "model", step
        else:
            quant, model, source, resolution = 0.0, 0.0, "none", 0.0
        refs = self.layout.refs
        return OutputChannel(
            name=self.info.channels[c].name,
            kind=ChannelKind.RAW,
            input_index=c,
            ref_index=refs[j] if refs else None,
            scale_uv=step,
            noise_floor_uv=model,
            noise_floor_source=source,
            model_noise_floor_uv=model,
            resolution_uv=resolution,
            passband=passband,
            extra={"quantisation_uv": quant},
        )

    def _env_output(self, c: int, step: float, counts_model: bool) -> OutputChannel:
        s = self.settings
        if counts_model:
            # ENV quantisation is an error on the envelope's value (unbiased while the code
            # toggles), not noise power added to the EMG: it is reported as resolution and
            # not removed in quadrature. The amplifier's noise is rectified into ENV like EMG.
            model, source, resolution = AMPLIFIER_NOISE_UV, "model", step * s.arv_to_rms
        else:
            model, source, resolution = 0.0, "none", 0.0
        return OutputChannel(
            name=self.info.channels[c].name,
            kind=ChannelKind.ENV,
            input_index=c,
            scale_uv=step,
            noise_floor_uv=model,
            noise_floor_source=source,
            model_noise_floor_uv=model,
            resolution_uv=resolution,
            passband=f"MyoWare ENV (hardware rectify + smooth; ARV x {s.arv_to_rms:.3f})",
        )

    def _overrides(self) -> list[float | None]:
        """Per internal row: the settings' noise-floor override or None."""
        f, k = self.settings.noise_floor_uv, self.layout.k
        if f is None:
            return [None] * k
        if isinstance(f, int | float):
            return [float(f)] * k
        if len(f) != k:
            raise PipelineSettingsError(
                f"noise_floor_uv has {len(f)} values but the stream has {k} outputs "
                f"(one per RAW or ENV channel, in input order)"
            )
        # settings are in output (input-column) order; internal rows are RAW first
        return self.layout.from_outputs([None if v is None else float(v) for v in f])

    def with_rest_check(self, o: OutputChannel) -> OutputChannel:
        """``o`` with ``resolves_rest`` and ``warning`` set from its floor, step and band."""
        s = self.settings
        rest = s.rest_level_uv
        bits = self.info.adc_bits
        board = f"{bits}-bit board" if bits else "this input"
        # RAW quantisation acts as white noise (counted in the floor); a slow ENV does not dither,
        # so there one ADC step must also be finer than the rest level
        ok = o.noise_floor_uv <= rest and (o.kind == ChannelKind.RAW or o.resolution_uv <= rest)
        warning = ""
        if not ok:
            why = (
                f"noise floor {o.noise_floor_uv:.1f} uV RMS"
                if o.noise_floor_uv > rest
                else f"one ADC step is {o.resolution_uv:.1f} uV"
            )
            fix = (
                "use ENV"
                if o.kind == ChannelKind.RAW
                else "raise the MyoWare gain (pot) or use a board with a finer ADC"
            )
            warning = (
                f"{o.kind.value.upper()} cannot resolve rest on a {board}: {fix} "
                f"({why}, relaxed muscle is ~{rest:g} uV)"
            )
        band = self.band
        if o.kind == ChannelKind.RAW and band is not None and band[1] < 0.8 * s.lowpass_hz:
            # the band edge was clamped below 0.45 x fs: most of the EMG spectrum is not seen
            short = (
                f"RAW sampled at {self.info.fs_hz:g} Hz keeps only {band[0]:g}-{band[1]:g} Hz of "
                f"the {s.highpass_hz:g}-{s.lowpass_hz:g} Hz EMG band: "
                "sample RAW at 1000 Hz or more (or use ENV)"
            )
            warning = f"{warning}; {short}" if warning else short
        return replace(o, resolves_rest=ok, warning=warning)


class NoiseFloorStage:
    """Removes each output's noise floor from the moving mean square, in quadrature:
    envelope = ``sqrt(max(power - floor^2, 0))`` (NaN power stays NaN)."""

    def __init__(self, floor_uv: np.ndarray) -> None:
        self.set(floor_uv)

    def set(self, floor_uv: np.ndarray) -> None:
        """New floors per internal row (uV RMS)."""
        self.floor_uv = np.asarray(floor_uv, dtype=np.float64)
        self._floor_sq = (self.floor_uv**2)[None, :]
        self._by_len: dict[int, np.ndarray] = {}

    def reset(self) -> None:
        """Drop the per-block-length constants (the floors are settings, not signal history)."""
        self._by_len.clear()

    def apply(self, power: np.ndarray) -> np.ndarray:
        """Envelope [n, k] in uV RMS from the power [n, k] (a new array)."""
        n = len(power)
        floor_sq = self._by_len.get(n)
        if floor_sq is None:
            # full-sized: same-shape numpy operations on small arrays cost less than broadcasting
            floor_sq = np.repeat(self._floor_sq, n, axis=0)
            if n <= 4096:
                if len(self._by_len) > 16:
                    self._by_len.clear()
                self._by_len[n] = floor_sq
        env = power - floor_sq
        np.maximum(env, 0.0, out=env)
        np.sqrt(env, out=env)
        return env
