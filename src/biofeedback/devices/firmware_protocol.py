"""FirmwareProtocol: firmware/biofeedback's binary protocol (docs/wire-protocol.md).

IDENTIFY handshake, optional SET_RATE / SET_CHANNELS, START, then SAMPLES frames decoded by
:class:`wire.Decoder`. The firmware's absolute sample index puts every sample on the stream's
clock (:class:`~biofeedback.devices.stream_index.StreamIndexer`), so a lost frame or an ISR overrun
becomes an explicit gap. A board that reboots mid-stream (it sends INFO at boot) is configured
again and restarted; after a reconnect the same stream is resumed or refused with a reason.
"""

from __future__ import annotations

import logging
import threading

from biofeedback.core import hardware
from biofeedback.core.types import ChannelKind, StreamInfo
from biofeedback.devices import wire
from biofeedback.devices.protocol import Protocol, channel_infos
from biofeedback.devices.rate_check import RateVerdict
from biofeedback.errors import DeviceError

log = logging.getLogger(__name__)

BINARY_BAUD = 500_000
IDENTIFY_RETRY_S = 0.5
#: Silence while streaming after which IDENTIFY and START are sent again.
SILENCE_RESTART_S = 1.5
#: Bytes of a failed handshake kept to tell a text sketch from noise.
SNIFF_BYTES = 512


class FirmwareProtocol(Protocol):
    """firmware/biofeedback on the link; see the module docstring."""

    name = "binary"
    default_baud = BINARY_BAUD

    def _setup(self) -> None:
        self.decoder = wire.Decoder()
        #: The board's answer to IDENTIFY as the stream started (after configuring it).
        self.device_info: wire.InfoPacket | None = None
        self.last_status: wire.StatusPacket | None = None
        self._seq = 0
        # a reader still reconnecting may send while stop() sends STOP: one number, one frame
        self._send_lock = threading.Lock()
        self._restarted = False  # IDENTIFY + START re-sent during the current silence
        self._overrun_base = 0
        self._overrun_last = 0

    # ---- commands --------------------------------------------------------------------------

    def send(self, ptype: wire.PacketType, body: bytes = b"") -> int:
        """Send a command; returns its sequence number (PortLost if the link is gone)."""
        with self._send_lock:
            seq = self._seq
            self._seq = (self._seq + 1) & 0xFFFF
            self.link.write(wire.encode_command(ptype, seq, body))
        return seq

    def try_send(self, ptype: wire.PacketType, body: bytes = b"") -> None:
        """Send if the link is there; a vanished port is reported by the next read."""
        try:
            self.send(ptype, body)
        except DeviceError as exc:
            log.debug("%s: %s not sent: %s", self.port, ptype.name, exc)

    def command(self, ptype: wire.PacketType, body: bytes = b"", timeout_s: float = 1.0) -> None:
        """Send a command and wait for its STATUS acknowledgement; ERROR -> DeviceError."""
        seq = self.send(ptype, body)
        start = self.clock.now()
        while self.clock.now() - start < timeout_s:
            for packet in self.decoder.feed(self.link.read()):
                if isinstance(packet, wire.ErrorPacket) and packet.ack_seq == seq:
                    raise DeviceError(f"{self.port} refused {ptype.name.lower()}: {packet.message}")
                if (
                    isinstance(packet, wire.StatusPacket)
                    and packet.ack_seq == seq
                    and packet.ack_type == ptype
                ):
                    self.last_status = packet
                    return
        raise DeviceError(
            f"{self.port} did not acknowledge {ptype.name.lower()} within {timeout_s:g} s"
        )

    def version_error(self, version: int | None) -> DeviceError:
        """The error for firmware speaking another protocol version."""
        theirs = (
            f"wire protocol v{version}" if version is not None else "another wire protocol version"
        )
        return DeviceError(
            f"the firmware on {self.port} speaks {theirs}; this app speaks "
            f"v{wire.PROTOCOL_VERSION}: flash firmware/biofeedback from this version of the app "
            "(firmware/README.md)"
        )

    # ---- open ------------------------------------------------------------------------------

    def open(self) -> StreamInfo:
        """Identify the board, apply the URL's channels, pins and rate, report the format."""
        info = self._configure(self.handshake(self.request.open_timeout_s))
        self.device_info = info
        return self._stream_info(info)

    def handshake(self, timeout_s: float) -> wire.InfoPacket:
        """IDENTIFY until an INFO answers (an Uno reboots when the port opens: ~1-2 s)."""
        decoder = self.decoder
        decoder.reset()
        self.link.discard_input()  # stale bytes from before we opened
        # Replies start at a frame boundary: without this the first INFO would be taken for
        # the tail of a frame joined halfway (a board still streaming costs one counted error).
        decoder.feed(b"\x00")
        frames_before = decoder.stats.frames
        received = 0
        sample = bytearray()
        start = self.clock.now()
        next_identify = start
        while True:
            now = self.clock.now()
            if now >= next_identify:
                self.send(wire.PacketType.IDENTIFY)
                next_identify = now + IDENTIFY_RETRY_S
            data = self.link.read()
            received += len(data)
            if len(sample) < SNIFF_BYTES:
                sample += data[: SNIFF_BYTES - len(sample)]
            for packet in decoder.feed(data):
                if isinstance(packet, wire.VersionMismatch):
                    raise self.version_error(packet.version)
                if isinstance(packet, wire.ErrorPacket) and packet.code == wire.ErrorCode.VERSION:
                    raise self.version_error(None)
                if isinstance(packet, wire.InfoPacket):
                    return packet
            if self.clock.now() - start > timeout_s:
                break
        raise self._no_answer(timeout_s, received, decoder.stats.frames > frames_before, sample)

    def _no_answer(
        self, timeout_s: float, received: int, framed: bool, sample: bytearray
    ) -> DeviceError:
        """Why the handshake failed: silence, something else than frames, or no INFO."""
        if received == 0:
            return DeviceError(
                f"no data from {self.port} in {timeout_s:g} s: is the biofeedback firmware flashed "
                "(see firmware/README.md)? A board running a sketch that prints numbers needs "
                "format=text"
            )
        if not framed:
            hint = ""
            if looks_like_text(bytes(sample)):
                hint = " (it sends lines of text: add ?format=text to the URL)"
            return DeviceError(
                f"no valid frame in {received} bytes from {self.port}: is the biofeedback firmware "
                f"flashed? try format=text{hint}; the firmware runs at {BINARY_BAUD} baud"
            )
        return DeviceError(
            f"{self.port} sends frames but does not answer IDENTIFY: reflash firmware/biofeedback"
        )

    def _check_board(self, info: wire.InfoPacket) -> None:
        """The URL's bits= and board= must match what the firmware reports."""
        req = self.request
        if req.adc_bits is not None and req.adc_bits != info.adc_bits:
            raise DeviceError(
                f"the firmware on {self.port} reports a {info.adc_bits}-bit ADC, not "
                f"{req.adc_bits}-bit: remove bits= (our firmware reports its ADC itself) or "
                "flash the right build"
            )
        if req.board is not None and req.board in hardware.BOARDS:
            want = hardware.board(req.board).with_bits(req.adc_bits)
            if want.adc_bits != info.adc_bits:
                raise DeviceError(
                    f"the firmware on {self.port} reports a {info.adc_bits}-bit {info.board!r} board, "
                    f"not {req.board} ({want.adc_bits}-bit): remove board= or flash the right build"
                )

    def _configure(self, info: wire.InfoPacket) -> wire.InfoPacket:
        """Apply the URL's channels, pins and rate if the firmware's differ."""
        self._check_board(info)
        req = self.request
        want_kinds = req.channels if req.channels is not None else info.kinds
        want_pins = (
            req.pins
            if req.pins is not None
            else (tuple(range(len(want_kinds))) if req.channels is not None else info.pins)
        )
        want_fs = req.fs_hz if req.fs_hz is not None else info.fs_hz
        change_channels = (want_kinds, want_pins) != (info.kinds, info.pins)
        change_rate = abs(want_fs - info.fs_hz) > 0.01 * want_fs
        if not (change_channels or change_rate):
            return info
        self.command(wire.PacketType.STOP)
        if change_channels:
            self.command(wire.PacketType.SET_CHANNELS, channels_body(want_pins, want_kinds))
        if change_rate:
            self.command(wire.PacketType.SET_RATE, rate_body(want_fs))
        return self.handshake(self.request.open_timeout_s)

    def _stream_info(self, info: wire.InfoPacket) -> StreamInfo:
        req = self.request
        board_key = info.board if info.board in hardware.BOARDS else (req.board or info.board)
        channels = channel_infos(
            info.kinds, info.pins, info.vref_v, info.adc_bits, req.pot_kohm, req.raw_gain
        )
        return StreamInfo(
            fs_hz=info.fs_hz,
            channels=channels,
            adc_bits=info.adc_bits,
            vref_v=info.vref_v,
            units="counts",
            board=board_key,
            device=f"{self.port} (biofeedback firmware {info.firmware})",
            realtime=True,
            fs_estimated=False,
            extra={
                "port": self.port,
                "format": "binary",
                "firmware": info.firmware,
                "protocol": str(wire.PROTOCOL_VERSION),
                "samples_per_frame": str(info.samples_per_frame),
            },
        )

    # ---- streaming -------------------------------------------------------------------------

    def start(self) -> None:
        """Count the stream's frames (not the handshake's) and send START."""
        self.decoder.stats = wire.DecoderStats()
        self.send(wire.PacketType.START)

    def feed(self, data: bytes, now: float) -> None:
        """Decode frames: samples to the indexer, STATUS to the stats, INFO = a reboot."""
        self._restarted = False
        for packet in self.decoder.feed(data):
            if isinstance(packet, wire.SamplesBlock):
                self.indexer.block(packet.first_index, packet.samples, now)
            elif isinstance(packet, wire.StatusPacket):
                self._on_status(packet)
            elif isinstance(packet, wire.InfoPacket):
                self._on_info_midstream(packet)
            elif isinstance(packet, wire.VersionMismatch):
                raise self.version_error(packet.version)
        s = self.decoder.stats
        self.stats.frame_errors = s.frame_errors
        self.stats.extra["lost_frames"] = float(s.lost_frames)
        self.stats.extra["duplicate_frames"] = float(s.duplicate_frames)
        self.stats.extra["crc_errors"] = float(s.crc_errors)

    def _on_status(self, packet: wire.StatusPacket) -> None:
        self.last_status = packet
        if packet.overruns < self._overrun_last:  # the firmware restarted its count
            self._overrun_base += self._overrun_last
        self._overrun_last = packet.overruns
        self.stats.overruns = self._overrun_base + packet.overruns
        self.stats.extra["ring_fill_max"] = float(packet.fill_max)
        self.stats.extra["device_rx_errors"] = float(packet.rx_errors)

    def _on_info_midstream(self, info: wire.InfoPacket) -> None:
        """An INFO while streaming: the board rebooted (it sends INFO at boot) or answered us."""
        end = self.indexer.device_end
        if end is not None and info.sample_index < end:
            self.indexer.rebase = True  # its count restarted: place the next block by time
        before = self.device_info
        if before is not None and not same_stream(info, before):
            # a rebooted board forgets SET_CHANNELS / SET_RATE: apply them again (acknowledged
            # in the stream; the firmware handles commands in order, START last)
            for ptype, body in config_commands(before):
                self.try_send(ptype, body)
            self.try_send(wire.PacketType.START)
        elif not info.streaming:
            self.try_send(wire.PacketType.START)

    def on_silence(self, silent_s: float) -> None:
        """A board that rebooted quietly (brown-out, DTR) waits for START again."""
        if silent_s > SILENCE_RESTART_S and not self._restarted:
            self.try_send(wire.PacketType.IDENTIFY)
            self.try_send(wire.PacketType.START)
            self._restarted = True

    def resume(self) -> None:
        """After reopening: same stream? Re-apply settings the board forgot; pick the index map;
        START again."""
        info = self.handshake(self.request.open_timeout_s)
        before = self.device_info
        if before is None:
            raise DeviceError(f"{self.port}: resumed before the stream was opened")
        if not same_stream(info, before):
            if info.sample_index == 0 or not info.streaming:
                # a fresh boot with the defaults: configure it as before
                self.command(wire.PacketType.STOP)
                for ptype, body in config_commands(before):
                    self.command(ptype, body)
                info = self.handshake(self.request.open_timeout_s)
            if not same_stream(info, before):
                raise DeviceError(
                    f"the board on {self.port} now streams {info.n_channels} channel(s) at "
                    f"{info.fs_hz:g} Hz, not the {before.n_channels} at {before.fs_hz:g} Hz this "
                    "stream started with: restart the stream"
                )
        end = self.indexer.device_end
        if end is None or info.sample_index < end:
            self.indexer.rebase = True  # the board restarted: its index tells nothing of the gap
        # else the index kept counting while we were away: the gap is exact
        self.send(wire.PacketType.START)

    def stop(self) -> None:
        """Tell the firmware to stop sampling (if the port is still there)."""
        if self.link.is_open:
            self.try_send(wire.PacketType.STOP)

    def rate_advice(self, verdict: RateVerdict, info: StreamInfo) -> str:
        """Our firmware's rate is timer-driven: off means wrong firmware or a bad clock."""
        return (
            "its firmware or clock is wrong: flash firmware/biofeedback from this version of the "
            "app (firmware/README.md), and if it persists try another board"
        )


# ---- helpers ---------------------------------------------------------------------------------


def same_stream(a: wire.InfoPacket, b: wire.InfoPacket) -> bool:
    """Same channels, pins and rate."""
    return (a.kinds, a.pins) == (b.kinds, b.pins) and abs(a.fs_hz - b.fs_hz) <= 1e-6


def channels_body(pins: tuple[int, ...], kinds: tuple[ChannelKind, ...]) -> bytes:
    """SET_CHANNELS' body: count, then (pin, kind code) pairs."""
    body = bytes([len(pins)])
    for pin, kind in zip(pins, kinds, strict=True):
        body += bytes([pin, wire.KIND_TO_CODE[kind]])
    return body


def rate_body(fs_hz: float) -> bytes:
    """SET_RATE's body: whole hertz, little-endian u16."""
    return round(fs_hz).to_bytes(2, "little")


def config_commands(info: wire.InfoPacket) -> list[tuple[wire.PacketType, bytes]]:
    """SET_CHANNELS and SET_RATE that reproduce ``info``'s configuration on a rebooted board."""
    return [
        (wire.PacketType.SET_CHANNELS, channels_body(info.pins, info.kinds)),
        (wire.PacketType.SET_RATE, rate_body(info.fs_hz)),
    ]


def looks_like_text(sample: bytes) -> bool:
    """True if the bytes look like lines of printable text (a sketch printing numbers)."""
    if not sample:
        return False
    printable = sum(1 for b in sample if 32 <= b < 127 or b in (9, 10, 13))
    return printable / len(sample) > 0.95 and b"\n" in sample
