"""Chunk, StreamInfo and the per-sample quality flags shared by every layer."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike


class ChannelKind(enum.StrEnum):
    """What an input channel carries (MyoWare 2.0 outputs)."""

    RAW = "raw"  # amplified raw EMG, gain 200, centred on REF
    ENV = "env"  # smoothed average-rectified envelope, gain 200 x (1 + R_pot / 1 kOhm)
    RECT = "rect"  # full-wave rectified raw, gain 200
    REF = "ref"  # the REF pin (mid-supply); RAW - REF removes the offset


class Flag(enum.IntFlag):
    """Per-sample quality bits. Any bit set excludes the sample from scoring."""

    OK = 0
    MISSING = 1  # sample never arrived (sequence gap, reconnect); value is NaN
    CLIPPED = 2  # at/near an ADC rail, or within the blanking time after clipping
    FLAT = 4  # flat line: electrode off / lead-off
    MAINS = 8  # strong mains interference ("check electrodes")
    MOTION = 16  # motion artefact
    SETTLING = 32  # filters settling after a reset (start, long gap)
    INVALID = 64  # the source sent NaN, +-inf or an impossible value; handled as a gap (NaN)

    @classmethod
    def describe(cls, bits: int) -> list[str]:
        """Names of the set bits, for messages (``['clipping', 'mains']``)."""
        names = {
            cls.MISSING: "gap",
            cls.CLIPPED: "clipping",
            cls.FLAT: "electrode off",
            cls.MAINS: "mains",
            cls.MOTION: "motion",
            cls.SETTLING: "settling",
            cls.INVALID: "invalid",
        }
        return [text for bit, text in names.items() if bits & bit]


def counts_to_uv_scale(vref_v: float, adc_bits: int, gain: float) -> float:
    """Microvolts at the electrodes per ADC count: ``Vref / 2**bits / gain * 1e6``.

    One convention everywhere: an N-bit ADC with reference ``Vref`` reads ``V = code x Vref / 2**N``
    (the ADC datasheets' convention); dividing by the analogue gain refers it to the electrodes
    (docs/hardware.md, "Boards and their ADCs").
    """
    return vref_v / (2**adc_bits) / gain * 1e6


@dataclass(frozen=True)
class ChannelInfo:
    """One input channel.

    ``scale_uv`` converts one input unit to microvolts at the electrodes (for ADC counts:
    :func:`counts_to_uv_scale`; for a file already in mV: 1000). ``gain`` is the analogue gain
    from electrodes to ADC pin, kept for reports.
    """

    name: str
    kind: ChannelKind
    gain: float = 1.0
    scale_uv: float = 1.0
    pin: int | None = None


@dataclass(frozen=True)
class StreamInfo:
    """What a source delivers: rate, channels, ADC and units.

    ``units`` is "counts" for ADC codes or "uV"/"mV" for imported files. ``realtime`` is False for
    sources that run as fast as the consumer allows (``speed=max``, replay at max speed); consumers
    may then apply back-pressure instead of dropping.
    """

    fs_hz: float
    channels: tuple[ChannelInfo, ...]
    adc_bits: int | None = None
    vref_v: float | None = None
    units: str = "counts"
    board: str = ""
    device: str = ""
    realtime: bool = True
    fs_estimated: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def n_channels(self) -> int:
        """Number of input columns in every Chunk."""
        return len(self.channels)

    def index_of(self, kind: ChannelKind) -> list[int]:
        """Column indices of the channels of one kind."""
        return [i for i, ch in enumerate(self.channels) if ch.kind == kind]

    @property
    def full_scale(self) -> float | None:
        """Largest ADC code (``2**bits - 1``), or None when the input is not ADC counts."""
        if self.units != "counts" or self.adc_bits is None:
            return None
        return float(2**self.adc_bits - 1)

    def with_(self, **changes: Any) -> StreamInfo:
        """Copy with some fields changed (``dataclasses.replace``: unknown names raise)."""
        return replace(self, **changes)


@dataclass(init=False)
class Chunk:
    """A block of consecutive samples from a source.

    ``first_index`` is the absolute sample number of row 0 on the device's sample clock.
    ``samples`` is float64 [n, channels] in the source's units (ADC counts from boards); missing
    samples are NaN with ``Flag.MISSING`` set in ``flags`` [n] (uint16). ``flags`` may be left
    out (all samples OK); after construction it is always an array, never None.
    """

    first_index: int
    samples: np.ndarray
    flags: np.ndarray

    def __init__(
        self, first_index: int, samples: ArrayLike, flags: ArrayLike | None = None
    ) -> None:
        self.first_index = first_index
        self.samples = np.asarray(samples, dtype=np.float64)
        if self.samples.ndim == 1:
            self.samples = self.samples[:, None]
        if flags is None:
            self.flags = np.zeros(len(self.samples), dtype=np.uint16)
        else:
            self.flags = np.asarray(flags, dtype=np.uint16)
        if len(self.flags) != len(self.samples):
            raise ValueError("flags and samples differ in length")

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def end_index(self) -> int:
        """Absolute index one past the last sample."""
        return self.first_index + len(self.samples)


@dataclass
class ProcessedChunk:
    """Pipeline output for one Chunk, per *output* channel (one per RAW or ENV input).

    ``signal_uv`` [n, k]: filtered signal in uV at the electrodes (for ENV outputs: the ENV in uV
    RMS-equivalent). ``envelope_uv`` [n, k]: causal moving RMS, noise-floor corrected in
    quadrature. ``flags`` [n, k] uint16 quality bits (:class:`Flag`).
    """

    first_index: int
    signal_uv: np.ndarray
    envelope_uv: np.ndarray
    flags: np.ndarray

    def __len__(self) -> int:
        return len(self.signal_uv)

    @property
    def end_index(self) -> int:
        """Absolute index one past the last sample."""
        return self.first_index + len(self.signal_uv)
