"""The channel setup a clinician chooses: board, ADC resolution, MyoWare gain pot, mains, RMS
window and high-pass; remembered between runs (the ``channel`` entry of the preferences).

Which sources the Board/ADC choice applies to, and the URL it then means, come from the device
facts (:func:`biofeedback.devices.facts.with_setup`), not from this module.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, fields
from typing import Any

from biofeedback.core.hardware import ADC_BITS_MAX, ADC_BITS_MIN, BOARDS
from biofeedback.devices.facts import DEFAULT_SIM_SOURCE, with_setup

log = logging.getLogger(__name__)

__all__ = [
    "ADC_BITS_CHOICES",
    "DEFAULT_SIM_SOURCE",
    "HIGHPASS_CHOICES",
    "MAINS_CHOICES",
    "RMS_WINDOW_MS_RANGE",
    "ChannelSetup",
    "source_for_setup",
]

#: Mains settings: key -> label.
MAINS_CHOICES: dict[str, str] = {"50": "50 Hz", "60": "60 Hz", "auto": "auto (50/60 Hz)"}
#: High-pass corners (Hz) -> (short label, full label). 30 Hz keeps ECG out near the heart.
HIGHPASS_CHOICES: dict[float, tuple[str, str]] = {
    20.0: ("20 Hz (limbs)", "20 Hz: limbs and neck"),
    30.0: ("30 Hz (trunk)", "30 Hz: trunk and left trapezius, where ECG reaches the skin"),
}
#: RMS window lengths a clinician may choose, ms (inclusive).
RMS_WINDOW_MS_RANGE = (50, 250)
#: ADC resolutions offered besides the board's own (any 8..16 from the settings file is kept).
ADC_BITS_CHOICES = (10, 12, 14, 16)


@dataclass
class ChannelSetup:
    """Hardware and processing choices the clinician can change (remembered between runs).

    ``board`` and ``adc_bits`` apply to sources that take them (the device facts say which:
    the simulator, a stock sketch's text stream); a board running our firmware reports its ADC
    itself. ``adc_bits`` 0 means the board's own resolution, else 8..16 (a sketch that calls
    ``analogReadResolution(n)``). ``pot_kohm`` < 0 means "use the source's ENV gain".
    ``mains`` is "50", "60" or "auto".
    """

    board: str = "12bit"
    adc_bits: int = 0
    pot_kohm: float = -1.0
    mains: str = "50"
    rms_window_ms: float = 100.0
    highpass_hz: float = 20.0

    @property
    def mains_setting(self) -> float | str:
        """The value for ``PipelineSettings.mains_hz``."""
        return "auto" if self.mains == "auto" else float(self.mains)

    @property
    def effective_adc_bits(self) -> int:
        """The ADC resolution this setup means: ``adc_bits``, or the board's own when 0."""
        return self.adc_bits or BOARDS[self.board].adc_bits

    @property
    def pot_setting(self) -> float | None:
        """The value for ``PipelineSettings.env_pot_kohm`` (None: keep the source's gain)."""
        return None if self.pot_kohm < 0 else float(self.pot_kohm)

    def source_for(self, url: str) -> str | None:
        """``url`` on this setup's board and ADC (``url`` itself when it already is), or None
        for a source that reports its own ADC."""
        return with_setup(url, self.board, self.adc_bits)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for the settings file."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Any) -> ChannelSetup:
        """From a settings dict; unknown keys and bad values fall back to the defaults."""
        setup = cls()
        if not isinstance(values, dict):
            return setup
        for f in fields(cls):
            if f.name in values:
                try:
                    setattr(setup, f.name, type(getattr(setup, f.name))(values[f.name]))
                except (TypeError, ValueError):
                    log.info(
                        "remembered %s=%r is not valid: the default is used", f.name, values[f.name]
                    )
        setup._drop_invalid()
        return setup

    def _drop_invalid(self) -> None:
        """Put every value outside its allowed set back to the default."""
        default = ChannelSetup()
        if self.board not in BOARDS:
            self.board = default.board
        if self.adc_bits != 0 and not ADC_BITS_MIN <= self.adc_bits <= ADC_BITS_MAX:
            self.adc_bits = default.adc_bits
        if self.mains not in MAINS_CHOICES:
            self.mains = default.mains
        lo, hi = RMS_WINDOW_MS_RANGE
        if not lo <= self.rms_window_ms <= hi:
            self.rms_window_ms = default.rms_window_ms
        if self.highpass_hz not in HIGHPASS_CHOICES:
            self.highpass_hz = default.highpass_hz


def source_for_setup(url: str, setup: ChannelSetup) -> str | None:
    """``url`` with ``board=`` and ``bits=`` set per ``setup``, for sources that take them
    (``url`` itself when it already means them; None for sources that report their own ADC)."""
    return setup.source_for(url)
