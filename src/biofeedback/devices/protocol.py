"""What a board speaks over its serial link: the interface every protocol handler implements.

:class:`~biofeedback.devices.serial_device.SerialDevice` owns a
:class:`~biofeedback.devices.transport.SerialTransport` (the bytes, errors and reconnects) and one
:class:`Protocol` (what the bytes mean). Three exist:

- ``binary``: :class:`~biofeedback.devices.firmware_protocol.FirmwareProtocol`, firmware/biofeedback
  (docs/wire-protocol.md);
- ``text``: :class:`~biofeedback.devices.text_protocol.TextProtocol`, numbers per line as the stock
  example sketches print them;
- ``chords``: :class:`~biofeedback.devices.chords_protocol.ChordsProtocol`, Upside Down Labs'
  Chords firmware (docs/interop.md).

Adding another (say a board with its own framing): subclass :class:`Protocol` in a new module of
this package, make its state in ``_setup()``, implement :meth:`~Protocol.open` (learn the
stream's format, e.g. a handshake),
:meth:`~Protocol.start`, :meth:`~Protocol.feed` (decode bytes, hand rows to the
:class:`~biofeedback.devices.stream_index.StreamIndexer`), :meth:`~Protocol.resume` (after the
transport reopened the port) and :meth:`~Protocol.rate_advice`; then add its name to
:data:`~biofeedback.devices.serial_device.PROTOCOLS` so ``format=NAME`` selects it. The transport,
reconnect, gap filling and rate check come for free. docs/hardware.md has the walk-through.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from biofeedback.core import hardware
from biofeedback.core.clock import Clock
from biofeedback.core.types import ChannelInfo, ChannelKind, StreamInfo, counts_to_uv_scale
from biofeedback.devices.base import DeviceStats
from biofeedback.devices.rate_check import RateVerdict
from biofeedback.devices.stream_index import StreamIndexer
from biofeedback.devices.transport import SerialTransport


@dataclass(frozen=True)
class StreamRequest:
    """What the user asked for in the URL (None: the board's own setting or the default)."""

    board: str | None = None
    adc_bits: int | None = None
    channels: tuple[ChannelKind, ...] | None = None
    pins: tuple[int, ...] | None = None
    fs_hz: float | None = None
    pot_kohm: float = hardware.MYOWARE_DEFAULT_POT_KOHM
    #: analogue gain from the electrodes to the ADC on RAW and REF (``gain=``; MyoWare's 200)
    raw_gain: float = hardware.MYOWARE_RAW_GAIN
    open_timeout_s: float = 3.0
    calibrate_s: float = 2.0


class Protocol(ABC):
    """Turns the bytes of one link into rows on the stream's clock; see the module docstring.

    All methods run on one thread at a time: :meth:`open` on the caller's, the rest on the
    device's reader thread (except :meth:`stop`, called after that thread has ended).
    """

    #: The URL's ``format=`` value that selects this protocol.
    name: ClassVar[str] = ""
    #: Baud rate when the URL gives none.
    default_baud: ClassVar[int] = 115_200

    def __init__(
        self,
        link: SerialTransport,
        request: StreamRequest,
        indexer: StreamIndexer,
        stats: DeviceStats,
        clock: Clock,
    ) -> None:
        self.link = link
        self.request = request
        self.indexer = indexer
        self.stats = stats
        self.clock = clock
        self._setup()

    def _setup(self) -> None:  # noqa: B027 - an optional hook, not every protocol keeps state
        """The protocol's own state (decoder, counters), made after the shared fields above."""

    @property
    def port(self) -> str:
        """The port's name, for messages."""
        return self.link.port

    @abstractmethod
    def open(self) -> StreamInfo:
        """On a just-opened link: learn (or set up) the stream. DeviceError with a fix if the
        board does not speak this protocol."""

    @abstractmethod
    def start(self) -> None:
        """Begin streaming (before the first :meth:`feed`)."""

    @abstractmethod
    def feed(self, data: bytes, now: float) -> None:
        """Bytes that arrived at ``now``: decode them and hand the rows to the indexer."""

    @abstractmethod
    def resume(self) -> None:
        """The transport reopened the port after a loss: pick the stream up again (DeviceError
        if the board is not back, or is back with another stream; the transport retries)."""

    def on_silence(self, silent_s: float) -> None:  # noqa: B027 - an optional hook
        """No bytes for ``silent_s`` seconds while streaming (a nudge may wake the board)."""

    def stop(self) -> None:  # noqa: B027 - an optional hook
        """Streaming ended; the link may already be gone."""

    @abstractmethod
    def rate_advice(self, verdict: RateVerdict, info: StreamInfo) -> str:
        """What to do about a board delivering off its declared rate."""


def channel_infos(
    kinds: tuple[ChannelKind, ...],
    pins: tuple[int | None, ...],
    vref_v: float,
    adc_bits: int,
    pot_kohm: float,
    raw_gain: float = hardware.MYOWARE_RAW_GAIN,
) -> tuple[ChannelInfo, ...]:
    """Channel names, gains and uV scales (REF carries RAW's gain so RAW - REF works in uV).

    ``raw_gain`` is the amplifier's gain on RAW/REF: MyoWare's 200 unless the URL says ``gain=``
    (e.g. a BioAmp or another front end on a Chords board)."""
    env_gain = hardware.myoware_env_gain(pot_kohm)
    out = []
    seen: dict[ChannelKind, int] = {}
    for kind, pin in zip(kinds, pins, strict=True):
        seen[kind] = seen.get(kind, 0) + 1
        name = kind.value if seen[kind] == 1 else f"{kind.value}{seen[kind]}"
        gain = env_gain if kind is ChannelKind.ENV else raw_gain
        out.append(ChannelInfo(name, kind, gain, counts_to_uv_scale(vref_v, adc_bits, gain), pin))
    return tuple(out)
