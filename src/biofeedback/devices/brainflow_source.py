"""``brainflow://``: a board BrainFlow drives (OpenBCI Cyton/Ganglion, ...) as the source.

``brainflow://BOARD?serial_port=/dev/ttyUSB0``: ``BOARD`` is one of BrainFlow's board names
(``synthetic``, ``cyton``, ``cyton-daisy``, ``ganglion``; the names of ``brainflow.BoardIds``
without ``_BOARD``, any case, ``-`` or ``_``) or its numeric id (``brainflow://0`` for the Cyton).
BrainFlow opens only the connection it is given (``serial_port``, ``mac_address``,
``ip_address``/``ip_port``, ...); nothing else is opened. The board description
(``BoardShim.get_board_descr``) gives the rate and the EMG channels, in microvolts; a board
that lists no EMG channels is read from its EXG channels, with a note. ``channels=1,2``
chooses among them (1-based), default all.

Options: BrainFlow's connection settings ``serial_port``, ``mac_address``, ``ip_address``,
``ip_port``, ``ip_protocol``, ``serial_number``, ``timeout`` and ``other_info``, plus
``channels`` and ``reconnect_s`` (seconds a silent board may stay away, default 30).

The board's package counter numbers the samples, so samples lost on the way are gaps (NaN
samples flagged missing). A board that stops sending for 5 s puts the source in the
reconnecting state while the session is restarted; after ``reconnect_s`` the stream ends with an
error, and a recording stops keeping what it has. BrainFlow's own log is switched off.

BrainFlow is an optional extra (``pip install "biofeedback[brainflow]"``).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import replace
from typing import Any

import numpy as np

from biofeedback.core.types import ChannelInfo, ChannelKind, StreamInfo
from biofeedback.devices.base import (
    MAX_RECONNECT_S,
    DeviceState,
    ThreadedDevice,
    check_reconnect_s,
)
from biofeedback.devices.facts_types import SourceFacts
from biofeedback.devices.rate_check import RateVerdict
from biofeedback.devices.source_url import SourceURL
from biofeedback.devices.stream_index import StreamIndexer
from biofeedback.errors import DeviceError, SourceURLError

log = logging.getLogger(__name__)

INSTALL_HINT = 'brainflow:// needs BrainFlow: pip install "biofeedback[brainflow]"'
DEFAULT_RECONNECT_S = 30.0
#: Silence after which the board session is restarted.
SILENCE_S = 5.0
#: How often the board's buffer is read (seconds).
POLL_S = 0.02
#: Samples BrainFlow buffers for us (its ring buffer), per channel.
BUFFER_SAMPLES = 450_000
#: Connection settings passed on to ``BrainFlowInputParams`` (URL option -> attribute).
PARAMS = (
    "serial_port",
    "mac_address",
    "ip_address",
    "ip_port",
    "ip_protocol",
    "serial_number",
    "timeout",
    "other_info",
    "file",
)
_INT_PARAMS = {"ip_port", "ip_protocol", "timeout"}
#: BrainFlow's synthetic board, by name or id: no electrodes, no safety checklist.
SYNTHETIC_NAMES = ("synthetic", "-1")
#: The board-description lists that make up BrainFlow's EXG channels.
EXG_KEYS = ("eeg_channels", "emg_channels", "ecg_channels", "eog_channels")
NAME_HINT = (
    "name a BrainFlow board by its name (synthetic, cyton, cyton-daisy, ganglion, ...) or "
    "number (brainflow://0 is the Cyton); `biofeedback devices --brainflow` lists them"
)


def _brainflow() -> Any:
    """brainflow.board_shim, or a SourceURLError saying how to install it."""
    try:
        from brainflow import board_shim
    except ImportError:
        raise SourceURLError(INSTALL_HINT) from None
    return board_shim


def board_names() -> dict[str, int]:
    """BrainFlow's boards: ``cyton-daisy`` -> 2, by name (lower case, ``-``, no ``_board``)."""
    shim = _brainflow()
    names = {}
    for board in shim.BoardIds:
        key = board.name.lower().removesuffix("_board").replace("_", "-")
        names[key] = int(board.value)
    return names


def board_id(text: str) -> int:
    """The BrainFlow board id a name or number means (SourceURLError with how to name one)."""
    names = board_names()
    key = text.strip().lower().replace("_", "-").removesuffix("-board")
    if key in names:
        return names[key]
    try:
        number = int(key)
    except ValueError:
        raise SourceURLError(f"brainflow://{text}: unknown board; {NAME_HINT}") from None
    if number not in names.values():
        raise SourceURLError(f"brainflow://{text}: no BrainFlow board has id {number}; {NAME_HINT}")
    return number


def board_description(number: int) -> dict[str, Any] | None:
    """BrainFlow's description of a board (``BoardShim.get_board_descr``), or None for ids
    without one (the no-board placeholder)."""
    shim = _brainflow()
    try:
        descr: dict[str, Any] = shim.BoardShim.get_board_descr(number)
    except shim.BrainFlowError:
        return None
    return descr


class CounterIndexer:
    """Sample numbers from a board's package counter, which wraps (0..255 on OpenBCI boards) and
    may step by more than one per sample; counter jumps beyond the usual step are lost samples."""

    def __init__(self) -> None:
        self.last: int | None = None
        self.number = 0
        self.step: int | None = None
        self.modulus: int | None = None
        self.max_seen = 0

    def place(self, counters: np.ndarray) -> np.ndarray:
        """The sample number of each row."""
        values = np.asarray(counters, dtype=np.int64)
        if self.step is None and len(values) > 1:
            diffs = np.diff(values)
            positive = diffs[diffs > 0]
            self.step = int(np.median(positive)) if len(positive) else 1
        step = self.step or 1
        out = np.empty(len(values), dtype=np.int64)
        for i, value in enumerate(values.tolist()):
            self.max_seen = max(self.max_seen, value)
            if self.last is not None:
                diff = value - self.last
                if diff <= 0:  # wrapped: the counter's range is the power of two above its top
                    if self.modulus is None:
                        self.modulus = 1 << max(1, math.ceil(math.log2(self.max_seen + 1)))
                    diff %= self.modulus
                self.number += max(1, round(diff / step))
            self.last = value
            out[i] = self.number
        return out


class BrainFlowDevice(ThreadedDevice):
    """A BrainFlow board; see the module docstring for the options."""

    scheme = "brainflow"
    kind_label = "BrainFlow board"
    url_options = (*PARAMS, "channels", "reconnect_s")

    @classmethod
    def facts(cls, url: SourceURL) -> SourceFacts:
        """On a body, its own ADC, labelled by the board's name. BrainFlow's synthetic board
        (its name or id -1) makes its signal up; every other board may have electrodes on a
        person. Needs no BrainFlow: the name is read as written."""
        name = url.path.strip().strip("/")
        key = name.lower().replace("_", "-").removesuffix("-board")
        return replace(
            cls.class_facts(url.text),
            label=f"BrainFlow {name or 'board'}",
            on_body=key not in SYNTHETIC_NAMES,
        )

    def __init__(
        self,
        board: int,
        *,
        params: dict[str, str | int] | None = None,
        channels: list[int] | None = None,
        reconnect_s: float = DEFAULT_RECONNECT_S,
        url: str = "",
    ) -> None:
        super().__init__(url or f"brainflow://{board}")
        self.board_id = board
        self.params = dict(params or {})
        self.channel_choice = channels
        self.reconnect_s = reconnect_s
        self.indexer = StreamIndexer(self._emit, self.stats, note=self._note)
        self.counter = CounterIndexer()
        #: Rows of BrainFlow's data array that become our channels, and the counter's row.
        self.rows: list[int] = []
        self.counter_row: int | None = None
        self._shim: Any = None

    @classmethod
    def from_url(cls, url: SourceURL) -> BrainFlowDevice:
        """Build from a parsed ``brainflow://`` URL (options in the module docstring)."""
        _brainflow()
        if not url.path:
            raise SourceURLError(f"{url.text}: which board? {NAME_HINT}")
        board = board_id(url.path)
        params: dict[str, str | int] = {}
        for key in PARAMS:
            if key in _INT_PARAMS:
                number = url.get_int(key, None, lo=0, hi=65535)
                if number is not None:
                    params[key] = number
            else:
                value = url.get_str(key)
                if value is not None:
                    params[key] = value
        chosen = url.get_list("channels")
        channels = None
        if chosen:
            try:
                channels = [int(c) for c in chosen]
            except ValueError:
                raise SourceURLError(
                    f"{url.text}: channels= takes EMG channel numbers, e.g. channels=1,2"
                ) from None
            if any(c < 1 for c in channels):
                raise SourceURLError(f"{url.text}: channels are numbered from 1")
        reconnect_s = url.get_float("reconnect_s", DEFAULT_RECONNECT_S, lo=0.0, hi=MAX_RECONNECT_S)
        return cls(
            board,
            params=params,
            channels=channels,
            reconnect_s=DEFAULT_RECONNECT_S if reconnect_s is None else reconnect_s,
            url=url.text,
        )

    def set_reconnect_window(self, seconds: float | None) -> None:
        """How long a silent board may stay away before the source ends (None: keep it)."""
        if seconds is not None:
            self.reconnect_s = check_reconnect_s(seconds)

    def rate_problem(self, verdict: RateVerdict) -> str:
        """What was measured, naming the board."""
        return verdict.describe(f"the BrainFlow board {self.url}")

    def rate_advice(self, verdict: RateVerdict) -> str:
        """What to do about a board off its declared rate."""
        return "check the board's connection (a weak radio link loses packets)"

    def _note(self, message: str) -> None:
        self.last_message = message

    # ---- open / close ----------------------------------------------------------------------

    def _session(self, start: bool = True) -> Any:
        """A prepared (and, with ``start``, streaming) BoardShim (DeviceError with BrainFlow's
        reason if not)."""
        shim = _brainflow()
        shim.BoardShim.disable_board_logger()
        params = shim.BrainFlowInputParams()
        for key, value in self.params.items():
            setattr(params, key, value)
        board = shim.BoardShim(self.board_id, params)
        try:
            board.prepare_session()
            if start:
                board.start_stream(BUFFER_SAMPLES)
        except shim.BrainFlowError as exc:
            if board.is_prepared():
                board.release_session()
            where = (
                ", ".join(f"{k}={v}" for k, v in self.params.items()) or "no connection settings"
            )
            raise DeviceError(
                f"{self.url}: BrainFlow cannot start the board ({exc}; {where}); check the "
                "connection settings (serial_port=...), that the board is on and no other "
                "program holds it"
            ) from None
        return board

    def open(self) -> StreamInfo:
        """Read the board description, start the board and report the stream format."""
        shim = _brainflow()
        descr = shim.BoardShim.get_board_descr(self.board_id)
        name = str(descr.get("name", self.url))
        rows = [int(r) for r in descr.get("emg_channels", [])]
        kind = "EMG"
        if not rows:  # EXG: what BrainFlow's get_exg_channels joins (EEG, EMG, ECG, EOG)
            exg = {int(r) for key in EXG_KEYS for r in descr.get(key, [])}
            rows = sorted(exg)
            kind = "EXG"
            if not rows:
                raise DeviceError(f"{self.url}: the {name} board has no EMG or EXG channels")
        if self.channel_choice:
            bad = [c for c in self.channel_choice if c > len(rows)]
            if bad:
                raise SourceURLError(
                    f"{self.url}: the {name} board has {len(rows)} {kind} channels; "
                    f"channels= takes 1 to {len(rows)}"
                )
            rows = [rows[c - 1] for c in self.channel_choice]
        self.rows = rows
        counter = descr.get("package_num_channel")
        self.counter_row = int(counter) if counter is not None else None
        fs = float(descr["sampling_rate"])
        self._shim = self._session(start=False)  # the board answers; it streams from start()
        labels = self._labels(descr, rows, kind)
        channels = tuple(ChannelInfo(label, ChannelKind.RAW, 1.0, 1.0) for label in labels)
        info = StreamInfo(
            fs_hz=fs,
            channels=channels,
            units="uV",
            board="",
            device=f"BrainFlow {name} board",
            realtime=True,
            extra={"brainflow_board_id": str(self.board_id), "brainflow_channels": kind},
        )
        if kind == "EXG":  # shown by the window and in stream/record summaries
            info.extra["notes"] = (
                f"the {name} board lists no EMG channels: its EXG channels are read"
            )
        self.info = self.indexer.info = info
        return info

    @staticmethod
    def _labels(descr: dict[str, Any], rows: list[int], kind: str) -> list[str]:
        """Channel names: the board's EEG electrode names where it has them, else EMG1..."""
        eeg_rows = [int(r) for r in descr.get("eeg_channels", [])]
        eeg_names = [n for n in str(descr.get("eeg_names", "")).split(",") if n]
        names = dict(zip(eeg_rows, eeg_names, strict=False)) if kind == "EXG" else {}
        return [names.get(row, f"{kind}{row}") for row in rows]

    def _release(self) -> None:
        board, self._shim = self._shim, None
        if board is None:
            return
        shim = _brainflow()
        try:
            board.stop_stream()
        except shim.BrainFlowError as exc:  # already stopped or the board is gone
            log.debug("%s: stop_stream: %s", self.url, exc)
        try:
            board.release_session()
        except shim.BrainFlowError as exc:
            log.debug("%s: release_session: %s", self.url, exc)

    def close(self) -> None:
        """Stop streaming and release the board."""
        self.stop()
        self._release()

    # ---- streaming -------------------------------------------------------------------------

    def _read(self) -> int:
        """Hand on what BrainFlow has buffered; the number of samples."""
        board = self._shim
        if board is None:
            return 0
        shim = _brainflow()
        try:
            data = board.get_board_data()
        except shim.BrainFlowError as exc:  # the session broke: silence, then a restart
            log.info("%s: reading the board: %s", self.url, exc)
            return 0
        n = data.shape[1] if data.ndim == 2 else 0
        if n == 0:
            return 0
        rows = np.ascontiguousarray(data[self.rows].T, dtype=np.float64)
        now = time.monotonic()
        if self.counter_row is None:
            self.indexer.rows(rows, now)
            return n
        numbers = self.counter.place(data[self.counter_row])
        breaks = np.flatnonzero(np.diff(numbers) != 1) + 1
        for lo, hi in zip([0, *breaks.tolist()], [*breaks.tolist(), n], strict=True):
            self.indexer.block(int(numbers[lo]), rows[lo:hi], now)
        return n

    def _run(self) -> bool:
        board = self._shim
        if board is None:
            raise DeviceError(f"{self.url} is not open")
        shim = _brainflow()
        try:
            board.start_stream(BUFFER_SAMPLES)
        except shim.BrainFlowError as exc:
            raise DeviceError(f"{self.url}: BrainFlow cannot start the stream ({exc})") from None
        last_data = time.monotonic()
        last_try = 0.0
        waiting = False
        while not self._stop_event.is_set():
            if self._read():
                if waiting:
                    self._set_state(
                        DeviceState.CONNECTED,
                        f"{self.url}: data again after {time.monotonic() - last_data:.1f} s; "
                        "the gap is marked as missing samples",
                    )
                last_data, waiting = time.monotonic(), False
            now = time.monotonic()
            silent = now - last_data
            if silent > SILENCE_S:
                if silent > self.reconnect_s:
                    raise DeviceError(
                        f"the BrainFlow board {self.url} has sent nothing for "
                        f"{self.reconnect_s:g} s: check it is on and in range, then start a "
                        "new recording"
                    )
                if not waiting:
                    waiting = True
                    self.stats.reconnects += 1
                    self._set_state(
                        DeviceState.RECONNECTING,
                        f"{self.url}: no data for {silent:.0f} s; restarting the board session "
                        f"for up to {self.reconnect_s:g} s",
                    )
                if now - last_try >= SILENCE_S:
                    last_try = now
                    self._restart()
            self._stop_event.wait(POLL_S)
        return False

    def _restart(self) -> None:
        """Release the board session and prepare it again (its counter goes on or restarts:
        the indexer places what comes by time)."""
        self._release()
        try:
            self._shim = self._session()
        except DeviceError as exc:
            log.info("%s: restart attempt: %s", self.url, exc)
            return
        self.counter = CounterIndexer()
        self.indexer.rebase = True
