"""A recorded session: engine + training runner + recorder, wired one way for the CLI and the GUI.

:class:`RecordingSession` creates the session row, attaches the recorder and (for a guided
session) the runner as engine sinks, and routes the runner's events: calibrated noise floors go to
the pipeline, threshold changes and phase measures go to the store. ``training`` stays pure: it
never sees the engine (ARCHITECTURE.md), this module connects them.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from biofeedback.core.types import Chunk, ProcessedChunk
from biofeedback.engine import Engine, EnvelopeStats
from biofeedback.errors import BiofeedbackError
from biofeedback.storage.database import Database
from biofeedback.storage.export import NOISE_FLOOR_MARKER
from biofeedback.storage.recorder import Recorder
from biofeedback.training.metrics import SessionSummary, patient_summary_text
from biofeedback.training.protocol import Protocol
from biofeedback.training.runner import EventType, RunnerEvent, SessionRunner

EventListener = Callable[[RunnerEvent], None]


@dataclass
class SessionResult:
    """What a finished session produced."""

    session_id: int
    status: str
    summary: dict[str, Any]
    patient_text: str = ""
    recorder_stats: dict[str, Any] = field(default_factory=dict)


def scored_channel_for(protocol: Protocol, outputs: list[Any]) -> tuple[Protocol, str]:
    """Score a channel that can resolve rest.

    A protocol names an output channel by number (default 0: the first). When that channel cannot
    resolve a relaxed muscle (RAW on a 10-bit board: its noise floor is above resting tension),
    the first channel that can (the ENV output) is scored instead, and a note says so.
    """
    k = protocol.scored_channel
    if not isinstance(k, int) or k >= len(outputs) or getattr(outputs[k], "resolves_rest", True):
        return protocol, ""
    for j, out in enumerate(outputs):
        if getattr(out, "resolves_rest", True):
            note = f"Scoring {out.name} instead of {outputs[k].name}: {outputs[k].warning or 'it cannot resolve rest'}"
            return dataclasses.replace(protocol, scored_channel=j), note
    return protocol, f"{outputs[k].name}: {outputs[k].warning or 'cannot resolve rest'}"


class RecordingSession:
    """One session: stores the stream and, with a protocol, runs it.

    Parameters
    ----------
    engine
        An opened (not yet started) engine.
    db
        The session store.
    protocol
        A guided protocol, or None for a plain recording (then pass ``duration_s``).
    subject_id
        Pseudonymous subject id (None: unassigned).
    meta
        Session details for the store (site, muscle, side, clinician, notes, pain_before, ...).
    """

    def __init__(
        self,
        engine: Engine,
        db: Database,
        protocol: Protocol | None = None,
        subject_id: str | None = None,
        duration_s: float | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        if engine.info is None:
            engine.open()
        assert engine.info is not None and engine.pipeline is not None
        if protocol is None and duration_s is None and not engine.info.realtime:
            raise BiofeedbackError(
                "a recording from a source that runs as fast as possible needs --duration or "
                "--protocol, or it never ends"
            )
        self.engine = engine
        self.db = db
        self.protocol = protocol
        self.duration_s = duration_s
        self.meta = dict(meta or {})
        self._listeners: list[EventListener] = []
        self._applied: list[RunnerEvent] = []
        self._applied_lock = threading.Lock()
        self.session_id: int | None = None
        self.recorder: Recorder | None = None
        self.runner: SessionRunner | None = None
        self.errors: list[str] = []
        info = engine.info
        self.notes: list[str] = []
        if protocol is not None:
            protocol, note = scored_channel_for(protocol, engine.pipeline.outputs)
            self.protocol = protocol
            if note:
                self.notes.append(note)
            self.runner = SessionRunner(
                protocol,
                info.fs_hz,
                n_channels=len(engine.pipeline.outputs),
                noise_floor_uv=engine.pipeline.noise_floor_uv,
                # the causal moving RMS lags the muscle by half its window
                envelope_delay_s=engine.settings.rms_window_s / 2.0,
            )
            for text in self.notes:
                self.runner.add_note(text)
            pain_before = self.meta.get("pain_before")
            if pain_before is not None:
                self.runner.set_pain(before=float(pain_before))
        self.subject_id = subject_id

    def add_listener(self, listener: EventListener) -> None:
        """Call ``listener(event)`` for every runner event (on the device thread)."""
        self._listeners.append(listener)

    def apply(self, events: list[RunnerEvent]) -> None:
        """Route the events a runner control call returned (pause, resume, skip, a threshold
        override made from the GUI thread) like ticked ones: to the store and the listeners.
        They are dispatched on the device thread before the next block (or at :meth:`finish`),
        so the pipeline is only ever touched between two chunks."""
        with self._applied_lock:
            self._applied.extend(events)

    def _drain_applied(self, next_index: int) -> None:
        with self._applied_lock:
            events, self._applied = self._applied, []
        for event in events:
            self._dispatch(event, next_index)

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> int:
        """Create the session in the store and start streaming; returns the session id."""
        engine = self.engine
        assert engine.info is not None and engine.pipeline is not None
        hardware = {
            "board": engine.info.board,
            "device": engine.info.device,
            "adc_bits": engine.info.adc_bits,
            "vref_v": engine.info.vref_v,
            "source": engine.device.url,
            **dict(self.meta.pop("hardware", {}) or {}),
        }
        self.session_id = self.db.create_session(
            self.subject_id,
            self.protocol.name if self.protocol else "",
            engine.info,
            engine.pipeline.describe(),
            hardware=hardware,
            **self.meta,
        )
        self.recorder = Recorder(self.db.path, self.session_id, engine.info)
        engine.add_sink(self.recorder.sink)
        self.stats = EnvelopeStats(len(engine.pipeline.outputs), engine.info.fs_hz)
        engine.add_sink(self.stats.add)
        if self.runner is not None:
            engine.add_sink(self._tick)
        engine.add_status_listener(self._on_status)
        limit = None
        if self.duration_s is not None:
            limit = round(self.duration_s * engine.info.fs_hz)
        engine.start(max_samples=limit)
        return self.session_id

    def wait(self, timeout: float | None = None) -> bool:
        """True once the protocol ended, the duration passed, or the source stopped."""
        return self.engine.wait(timeout)

    def add_marker(self, label: str, note: str = "") -> None:
        """Mark the newest sample (GUI shortcut M)."""
        if self.recorder is not None:
            self.recorder.add_marker(self.engine.stats.last_index, label, note)

    def finish(self, pain_after: float | None = None, aborted_reason: str = "") -> SessionResult:
        """Stop streaming, store the measures and close the session.

        A session ends 'complete' when its protocol (or duration) ran to the end, else
        'interrupted' (stopped early, device lost); what was recorded is kept either way.
        """
        engine = self.engine
        engine.stop()
        runner = self.runner
        if runner is not None and self.recorder is not None:
            self._drain_applied(runner.next_index)
        if runner is not None:
            if pain_after is not None:
                runner.set_pain(after=float(pain_after))
            last_index = engine.stats.last_index
            for event in runner.flush():
                self._dispatch(event, last_index)
            if not runner.finished:
                runner.abort(aborted_reason or "stopped before the end of the protocol")
            summary_obj: SessionSummary | None = runner.summary()
            summary = summary_obj.to_dict()
            complete = runner.finished and not summary_obj.aborted
            text = patient_summary_text(summary_obj)
        else:
            summary_obj = None
            fs = engine.info.fs_hz if engine.info else 1.0
            summary = {"duration_s": engine.stats.samples / fs, "channels": self._channel_stats()}
            if pain_after is not None:
                summary["pain_after"] = pain_after
            complete = self.duration_s is None or engine.stats.samples >= round(
                self.duration_s * fs
            )
            text = ""
        if self.errors:
            summary["errors"] = list(self.errors)
            complete = False
        status = "complete" if complete else "interrupted"
        assert self.recorder is not None and self.session_id is not None
        if summary_obj is not None:
            self.recorder.save_phases(
                [p.to_dict() for p in summary_obj.phases], summary_obj.start_index
            )
        meta: dict[str, Any] = {}
        if runner is not None and runner.pain_after is not None:
            meta["pain_after"] = runner.pain_after
        elif pain_after is not None:
            meta["pain_after"] = pain_after
        self.recorder.close(status, summary)
        if meta:
            self.db.update_session(self.session_id, **meta)
        stats = self.recorder.stats
        return SessionResult(
            self.session_id,
            status,
            summary,
            text,
            {
                "samples_written": getattr(stats, "samples_written", None),
                "dropped_samples": getattr(stats, "dropped_samples", 0),
                "overruns": getattr(stats, "overruns", 0),
            },
        )

    def _channel_stats(self) -> list[dict[str, Any]]:
        """Mean and median envelope per output channel over unflagged samples."""
        pipeline = self.engine.pipeline
        assert pipeline is not None
        mean, median = self.stats.mean(), self.stats.median()
        return [
            {
                "name": out.name,
                "kind": str(out.kind),
                "rms_uv_mean": None if mean[k] != mean[k] else float(mean[k]),
                "rms_uv_median": None if median[k] != median[k] else float(median[k]),
                "noise_floor_uv": float(pipeline.noise_floor_uv[k]),
            }
            for k, out in enumerate(pipeline.outputs)
        ]

    # -- device thread ---------------------------------------------------------------------------
    def _tick(self, chunk: Chunk, processed: ProcessedChunk) -> None:
        runner = self.runner
        assert runner is not None
        if self._applied:
            self._drain_applied(processed.first_index)
        events = runner.tick(processed.first_index, processed.envelope_uv, processed.flags)
        for event in events:
            self._dispatch(event, processed.end_index)
        if runner.finished:
            # a control call (skip, abort) may have finished the runner while this block was
            # being ticked: route its events before the stream ends
            self._drain_applied(processed.end_index)
            self.engine.finish()

    def _dispatch(self, event: RunnerEvent, next_index: int) -> None:
        self._route(event, next_index)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                pass  # a UI listener must never stop the session

    def _route(self, event: RunnerEvent, next_index: int) -> None:
        recorder = self.recorder
        assert recorder is not None
        if event.type == EventType.CALIBRATED and event.data.get("what") == "noise_floor":
            pipeline = self.engine.pipeline
            values = event.data.get("values_uv")
            if pipeline is not None and values is not None:
                # On the device thread, between two chunks: the next chunk uses the new floor.
                # The marker lets exports and reports reproduce the live envelope exactly.
                pipeline.set_noise_floor(values)
                recorder.add_marker(next_index, NOISE_FLOOR_MARKER, json.dumps(list(values)))
        elif event.type == EventType.THRESHOLD_CHANGED:
            data = event.data
            recorder.log_threshold(
                int(data["sample_index"]), data.get("old_uv"), float(data["new_uv"]), data["reason"]
            )
        elif event.type == EventType.PHASE_ENDED:
            assert self.runner is not None
            recorder.save_phases(
                [p.to_dict() for p in self.runner.phase_metrics], self.runner.summary().start_index
            )
        elif event.type == EventType.PROMPT:
            recorder.add_marker(event.sample_index, f"prompt: {event.data.get('prompt', '')}")

    def _on_status(self, status: Any) -> None:
        if str(status.state) == "error":
            self.errors.append(status.message)
