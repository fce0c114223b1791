"""Hardware facts from SPEC.md section 1: boards, MyoWare gains, amplifier noise.

One place for these numbers; the simulator, the pipeline's noise-floor model and the docs use them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MYOWARE_RAW_GAIN = 200.0
MYOWARE_DEFAULT_POT_KOHM = 50.0
#: ENV is average-rectified; for Gaussian-like sEMG RMS = sqrt(pi/2) x ARV ~ 1.253 x ARV.
ARV_TO_RMS = math.sqrt(math.pi / 2.0)
#: Input-referred noise of the MyoWare front end plus electrode/skin noise, uV RMS in 20-450 Hz
#: (practice: ~0.5-1 uV for a good instrumentation amplifier with gelled Ag/AgCl electrodes).
AMPLIFIER_NOISE_UV = 0.7


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
