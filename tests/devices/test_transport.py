"""The serial transport on pySerial URLs: ``loop://`` and a ``socket://`` board, no pty needed;
and a third protocol plugged in behind the same interface.

``socket_board.SocketBoard`` serves firmware/biofeedback on 127.0.0.1; the host reaches it with
the same ``serial://`` source URL syntax a user types (``serial://socket://HOST:PORT``).
"""

from __future__ import annotations

import socket
import threading

import numpy as np
import pytest
from fake_board import default_values
from socket_board import SocketBoard

from biofeedback.core.clock import MonotonicClock
from biofeedback.core.types import ChannelKind, Chunk, Flag, StreamInfo
from biofeedback.devices import wire
from biofeedback.devices.base import DeviceState, DeviceStats, DeviceStatus
from biofeedback.devices.protocol import Protocol, StreamRequest, channel_infos
from biofeedback.devices.rate_check import RateVerdict
from biofeedback.devices.registry import open_device
from biofeedback.devices.serial_device import PROTOCOLS, SerialDevice
from biofeedback.devices.stream_index import StreamIndexer
from biofeedback.devices.text_protocol import TextProtocol
from biofeedback.devices.transport import PortLost, SerialTransport
from biofeedback.errors import DeviceError


class Sink:
    """Chunks and statuses from a running device (callbacks run on its thread)."""

    def __init__(self) -> None:
        self.chunks: list[Chunk] = []
        self.statuses: list[DeviceStatus] = []
        self.lock = threading.Lock()

    def on_chunk(self, chunk: Chunk) -> None:
        with self.lock:
            self.chunks.append(chunk)

    def on_status(self, status: DeviceStatus) -> None:
        with self.lock:
            self.statuses.append(status)

    def samples(self) -> int:
        with self.lock:
            return sum(len(c) for c in self.chunks)

    def states(self) -> list[DeviceState]:
        with self.lock:
            return [s.state for s in self.statuses if not s.warning]

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with self.lock:
            idx = np.concatenate([np.arange(c.first_index, c.end_index) for c in self.chunks])
            x = np.concatenate([c.samples for c in self.chunks])
            flags = np.concatenate([c.flags for c in self.chunks])
        return idx, x, flags


def free_tcp_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- the transport on loop:// -------------------------------------------------------------


def test_loop_url_opens_echoes_and_reports_a_closed_port():
    stats = DeviceStats()
    link = SerialTransport("loop://", 115_200, stats=stats)
    link.open()
    try:
        link.write(b"hello")
        got = b""
        for _ in range(20):
            got += link.read()
            if len(got) >= 5:
                break
        assert got == b"hello" and stats.bytes_received == 5
    finally:
        link.close()
    assert not link.is_open
    with pytest.raises(PortLost, match="loop://: the port disappeared"):
        link.read()
    with pytest.raises(PortLost, match="not open"):
        link.write(b"x")
    link.close()  # twice is fine


def test_unknown_port_url_type_names_the_ones_pyserial_knows():
    with pytest.raises(DeviceError, match=r"cannot open nosuch://x: .*socket://HOST:PORT"):
        SerialTransport("nosuch://x", 115_200).open()


def test_binary_protocol_on_an_echoing_loop_says_the_board_does_not_answer():
    # loop:// sends our IDENTIFY straight back: frames, but never an INFO
    with pytest.raises(DeviceError, match="sends frames but does not answer IDENTIFY"):
        open_device("serial://loop://?timeout=0.3").open()


def test_text_protocol_over_loop_reads_lines_then_delivers_them_in_order():
    stats = DeviceStats()
    chunks: list[Chunk] = []
    indexer = StreamIndexer(chunks.append, stats)
    link = SerialTransport("loop://", 115_200, stats=stats)
    link.open()
    try:
        link.write(b"MyoWare example\r\n" + b"".join(b"%d\r\n" % (10 * i) for i in range(12)))
        request = StreamRequest(fs_hz=50.0, open_timeout_s=1.0, calibrate_s=0.1)
        protocol = TextProtocol(link, request, indexer, stats, MonotonicClock())
        info = protocol.open()
        indexer.info = info
        assert info.fs_hz == 50.0 and not info.fs_estimated
        assert [c.kind.value for c in info.channels] == ["env"]
        protocol.start()
        protocol.feed(link.read(), 0.0)  # whatever was not read during open
    finally:
        link.close()
    values = np.concatenate([c.samples[:, 0] for c in chunks])
    assert values.tolist() == [10.0 * i for i in range(12)]
    assert chunks[0].first_index == 0 and indexer.next_index == 12


# ---- a board on socket:// -------------------------------------------------------------------


def test_socket_url_in_a_source_url_reaches_the_board():
    with SocketBoard() as board:
        device = open_device(board.url)
        assert isinstance(device, SerialDevice)
        assert device.port == f"socket://127.0.0.1:{board.tcp_port}"
        info = device.open()
        try:
            assert info.fs_hz == 1000.0 and info.extra["port"] == device.port
            assert device.device_info is not None and device.device_info.board == "uno"
        finally:
            device.close()
    assert wire.PacketType.IDENTIFY in board.commands
    assert board.commands[-1] == wire.PacketType.STOP  # told to stop when closed


def test_socket_board_streams_exact_samples(wait_for):
    with SocketBoard() as board:
        device = open_device(board.url)
        sink = Sink()
        device.start(sink.on_chunk, sink.on_status)
        try:
            wait_for(lambda: sink.samples() >= 300, 20, "300 samples over socket://")
        finally:
            device.close()
    idx, x, flags = sink.arrays()
    assert idx[0] == 0 and np.all(np.diff(idx) == 1) and not flags.any()
    first = min(board.sent)
    expected = default_values(idx + first, x.shape[1]).astype(float)
    assert np.array_equal(x, expected)
    assert device.stats.bytes_received > 0 and device.stats.frame_errors == 0


def test_a_dropped_connection_is_reconnected_and_the_gap_is_exact(wait_for):
    with SocketBoard() as board:
        device = open_device(f"{board.url}?reconnect_s=20")
        sink = Sink()
        device.start(sink.on_chunk, sink.on_status)
        try:
            wait_for(lambda: sink.samples() >= 200, 20, "samples before the outage")
            board.drop_connection()
            wait_for(lambda: DeviceState.RECONNECTING in sink.states(), 20, "RECONNECTING")
            wait_for(lambda: board.connections >= 2, 20, "a second connection")
            wait_for(
                lambda: sink.states()[-1] == DeviceState.CONNECTED and sink.samples() >= 600,
                20,
                lambda: f"reconnected and streaming: {sink.states()}",
            )
        finally:
            device.close()
    reconnecting = [s for s in sink.statuses if s.state == DeviceState.RECONNECTING]
    assert "network connection closed" in reconnecting[0].message
    assert device.stats.reconnects >= 1
    idx, x, flags = sink.arrays()
    assert idx[0] == 0 and np.all(np.diff(idx) == 1)
    missing = (flags & Flag.MISSING) != 0
    assert missing.any() and np.isnan(x[missing]).all() and not np.isnan(x[~missing]).any()
    # the board kept counting while the connection was down: every real sample is where the
    # board's own index puts it (an exact gap, not an estimate)
    first = min(board.sent)
    expected = default_values(idx + first, x.shape[1]).astype(float)
    assert np.array_equal(x[~missing], expected[~missing])


def test_unreachable_network_board_says_so():
    url = f"serial://socket://127.0.0.1:{free_tcp_port()}?timeout=0.5"
    with pytest.raises(DeviceError, match=r"cannot reach socket://127\.0\.0\.1:\d+: .*listening"):
        open_device(url).open()


def test_network_board_gone_for_good_ends_the_stream(wait_for):
    board = SocketBoard().start()
    device = open_device(f"{board.url}?reconnect_s=1")
    sink = Sink()
    device.start(sink.on_chunk, sink.on_status)
    try:
        wait_for(lambda: sink.samples() >= 100, 20, "samples before the board goes")
        board.stop()  # the server closes: every reconnect attempt is refused
        wait_for(lambda: DeviceState.ERROR in sink.states(), 20, "the final ERROR")
    finally:
        device.close()
    final = [s for s in sink.statuses if s.state == DeviceState.ERROR][-1]
    assert "has been gone for 1 s" in final.message


# ---- another protocol behind the same interface -------------------------------------------


class BytesProtocol(Protocol):
    """A made-up board that sends one unsigned byte per sample, one channel, no framing."""

    name = "bytes"
    default_baud = 9600

    def open(self) -> StreamInfo:
        fs = self.request.fs_hz or 100.0
        channels = channel_infos((ChannelKind.ENV,), (None,), 5.0, 8, self.request.pot_kohm)
        return StreamInfo(fs_hz=fs, channels=channels, adc_bits=8, vref_v=5.0, units="counts")

    def start(self) -> None:
        pass  # this board streams from power-on

    def feed(self, data: bytes, now: float) -> None:
        rows = np.frombuffer(data, dtype=np.uint8).astype(np.float64)[:, None]
        self.indexer.rows(rows, now)

    def resume(self) -> None:
        self.indexer.rebase = True  # no sample numbers: place what follows by time

    def rate_advice(self, verdict: RateVerdict, info: StreamInfo) -> str:
        return "check the board's clock"


def test_a_new_protocol_plugs_in_by_name_and_streams(monkeypatch, wait_for):
    monkeypatch.setitem(PROTOCOLS, BytesProtocol.name, BytesProtocol)
    device = open_device("serial://loop://?format=bytes&fs=50")
    assert isinstance(device, SerialDevice) and device.baud == 9600
    info = device.open()
    assert info.fs_hz == 50.0 and info.n_channels == 1
    sink = Sink()
    device.start(sink.on_chunk, sink.on_status)
    try:
        device.transport.write(bytes([1, 2, 3, 250]))  # loop:// hands it straight back
        wait_for(lambda: sink.samples() >= 4, 10, "the four samples")
    finally:
        device.close()
    idx, x, flags = sink.arrays()
    assert idx.tolist() == [0, 1, 2, 3] and x[:, 0].tolist() == [1.0, 2.0, 3.0, 250.0]
    assert not flags.any() and isinstance(device.protocol, BytesProtocol)
