"""EngineBridge: the only place where the engine's threads meet the Qt event loop.

- A fast timer (~60 Hz) reads the processed ring buffer from the bridge's own cursor and keeps
  the display columns (the last ``window_s`` seconds per output channel, peak-decimated to about
  one column per pixel, only the new samples decimated each frame), the latest envelope value
  and the quality bits of the last few hundred milliseconds.
- A slow timer (~3 Hz) computes what people read: the numeric readout (mean RMS over the last
  half second), the noise floor, the session time and the quality light.
- A watcher, woken when the engine has written new rows (a queued wake-up from the device thread,
  at most one pending and at most one peek per ``WATCH_MIN_GAP_S``), peeks at the newest envelope
  row so a threshold crossing recolours the gauge without waiting for the next frame tick.
- Engine status (connected, reconnecting, lost, with the reason) arrives on the device thread and
  is re-emitted as a queued Qt signal, so widgets only ever change on the GUI thread.

No data is sent per chunk (docs/architecture.md, principle 3): widgets redraw from the arrays here
on ``frame_ready``; the watcher's wake-up carries nothing and is coalesced.
"""

from __future__ import annotations

import math
import time

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal

from biofeedback.core.ringbuffer import RingReader
from biofeedback.core.types import Flag, StreamInfo
from biofeedback.devices.base import DeviceState, DeviceStatus
from biofeedback.engine import Engine

#: The traces are drawn from about this many min/max columns (about one per pixel of the plot in
#: a 1280 px window): each frame decimates only its new samples instead of the whole 10 s window.
TRACE_COLUMNS = 640
#: How often the watcher peeks at the newest envelope row between frames when it polls
#: (``wake_on_data=False``; the default wakes it when new rows arrive instead).
WATCH_HZ = 100.0
#: Shortest time between two peeks of the woken watcher (a source with 1 ms chunks must not wake
#: the GUI thread 1000 times a second).
WATCH_MIN_GAP_S = 0.004
#: Seconds of quality flags the gauge looks back over (a flag lights the gauge grey at once and
#: keeps it grey a little while, instead of flickering).
RECENT_FLAGS_S = 0.25
#: Seconds averaged for the numeric readout.
READOUT_S = 0.5
#: Seconds of flags summarised by the signal-quality light.
QUALITY_S = 1.0


class PeakDecimator:
    """Incremental peak decimation of a scrolling window, per channel.

    Keeps ``columns`` columns of ``factor`` samples each, newest on the right. With
    ``pairs=True`` every column is a (min, max) pair, interleaved into [k, 2 x columns], so a line
    through them draws every peak (what a raw EMG trace needs); with ``pairs=False`` a column is
    its maximum (enough for the smooth envelope, and never hides a threshold crossing). Samples
    that do not yet fill a column wait for the next push. NaN (gaps) is ignored unless a whole
    column is missing.
    """

    def __init__(self, k: int, columns: int, factor: int, pairs: bool = True) -> None:
        self.factor = int(factor)
        self.columns = int(columns)
        self.pairs = pairs
        self.out = np.full((k, 2 * self.columns if pairs else self.columns), np.nan)
        #: Running count of columns pushed (the rightmost column's number).
        self.total = 0
        self._carry = np.empty((k, 0))

    @property
    def fraction(self) -> float:
        """Share (0-1) of the next column's samples already received."""
        return self._carry.shape[1] / self.factor

    def push(self, new: np.ndarray) -> None:
        """Add samples [k, m]."""
        data = np.concatenate([self._carry, new], axis=1) if self._carry.shape[1] else new
        d = self.factor
        full = (data.shape[1] // d) * d
        if full:
            blocks = data[:, :full].reshape(data.shape[0], -1, d)
            with np.errstate(invalid="ignore"):
                peak = np.fmax.reduce(blocks, axis=2)
                if self.pairs:
                    cols = np.empty((data.shape[0], 2 * blocks.shape[1]))
                    cols[:, 0::2] = np.fmin.reduce(blocks, axis=2)
                    cols[:, 1::2] = peak
                else:
                    cols = peak
            _shift_in(self.out, cols)
            self.total += blocks.shape[1]
        self._carry = data[:, full:].copy()


class EngineBridge(QObject):
    """Pulls data from an :class:`~biofeedback.engine.Engine` on Qt timers.

    Signals
    -------
    frame_ready()
        Every fast tick (the display arrays may or may not have new rows: see ``new_rows``).
    text_ready()
        Every slow tick: readout, noise floor, elapsed time and quality were refreshed.
    status_changed(object)
        A :class:`~biofeedback.devices.base.DeviceStatus`, delivered on the GUI thread.
    newest_changed()
        Between frames, when a new envelope row arrived (``newest_envelope_uv``, ``newest_flags``).
    """

    frame_ready = Signal()
    text_ready = Signal()
    status_changed = Signal(object)
    newest_changed = Signal()
    _device_status = Signal(object)
    _data_arrived = Signal()

    def __init__(
        self,
        engine: Engine,
        window_s: float = 10.0,
        fast_hz: float = 60.0,
        slow_hz: float = 3.0,
        trail_s: float = 6.0,
        parent: QObject | None = None,
        wake_on_data: bool = True,
    ) -> None:
        super().__init__(parent)
        self.engine = engine
        self.window_s = float(window_s)
        self.trail_s = float(trail_s)
        # The fast timer is re-armed every tick against a fixed schedule (t0 + k / fast_hz):
        # QTimer takes whole milliseconds, so a plain 17 ms interval would run at 58.8 Hz.
        self.fast_hz = float(fast_hz)
        self.fast_timer = QTimer(self)
        self.fast_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.fast_timer.setSingleShot(True)
        self.fast_timer.timeout.connect(self._on_fast_tick)
        self._tick_t0 = 0.0
        self._tick_k = 0
        self._ticking = False
        # A light watcher between frames: it only peeks at the newest envelope row (a lock and a
        # one-row copy) so a threshold crossing can recolour the gauge without waiting for the
        # next frame tick (up to 17 ms). It never redraws anything itself. By default an engine
        # sink wakes it (queued, coalesced) as soon as new rows are written; polling at WATCH_HZ
        # waited 5 ms on average for the next peek.
        self.wake_on_data = wake_on_data
        self.watch_timer = QTimer(self)
        self.watch_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.watch_timer.setSingleShot(wake_on_data)
        self.watch_timer.setInterval(0 if wake_on_data else round(1000.0 / WATCH_HZ))
        self.watch_timer.timeout.connect(self._on_watch)
        self._wake_pending = False
        self._last_watch = 0.0
        self._data_arrived.connect(self._on_data_arrived, Qt.ConnectionType.QueuedConnection)
        self.newest_envelope_uv = np.empty(0)
        self.newest_flags = np.empty(0, dtype=np.int64)
        self._watched_index = -1
        self.slow_timer = QTimer(self)
        self.slow_timer.setInterval(max(50, round(1000.0 / slow_hz)))
        self.slow_timer.timeout.connect(self._on_slow_tick)
        self._device_status.connect(self._on_device_status, Qt.ConnectionType.QueuedConnection)

        self.info: StreamInfo | None = None
        self.names: list[str] = []
        self.n_outputs = 0
        self.fs_hz = 0.0
        self.t_s = np.empty(0)
        self.t_peaks_s = np.empty(0)
        self.t_columns_s = np.empty(0)
        self.signal_peaks: PeakDecimator | None = None
        self.envelope_peaks: PeakDecimator | None = None
        self._env_tail = np.empty((0, 0))
        self._flags_tail = np.empty((0, 0), dtype=np.uint16)
        self.level_uv = np.empty(0)
        self.recent_flags = np.empty(0, dtype=np.int64)
        self.readout_uv = np.empty(0)
        self.noise_floor_uv = np.empty(0)
        self.quality_flags = np.empty(0, dtype=np.int64)
        self.first_index: int | None = None
        self.latest_index = 0
        self.new_rows = 0
        self.frames = 0
        self.lost_rows = 0
        self.state = DeviceState.IDLE
        self.started_at = 0.0
        self._reader: RingReader | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, start_engine: bool = True) -> StreamInfo:
        """Open the engine if needed, size the display arrays and start the timers and (unless
        ``start_engine`` is False: a recording session starts it itself) the stream."""
        info = self.engine.info or self.engine.open()
        self.info = info
        pipeline = self.engine.pipeline
        assert pipeline is not None and self.engine.processed is not None
        self.names = [getattr(o, "name", f"ch{i}") for i, o in enumerate(pipeline.outputs)]
        k = self.n_outputs = len(pipeline.outputs)
        self.fs_hz = float(info.fs_hz)
        n = max(2, round(self.window_s * self.fs_hz))
        self.t_s = (np.arange(n, dtype=np.float64) - (n - 1)) / self.fs_hz
        self._env_tail = np.full((k, max(1, round(READOUT_S * self.fs_hz))), np.nan)
        factor = max(1, n // TRACE_COLUMNS)
        columns = n // factor
        self.signal_peaks = PeakDecimator(k, columns, factor, pairs=True)
        self.envelope_peaks = PeakDecimator(k, columns, factor, pairs=False)
        self.t_columns_s = (
            (np.arange(columns, dtype=np.float64) - (columns - 1)) * factor / self.fs_hz
        )
        self.t_peaks_s = np.repeat(self.t_columns_s, 2)
        self._flags_tail = np.zeros((k, max(1, round(QUALITY_S * self.fs_hz))), dtype=np.uint16)
        self.level_uv = np.full(k, np.nan)
        self.recent_flags = np.zeros(k, dtype=np.int64)
        self.readout_uv = np.full(k, np.nan)
        self.noise_floor_uv = np.full(k, np.nan)
        self.quality_flags = np.zeros(k, dtype=np.int64)
        self._reader = self.engine.processed.reader()
        self.engine.add_status_listener(self._device_status.emit)
        if self.wake_on_data:
            self.engine.remove_sink(self._wake_watcher)  # once, even when started again
            self.engine.add_sink(self._wake_watcher, name="display watcher wake-up")
        self.started_at = time.monotonic()
        if start_engine:
            self.engine.start()
        self._ticking = True
        self._tick_t0, self._tick_k = time.monotonic(), 0
        self.fast_timer.start(0)
        self.slow_timer.start()
        if not self.wake_on_data:
            self.watch_timer.start()
        return info

    def stop(self) -> None:
        """Stop the timers and the device thread (idempotent)."""
        self._ticking = False
        self.fast_timer.stop()
        self.slow_timer.stop()
        self.watch_timer.stop()
        self.engine.remove_sink(self._wake_watcher)
        self.engine.stop()

    def close(self) -> None:
        """Stop and release the device."""
        self._ticking = False
        self.fast_timer.stop()
        self.slow_timer.stop()
        self.watch_timer.stop()
        self.engine.remove_sink(self._wake_watcher)
        self.engine.close()

    @property
    def running(self) -> bool:
        """True while the timers run."""
        return self._ticking

    # -- derived values ------------------------------------------------------------------------
    @property
    def elapsed_s(self) -> float:
        """Seconds of signal received since start, on the sample clock."""
        if self.first_index is None or self.fs_hz <= 0:
            return 0.0
        return (self.latest_index - self.first_index) / self.fs_hz

    def trail(self, channel: int, points: int = 240) -> np.ndarray:
        """The last ``trail_s`` seconds of one channel's envelope (column maxima, about
        ``points`` of them)."""
        assert self.envelope_peaks is not None
        cols = self.envelope_peaks.out
        seconds_per_col = self.envelope_peaks.factor / self.fs_hz
        n = min(cols.shape[1], max(2, round(self.trail_s / seconds_per_col)))
        step = max(1, n // points)
        return cols[channel, -n::step]

    def recent_envelope(self, seconds: float) -> np.ndarray:
        """Full-rate envelope [k, n] of the last ``seconds`` (from the engine's ring buffer)."""
        processed = self.engine.processed
        if processed is None or self.fs_hz <= 0:
            return np.empty((self.n_outputs, 0))
        _, rows = processed.read_last(round(seconds * self.fs_hz))
        return rows["envelope"].T

    def latest(self, channel: int) -> tuple[float, int]:
        """(level_uv, recent flags) of one channel: what the gauge and the audio follow."""
        return float(self.level_uv[channel]), int(self.recent_flags[channel])

    def read_latest_envelope(self) -> tuple[np.ndarray, np.ndarray]:
        """Newest envelope and flags straight from the ring buffer (any thread: the audio
        callback uses this to follow the signal without waiting for the GUI timer)."""
        processed = self.engine.processed
        if processed is None:
            return np.full(self.n_outputs, np.nan), np.zeros(self.n_outputs, dtype=np.int64)
        _, rows = processed.read_last(1)
        if len(rows) == 0:
            return np.full(self.n_outputs, np.nan), np.zeros(self.n_outputs, dtype=np.int64)
        return rows["envelope"][0].copy(), rows["flags"][0].astype(np.int64)

    # -- timers --------------------------------------------------------------------------------
    def _schedule_next_tick(self) -> None:
        if not self._ticking:
            return
        now = time.monotonic()
        self._tick_k += 1
        due = self._tick_t0 + self._tick_k / self.fast_hz
        if due < now - 0.1:  # fell far behind (system busy): restart the schedule, no burst
            self._tick_t0, self._tick_k = now, 0
            due = now
        self.fast_timer.start(max(0, round((due - now) * 1000)))

    def _on_fast_tick(self) -> None:
        self._schedule_next_tick()
        reader = self._reader
        self.new_rows = 0
        if reader is not None:
            first, rows = reader.read()
            self.lost_rows = reader.lost
            if len(rows):
                self._ingest(first, rows)
        self.frames += 1
        self.frame_ready.emit()

    def _wake_watcher(self, chunk: object, out: object) -> None:
        """Engine sink (device thread): new rows are in the ring buffer; wake the watcher once."""
        if not self._wake_pending:
            self._wake_pending = True
            self._data_arrived.emit()

    def _on_data_arrived(self) -> None:
        """GUI thread: peek now, or when ``WATCH_MIN_GAP_S`` has passed since the last peek."""
        if not self._ticking or self.watch_timer.isActive():
            self._wake_pending = False
            return
        wait = self._last_watch + WATCH_MIN_GAP_S - time.monotonic()
        if wait > 0:
            self.watch_timer.start(math.ceil(wait * 1000))
        else:
            self._on_watch()

    def _on_watch(self) -> None:
        self._wake_pending = False  # rows written from here on wake the watcher again
        self._last_watch = time.monotonic()
        processed = self.engine.processed
        if processed is None or self.first_index is None:
            return
        end = processed.end_index
        if end == self._watched_index or end <= self.latest_index:
            return  # nothing new since the last peek or the last frame
        self._watched_index = end
        _, rows = processed.read_last(1)
        if len(rows) == 0:
            return
        self.newest_envelope_uv = rows["envelope"][0]
        self.newest_flags = rows["flags"][0].astype(np.int64)
        self.newest_changed.emit()

    def _ingest(self, first: int, rows: np.ndarray) -> None:
        m = len(rows)
        if self.first_index is None:
            self.first_index = first
        self.latest_index = first + m
        self.new_rows = m
        signal = rows["signal"].T  # [k, m]
        envelope = rows["envelope"].T
        flags = rows["flags"].T
        _shift_in(self._env_tail, envelope)
        assert self.signal_peaks is not None and self.envelope_peaks is not None
        self.signal_peaks.push(signal)
        self.envelope_peaks.push(envelope)
        _shift_in(self._flags_tail, flags)
        self.level_uv = envelope[:, -1].copy()
        recent = max(1, int(RECENT_FLAGS_S * self.fs_hz))
        self.recent_flags = np.bitwise_or.reduce(self._flags_tail[:, -recent:], axis=1).astype(
            np.int64
        )

    def _on_slow_tick(self) -> None:
        tail = self._env_tail
        with np.errstate(invalid="ignore"):
            finite = np.isfinite(tail)
            counts = finite.sum(axis=1)
            sums = np.where(finite, tail, 0.0).sum(axis=1)
            self.readout_uv = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        pipeline = self.engine.pipeline
        floor = getattr(pipeline, "noise_floor_uv", None)
        if floor is not None:
            floor = np.asarray(floor, dtype=np.float64).ravel()
            if floor.shape == (self.n_outputs,):
                self.noise_floor_uv = floor
        self.quality_flags = np.bitwise_or.reduce(self._flags_tail, axis=1).astype(np.int64)
        self.text_ready.emit()

    def _on_device_status(self, status: DeviceStatus) -> None:
        self.state = status.state
        self.status_changed.emit(status)


def _shift_in(display: np.ndarray, new: np.ndarray) -> None:
    """Scroll ``new`` [k, m] into the right end of ``display`` [k, n] in place."""
    n = display.shape[1]
    m = new.shape[1]
    if m >= n:
        display[:] = new[:, -n:]
        return
    display[:, :-m] = display[:, m:]
    display[:, -m:] = new


def quality_text(flags: int) -> str:
    """What the signal-quality light says for a set of flags ("Signal good" when none)."""
    if not flags:
        return "Signal good"
    names = Flag.describe(flags)
    advice = {
        "clipping": "clipping: lower the gain or check the electrodes",
        "electrode off": "electrode off: check the leads",
        "mains": "mains hum: check electrode contact",
        "motion": "motion: keep still",
        "gap": "data gap",
        "settling": "settling",
        "invalid": "invalid values from the source: check the board",
    }
    return "; ".join(advice.get(name, name) for name in names)


def quality_level(flags: int) -> str:
    """Light colour for flags: ``good``, ``warn`` (settling, motion, mains) or ``bad``."""
    if not flags:
        return "good"
    if flags & (Flag.FLAT | Flag.CLIPPED | Flag.MISSING):
        return "bad"
    return "warn"


def format_elapsed(seconds: float) -> str:
    """``mm:ss`` (or ``h:mm:ss`` past an hour)."""
    if not math.isfinite(seconds) or seconds < 0:
        seconds = 0.0
    s = int(seconds)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"
