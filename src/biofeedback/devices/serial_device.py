"""SerialDevice: a board on a serial port (``serial://PORT?...``), binary or text.

Binary mode talks to ``firmware/biofeedback`` (docs/wire-protocol.md): IDENTIFY handshake, optional
SET_RATE / SET_CHANNELS, START, then SAMPLES frames decoded by :class:`wire.Decoder`. The firmware's
absolute sample index puts every sample on the stream's clock, so a lost frame or an ISR overrun
becomes an explicit gap: NaN samples flagged :attr:`Flag.MISSING`, never a silent splice.

Text mode accepts what the stock SparkFun/MyoWare example sketches print (numbers per line, no
rate, no framing). The user says which board it is and what the columns are; the rate is
estimated from arrival times during :meth:`open` and reported with ``fs_estimated=True``.

When the port vanishes (cable pulled, board reset) the reader thread reports
:attr:`DeviceState.RECONNECTING` with the reason, retries, resumes the same stream and fills the
time it was away with missing samples. Samples received before the loss are all delivered first.
A board that stays away longer than the reconnect window (``reconnect_s``, default 30 s) ends
the stream: a final :attr:`DeviceState.ERROR` says so, and a recording stops, keeping what it has.

URL options: ``baud`` (binary 500000, text 115200), ``format`` (binary|text), ``board``
(uno|12bit|uno-r4; text mode's ADC, in binary mode checked against the firmware), ``bits`` (ADC
resolution 8..16, default the board's: a sketch calling analogReadResolution(n) needs ``bits=n``
in text mode; in binary mode checked against the firmware, which reports its own), ``channels``
(raw,env,rect,ref per column/pin), ``pins`` (binary: analog pins, default 0,1,2...), ``fs``
(binary: rate to set; text: the known rate instead of estimating it), ``pot_kohm`` (MyoWare gain
pot, ENV scale), ``reconnect`` (on|off), ``reconnect_s`` (seconds a lost board may stay away,
0-600, default 30), ``timeout`` (seconds to wait for the board at open).
"""

from __future__ import annotations

import errno
import math
import sys
import threading
from dataclasses import dataclass

import numpy as np

from biofeedback.core import hardware
from biofeedback.core.clock import Clock, MonotonicClock
from biofeedback.core.types import (
    ChannelInfo,
    ChannelKind,
    Chunk,
    Flag,
    StreamInfo,
    counts_to_uv_scale,
)
from biofeedback.devices import wire
from biofeedback.devices.base import (
    MAX_RECONNECT_S,
    DeviceState,
    ThreadedDevice,
    check_reconnect_s,
)
from biofeedback.devices.rate_check import RateVerdict
from biofeedback.devices.registry import SourceURL
from biofeedback.errors import DeviceError, SourceURLError

try:  # pyserial is a dependency; keep the import error readable if it is missing
    import serial
except ImportError:  # pragma: no cover - exercised only on broken installs
    serial = None  # type: ignore[assignment]

BINARY_BAUD = 500_000
TEXT_BAUD = 115_200
READ_TIMEOUT_S = 0.05
IDENTIFY_RETRY_S = 0.5
#: Longest stretch of missing samples filled with NaN (longer outages are capped, with a message).
MAX_GAP_FILL_S = 600.0
GAP_CHUNK_S = 1.0
#: Silence while streaming after which START is re-sent, and after which the port is reopened.
SILENCE_RESTART_S = 1.5
SILENCE_RECONNECT_S = 5.0
RECONNECT_RETRY_S = 0.25
#: How long a lost board may stay away before the stream ends (``reconnect_s=``, --reconnect-s).
DEFAULT_RECONNECT_S = 30.0
DIALOUT_HINT = (
    "add yourself to the dialout group: sudo usermod -aG dialout $USER, then log out and in"
)


@dataclass
class _Remap:
    """How device sample indices map to stream indices, and what to do at the next block."""

    offset: int | None = None  # stream index = device index + offset
    rebase: bool = False  # next block: device index restarted; estimate the gap from time


class SerialDevice(ThreadedDevice):
    """A board on a serial port; see the module docstring for the options."""

    scheme = "serial"

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
        reconnect: bool = True,
        reconnect_s: float = DEFAULT_RECONNECT_S,
        open_timeout_s: float = 3.0,
        calibrate_s: float = 2.0,
        url: str = "",
        clock: Clock | None = None,
    ) -> None:
        super().__init__(url or f"serial://{port}")
        if not port:
            raise SourceURLError(
                "serial:// needs a port, e.g. serial:///dev/ttyACM0 or serial://COM3 "
                "(run `biofeedback devices` to list ports)"
            )
        self.port = port
        self.text = text
        self.baud = int(baud or (TEXT_BAUD if text else BINARY_BAUD))
        self.board_key = board
        self.adc_bits = adc_bits
        self.channels = channels
        self.pins = pins
        self.fs_request = fs_hz
        self.pot_kohm = pot_kohm
        self.reconnect = reconnect
        #: Seconds a lost board may stay away before the stream ends with an error.
        self.reconnect_s = check_reconnect_s(reconnect_s, "reconnect_s")
        self.open_timeout_s = open_timeout_s
        self.calibrate_s = calibrate_s
        self.clock: Clock = clock or MonotonicClock()
        self.device_info: wire.InfoPacket | None = None
        self.last_status: wire.StatusPacket | None = None
        self._ser = None
        self._write_lock = threading.Lock()
        self._seq = 0
        self._decoder = wire.Decoder()
        self._text_decoder: wire.TextDecoder | None = None
        self._pending_rows: list[tuple[float, np.ndarray]] = []
        self._remap = _Remap()
        self._stream_next = 0  # stream index of the next sample to emit
        self._last_arrival: float | None = None
        #: When the board was found gone (None while data flows): the reconnect window counts
        #: from here across reopenings that bring no data (a port that opens but stays silent)
        self._gone_since: float | None = None
        self._device_end: int | None = None  # device index one past the last sample received
        self._overrun_base = 0
        self._overrun_last = 0

    def set_reconnect_window(self, seconds: float | None) -> None:
        """How long a lost board may stay away before the stream ends (None: keep it)."""
        if seconds is not None:
            self.reconnect_s = check_reconnect_s(seconds)

    def rate_problem(self, verdict: RateVerdict) -> str:
        """What was measured, naming the port."""
        return verdict.describe(f"the board on {self.port}")

    def rate_advice(self, verdict: RateVerdict) -> str:
        """What to do about a board off its declared rate."""
        if self.text:
            if self.info is not None and self.info.fs_estimated:
                return (
                    "the sketch's rate changed after it was measured: fix its delay() and reconnect"
                )
            return (
                f"give the rate it really prints (fs={verdict.measured_hz:.0f} in the URL) or "
                "flash firmware/biofeedback for an exact, timer-driven rate"
            )
        return (
            "its firmware or clock is wrong: flash firmware/biofeedback from this version of the "
            "app (firmware/README.md), and if it persists try another board"
        )

    @property
    def index_offset(self) -> int | None:
        """Stream index minus the firmware's sample index for the current connection (binary
        mode; None before the first sample). Changes when a rebooted board restarts its count."""
        return self._remap.offset

    # ---- construction ----------------------------------------------------------------------

    @classmethod
    def from_url(cls, url: SourceURL) -> SerialDevice:
        """Build from a parsed ``serial://`` URL (options in the module docstring)."""
        fmt = url.get_str("format", "binary", choices=["binary", "text"])
        text = fmt == "text"
        baud = url.get_int("baud", None, lo=300, hi=4_000_000)
        board = url.get_str("board", None, choices=list(hardware.BOARDS))
        bits = url.get_int("bits", None, lo=hardware.ADC_BITS_MIN, hi=hardware.ADC_BITS_MAX)
        names = url.get_list("channels", None, choices=[k.value for k in ChannelKind])
        pins_text = url.get_list("pins", None)
        fs = url.get_float("fs", None, lo=1.0, hi=100_000.0)
        pot = url.get_float("pot_kohm", hardware.MYOWARE_DEFAULT_POT_KOHM, lo=0.0, hi=1000.0)
        reconnect = url.get_str("reconnect", "on", choices=["on", "off"]) == "on"
        reconnect_s = url.get_float("reconnect_s", DEFAULT_RECONNECT_S, lo=0.0, hi=MAX_RECONNECT_S)
        timeout = url.get_float("timeout", 3.0, lo=0.1, hi=60.0)
        pins = None
        if pins_text is not None:
            try:
                pins = [int(p.upper().removeprefix("A")) for p in pins_text]
            except ValueError:
                raise SourceURLError(
                    f"{url.text}: pins must be analog pin numbers, e.g. pins=0,1,2"
                ) from None
            if any(not 0 <= p <= 5 for p in pins):
                raise SourceURLError(f"{url.text}: pins are 0..5 (A0..A5)")
        channels = [ChannelKind(n) for n in names] if names is not None else None
        if pins is not None:
            if text:
                raise SourceURLError(f"{url.text}: pins= applies to format=binary only")
            if channels is None or len(pins) != len(channels):
                raise SourceURLError(
                    f"{url.text}: give as many pins as channels (channels=raw,env&pins=0,1)"
                )
        if channels is not None and not 1 <= len(channels) <= 6:
            raise SourceURLError(f"{url.text}: 1 to 6 channels")
        if not text and fs is not None and fs != round(fs):
            raise SourceURLError(f"{url.text}: the firmware's rate is whole hertz (fs={round(fs)})")
        return cls(
            url.path,
            baud=baud,
            text=text,
            board=board,
            adc_bits=bits,
            channels=channels,
            pins=pins,
            fs_hz=fs,
            pot_kohm=pot if pot is not None else hardware.MYOWARE_DEFAULT_POT_KOHM,
            reconnect=reconnect,
            reconnect_s=DEFAULT_RECONNECT_S if reconnect_s is None else reconnect_s,
            open_timeout_s=timeout if timeout is not None else 3.0,
            url=url.text,
        )

    # ---- open / close ----------------------------------------------------------------------

    def open(self) -> StreamInfo:
        """Open the port, identify the board (or learn the text stream) and report the format."""
        self._ser = self._open_port()
        try:
            if self.text:
                self.info = self._open_text()
            else:
                info = self._handshake(self.open_timeout_s)
                info = self._configure(info)
                self.device_info = info
                self.info = self._binary_stream_info(info)
        except BaseException:
            self._close_port()
            raise
        self.stats.extra["baud"] = float(self.baud)
        return self.info

    def stop(self) -> None:
        """Stop the reader thread, then tell the firmware to stop sampling."""
        super().stop()
        if not self.text and self._ser is not None:
            try:
                self._send(wire.PacketType.STOP)
            except (OSError, DeviceError, AttributeError):
                pass  # the port may already be gone
            except Exception as exc:  # pyserial's own exception types: the port is gone
                if serial is None or not isinstance(exc, serial.SerialException):
                    raise

    def close(self) -> None:
        """Stop and release the port."""
        self.stop()
        self._close_port()

    def _open_port(self):
        if serial is None:
            raise DeviceError("pyserial is not installed: pip install pyserial")
        kwargs = {"baudrate": self.baud, "timeout": READ_TIMEOUT_S, "write_timeout": 1.0}
        if sys.platform != "win32":
            kwargs["exclusive"] = True  # flock: a second program on the port is an error, not chaos
        try:
            return serial.Serial(self.port, **kwargs)
        except serial.SerialException as exc:
            raise self._open_error(exc) from None
        except OSError as exc:
            raise self._open_error(exc) from None
        except ValueError as exc:  # pyserial: unsupported baud rate and the like
            raise DeviceError(f"cannot open {self.port} at {self.baud} baud: {exc}") from None

    def _open_error(self, exc: BaseException) -> DeviceError:
        code = getattr(exc, "errno", None)
        text = str(exc)
        lower = text.lower()
        if (
            code in (errno.ENOENT, errno.ENODEV, errno.ENXIO)
            or "no such file" in lower
            or ("filenotfounderror" in lower or "cannot find the file" in lower)
        ):
            from biofeedback.devices.discovery import describe_available_ports

            return DeviceError(f"no such port {self.port}; {describe_available_ports()}")
        if code == errno.EBUSY or "exclusively lock" in lower or "busy" in lower:
            return DeviceError(
                f"port {self.port} is busy: another program has it open (the Arduino IDE's serial "
                "monitor or plotter, another biofeedback window); close it and try again"
            )
        if (
            code in (errno.EACCES, errno.EPERM)
            or "permission denied" in lower
            or "access is denied" in lower
        ):
            if sys.platform.startswith("linux"):
                return DeviceError(f"permission denied on {self.port}: {DIALOUT_HINT}")
            if sys.platform == "win32":
                return DeviceError(
                    f"access denied on {self.port}: another program probably has it open "
                    "(close the Arduino IDE's serial monitor)"
                )
            return DeviceError(f"permission denied on {self.port}: check the device's permissions")
        return DeviceError(f"cannot open {self.port}: {text}")

    def _close_port(self) -> None:
        ser, self._ser = self._ser, None
        if ser is not None:
            try:
                ser.close()
            except Exception:  # closing a vanished port may fail; there is nothing left to do
                pass

    # ---- binary protocol -------------------------------------------------------------------

    def _send(self, ptype: wire.PacketType, body: bytes = b"") -> int:
        with self._write_lock:
            seq = self._seq
            self._seq = (self._seq + 1) & 0xFFFF
            ser = self._ser
            if ser is None:
                raise DeviceError(f"{self.port} is not open")
            ser.write(wire.encode_command(ptype, seq, body))
            return seq

    def _read(self) -> bytes:
        ser = self._ser
        if ser is None:
            raise OSError(errno.ENODEV, "port closed")
        waiting = ser.in_waiting
        data = ser.read(waiting if waiting else 1)
        if data:
            self.stats.bytes_received += len(data)
        return data

    def _handshake(self, timeout_s: float) -> wire.InfoPacket:
        """IDENTIFY until an INFO answers (an Uno reboots when the port opens: ~1-2 s)."""
        decoder = self._decoder
        decoder.reset()
        try:
            self._ser.reset_input_buffer()  # stale bytes from before we opened
        except Exception as exc:  # a port that cannot flush will fail the reads below
            if not self._is_port_error(exc):
                raise
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
                self._send(wire.PacketType.IDENTIFY)
                next_identify = now + IDENTIFY_RETRY_S
            data = self._read()
            received += len(data)
            if len(sample) < 512:
                sample += data[: 512 - len(sample)]
            for packet in decoder.feed(data):
                if isinstance(packet, wire.VersionMismatch):
                    raise self._version_error(packet.version)
                if isinstance(packet, wire.ErrorPacket) and packet.code == wire.ErrorCode.VERSION:
                    raise self._version_error(None)
                if isinstance(packet, wire.InfoPacket):
                    return packet
            if self.clock.now() - start > timeout_s:
                break
        if received == 0:
            raise DeviceError(
                f"no data from {self.port} in {timeout_s:g} s: is the biofeedback firmware flashed "
                "(see firmware/README.md)? A board running a sketch that prints numbers needs "
                "format=text"
            )
        if decoder.stats.frames == frames_before:
            hint = ""
            if _looks_like_text(bytes(sample)):
                hint = " (it sends lines of text: add ?format=text to the URL)"
            raise DeviceError(
                f"no valid frame in {received} bytes from {self.port}: is the biofeedback firmware "
                f"flashed? try format=text{hint}; the firmware runs at {BINARY_BAUD} baud"
            )
        raise DeviceError(
            f"{self.port} sends frames but does not answer IDENTIFY: reflash firmware/biofeedback"
        )

    def _version_error(self, version: int | None) -> DeviceError:
        theirs = (
            f"wire protocol v{version}" if version is not None else "another wire protocol version"
        )
        return DeviceError(
            f"the firmware on {self.port} speaks {theirs}; this app speaks "
            f"v{wire.PROTOCOL_VERSION}: flash firmware/biofeedback from this version of the app "
            "(firmware/README.md)"
        )

    def _command(self, ptype: wire.PacketType, body: bytes = b"", timeout_s: float = 1.0) -> None:
        """Send a command and wait for its STATUS acknowledgement; ERROR -> DeviceError."""
        seq = self._send(ptype, body)
        start = self.clock.now()
        while self.clock.now() - start < timeout_s:
            for packet in self._decoder.feed(self._read()):
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

    def _configure(self, info: wire.InfoPacket) -> wire.InfoPacket:
        """Apply the URL's channels, pins and rate if the firmware's differ."""
        if self.adc_bits is not None and self.adc_bits != info.adc_bits:
            raise DeviceError(
                f"the firmware on {self.port} reports a {info.adc_bits}-bit ADC, not "
                f"{self.adc_bits}-bit: remove bits= (our firmware reports its ADC itself) or "
                "flash the right build"
            )
        if self.board_key is not None and self.board_key in hardware.BOARDS:
            want = hardware.board(self.board_key).with_bits(self.adc_bits)
            if want.adc_bits != info.adc_bits:
                raise DeviceError(
                    f"the firmware on {self.port} reports a {info.adc_bits}-bit {info.board!r} board, "
                    f"not {self.board_key} ({want.adc_bits}-bit): remove board= or flash the right build"
                )
        want_kinds = tuple(self.channels) if self.channels is not None else info.kinds
        want_pins = (
            tuple(self.pins)
            if self.pins is not None
            else (tuple(range(len(want_kinds))) if self.channels is not None else info.pins)
        )
        want_fs = self.fs_request if self.fs_request is not None else info.fs_hz
        change_channels = (want_kinds, want_pins) != (info.kinds, info.pins)
        change_rate = abs(want_fs - info.fs_hz) > 0.01 * want_fs
        if not (change_channels or change_rate):
            return info
        self._command(wire.PacketType.STOP)
        if change_channels:
            body = bytes([len(want_pins)])
            for pin, kind in zip(want_pins, want_kinds, strict=True):
                body += bytes([pin, wire.KIND_TO_CODE[kind]])
            self._command(wire.PacketType.SET_CHANNELS, body)
        if change_rate:
            self._command(wire.PacketType.SET_RATE, round(want_fs).to_bytes(2, "little"))
        return self._handshake(self.open_timeout_s)

    def _binary_stream_info(self, info: wire.InfoPacket) -> StreamInfo:
        board_key = info.board if info.board in hardware.BOARDS else (self.board_key or info.board)
        channels = _channel_infos(info.kinds, info.pins, info.vref_v, info.adc_bits, self.pot_kohm)
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

    # ---- text mode -------------------------------------------------------------------------

    def _open_text(self) -> StreamInfo:
        board = hardware.board(self.board_key or "uno").with_bits(self.adc_bits)
        n_cols = len(self.channels) if self.channels is not None else None
        decoder = wire.TextDecoder(n_columns=n_cols)
        self._text_decoder = decoder
        start = self.clock.now()
        arrivals: list[tuple[float, int]] = []
        total = 0
        deadline = start + max(self.open_timeout_s, self.calibrate_s)
        while True:
            now = self.clock.now()
            data = self._read()
            if data:
                rows = decoder.feed(data)
                if len(rows):
                    t = self.clock.now()
                    self._pending_rows.append((t, rows))
                    total += len(rows)
                    arrivals.append((t, total))
            if self.fs_request is not None and total > 0:
                break
            if arrivals and now - arrivals[0][0] >= self.calibrate_s and len(arrivals) >= 3:
                break
            if now >= deadline:
                break
        if total == 0:
            if decoder.stats.bytes == 0:
                raise DeviceError(
                    f"no data from {self.port} in {deadline - start:.0f} s: is the board connected "
                    f"and its sketch printing? Check the baud rate (stock examples use 115200 or "
                    f"9600: add &baud=9600); this URL uses {self.baud}"
                )
            raise DeviceError(
                f"{self.port} sends data but no lines of numbers ({decoder.stats.bytes} bytes, "
                f"{decoder.stats.bad_lines} other lines): wrong baud rate ({self.baud})? If it runs "
                "the biofeedback firmware, drop format=text"
            )
        width = decoder.n_columns or 0
        kinds = (
            list(self.channels)
            if self.channels is not None
            else _default_text_kinds(width, self.port)
        )
        if len(kinds) != width:
            raise DeviceError(
                f"{self.port} prints {width} value(s) per line but channels= names {len(kinds)}"
            )
        if self.fs_request is not None:
            fs, estimated = float(self.fs_request), False
        else:
            fs = _estimate_rate(arrivals)
            if fs is None:
                raise DeviceError(
                    f"too few lines from {self.port} to estimate the rate: give it, e.g. &fs=20"
                )
            estimated = True
        channels = _channel_infos(
            tuple(kinds), tuple([None] * width), board.vref_v, board.adc_bits, self.pot_kohm
        )
        return StreamInfo(
            fs_hz=fs,
            channels=channels,
            adc_bits=board.adc_bits,
            vref_v=board.vref_v,
            units="counts",
            board=board.key,
            device=f"{self.port} (text)",
            realtime=True,
            fs_estimated=estimated,
            extra={"port": self.port, "format": "text", "calibration_lines": str(total)},
        )

    # ---- streaming -------------------------------------------------------------------------

    def _run(self) -> bool:
        if self.text:
            self._flush_pending_text()
        else:
            self._decoder.stats = wire.DecoderStats()  # count the stream, not the handshake
            self._send(wire.PacketType.START)
        last_data = self.clock.now()
        restarted = False
        while not self._stop_event.is_set():
            try:
                data = self._read()
            except Exception as exc:  # SerialException / OSError: the port vanished
                if not self._is_port_error(exc):
                    raise
                if not self._reconnect(_describe_loss(exc)):
                    return False
                last_data = self.clock.now()
                continue
            now = self.clock.now()
            if data:
                last_data = now
                self._gone_since = None
                restarted = False
                if self.text:
                    self._on_text(data, now)
                else:
                    self._on_binary(data, now)
                continue
            silent = now - last_data
            if not self.text and silent > SILENCE_RESTART_S and not restarted:
                # a board that rebooted quietly (brown-out, DTR) waits for START again
                self._try_send(wire.PacketType.IDENTIFY)
                self._try_send(wire.PacketType.START)
                restarted = True
            if silent > SILENCE_RECONNECT_S and self.reconnect:
                if not self._reconnect(f"no data for {silent:.0f} s"):
                    return False
                last_data = self.clock.now()
        return False

    def _try_send(self, ptype: wire.PacketType, body: bytes = b"") -> None:
        try:
            self._send(ptype, body)
        except Exception as exc:  # a vanished port is reported by the next read
            if not self._is_port_error(exc):
                raise

    def _is_port_error(self, exc: BaseException) -> bool:
        return isinstance(exc, OSError | DeviceError) or (
            serial is not None and isinstance(exc, serial.SerialException)
        )

    def _on_binary(self, data: bytes, now: float) -> None:
        for packet in self._decoder.feed(data):
            if isinstance(packet, wire.SamplesBlock):
                self._on_block(packet.first_index, packet.samples, now)
            elif isinstance(packet, wire.StatusPacket):
                self.last_status = packet
                if packet.overruns < self._overrun_last:  # the firmware restarted its count
                    self._overrun_base += self._overrun_last
                self._overrun_last = packet.overruns
                self.stats.overruns = self._overrun_base + packet.overruns
                self.stats.extra["ring_fill_max"] = float(packet.fill_max)
                self.stats.extra["device_rx_errors"] = float(packet.rx_errors)
            elif isinstance(packet, wire.InfoPacket):
                self._on_info_midstream(packet)
            elif isinstance(packet, wire.VersionMismatch):
                raise self._version_error(packet.version)
        self._sync_decoder_stats()

    def _on_info_midstream(self, info: wire.InfoPacket) -> None:
        """An INFO while streaming: the board rebooted (it sends INFO at boot) or answered us."""
        if self._device_end is not None and info.sample_index < self._device_end:
            self._remap.rebase = True  # its sample count restarted: place the next block by time
        before = self.device_info
        if before is not None and (
            (info.kinds, info.pins) != (before.kinds, before.pins)
            or abs(info.fs_hz - before.fs_hz) > 1e-6
        ):
            # a rebooted board forgets SET_CHANNELS / SET_RATE: apply them again (acknowledged
            # in the stream; the firmware handles commands in order, START last)
            for ptype, body in _config_commands(before):
                self._try_send(ptype, body)
            self._try_send(wire.PacketType.START)
        elif not info.streaming:
            self._try_send(wire.PacketType.START)

    def _on_block(self, device_index: int, codes: np.ndarray, now: float) -> None:
        remap = self._remap
        n = len(codes)
        if remap.offset is None:
            remap.offset = self._stream_next - device_index
        elif remap.rebase or device_index + remap.offset < self._stream_next:
            remap.offset = self._estimate_index(n, now) - device_index
            remap.rebase = False
        first = self._fill_gap(device_index + remap.offset)
        self._device_end = device_index + n
        self._last_arrival = now
        self._emit_rows(first, codes.astype(np.float64))

    def _estimate_index(self, n: int, now: float) -> int:
        """Stream index of the first of ``n`` samples that arrived at ``now`` after an outage of
        unknown length: the elapsed time since the last sample times the rate."""
        assert self.info is not None
        if self._last_arrival is None:
            return self._stream_next
        elapsed = now - self._last_arrival
        missing = round(elapsed * self.info.fs_hz) - n
        return self._stream_next + max(0, missing)

    def _fill_gap(self, first: int) -> int:
        """Emit NaN samples flagged MISSING up to ``first``; returns where the data goes, which
        is earlier than ``first`` when an outage longer than MAX_GAP_FILL_S was capped."""
        assert self.info is not None
        gap = first - self._stream_next
        if gap <= 0:
            return first
        cap = int(MAX_GAP_FILL_S * self.info.fs_hz)
        if gap > cap:
            self.last_message = (
                f"gap of {gap / self.info.fs_hz:.0f} s capped at {MAX_GAP_FILL_S:.0f} s"
            )
            # later samples of this connection move up by the same amount
            if self._remap.offset is not None:
                self._remap.offset -= gap - cap
            gap = cap
        step = max(1, int(GAP_CHUNK_S * self.info.fs_hz))
        n_ch = self.info.n_channels
        start = self._stream_next
        for lo in range(0, gap, step):
            k = min(step, gap - lo)
            self._emit(
                Chunk(
                    start + lo,
                    np.full((k, n_ch), np.nan),
                    np.full(k, int(Flag.MISSING), dtype=np.uint16),
                )
            )
        self.stats.missing_samples += gap
        self._stream_next = start + gap
        return self._stream_next

    def _emit_rows(self, first: int, rows: np.ndarray) -> None:
        self._emit(Chunk(first, rows))
        self._stream_next = first + len(rows)

    def _on_text(self, data: bytes, now: float) -> None:
        assert self._text_decoder is not None
        rows = self._text_decoder.feed(data)
        self.stats.extra["text_bad_lines"] = float(self._text_decoder.stats.bad_lines)
        self.stats.extra["text_wrong_width"] = float(self._text_decoder.stats.wrong_width)
        self.stats.frame_errors = (
            self._text_decoder.stats.bad_lines + self._text_decoder.stats.wrong_width
        )
        if not len(rows):
            return
        first = self._stream_next
        if self._remap.rebase:
            first = self._fill_gap(self._estimate_index(len(rows), now))
            self._remap.rebase = False
        self._last_arrival = now
        self._emit_rows(first, rows)

    def _flush_pending_text(self) -> None:
        for t, rows in self._pending_rows:
            self._last_arrival = t
            self._emit_rows(self._stream_next, rows)
        self._pending_rows.clear()

    def _sync_decoder_stats(self) -> None:
        s = self._decoder.stats
        self.stats.frame_errors = s.frame_errors
        self.stats.extra["lost_frames"] = float(s.lost_frames)
        self.stats.extra["duplicate_frames"] = float(s.duplicate_frames)
        self.stats.extra["crc_errors"] = float(s.crc_errors)

    # ---- reconnect -------------------------------------------------------------------------

    def _reconnect(self, reason: str) -> bool:
        """Reopen the port until it answers; False if stopped meanwhile or reconnect is off."""
        self._close_port()
        if not self.reconnect:
            raise DeviceError(f"{self.port}: {reason} (reconnect=off)")
        self.stats.reconnects += 1
        lost_at = self.clock.now()
        again = self._gone_since is not None  # reopened last time, but no data came
        if self._gone_since is None:
            self._gone_since = lost_at
        deadline = self._gone_since + self.reconnect_s
        self._set_state(
            DeviceState.RECONNECTING,
            f"{self.port}: {reason}; reconnecting for up to {self.reconnect_s:g} s "
            "(plug the board back in if it was unplugged)",
        )
        attempts = 0
        while not self._stop_event.is_set():
            if (attempts or again) and self.clock.now() >= deadline:
                raise DeviceError(self._gone_message())
            attempts += 1
            try:
                self._ser = self._open_port()
                if self.text:
                    assert self._text_decoder is not None
                    self._text_decoder.reset()
                    self._remap.rebase = True
                else:
                    info = self._handshake(self.open_timeout_s)
                    self._resume_binary(info)
                    self._send(wire.PacketType.START)
            except DeviceError as exc:
                self._close_port()
                if attempts % 20 == 1:
                    self._set_state(
                        DeviceState.RECONNECTING,
                        f"{self.port}: {reason}; still reconnecting ({exc})",
                    )
                if self._stop_event.wait(self._retry_wait(deadline)):
                    return False
                continue
            except Exception as exc:  # the port came back but failed again: keep trying
                self._close_port()
                if not self._is_port_error(exc):
                    raise
                if self._stop_event.wait(self._retry_wait(deadline)):
                    return False
                continue
            self._set_state(
                DeviceState.CONNECTED,
                f"{self.port}: reconnected after {self.clock.now() - lost_at:.1f} s; "
                "the gap is marked as missing samples",
            )
            return True
        return False

    def _retry_wait(self, deadline: float) -> float:
        """Seconds to wait before the next attempt (never past the reconnect window)."""
        return max(0.0, min(RECONNECT_RETRY_S, deadline - self.clock.now()))

    def _gone_message(self) -> str:
        return (
            f"the board at {self.port} has been gone for {self.reconnect_s:g} s: check the cable, "
            "then start a new recording"
        )

    def _resume_binary(self, info: wire.InfoPacket) -> None:
        """After reopening: same stream? Re-apply settings the board forgot; pick the index map."""
        assert self.device_info is not None
        before = self.device_info
        if (info.kinds, info.pins) != (before.kinds, before.pins) or abs(
            info.fs_hz - before.fs_hz
        ) > 1e-6:
            if info.sample_index == 0 or not info.streaming:
                # a fresh boot with the defaults: configure it as before
                self._command(wire.PacketType.STOP)
                self._reapply_config_sync(before)
                info = self._handshake(self.open_timeout_s)
            if (info.kinds, info.pins) != (before.kinds, before.pins) or abs(
                info.fs_hz - before.fs_hz
            ) > 1e-6:
                raise DeviceError(
                    f"the board on {self.port} now streams {info.n_channels} channel(s) at "
                    f"{info.fs_hz:g} Hz, not the {before.n_channels} at {before.fs_hz:g} Hz this "
                    "stream started with: restart the stream"
                )
        if self._device_end is None or info.sample_index < self._device_end:
            self._remap.rebase = True  # the board restarted: its index tells nothing about the gap
        # else the index kept counting while we were away: the gap is exact

    def _reapply_config_sync(self, info: wire.InfoPacket) -> None:
        for ptype, body in _config_commands(info):
            self._command(ptype, body)


# ---- helpers ---------------------------------------------------------------------------------


def _channel_infos(
    kinds: tuple[ChannelKind, ...],
    pins: tuple[int | None, ...],
    vref_v: float,
    adc_bits: int,
    pot_kohm: float,
) -> tuple[ChannelInfo, ...]:
    """Channel names, gains and uV scales (REF carries RAW's gain so RAW - REF works in uV)."""
    env_gain = hardware.myoware_env_gain(pot_kohm)
    out = []
    seen: dict[ChannelKind, int] = {}
    for kind, pin in zip(kinds, pins, strict=True):
        seen[kind] = seen.get(kind, 0) + 1
        name = kind.value if seen[kind] == 1 else f"{kind.value}{seen[kind]}"
        gain = env_gain if kind is ChannelKind.ENV else hardware.MYOWARE_RAW_GAIN
        out.append(ChannelInfo(name, kind, gain, counts_to_uv_scale(vref_v, adc_bits, gain), pin))
    return tuple(out)


def _config_commands(info: wire.InfoPacket) -> list[tuple[wire.PacketType, bytes]]:
    """SET_CHANNELS and SET_RATE that reproduce ``info``'s configuration on a rebooted board."""
    body = bytes([len(info.pins)])
    for pin, kind in zip(info.pins, info.kinds, strict=True):
        body += bytes([pin, wire.KIND_TO_CODE[kind]])
    rate = round(info.fs_hz).to_bytes(2, "little")
    return [(wire.PacketType.SET_CHANNELS, body), (wire.PacketType.SET_RATE, rate)]


def _default_text_kinds(width: int, port: str) -> list[ChannelKind]:
    if width == 1:
        return [ChannelKind.ENV]  # the stock examples print one analogRead of the ENV pin
    if width == 3:
        return [ChannelKind.RAW, ChannelKind.ENV, ChannelKind.REF]
    raise DeviceError(
        f"{port} prints {width} values per line: say what they are, e.g. &channels=raw,env"
    )


def _estimate_rate(arrivals: list[tuple[float, int]]) -> float | None:
    """Lines per second from (arrival time, cumulative lines) pairs: least squares slope, which
    tolerates the bursts USB serial delivers lines in."""
    if len(arrivals) < 3:
        return None
    t = np.array([a[0] for a in arrivals])
    n = np.array([a[1] for a in arrivals], dtype=float)
    if t[-1] - t[0] <= 0:
        return None
    slope = float(np.polyfit(t - t[0], n, 1)[0])
    if not math.isfinite(slope) or slope <= 0:
        return None
    return slope


def _looks_like_text(sample: bytes) -> bool:
    if not sample:
        return False
    printable = sum(1 for b in sample if 32 <= b < 127 or b in (9, 10, 13))
    return printable / len(sample) > 0.95 and b"\n" in sample


def _describe_loss(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    lower = text.lower()
    if (
        "returned no data" in lower
        or "input/output error" in lower
        or getattr(exc, "errno", None)
        in (
            errno.EIO,
            errno.ENODEV,
            errno.ENXIO,
        )
    ):
        return "the port disappeared (cable unplugged or board reset)"
    return f"the port failed ({text})"
