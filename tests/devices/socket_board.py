"""firmware/biofeedback served on a TCP socket of 127.0.0.1: a networked board, no pty.

The host reaches it as ``serial://socket://127.0.0.1:PORT`` (pySerial's ``socket://``), so these
tests run wherever sockets do. :class:`SocketBoard` plays the same firmware as
:class:`fake_board.FakeBoard` (IDENTIFY, START, STOP, SET_RATE, SET_CHANNELS, SAMPLES paced in real
time, STATUS each second); only the link differs. :meth:`SocketBoard.drop_connection` is a
network outage: the connection closes, the board keeps sampling, and the next connection
resumes the same count.
"""

from __future__ import annotations

import select
import socket
import threading
from pathlib import Path

from fake_board import FakeBoard

from biofeedback.devices import wire


class SocketBoard(FakeBoard):
    """A FakeBoard whose wire is a TCP connection (one host at a time)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(Path("/nonexistent"), **kwargs)
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.setblocking(False)
        self.tcp_port: int = self._server.getsockname()[1]
        self._conn: socket.socket | None = None
        self._conn_lock = threading.Lock()
        self.connections = 0

    @property
    def url(self) -> str:
        return f"serial://socket://127.0.0.1:{self.tcp_port}"

    def start(self) -> SocketBoard:
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._close_conn()
        self._server.close()

    def drop_connection(self) -> None:
        """The network goes away for a moment: the host's connection closes."""
        self._close_conn()

    def _close_conn(self) -> None:
        with self._conn_lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _write(self, data: bytes) -> None:
        with self._conn_lock:
            conn = self._conn
            if conn is None:
                return
            try:
                conn.sendall(data)
            except OSError:
                return

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._server], [], [], 0.02)
            if ready:
                conn, _ = self._server.accept()
                conn.settimeout(1.0)
                with self._conn_lock:
                    self._conn = conn
                self.connections += 1
                self._talk(conn)
            elif self.streaming:
                self._stream_due()  # samples taken while nobody listens are lost, as on a wire

    def _talk(self, conn: socket.socket) -> None:
        """Serve one connection until it closes (either side) or the board stops."""
        decoder = wire.Decoder()
        decoder.feed(b"\x00")
        while not self._stop.is_set() and self._conn is conn:
            try:
                ready, _, _ = select.select([conn], [], [], 0.005)
                if ready:
                    data = conn.recv(4096)
                    if not data:
                        break  # the host closed it
                    for packet in decoder.feed(data):
                        self._handle(packet)
            except (OSError, ValueError):
                break  # closed under us (drop_connection)
            if self.streaming:
                self._stream_due()
        self._close_conn()
