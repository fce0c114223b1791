"""The streaming EMG pipeline: input units -> microvolts at the electrodes -> RMS envelope + flags.

One :class:`Pipeline` per stream, built from its :class:`StreamInfo` and :class:`PipelineSettings`
(SPEC.md section 2). It makes one output channel per RAW or ENV input, in input order:

- RAW path: ``(RAW - REF) x scale_uv`` (without REF the band-pass removes the offset) ->
  Butterworth band-pass (causal SOS, steady-state start) -> mains notch + harmonics -> causal
  moving RMS -> noise floor removed in quadrature.
- ENV path: ``ENV x scale_uv`` (ARV in uV at the electrodes) ``x arv_to_rms`` -> moving average
  over the same window -> noise floor removed in quadrature.

:meth:`Pipeline.process` is causal and chunk-invariant: feeding a stream in blocks of any size gives
bit-identical output to one call on the whole array (filters and moving sums carry exact state,
quality detectors carry their run lengths). Everything is vectorised across channels and samples;
a 10 ms block of 4 channels costs about 50-80 us of CPU (see benchmarks/pipeline.py).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, ClassVar

import numpy as np

from biofeedback.core.hardware import AMPLIFIER_NOISE_UV, ARV_TO_RMS, myoware_env_gain
from biofeedback.core.types import (
    ChannelKind,
    Chunk,
    Flag,
    ProcessedChunk,
    StreamInfo,
    counts_to_uv_scale,
)
from biofeedback.dsp.envelope import MovingSum
from biofeedback.dsp.filters import (
    MAX_EDGE_FRACTION,
    SosFilter,
    design_band_sos,
    design_bandpass,
    design_notches,
    noise_bandwidth_hz,
    power_gain_grid,
)
from biofeedback.dsp.quality import (
    ABSURD_UV,
    ClipDetector,
    GapTracker,
    QualitySummary,
    WindowQuality,
    find_invalid,
    valid_input_range,
)
from biofeedback.errors import BiofeedbackError

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
_CLIPPED = np.uint16(Flag.CLIPPED)
_FLAT = np.uint16(Flag.FLAT)
_MAINS = np.uint16(Flag.MAINS)
_MOTION = np.uint16(Flag.MOTION)
_SETTLING = np.uint16(Flag.SETTLING)
_INVALID = np.uint16(Flag.INVALID)
#: Input flag bits given to every output of a row (INVALID is set per output instead).
_ROW_BITS = np.uint16(0xFFFF & ~int(Flag.INVALID))


class PipelineSettingsError(BiofeedbackError, ValueError):
    """Pipeline settings that cannot work for this stream; the message says what to change."""


@dataclass(frozen=True)
class PipelineSettings:
    """Processing settings (SPEC.md section 2). Stored with every session via ``to_dict()``.

    Filtering: ``highpass_hz``/``lowpass_hz`` band edges (use ``TRUNK_HIGHPASS_HZ`` = 30 Hz on the
    trunk or left trapezius to keep ECG out), Butterworth ``filter_order`` per side; the upper edge
    is clamped below 0.45 x fs. ``mains_hz``: 50, 60, None (no notch; hum is still detected) or
    "auto" (notch switched on once the hum is clearly at 50 or at 60 Hz). Harmonics below the upper
    edge get notches of the fundamental's bandwidth. ``passband_compensation`` scales the RAW
    signal so that, for a typical sEMG spectrum (:func:`reference_emg_psd`), it reads the RMS
    within the stated pass band: the causal Butterworth skirts and the notches remove a few
    percent of in-band power, and readings then do not depend on the mains setting.

    Amplitude: ``rms_window_s`` (0.05-0.25 s). ``env_pot_kohm``: measured MyoWare gain-pot
    resistance (ENV gain 200 x (1 + R/1 kOhm)); None keeps the stream's ENV scale.
    ``arv_to_rms`` converts ENV's average-rectified value to RMS. ``noise_floor_uv``: fixed noise
    floor(s) in uV RMS replacing the hardware model (one value, or one per output; None entries
    keep the model). ``rest_level_uv``: the relaxed level a channel must resolve.

    Quality thresholds are described in :mod:`biofeedback.dsp.quality`.
    """

    TRUNK_HIGHPASS_HZ: ClassVar[float] = 30.0
    RMS_WINDOW_RANGE_S: ClassVar[tuple[float, float]] = (0.05, 0.25)

    highpass_hz: float = 20.0
    lowpass_hz: float = 450.0
    filter_order: int = 2
    mains_hz: float | str | None = 50.0
    notch_q: float = 30.0
    notch_harmonics: bool = True
    passband_compensation: bool = True
    rms_window_s: float = 0.1
    env_pot_kohm: float | None = None
    arv_to_rms: float = ARV_TO_RMS
    noise_floor_uv: float | tuple[float | None, ...] | None = None
    rest_level_uv: float = 2.0
    # quality (SPEC.md section 2, "Signal quality")
    clip_margin: float = 0.02
    env_clip_fraction: float = 0.98
    clip_blank_s: float = 0.5
    sustain_s: float = 1.0
    quality_step_s: float = 0.1
    flat_rms_uv: float = 0.05
    mains_ratio_threshold: float = 0.5
    motion_band_hz: tuple[float, float] = (1.0, 20.0)
    motion_power_ratio: float = 1.0
    motion_min_uv: float = 100.0
    burst_factor: float = 10.0
    burst_max_s: float = 2.0
    burst_baseline_s: float = 10.0
    gap_reset_s: float = 0.05
    settle_s: float = 0.1
    auto_mains_after_s: float = 2.0
    auto_mains_min_ratio: float = 0.15

    def __post_init__(self) -> None:
        def fail(msg: str) -> None:
            raise PipelineSettingsError(msg)

        m = self.mains_hz
        if isinstance(m, str):
            if m.strip().lower() in ("auto",):
                object.__setattr__(self, "mains_hz", "auto")
            elif m.strip().lower() in ("none", "off", ""):
                object.__setattr__(self, "mains_hz", None)
            else:
                try:
                    object.__setattr__(self, "mains_hz", float(m))
                except ValueError:
                    fail(f"mains_hz must be 50, 60, 'auto' or None (off), got {m!r}")
        if self.mains_hz not in (None, "auto") and float(self.mains_hz) not in (50.0, 60.0):  # type: ignore[arg-type]
            fail(f"mains_hz must be 50, 60, 'auto' or None (off), got {self.mains_hz!r}")
        if self.mains_hz not in (None, "auto"):
            object.__setattr__(self, "mains_hz", float(self.mains_hz))  # type: ignore[arg-type]
        lo, hi = self.RMS_WINDOW_RANGE_S
        if not (lo <= self.rms_window_s <= hi):
            fail(
                f"RMS window must be {lo:g}-{hi:g} s (SPEC default 0.1 s), got {self.rms_window_s!r}"
            )
        if not (0 < self.highpass_hz < self.lowpass_hz):
            fail(
                f"band edges must satisfy 0 < high-pass < low-pass, got "
                f"{self.highpass_hz!r}-{self.lowpass_hz!r} Hz"
            )
        if int(self.filter_order) != self.filter_order or not 1 <= self.filter_order <= 8:
            fail(f"filter_order must be an integer 1-8, got {self.filter_order!r}")
        if not self.notch_q > 0:
            fail(f"notch_q must be positive (SPEC default 30), got {self.notch_q!r}")
        if self.env_pot_kohm is not None and not self.env_pot_kohm >= 0:
            fail(
                f"env_pot_kohm must be the measured resistance in kOhm (>= 0), got {self.env_pot_kohm!r}"
            )
        if not self.arv_to_rms > 0:
            fail(f"arv_to_rms must be positive (1.253 for Gaussian EMG), got {self.arv_to_rms!r}")
        floors = self.noise_floor_uv
        if floors is not None:
            if not isinstance(floors, int | float):
                floors = tuple(floors)
                object.__setattr__(self, "noise_floor_uv", floors)
                values = [v for v in floors if v is not None]
            else:
                values = [floors]
            if any(not (math.isfinite(v) and v >= 0) for v in values):
                fail(f"noise_floor_uv values must be >= 0 uV, got {self.noise_floor_uv!r}")
        lo_m, hi_m = self.motion_band_hz
        object.__setattr__(self, "motion_band_hz", (float(lo_m), float(hi_m)))
        if not 0 < lo_m < hi_m:
            fail(
                f"motion_band_hz must be (low, high) with 0 < low < high, got {self.motion_band_hz!r}"
            )
        positive = (
            "clip_blank_s", "sustain_s", "quality_step_s", "burst_factor", "burst_max_s", "burst_baseline_s",
            "mains_ratio_threshold", "motion_power_ratio", "rest_level_uv",
        )  # fmt: skip
        for name in positive:
            if not getattr(self, name) > 0:
                fail(f"{name} must be positive, got {getattr(self, name)!r}")
        for name in (
            "gap_reset_s",
            "settle_s",
            "flat_rms_uv",
            "motion_min_uv",
            "auto_mains_after_s",
        ):
            if not getattr(self, name) >= 0:
                fail(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if not 0 <= self.clip_margin < 0.5 or not 0.5 < self.env_clip_fraction <= 1:
            fail("clip_margin must be 0-0.5 and env_clip_fraction 0.5-1 (fractions of full scale)")

    def replace(self, **changes: Any) -> PipelineSettings:
        """Copy with some fields changed (validated)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of every field."""
        d = asdict(self)
        d["motion_band_hz"] = list(self.motion_band_hz)
        if isinstance(self.noise_floor_uv, tuple):
            d["noise_floor_uv"] = list(self.noise_floor_uv)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PipelineSettings:
        """Settings from :meth:`to_dict` output; unknown keys are an error naming them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise PipelineSettingsError(
                f"unknown pipeline setting(s) {', '.join(unknown)}: known are {', '.join(sorted(known))}"
            )
        d = dict(data)
        if "motion_band_hz" in d:
            d["motion_band_hz"] = tuple(d["motion_band_hz"])
        if isinstance(d.get("noise_floor_uv"), list):
            d["noise_floor_uv"] = tuple(d["noise_floor_uv"])
        return cls(**d)


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


def reference_emg_psd(freqs_hz: np.ndarray) -> np.ndarray:
    """A typical surface-EMG power spectrum (peak ~80 Hz, median ~113 Hz; arbitrary scale).

    The classic shape ``f^2 fh^4 / ((f^2 + fl^2)(f^2 + fh^2)^2)`` (Shwedyk et al. 1977) with
    fl = 100 Hz, fh = 120 Hz. Used only to size the notch-loss compensation, which hardly
    depends on the shape (white noise gives within 0.3 % of the same factor).
    """
    f = np.asarray(freqs_hz, dtype=float)
    fl, fh = 100.0, 120.0
    return f**2 * fh**4 / ((f**2 + fl**2) * (f**2 + fh**2) ** 2)


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


class _NotchBank:
    """One mains frequency: notch cascade state, centre frequencies and pass-band gain."""

    def __init__(self, fs: float, mains_hz: float, s: PipelineSettings, band, bp, rows):
        self.mains_hz = mains_hz
        self.sos, self.freqs = design_notches(fs, mains_hz, s.notch_q, band[1], s.notch_harmonics)
        self.filter = SosFilter(self.sos, rows)
        self.gain = passband_gain(fs, band, [bp, self.sos]) if s.passband_compensation else 1.0

    def describe(self) -> str:
        extra = len(self.freqs) - 1
        harm = f" + {extra} harmonic{'s' if extra != 1 else ''}" if extra else ""
        return f"notch {self.mains_hz:g} Hz{harm}"


class Pipeline:
    """Streaming processor for one stream (see module docstring).

    Parameters
    ----------
    info:
        What the source delivers (rate, channel kinds, ADC bits, units).
    settings:
        Processing settings; defaults per SPEC.md.
    """

    def __init__(self, info: StreamInfo, settings: PipelineSettings | None = None) -> None:
        self.info = info
        self.settings = s = settings if settings is not None else PipelineSettings()
        fs = float(info.fs_hz)
        if not (fs > 0 and math.isfinite(fs)):
            raise PipelineSettingsError(f"the stream's sampling rate must be positive, got {fs!r}")
        self.fs_hz = fs
        kinds = [ch.kind for ch in info.channels]
        raw_cols = [i for i, k in enumerate(kinds) if k == ChannelKind.RAW]
        env_cols = [i for i, k in enumerate(kinds) if k == ChannelKind.ENV]
        ref_cols = [i for i, k in enumerate(kinds) if k == ChannelKind.REF]
        if not raw_cols and not env_cols:
            raise PipelineSettingsError(
                "the stream has no RAW or ENV channel to process: connect the MyoWare RAW and/or "
                "ENV output and name the channels (e.g. channels=raw,env)"
            )
        if ref_cols and len(ref_cols) not in (1, len(raw_cols)):
            raise PipelineSettingsError(
                f"{len(raw_cols)} RAW channels but {len(ref_cols)} REF channels: give one REF for "
                f"all, or one REF per RAW channel"
            )
        self._raw_cols = np.array(raw_cols, dtype=np.intp)
        self._env_cols = np.array(env_cols, dtype=np.intp)
        refs = (ref_cols * len(raw_cols) if len(ref_cols) == 1 else ref_cols) if ref_cols else []
        self._kr, self._ke = len(raw_cols), len(env_cols)
        self._k = self._kr + self._ke
        # RAW and ENV of the same sensors (as many of each, paired in order): ENV outputs
        # inherit RAW's mains and flat flags
        self._env_inherits = self._kr > 0 and self._kr == self._ke
        counts = info.units == "counts"
        self._counts = counts
        raw_scale = np.array([info.channels[c].scale_uv for c in raw_cols], dtype=float)
        env_scale = np.array([info.channels[c].scale_uv for c in env_cols], dtype=float)
        self._env_pot_note = ""
        if s.env_pot_kohm is not None and env_cols:
            if counts and info.adc_bits and info.vref_v:
                env_scale[:] = counts_to_uv_scale(
                    info.vref_v, info.adc_bits, myoware_env_gain(s.env_pot_kohm)
                )
            else:
                self._env_pot_note = "env_pot_kohm ignored: the ENV input is not ADC counts"
        self._raw_scale = raw_scale[:, None]
        self._env_scale = env_scale
        self._env_factor = (env_scale * s.arv_to_rms)[:, None]

        # --- filter design (RAW path) ---
        self._band: tuple[float, float] | None = None
        self._banks: list[_NotchBank] = []
        self._mains_fixed: float | None = None
        self._gain_active = 1.0
        self._bp_gain = 1.0
        self._fold_scale = False
        kr = self._kr
        if kr:
            try:
                bp, band = design_bandpass(fs, s.highpass_hz, s.lowpass_hz, s.filter_order)
            except ValueError as exc:
                raise PipelineSettingsError(f"RAW band-pass: {exc}") from None
            self._band = band
            self._bp_sos = bp
            if isinstance(s.mains_hz, float):
                # the notched frequency first; the other one (50 <-> 60 Hz) is filtered only to
                # measure hum there: hum at the frequency not notched must be flagged too
                mains_choices = [s.mains_hz, 110.0 - s.mains_hz] if s.mains_hz < band[1] else []
            else:
                mains_choices = [50.0, 60.0]
            for f0 in mains_choices:
                if f0 < band[1]:
                    self._banks.append(_NotchBank(fs, f0, s, band, bp, kr))
            # The pass-band gain of the chain in use at the start is folded into the band-pass
            # (one multiplication less per block); window thresholds are scaled to match.
            self._bp_gain = passband_gain(fs, band, [bp]) if s.passband_compensation else 1.0
            if isinstance(s.mains_hz, float) and self._banks:
                self._mains_fixed = s.mains_hz
                self._bp_gain = self._banks[0].gain
            # With one ADC scale for all RAW channels (the usual case) it is folded into the
            # filters too: the band-pass and the low band then take ADC counts directly.
            self._fold_scale = bool(np.all(raw_scale == raw_scale[0]))
            in_gain = float(raw_scale[0]) if self._fold_scale else 1.0
            scaled = bp.copy()
            scaled[0, :3] *= self._bp_gain * in_gain
            self._bp = SosFilter(scaled, kr)
            m_lo, m_hi = s.motion_band_hz
            m_hi = min(m_hi, MAX_EDGE_FRACTION * fs, band[0])
            self._motion = None
            if m_hi > m_lo:
                motion_sos = design_band_sos(fs, m_lo, m_hi)
                motion_sos[0, :3] *= in_gain
                self._motion = SosFilter(motion_sos, kr)
        self._mains_active: float | None = self._mains_fixed
        self._auto = s.mains_hz == "auto"
        self._n_mains_rows = max(1, len(self._banks)) if kr else 0

        # --- windows and detectors ---
        self._w_rms = max(1, round(s.rms_window_s * fs))
        self._settle_len = round((s.rms_window_s + s.settle_s) * fs)
        self._reset_len = max(0, round(s.gap_reset_s * fs))
        k, ke, nm = self._k, self._ke, self._n_mains_rows
        # rows of the one moving sum: squares of [band-passed, mains parts, low band] (RAW),
        # square of the output (RAW), ENV values, valid-sample counts
        self._o_l = kr * (1 + nm)
        self._o_y = kr * (2 + nm)
        self._o_e = kr * (3 + nm)
        self._o_v = self._o_e + ke
        self._sum = MovingSum(self._w_rms, self._o_v + k)  # columns, time along axis 0
        # clipping and the block's first check, per input column
        n_cols = info.n_channels
        mid = np.zeros(n_cols)
        half = np.full(n_cols, np.inf)
        full = info.full_scale
        if full is not None:
            clip_cols = raw_cols + ref_cols
            mid[clip_cols] = full / 2.0
            half[clip_cols] = (0.5 - s.clip_margin) * full
            # ENV: only the upper rail (ENV near zero is a relaxed muscle); the lower edge is
            # that of valid input, so the clean test below also screens ENV
            mid[env_cols] = (s.env_clip_fraction - 1.0) / 2.0 * full
            half[env_cols] = (1.0 + s.env_clip_fraction) / 2.0 * full
        self._clip = ClipDetector(mid, half, round(s.clip_blank_s * fs))
        # Valid input (see valid_input_range). A block passing the clean test (all values
        # within the clip limits, or within the valid range where a column cannot clip) holds
        # only valid values, so the usual block pays nothing for screening.
        self._valid_lo, self._valid_hi = valid_input_range(info)
        no_clip = ~np.isfinite(half)
        self._screen_mid = np.where(no_clip, (self._valid_lo + self._valid_hi) / 2.0, mid)
        self._screen_mid[no_clip & ~np.isfinite(self._valid_hi)] = 0.0
        self._screen_half = np.where(no_clip, (self._valid_hi - self._valid_lo) / 2.0, half)
        self._screened: list[tuple[int, np.ndarray, np.ndarray]] = []
        g2 = self._bp_gain**2 if kr else 1.0
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
        self._gaps = GapTracker(k, self._reset_len)
        self._raw_sel = _selector(raw_cols)
        self._env_sel = _selector(env_cols)
        self._ref_sel = None
        if refs:
            self._ref_sel = refs[0] if len(set(refs)) == 1 else _selector(refs)
        self._clip_rows = np.array(raw_cols + env_cols, dtype=np.intp)
        self._raw_cols_l, self._env_cols_l, self._refs_l = raw_cols, env_cols, refs
        self._flat_rows = np.r_[0:kr, self._o_e : self._o_v]
        self._clip_ref_rows = np.array(refs, dtype=np.intp) if refs else None

        # --- outputs and noise floors ---
        order = sorted(raw_cols + env_cols)
        internal = raw_cols + env_cols  # internal row order: RAW rows, then ENV rows
        self._perm = None if internal == order else np.array([internal.index(c) for c in order])
        self._outputs_internal = self._build_outputs(raw_cols, env_cols, refs)
        self._set_floors()
        raw_pos = [order.index(c) for c in raw_cols]
        self.quality = QualitySummary(
            [o.name for o in self.outputs], np.array(raw_pos) if kr else None
        )
        self.reset()

    # ------------------------------------------------------------------ description

    def _raw_passband(self) -> str:
        assert self._band is not None
        lo, hi = self._band
        text = f"{lo:g}-{hi:g} Hz (Butterworth {self.settings.filter_order}+{self.settings.filter_order}, causal)"
        if self._mains_fixed is not None:
            text += ", " + self._banks[0].describe()
        elif self.settings.mains_hz == "auto":
            text += ", notch auto 50/60 Hz"
        return text

    def _build_outputs(self, raw_cols, env_cols, refs) -> list[OutputChannel]:
        s, info, fs = self.settings, self.info, self.fs_hz
        counts_model = self._counts and info.adc_bits is not None
        overrides = self._floor_overrides()
        outs: list[OutputChannel] = []
        if self._kr:
            chain = [self._bp_sos] + ([self._banks[0].sos] if self._mains_fixed else [])
            enbw = noise_bandwidth_hz(chain, fs) * self._bp_gain**2
        for j, c in enumerate(raw_cols):
            ch = info.channels[c]
            step = float(self._raw_scale[j, 0])
            if counts_model:
                quant = step / math.sqrt(12.0) * math.sqrt(enbw / (fs / 2.0))
                # white amplifier noise specified as uV RMS within 20-450 Hz
                amp = AMPLIFIER_NOISE_UV * math.sqrt(enbw / (450.0 - 20.0))
                model, source, resolution = math.hypot(quant, amp), "model", step
            else:
                quant, model, source, resolution = 0.0, 0.0, "none", 0.0
            outs.append(
                OutputChannel(
                    name=ch.name,
                    kind=ChannelKind.RAW,
                    input_index=c,
                    ref_index=refs[j] if refs else None,
                    scale_uv=step,
                    noise_floor_uv=model,
                    noise_floor_source=source,
                    model_noise_floor_uv=model,
                    resolution_uv=resolution,
                    passband=self._raw_passband(),
                    extra={"quantisation_uv": quant},
                )
            )
        for j, c in enumerate(env_cols):
            ch = info.channels[c]
            step = float(self._env_scale[j])
            if counts_model:
                # ENV quantisation is an error on the envelope's value (unbiased while the code
                # toggles), not noise power added to the EMG: it is reported as resolution and
                # not removed in quadrature. The amplifier's noise is rectified into ENV like EMG.
                model, source, resolution = AMPLIFIER_NOISE_UV, "model", step * s.arv_to_rms
            else:
                model, source, resolution = 0.0, "none", 0.0
            outs.append(
                OutputChannel(
                    name=ch.name,
                    kind=ChannelKind.ENV,
                    input_index=c,
                    scale_uv=step,
                    noise_floor_uv=model,
                    noise_floor_source=source,
                    model_noise_floor_uv=model,
                    resolution_uv=resolution,
                    passband=f"MyoWare ENV (hardware rectify + smooth; ARV x {s.arv_to_rms:.3f})",
                )
            )
        for i, ov in enumerate(overrides):
            if ov is not None:
                outs[i] = replace(outs[i], noise_floor_uv=ov, noise_floor_source="setting")
        return [self._with_rest_check(o) for o in outs]

    def _floor_overrides(self) -> list[float | None]:
        """Per internal row: the settings' noise-floor override or None."""
        f = self.settings.noise_floor_uv
        if f is None:
            return [None] * self._k
        if isinstance(f, int | float):
            return [float(f)] * self._k
        if len(f) != self._k:
            raise PipelineSettingsError(
                f"noise_floor_uv has {len(f)} values but the stream has {self._k} outputs "
                f"(one per RAW or ENV channel, in input order)"
            )
        by_output = [None if v is None else float(v) for v in f]
        # settings are in output (input-column) order; internal rows are RAW first
        internal_cols = list(self._raw_cols) + list(self._env_cols)
        order = sorted(internal_cols)
        return [by_output[order.index(c)] for c in internal_cols]

    def _with_rest_check(self, o: OutputChannel) -> OutputChannel:
        rest = self.settings.rest_level_uv
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
        band = self._band
        if (
            o.kind == ChannelKind.RAW
            and band is not None
            and band[1] < 0.8 * self.settings.lowpass_hz
        ):
            # the band edge was clamped below 0.45 x fs: most of the EMG spectrum is not seen
            short = (
                f"RAW sampled at {self.info.fs_hz:g} Hz keeps only {band[0]:g}-{band[1]:g} Hz of "
                f"the {self.settings.highpass_hz:g}-{self.settings.lowpass_hz:g} Hz EMG band: "
                "sample RAW at 1000 Hz or more (or use ENV)"
            )
            warning = f"{warning}; {short}" if warning else short
        return replace(o, resolves_rest=ok, warning=warning)

    @property
    def outputs(self) -> list[OutputChannel]:
        """Output channels in input-column order."""
        outs = self._outputs_internal
        if self._perm is None:
            return list(outs)
        return [outs[i] for i in self._perm]

    @property
    def noise_floor_uv(self) -> np.ndarray:
        """Noise floor removed in quadrature per output, uV RMS (output order)."""
        f = self._floor if self._perm is None else self._floor[self._perm]
        return f.copy()

    @property
    def mains_hz_active(self) -> float | None:
        """Mains frequency currently notched (None: no notch yet / off)."""
        return self._mains_active

    @property
    def mains_ratio(self) -> list[float | None]:
        """Per output: power near the mains / in-band power over the last RMS window, before
        the notch (None for ENV outputs)."""
        return self.quality.mains_ratio()[0]

    @property
    def warnings(self) -> list[str]:
        """User-facing notes about what this stream can and cannot measure."""
        notes = [f"{o.name}: {o.warning}" for o in self.outputs if o.warning]
        if self._env_pot_note:
            notes.append(self._env_pot_note)
        return notes

    def set_noise_floor(self, values: float | list[float | None] | np.ndarray) -> None:
        """Replace the noise floor(s) by measured values (uV RMS; one, or one per output,
        None keeping the current value). Calibration calls this after a noise measurement."""
        k = self._k
        if np.ndim(values) == 0:
            vals: list[float | None] = [float(values)] * k  # type: ignore[arg-type]
        else:
            vals = [None if v is None else float(v) for v in values]  # type: ignore[union-attr]
        if len(vals) != k:
            raise PipelineSettingsError(
                f"set_noise_floor needs {k} values (one per output), got {len(vals)}"
            )
        if any(v is not None and not (math.isfinite(v) and v >= 0) for v in vals):
            raise PipelineSettingsError(f"noise floors must be >= 0 uV, got {vals!r}")
        inv = list(range(k)) if self._perm is None else list(np.argsort(self._perm))
        for out_pos, v in enumerate(vals):
            if v is None:
                continue
            i = inv[out_pos] if self._perm is not None else out_pos
            o = replace(self._outputs_internal[i], noise_floor_uv=v, noise_floor_source="measured")
            self._outputs_internal[i] = self._with_rest_check(o)
        self._set_floors()

    def _set_floors(self) -> None:
        self._consts: dict[int, tuple[np.ndarray, ...]] = {}
        self._qbuf: dict[int, np.ndarray] = {}
        self._floor = np.array([o.noise_floor_uv for o in self._outputs_internal])
        self._floor_sq = (self._floor**2)[:, None]
        # Window flags each paired ENV row takes over from its RAW row: MAINS always; FLAT only
        # when RAW resolves rest (on a coarse ADC a relaxed muscle leaves RAW flat while ENV,
        # amplified after rectification, still reads it)
        raw_outs = self._outputs_internal[: self._kr]
        self._inherit_bits = np.array(
            [[Flag.MAINS | (Flag.FLAT if o.resolves_rest else 0)] for o in raw_outs],
            dtype=np.uint16,
        )
        # bursts are judged against at least the floor (and never below 0.5 uV)
        self._wq.floor_power = (np.maximum(self._floor, 0.5) ** 2)[:, None]

    def describe(self) -> dict[str, Any]:
        """Everything needed to interpret (and redo) the processing, for storing with sessions."""
        s = self.settings
        banks = self._banks
        return {
            "fs_hz": self.fs_hz,
            "band_hz": list(self._band) if self._band else None,
            "filter": f"Butterworth band-pass, order {s.filter_order} per side, causal SOS, "
            "steady-state start",
            "mains_hz": s.mains_hz,
            "mains_hz_active": self._mains_active,
            "notch_hz": next((b.freqs for b in banks if b.mains_hz == self._mains_active), []),
            "notch_q": s.notch_q,
            "passband_gain": round(self._gain_active, 5),
            "rms_window_s": self._w_rms / self.fs_hz,
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
        for f in self._filters():
            f.reset()
        self._sum.reset()
        self._clip.reset()
        self._gaps.reset()
        self._wq.reset()
        self._settle_until = np.zeros(self._k, dtype=np.int64)
        self._settle_max = -1
        self._next_index: int | None = None
        self._mains_active = self._mains_fixed
        self._active_bank: int | None = 0 if self._mains_fixed is not None else None
        self._gain_active = self._bp_gain if self._kr else 1.0
        self._auto_next = 0
        self._auto_acc = np.zeros(1 + len(self._banks))

    def _start(self, first: int) -> None:
        """Anchor the sample-clock schedules (quality points, auto-mains) at ``first``."""
        self._wq.reset(origin=first)
        self._auto_next = first + round(self.settings.auto_mains_after_s * self.fs_hz)

    def _filters(self) -> list[SosFilter]:
        if not self._kr:
            return []
        out = [self._bp] + [b.filter for b in self._banks]
        return out + ([self._motion] if self._motion is not None else [])

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
        self._screened.clear()
        out = self._process_blocks(samples, flags, first)
        if self._screened:
            self._write_back(chunk, flags)
        return out

    def _write_back(self, chunk: Chunk, flags: np.ndarray) -> None:
        """Put the screened samples and input flags of this chunk's blocks into the chunk."""
        samples, new_flags = chunk.samples.copy(), flags.copy()
        for block_first, block, block_flags in self._screened:
            i = block_first - chunk.first_index
            samples[i : i + len(block)] = block
            new_flags[i : i + len(block)] = block_flags
        self._screened.clear()
        chunk.samples, chunk.flags = samples, new_flags

    def _bad_outputs(self, bad: np.ndarray) -> np.ndarray:
        """Per internal output row [k, n]: fed by an invalid input value (RAW: RAW or its REF)."""
        cols = bad.T
        rows = []
        if self._kr:
            raw = cols[self._raw_cols_l]
            if self._refs_l:
                raw = raw | cols[self._refs_l]
            rows.append(raw)
        if self._ke:
            rows.append(cols[self._env_cols_l])
        return np.concatenate(rows) if len(rows) > 1 else rows[0]

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

    def _process_block(self, samples: np.ndarray, cflags: np.ndarray, first: int) -> ProcessedChunk:
        # Written for few numpy calls per block: at 100 blocks/s the per-call overhead, not the
        # arithmetic, is the cost. Gaps and start-up take a slower path only when present.
        n = len(samples)
        kr, ke, k = self._kr, self._ke, self._k
        self._next_index = first + n
        if n == 0:
            empty = np.zeros((0, k))
            return ProcessedChunk(first, empty, empty.copy(), np.zeros((0, k), np.uint16))
        st = samples.T
        consts = self._consts.get(n) or self._make_consts(n)
        raw_scale, env_factor, floor_sq, clip_mid, clip_half = consts
        any_cflag = np.count_nonzero(cflags) > 0
        clean, dev = self._clip.clean(samples, clip_mid, clip_half)
        bad_out = None
        if not clean:
            screened = find_invalid(samples, cflags, self._valid_lo, self._valid_hi)
            if screened is not None:
                samples, cflags, bad = screened
                self._screened.append((first, samples, cflags))
                dev[bad] = np.nan  # never counted as clipped
                st = samples.T
                any_cflag = True
                bad_out = self._bad_outputs(bad)
        missing_flag = any_cflag and np.count_nonzero(cflags & _MISSING) > 0
        slow = missing_flag or not self._gaps.settled
        if not clean and not slow:
            slow = np.count_nonzero(np.isnan(samples)) > 0

        # --- inputs in uV (RAW: band-pass input; ENV: RMS-equivalent) ---
        o_l, o_y, o_e, o_v = self._o_l, self._o_y, self._o_e, self._o_v
        # moving-sum input, time along axis 0 (columns: see __init__); qt is its [cols, n] view.
        # It is reused between blocks of the same length (the moving sum copies what it needs);
        # its count columns then already hold ones.
        q = self._qbuf.get(n)
        if q is None:
            q = np.empty((n, self._sum.n_cols))
            q[:, self._o_v :] = 1.0
            if n <= 4096:
                if len(self._qbuf) > 16:
                    self._qbuf.clear()
                self._qbuf[n] = q
        qt = q.T
        # RAW work rows: band-passed, mains parts, low band, output (squared together below)
        work = np.empty((o_e, n)) if kr else None
        b = work[:kr] if kr else None
        if kr:
            raw_in = st[self._raw_sel]
            if self._ref_sel is not None:
                np.subtract(raw_in, st[self._ref_sel], out=b)
                if not self._fold_scale:
                    b *= raw_scale
            elif self._fold_scale:
                b[...] = raw_in
            else:
                np.multiply(raw_in, raw_scale, out=b)
        # output signal rows [k, n]: RAW rows are filled below, ENV rows are the ENV in uV RMS-eq
        sig = np.empty((k, n)) if ke else None
        e = None
        if ke:
            e = sig[kr:]
            np.multiply(st[self._env_sel], env_factor, out=e)
        restarts: dict[int, list[int]] | None = None
        rr = None
        if slow:
            x = np.concatenate([b, e]) if kr and ke else (b.copy() if kr else e.copy())
            valid = np.isfinite(x)
            if missing_flag:
                valid &= ((cflags & _MISSING) == 0)[None, :]
            restarts = self._gaps.process(x, valid)
            if kr:
                b[...] = x[:kr]
            if ke:
                e[...] = x[kr:]
            rr = {r: p for r, p in restarts.items() if r < kr}
            if restarts:
                self._wq.schedule(restarts, first)
        else:
            # the fast path skips gap handling, but a gap starting the next block must hold this
            # block's last value (as one call on the whole array would)
            self._gaps.hold_last(b[:, -1] if kr else None, e[:, -1] if ke else None)

        # --- RAW path: band-pass, notches, low band; squares into the moving-sum rows ---
        y = None
        if kr:
            low = work[o_l:o_y]
            low[...] = b
            self._bp.filter_inplace(b, rr)
            y = work[o_y:o_e]
            if self._mains_fixed is not None:  # the usual case: one notch bank, output = its own
                y[...] = b
                self._banks[0].filter.filter_inplace(y, rr)
                np.subtract(b, y, out=work[kr : 2 * kr])
                if len(self._banks) > 1:  # hum at the other mains frequency (measured only)
                    d = work[2 * kr : 3 * kr]
                    d[...] = b
                    self._banks[1].filter.filter_inplace(d, rr)
                    np.subtract(b, d, out=d)
                ys = [y]
            else:
                ys = []
                for j, bank in enumerate(self._banks):
                    yj = b.copy()
                    bank.filter.filter_inplace(yj, rr)
                    np.subtract(b, yj, out=work[kr * (1 + j) : kr * (2 + j)])
                    ys.append(yj)
                if not ys:
                    work[kr : 2 * kr] = 0.0
            if self._motion is not None:
                self._motion.filter_inplace(low, rr)
            else:
                low[...] = 0.0
            if self._mains_fixed is None:
                if self._active_bank is not None:
                    np.multiply(ys[self._active_bank], self._gain_active / self._bp_gain, out=y)
                else:
                    y[...] = b
                    if self._auto and ys:
                        np.multiply(work[:o_y], work[:o_y], out=qt[:o_y])
                        self._auto_mains(y, ys, qt, first, n)
            np.multiply(work, work, out=qt[:o_e])
        if ke:
            qt[o_e:o_v] = e
        if slow:
            validf = valid.astype(np.float64)
            if kr:
                qt[:o_e] *= np.tile(validf[:kr], (o_e // kr, 1))
            if ke:
                qt[o_e:o_v] *= validf[kr:]
            qt[o_v:] = validf
            self._qbuf.pop(n, None)  # its count columns no longer hold ones
        sums = self._sum.process(q)  # [n, cols]

        # --- envelope [n, k]: moving RMS (RAW) / moving mean (ENV), noise floor removed ---
        cnt = sums[:, o_v:]
        if slow:
            none = cnt == 0
            cnt = np.maximum(cnt, 1.0)
        power = sums[:, o_y:o_v] / cnt  # RAW: mean square; ENV: mean, squared next
        if ke:
            mean_env = power[:, kr:]
            np.multiply(mean_env, mean_env, out=mean_env)
        if slow:
            power[none] = np.nan
        env = power - floor_sq
        np.maximum(env, 0.0, out=env)
        np.sqrt(env, out=env)

        # --- quality flags [n, k] ---
        fl = np.zeros((n, k), dtype=np.uint16)
        flt = fl.T
        flagged = any_cflag or slow  # False: the summary can skip counting
        if any_cflag:
            fl |= (cflags & _ROW_BITS)[:, None]
        if slow:
            flt[~valid] |= _MISSING
        if bad_out is not None:
            flt[bad_out] |= _INVALID
        if not clean or first - self._clip._last_max <= self._clip.blank:
            c = self._clip.process(dev, first)
            if c is not None:
                flagged = True
                hit = c[self._clip_rows]
                if self._clip_ref_rows is not None:
                    hit[:kr] |= c[self._clip_ref_rows]
                flt[hit] |= _CLIPPED
        pts = self._wq.points(first, n)
        bits = None
        if pts is not None:
            at = sums[pts].T  # [cols, points]
            p_band = p_mains = p_low = None
            if kr:
                p_band = at[:kr]
                p_mains = at[kr : 2 * kr]
                parts = None
                if len(self._banks) > 1:  # 50 and 60 Hz: the larger hum counts
                    p_other = at[2 * kr : 3 * kr]
                    parts = {self._banks[0].mains_hz: p_mains, self._banks[1].mains_hz: p_other}
                    p_mains = np.maximum(p_mains, p_other)
                p_low = at[o_l:o_y]
                self.quality.add_mains(p_mains, p_band, parts)
            flat_sum = at[self._flat_rows] if kr and ke else (p_band if kr else at[o_e:o_v])
            bits = self._wq.evaluate(
                pts, first, p_band, p_mains, p_low, flat_sum, power[pts].T, at[o_v:], slow
            )
        wf = self._wq.expand(pts, bits, n)
        if wf is not None:
            flt |= wf
            if self._env_inherits:
                # ENV is the rectified, smoothed RAW of the same electrodes: hum or a dead
                # electrode seen on RAW is in ENV too (ENV alone cannot show either)
                flt[kr:] |= wf[:kr] & self._inherit_bits
            flagged = True
        if restarts or first < self._settle_max:
            self._settling(flt, restarts, first)
            flagged = True

        # --- outputs ---
        if not ke:
            sig = y
        elif kr:
            sig[:kr] = y
        if slow:
            sig[~valid] = np.nan
            env[none] = np.nan
        sig = sig.T
        if self._perm is not None:
            sig, env, fl = sig[:, self._perm], env[:, self._perm], fl[:, self._perm]
        if flagged:
            self.quality.update(fl)
        else:
            self.quality.samples += n
        return ProcessedChunk(first, sig, env, fl)

    def _make_consts(self, n: int) -> tuple[np.ndarray, ...]:
        """Per-block-length constants, full-sized: same-shape numpy operations on small arrays
        cost less than broadcasting ones."""
        if len(self._consts) > 16:
            self._consts.clear()
        cols = self.info.n_channels
        consts = (
            np.repeat(self._raw_scale, n, axis=1),
            np.repeat(self._env_factor, n, axis=1),
            np.repeat(self._floor_sq.T, n, axis=0),
            np.repeat(self._screen_mid[None, :], n, axis=0),
            np.repeat(self._screen_half[None, :], n, axis=0),
        )
        assert consts[3].shape == (n, cols)
        if n <= 4096:
            self._consts[n] = consts
        return consts

    def _settling(self, fl: np.ndarray, restarts: dict[int, list[int]] | None, first: int) -> None:
        """Flag SETTLING for ``settle_len`` samples after each row's (re)start, across blocks."""
        for r in range(self._k):
            stop = int(self._settle_until[r]) - first
            if stop > 0:
                fl[r, :stop] |= _SETTLING
        for r, positions in (restarts or {}).items():
            for p in positions:
                fl[r, p : p + self._settle_len] |= _SETTLING
            self._settle_until[r] = first + positions[-1] + self._settle_len
        self._settle_max = int(self._settle_until.max())

    def _auto_mains(self, y: np.ndarray, ys: list[np.ndarray], q: np.ndarray, first: int, n: int):
        """Switch the notch on where the hum is clearly at 50 or at 60 Hz (``mains_hz="auto"``).

        The in-band and mains-part powers of all RAW channels are accumulated sample by sample
        since the stream started; from ``auto_mains_after_s`` on, a frequency's notch is switched
        on at the first sample where its share of the in-band power is at least
        ``auto_mains_min_ratio`` and twice the other's. The notch banks run from the start, so
        the switch causes no transient. ``y`` is updated in place from the switch on.
        """
        kr, nb = self._kr, len(self._banks)
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
        s = self.settings
        for j in range(nb):
            good = (band > 0) & (ratios[j] >= s.auto_mains_min_ratio)
            for i in range(nb):
                if i != j:
                    good &= ratios[j] >= 2.0 * ratios[i]
            hit = np.flatnonzero(good)
            if len(hit):
                p = start + int(hit[0])
                bank = self._banks[j]
                self._mains_active = bank.mains_hz
                self._active_bank = j
                self._gain_active = bank.gain
                y[:, p:] = ys[j][:, p:] * (bank.gain / self._bp_gain)
                return


def _selector(cols: list[int]) -> slice | np.ndarray:
    """A slice when the columns are consecutive (a view, no copy), else an index array."""
    if cols and cols == list(range(cols[0], cols[-1] + 1)):
        return slice(cols[0], cols[-1] + 1)
    return np.array(cols, dtype=np.intp)
