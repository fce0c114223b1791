"""What the window shows of a session: the view of :class:`~biofeedback.appmodel.session_control.
SessionControl`.

The model runs the lifecycle and emits events; this class subscribes and updates the session
panel, the patient view, the status line and the alert bar, and adds what only a window has:
the questionnaires asked before and after a session in the patient view, the pain-after dialog,
and finishing a session from the event loop (a failure's message is painted first).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer

from biofeedback.appmodel.patient_screen import PacerSwitch, PatientScreen, patient_screen
from biofeedback.appmodel.session_control import SessionControl
from biofeedback.gui import window_sources
from biofeedback.gui.questionnaire import asks_pain
from biofeedback.gui.session_end_dialog import show_session_end
from biofeedback.gui.session_panel import SessionEvents
from biofeedback.training.protocol import STEP_KINDS
from biofeedback.training.runner import EventType, RunnerEvent

if TYPE_CHECKING:
    from biofeedback.engine import Engine
    from biofeedback.gui.main_window import MainWindow
    from biofeedback.session import RecordingSession, SessionResult
    from biofeedback.training.runner import RunnerState

log = logging.getLogger(__name__)

#: After a session fails, its closing starts this much later, once the message is on screen.
FAILED_FINISH_DELAY_MS = 100
#: Phase kinds the patient view shows as a page or a form (``kind`` in runner events).
STEP_KIND_NAMES = frozenset(str(k) for k in STEP_KINDS)
#: A prompt or a refused answer stays this long before the phase's instruction comes back.
PROMPT_HOLD_S = 10.0


class SessionView(QObject):
    """Subscribes the window to its session model (see the module doc)."""

    def __init__(self, window: MainWindow, control: SessionControl) -> None:
        super().__init__(window)
        self.w, self.control = window, control
        control.questions_first = self.questions_first
        control.busy = lambda: window.questionnaires.asking
        self.prompt, self.prompt_until = "", 0.0
        #: the last session stopped on a failure (the patient view says so until the next one)
        self.stopped = False
        # runner events and failures come on the device thread: queued to the GUI thread
        self.events = SessionEvents(self)
        control.post_event, control.post_failure = self.events.post, self.events.post_failure
        self.events.received.connect(control.handle_event)
        self.events.failed.connect(control.handle_failure)
        control.opened.connect(self._on_opened)
        control.started.connect(self._on_started)
        control.not_started.connect(self._on_not_started)
        control.message.connect(lambda text: window.statusBar().showMessage(text, 10000))
        control.runner_event.connect(self._on_event)
        control.failed.connect(self._on_failed)
        control.finish_due.connect(self._on_finish_due)

    # -- start -----------------------------------------------------------------------------------
    def start(
        self, protocol_name: str, subject: str, pain_before: int | None, ask_due: bool
    ) -> bool:
        """The Start button: the model asks the questionnaires due first, then starts."""
        w = self.w
        if w.live_source is None:
            return False
        if not self.control.running and not w.questionnaires.asking:
            w.prefs.protocol, w.prefs.subject = protocol_name, subject
        isolation = window_sources.isolation_text(w)
        return self.control.begin(
            w.live_source, protocol_name, subject, pain_before, isolation=isolation, ask_due=ask_due
        )

    def questions_first(self, subject: str, then: Callable[[int | None], None]) -> bool:
        """The course's questionnaires due before a session, in the patient view."""
        return self.w.questionnaires.before_start(
            subject, lambda now: None if self.w.closed else then(now)
        )

    def _on_opened(self, session: RecordingSession, engine: Engine, info: Any) -> None:
        window_sources.attach_engine(self.w, engine, info).start(start_engine=False)
        session.add_listener(self.w.streaming.on_session_event)

    def _on_started(self, session: RecordingSession) -> None:
        w = self.w
        w.alert.dismiss()
        w.streaming.listen(session)  # Streaming > Receive LSL markers: stored in the session
        self.stopped, self.prompt_until = False, 0.0
        w.session_panel.set_running(True, guided=session.runner is not None)
        self.show_state()

    def _on_not_started(self, message: str, source: Any) -> None:
        self.w.alert.show_alert("Session not started.", message)
        self.w.start_source(source)

    # -- during ----------------------------------------------------------------------------------
    def show_state(self) -> None:
        """The phase and time in the session panel; the patient view and the sound as the
        runner's state says (outside a session: as the clinician's switches say)."""
        w = self.w
        state = None
        if self.control.running and w.bridge is not None:
            state = self.control.poll()
            w.session_panel.show_state(state, w.bridge.elapsed_s)
        self.apply_screen(state)
        if state is not None and w.audio is not None:
            w.audio.muted = w.mute.isChecked() or not state.play_audio

    def apply_screen(self, state: RunnerState | None = None) -> PatientScreen:
        """What the patient view shows (appmodel.patient_screen), applied in one call; the orb
        and the tone follow its channels, the session clock shows only in a session."""
        w, session = self.w, self.control.session
        runner = session.runner if session is not None and not self.stopped else None
        prompt = self.prompt if time.monotonic() < self.prompt_until else ""
        engine = w.engine
        outputs = engine.pipeline.outputs if engine is not None and engine.pipeline else ()
        switch = PacerSwitch(w.prefs.pacer.visible, w.prefs.pacer.rate_bpm)
        protocol = runner.protocol if runner is not None else None
        shown = state if runner is not None else None
        screen = patient_screen(shown, protocol, switch, outputs, prompt, self.stopped)
        w.patient.show_screen(screen)
        w.live.screen = screen
        clock = screen.show_session_clock or self.control.running  # a free recording too
        w.timer_label.setVisible(clock)
        w.timer_caption.setVisible(clock)
        return screen

    def _hold_prompt(self, text: str) -> None:
        """A message for the patient for PROMPT_HOLD_S, then the phase's own words again."""
        self.prompt, self.prompt_until = text, time.monotonic() + PROMPT_HOLD_S

    def step_done(self, index: int, answers: dict[str, Any], skipped: bool) -> None:
        """The patient pressed Continue, saved a form or skipped it: the runner goes on."""
        w = self.w
        if not self.control.guided:
            w.patient.hide_step()
            return
        try:
            self.control.continue_step(index, answers, skipped)
        except ValueError as exc:  # e.g. an answer longer than the limit: say so, keep the form
            w.patient.step_index = index
            w.patient.set_instruction(str(exc))
            return
        w.patient.hide_step()
        self.show_state()

    def _on_event(self, event: RunnerEvent) -> None:
        w = self.w
        if event.type == EventType.PHASE_STARTED:
            w.statusBar().showMessage(f"Phase: {event.data.get('name', '')}", 6000)
            if "step" in event.data:  # education page, thought record, reflection
                w.patient.show_step(
                    int(event.data["index"]),
                    str(event.data["kind"]),
                    event.data["step"],
                    str(event.data.get("instruction", "")),
                )
                w.set_view("patient")
        elif event.type == EventType.PHASE_ENDED and event.data.get("kind") in STEP_KIND_NAMES:
            w.patient.hide_step()
        elif event.type == EventType.PROMPT:
            text = str(event.data.get("text") or event.data.get("prompt") or "")
            if text:
                self._hold_prompt(text)
                self.show_state()
                w.statusBar().showMessage(text, 10000)
        elif event.type == EventType.WARNING:
            w.statusBar().showMessage(str(event.data.get("message", "")), 15000)

    def _on_failed(self, session_id: int, message: str) -> None:
        """Acquisition has stopped: say so (it stays on screen); the finish follows."""
        w = self.w
        w.alert.show_alert(f"Session {session_id} stopped.", message)
        self.stopped = True
        self.apply_screen()
        w.statusBar().showMessage(f"Session {session_id} stopped: {message}", 30000)

    def _on_finish_due(self, reason: str) -> None:
        # after a failure, let the message be painted first: closing a failed store may wait
        delay = FAILED_FINISH_DELAY_MS if reason else 0
        QTimer.singleShot(delay, lambda: self.finish(reason))

    # -- end -------------------------------------------------------------------------------------
    def finish(self, reason: str = "") -> SessionResult | None:
        """End the session (pain-after asked unless a questionnaire asks it), store it, show
        what happened, then the questionnaires due at the end and the live view again."""
        w, session = self.w, self.control.session
        if session is None:
            return None
        ended = (session.subject_id, session.session_id)
        end_due = [] if w.closed else w.questionnaires.due_at_end(*ended)
        pain_after = None  # asked once: by the pain-nrs questionnaire when that is due now
        if w.pain_prompt is not None and not w.closed and not asks_pain(end_due):
            pain_after = w.pain_prompt()
        result = self.control.finish(reason, pain_after=pain_after)
        assert result is not None
        self._report_end(result)
        if not w.closed:
            w.clinic_sync.session_ended()  # on a worker thread; the next session may start
        w.session_panel.set_running(False)
        # a patient practising alone must not go on as if it were still recorded
        self.stopped = bool(result.error)
        self.apply_screen()
        if w.audio is not None:
            w.audio.muted = w.mute.isChecked()
        if not w.closed:
            w.questionnaires.after_end(
                end_due, ended[0], result.session_id, lambda: self._after_end(result, ended[0])
            )
        return result

    def _after_end(self, result: SessionResult, subject: str | None = None) -> None:
        """After the questionnaires that end a session: its summary (with Open report and
        History), then the live view again."""
        w = self.w
        if w.closed:
            return
        self.apply_screen()  # the questionnaires' own line replaced the patient's
        if w.live_source is not None:
            w.start_source(w.live_source)
        if w.ask_pain:
            who = subject or w.subject()
            self.end_dialog = show_session_end(
                w, result, w.db_path, on_history=lambda: w.show_history_of(who)
            )

    def _report_end(self, result: SessionResult) -> None:
        """Keep a failed session's reason and anything left unstored on screen."""
        alert = self.w.alert
        if result.error:
            detail = f"{result.error.rstrip('.')}. It was saved as interrupted."
            if result.storage_note:
                detail += f" {result.storage_note[0].upper()}{result.storage_note[1:]}."
            alert.show_alert(f"Session {result.session_id} stopped.", detail)
        elif result.storage_note:
            alert.show_alert(f"Session {result.session_id} not fully saved.", result.storage_note)
