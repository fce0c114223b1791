"""The session lifecycle, without Qt: start, pause/resume, skip, stop, finish, failure.

:class:`SessionControl` opens a fresh engine on the source (a session starts on a new sample
clock), wires a :class:`~biofeedback.session.RecordingSession` (runner and recorder, as
``biofeedback record`` does) and drives it. The window and a headless test use it the same way:
they call the commands and subscribe to the events.

Threads: a session reports runner events and failures on the device thread. They are handed to
``post_event`` / ``post_failure`` (the window queues them to the GUI thread; the default queues
them until :meth:`SessionControl.pump`), then :meth:`handle_event` / :meth:`handle_failure` run
on the caller's thread and emit the events below.

Events (``Signal``; arguments in brackets):
``opened`` (session, engine, info) before streaming starts: build the display on this engine;
``started`` (session); ``not_started`` (message, source): say why, go back to the live source;
``runner_event`` (RunnerEvent) every runner event; ``failed`` (session_id, message): acquisition
stopped; ``finish_due`` (reason): the session should be finished now (the protocol ended, the
stream stopped or a failure; the window finishes it from its event loop); ``finished``
(SessionResult); ``subject_changed`` (subject); ``message`` (text) for the status line.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from biofeedback.appmodel.events import Signal
from biofeedback.appmodel.markers import Markers
from biofeedback.appmodel.targets import Targets
from biofeedback.engine import Engine
from biofeedback.errors import BiofeedbackError
from biofeedback.training.protocol import load_protocol
from biofeedback.training.runner import EventType, RunnerEvent, RunnerState

if TYPE_CHECKING:  # the recorder and the store load when a session starts (window start-up)
    from biofeedback.session import RecordingSession, SessionResult
    from biofeedback.storage.database import Database

log = logging.getLogger(__name__)

#: Why a session stopped when the clinician pressed Stop (stored as the session's reason).
STOPPED_BY_CLINICIAN = "stopped by the clinician"
#: Ask the pain-after rating with the ``pain_after`` callback (the default of :meth:`finish`).
ASK = object()

Source = Any  # a source URL or a Device
#: ``questions_first(subject, then)``: ask what the course asks before a session of ``subject``
#: and call ``then(pain_now)`` once answered; False (``then`` never called) when nothing is due.
QuestionsFirst = Callable[[str, Callable[[int | None], None]], bool]
#: What the Start button says while the patient answers the questionnaires due first.
ANSWERING_TEXT = (
    "The patient is answering the questionnaires due first (patient view, F11); the session "
    "starts after them."
)


class SessionControl:
    """One session at a time on the window's source; see the module doc for the events."""

    def __init__(
        self,
        targets: Targets,
        markers: Markers,
        *,
        db_path: str | None = None,
        make_engine: Callable[[Source], Engine] = Engine,
        confirm: Callable[[str, str], bool] = lambda _title, _question: True,
        pain_after: Callable[[], int | None] | None = None,
        stop_live: Callable[[], None] = lambda: None,
        questions_first: QuestionsFirst | None = None,
        busy: Callable[[], bool] = lambda: False,
    ) -> None:
        self.targets, self.markers = targets, markers
        self.db_path = db_path
        self.make_engine = make_engine
        self.confirm = confirm
        self.pain_after = pain_after
        self.stop_live = stop_live
        self.questions_first, self.busy = questions_first, busy
        self.session: RecordingSession | None = None
        self.db: Database | None = None
        self.last_result: SessionResult | None = None
        self.subject = ""
        self.finish_scheduled = False
        self._queue: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self.post_event: Callable[[RunnerEvent], None] = lambda e: self._queue.put(("event", e))
        self.post_failure: Callable[[str], None] = lambda m: self._queue.put(("failure", m))
        self.opened = Signal("session.opened")
        self.started = Signal("session.started")
        self.not_started = Signal("session.not_started")
        self.runner_event = Signal("session.runner_event")
        self.failed = Signal("session.failed")
        self.finish_due = Signal("session.finish_due")
        self.finished = Signal("session.finished")
        self.subject_changed = Signal("session.subject_changed")
        self.message = Signal("session.message")
        targets.changed.connect(self._on_target_changed)

    # -- state -----------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.session is not None

    @property
    def guided(self) -> bool:
        """A protocol runs (pause and skip mean something)."""
        return self.session is not None and self.session.runner is not None

    def state(self) -> RunnerState | None:
        """The runner's state (None outside a guided session)."""
        session = self.session
        return session.runner.state() if session is not None and session.runner else None

    def set_subject(self, subject: str) -> None:
        subject = subject.strip()
        if subject != self.subject:
            self.subject = subject
            self.subject_changed.emit(subject)

    # -- start ----------------------------------------------------------------------------------
    def begin(
        self,
        source: Source,
        protocol_name: str = "",
        subject: str = "",
        pain_before: int | None = None,
        *,
        isolation: str = "",
        ask_due: bool = True,
    ) -> bool:
        """The Start button: the questionnaires due before this session first (``questions_first``;
        True at once, the session starts once they are answered, a "pain now" answer being the
        pain before when none was given), else :meth:`start`."""
        if self.busy():
            self.message.emit(ANSWERING_TEXT)
            return False
        if self.session is not None:
            return False

        def then(pain_now: int | None) -> None:
            before = pain_before if pain_before is not None else pain_now
            self.start(source, protocol_name, subject, before, isolation=isolation)

        if ask_due and self.questions_first is not None and self.questions_first(subject, then):
            return True
        return self.start(source, protocol_name, subject, pain_before, isolation=isolation)

    def start(
        self,
        source: Source,
        protocol_name: str = "",
        subject: str = "",
        pain_before: int | None = None,
        *,
        isolation: str = "",
    ) -> bool:
        """Record a session from ``source`` guided by ``protocol_name`` ("" = plain recording).
        False (after ``message`` or ``not_started`` says why) when it cannot start."""
        if self.session is not None:
            return False
        try:
            protocol = load_protocol(protocol_name) if protocol_name else None
        except BiofeedbackError as exc:
            self.message.emit(str(exc))
            return False
        self.set_subject(subject)
        self.stop_live()
        meta: dict[str, Any] = {}
        if pain_before is not None:
            meta["pain_before"] = pain_before
        if isolation:
            meta["isolation_mode"] = isolation
        from biofeedback.session import RecordingSession
        from biofeedback.storage.courses import session_course_meta
        from biofeedback.storage.database import Database

        engine: Engine | None = None
        db: Database | None = None
        try:
            engine = self.make_engine(source)
            info = engine.open()
            db = Database(self.db_path)
            db.recover_interrupted()
            meta.update(session_course_meta(db, self.subject or None))  # open course, station
            session = RecordingSession(
                engine, db, protocol, subject_id=self.subject or None, meta=meta
            )
        except (BiofeedbackError, OSError) as exc:
            self._not_started(engine, db, source, exc)
            return False
        return self._run(session, engine, db, info, source)

    def _run(
        self, session: RecordingSession, engine: Engine, db: Database, info: Any, source: Source
    ) -> bool:
        session.add_listener(self.post_event)
        session.add_failure_listener(self.post_failure)
        self.session, self.db = session, db
        self.finish_scheduled = False
        self.opened.emit(session, engine, info)
        try:
            session.start()
        except (BiofeedbackError, OSError) as exc:  # e.g. a read-only or damaged data folder
            self.session, self.db = None, None
            self._not_started(None, db, source, exc)
            return False
        self.markers.clear()
        self.started.emit(session)
        name = session.protocol.name if session.protocol is not None else "recording"
        self.message.emit(f"Session {session.session_id} started: {name}")
        return True

    def _not_started(
        self, engine: Engine | None, db: Database | None, source: Source, exc: Exception
    ) -> None:
        log.error("session not started: %s", exc)
        if engine is not None:
            engine.close()
        if db is not None:
            db.close()
        self.not_started.emit(str(exc), source)

    # -- commands during a session ---------------------------------------------------------------
    def toggle_pause(self) -> None:
        """Pause or resume the protocol's phase clock."""
        session = self.session
        if session is None or session.runner is None:
            return
        runner = session.runner
        session.apply(runner.resume() if runner.state().paused else runner.pause())

    def skip(self) -> None:
        """End the current phase now and go on to the next."""
        session = self.session
        if session is not None and session.runner is not None:
            session.apply(session.runner.skip())

    def continue_step(self, index: int, answers: dict[str, Any], skipped: bool) -> None:
        """The patient finished a page or a form; raises ValueError for an answer refused."""
        session = self.session
        if session is None or session.runner is None:
            return
        events = session.runner.continue_phase(answers, skipped=skipped, phase_index=index)
        session.apply(events)

    def stop_question(self) -> str:
        """What the Stop button asks before ending the session early."""
        session = self.session
        sid = session.session_id if session is not None else None
        if session is not None and session.runner is not None:
            return (
                f"End session {sid} before the protocol is over? What was recorded so far is "
                "kept; the session is marked as interrupted."
            )
        return f"End recording {sid} now? What was recorded is kept."

    def confirm_stop(self) -> bool:
        """Ask (``confirm``) whether to end the running session early."""
        return self.session is not None and self.confirm("Stop the session", self.stop_question())

    def request_stop(self) -> bool:
        """The Stop button: ask, then end the session early; True when ended."""
        if not self.confirm_stop():
            return False
        self.finish(STOPPED_BY_CLINICIAN)
        return True

    def _on_target_changed(self, _channel: int, value_uv: float, reason: str) -> None:
        """A clinician's target during a protocol overrides the runner's (logged by it)."""
        session = self.session
        if reason != "clinician" or session is None or session.runner is None:
            return
        try:
            events = session.runner.override_threshold(value_uv, "set in the window")
        except ValueError as exc:
            log.info("target %.3g uV not taken by the protocol: %s", value_uv, exc)
            return
        session.apply(events)

    # -- events from the session -----------------------------------------------------------------
    def pump(self) -> int:
        """Handle the events queued by the default ``post_event`` / ``post_failure``."""
        handled = 0
        while True:
            try:
                kind, value = self._queue.get_nowait()
            except queue.Empty:
                return handled
            handled += 1
            if kind == "event":
                self.handle_event(value)
            else:
                self.handle_failure(value)

    def handle_event(self, event: RunnerEvent) -> None:
        """A runner event (on the caller's thread): targets follow, then subscribers see it."""
        session = self.session
        if session is None:
            return
        if event.type == EventType.THRESHOLD_CHANGED:
            # at once, not on the next text refresh: a short phase may end before it
            new_uv = event.data.get("new_uv")
            if isinstance(new_uv, int | float):
                self.follow_protocol(float(new_uv))
        self.runner_event.emit(event)
        if event.type == EventType.SESSION_ENDED:
            self._schedule_finish("")

    def handle_failure(self, message: str) -> None:
        """The store, the device or a consumer failed: acquisition has stopped."""
        session = self.session
        if session is None:
            return
        self.failed.emit(session.session_id, message)
        self._schedule_finish(message)

    def poll(self) -> RunnerState | None:
        """Called a few times a second: follows the runner's target and notices a protocol
        that finished without its event (a stream that stopped)."""
        state = self.state()
        if state is None:
            return None
        self.follow_protocol(state.threshold_uv)
        if state.finished:
            self._schedule_finish("")
        return state

    def _schedule_finish(self, reason: str) -> None:
        if not self.finish_scheduled:
            self.finish_scheduled = True
            self.finish_due.emit(reason)

    def follow_protocol(self, value_uv: float | None) -> None:
        """The protocol's target becomes the scored channels' target."""
        session = self.session
        if session is None or value_uv is None:
            return
        scored = session.protocol.scored_channel if session.protocol is not None else 0
        self.targets.follow_protocol(value_uv, self.targets.scored_channels(scored))

    def first_targets(self, recent_uv: Any, noise_floor_uv: Any) -> None:
        """The first seconds are in: a running protocol's target wins (a late frame on a busy
        machine must not replace it), else the first-seconds rule."""
        session = self.session
        runner = session.runner if session is not None else None
        if runner is not None and runner.threshold_uv is not None:
            self.follow_protocol(runner.threshold_uv)
        else:
            self.targets.first_seconds(recent_uv, noise_floor_uv)

    # -- finish ----------------------------------------------------------------------------------
    def finish(self, reason: str = "", pain_after: Any = ASK) -> SessionResult | None:
        """End the session (pain-after from ``pain_after`` or the callback), store it and
        emit ``finished``; None when no session runs."""
        session = self.session
        if session is None:
            return None
        self.finish_scheduled = True
        self.markers.store_pending()
        if pain_after is ASK:
            pain_after = self.pain_after() if self.pain_after is not None else None
        try:
            result = session.finish(pain_after=pain_after, aborted_reason=reason)
        finally:
            self.session = None
            if self.db is not None:
                self.db.close()
                self.db = None
        self.last_result = result
        self.finished.emit(result)
        return result
