"""Processing settings of a :class:`biofeedback.dsp.pipeline.Pipeline`, validated and storable.

The defaults and the reasons for them are in docs/signal-processing.md.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, ClassVar

from biofeedback.core.hardware import ARV_TO_RMS
from biofeedback.errors import BiofeedbackError

__all__ = ["PipelineSettings", "PipelineSettingsError"]

#: Settings that must be > 0 and >= 0 respectively.
_POSITIVE = (
    "clip_blank_s", "sustain_s", "quality_step_s", "burst_factor", "burst_max_s", "burst_baseline_s",
    "mains_ratio_threshold", "motion_power_ratio", "rest_level_uv",
)  # fmt: skip
_NON_NEGATIVE = ("gap_reset_s", "settle_s", "flat_rms_uv", "motion_min_uv", "auto_mains_after_s")


class PipelineSettingsError(BiofeedbackError, ValueError):
    """Pipeline settings that cannot work for this stream; the message says what to change."""


@dataclass(frozen=True)
class PipelineSettings:
    """Processing settings (docs/signal-processing.md). Stored with every session via ``to_dict()``.

    Filtering: ``highpass_hz``/``lowpass_hz`` band edges (use ``TRUNK_HIGHPASS_HZ`` = 30 Hz on the
    trunk or left trapezius to keep ECG out), Butterworth ``filter_order`` per side; the upper edge
    is clamped below 0.45 x fs. ``mains_hz``: 50, 60, None (no notch; hum is still detected) or
    "auto" (notch switched on once the hum is clearly at 50 or at 60 Hz). Harmonics below the upper
    edge get notches of the fundamental's bandwidth. ``passband_compensation`` scales the RAW
    signal so that, for a typical sEMG spectrum (:func:`biofeedback.dsp.bandpass.reference_emg_psd`),
    it reads the RMS within the stated pass band: the causal Butterworth skirts and the notches
    remove a few percent of in-band power, and readings then do not depend on the mains setting.

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
    # quality (docs/signal-processing.md, "Quality flags")
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
        self._normalise_mains()
        self._check_filtering()
        self._normalise_floors()
        self._check_quality()

    def _set(self, name: str, value: object) -> None:
        """Normalise a field of this frozen instance (during validation only)."""
        object.__setattr__(self, name, value)

    def _normalise_mains(self) -> None:
        m = self.mains_hz
        bad = f"mains_hz must be 50, 60, 'auto' or None (off), got {m!r}"
        if isinstance(m, str):
            word = m.strip().lower()
            if word == "auto":
                return self._set("mains_hz", "auto")
            if word in ("none", "off", ""):
                return self._set("mains_hz", None)
            try:
                m = float(m)
            except ValueError:
                raise PipelineSettingsError(bad) from None
        if m is not None and float(m) not in (50.0, 60.0):
            raise PipelineSettingsError(f"mains_hz must be 50, 60, 'auto' or None (off), got {m!r}")
        self._set("mains_hz", None if m is None else float(m))
        return None

    def _check_filtering(self) -> None:
        lo, hi = self.RMS_WINDOW_RANGE_S
        if not (lo <= self.rms_window_s <= hi):
            raise PipelineSettingsError(
                f"RMS window must be {lo:g}-{hi:g} s (default 0.1 s), got {self.rms_window_s!r}"
            )
        if not (0 < self.highpass_hz < self.lowpass_hz):
            raise PipelineSettingsError(
                f"band edges must satisfy 0 < high-pass < low-pass, got "
                f"{self.highpass_hz!r}-{self.lowpass_hz!r} Hz"
            )
        if int(self.filter_order) != self.filter_order or not 1 <= self.filter_order <= 8:
            raise PipelineSettingsError(
                f"filter_order must be an integer 1-8, got {self.filter_order!r}"
            )
        if not self.notch_q > 0:
            raise PipelineSettingsError(
                f"notch_q must be positive (default 30), got {self.notch_q!r}"
            )
        if self.env_pot_kohm is not None and not self.env_pot_kohm >= 0:
            raise PipelineSettingsError(
                f"env_pot_kohm must be the measured resistance in kOhm (>= 0), "
                f"got {self.env_pot_kohm!r}"
            )
        if not self.arv_to_rms > 0:
            raise PipelineSettingsError(
                f"arv_to_rms must be positive (1.253 for Gaussian EMG), got {self.arv_to_rms!r}"
            )

    def _normalise_floors(self) -> None:
        floors = self.noise_floor_uv
        if floors is None:
            return
        if isinstance(floors, int | float):
            values = [floors]
        else:
            floors = tuple(floors)
            self._set("noise_floor_uv", floors)
            values = [v for v in floors if v is not None]
        if any(not (math.isfinite(v) and v >= 0) for v in values):
            raise PipelineSettingsError(
                f"noise_floor_uv values must be >= 0 uV, got {self.noise_floor_uv!r}"
            )

    def _check_quality(self) -> None:
        lo_m, hi_m = self.motion_band_hz
        self._set("motion_band_hz", (float(lo_m), float(hi_m)))
        if not 0 < lo_m < hi_m:
            raise PipelineSettingsError(
                f"motion_band_hz must be (low, high) with 0 < low < high, got {self.motion_band_hz!r}"
            )
        for name in _POSITIVE:
            if not getattr(self, name) > 0:
                raise PipelineSettingsError(f"{name} must be positive, got {getattr(self, name)!r}")
        for name in _NON_NEGATIVE:
            if not getattr(self, name) >= 0:
                raise PipelineSettingsError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if not 0 <= self.clip_margin < 0.5 or not 0.5 < self.env_clip_fraction <= 1:
            raise PipelineSettingsError(
                "clip_margin must be 0-0.5 and env_clip_fraction 0.5-1 (fractions of full scale)"
            )

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
