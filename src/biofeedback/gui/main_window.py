"""The main window: clinician view (traces, gauges, controls) and the full-screen patient view.

Composition and layout only. The behaviour lives in the application model
(:mod:`biofeedback.appmodel`): targets, markers, the session lifecycle and the preferences; the
window's parts subscribe to its events and send it commands (docs/architecture.md, "The
application model"). The side column is built in gui/window_panels.py, the menus and small
dialogs in gui/window_actions.py, the live redraws in gui/window_live.py and the session's view
in gui/window_session.py.

Wiring: :class:`~biofeedback.gui.bridge.EngineBridge` pulls data on timers; the live view redraws
from the bridge's arrays on ``frame_ready`` (every frame) and ``text_ready`` (a few times a
second) and the banner follows ``status_changed``.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QTimer
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from biofeedback.appmodel.channel_setup import ChannelSetup
from biofeedback.appmodel.markers import Marker, Markers
from biofeedback.appmodel.prefs import Preferences, load_prefs, save_prefs
from biofeedback.appmodel.session_control import STOPPED_BY_CLINICIAN, SessionControl
from biofeedback.appmodel.targets import TargetChange, Targets
from biofeedback.core.types import StreamInfo
from biofeedback.devices.base import Device, DeviceState, DeviceStatus
from biofeedback.engine import Engine
from biofeedback.gui import preload, window_actions, window_sources
from biofeedback.gui.alert_bar import AlertBar
from biofeedback.gui.bridge import EngineBridge, format_elapsed
from biofeedback.gui.clinician_view import ChannelArea, ChannelCard
from biofeedback.gui.patient_view import PatientViewWidget
from biofeedback.gui.questionnaire import SessionQuestionnaires
from biofeedback.gui.reminders import ReminderWatcher
from biofeedback.gui.safety_dialog import SafetyChecklistDialog
from biofeedback.gui.theme import apply_theme
from biofeedback.gui.window_geometry import fit_to_screen, remember_geometry
from biofeedback.gui.window_live import LiveView
from biofeedback.gui.window_panels import build_header, build_side_panel, build_waiting_label
from biofeedback.gui.window_parts import WindowParts
from biofeedback.gui.window_session import SessionView
from biofeedback.gui.window_sources import (
    NOT_CONNECTED_TEXT,
    choose_initial_source,
    detect_board,
    pipeline_settings_for,
    url_of,
)

if TYPE_CHECKING:  # loaded when used, not on the way to the first frame (docs/performance.md)
    from biofeedback.gui.check_signal import CheckSignalDialog
    from biofeedback.session import RecordingSession, SessionResult

__all__ = [
    "NOT_CONNECTED_TEXT",
    "DeviceStatus",
    "MainWindow",
    "SafetyChecklistDialog",
    "choose_initial_source",
    "detect_board",
    "run_app",
]

log = logging.getLogger(__name__)


class MainWindow(QMainWindow, WindowParts):
    """The biofeedback window.

    ``source``: URL or Device to open with :meth:`start` (None: last used, detected board, sim);
    ``safety_check``: the electrical-safety checklist before electrodes (tests pass False);
    ``audio``: the tone (tests pass False or a fake ``audio_backend``); ``remember``: load and
    save the preferences (appmodel/prefs.py).
    """

    def __init__(
        self,
        source: str | Device | None = None,
        *,
        safety_check: bool = True,
        audio: bool = True,
        audio_backend: Any = None,
        remember: bool = True,
        window_s: float = 10.0,
        fast_hz: float = 60.0,
        ask_board: Callable[[str, str], bool] | None = None,
        protocol: str | None = None,
        ask_pain: bool = True,
        db_path: str | None = None,
        pain_prompt: Callable[[], int | None] | None = None,
        confirm: Callable[[str, str], bool] | None = None,
        streaming: dict[str, Any] | None = None,
        ask_outcomes: bool | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle("Biofeedback — muscle relaxation")
        self.remember, self.safety_check = remember, safety_check
        self.window_s, self.fast_hz = window_s, fast_hz
        self.prefs: Preferences = load_prefs() if remember else Preferences()
        if isinstance(source, Device):
            self._initial_source: str | Device = source
        else:
            ask = ask_board or (lambda url, text: window_actions.ask_board(self, url, text))
            self._initial_source = choose_initial_source(source, self.prefs.source, ask)
        self.setup = ChannelSetup.from_dict(self.prefs.channel)
        self.source_url, self.isolation, self.view = "", "", "clinician"
        self.engine: Engine | None = None
        self.bridge: EngineBridge | None = None
        self.live_source: str | Device | None = None
        self.requested_protocol, self.streaming_switches = protocol, streaming
        self.ask_pain, self.db_path, self.closed = ask_pain, db_path, False
        # the course's questionnaires around a session (default: as the pain questions)
        self.ask_outcomes = ask_pain if ask_outcomes is None else ask_outcomes
        # how the pain-after rating and yes/no questions are asked (dialogs; tests pass callables)
        self.pain_prompt = pain_prompt or (
            (lambda: window_actions.ask_pain(self)) if ask_pain else None
        )
        yes_no = lambda t, q: window_actions.ask_yes_no(self, t, q)  # noqa: E731
        self.confirm = confirm or (yes_no if ask_pain else (lambda _t, _q: True))
        # the application model (Qt-free): targets, markers, the session lifecycle
        self.targets = Targets(lambda: self.bridge.latest_index if self.bridge else 0)
        self.markers = Markers(self._newest_index, self._recorder)
        self.session_control = SessionControl(
            self.targets,
            self.markers,
            db_path=db_path,
            make_engine=lambda s: Engine(s, settings=pipeline_settings_for(self.setup)),
            confirm=lambda t, q: self.confirm(t, q),
            stop_live=self._stop_current,
        )
        self.targets.changed.connect(self._on_target_changed)
        self.markers.added.connect(self._on_marker_added)
        self.markers.annotated.connect(lambda m: self.streaming.marker(m.index, m.note))
        # the filters and the traces need scipy.signal and pyqtgraph: loaded in the background
        # after the window is shown, and the first source opens when they are (gui.preload)
        self.preloader = preload.Preloader(parent=self)
        self.preloader.finished.connect(self._on_preloaded)
        self._pending_source: str | Device | None = None
        self.live = LiveView(self)
        self.audio = self.live.make_audio(audio_backend) if audio else None
        self._build_ui()
        window_actions.build_actions(self)
        self.session_view = SessionView(self, self.session_control)
        self.session_events = self.session_view.events
        fit_to_screen(self, self.prefs.geometry)
        self.reminders = ReminderWatcher(
            lambda: self.session_control.subject,
            db_path=self.db_path,
            fallback=lambda text: self.statusBar().showMessage(text, 60_000),
            parent=self,
        )
        if remember:
            self.reminders.start()
        self.clinic_sync.start()  # the configured clinic's background sync (gui/clinic_sync.py)

    # -- construction --------------------------------------------------------------------------
    def _build_ui(self) -> None:
        self.stack = QStackedWidget()
        self.setCentralWidget(self.stack)
        self.clinician = QWidget()
        self.clinician.setObjectName("clinicianView")
        header = build_header(self)  # connection banner, session clock, patient view button
        self.channels_box = QVBoxLayout()
        self.channels_box.setSpacing(8)
        self.waiting_label = build_waiting_label(NOT_CONNECTED_TEXT)
        self.channels_box.addWidget(self.waiting_label, 1)
        # failures that need the user (a session that stopped, no sound): stays until dismissed
        self.alert = AlertBar()
        self.patient = PatientViewWidget()
        self.patient.pacer.set_rate(self.prefs.pacer.rate_bpm)
        self.patient.set_pacer_visible(self.prefs.pacer.visible)
        self.patient.step_done.connect(lambda *a: self.session_view.step_done(*a))
        body = QHBoxLayout()
        body.setSpacing(10)
        body.addWidget(ChannelArea(self.channels_box), 1)
        body.addWidget(build_side_panel(self))
        layout = QVBoxLayout(self.clinician)
        layout.setContentsMargins(12, 10, 12, 8)
        layout.setSpacing(8)
        layout.addLayout(header)
        layout.addWidget(self.alert)
        layout.addLayout(body, 1)
        # the questionnaires due around a session and this week's practice (gui/questionnaire.py)
        self.questionnaires = SessionQuestionnaires(
            self.patient,
            self.db_path,
            enabled=self.ask_outcomes,
            show_view=lambda: self.set_view("patient"),
            report=lambda text: self.alert.show_alert("Questionnaire.", text),
            parent=self,
        )
        self.stack.addWidget(self.clinician)
        self.stack.addWidget(self.patient)
        self.processing_label = QLabel("")
        self.processing_label.setObjectName("muted")
        self.statusBar().addPermanentWidget(self.processing_label)

    # -- sources -------------------------------------------------------------------------------
    def start(self) -> bool:
        """Open the initial source (called once the window is shown)."""
        return self.start_source(self._initial_source)

    def start_source(self, source: str | Device) -> bool:
        """Stop the current source and stream from a new one. False (and why in the banner) if
        the checklist was declined or the source could not be opened. While the processing
        libraries still load, the source waits (:attr:`pending_source`) and this returns True."""
        url = url_of(source)
        if not preload.loaded():
            self.preloader.start()  # loads while the checklist is read; after a failure, again
        if not window_sources.confirm_safety(self, source):
            text = "Not started: the safety checklist was not confirmed."
            self.banner.set_state(DeviceState.IDLE, text)
            return False
        self._stop_current()
        self.banner.set_state(DeviceState.CONNECTING, "", url)
        if not preload.loaded():
            self._pending_source = source
            self.waiting_label.setText(f"Starting {url}…")
            return True
        self._pending_source = None
        return window_sources.open_source(self, source, url)

    @property
    def pending_source(self) -> str | Device | None:
        """The source that opens once the libraries have loaded (None when nothing waits)."""
        return self._pending_source

    def _on_preloaded(self, error: str) -> None:
        source, self._pending_source = self._pending_source, None
        if self.closed or source is None:
            return
        if error:
            self.banner.set_state(DeviceState.ERROR, error)
            self.waiting_label.setText(NOT_CONNECTED_TEXT)
            return
        window_sources.open_source(self, source, url_of(source))

    def _build_cards(self, engine: Engine, info: StreamInfo) -> None:
        self.live.build_cards(engine, info)

    def _stop_current(self) -> None:
        window_sources.stop_current(self)

    def _on_text(self) -> None:
        self.live.on_text()

    def _on_newest(self) -> None:
        self.live.on_newest()

    # -- targets and markers (the model's commands) ---------------------------------------------
    def set_threshold(self, channel: int, value_uv: float, reason: str = "clinician") -> None:
        """Set one channel's target (uV RMS); everything showing it follows the model's event."""
        self.targets.set(channel, value_uv, reason)

    def nudge_thresholds(self, factor: float) -> None:
        """Multiply every channel's target by ``factor`` (keys + and - use 5 %)."""
        self.targets.scale(factor)

    def set_thresholds_from_recent(self, seconds: float = 30.0) -> None:
        """Targets from the last ``seconds`` of signal (the training rule)."""
        bridge = self.bridge
        if bridge is None or bridge.fs_hz <= 0:
            return
        self.targets.from_recent(bridge.recent_envelope(seconds), list(bridge.noise_floor_uv))
        values = ", ".join(f"{v:.1f} µV RMS" for v in self.targets.values_uv)
        self.statusBar().showMessage(f"Target set to {values} (last {seconds:g} s)", 8000)

    def _on_target_changed(self, channel: int, value_uv: float, reason: str) -> None:
        # a running protocol sends its own target changes (session events)
        index = self.bridge.latest_index if self.bridge is not None else 0
        marker = not self.session_control.guided
        self.streaming.threshold(channel, value_uv, reason, index, marker=marker)
        if self.remember and channel < len(self.targets.names):
            self.prefs.thresholds_uv[self.targets.names[channel]] = value_uv

    def add_marker(self, note: str = "") -> Marker | None:
        """Mark the current moment (key M); type a note and press Enter to attach it."""
        return self.markers.add(note)

    def _on_marker_added(self, marker: Marker) -> None:
        self.streaming.marker(marker.index, marker.note)
        when = format_elapsed(self.live.marker_seconds(marker))
        self.statusBar().showMessage(f"Marker at {when}", 4000)

    def marker_text(self, marker: Marker) -> str:
        return self.live.marker_text(marker)

    def _newest_index(self) -> int | None:
        return self.bridge.latest_index if self.bridge is not None else None

    def _recorder(self) -> Any:
        session = self.session
        return session.recorder if session is not None else None

    # -- sessions (the model's lifecycle, shown by gui/window_session.py) -----------------------
    def start_session(
        self,
        protocol_name: str = "",
        subject: str = "",
        pain_before: int | None = None,
        *,
        ask_due: bool = True,
    ) -> bool:
        """Record a session from the current source, guided by a protocol ("" = plain recording);
        False (and why) if it cannot start. Questionnaires due first are asked before it."""
        return self.session_view.start(protocol_name, subject, pain_before, ask_due)

    def toggle_pause(self) -> None:
        self.session_control.toggle_pause()
        self.session_view.show_state()

    def skip_phase(self) -> None:
        self.session_control.skip()
        self.session_view.show_state()

    def request_stop(self) -> None:
        """The Stop button: ask, then end the session early."""
        if self.session_control.confirm_stop():
            self.finish_session(STOPPED_BY_CLINICIAN)

    def finish_session(self, reason: str = "") -> SessionResult | None:
        """End the session, store it, show the summary, go back to the live view."""
        return self.session_view.finish(reason)

    @property
    def session(self) -> RecordingSession | None:
        return self.session_control.session

    @property
    def last_session_result(self) -> SessionResult | None:
        return self.session_control.last_result

    # -- history, course, import, tools ----------------------------------------------------------
    def subject(self) -> str:
        """The subject being worked with (the model's; the last one used when none is typed)."""
        return self.session_control.subject or self.prefs.subject

    def show_history(self) -> None:
        window_actions.open_history(self, self.subject())

    def show_history_of(self, subject: str) -> None:
        window_actions.open_history(self, subject)

    def import_recording(self, path: str | None = None) -> None:
        """Session > Import recording… (gui/import_dialog.py; ``path`` skips the file dialog)."""
        from biofeedback.gui.import_dialog import open_import_dialog

        shown = lambda _sid, who: window_actions.show_imported(self, who)  # noqa: E731
        self.import_dialog = open_import_dialog(self, self.db_path, self.subject(), path, shown)

    def show_course(self, then: str = "") -> None:
        window_actions.open_course(self, self.subject(), then)

    def check_signal(self) -> CheckSignalDialog:
        """Run the doctor's checks on a few seconds of the live source (Tools > Check signal)."""
        from biofeedback.gui.check_signal import open_check_signal

        pending = self._pending_source
        url = self.source_url or (url_of(pending) if pending is not None else "")
        self.check_signal_dialog = open_check_signal(lambda: self.engine, url, self)
        return self.check_signal_dialog

    # -- views -----------------------------------------------------------------------------------
    def toggle_view(self) -> None:
        """Switch between the clinician and the full-screen patient view (F11 / P)."""
        patient = self.view == "patient" or self.patient_screen.on_second_screen
        self.set_view("clinician" if patient else "patient")

    def set_view(self, view: str) -> None:
        """``patient`` (full screen, calm; on a second screen when one is connected and the
        View menu's option is on, this window staying the clinician's) or ``clinician``."""
        if view == "clinician":
            self.patient_screen.back_to_stack()
        if view not in ("patient", "clinician") or view == self.view:
            return
        if view == "patient" and self.patient_screen.show_patient():
            self.patient.pacer.restart()
            return
        if self.view == "clinician":
            remember_geometry(self, self.prefs.geometry)
        self.view = self.prefs.view = view
        patient = view == "patient"
        self.stack.setCurrentWidget(self.patient if patient else self.clinician)
        self.menuBar().setVisible(not patient)
        self.statusBar().setVisible(not patient)
        if patient:
            self.patient.pacer.restart()
            self.showFullScreen()
        else:
            self.showNormal()

    # -- settings ------------------------------------------------------------------------------
    def apply_setup(self, setup: ChannelSetup) -> None:
        """Apply channel settings (processing changes go to the running engine)."""
        window_sources.apply_setup(self, setup)

    def save_settings(self) -> None:
        """Write the preferences (source, channel setup, view, sound, pacer, targets, geometry)."""
        if not self.remember:
            return
        self.prefs.channel = self.setup.as_dict()
        if self.view == "clinician":
            remember_geometry(self, self.prefs.geometry)
        try:
            save_prefs(self.prefs)
        except OSError as exc:
            self.statusBar().showMessage(f"Settings not saved: {exc}", 8000)

    # -- shutdown --------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop sound, timers and the device thread; save settings (idempotent)."""
        if self.closed:
            return
        self.closed = True
        self._pending_source = None
        self.questionnaires.stop()  # what was answered is stored already
        self.clinic_sync.stop()  # a running sync stops between two sessions (resumed next time)
        self.preloader.wait(10.0)  # an import cut short at exit can leave a module half-made
        if self.session is not None:
            self.finish_session("the window was closed")
        self.save_settings()
        if self.audio is not None:
            self.audio.close()
        self._stop_current()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)

    # -- for tests and the benchmark -------------------------------------------------------------
    @property
    def cards(self) -> list[ChannelCard]:
        return self.live.cards

    @property
    def thresholds_uv(self) -> list[float]:
        return self.targets.values_uv

    @property
    def threshold_log(self) -> list[TargetChange]:
        return self.targets.log

    @property
    def threshold_spins(self) -> list[Any]:
        return self.target_box.spins

    @property
    def gauge_states(self) -> list[str]:
        """Current state of every channel's gauge."""
        return [card.gauge.state for card in self.cards]


def run_app(
    source: str | None = None,
    protocol: str | None = None,
    streaming: dict[str, Any] | None = None,
) -> int:
    """Create the application, show the window on the chosen source and run the event loop."""
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication([])
    app.setApplicationName("biofeedback")
    # Ctrl+C in the terminal or a SIGTERM close the window like its close button does (settings
    # saved, a running session stored, the device stopped), instead of a traceback from a slot.
    # The close is queued to the event loop: Python runs a handler between two bytecodes of
    # whatever the main thread is doing, and closing right there deadlocked when that code held
    # a lock the close needs (a SIGTERM while the audio stream was opening).
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: QTimer.singleShot(0, QApplication.closeAllWindows))
    apply_theme(app)
    window = MainWindow(source, protocol=protocol, streaming=streaming)
    window.show()
    if window.prefs.view == "patient":
        window.set_view("patient")
    QTimer.singleShot(0, window.start)
    code = app.exec()
    window.shutdown()
    return int(code)
