"""format=chords against a pty that speaks Upside Down Labs' Chords firmware: the WHORU / START /
STOP handshake, packets C7 7C counter, big-endian channels, 01; gaps from the counter; resync."""

from __future__ import annotations

import os
import select
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fake_board import _BoardBase

from biofeedback.core.types import ChannelKind, Flag
from biofeedback.devices import discovery
from biofeedback.devices.chords_protocol import (
    CHORDS_BOARDS,
    ChordsDecoder,
    board_in_answer,
    chords_board,
)
from biofeedback.devices.registry import open_device
from biofeedback.errors import DeviceError, SourceURLError

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pty-based tests need POSIX")


def codes_for(index: int, n_channels: int, bits: int = 14) -> list[int]:
    """A different, checkable code for every (sample, channel) within the ADC's range."""
    return [(index * 37 + ch * 2011) % (1 << bits) for ch in range(n_channels)]


def packet(counter: int, codes: list[int]) -> bytes:
    """One packet as the Chords firmware writes it."""
    body = b"".join(bytes((c >> 8, c & 0xFF)) for c in codes)
    return bytes((0xC7, 0x7C, counter & 0xFF)) + body + b"\x01"


class ChordsFake(_BoardBase):
    """The Chords firmware on a pty.

    Commands are read like the firmware's ``Serial.readString()``: a command counts once no
    byte has come for ``read_gap_s``. ``skip(i)`` drops packet ``i`` (its counter value is used
    up: a loss on the wire); ``mangle(i, bytes)`` may replace what is written for packet ``i``.
    """

    def __init__(
        self,
        directory: Path,
        name: str = "UNO-R4",
        skip: Callable[[int], bool] | None = None,
        mangle: Callable[[int, bytes], bytes] | None = None,
        read_gap_s: float = 1.0,
    ) -> None:
        super().__init__(directory, "ttyCHORDS")
        self.board = CHORDS_BOARDS[name]
        self.name = name
        self.skip = skip
        self.mangle = mangle
        self.read_gap_s = read_gap_s
        self.commands: list[str] = []
        self.sent: dict[int, list[int]] = {}
        self.streaming = False
        self._index = 0
        self._t0 = 0.0
        self._i0 = 0

    def _command(self, text: str) -> None:
        self.commands.append(text)
        assert self._pty is not None
        if text == "WHORU":
            self._pty.write_all(self.name.encode() + b"\r\n", self._stop)
        elif text == "START" and not self.streaming:
            self.streaming = True
            self._t0, self._i0 = time.monotonic(), self._index
        elif text == "STOP":
            self.streaming = False

    def _loop(self) -> None:
        pending = b""
        last_byte = 0.0
        while not self._stop.is_set():
            pty_ = self._pty
            if pty_ is None:
                return
            try:
                ready, _, _ = select.select([pty_.master], [], [], 0.002)
                if ready:
                    pending += os.read(pty_.master, 4096)
                    last_byte = time.monotonic()
            except OSError:
                pass
            if pending and time.monotonic() - last_byte > self.read_gap_s:
                self._command(pending.decode("ascii", "replace").strip())
                pending = b""
            if self.streaming:
                self._stream_due()

    def _stream_due(self) -> None:
        due = self._i0 + int((time.monotonic() - self._t0) * self.board.fs_hz)
        out = bytearray()
        while self._index < due:
            i = self._index
            self._index += 1
            codes = codes_for(i, self.board.n_channels, self.board.adc_bits)
            if self.skip is not None and self.skip(i):
                continue
            data = packet(i, codes)
            if self.mangle is not None:
                data = self.mangle(i, data)
            else:
                self.sent[i] = codes
            out += data
        if out and self._pty is not None:
            self._pty.write_all(bytes(out), self._stop)


class Collector:
    def __init__(self) -> None:
        self.chunks: list = []
        self.lock = threading.Lock()

    def on_chunk(self, chunk) -> None:
        with self.lock:
            self.chunks.append(chunk)

    def samples(self) -> int:
        with self.lock:
            return sum(len(c) for c in self.chunks)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with self.lock:
            idx = np.concatenate([np.arange(c.first_index, c.end_index) for c in self.chunks])
            x = np.concatenate([c.samples for c in self.chunks])
            flags = np.concatenate([c.flags for c in self.chunks])
        return idx, x, flags


def run(board: ChordsFake, url: str, samples: int, wait_for) -> tuple[Collector, object]:
    device = open_device(url)
    device.open()
    col = Collector()
    device.start(col.on_chunk, lambda status: None)
    try:
        wait_for(lambda: col.samples() >= samples, 30, f"fewer than {samples} samples arrived")
    finally:
        device.close()
    return col, device


def check_against(col: Collector, board: ChordsFake) -> tuple[np.ndarray, np.ndarray]:
    """Stream indices are contiguous, missing samples NaN and flagged, every other sample equal
    to what the board sent for its packet; returns (board packet numbers, missing)."""
    idx, x, flags = col.arrays()
    assert idx[0] == 0 and np.all(np.diff(idx) == 1)
    missing = (flags & Flag.MISSING) != 0
    assert np.isnan(x[missing]).all() and not np.isnan(x[~missing]).any()
    first = next(i for i in sorted(board.sent) if board.sent[i] == x[0].astype(int).tolist())
    number = idx + first
    for k in np.flatnonzero(~missing):
        assert x[k].astype(int).tolist() == board.sent[int(number[k])]
    return number, missing


def test_uno_r4_streams_every_packet_with_no_gap(tmp_path, wait_for):
    with ChordsFake(tmp_path) as board:
        url = f"serial://{board.path}?format=chords&board=uno-r4"
        device = open_device(url)
        info = device.open()
        try:
            assert info.fs_hz == 500 and info.adc_bits == 14 and info.vref_v == 5.0
            assert info.board == "uno-r4" and info.n_channels == 6
            assert [c.kind for c in info.channels] == [ChannelKind.RAW] * 6
            assert info.channels[0].scale_uv == pytest.approx(5.0 / 2**14 / 200 * 1e6)
            assert info.extra["chords_board"] == "UNO-R4" and not info.fs_estimated
        finally:
            device.close()
        col, device = run(board, url, 1200, wait_for)  # 2.4 s: the counter wraps 4 times
        _, missing = check_against(col, board)
        assert not missing.any()
        assert device.stats.missing_samples == 0 and device.stats.frame_errors == 0
        wait_for(lambda: board.commands[-1:] == ["STOP"], 10, "no STOP reached the board")
        assert board.commands[0] == "WHORU" and "START" in board.commands


def test_gain_gives_the_amplifiers_microvolts(tmp_path):
    # another front end than MyoWare (e.g. a BioAmp at gain 1000): the URL's gain sets the scale
    with ChordsFake(tmp_path) as board:
        device = open_device(f"serial://{board.path}?format=chords&board=uno-r4&gain=1000")
        try:
            info = device.open()
        finally:
            device.close()
    assert info.channels[0].gain == 1000
    assert info.channels[0].scale_uv == pytest.approx(5.0 / 2**14 / 1000 * 1e6)


def test_skipped_counters_become_exact_gaps(tmp_path, wait_for):
    # 5 + 1 packets lost, then 300 (more than the 8-bit counter's 256: told by the time)
    lost = set(range(200, 205)) | {400} | set(range(700, 1000))
    with ChordsFake(tmp_path, skip=lambda i: i in lost) as board:
        col, device = run(board, f"serial://{board.path}?format=chords", 1500, wait_for)
        number, missing = check_against(col, board)
        assert set(number[missing].tolist()) == lost
        assert device.stats.missing_samples == len(lost)


def test_cut_and_garbled_packets_are_skipped_and_the_stream_resyncs(tmp_path, wait_for):
    def mangle(i: int, data: bytes) -> bytes:
        if i == 150:
            return data[:7]  # cut short (the next packet follows at once)
        if i == 300:
            return data[:-1] + b"\x55"  # wrong end byte
        board.sent[i] = codes_for(i, 6)
        if i == 450:
            return b"\xc7\x7c\x13junk" + data  # stray sync bytes before a good packet
        return data

    with ChordsFake(tmp_path, mangle=mangle) as board:
        col, device = run(board, f"serial://{board.path}?format=chords&pins=0,2", 800, wait_for)
        idx, x, flags = col.arrays()
        assert x.shape[1] == 2
        missing = (flags & Flag.MISSING) != 0
        first = next(i for i in sorted(board.sent) if board.sent[i][0] == int(x[0, 0]))
        number = idx + first
        assert set(number[missing].tolist()) == {150, 300}
        for k in np.flatnonzero(~missing):
            sent = board.sent[int(number[k])]
            assert x[k].astype(int).tolist() == [sent[0], sent[2]]
        assert device.stats.frame_errors >= 2


def test_a_board_that_answers_as_another_is_refused(tmp_path):
    with ChordsFake(tmp_path, name="UNO-R3", read_gap_s=0.2) as board:
        device = open_device(f"serial://{board.path}?format=chords&board=uno-r4")
        with pytest.raises(DeviceError, match="answers as a Chords UNO-R3, not UNO-R4"):
            device.open()
        device.close()


def test_a_silent_port_says_what_to_check(tmp_path):
    class Silent(ChordsFake):
        def _command(self, text: str) -> None:
            self.commands.append(text)

    with Silent(tmp_path) as board:
        device = open_device(f"serial://{board.path}?format=chords&timeout=0.5")
        with pytest.raises(DeviceError, match=r"no answer to WHORU.*baud=115200"):
            device.open()
        device.close()


def test_decoder_unit():
    decoder = ChordsDecoder(3)
    stream = b"noise" + packet(254, [1, 2, 3]) + packet(255, [4, 5, 6]) + packet(0, [7, 8, 9])
    counters, codes = decoder.feed(stream[:22])
    assert counters.tolist() == [254]
    counters, codes = decoder.feed(stream[22:])
    assert counters.tolist() == [255, 0] and codes.tolist() == [[4, 5, 6], [7, 8, 9]]
    assert decoder.stats.skipped_bytes == len(b"noise")
    # a packet cut short, then a whole one: only the whole one, and a bad packet counted
    counters, _ = decoder.feed(packet(1, [9, 9, 9])[:5] + packet(2, [1, 1, 1]) + b"\xc7")
    assert counters.tolist() == [2] and decoder.stats.bad_packets == 1


def test_board_names_and_answers():
    assert chords_board("uno-r4") is CHORDS_BOARDS["UNO-R4"]
    assert chords_board("mega-2560-r3") is CHORDS_BOARDS["MEGA-2560-R3"]
    assert chords_board("nope") is None
    answer = packet(3, [1] * 6) + b"MEGA-2560-CLONE\r\n"
    assert board_in_answer(answer) is CHORDS_BOARDS["MEGA-2560-CLONE"]
    assert board_in_answer(b"UNO-R") is None


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("serial:///dev/x?format=chords&pins=16", "pins are 0..15"),
        ("serial:///dev/x?format=chords&pins=0,1&channels=raw", "as many pins as channels"),
        ("serial:///dev/x?format=chords&board=esp99", "choose one of"),
        ("serial:///dev/x?format=chords&gain=0", "gain"),
    ],
)
def test_bad_chords_urls(url, match):
    with pytest.raises(SourceURLError, match=match):
        open_device(url)


def test_discovery_finds_a_chords_board_and_gives_its_url(tmp_path):
    with ChordsFake(tmp_path, read_gap_s=0.3) as board:
        result = discovery.probe_port(str(board.path), timeout_s=1.0, text_bauds=())
        assert result.answer == "chords"
        assert result.url == f"serial://{board.path}?format=chords"
        assert "UNO-R4 (14-bit), 500 Hz, 6 inputs" in result.detail
        assert result.as_dict()["chords_board"] == "UNO-R4"
        # it was asked who it is, never started
        assert "WHORU" in board.commands and "START" not in board.commands


def test_auto_takes_a_chords_board(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from biofeedback.devices import ports

    with ChordsFake(tmp_path, read_gap_s=0.3) as board:
        listed = SimpleNamespace(
            device=str(board.path),
            vid=0x2341,
            pid=0x0069,
            description="UNO R4 Minima",
            manufacturer="",
            serial_number="",
        )
        monkeypatch.setattr(ports, "comports", lambda: [listed])
        device = discovery.auto_device(timeout_s=1.0)
        assert device.format == "chords" and device.url == f"serial://{board.path}?format=chords"
