"""The biofeedback wire protocol: frame encoding and a fast, resynchronising decoder.

Pure bytes in, packets out: no I/O, no threads (docs/wire-protocol.md has the byte layout).

A frame on the wire is ``COBS(version | type | seq u16 | body | crc16 big-endian) 0x00``. COBS
removes every 0x00 from the frame, so 0x00 only ever delimits frames: after any corruption the
decoder is back in step at the next delimiter. CRC-16/CCITT-FALSE (``binascii.crc_hqx`` with
init 0xFFFF) over the raw frame including its CRC is 0 for an intact frame. A raw frame is at
most 253 bytes, so no COBS code is ever 0xFF and an encoded frame is exactly one byte longer than
its raw frame.

The decoder is vectorised: it splits a buffer at every delimiter at once, groups frames of equal
length into a 2-D array, follows all their COBS code chains in parallel and computes all CRCs
column by column with a 64 K-entry table (two bytes per step). Per-frame Python work is limited
to the rare INFO/STATUS/ERROR packets, so samples decode at well over 20 MB/s
(``benchmarks/decoder.py``).
"""

from __future__ import annotations

import binascii
import enum
import functools
import itertools
import re
import struct
from dataclasses import dataclass, field

import numpy as np

from biofeedback.core.types import ChannelKind

PROTOCOL_VERSION = 1
#: Largest raw frame (header + body + CRC); encoded it is one byte longer, plus the delimiter.
MAX_RAW = 253
MAX_ENCODED = MAX_RAW + 1
HEADER_LEN = 4
CRC_LEN = 2
MAX_BODY = MAX_RAW - HEADER_LEN - CRC_LEN
SAMPLES_HEADER_LEN = 6  # u32 first_index, u8 n_channels, u8 n_samples
STATUS_BODY_LEN = 16
MIN_ENCODED = HEADER_LEN + CRC_LEN + 1
#: A forward jump of the sample index larger than this is treated as a corrupt frame, never as a
#: gap: one frame that slipped past the CRC must not be able to wreck the stream's clock.
MAX_INDEX_JUMP = 1 << 24


class PacketType(enum.IntEnum):
    """Packet type byte (frame byte 1)."""

    INFO = 0x01
    SAMPLES = 0x02
    STATUS = 0x03
    ERROR = 0x04
    IDENTIFY = 0x10
    START = 0x11
    STOP = 0x12
    SET_RATE = 0x13
    SET_CHANNELS = 0x14


class ErrorCode(enum.IntEnum):
    """Error codes the firmware sends in ERROR packets."""

    UNKNOWN_COMMAND = 1
    BAD_ARGUMENT = 2
    BUSY = 3
    RATE = 4
    VERSION = 5


#: Channel kind codes used in INFO and SET_CHANNELS.
KIND_CODES: dict[int, ChannelKind] = {
    0: ChannelKind.RAW,
    1: ChannelKind.ENV,
    2: ChannelKind.RECT,
    3: ChannelKind.REF,
}
KIND_TO_CODE: dict[ChannelKind, int] = {kind: code for code, kind in KIND_CODES.items()}


# --------------------------------------------------------------------------------------------
# CRC and COBS


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF): ``crc16(b"123456789") == 0x29B1``."""
    return binascii.crc_hqx(data, 0xFFFF)


def _make_tables() -> tuple[np.ndarray, np.ndarray]:
    t8 = np.zeros(256, dtype=np.uint32)
    for i in range(256):
        crc = i << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
        t8[i] = crc
    # Two zero bytes shifted through every 16-bit register value: crc' = T16[crc ^ word] processes
    # two message bytes (word = b0 << 8 | b1) in one lookup, because the register is 16 bits wide.
    reg = np.arange(65536, dtype=np.uint32)
    for _ in range(2):
        reg = ((reg << 8) & 0xFFFF) ^ t8[reg >> 8]
    return t8, reg.astype(np.uint16)


_T8, _T16 = _make_tables()


_T8_U16 = _T8.astype(np.uint16)
#: below this many rows, crc_hqx per row beats the table lookups (whose setup is per call)
_CRC_ROWS_VECTOR_MIN = 32


@functools.lru_cache(maxsize=64)
def _position_tables(width: int) -> tuple[np.ndarray, int]:
    """CRC contributions of each byte position of a ``width``-byte message.

    CRC-16 is affine in the message: crc(msg) = K ^ XOR_p C_p[msg[p]], where C_p[v] is the CRC
    (register starting at 0) of ``width`` zero bytes with v at position p, and K the CRC of
    ``width`` zero bytes from the 0xFFFF start. So the CRC of every row of a matrix is one table
    lookup per byte and an XOR-reduction: no loop over the bytes. Returns (C flattened as
    [width * 256] uint16, K).
    """
    tables = np.empty((width, 256), dtype=np.uint16)
    reg = _T8.copy()  # the last byte: processed from register 0
    for p in range(width - 1, -1, -1):
        tables[p] = reg
        reg = ((reg << 8) & 0xFFFF) ^ _T8[reg >> 8]  # one more zero byte after it
    return tables.ravel(), crc16(bytes(width))


def crc16_rows(rows: np.ndarray) -> np.ndarray:
    """CRC-16/CCITT-FALSE of every row of a 2-D uint8 array (vectorised over rows)."""
    m, width = rows.shape
    if width == 0:
        return np.full(m, 0xFFFF, dtype=np.uint16)
    if m < _CRC_ROWS_VECTOR_MIN:
        flat = np.ascontiguousarray(rows).tobytes()
        return np.fromiter(
            (binascii.crc_hqx(flat[i : i + width], 0xFFFF) for i in range(0, m * width, width)),
            dtype=np.uint16,
            count=m,
        )
    tables, k = _position_tables(width)
    index = rows.astype(np.intp)
    index += np.arange(0, 256 * width, 256, dtype=np.intp)
    return np.bitwise_xor.reduce(tables[index], axis=1) ^ np.uint16(k)


def cobs_encode(data: bytes) -> bytes:
    """COBS-encode ``data`` (no delimiter)."""
    data = bytes(data)
    if len(data) < 254:
        # no block can reach 254 bytes, so no 0xFF code: one code byte per zero-separated part
        return b"".join(bytes([len(part) + 1]) + part for part in data.split(b"\x00"))
    out = bytearray()
    block = bytearray()
    for byte in data:
        if byte == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
        else:
            block.append(byte)
            if len(block) == 254:
                out.append(255)
                out += block
                block.clear()
    out.append(len(block) + 1)
    out += block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Decode one COBS frame (no delimiter); ValueError if it is not valid COBS."""
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        code = data[i]
        if code == 0 or i + code > n:
            raise ValueError("invalid COBS code")
        block = data[i + 1 : i + code]
        if 0 in block:
            raise ValueError("zero byte inside a COBS frame")
        out += block
        i += code
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


# --------------------------------------------------------------------------------------------
# Encoding (host commands, and the fake boards of the tests and benchmarks)


def encode_frame(ptype: int, seq: int, body: bytes = b"", version: int = PROTOCOL_VERSION) -> bytes:
    """A complete wire frame: COBS-encoded header, body and CRC, then the 0x00 delimiter."""
    if len(body) > MAX_BODY:
        raise ValueError(f"frame body of {len(body)} bytes exceeds {MAX_BODY}")
    raw = struct.pack("<BBH", version, ptype, seq & 0xFFFF) + bytes(body)
    raw += struct.pack(">H", crc16(raw))
    return cobs_encode(raw) + b"\x00"


def encode_command(ptype: PacketType, seq: int, body: bytes = b"") -> bytes:
    """A host -> device command frame."""
    return encode_frame(int(ptype), seq, body)


def encode_set_rate(seq: int, fs_hz: int) -> bytes:
    """SET_RATE command (whole hertz)."""
    return encode_command(PacketType.SET_RATE, seq, struct.pack("<H", int(fs_hz)))


def encode_set_channels(seq: int, pins: list[int], kinds: list[ChannelKind]) -> bytes:
    """SET_CHANNELS command: n, then (pin, kind code) per channel."""
    body = bytes([len(pins)])
    for pin, kind in zip(pins, kinds, strict=True):
        body += bytes([pin, KIND_TO_CODE[ChannelKind(kind)]])
    return encode_command(PacketType.SET_CHANNELS, seq, body)


def encode_samples(seq: int, first_index: int, samples: np.ndarray) -> bytes:
    """One SAMPLES frame; ``samples`` is [n, channels] of uint16 codes."""
    values = np.asarray(samples, dtype="<u2")
    if values.ndim == 1:
        values = values[:, None]
    n, nch = values.shape
    body = struct.pack("<IBB", first_index & 0xFFFFFFFF, nch, n) + values.tobytes()
    return encode_frame(PacketType.SAMPLES, seq, body)


def encode_samples_stream(
    first_index: int, samples: np.ndarray, per_frame: int, first_seq: int = 0
) -> bytes:
    """Many SAMPLES frames at once (vectorised), ``per_frame`` sample sets each.

    Used by fake boards and benchmarks to make realistic streams quickly. ``len(samples)`` must be a
    multiple of ``per_frame``.
    """
    values = np.asarray(samples, dtype="<u2")
    n, nch = values.shape
    if n % per_frame:
        raise ValueError("len(samples) must be a multiple of per_frame")
    m = n // per_frame
    payload = 2 * nch * per_frame
    raw_len = HEADER_LEN + SAMPLES_HEADER_LEN + payload + CRC_LEN
    if raw_len > MAX_RAW:
        raise ValueError("frames would exceed the protocol's frame size")
    raw = np.zeros((m, raw_len), dtype=np.uint8)
    seq = (first_seq + np.arange(m)) & 0xFFFF
    index = (first_index + per_frame * np.arange(m, dtype=np.int64)) & 0xFFFFFFFF
    raw[:, 0] = PROTOCOL_VERSION
    raw[:, 1] = PacketType.SAMPLES
    raw[:, 2:4] = seq.astype("<u2").view(np.uint8).reshape(m, 2)
    raw[:, 4:8] = index.astype("<u4").view(np.uint8).reshape(m, 4)
    raw[:, 8] = nch
    raw[:, 9] = per_frame
    raw[:, 10 : 10 + payload] = values.reshape(m, payload // 2).view(np.uint8)
    crc = crc16_rows(raw[:, :-2])
    raw[:, -2] = crc >> 8
    raw[:, -1] = crc & 0xFF
    return cobs_encode_rows(raw)


def cobs_encode_rows(raw: np.ndarray) -> bytes:
    """COBS-encode every row of a 2-D uint8 array (rows <= 253 bytes) and join with delimiters."""
    m, width = raw.shape
    if width > MAX_RAW:
        raise ValueError("rows longer than 253 bytes need COBS 0xFF codes")
    cols = np.arange(width)
    zero_col = np.where(raw == 0, cols, width)
    # next zero at or after each column (width when none): reverse running minimum
    next_zero = np.minimum.accumulate(zero_col[:, ::-1], axis=1)[:, ::-1]
    after = np.concatenate([next_zero[:, 1:], np.full((m, 1), width)], axis=1)
    out = np.zeros((m, width + 2), dtype=np.uint8)
    out[:, 0] = (next_zero[:, 0] + 1).astype(np.uint8)
    # a zero at column j becomes the distance to the next zero (or to the end)
    out[:, 1 : width + 1] = np.where(raw == 0, (after - cols).astype(np.uint8), raw)
    out[:, width + 1] = 0
    return out.tobytes()


# --------------------------------------------------------------------------------------------
# Packets


@dataclass(frozen=True)
class InfoPacket:
    """The device's answer to IDENTIFY (also sent once at boot)."""

    seq: int
    firmware: str
    adc_bits: int
    vref_v: float
    fs_hz: float
    sample_index: int
    samples_per_frame: int
    streaming: bool
    pins: tuple[int, ...]
    kinds: tuple[ChannelKind, ...]
    board: str
    version: int = PROTOCOL_VERSION

    @property
    def n_channels(self) -> int:
        """Number of channels in every SAMPLES frame."""
        return len(self.pins)


@dataclass(frozen=True)
class StatusPacket:
    """Periodic link status (1/s while streaming) and the acknowledgement of a command."""

    seq: int
    streaming: bool
    ack_type: int
    ack_seq: int
    sample_index: int
    overruns: int
    rx_errors: int
    fill_max: int


@dataclass(frozen=True)
class ErrorPacket:
    """A command the device refused, with its reason."""

    seq: int
    code: int
    ack_seq: int
    message: str


@dataclass(frozen=True)
class CommandPacket:
    """A host -> device command (seen when decoding the host's side, e.g. in a fake board)."""

    seq: int
    ptype: PacketType
    body: bytes


@dataclass(frozen=True)
class VersionMismatch:
    """An intact frame of another protocol version: the firmware and the app disagree."""

    seq: int
    version: int
    ptype: int


@dataclass
class SamplesBlock:
    """Consecutive samples from one or more SAMPLES frames.

    ``first_index`` is the device's absolute sample index (unwrapped to 64 bits) of row 0;
    ``samples`` is uint16 [n, channels]. ``gap_before`` is how many samples are missing between
    the previous block and this one (0 when contiguous, None for the first block after a reset).
    """

    first_index: int
    samples: np.ndarray
    gap_before: int | None = 0

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def end_index(self) -> int:
        """Device index one past the last sample."""
        return self.first_index + len(self.samples)


Packet = InfoPacket | StatusPacket | ErrorPacket | CommandPacket | VersionMismatch | SamplesBlock


@dataclass
class DecoderStats:
    """Counters of everything the decoder saw. ``frame_errors`` is the sum of the rejections."""

    bytes: int = 0
    frames: int = 0
    sample_frames: int = 0
    samples: int = 0
    crc_errors: int = 0
    cobs_errors: int = 0
    length_errors: int = 0
    index_errors: int = 0
    lost_frames: int = 0
    gap_samples: int = 0
    duplicate_frames: int = 0
    index_resets: int = 0
    version_mismatches: int = 0
    sync_bytes: int = 0
    types: dict[int, int] = field(default_factory=dict)

    @property
    def frame_errors(self) -> int:
        """Frames rejected as damaged (CRC, COBS, length, impossible index)."""
        return self.crc_errors + self.cobs_errors + self.length_errors + self.index_errors


def parse_packet(version: int, ptype: int, seq: int, body: bytes) -> Packet | None:
    """Interpret one intact non-SAMPLES frame; None if its body has the wrong length."""
    if version != PROTOCOL_VERSION:
        return VersionMismatch(seq, version, ptype)
    try:
        if ptype == PacketType.INFO:
            return _parse_info(seq, body)
        if ptype == PacketType.STATUS:
            if len(body) != STATUS_BODY_LEN:
                return None
            flags, ack_type, ack_seq, index, overruns, rx_errors, fill_max = struct.unpack(
                "<BBHIIHH", body
            )
            return StatusPacket(
                seq, bool(flags & 1), ack_type, ack_seq, index, overruns, rx_errors, fill_max
            )
        if ptype == PacketType.ERROR:
            if len(body) < 3:
                return None
            code, ack_seq = struct.unpack_from("<BH", body)
            return ErrorPacket(seq, code, ack_seq, body[3:].decode("ascii", "replace"))
        if PacketType.IDENTIFY <= ptype <= PacketType.SET_CHANNELS:
            return CommandPacket(seq, PacketType(ptype), bytes(body))
    except (struct.error, ValueError, KeyError):
        return None
    return None


def _parse_info(seq: int, body: bytes) -> InfoPacket | None:
    fixed = struct.Struct("<BBBBHIIBBB")
    if len(body) < fixed.size:
        return None
    major, minor, patch, bits, vref_mv, rate_mhz, index, spf, streaming, nch = fixed.unpack_from(
        body
    )
    end = fixed.size + 2 * nch
    if len(body) < end or nch < 1:
        return None
    pairs = body[fixed.size : end]
    pins = tuple(pairs[0::2])
    kinds = tuple(KIND_CODES[code] for code in pairs[1::2])
    return InfoPacket(
        seq=seq,
        firmware=f"{major}.{minor}.{patch}",
        adc_bits=bits,
        vref_v=vref_mv / 1000.0,
        fs_hz=rate_mhz / 1000.0,
        sample_index=index,
        samples_per_frame=spf,
        streaming=bool(streaming),
        pins=pins,
        kinds=kinds,
        board=body[end:].decode("ascii", "replace"),
    )


# --------------------------------------------------------------------------------------------
# Decoder

#: Feeds with at most this many delimiters take the per-frame path: a serial read usually holds
#: one or two frames, and a handful of numpy calls cost more than a few bytes-level loops.
SCALAR_MAX_FRAMES = 12


@dataclass
class _Run:
    """Samples accumulating into one SamplesBlock during a feed."""

    pos: int
    first_index: int
    parts: list[np.ndarray]
    gap_before: int | None
    n_channels: int


class Decoder:
    """Bytes -> packets, for a device -> host stream (or host -> device, for fake boards).

    ``feed(data)`` returns the packets completed by ``data`` in stream order; consecutive
    samples are merged into :class:`SamplesBlock` s. A SAMPLES frame whose index lies before
    the expected one is a duplicate and is dropped; one after it opens a new block whose
    ``gap_before`` says how many samples are missing. An INFO packet (the device rebooted or
    answered IDENTIFY) resets the expected index.

    Two paths give identical results: small feeds go frame by frame (cheap for the typical
    serial read of one frame); large feeds are decoded in bulk with numpy and fall back to the
    frame-by-frame logic only for the frames around gaps and duplicates.
    """

    def __init__(self) -> None:
        self.stats = DecoderStats()
        self._tail = b""
        self._synced = False
        self._next_index: int | None = None  # device index expected next (64-bit)
        self._last_seq: int | None = None
        self._run: _Run | None = None
        self._backward_end: int | None = None  # 32-bit end of the last frame dropped as old

    def reset(self) -> None:
        """Forget partial input and sequence state (new connection); counters are kept."""
        self._tail = b""
        self._synced = False
        self._next_index = None
        self._last_seq = None

    @property
    def next_index(self) -> int | None:
        """The device sample index expected next, if known."""
        return self._next_index

    def feed(self, data: bytes | bytearray | memoryview) -> list[Packet]:
        """Decode ``data``; returns the completed packets in stream order."""
        if not data:
            return []
        self.stats.bytes += len(data)
        buf = self._tail + bytes(data) if self._tail else bytes(data)
        end = buf.rfind(b"\x00")
        if end < 0:
            # keep at most one too-long frame's worth: it is rejected at its delimiter anyway
            self._tail = buf[: MAX_ENCODED + 1]
            return []
        self._tail = buf[end + 1 : end + 1 + MAX_ENCODED + 1]
        first = 0
        if not self._synced:
            # bytes before the first delimiter are the tail of a frame we joined halfway
            first = buf.find(b"\x00") + 1
            self.stats.sync_bytes += first - 1
            self._synced = True
        events: list[tuple[int, Packet | _Run]] = []
        if buf.count(b"\x00", first, end) < SCALAR_MAX_FRAMES:
            self._feed_scalar(buf, first, end, events)
        else:
            self._feed_vector(buf, first, end, events)
        self._run = None
        events.sort(key=lambda item: item[0])
        return [_finish(item) for _, item in events]

    # ---- per-frame path (also the reference semantics) ----

    def _feed_scalar(self, buf: bytes, first: int, end: int, events: list) -> None:
        pos = first
        for segment in buf[first:end].split(b"\x00"):
            here = pos
            pos += len(segment) + 1
            if not segment:
                continue
            if not MIN_ENCODED <= len(segment) <= MAX_ENCODED:
                self.stats.length_errors += 1
                continue
            try:
                raw = cobs_decode(segment)
            except ValueError:
                self.stats.cobs_errors += 1
                continue
            if binascii.crc_hqx(raw, 0xFFFF):
                self.stats.crc_errors += 1
                continue
            version, ptype = raw[0], raw[1]
            seq = raw[2] | (raw[3] << 8)
            self.stats.frames += 1
            self._count_seq(seq)
            if ptype == PacketType.SAMPLES and version == PROTOCOL_VERSION:
                index32, nch, ns = struct.unpack_from("<IBB", raw, HEADER_LEN)
                if nch == 0 or ns == 0 or len(raw) != _samples_raw_len(nch, ns):
                    self.stats.length_errors += 1
                    continue
                values = np.frombuffer(
                    raw, dtype="<u2", count=nch * ns, offset=HEADER_LEN + SAMPLES_HEADER_LEN
                ).reshape(ns, nch)
                self.stats.sample_frames += 1
                self._sample_frame(here, index32, values, events)
            else:
                self._other_frame(here, version, ptype, seq, raw[HEADER_LEN:-CRC_LEN], events)

    def _count_seq(self, seq: int) -> None:
        if self._last_seq is not None:
            step = (seq - self._last_seq) % 65536
            # 1 = next frame; 2..32767 = frames lost in between; 0 or "negative" = repeats
            if 1 < step < 32768:
                self.stats.lost_frames += step - 1
        self._last_seq = seq

    def _other_frame(
        self, pos: int, version: int, ptype: int, seq: int, body: bytes, events: list
    ) -> None:
        self.stats.types[ptype] = self.stats.types.get(ptype, 0) + 1
        packet = parse_packet(version, ptype, seq, body)
        if packet is None:
            self.stats.length_errors += 1
            return
        if isinstance(packet, VersionMismatch):
            self.stats.version_mismatches += 1
        if isinstance(packet, InfoPacket):
            self._on_info(packet)
        events.append((pos, packet))

    def _on_info(self, info: InfoPacket) -> None:
        if self._next_index is not None and info.sample_index < (self._next_index & 0xFFFFFFFF):
            self.stats.index_resets += 1
        self._next_index = None
        self._run = None
        self._backward_end = None

    def _sample_frame(self, pos: int, index32: int, values: np.ndarray, events: list) -> None:
        """Place one intact SAMPLES frame on the device's sample clock."""
        n = len(values)
        expected = self._next_index
        index = index32
        gap: int | None = None
        if expected is not None:
            index = expected + _signed32(index32 - (expected & 0xFFFFFFFF))
            delta = index - expected
            if delta < 0 and index32 == self._backward_end:
                # a second old frame that continues the previous one is no duplicate: the device
                # restarted its count (its INFO was lost). Start over from here.
                self.stats.index_resets += 1
                index = index32
            elif delta < 0:
                self._backward_end = (index32 + n) & 0xFFFFFFFF
                self.stats.duplicate_frames += 1
                return
            elif delta > MAX_INDEX_JUMP:
                self.stats.index_errors += 1
                return
            else:
                gap = delta
        self._backward_end = None
        nch = values.shape[1]
        self._next_index = index + n
        self.stats.samples += n
        run = self._run
        if gap == 0 and run is not None and run.n_channels == nch:
            run.parts.append(values)
            return
        if gap:
            self.stats.gap_samples += gap
        self._run = _Run(pos, index, [values], gap, nch)
        events.append((pos, self._run))

    # ---- bulk path ----

    def _feed_vector(self, buf: bytes, first: int, end: int, events: list) -> None:
        # up to and including the last delimiter, so back-to-back frames reshape without a copy
        arr = np.frombuffer(buf, dtype=np.uint8, count=end + 1)
        zeros = np.flatnonzero(arr[first:end] == 0) + first
        starts = np.empty(len(zeros) + 1, dtype=np.int64)
        starts[0] = first
        starts[1:] = zeros + 1
        ends = np.empty_like(starts)
        ends[:-1] = zeros
        ends[-1] = end
        lengths = ends - starts
        keep = lengths > 0  # empty frames (00 00) are padding
        starts = starts[keep]
        lengths = lengths[keep]
        bad_length = (lengths < MIN_ENCODED) | (lengths > MAX_ENCODED)
        self.stats.length_errors += int(np.count_nonzero(bad_length))
        starts = starts[~bad_length]
        lengths = lengths[~bad_length]
        groups: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        others: list[tuple[int, int, int, int, bytes]] = []
        all_pos: list[np.ndarray] = []
        all_seq: list[np.ndarray] = []
        if not len(lengths):
            unique_lengths = lengths
        elif lengths.min() == lengths.max():
            unique_lengths = lengths[:1]  # the usual case; np.unique would sort
        else:
            unique_lengths = np.unique(lengths)
        for length in unique_lengths.tolist():
            sel = starts if len(unique_lengths) == 1 else starts[lengths == length]
            if len(sel) > 1 and sel[-1] - sel[0] == (len(sel) - 1) * (length + 1):
                # back-to-back frames of one length (the usual case): a reshaped view, no gather
                block = arr[sel[0] : sel[0] + len(sel) * (length + 1)]
                raw = block.reshape(len(sel), length + 1)[:, 1:length].copy()
            else:
                raw = arr[sel[:, None] + np.arange(1, length)]
            ok = _cobs_decode_rows(arr, sel, length, raw)
            crc_ok = np.zeros(len(sel), dtype=bool)
            if ok.any():
                crc_ok[ok] = crc16_rows(raw[ok]) == 0
            self.stats.cobs_errors += int(np.count_nonzero(~ok))
            self.stats.crc_errors += int(np.count_nonzero(ok & ~crc_ok))
            if not crc_ok.any():
                continue
            raw = raw[crc_ok]
            pos = sel[crc_ok]
            seq = raw[:, 2].astype(np.int64) | (raw[:, 3].astype(np.int64) << 8)
            self.stats.frames += len(raw)
            all_pos.append(pos)
            all_seq.append(seq)
            is_samples = (raw[:, 1] == PacketType.SAMPLES) & (raw[:, 0] == PROTOCOL_VERSION)
            if is_samples.any():
                groups.append((raw[is_samples], pos[is_samples], raw.shape[1]))
            for i in np.flatnonzero(~is_samples):
                others.append(
                    (
                        int(pos[i]),
                        int(raw[i, 0]),
                        int(raw[i, 1]),
                        int(seq[i]),
                        raw[i, HEADER_LEN:-CRC_LEN].tobytes(),
                    )
                )
        if all_pos:
            pos = np.concatenate(all_pos)
            seq = np.concatenate(all_seq)[np.argsort(pos, kind="stable")]
            self._count_seq_array(seq)
        frames = self._sample_table(groups)
        others.sort()
        # walk the non-sample packets in order; sample frames between them go in bulk
        cursor = 0
        for pos_o, version, ptype, seq_o, body in others:
            stop = int(np.searchsorted(frames.pos, pos_o)) if frames is not None else 0
            if frames is not None and stop > cursor:
                self._sample_frames(frames, cursor, stop, events)
            cursor = stop
            self._other_frame(pos_o, version, ptype, seq_o, body, events)
        if frames is not None and len(frames.pos) > cursor:
            self._sample_frames(frames, cursor, len(frames.pos), events)

    def _count_seq_array(self, seq: np.ndarray) -> None:
        if self._last_seq is not None:
            seq = np.concatenate([[self._last_seq], seq])
        step = np.diff(seq) % 65536
        forward = (step > 1) & (step < 32768)
        self.stats.lost_frames += int((step[forward] - 1).sum())
        self._last_seq = int(seq[-1])

    def _sample_table(self, groups: list) -> _FrameTable | None:
        """All intact SAMPLES frames of a feed, in stream order, with their sample rows."""
        tables = []
        for raw, pos, width in groups:
            nch = raw[:, 8].astype(np.int64)
            ns = raw[:, 9].astype(np.int64)
            valid = (nch > 0) & (ns > 0) & (_samples_raw_len(nch, ns) == width)
            self.stats.length_errors += int(np.count_nonzero(~valid))
            if not valid.any():
                continue
            raw, pos, nch, ns = raw[valid], pos[valid], nch[valid], ns[valid]
            index32 = np.ascontiguousarray(raw[:, 4:8]).view("<u4")[:, 0].astype(np.int64)
            shape_key = nch * 256 + ns
            keys = shape_key[:1] if shape_key.min() == shape_key.max() else np.unique(shape_key)
            for key in keys.tolist():
                sub = shape_key == key
                c, n = key // 256, key % 256
                payload = np.ascontiguousarray(raw[sub, 10 : 10 + 2 * c * n])
                tables.append((pos[sub], index32[sub], c, n, payload.view("<u2").reshape(-1, n, c)))
        if not tables:
            return None
        self.stats.sample_frames += sum(len(t[0]) for t in tables)
        if len(tables) == 1:
            pos, index32, c, n, values = tables[0]
            return _FrameTable(
                pos,
                index32,
                np.full(len(pos), c),
                np.full(len(pos), n),
                values.reshape(-1, c),
                np.arange(len(pos)) * n,
            )
        width = max(t[2] for t in tables)
        stores = []
        for *_, values in tables:
            flat = values.reshape(-1, values.shape[2])
            stores.append(np.pad(flat, ((0, 0), (0, width - flat.shape[1]))))
        pos = np.concatenate([t[0] for t in tables])
        ns = np.concatenate([np.full(len(t[0]), t[3]) for t in tables])
        row_start = np.concatenate([[0], np.cumsum(ns)[:-1]])
        order = np.argsort(pos, kind="stable")
        return _FrameTable(
            pos[order],
            np.concatenate([t[1] for t in tables])[order],
            np.concatenate([np.full(len(t[0]), t[2]) for t in tables])[order],
            ns[order],
            np.concatenate(stores),
            row_start[order],
        )

    def _sample_frames(self, t: _FrameTable, a: int, b: int, events: list) -> None:
        """Frames a..b of the table: stretches that simply continue the stream go in bulk; the
        first frame after a gap, a duplicate or a shape change goes through :meth:`_sample_frame`."""
        ns = t.ns[a:b]
        nch = t.nch[a:b]
        step = (np.diff(t.index32[a:b]) + (1 << 31)) % (1 << 32) - (1 << 31)
        breaks = np.flatnonzero((step != ns[:-1]) | (nch[1:] != nch[:-1])) + 1 + a
        bounds = [a, *breaks.tolist(), b]
        for s, e in itertools.pairwise(bounds):
            i = s
            while i < e:
                if self._bulk(t, i, e, events):
                    break
                # one frame by the rules (gap, duplicate, jump); the rest may then continue it
                rs = int(t.row_start[i])
                values = t.rows[rs : rs + int(t.ns[i]), : int(t.nch[i])]
                self._sample_frame(int(t.pos[i]), int(t.index32[i]), values, events)
                i += 1

    def _bulk(self, t: _FrameTable, a: int, b: int, events: list) -> bool:
        """Frames a..b (contiguous with each other) in one piece, if they continue the stream."""
        expected = self._next_index
        index32 = int(t.index32[a])
        if expected is None:
            base = index32
        else:
            base = expected + _signed32(index32 - (expected & 0xFFFFFFFF))
            if base != expected:
                return False
        width = int(t.nch[a])
        if t.rows.shape[1] != width or not _rows_contiguous(t.row_start[a:b], t.ns[a:b]):
            return False
        lo = int(t.row_start[a])
        hi = int(t.row_start[b - 1] + t.ns[b - 1])
        values = t.rows[lo:hi]
        self._backward_end = None
        self._next_index = base + (hi - lo)
        self.stats.samples += hi - lo
        run = self._run
        if expected is not None and run is not None and run.n_channels == width:
            run.parts.append(values)
        else:
            self._run = _Run(int(t.pos[a]), base, [values], None if expected is None else 0, width)
            events.append((int(t.pos[a]), self._run))
        return True


@dataclass
class _FrameTable:
    pos: np.ndarray
    index32: np.ndarray
    nch: np.ndarray
    ns: np.ndarray
    rows: np.ndarray
    row_start: np.ndarray


def _finish(item: Packet | _Run) -> Packet:
    if isinstance(item, _Run):
        parts = item.parts
        samples = parts[0].copy() if len(parts) == 1 else np.concatenate(parts)
        return SamplesBlock(item.first_index, samples, item.gap_before)
    return item


def _samples_raw_len(nch, ns):  # ints or int arrays
    return HEADER_LEN + SAMPLES_HEADER_LEN + 2 * nch * ns + CRC_LEN


def _rows_contiguous(row_start: np.ndarray, ns: np.ndarray) -> bool:
    return bool(np.all(row_start[1:] == row_start[:-1] + ns[:-1]))


def _signed32(value: int) -> int:
    return ((value + (1 << 31)) % (1 << 32)) - (1 << 31)


def _cobs_decode_rows(
    arr: np.ndarray, starts: np.ndarray, length: int, raw: np.ndarray
) -> np.ndarray:
    """Decode equal-length COBS frames (no zeros inside, length <= 254) in parallel.

    ``arr[starts[i]:starts[i] + length]`` is frame i; ``raw`` (C-contiguous [m, length - 1])
    holds each frame's bytes after its first code byte and receives the zeros the codes stand
    for. Returns the valid mask. All code chains are followed together: each step moves every
    frame still inside its buffer to its next code byte; frames leave the working set when their
    chain ends exactly at the end (valid) or beyond it (invalid).
    """
    m = len(starts)
    valid = np.ones(m, dtype=bool)
    flat = raw.reshape(-1)
    rows = np.arange(m)
    base_arr = starts.astype(np.intp)
    base_raw = rows * (length - 1) - 1
    pos = arr[base_arr].astype(np.intp)  # the first code: offset of the next code byte
    while True:
        inside = pos < length
        if not inside.all():
            valid[rows[pos > length]] = False
            rows, pos = rows[inside], pos[inside]
            base_arr, base_raw = base_arr[inside], base_raw[inside]
            if not len(rows):
                return valid
        flat[base_raw + pos] = 0  # every code byte after the first stands for a zero
        pos = pos + arr[base_arr + pos]


# --------------------------------------------------------------------------------------------
# Text mode (stock SparkFun / MyoWare sketches)

_SPLIT = re.compile(rb"[,;\s]+")


@dataclass
class TextStats:
    """Counters of the text decoder."""

    lines: int = 0
    bad_lines: int = 0
    wrong_width: int = 0
    bytes: int = 0


class TextDecoder:
    """ASCII numbers, one sample set per line (``512``, ``512,87``, ``raw:512 env:87``).

    Values may be separated by commas, semicolons, spaces or tabs, and may carry Serial
    Plotter labels (``name:value``). Lines that are not numbers (banners, prompts) are counted
    and skipped. ``n_columns`` fixes the expected number of values; when None, the first good
    line decides it.
    """

    def __init__(self, n_columns: int | None = None, max_line: int = 512) -> None:
        self.n_columns = n_columns
        self.max_line = max_line
        self.stats = TextStats()
        self._tail = b""
        self._synced = False

    def reset(self) -> None:
        """Forget a partial line (new connection)."""
        self._tail = b""
        self._synced = False

    def feed(self, data: bytes) -> np.ndarray:
        """Decode ``data``; returns float64 [n, n_columns] (n may be 0)."""
        self.stats.bytes += len(data)
        buf = self._tail + bytes(data)
        lines = buf.split(b"\n")
        self._tail = lines.pop()[-self.max_line :]
        if not self._synced and lines:
            # the first line may be the second half of one we joined midway
            lines = lines[1:]
            self._synced = True
        rows: list[list[float]] = []
        for line in lines:
            values = self.parse_line(line)
            if values is None:
                continue
            if self.n_columns is None:
                self.n_columns = len(values)
            if len(values) != self.n_columns:
                self.stats.wrong_width += 1
                continue
            rows.append(values)
        width = self.n_columns or 0
        self.stats.lines += len(rows)
        return np.asarray(rows, dtype=np.float64).reshape(len(rows), width)

    def parse_line(self, line: bytes) -> list[float] | None:
        """The numbers on one line, or None (counted as a bad line) if it is not numbers."""
        text = line.strip()
        if not text:
            return None
        values: list[float] = []
        for token in _SPLIT.split(text):
            if not token:
                continue
            if b":" in token:
                token = token.rsplit(b":", 1)[1]
                if not token:
                    continue
            try:
                values.append(float(token))
            except ValueError:
                self.stats.bad_lines += 1
                return None
        if not values:
            self.stats.bad_lines += 1
            return None
        return values
