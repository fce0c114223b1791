"""SerialDevice: a board on a serial port (``serial://PORT?...``): binary, text or Chords.

It composes three parts and owns only the reader loop that joins them:

- :class:`~biofeedback.devices.transport.SerialTransport`: the port (an OS port or a pySerial URL
  such as ``socket://HOST:PORT``), its errors, and reconnecting a lost board;
- a :class:`~biofeedback.devices.protocol.Protocol` chosen by ``format=``: ``binary``
  (firmware/biofeedback, :mod:`~biofeedback.devices.firmware_protocol`), ``text`` (the stock
  example sketches, :mod:`~biofeedback.devices.text_protocol`) or ``chords`` (Upside Down Labs'
  Chords firmware, :mod:`~biofeedback.devices.chords_protocol`);
- :class:`~biofeedback.devices.stream_index.StreamIndexer`: every sample on the stream's clock,
  gaps as NaN samples flagged MISSING.

When the port vanishes (cable pulled, board reset) the reader reports
:attr:`DeviceState.RECONNECTING` with the reason, retries, resumes the same stream and fills the
time it was away with missing samples. Samples received before the loss are all delivered first.
A board that stays away longer than the reconnect window (``reconnect_s``, default 30 s) ends
the stream: a final :attr:`DeviceState.ERROR` says so, and a recording stops, keeping what it has.

URL options: ``baud`` (binary 500000, text 115200, chords 230400), ``format``
(binary|text|chords), ``board`` (uno|12bit|uno-r4; text mode's ADC, in binary mode checked
against the firmware; chords: also the Chords board names, checked against its answer), ``bits`` (ADC
resolution 8..16, default the board's: a sketch calling analogReadResolution(n) needs ``bits=n``
in text mode; in binary mode checked against the firmware, which reports its own), ``channels``
(raw,env,rect,ref per column/pin), ``pins`` (binary: analog pins, default 0,1,2...; chords:
which of the board's inputs become channels, default all), ``fs``
(binary: rate to set; text: the known rate instead of estimating it), ``pot_kohm`` (MyoWare gain
pot, ENV scale), ``gain`` (the amplifier's gain on RAW/REF, 1-100000, default MyoWare's 200: give
your front end's, e.g. a BioAmp's, so microvolts are true), ``reconnect`` (on|off), ``reconnect_s`` (seconds a lost board may stay away,
0-600, default 30), ``timeout`` (seconds to wait for the board at open).
"""

from __future__ import annotations

from biofeedback.core import hardware
from biofeedback.core.clock import Clock, MonotonicClock
from biofeedback.core.types import ChannelKind, StreamInfo
from biofeedback.devices import wire
from biofeedback.devices.base import MAX_RECONNECT_S, ThreadedDevice, check_reconnect_s
from biofeedback.devices.chords_protocol import CHORDS_BOARDS, ChordsProtocol
from biofeedback.devices.facts_types import SourceFacts, setup_from_url
from biofeedback.devices.firmware_protocol import FirmwareProtocol
from biofeedback.devices.protocol import Protocol, StreamRequest
from biofeedback.devices.rate_check import RateVerdict
from biofeedback.devices.source_url import SourceURL
from biofeedback.devices.stream_index import StreamIndexer
from biofeedback.devices.text_protocol import TextProtocol
from biofeedback.devices.transport import DEFAULT_RECONNECT_S, PortLost, SerialTransport
from biofeedback.errors import DeviceError, SourceURLError

#: Largest analogue gain a ``gain=`` option accepts (instrumentation amplifiers stop near 10^4).
MAX_RAW_GAIN = 100_000.0

#: ``format=`` value -> protocol handler (docs/hardware.md: adding a protocol).
PROTOCOLS: dict[str, type[Protocol]] = {
    FirmwareProtocol.name: FirmwareProtocol,
    TextProtocol.name: TextProtocol,
    ChordsProtocol.name: ChordsProtocol,
}
#: Silence while streaming after which the port is reopened.
SILENCE_RECONNECT_S = 5.0

__all__ = ["DEFAULT_RECONNECT_S", "PROTOCOLS", "SILENCE_RECONNECT_S", "SerialDevice"]


class SerialDevice(ThreadedDevice):
    """A board on a serial port; see the module docstring for the options."""

    scheme = "serial"
    kind_label = "board on a serial port"
    url_options = (
        "format",
        "baud",
        "board",
        "bits",
        "channels",
        "pins",
        "fs",
        "pot_kohm",
        "gain",
        "reconnect",
        "reconnect_s",
        "timeout",
    )

    @classmethod
    def facts(cls, url: SourceURL) -> SourceFacts:
        """Electrodes on a person; the port as label. A stock sketch's text stream
        (``format=text``) takes the app's Board/ADC choice (an Uno when the URL names none);
        our firmware and Chords report their own."""
        text_mode = url.params.get("format") == TextProtocol.name
        board, bits = setup_from_url(url, "uno") if text_mode else (None, None)
        return SourceFacts(
            url=url.text,
            scheme=cls.scheme,
            kind=cls.kind_label,
            label=url.path or cls.kind_label,
            on_body=cls.on_body,
            options=cls.url_options,
            takes_setup=text_mode,
            board=board,
            adc_bits=bits,
        )

    def __init__(
        self,
        port: str,
        *,
        baud: int | None = None,
        text: bool = False,
        board: str | None = None,
        adc_bits: int | None = None,
        channels: list[ChannelKind] | None = None,
        pins: list[int] | None = None,
        fs_hz: float | None = None,
        pot_kohm: float = hardware.MYOWARE_DEFAULT_POT_KOHM,
        raw_gain: float = hardware.MYOWARE_RAW_GAIN,
        reconnect: bool = True,
        reconnect_s: float = DEFAULT_RECONNECT_S,
        open_timeout_s: float = 3.0,
        calibrate_s: float = 2.0,
        url: str = "",
        clock: Clock | None = None,
        fmt: str | None = None,
    ) -> None:
        super().__init__(url or f"serial://{port}")
        if not port:
            raise SourceURLError(
                "serial:// needs a port, e.g. serial:///dev/ttyACM0, serial://COM3 or "
                "serial://socket://HOST:PORT (run `biofeedback devices` to list ports)"
            )
        #: The protocol's name (``format=``): a key of :data:`PROTOCOLS`.
        self.format = fmt or (TextProtocol.name if text else FirmwareProtocol.name)
        if self.format not in PROTOCOLS:
            raise SourceURLError(f"format={self.format!r}: choose one of {', '.join(PROTOCOLS)}")
        self.port = port
        self.text = self.format == TextProtocol.name
        self.baud = int(baud or PROTOCOLS[self.format].default_baud)
        self.board_key = board
        self.adc_bits = adc_bits
        self.channels = channels
        self.pins = pins
        self.fs_request = fs_hz
        self.pot_kohm = pot_kohm
        self.raw_gain = raw_gain
        self.open_timeout_s = open_timeout_s
        self.calibrate_s = calibrate_s
        self.clock: Clock = clock or MonotonicClock()
        self.transport = SerialTransport(
            port,
            self.baud,
            reconnect=reconnect,
            reconnect_s=reconnect_s,
            clock=self.clock,
            stats=self.stats,
        )
        self.indexer = StreamIndexer(self._emit, self.stats, note=self._note)
        #: The protocol handler of the current connection (None before :meth:`open`).
        self.protocol: Protocol | None = None

    # ---- settings and state ----------------------------------------------------------------

    @property
    def reconnect(self) -> bool:
        """Whether a lost board is waited for (``reconnect=on``)."""
        return self.transport.reconnect_enabled

    @property
    def reconnect_s(self) -> float:
        """Seconds a lost board may stay away before the stream ends with an error."""
        return self.transport.reconnect_s

    def set_reconnect_window(self, seconds: float | None) -> None:
        """How long a lost board may stay away before the stream ends (None: keep it)."""
        if seconds is not None:
            self.transport.reconnect_s = check_reconnect_s(seconds)

    @property
    def device_info(self) -> wire.InfoPacket | None:
        """The firmware's INFO as the stream started (binary mode, after :meth:`open`)."""
        proto = self.protocol
        return proto.device_info if isinstance(proto, FirmwareProtocol) else None

    @property
    def last_status(self) -> wire.StatusPacket | None:
        """The firmware's latest STATUS (binary mode)."""
        proto = self.protocol
        return proto.last_status if isinstance(proto, FirmwareProtocol) else None

    @property
    def index_offset(self) -> int | None:
        """Stream index minus the firmware's sample index for the current connection (binary
        mode; None before the first sample). Changes when a rebooted board restarts its count."""
        return self.indexer.offset

    def rate_problem(self, verdict: RateVerdict) -> str:
        """What was measured, naming the port."""
        return verdict.describe(f"the board on {self.port}")

    def rate_advice(self, verdict: RateVerdict) -> str:
        """What to do about a board off its declared rate (its protocol knows)."""
        if self.protocol is None or self.info is None:
            return super().rate_advice(verdict)
        return self.protocol.rate_advice(verdict, self.info)

    def _note(self, message: str) -> None:
        self.last_message = message

    # ---- construction ----------------------------------------------------------------------

    @classmethod
    def from_url(cls, url: SourceURL) -> SerialDevice:
        """Build from a parsed ``serial://`` URL (options in the module docstring)."""
        fmt = url.get_str("format", FirmwareProtocol.name, choices=list(PROTOCOLS))
        binary = fmt == FirmwareProtocol.name
        baud = url.get_int("baud", None, lo=300, hi=4_000_000)
        boards = list(hardware.BOARDS)
        if fmt == ChordsProtocol.name:
            boards += list(CHORDS_BOARDS) + [b.lower() for b in CHORDS_BOARDS]
        board = url.get_str("board", None, choices=boards)
        bits = url.get_int("bits", None, lo=hardware.ADC_BITS_MIN, hi=hardware.ADC_BITS_MAX)
        names = url.get_list("channels", None, choices=[k.value for k in ChannelKind])
        pins_text = url.get_list("pins", None)
        fs = url.get_float("fs", None, lo=1.0, hi=100_000.0)
        pot = url.get_float("pot_kohm", hardware.MYOWARE_DEFAULT_POT_KOHM, lo=0.0, hi=1000.0)
        gain = url.get_float("gain", hardware.MYOWARE_RAW_GAIN, lo=1.0, hi=MAX_RAW_GAIN)
        reconnect = url.get_str("reconnect", "on", choices=["on", "off"]) == "on"
        reconnect_s = url.get_float("reconnect_s", DEFAULT_RECONNECT_S, lo=0.0, hi=MAX_RECONNECT_S)
        timeout = url.get_float("timeout", 3.0, lo=0.1, hi=60.0)
        channels = [ChannelKind(n) for n in names] if names is not None else None
        pins = _parse_pins(url, pins_text, channels, fmt or FirmwareProtocol.name)
        if channels is not None and not 1 <= len(channels) <= 6:
            raise SourceURLError(f"{url.text}: 1 to 6 channels")
        if binary and fs is not None and fs != round(fs):
            raise SourceURLError(f"{url.text}: the firmware's rate is whole hertz (fs={round(fs)})")
        return cls(
            url.path,
            baud=baud,
            fmt=fmt,
            board=board,
            adc_bits=bits,
            channels=channels,
            pins=pins,
            fs_hz=fs,
            pot_kohm=pot if pot is not None else hardware.MYOWARE_DEFAULT_POT_KOHM,
            raw_gain=gain if gain is not None else hardware.MYOWARE_RAW_GAIN,
            reconnect=reconnect,
            reconnect_s=DEFAULT_RECONNECT_S if reconnect_s is None else reconnect_s,
            open_timeout_s=timeout if timeout is not None else 3.0,
            url=url.text,
        )

    def _request(self) -> StreamRequest:
        return StreamRequest(
            board=self.board_key,
            adc_bits=self.adc_bits,
            channels=tuple(self.channels) if self.channels is not None else None,
            pins=tuple(self.pins) if self.pins is not None else None,
            fs_hz=self.fs_request,
            pot_kohm=self.pot_kohm,
            raw_gain=self.raw_gain,
            open_timeout_s=self.open_timeout_s,
            calibrate_s=self.calibrate_s,
        )

    # ---- open / close ----------------------------------------------------------------------

    def open(self) -> StreamInfo:
        """Open the port, identify the board (or learn the text stream) and report the format."""
        protocol = PROTOCOLS[self.format](
            self.transport, self._request(), self.indexer, self.stats, self.clock
        )
        self.transport.open()
        try:
            info = protocol.open()
        except BaseException:
            self.transport.close()
            raise
        self.protocol = protocol
        self.info = self.indexer.info = info
        self.stats.extra["baud"] = float(self.baud)
        return info

    def stop(self) -> None:
        """Stop the reader thread, then let the protocol stop the board (binary: STOP)."""
        super().stop()
        if self.protocol is not None:
            self.protocol.stop()

    def close(self) -> None:
        """Stop and release the port."""
        self.stop()
        self.transport.close()

    # ---- streaming -------------------------------------------------------------------------

    def _run(self) -> bool:
        protocol = self.protocol
        if protocol is None:
            raise DeviceError(f"{self.port} is not open")
        protocol.start()
        last_data = self.clock.now()
        while not self._stop_event.is_set():
            try:
                data = self.transport.read()
            except PortLost as lost:
                if not self._reconnect(protocol, lost.reason):
                    return False
                last_data = self.clock.now()
                continue
            now = self.clock.now()
            if data:
                last_data = now
                self.transport.data_flowing()
                protocol.feed(data, now)
                continue
            silent = now - last_data
            protocol.on_silence(silent)
            if silent > SILENCE_RECONNECT_S and self.reconnect:
                if not self._reconnect(protocol, f"no data for {silent:.0f} s"):
                    return False
                last_data = self.clock.now()
        return False

    def _reconnect(self, protocol: Protocol, reason: str) -> bool:
        """The transport reopens the port, the protocol resumes the stream (or raises)."""
        return self.transport.reconnect(reason, protocol.resume, self._stop_event, self._set_state)


def _parse_pins(
    url: SourceURL, pins_text: list[str] | None, channels: list[ChannelKind] | None, fmt: str
) -> list[int] | None:
    """``pins=0,1`` or ``pins=A0,A1``: one analog pin per channel (binary), or which of a
    Chords board's inputs to use (chords; its input count is checked when it answers)."""
    if pins_text is None:
        return None
    try:
        pins = [int(p.upper().removeprefix("A")) for p in pins_text]
    except ValueError:
        raise SourceURLError(
            f"{url.text}: pins must be analog pin numbers, e.g. pins=0,1,2"
        ) from None
    if fmt == ChordsProtocol.name:
        if any(not 0 <= p <= 15 for p in pins):
            raise SourceURLError(f"{url.text}: pins are 0..15 (A0..A15)")
        if channels is not None and len(pins) != len(channels):
            raise SourceURLError(f"{url.text}: give as many pins as channels")
        return pins
    if any(not 0 <= p <= 5 for p in pins):
        raise SourceURLError(f"{url.text}: pins are 0..5 (A0..A5)")
    if fmt != FirmwareProtocol.name:
        raise SourceURLError(f"{url.text}: pins= applies to format=binary only (and format=chords)")
    if channels is None or len(pins) != len(channels):
        raise SourceURLError(
            f"{url.text}: give as many pins as channels (channels=raw,env&pins=0,1)"
        )
    return pins
