"""A fake board on a pty, for SerialDevice / discovery / CLI tests without hardware.

``FakeBoard`` plays firmware/biofeedback's side of the wire protocol (IDENTIFY, START, STOP,
SET_RATE, SET_CHANNELS; INFO at boot; SAMPLES paced in real time from a function of the sample
index; STATUS once a second). ``TextBoard`` prints lines like SparkFun's example sketch. Both
live behind a symlink that survives a "replug" (a new pty), so the host reopens the same path.
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import termios
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path

import numpy as np

from biofeedback.core.types import ChannelKind
from biofeedback.devices import wire


def default_values(index: np.ndarray, n_channels: int) -> np.ndarray:
    """A different, checkable 10-bit code for every (sample, channel)."""
    ch = np.arange(n_channels)
    return ((index[:, None] * 7 + ch * 101) % 1024).astype(np.uint16)


class _Pty:
    def __init__(self, link: Path) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(self.slave)
        fl = fcntl.fcntl(self.master, fcntl.F_GETFL)
        fcntl.fcntl(self.master, fcntl.F_SETFL, fl | os.O_NONBLOCK)
        self.name = os.ttyname(self.slave)
        tmp = link.with_name(link.name + ".tmp")
        if tmp.exists() or tmp.is_symlink():
            tmp.unlink()
        tmp.symlink_to(self.name)
        os.replace(tmp, link)

    def pending_to_host(self) -> int:
        """Bytes written but not yet read by the host."""
        buf = fcntl.ioctl(self.slave, termios.FIONREAD, b"\0\0\0\0")
        return struct.unpack("i", buf)[0]

    def write_all(self, data: bytes, stop: threading.Event) -> None:
        view = memoryview(data)
        while view and not stop.is_set():
            try:
                n = os.write(self.master, view)
                view = view[n:]
            except BlockingIOError:
                select.select([], [self.master], [], 0.05)
            except OSError:
                return

    def close(self) -> None:
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


class _BoardBase:
    def __init__(self, directory: Path, name: str = "ttyFAKE") -> None:
        self.path = Path(directory) / name
        self._pty: _Pty | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"serial://{self.path}"

    def start(self) -> _BoardBase:
        self._pty = _Pty(self.path)
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._pty is not None:
            self._pty.close()
            self._pty = None

    def unplug(self, drain: bool = True) -> None:
        """Pull the cable: the host's port vanishes. With ``drain``, first wait (<= 2 s) until
        the host has read everything already sent, so a test can tell lost from never sent."""
        if drain and self._pty is not None:
            deadline = time.monotonic() + 2.0
            while self._pty.pending_to_host() and time.monotonic() < deadline:
                time.sleep(0.005)
        self.stop()
        if self.path.is_symlink():
            self.path.unlink()

    def _loop(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class FakeBoard(_BoardBase):
    """firmware/biofeedback on a pty.

    ``values(index_array, n_channels)`` gives the codes; ``drop(frame_number)`` may return True
    to lose a frame on the wire (its samples become a gap on the host). The sample index keeps
    counting from boot across unplug/replug unless ``replug(reboot=True)``.
    """

    def __init__(
        self,
        directory: Path,
        fs_hz: int = 1000,
        channels: tuple[tuple[int, ChannelKind], ...] = (
            (0, ChannelKind.RAW),
            (1, ChannelKind.ENV),
            (2, ChannelKind.REF),
        ),
        values: Callable[[np.ndarray, int], np.ndarray] = default_values,
        drop: Callable[[int], bool] | None = None,
        version: int = wire.PROTOCOL_VERSION,
        max_rate_hz: int = 4000,
        name: str = "ttyFAKE",
    ) -> None:
        super().__init__(directory, name)
        self.fs_hz = fs_hz
        self.channels = channels
        self.values = values
        self.drop = drop
        self.version = version
        self.max_rate_hz = max_rate_hz
        self.commands: list[wire.PacketType] = []
        self.sent: dict[int, np.ndarray] = {}  # device index -> codes actually written
        self.streaming = False
        self._boot_t = time.monotonic()
        self._index = 0  # next device index to sample
        self._stream_t0 = 0.0
        self._stream_i0 = 0
        self._seq = 0
        self._frame_no = 0
        self._last_status = 0.0

    @property
    def per_frame(self) -> int:
        return max(1, self.fs_hz // 100)

    def replug(self, reboot: bool = False) -> None:
        """Plug the cable back in. Without ``reboot`` the board kept sampling meanwhile (its index
        advanced by the time it was away); with it, it restarts: index 0, idle, INFO at boot."""
        if reboot:
            self._index = 0
            self.streaming = False
            self.fs_hz = 1000
            self.channels = ((0, ChannelKind.RAW), (1, ChannelKind.ENV), (2, ChannelKind.REF))
        elif self.streaming:
            # what it sampled while unplugged went nowhere: skip to the frame due now
            due = self._stream_i0 + int((time.monotonic() - self._stream_t0) * self.fs_hz)
            self._index += (due - self._index) // self.per_frame * self.per_frame
        self.start()
        if reboot:
            self._send_info()

    def start(self) -> FakeBoard:
        super().start()
        return self

    def _frame(self, ptype: int, body: bytes) -> bytes:
        data = wire.encode_frame(ptype, self._seq, body, version=self.version)
        self._seq = (self._seq + 1) & 0xFFFF
        return data

    def _write(self, data: bytes) -> None:
        if self._pty is not None:
            self._pty.write_all(data, self._stop)

    def _send_info(self) -> None:
        body = bytes([1, 0, 0, 10]) + struct.pack(
            "<HII", 5000, self.fs_hz * 1000, self._index & 0xFFFFFFFF
        )
        body += bytes([self.per_frame, int(self.streaming), len(self.channels)])
        for pin, kind in self.channels:
            body += bytes([pin, wire.KIND_TO_CODE[kind]])
        self._write(self._frame(wire.PacketType.INFO, body + b"uno"))

    def _send_status(self, ack_type: int = 0, ack_seq: int = 0) -> None:
        body = struct.pack(
            "<BBHIIHH", int(self.streaming), ack_type, ack_seq, self._index & 0xFFFFFFFF, 0, 0, 3
        )
        self._write(self._frame(wire.PacketType.STATUS, body))

    def _send_error(self, code: int, seq: int, message: str) -> None:
        self._write(
            self._frame(
                wire.PacketType.ERROR, bytes([code]) + struct.pack("<H", seq) + message.encode()
            )
        )

    def _handle(self, packet: wire.Packet) -> None:
        if not isinstance(packet, wire.CommandPacket):
            return
        self.commands.append(packet.ptype)
        if packet.ptype == wire.PacketType.IDENTIFY:
            self._send_info()
        elif packet.ptype == wire.PacketType.START:
            if not self.streaming:
                self.streaming = True
                self._stream_t0 = time.monotonic()
                self._stream_i0 = self._index
            self._send_status(packet.ptype, packet.seq)
        elif packet.ptype == wire.PacketType.STOP:
            self.streaming = False
            self._send_status(packet.ptype, packet.seq)
        elif packet.ptype == wire.PacketType.SET_RATE:
            hz = struct.unpack("<H", packet.body)[0]
            if self.streaming:
                self._send_error(wire.ErrorCode.BUSY, packet.seq, "stop before changing the rate")
            elif hz > self.max_rate_hz:
                self._send_error(wire.ErrorCode.RATE, packet.seq, "rate out of range: 10..4000 Hz")
            else:
                self.fs_hz = hz
                self._send_status(packet.ptype, packet.seq)
        elif packet.ptype == wire.PacketType.SET_CHANNELS:
            n = packet.body[0]
            pairs = packet.body[1 : 1 + 2 * n]
            self.channels = tuple(
                (pairs[2 * i], wire.KIND_CODES[pairs[2 * i + 1]]) for i in range(n)
            )
            self._send_status(packet.ptype, packet.seq)

    def _loop(self) -> None:
        decoder = wire.Decoder()
        decoder.feed(b"\x00")
        while not self._stop.is_set():
            pty_ = self._pty
            if pty_ is None:
                return
            try:
                ready, _, _ = select.select([pty_.master], [], [], 0.005)
                if ready:
                    data = os.read(pty_.master, 4096)
                    for packet in decoder.feed(data):
                        self._handle(packet)
            except OSError:
                pass
            if self.streaming:
                self._stream_due()

    def _stream_due(self) -> None:
        due = self._stream_i0 + int((time.monotonic() - self._stream_t0) * self.fs_hz)
        k = self.per_frame
        n_ch = len(self.channels)
        while self._index + k <= due and not self._stop.is_set():
            index = np.arange(self._index, self._index + k)
            codes = self.values(index, n_ch)
            frame_no = self._frame_no
            self._frame_no += 1
            frame = self._frame(
                wire.PacketType.SAMPLES,
                struct.pack("<IBB", self._index & 0xFFFFFFFF, n_ch, k)
                + codes.astype("<u2").tobytes(),
            )
            if self.drop is None or not self.drop(frame_no):
                self._write(frame)
                for i, row in zip(index, codes, strict=True):
                    self.sent[int(i)] = row
            self._index += k
        if time.monotonic() - self._last_status > 1.0:
            self._last_status = time.monotonic()
            self._send_status()


class TextBoard(_BoardBase):
    """A board running a stock example sketch: ``Serial.println(analogRead(A0))`` every period."""

    def __init__(
        self,
        directory: Path,
        rate_hz: float = 50.0,
        columns: int = 1,
        banner: bytes = b"MyoWare example\r\n",
        sep: bytes = b",",
        name: str = "ttyTEXT",
    ) -> None:
        super().__init__(directory, name)
        self.rate_hz = rate_hz
        self.columns = columns
        self.banner = banner
        self.sep = sep
        self.lines_sent = 0
        self._t0: float | None = None

    def value(self, n: int, col: int = 0) -> int:
        return (n * 13 + col * 300) % 1024

    def start(self) -> TextBoard:
        if self._t0 is None:
            self._t0 = time.monotonic()
        else:
            # replugged: the lines it printed meanwhile went nowhere
            self.lines_skipped_from = self.lines_sent
            self.lines_sent = int((time.monotonic() - self._t0) * self.rate_hz)
        super().start()
        return self

    def _loop(self) -> None:
        if self.banner:
            self._pty.write_all(self.banner, self._stop)  # type: ignore[union-attr]
        while not self._stop.is_set():
            assert self._t0 is not None
            due = int((time.monotonic() - self._t0) * self.rate_hz)
            out = bytearray()
            while self.lines_sent < due:
                n = self.lines_sent
                out += (
                    self.sep.join(str(self.value(n, c)).encode() for c in range(self.columns))
                    + b"\r\n"
                )
                self.lines_sent += 1
            if out and self._pty is not None:
                self._pty.write_all(bytes(out), self._stop)
            time.sleep(0.002)
