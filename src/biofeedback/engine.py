"""Engine: owns the device, the pipeline and the ring buffers. No Qt.

The live path (docs/architecture.md): the device thread delivers a Chunk; the engine filters it once,
causally, with the current pipeline, writes the raw and processed ring buffers and calls the sinks
(recorder, headless runner). The GUI and the CLI read the ring buffers with their own cursors.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from biofeedback.core.ringbuffer import RingBuffer
from biofeedback.core.types import Chunk, Flag, ProcessedChunk, StreamInfo
from biofeedback.devices.base import Device, DeviceState, DeviceStatus
from biofeedback.devices.registry import open_device
from biofeedback.dsp.pipeline import Pipeline, PipelineSettings
from biofeedback.dsp.quality import SUMMARY_FLAGS
from biofeedback.errors import BiofeedbackError

Sink = Callable[[Chunk, ProcessedChunk], None]
StatusListener = Callable[[DeviceStatus], None]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineFault:
    """A consumer of the stream failed (the recorder, the training runner, a statistics sink).

    ``message`` says what happened and what to do. ``fatal`` is True when the consumer was
    essential (see :meth:`Engine.add_sink`): acquisition was stopped because of it.
    """

    consumer: str
    message: str
    fatal: bool


FaultListener = Callable[[EngineFault], None]


@dataclass
class _SinkEntry:
    sink: Sink
    name: str
    essential: bool


def processed_dtype(n_outputs: int) -> np.dtype:
    """Row type of :attr:`Engine.processed`: per output channel signal, envelope and flags."""
    return np.dtype(
        [
            ("signal", np.float64, (n_outputs,)),
            ("envelope", np.float64, (n_outputs,)),
            ("flags", np.uint16, (n_outputs,)),
        ]
    )


@dataclass
class EngineStats:
    """Counters of the live path."""

    chunks: int = 0
    samples: int = 0
    sink_errors: int = 0
    last_index: int = 0
    filled_samples: int = 0
    index_restarts: int = 0


class EnvelopeStats:
    """Accumulates per-channel envelope statistics and quality flags from processed chunks.

    Every statistic is streaming: the state has a fixed size, whatever the length of the session
    (about 26 kB per channel), so an 8-hour recording uses no more memory than a minute.

    Envelope statistics use only samples with no quality flag and a finite value. The median is
    taken over the envelope sampled every 10 ms (on the absolute sample index, so chunking never
    matters), counted in a fixed histogram of log-spaced bins from :attr:`MEDIAN_LO_UV` (0.01 uV)
    to :attr:`MEDIAN_HI_UV` (100 mV), each :attr:`MEDIAN_BIN_RATIO` (0.5 %) wide. Resolution:
    the reported median (the geometric centre of the bins holding the middle value(s)) is within
    0.25 % (half a bin) of the exact median of the same values, and always within 0.5 %. Values
    below 0.01 uV (including exact zeros) share one bin reported as the largest of them (within
    0.01 uV absolute); values above the last bin (100.2 mV) share one bin reported as the smallest
    of them.
    """

    MEDIAN_LO_UV = 0.01
    MEDIAN_HI_UV = 100_000.0
    MEDIAN_BIN_RATIO = 1.005
    #: log-spaced bins between the two limits, plus one below and one above
    MEDIAN_BINS = math.ceil(math.log(MEDIAN_HI_UV / MEDIAN_LO_UV) / math.log(MEDIAN_BIN_RATIO))

    def __init__(self, n_outputs: int, fs_hz: float) -> None:
        self.n = n_outputs
        self.decimate = max(1, round(fs_hz / 100.0))
        self.samples = 0
        self.missing = 0
        self._sum = np.zeros(n_outputs)
        self._count = np.zeros(n_outputs, dtype=np.int64)
        self._hist = np.zeros((n_outputs, self.MEDIAN_BINS + 2), dtype=np.int64)
        self._under_max = np.full(n_outputs, -np.inf)
        self._over_min = np.full(n_outputs, np.inf)
        self._log_lo = math.log(self.MEDIAN_LO_UV)
        self._log_ratio = math.log(self.MEDIAN_BIN_RATIO)
        self._flag_counts = {name: np.zeros(n_outputs, dtype=np.int64) for name in SUMMARY_FLAGS}
        self._any_flag = np.zeros(n_outputs, dtype=np.int64)
        self.latest = np.full(n_outputs, np.nan)
        self.latest_flags = np.zeros(n_outputs, dtype=np.uint16)
        self._lock = threading.Lock()

    def add(self, chunk: Chunk, out: ProcessedChunk) -> None:
        """Engine sink: fold one processed chunk into the statistics."""
        env, flags = out.envelope_uv, out.flags
        good = (flags == 0) & np.isfinite(env)
        # keep decimation aligned to the absolute sample index, so chunking never matters
        offset = (-out.first_index) % self.decimate
        with self._lock:
            self.samples += len(chunk)
            self.missing += int(np.count_nonzero(chunk.flags & Flag.MISSING))
            self._sum += np.where(good, env, 0.0).sum(axis=0)
            self._count += good.sum(axis=0)
            self._count_median(env[offset :: self.decimate], good[offset :: self.decimate])
            for name, bit in SUMMARY_FLAGS.items():
                self._flag_counts[name] += ((flags & bit) != 0).sum(axis=0)
            self._any_flag += (flags != 0).sum(axis=0)
            if len(env):
                self.latest = env[-1].copy()
                self.latest_flags = flags[-1].copy()

    def mean(self) -> np.ndarray:
        """Mean envelope per channel over unflagged samples (NaN if none)."""
        with self._lock:
            return np.where(self._count > 0, self._sum / np.maximum(self._count, 1), np.nan)

    def _count_median(self, dec_env: np.ndarray, dec_good: np.ndarray) -> None:
        """Count the 10 ms envelope values in the median histogram (caller holds the lock).

        A 10 ms chunk brings one value per channel, so plain Python is cheaper here than a
        dozen numpy calls, and every chunking takes the same path (same bins). Bin ``b``
        (1..MEDIAN_BINS) holds ``[LO * r**(b-1), LO * r**b)``; 0 is below LO, the last above.
        """
        if not dec_good.any():
            return
        shift = self._log_lo - self._log_ratio  # int(x + 1) == floor(x) + 1 for x >= -1
        inv = 1.0 / self._log_ratio
        top = self.MEDIAN_BINS + 1
        hist, under, over = self._hist, self._under_max, self._over_min
        for row, good_row in zip(dec_env.tolist(), dec_good.tolist(), strict=True):
            for k, value in enumerate(row):
                if not good_row[k]:
                    continue
                b = int((math.log(value) - shift) * inv) if value > 0.0 else 0
                if b <= 0:
                    b = 0
                    if value > under[k]:
                        under[k] = value
                elif b >= top:
                    b = top
                    if value < over[k]:
                        over[k] = value
                hist[k, b] += 1

    def _bin_value(self, k: int, b: int) -> float:
        """The value a histogram bin stands for (geometric centre; the extremes seen outside)."""
        if b == 0:
            return float(self._under_max[k])
        if b == self.MEDIAN_BINS + 1:
            return float(self._over_min[k])
        return math.exp(self._log_lo + (b - 0.5) * self._log_ratio)

    def median(self) -> np.ndarray:
        """Median envelope per channel over unflagged samples sampled every 10 ms, from the
        histogram (within half a 0.5 % bin of the exact median; see the class docstring)."""
        out = np.full(self.n, math.nan)
        with self._lock:
            for k in range(self.n):
                cum = np.cumsum(self._hist[k])
                total = int(cum[-1])
                if total == 0:
                    continue
                lo, hi = np.searchsorted(cum, [(total - 1) // 2 + 1, total // 2 + 1])
                out[k] = 0.5 * (self._bin_value(k, int(lo)) + self._bin_value(k, int(hi)))
        return out

    def quality(self) -> dict[str, Any]:
        """Percent of samples carrying each flag, per channel."""
        with self._lock:
            total = max(self.samples, 1)
            return {
                "pct_flagged": [round(100.0 * v / total, 3) for v in self._any_flag],
                **{
                    f"pct_{name}": [round(100.0 * v / total, 3) for v in counts]
                    for name, counts in self._flag_counts.items()
                },
            }


class Engine:
    """Device -> pipeline -> ring buffers, on the device's thread.

    Parameters
    ----------
    source
        A source URL (``sim://...``, ``serial://...``, ``replay://...``, ``auto``) or a Device.
    settings
        Pipeline settings; defaults are described in docs/signal-processing.md.
    buffer_s
        Seconds of history kept in the ring buffers.
    """

    def __init__(
        self,
        source: str | Device,
        settings: PipelineSettings | None = None,
        buffer_s: float = 60.0,
    ) -> None:
        self.device: Device = open_device(source) if isinstance(source, str) else source
        self.settings = settings or PipelineSettings()
        self.buffer_s = float(buffer_s)
        self.info: StreamInfo | None = None
        self.pipeline: Pipeline | None = None
        self.raw: RingBuffer | None = None
        self.processed: RingBuffer | None = None
        self.stats = EngineStats()
        self.state = DeviceState.IDLE
        self.last_message = ""
        self._sinks: list[_SinkEntry] = []
        self._status_listeners: list[StatusListener] = []
        self._fault_listeners: list[FaultListener] = []
        #: The first fault that stopped acquisition (None while nothing essential failed).
        self.fault: EngineFault | None = None
        self._pending: Pipeline | None = None
        self._lock = threading.Lock()
        self._finished = threading.Event()
        self._sample_limit: int | None = None
        self.sink_error: str = ""

    # -- lifecycle -----------------------------------------------------------------------------
    def open(self) -> StreamInfo:
        """Open the device and build the pipeline and buffers for its stream."""
        info = self.device.info or self.device.open()
        self.info = info
        self.pipeline = Pipeline(info, self.settings)
        capacity = max(1, round(self.buffer_s * info.fs_hz))
        self.raw = RingBuffer(capacity, (info.n_channels,), np.float64)
        self.processed = RingBuffer(capacity, (), processed_dtype(len(self.pipeline.outputs)))
        return info

    def start(self, max_samples: int | None = None) -> None:
        """Start streaming. With ``max_samples`` the engine stops by itself after that many."""
        if self.info is None:
            self.open()
        self._finished.clear()
        self._sample_limit = max_samples
        self.device.start(self._on_chunk, self._on_status)

    def stop(self) -> None:
        """Stop the device thread (idempotent)."""
        self.device.stop()
        self._finished.set()

    def close(self) -> None:
        """Stop and release the device."""
        self.stop()
        self.device.close()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the source finished, the sample limit was reached, or an error stopped it."""
        return self._finished.wait(timeout)

    def __enter__(self) -> Engine:
        if self.info is None:
            self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- consumers -----------------------------------------------------------------------------
    def add_sink(self, sink: Sink, *, name: str = "", essential: bool = False) -> None:
        """Call ``sink(chunk, processed)`` for every chunk, on the device thread.

        Sinks must be quick. A sink that raises is removed and reported to the fault listeners
        as an :class:`EngineFault` (and logged). When the sink is ``essential`` (the recorder
        and the training runner of a stored session) its failure also stops acquisition: there
        is no point acquiring what can no longer be stored or scored.
        """
        label = name or getattr(sink, "__qualname__", "") or type(sink).__name__
        self._sinks.append(_SinkEntry(sink, label, essential))

    def remove_sink(self, sink: Sink) -> None:
        """Stop calling a sink."""
        self._sinks = [e for e in self._sinks if e.sink != sink]

    def add_fault_listener(self, listener: FaultListener) -> None:
        """Call ``listener(fault)`` when a sink fails (on the device thread)."""
        self._fault_listeners.append(listener)

    def add_status_listener(self, listener: StatusListener) -> None:
        """Call ``listener(status)`` on every device state change (on the device thread)."""
        self._status_listeners.append(listener)

    def set_settings(self, settings: PipelineSettings) -> None:
        """Rebuild the pipeline with new settings; it is swapped in between two chunks.

        The new pipeline starts in steady state on its first chunk, so the swap has no transient.
        """
        if self.info is None:
            self.settings = settings
            return
        pipeline = Pipeline(self.info, settings)
        if self.pipeline is not None and len(pipeline.outputs) != len(self.pipeline.outputs):
            raise BiofeedbackError("new settings change the number of output channels")
        with self._lock:
            self.settings = settings
            self._pending = pipeline

    # -- device thread -------------------------------------------------------------------------
    def _on_chunk(self, chunk: Chunk) -> None:
        if self._finished.is_set():
            return
        limit = self._sample_limit
        if limit is not None:
            remaining = limit - self.stats.samples
            if remaining <= 0:
                self.finish()
                return
            if len(chunk) > remaining:
                chunk = Chunk(chunk.first_index, chunk.samples[:remaining], chunk.flags[:remaining])
        with self._lock:
            if self._pending is not None:
                self.pipeline = self._pending
                self._pending = None
            pipeline = self.pipeline
        assert pipeline is not None and self.raw is not None and self.processed is not None
        out = pipeline.process(chunk)
        self._align_buffers(chunk.first_index)
        self.raw.write(chunk.samples, chunk.first_index)
        rows = np.empty(len(out), dtype=self.processed.dtype)
        rows["signal"] = out.signal_uv
        rows["envelope"] = out.envelope_uv
        rows["flags"] = out.flags
        self.processed.write(rows, out.first_index)
        self.stats.chunks += 1
        self.stats.samples += len(chunk)
        self.stats.last_index = chunk.end_index
        for entry in list(self._sinks):
            try:
                entry.sink(chunk, out)
            except Exception as exc:  # reported as a fault, never swallowed
                self._sink_failed(entry, exc)
        if limit is not None and self.stats.samples >= limit:
            self.finish()

    def _sink_failed(self, entry: _SinkEntry, exc: Exception) -> None:
        """Remove a failed sink, report the failure and stop if the sink was essential."""
        self.stats.sink_errors += 1
        if isinstance(exc, BiofeedbackError):
            message = str(exc)
            log.error("%s failed: %s", entry.name, message)
        else:
            message = (
                f"{entry.name} failed ({type(exc).__name__}: {exc}); this is a bug in "
                "biofeedback: please report it with the log file"
            )
            log.error("%s failed", entry.name, exc_info=exc)
        self.sink_error = message
        self._sinks = [e for e in self._sinks if e is not entry]
        fault = EngineFault(entry.name, message, entry.essential)
        if entry.essential and self.fault is None:
            self.fault = fault
            self.finish()
        for listener in list(self._fault_listeners):
            try:
                listener(fault)
            except Exception:  # a broken listener must not hide the fault it was told about
                log.exception("fault listener failed while reporting: %s", message)

    def _align_buffers(self, first_index: int) -> None:
        """Keep the ring buffers contiguous when a source skips or restarts its sample index.

        Devices mark gaps with NaN rows, so this is a safety net: a forward jump is filled with
        missing rows (NaN, ``Flag.MISSING``); a backward jump (a board that rebooted) restarts the
        buffers at the new index, and readers see a jump.
        """
        assert self.raw is not None and self.processed is not None
        end = self.raw.end_index
        if first_index == end or (end == 0 and self.stats.chunks == 0):
            return
        if first_index < end:
            self.stats.index_restarts += 1
            self.raw.reset(first_index)
            self.processed.reset(first_index)
            return
        n = min(first_index - end, self.raw.capacity)
        start = first_index - n
        if start > end:  # longer than the buffers: nothing before it survives anyway
            self.raw.reset(start)
            self.processed.reset(start)
        self.raw.write(np.full((n, *self.raw.row_shape), np.nan), start)
        rows = np.zeros(n, dtype=self.processed.dtype)
        rows["signal"] = np.nan
        rows["envelope"] = np.nan
        rows["flags"] = int(Flag.MISSING)
        self.processed.write(rows, start)
        self.stats.filled_samples += n

    def finish(self) -> None:
        """End the stream from a sink (on the device thread): later chunks are ignored and the
        device is stopped without joining the thread we are on."""
        self._finished.set()
        # stop() joins the device thread; we are on it, so only signal it to end.
        threading.Thread(target=self.device.stop, name="engine-stop", daemon=True).start()

    def _on_status(self, status: DeviceStatus) -> None:
        self.state = status.state
        self.last_message = status.message
        if status.state in (DeviceState.FINISHED, DeviceState.ERROR, DeviceState.STOPPED):
            self._finished.set()
        for listener in list(self._status_listeners):
            try:
                listener(status)
            except Exception:  # one broken listener must not keep the others from hearing
                log.exception("status listener failed on %s: %s", status.state, status.message)
