"""What the user switched on (LSL out, OSC out, LSL markers in), wired to one engine at a time.

The CLI (``stream``/``record`` with ``--lsl``, ``--osc``, ``--lsl-markers``) and the window
(Streaming menu) build a :class:`StreamingOptions`, then a :class:`Streaming` that they
:meth:`~Streaming.attach` to each engine they open (before it starts) and :meth:`~Streaming.close`
when done. With nothing switched on, :meth:`Streaming.attach` does nothing: no network library is
imported, no socket is opened (docs/interop.md, "What opens a network connection").

Streaming is never essential: its engine sinks are added with ``essential=False``, so when LSL or
OSC fails the engine detaches it, the recording goes on, and ``on_problem`` gets one message.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from biofeedback.engine import Engine, EngineFault
from biofeedback.interop.clock import SampleClock
from biofeedback.interop.lsl_markers import DEFAULT_DEADLINE_S, AddMarker, LslMarkerInlet
from biofeedback.interop.lsl_outlet import LslOutlets
from biofeedback.interop.markers import event_marker, threshold_text
from biofeedback.interop.osc import DEFAULT_RATE_HZ, OscSender, OscTarget
from biofeedback.training.runner import EventType, RunnerEvent

log = logging.getLogger(__name__)

#: Names of the engine sinks (they appear in fault messages and the log).
LSL_SINK = "LSL streaming"
OSC_SINK = "OSC output"
CLOCK_SINK = "the LSL sample clock"


def processing_text(described: dict[str, Any]) -> str:
    """The envelope's processing in one line, for the LSL stream's description."""
    band = described.get("band_hz")
    window_ms = 1000.0 * float(described.get("rms_window_s") or 0.0)
    band_text = f"band-pass {band[0]:g}-{band[1]:g} Hz, " if band else ""
    return f"{band_text}causal moving RMS {window_ms:g} ms, noise floor removed in quadrature"


@dataclass(frozen=True)
class StreamingOptions:
    """What to stream. Everything is off by default."""

    lsl: bool = False
    osc: OscTarget | None = None
    osc_rate_hz: float = DEFAULT_RATE_HZ
    lsl_markers: str = ""
    lsl_markers_deadline_s: float = DEFAULT_DEADLINE_S

    @property
    def active(self) -> bool:
        """True when anything is switched on."""
        return self.lsl or self.osc is not None or bool(self.lsl_markers)

    def describe(self) -> str:
        """One line for the user: ``LSL on, OSC to 127.0.0.1:9000 at 20 Hz`` ("" when off)."""
        parts = []
        if self.lsl:
            parts.append("LSL on")
        if self.osc is not None:
            parts.append(f"OSC to {self.osc} at {self.osc_rate_hz:g} Hz")
        if self.lsl_markers:
            parts.append(f"LSL markers from {self.lsl_markers!r}")
        return ", ".join(parts)


class Streaming:
    """LSL outlets, OSC and the LSL marker inlet for one engine at a time.

    ``on_problem(message)`` is called (on whatever thread noticed it) when a part stops or the
    user should know something (a marker stream not found, lost).
    """

    def __init__(
        self, options: StreamingOptions, on_problem: Callable[[str], None] | None = None
    ) -> None:
        self.options = options
        self.on_problem = on_problem or (lambda text: log.warning("%s", text))
        self.clock: SampleClock | None = None
        self.lsl: LslOutlets | None = None
        self.osc: OscSender | None = None
        self.inlet: LslMarkerInlet | None = None
        self.engine: Engine | None = None
        self.thresholds: list[float | None] = []
        self.scored: list[int] | None = None
        self._lock = threading.Lock()
        self._last_stats: dict[str, Any] = {}
        #: names of the sinks the engine detached after they failed
        self.stopped: set[str] = set()
        self._heard: list[Engine] = []  # engines this object listens to for faults

    # -- lifecycle -------------------------------------------------------------------------------
    def attach(self, engine: Engine) -> None:
        """Stream from ``engine`` (opened, not yet started); detaches from the previous one.
        Raises BiofeedbackError when an outlet cannot be created (nothing is left attached)."""
        self.detach()
        self.stopped = set()
        opts = self.options
        if not opts.active:
            return
        info = engine.info or engine.open()
        pipeline = engine.pipeline
        assert pipeline is not None
        outputs = list(pipeline.outputs)
        if len(self.thresholds) != len(outputs):
            self.thresholds = [None] * len(outputs)
        try:
            if opts.lsl or opts.lsl_markers:
                self.clock = SampleClock(info.fs_hz)
            if opts.lsl:
                assert self.clock is not None
                self.lsl = LslOutlets(
                    info,
                    outputs,
                    self.clock,
                    url=engine.device.url,
                    processing=processing_text(pipeline.describe()),
                )
            if opts.osc is not None:
                self.osc = OscSender(
                    opts.osc,
                    len(outputs),
                    rate_hz=opts.osc_rate_hz,
                    thresholds=lambda: list(self.thresholds),
                )
        except Exception:
            self.detach()
            raise
        self.engine = engine
        if self.clock is not None:
            engine.add_sink(self.clock.sink, name=CLOCK_SINK)
        if self.lsl is not None:
            engine.add_sink(self.lsl.sink, name=LSL_SINK)
        if self.osc is not None:
            engine.add_sink(self.osc.sink, name=OSC_SINK)
        if not any(e is engine for e in self._heard):  # the engine cannot forget a listener
            self._heard.append(engine)
            engine.add_fault_listener(self._on_fault)

    def listen_for_markers(self, add_marker: AddMarker) -> None:
        """Start the ``--lsl-markers`` inlet: each marker becomes ``add_marker(index, label,
        note)`` (call after :meth:`attach`; nothing happens when the option is off)."""
        name = self.options.lsl_markers
        if not name or self.clock is None or self.inlet is not None:
            return
        self.inlet = LslMarkerInlet(
            name,
            self.clock,
            add_marker,
            on_message=self.on_problem,
            deadline_s=self.options.lsl_markers_deadline_s,
        )
        self.inlet.start()

    def detach(self) -> None:
        """Close everything attached to the current engine (idempotent)."""
        if self.lsl is not None or self.osc is not None or self.inlet is not None:
            self._last_stats = self.stats()
        engine, self.engine = self.engine, None
        inlet, self.inlet = self.inlet, None
        if inlet is not None:
            inlet.stop()
        if engine is not None:
            for part in (self.lsl, self.osc, self.clock):
                if part is not None:
                    engine.remove_sink(part.sink)
        lsl, self.lsl = self.lsl, None
        osc, self.osc = self.osc, None
        self.clock = None
        if lsl is not None:
            lsl.close()
        if osc is not None:
            osc.close()

    close = detach

    def _on_fault(self, fault: EngineFault) -> None:
        # a detached Streaming still hears its old engine: the current one says it, once
        if self.engine is not None and fault.consumer in (LSL_SINK, OSC_SINK, CLOCK_SINK):
            self.stopped.add(fault.consumer)
            self.on_problem(fault.message)

    @property
    def lsl_running(self) -> bool:
        """True while the LSL outlets stream."""
        return self.lsl is not None and not ({LSL_SINK, CLOCK_SINK} & self.stopped)

    @property
    def osc_running(self) -> bool:
        """True while OSC is sent."""
        return self.osc is not None and OSC_SINK not in self.stopped

    # -- what is sent ----------------------------------------------------------------------------
    def marker(self, text: str, index: int | None = None) -> None:
        """Send a marker on the LSL markers stream and as OSC (any thread)."""
        lsl, osc = self.lsl, self.osc
        if lsl is not None:
            lsl.push_marker(text, index)
        if osc is not None:
            osc.send_marker(text)

    def set_threshold(
        self, uv: float, channel: int | None = None, reason: str = "", index: int | None = None
    ) -> None:
        """A new target (``channel`` None: every channel), sent by OSC with the next tick and as
        a ``threshold:`` marker."""
        self._store_threshold(uv, None if channel is None else [channel])
        several = channel is not None and len(self.thresholds) > 1
        self.marker(threshold_text(uv, reason, channel if several else None), index)

    def set_thresholds(self, values: list[float]) -> None:
        """The current target of every output channel (no marker: e.g. when attaching)."""
        for k, uv in enumerate(values):
            self._store_threshold(uv, [k])

    def _store_threshold(self, uv: float, channels: list[int] | None) -> None:
        with self._lock:
            values = list(self.thresholds)
            for k in channels if channels is not None else range(len(values)):
                if 0 <= k < len(values):
                    values[k] = float(uv)
            self.thresholds = values

    def on_event(self, event: RunnerEvent) -> None:
        """A recording session's listener: phases, targets, prompts become markers; the target
        of the scored channel(s) goes out by OSC."""
        if event.type == EventType.THRESHOLD_CHANGED:
            new_uv = event.data.get("new_uv")
            if isinstance(new_uv, int | float):
                self._store_threshold(float(new_uv), self.scored)
        text = event_marker(event)
        if text:
            self.marker(text, event.sample_index)

    def stats(self) -> dict[str, Any]:
        """What was sent and received so far (for ``--json`` summaries and the status bar);
        after :meth:`detach`, what the last engine's streams sent."""
        if self.lsl is None and self.osc is None and self.inlet is None:
            return dict(self._last_stats)
        out: dict[str, Any] = {}
        if self.lsl is not None:
            out["lsl"] = {
                "raw_samples": self.lsl.samples_sent,
                "envelope_samples": self.lsl.envelope_sent,
                "markers": self.lsl.markers_sent,
            }
        if self.osc is not None:
            out["osc"] = {"target": str(self.osc.target), "messages": self.osc.messages_sent}
        if self.inlet is not None:
            out["lsl_markers"] = {
                "stream": self.inlet.name,
                "state": self.inlet.state,
                "received": self.inlet.received,
            }
        return out
