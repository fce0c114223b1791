"""Hardware facts: boards, MyoWare gains, amplifier noise (docs/hardware.md explains them;
the MyoWare numbers come from its datasheet and the vendor's Arduino library).

One place for these numbers; the simulator, the pipeline's noise-floor model and the docs use them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

MYOWARE_RAW_GAIN = 200.0
MYOWARE_DEFAULT_POT_KOHM = 50.0
#: ENV is average-rectified; for Gaussian-like sEMG RMS = sqrt(pi/2) x ARV ~ 1.253 x ARV.
ARV_TO_RMS = math.sqrt(math.pi / 2.0)
#: Input-referred noise of the MyoWare front end plus electrode/skin noise, uV RMS in 20-450 Hz
#: (practice: ~0.5-1 uV for a good instrumentation amplifier with gelled Ag/AgCl electrodes).
AMPLIFIER_NOISE_UV = 0.7
#: ADC resolutions a source may be told to use (``bits=``): AVR 10, SAMD/ESP32 12, Uno R4 14, and
#: whatever ``analogReadResolution(n)`` a sketch sets (the Arduino cores accept 8..16).
ADC_BITS_MIN = 8
ADC_BITS_MAX = 16


def myoware_env_gain(pot_kohm: float = MYOWARE_DEFAULT_POT_KOHM) -> float:
    """ENV gain of a MyoWare 2.0: 200 x (1 + R_pot / 1 kOhm); 10,200 at the default 50 kOhm."""
    return MYOWARE_RAW_GAIN * (1.0 + pot_kohm / 1.0)


@dataclass(frozen=True)
class Board:
    """An Arduino-class board's ADC."""

    key: str
    label: str
    adc_bits: int
    vref_v: float
    default_fs_hz: float

    @property
    def raw_uv_per_step(self) -> float:
        """RAW microvolts at the electrodes per ADC step."""
        return self.vref_v / 2**self.adc_bits / MYOWARE_RAW_GAIN * 1e6

    @property
    def raw_quantisation_uv(self) -> float:
        """RMS quantisation noise of RAW referred to the electrodes (step / sqrt(12))."""
        return self.raw_uv_per_step / math.sqrt(12.0)

    def with_bits(self, bits: int | None) -> Board:
        """This board with its ADC read at ``bits`` (e.g. a sketch calling analogReadResolution).

        The key and Vref stay (the board, and so its supply and reference, is the same); None or
        the board's own resolution returns the board itself. ValueError outside 8..16.
        """
        if bits is None or bits == self.adc_bits:
            return self
        if not ADC_BITS_MIN <= bits <= ADC_BITS_MAX:
            raise ValueError(f"ADC bits must be {ADC_BITS_MIN}..{ADC_BITS_MAX}, not {bits}")
        return replace(self, adc_bits=bits, label=f"{self.label} read at {bits}-bit")

    def env_uv_per_step(self, pot_kohm: float = MYOWARE_DEFAULT_POT_KOHM) -> float:
        """ENV microvolts (ARV) at the electrodes per ADC step."""
        return self.vref_v / 2**self.adc_bits / myoware_env_gain(pot_kohm) * 1e6


BOARDS: dict[str, Board] = {
    "uno": Board("uno", "Arduino Uno R3 / Nano (AVR, 10-bit, 5 V)", 10, 5.0, 1000.0),
    "12bit": Board("12bit", "12-bit 3.3 V board (SAMD, Nano 33, RP2040, ESP32)", 12, 3.3, 2000.0),
    "uno-r4": Board("uno-r4", "Arduino Uno R4 (14-bit, 5 V)", 14, 5.0, 2000.0),
}


def board(key: str) -> Board:
    """Look up a board by key (``uno``, ``12bit``, ``uno-r4``); ValueError names the choices."""
    try:
        return BOARDS[key]
    except KeyError:
        raise ValueError(f"unknown board {key!r}: choose one of {', '.join(BOARDS)}") from None
