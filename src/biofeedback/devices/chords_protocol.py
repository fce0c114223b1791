"""ChordsProtocol: boards running Upside Down Labs' Chords-Arduino-Firmware (``format=chords``).

The Chords firmware (github.com/upsidedownlabs/Chords-Arduino-Firmware, GPL-3.0; the format is
described in docs/wire-protocol.md, "Chords firmware") answers text commands ending in a newline:
``WHORU`` (the board's name, e.g. ``UNO-R4``), ``START``, ``STOP`` and ``STATUS``. Once started
it sends one packet per sample, every channel of the board in every packet::

    0xC7 0x7C  counter(u8)  ch1_hi ch1_lo  ...  chN_hi chN_lo  0x01

The counter wraps at 256 and numbers the packets, so a lost packet becomes an exact gap (a
loss of 256 or more is told from the arrival time). The board's name fixes the channel count,
rate and ADC (:data:`CHORDS_BOARDS`); ``pins=`` picks which of its inputs become channels
(``A0`` = 0) and ``channels=`` says what they are (default: every input, ``raw``).
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field

import numpy as np

from biofeedback.core import hardware
from biofeedback.core.types import ChannelKind, StreamInfo
from biofeedback.devices.protocol import Protocol, channel_infos
from biofeedback.devices.rate_check import RateVerdict
from biofeedback.errors import DeviceError

log = logging.getLogger(__name__)

SYNC_1 = 0xC7
SYNC_2 = 0x7C
END_BYTE = 0x01
#: Sync bytes and the counter.
HEADER_LEN = 3
COUNTER_MOD = 256
#: Baud rate of the current firmware (the UNO-R4 build of 2024 used 115200: add &baud=115200).
CHORDS_BAUD = 230_400
#: The firmware reads a command with Arduino's ``Serial.readString()``, which returns only
#: after 1 s without a byte: two commands sent within that second are read as one line, so
#: commands are spaced by more than this.
COMMAND_GAP_S = 1.2


def answer_wait_s(timeout_s: float) -> float:
    """How long to ask WHORU: at least two questions, and the second one's answer (which comes
    a second later); an Uno R3 also reboots for 1-2 s when the port opens."""
    return max(timeout_s, 2 * COMMAND_GAP_S) + 1.0


#: Silence while streaming after which START is sent again (a board that reset).
SILENCE_RESTART_S = 2.0


@dataclass(frozen=True)
class ChordsBoard:
    """One board the Chords firmware supports: its WHORU name, inputs, rate and ADC."""

    name: str
    n_channels: int
    fs_hz: float
    adc_bits: int
    vref_v: float

    @property
    def packet_len(self) -> int:
        """Bytes per packet: header, two per channel, end byte."""
        return HEADER_LEN + 2 * self.n_channels + 1

    @property
    def key(self) -> str:
        """Our board key (``uno``, ``uno-r4``, ``12bit``) when one describes its ADC, else its
        Chords name in lower case."""
        for key, board in hardware.BOARDS.items():
            if (board.adc_bits, board.vref_v) == (self.adc_bits, self.vref_v):
                return key
        return self.name.lower()


def _boards(*rows: tuple[str, int, float, int, float]) -> dict[str, ChordsBoard]:
    return {row[0]: ChordsBoard(*row) for row in rows}


#: The boards of the Chords firmware's README and Chords-Python's table: WHORU name ->
#: inputs, rate (Hz), ADC bits, ADC reference (V).
CHORDS_BOARDS: dict[str, ChordsBoard] = _boards(
    ("UNO-R3", 6, 250.0, 10, 5.0),
    ("UNO-CLONE", 6, 250.0, 10, 5.0),
    ("GENUINO-UNO", 6, 250.0, 10, 5.0),
    ("UNO-R4", 6, 500.0, 14, 5.0),
    ("NANO-CLASSIC", 8, 250.0, 10, 5.0),
    ("NANO-CLONE", 8, 250.0, 10, 5.0),
    ("MEGA-2560-R3", 16, 250.0, 10, 5.0),
    ("MEGA-2560-CLONE", 16, 250.0, 10, 5.0),
    ("RPI-PICO-RP2040", 3, 500.0, 12, 3.3),
    ("STM32F4-BLACK-PILL", 8, 500.0, 12, 3.3),
    ("STM32G4-CORE-BOARD", 16, 500.0, 12, 3.3),
    ("GIGA-R1", 6, 500.0, 16, 3.3),
    ("NPG-LITE", 3, 500.0, 12, 2.5),
)
#: Our ``board=`` keys and the Chords board each stands for.
BOARD_ALIASES = {"uno": "UNO-R3", "uno-r4": "UNO-R4"}


def chords_board(name: str) -> ChordsBoard | None:
    """The board for a WHORU answer or a ``board=`` value (ours or the Chords name, any case)."""
    upper = name.strip().upper()
    return CHORDS_BOARDS.get(BOARD_ALIASES.get(name.strip().lower(), upper))


@dataclass
class DecoderStats:
    """What the decoder saw: packets, bytes skipped while looking for a packet, bad packets."""

    packets: int = 0
    skipped_bytes: int = 0
    bad_packets: int = 0


@dataclass
class ChordsDecoder:
    """Bytes -> (counters, codes) for a board's packet layout; resyncs on the sync bytes.

    Packets come back to back, so a packet is taken when it ends with the end byte and the next
    one's sync bytes follow (or nothing has come after it yet). Anything else (sync bytes that
    were data, a packet cut short) is skipped one byte at a time up to the next sync bytes, so
    a garbled packet costs only itself.
    """

    n_channels: int
    stats: DecoderStats = field(default_factory=DecoderStats)
    _buf: bytearray = field(default_factory=bytearray)

    @property
    def packet_len(self) -> int:
        """Bytes per packet."""
        return HEADER_LEN + 2 * self.n_channels + 1

    def reset(self) -> None:
        """Forget a partial packet (the port was reopened)."""
        self._buf.clear()

    def feed(self, data: bytes) -> tuple[np.ndarray, np.ndarray]:
        """The whole packets in ``data`` (and what was left over before): counters [n] and
        codes [n, channels]."""
        buf = self._buf
        buf += data
        size = self.packet_len
        packets: list[bytes] = []
        pos = 0
        sync = bytes((SYNC_1, SYNC_2))
        while True:
            start = buf.find(sync, pos)
            if start < 0:
                # keep a trailing first sync byte: its partner may come with the next read
                keep = len(buf) - 1 if buf and buf[-1] == SYNC_1 else len(buf)
                self.stats.skipped_bytes += keep - pos
                pos = keep
                break
            self.stats.skipped_bytes += start - pos
            end = start + size
            if end > len(buf):
                pos = start
                break
            after = buf[end : end + len(sync)]
            if buf[end - 1] != END_BYTE or (len(after) == len(sync) and after != sync):
                self.stats.bad_packets += 1
                self.stats.skipped_bytes += 1
                pos = start + 1
                continue
            packets.append(bytes(buf[start : start + size]))
            pos = start + size
        del buf[:pos]
        self.stats.packets += len(packets)
        if not packets:
            return np.empty(0, dtype=np.int64), np.empty((0, self.n_channels))
        raw = np.frombuffer(b"".join(packets), dtype=np.uint8).reshape(len(packets), size)
        counters = raw[:, 2].astype(np.int64)
        body = raw[:, HEADER_LEN : size - 1].astype(np.int64)
        codes = (body[:, 0::2] << 8) | body[:, 1::2]
        return counters, codes.astype(np.float64)


class ChordsProtocol(Protocol):
    """A board running the Chords firmware; see the module docstring."""

    name = "chords"
    default_baud = CHORDS_BAUD

    def _setup(self) -> None:
        self.board: ChordsBoard | None = None
        self.decoder = ChordsDecoder(1)
        self._columns: list[int] = []
        #: Device sample index of the last packet (the unwrapped counter), None before one.
        self._device_index: int | None = None
        self._last_counter = 0
        self._restarted = False

    # ---- commands --------------------------------------------------------------------------

    def send(self, command: str) -> None:
        """Send a command line (PortLost if the link is gone)."""
        self.link.write(command.encode("ascii") + b"\n")

    def try_send(self, command: str) -> None:
        """Send if the link is there; a vanished port is reported by the next read."""
        try:
            self.send(command)
        except DeviceError as exc:
            log.debug("%s: %s not sent: %s", self.port, command, exc)

    # ---- open ------------------------------------------------------------------------------

    def open(self) -> StreamInfo:
        """Ask WHORU, check the answer against ``board=``, report the board's stream."""
        board = self.identify(self.request.open_timeout_s)
        req = self.request
        if req.board is not None:
            want = chords_board(req.board)
            if want is not None and want.name != board.name:
                raise DeviceError(
                    f"{self.port} answers as a Chords {board.name}, not {want.name}: "
                    "remove board= (the firmware names its board) or flash the right build"
                )
        if req.adc_bits is not None and req.adc_bits != board.adc_bits:
            raise DeviceError(
                f"the Chords firmware on a {board.name} reads {board.adc_bits}-bit: remove bits="
            )
        if req.fs_hz is not None and not math.isclose(req.fs_hz, board.fs_hz, rel_tol=0.01):
            raise DeviceError(
                f"the Chords firmware on a {board.name} samples at {board.fs_hz:g} Hz and cannot "
                "be set: remove fs="
            )
        self.board = board
        self.decoder = ChordsDecoder(board.n_channels)
        return self._stream_info(board)

    def identify(self, timeout_s: float) -> ChordsBoard:
        """WHORU until a known board name answers (spaced for the firmware's 1 s command read;
        an Uno R3 also reboots for ~2 s when the port opens)."""
        self.link.discard_input()
        deadline = self.clock.now() + answer_wait_s(timeout_s)
        received = bytearray()
        next_ask = self.clock.now()
        while self.clock.now() < deadline:
            if self.clock.now() >= next_ask:
                self.send("WHORU")
                next_ask = self.clock.now() + COMMAND_GAP_S
            received += self.link.read()
            board = board_in_answer(bytes(received[-4096:]))
            if board is not None:
                return board
        raise self._no_answer(timeout_s, bytes(received))

    def _no_answer(self, timeout_s: float, received: bytes) -> DeviceError:
        if not received:
            return DeviceError(
                f"no answer to WHORU from {self.port} in {answer_wait_s(timeout_s):g} s: "
                "is the Chords firmware flashed, and at this baud rate "
                f"({self.link.baud}; the 2024 UNO-R4 build uses 115200: add &baud=115200)?"
            )
        lines = [t.strip() for t in received.decode("ascii", "replace").splitlines() if t.strip()]
        named = next((t for t in lines if t.replace("-", "").isalnum()), "")
        if named:
            return DeviceError(
                f"{self.port} answers WHORU with {named!r}, a board this app does not know the "
                f"layout of (known: {', '.join(CHORDS_BOARDS)})"
            )
        return DeviceError(
            f"{self.port} sends data but no board name answered WHORU: wrong baud rate "
            f"({self.link.baud})? If it runs the biofeedback firmware, drop format=chords"
        )

    def _stream_info(self, board: ChordsBoard) -> StreamInfo:
        req = self.request
        if req.pins is not None:
            columns = list(req.pins)
        elif req.channels is not None:
            columns = list(range(len(req.channels)))
        else:
            columns = list(range(board.n_channels))
        if any(not 0 <= c < board.n_channels for c in columns):
            raise DeviceError(
                f"a Chords {board.name} has inputs A0..A{board.n_channels - 1}: choose pins= "
                "among them"
            )
        kinds = req.channels if req.channels is not None else (ChannelKind.RAW,) * len(columns)
        if len(kinds) != len(columns):
            raise DeviceError("give as many channels= as pins=")
        self._columns = columns
        channels = channel_infos(
            tuple(kinds), tuple(columns), board.vref_v, board.adc_bits, req.pot_kohm, req.raw_gain
        )
        return StreamInfo(
            fs_hz=board.fs_hz,
            channels=channels,
            adc_bits=board.adc_bits,
            vref_v=board.vref_v,
            units="counts",
            board=board.key,
            device=f"{self.port} (Chords firmware, {board.name})",
            realtime=True,
            fs_estimated=False,
            extra={"port": self.port, "format": "chords", "chords_board": board.name},
        )

    # ---- streaming -------------------------------------------------------------------------

    def start(self) -> None:
        """Count the stream's packets (not the handshake's) and send START."""
        self.decoder.reset()
        self.decoder.stats = DecoderStats()
        self.send("START")

    def feed(self, data: bytes, now: float) -> None:
        """Decode packets; the counter gives each one's place, so lost packets become gaps."""
        self._restarted = False
        counters, codes = self.decoder.feed(data)
        stats = self.decoder.stats
        self.stats.frame_errors = stats.bad_packets
        self.stats.extra["chords_skipped_bytes"] = float(stats.skipped_bytes)
        if not len(counters):
            return
        index = self._indices(counters, now)
        rows = codes[:, self._columns]
        # runs of consecutive indices go to the indexer as blocks; a jump becomes a gap
        breaks = np.flatnonzero(np.diff(index) != 1) + 1
        for lo, hi in zip(
            np.concatenate(([0], breaks)), np.concatenate((breaks, [len(index)])), strict=True
        ):
            self.indexer.block(int(index[lo]), rows[lo:hi], now)

    def _indices(self, counters: np.ndarray, now: float) -> np.ndarray:
        """Device sample indices for the packets' 8-bit counters (unwrapped).

        Steps between counters are taken modulo 256. A loss of 256 packets or more leaves the
        counter where it was; it shows as a batch whose counters advance less than the time
        since the previous batch: the missing whole wraps go where the batch's counter jumps
        most (the packets on either side of a loss often arrive together).
        """
        steps = np.diff(counters, prepend=self._last_counter) % COUNTER_MOD
        steps[steps == 0] = COUNTER_MOD  # the same counter twice: a whole wrap in between
        if self._device_index is None:
            steps[0] = 0
            base = 0
        else:
            base = self._device_index
            last = self.indexer.last_arrival
            if last is not None and self.board is not None:
                unexplained = (now - last) * self.board.fs_hz - int(steps.sum())
                if unexplained > 0.75 * COUNTER_MOD:
                    steps[int(np.argmax(steps))] += COUNTER_MOD * round(unexplained / COUNTER_MOD)
        index = base + np.cumsum(steps)
        self._device_index = int(index[-1])
        self._last_counter = int(counters[-1])
        return index

    def on_silence(self, silent_s: float) -> None:
        """A board that reset stops streaming until told START again: tell it once."""
        if silent_s > SILENCE_RESTART_S and not self._restarted:
            self._restarted = True
            self.try_send("START")

    def resume(self) -> None:
        """After the port was reopened: start again; place the next packets by time (the
        board may have reset its counter, or lost more than a wrap meanwhile)."""
        self.decoder.reset()
        self.indexer.rebase = True
        self.send("START")

    def stop(self) -> None:
        """Tell the board to stop sending."""
        self.try_send("STOP")

    def rate_advice(self, verdict: RateVerdict, info: StreamInfo) -> str:
        """The Chords firmware's timer sets its rate; a board far off it is another build."""
        return (
            f"the Chords firmware on a {info.extra.get('chords_board', 'board')} should send "
            f"{info.fs_hz:g} packets/s: reflash the build for this board, or use firmware/biofeedback"
        )


def board_in_answer(received: bytes) -> ChordsBoard | None:
    """A known board name ending a line in what the port sent (packets may come before it when
    the board was already streaming)."""
    match = _ANSWER.search(received)
    return CHORDS_BOARDS[match[1].decode("ascii")] if match else None


#: A WHORU answer: the firmware prints the name with println (CR LF); longest names first, so
#: "MEGA-2560-CLONE" is not read as a shorter name.
_ANSWER = re.compile(
    rb"(%s)\r?\n"
    % b"|".join(re.escape(n.encode()) for n in sorted(CHORDS_BOARDS, key=len, reverse=True))
)
