"""A recorded session: engine + training runner + recorder, wired one way for the CLI and the GUI.

:class:`RecordingSession` creates the session row, attaches the recorder and (for a guided
session) the runner as engine sinks, and routes the runner's events: calibrated noise floors go to
the pipeline, threshold changes and phase measures go to the store. ``training`` stays pure: it
never sees the engine (docs/architecture.md, "Layers"), this module connects them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from biofeedback.core.types import Chunk, ProcessedChunk
from biofeedback.devices.base import DeviceState, DeviceStatus
from biofeedback.engine import Engine, EngineFault, EnvelopeStats
from biofeedback.errors import BiofeedbackError, StorageError
from biofeedback.storage.database import Database
from biofeedback.storage.pending import save_pending
from biofeedback.storage.recorder import Recorder
from biofeedback.storage.reprocess import NOISE_FLOOR_MARKER
from biofeedback.training.metrics import SessionSummary, patient_summary_text
from biofeedback.training.protocol import Protocol
from biofeedback.training.runner import EventType, RunnerEvent, SessionRunner

EventListener = Callable[[RunnerEvent], None]
FailureListener = Callable[[str], None]

log = logging.getLogger(__name__)

#: How long the closing writes of a session that already failed wait for a busy database before
#: what they hold goes to the pending journal (the full bounded wait would freeze the window).
FAILED_CLOSE_WAIT_S = 1.0


@dataclass
class SessionResult:
    """What a finished session produced."""

    session_id: int
    status: str
    summary: dict[str, Any]
    patient_text: str = ""
    recorder_stats: dict[str, Any] = field(default_factory=dict)
    #: Why the session could not go on (storage, device, a consumer), "" when nothing failed.
    error: str = ""
    #: What could not be stored when the session ended and where it is kept meanwhile (or, if
    #: even that failed, the values to note by hand); "" when everything was stored.
    storage_note: str = ""


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
        self._failure_listeners: list[FailureListener] = []
        self._failure_lock = threading.Lock()
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

    def add_failure_listener(self, listener: FailureListener) -> None:
        """Call ``listener(message)`` once when the session cannot go on: the store failed, the
        device was lost for good, or a consumer (runner, recorder) raised. Acquisition has
        stopped by then; call :meth:`finish` to close the session as interrupted. Called on the
        device thread (or the recorder's), so a GUI must post it to its own thread."""
        self._failure_listeners.append(listener)

    @property
    def failure(self) -> str:
        """The first reason the session could not go on ("" while it runs normally)."""
        return self.errors[0] if self.errors else ""

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
        # every sink of a stored session is essential: if one fails the session cannot be what
        # it claims to be, so acquisition stops and the session is closed as interrupted
        engine.add_sink(self.recorder.sink, name="the recorder", essential=True)
        self.stats = EnvelopeStats(len(engine.pipeline.outputs), engine.info.fs_hz)
        engine.add_sink(self.stats.add, name="the session statistics", essential=True)
        if self.runner is not None:
            engine.add_sink(self._tick, name="the training protocol", essential=True)
        engine.add_status_listener(self._on_status)
        engine.add_fault_listener(self._on_fault)
        limit = None
        if self.duration_s is not None:
            limit = round(self.duration_s * engine.info.fs_hz)
        engine.start(max_samples=limit)
        return self.session_id

    def wait(self, timeout: float | None = None) -> bool:
        """True once the protocol ended, the duration passed, or the source stopped."""
        return self.engine.wait(timeout)

    def add_marker(self, label: str, note: str = "", index: int | None = None) -> None:
        """Mark sample ``index`` (default: the newest; GUI shortcut M). Safe from any thread:
        the marker is queued and written with the next commit (LSL markers arrive on their own
        thread, docs/interop.md)."""
        if self.recorder is not None:
            at = self.engine.stats.last_index if index is None else int(index)
            self.recorder.add_marker(at, label, note)

    def finish(self, pain_after: float | None = None, aborted_reason: str = "") -> SessionResult:
        """Stop streaming, store the measures and close the session. Never raises for a store
        that fails: the result then says what could not be stored and where it is kept.

        A session ends 'complete' when its protocol (or duration) ran to the end, else
        'interrupted' (stopped early, device lost, store failed); what was recorded is kept
        either way. The pain-after rating is stored even when the session failed: if the store
        cannot take it now, it is kept in the pending journal and stored at the next start.
        """
        self.engine.stop()
        summary_obj, summary, complete, text = self._final_summary(
            pain_after, aborted_reason or self.failure
        )
        if self.errors:
            summary["errors"] = list(self.errors)
            complete = False
        status = "complete" if complete else "interrupted"
        meta: dict[str, Any] = {}
        runner = self.runner
        if runner is not None and runner.pain_after is not None:
            meta["pain_after"] = runner.pain_after
        elif pain_after is not None:
            meta["pain_after"] = pain_after
        status, note = self._store_end(status, summary, summary_obj, meta)
        if self.errors:
            status = "interrupted"
        stats = self.recorder.stats if self.recorder is not None else None
        return SessionResult(
            self.session_id or 0,
            status,
            summary,
            text,
            {
                "samples_written": getattr(stats, "samples_written", None),
                "dropped_samples": getattr(stats, "dropped_samples", 0),
                "overruns": getattr(stats, "overruns", 0),
            },
            error=self.failure,
            storage_note=note,
        )

    def _final_summary(
        self, pain_after: float | None, reason: str
    ) -> tuple[SessionSummary | None, dict[str, Any], bool, str]:
        """(summary object, summary dict, ran to the end, patient text) as the session ends."""
        engine = self.engine
        runner = self.runner
        if runner is None:
            fs = engine.info.fs_hz if engine.info else 1.0
            summary: dict[str, Any] = {
                "duration_s": engine.stats.samples / fs,
                "channels": self._channel_stats(),
            }
            if pain_after is not None:
                summary["pain_after"] = pain_after
            if self.notes:
                summary["notes"] = list(self.notes)
            complete = self.duration_s is None or engine.stats.samples >= round(
                self.duration_s * fs
            )
            if reason and not complete:
                summary["abort_reason"] = reason
            return None, summary, complete, ""
        if self.recorder is not None:
            self._drain_applied(runner.next_index)
        if pain_after is not None:
            runner.set_pain(after=float(pain_after))
        last_index = engine.stats.last_index
        for event in runner.flush():
            self._dispatch(event, last_index)
        if not runner.finished:
            runner.abort(reason or "stopped before the end of the protocol")
        summary_obj = runner.summary()
        complete = runner.finished and not summary_obj.aborted
        return summary_obj, summary_obj.to_dict(), complete, patient_summary_text(summary_obj)

    def _store_end(
        self,
        status: str,
        summary: dict[str, Any],
        summary_obj: SessionSummary | None,
        meta: dict[str, Any],
    ) -> tuple[str, str]:
        """Close the session in the store; returns (status, note on what could not be stored)."""
        recorder, session_id = self.recorder, self.session_id
        assert recorder is not None and session_id is not None
        if summary_obj is not None:
            recorder.save_phases([p.to_dict() for p in summary_obj.phases], summary_obj.start_index)
        failed_wait = FAILED_CLOSE_WAIT_S if self.errors or recorder.failed else None
        try:
            recorder.close(status, summary, busy_wait_s=failed_wait)
        except StorageError as exc:
            self._fail(str(exc))
            status = "interrupted"
            summary = {**summary, "errors": list(self.errors)}
        pending: dict[str, Any] = {}
        if not self._closed_in_store(session_id):
            pending.update(status=status, summary=summary)
        if meta:
            try:
                if self.errors:
                    with self.db.short_busy_wait(FAILED_CLOSE_WAIT_S):
                        self.db.update_session(session_id, **meta)
                else:
                    self.db.update_session(session_id, **meta)
            except StorageError as exc:
                log.warning("session %s: details not stored now: %s", session_id, exc)
                pending["meta"] = meta
        if not pending:
            return status, ""
        return status, self._keep_pending(session_id, pending)

    def _closed_in_store(self, session_id: int) -> bool:
        try:
            return self.db.get_session(session_id).status != "recording"
        except StorageError as exc:
            log.warning("session %s: cannot read its status back: %s", session_id, exc)
            return False

    def _keep_pending(self, session_id: int, pending: dict[str, Any]) -> str:
        parts = []
        if "meta" in pending:
            parts.append("the pain rating" if "pain_after" in pending["meta"] else "the details")
        if "status" in pending:
            parts.append("the end of the session")
        what = " and ".join(parts)
        try:
            path = save_pending(self.db.path, session_id, pending)
        except StorageError as exc:
            meta = pending.get("meta", {})
            values = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in meta.items())
            by_hand = f" Note by hand: {values}." if values else ""
            return (
                f"{what} of session {session_id} could not be stored ({exc}); what was "
                f"recorded before the failure is kept.{by_hand}"
            )
        return (
            f"{what} of session {session_id} could not be stored yet: kept in {path} and stored "
            "the next time a session starts"
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
        self._notify(event)

    def _notify(self, event: RunnerEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a UI listener must never stop the session; the log says why
                log.exception("session event listener failed on %s", event.type)

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
            summary = self.runner.summary()
            recorder.save_phases(
                [p.to_dict() for p in self.runner.phase_metrics], summary.start_index
            )
            # the summary so far: a step's answers (thought record, reflection) survive a crash
            recorder.save_summary(summary.to_dict())
        elif event.type == EventType.PROMPT:
            recorder.add_marker(event.sample_index, f"prompt: {event.data.get('prompt', '')}")

    def _on_status(self, status: DeviceStatus) -> None:
        if status.warning:  # e.g. a board sending faster than it declares: noted, said once
            self._device_warning(status.message)
        elif status.state == DeviceState.ERROR:
            self._fail(status.message or "the device stopped with an error")

    def _device_warning(self, message: str) -> None:
        """Keep a device warning in the session's notes and tell the listeners (record prints
        it, the window shows it) as a warning event."""
        self.notes.append(message)
        if self.runner is not None:
            self.runner.add_note(message)
        fs = self.engine.info.fs_hz if self.engine.info else 1.0
        index = self.engine.stats.last_index
        event = RunnerEvent(
            EventType.WARNING, index, self.engine.stats.samples / fs, None, {"message": message}
        )
        self._notify(event)

    def _on_fault(self, fault: EngineFault) -> None:
        if fault.fatal:
            self._fail(fault.message)
        else:
            log.warning("%s failed and was detached: %s", fault.consumer, fault.message)

    def _fail(self, message: str) -> None:
        """Record why the session cannot go on; tell the failure listeners the first time."""
        with self._failure_lock:
            first = not self.errors
            if message in self.errors:
                return
            self.errors.append(message)
        if not first:
            return
        for listener in list(self._failure_listeners):
            try:
                listener(message)
            except Exception:  # the failure is in self.errors whatever a listener does
                log.exception("session failure listener failed on: %s", message)
