"""The main window: clinician view (traces, gauges, controls) and the full-screen patient view.

Wiring: :class:`~biofeedback.gui.bridge.EngineBridge` pulls data on timers; this window redraws
from the bridge's arrays on ``frame_ready`` (every frame) and ``text_ready`` (a few times a second)
and shows connection changes from ``status_changed``. Thresholds live here (one per channel) and
are shared by the gauge, the envelope plot, the patient orb and the audio tone.

Keyboard: F11 or P toggles the patient view (Esc leaves it), M adds a marker (type a note, Enter),
+ / - move the target by 5 %, Ctrl+M mutes the sound, Ctrl+Q quits.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import math
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from biofeedback import config
from biofeedback.core.hardware import BOARDS
from biofeedback.core.types import ChannelKind, StreamInfo
from biofeedback.devices.base import Device, DeviceState, DeviceStatus
from biofeedback.dsp.pipeline import PipelineSettings
from biofeedback.engine import Engine
from biofeedback.errors import BiofeedbackError
from biofeedback.gui import preload
from biofeedback.gui.alert_bar import AlertBar
from biofeedback.gui.audio_feedback import AudioFeedback, AudioMode
from biofeedback.gui.breathing_pacer import DEFAULT_RATE_BPM, MAX_RATE_BPM, MIN_RATE_BPM
from biofeedback.gui.bridge import EngineBridge, format_elapsed
from biofeedback.gui.check_signal import CheckSignalDialog, open_check_signal
from biofeedback.gui.clinic_sync import ClinicSyncControl
from biofeedback.gui.clinician_view import ChannelCard, ConnectionBanner
from biofeedback.gui.device_panel import (
    DEFAULT_SIM_SOURCE,
    ChannelSetup,
    DevicePanel,
    source_for_setup,
)
from biofeedback.gui.layout_rules import PREFERRED_SIZE, start_geometry
from biofeedback.gui.patient_view import PatientViewWidget
from biofeedback.gui.questionnaire import SessionQuestionnaires, asks_pain
from biofeedback.gui.reminders import ReminderWatcher
from biofeedback.gui.safety_dialog import SafetyChecklistDialog, needs_checklist
from biofeedback.gui.session_panel import SessionEvents, SessionPanel, summary_text
from biofeedback.gui.streaming import StreamingControl
from biofeedback.gui.tension_gauge import GaugeState, classify
from biofeedback.gui.theme import apply_theme, font
from biofeedback.gui.wheel_guard import guard_wheel
from biofeedback.session import RecordingSession, SessionResult
from biofeedback.storage.courses import session_course_meta
from biofeedback.storage.database import Database
from biofeedback.training.protocol import STEP_KINDS, load_protocol
from biofeedback.training.runner import EventType, RunnerEvent

log = logging.getLogger(__name__)

#: After a session fails, its closing starts this much later, once the message is on screen.
FAILED_FINISH_DELAY_MS = 100
#: Phase kinds the patient view shows as a page or a form (``kind`` in runner events).
STEP_KIND_NAMES = frozenset(str(k) for k in STEP_KINDS)
#: What the patient view says once a session has stopped on a failure (until the next one).
PATIENT_STOPPED_TEXT = "The session stopped and what was recorded is saved. Press Esc to see why."

#: Seconds of signal used to propose a first target when none is remembered for a channel.
AUTO_THRESHOLD_S = 5.0
#: First target: this fraction of the median resting RMS, and at least FLOOR_FACTOR x noise floor
#: (the training rule of docs/clinical-background.md, applied to the first seconds).
AUTO_THRESHOLD_FRACTION = 0.9
FLOOR_FACTOR = 1.5
THRESHOLD_STEP = 1.05
SETTINGS_KEY = "gui"

#: The electrical-safety checklist was accepted in this program run (asked once per run).
_safety_accepted_this_run = False


@dataclass
class Marker:
    """A clinician marker at an absolute sample index, with an optional note."""

    index: int
    note: str = ""


@dataclass
class ThresholdChange:
    """One entry of the threshold log: who changed which channel's target, when, to what."""

    index: int
    channel: int
    value_uv: float
    reason: str


def detect_board() -> tuple[str, str] | None:
    """(source URL, description) for an Arduino-class board on a USB serial port, or None.

    Only lists ports (fast, opens nothing); the URL is ``auto``, which probes the port when the
    window connects and picks the firmware's framed protocol or a stock sketch's text lines.
    Uses ``biofeedback.devices.discovery`` when it is installed; never raises.
    """
    try:
        discovery = importlib.import_module("biofeedback.devices.discovery")
        ports = list(discovery.candidate_ports())
    except Exception as exc:  # no pyserial, no permission: simply nothing detected
        log.info("board detection skipped: %s: %s", type(exc).__name__, exc)
        return None
    if not ports:
        return None
    return "auto", ports[0].label()


def choose_initial_source(
    cli_source: str | None,
    remembered: str | None,
    ask_board: Callable[[str, str], bool] | None = None,
    find_board: Callable[[], tuple[str, str] | None] = detect_board,
) -> str:
    """The source to open at start: the command line's, else the last used one, else a detected
    board (if ``ask_board(url, description)`` agrees), else the simulated sensor."""
    if cli_source:
        return cli_source
    if remembered:
        return remembered
    found = find_board()
    if found is not None and (ask_board is None or ask_board(*found)):
        return found[0]
    return DEFAULT_SIM_SOURCE


def pipeline_settings_for(
    setup: ChannelSetup, base: PipelineSettings | None = None
) -> PipelineSettings:
    """Pipeline settings carrying the clinician's choices (mains, high-pass, RMS window, gain pot)."""
    base = base or PipelineSettings()
    return dataclasses.replace(
        base,
        mains_hz=setup.mains_setting,
        highpass_hz=float(setup.highpass_hz),
        rms_window_s=float(setup.rms_window_ms) / 1000.0,
        env_pot_kohm=setup.pot_setting,
    )


def processing_text(settings: PipelineSettings, info: StreamInfo | None) -> str:
    """One line stating the pass band, notch and RMS window (shown with every trace)."""
    lp = float(settings.lowpass_hz)
    if info is not None:
        lp = min(lp, 0.45 * float(info.fs_hz))
    parts = [f"band-pass {float(settings.highpass_hz):g}–{lp:g} Hz"]
    if settings.mains_hz == "auto":
        parts.append("notch auto 50/60 Hz")
    elif settings.mains_hz:
        parts.append(f"notch {float(settings.mains_hz):g} Hz")
    parts.append(f"RMS {float(settings.rms_window_s) * 1000:g} ms")
    if info is not None:
        parts.append(f"{float(info.fs_hz):g} Hz")
    return " · ".join(parts)


def output_text(kind: ChannelKind, settings: PipelineSettings, info: StreamInfo) -> str:
    """What a channel's numbers are: signal path and processing, for the card header."""
    if kind == ChannelKind.ENV:
        return f"MyoWare ENV (on-board envelope) · RMS {float(settings.rms_window_s) * 1000:g} ms"
    return "MyoWare RAW · " + processing_text(settings, info)


NOT_CONNECTED_TEXT = "Not connected: choose a source on the right and press Connect."


class MainWindow(QMainWindow):
    """The biofeedback window.

    Parameters
    ----------
    source
        URL or Device to open with :meth:`start`; None chooses (last used, detected board, sim).
    safety_check
        Show the electrical-safety checklist before acquiring from electrodes (tests pass False).
    audio
        Enable audio feedback (tests usually pass False or a fake ``audio_backend``).
    remember
        Load and save settings (source, channel setup, view, audio) in the user data dir.
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
        self.remember = remember
        self.safety_check = safety_check
        self.window_s = window_s
        self.fast_hz = fast_hz
        self.prefs: dict[str, Any] = (
            dict(config.load_settings().get(SETTINGS_KEY, {})) if remember else {}
        )
        if isinstance(source, Device):
            self._initial_source: str | Device = source
        else:
            self._initial_source = choose_initial_source(
                source, self.prefs.get("source"), ask_board or self._ask_board
            )
        self.setup = ChannelSetup.from_dict(self.prefs.get("channel"))
        self.source_url = ""
        self.engine: Engine | None = None
        self.bridge: EngineBridge | None = None
        self.cards: list[ChannelCard] = []
        self.thresholds_uv: list[float] = []
        self._auto_threshold_pending: list[bool] = []
        self.threshold_log: list[ThresholdChange] = []
        self.markers: list[Marker] = []
        self.isolation = ""
        self.view = "clinician"
        self.ask_pain = ask_pain
        # the course's questionnaires around a session (default: as the pain questions)
        self.ask_outcomes = ask_pain if ask_outcomes is None else ask_outcomes
        # how the pain-after rating and yes/no questions are asked (dialogs; tests pass callables)
        self.pain_prompt = pain_prompt or (self._ask_pain_dialog if ask_pain else None)
        self.confirm = confirm or (self._ask_yes_no if ask_pain else (lambda _t, _q: True))
        self.db_path = db_path
        self.session: RecordingSession | None = None
        self.session_db: Database | None = None
        self.last_session_result: SessionResult | None = None
        self.session_events = SessionEvents(self)
        self.session_events.received.connect(self._on_session_event)
        self.session_events.failed.connect(self._on_session_failed)
        self._source: str | Device | None = None
        self._requested_protocol = protocol
        self._streaming_switches = streaming  # gui --lsl/--osc: the Streaming menu switched on
        self._unsaved_marker: Marker | None = None
        self._prompt_until = 0.0
        self._finish_scheduled = False
        self._closed = False
        self._audio_reported = False
        # the filters and the traces need scipy.signal and pyqtgraph: loaded in the background
        # after the window is shown, and the first source opens when they are (gui.preload)
        self.preloader = preload.Preloader(parent=self)
        self.preloader.finished.connect(self._on_preloaded)
        self._pending_source: str | Device | None = None

        self.audio = self._make_audio(audio_backend) if audio else None
        self._build_ui()
        self._build_actions()
        self._fit_to_screen()
        self.reminders = self._make_reminders(start=remember)
        self.clinic_sync.start()  # the configured clinic's background sync (gui/clinic_sync.py)

    # -- construction --------------------------------------------------------------------------
    def _fit_to_screen(self) -> None:
        """Start at 1280x800 or 92 % of the screen's free area if smaller, centred; maximized
        when even the window's minimum does not fit (gui/layout_rules.py)."""
        screen = self.screen() or QApplication.primaryScreen()
        if screen is None:
            self.resize(*PREFERRED_SIZE)
            return
        area = screen.availableGeometry()
        hint = self.minimumSizeHint()
        geometry = start_geometry(
            (area.x(), area.y(), area.width(), area.height()), (hint.width(), hint.height())
        )
        if geometry.maximized:
            self.setWindowState(self.windowState() | Qt.WindowState.WindowMaximized)
            return
        self.setGeometry(geometry.x, geometry.y, geometry.width, geometry.height)

    def _make_reminders(self, start: bool) -> ReminderWatcher:
        """The subject's daily home-practice reminder (set in the history dialog)."""
        reminders = ReminderWatcher(
            lambda: self.session_panel.subject.text().strip(),
            db_path=self.db_path,
            fallback=lambda text: self.statusBar().showMessage(text, 60_000),
            parent=self,
        )
        if start:
            reminders.start()
        return reminders

    def _make_audio(self, backend: Any) -> AudioFeedback:
        """The tone generator, set up as remembered (mode, volume, mute)."""
        audio = AudioFeedback(self._audio_level, backend=backend)
        prefs_audio = self.prefs.get("audio", {})
        try:
            audio.mode = AudioMode(prefs_audio.get("mode", AudioMode.TONE))
        except ValueError:
            log.info("remembered sound mode %r is unknown: tone", prefs_audio.get("mode"))
            audio.mode = AudioMode.TONE
        audio.volume = float(prefs_audio.get("volume", 0.5))
        audio.muted = bool(prefs_audio.get("muted", False))
        return audio

    def _build_ui(self) -> None:
        self.stack = QStackedWidget()
        self.setCentralWidget(self.stack)

        # clinician view
        self.clinician = QWidget()
        self.clinician.setObjectName("clinicianView")
        self.banner = ConnectionBanner()
        self.timer_label = QLabel("00:00")
        self.timer_label.setFont(font(20, bold=True))
        self.timer_label.setToolTip("Time since acquisition started (sample clock)")
        timer_caption = QLabel("session")
        timer_caption.setObjectName("muted")
        self.patient_button = QPushButton("Patient view  (F11)")
        self.patient_button.clicked.connect(self.toggle_view)
        header = QHBoxLayout()
        header.setSpacing(14)
        header.addWidget(self.banner, 1)
        header.addWidget(timer_caption)
        header.addWidget(self.timer_label)
        header.addWidget(self.patient_button)

        self.channels_box = QVBoxLayout()
        self.channels_box.setSpacing(8)
        self.waiting_label = QLabel(NOT_CONNECTED_TEXT)
        self.waiting_label.setObjectName("muted")
        self.waiting_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.waiting_label.setWordWrap(True)  # "Starting <long url>…" wraps, never widens
        self.waiting_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.channels_box.addWidget(self.waiting_label, 1)

        body = QHBoxLayout()
        body.setSpacing(10)
        body.addLayout(self.channels_box, 1)
        body.addWidget(self._build_side_panel())

        # failures that need the user (a session that stopped, no sound): stays until dismissed
        self.alert = AlertBar()

        layout = QVBoxLayout(self.clinician)
        layout.setContentsMargins(12, 10, 12, 8)
        layout.setSpacing(8)
        layout.addLayout(header)
        layout.addWidget(self.alert)
        layout.addLayout(body, 1)

        # patient view
        self.patient = PatientViewWidget()
        self.patient.pacer.set_rate(float(self.prefs.get("pacer_bpm", DEFAULT_RATE_BPM)))
        self.patient.set_pacer_visible(bool(self.prefs.get("pacer_visible", True)))
        self.patient.step_done.connect(self._on_step_done)
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

    def _build_side_panel(self) -> QWidget:
        """The clinician's side column: one group box per concern, in a scroll area."""
        boxes = (
            self._build_session_box(),
            self._build_target_box(),
            self._build_sound_box(),
            self._build_pacer_box(),
            self._build_marker_box(),
            self._build_device_box(),
        )
        panel = QWidget()
        col = QVBoxLayout(panel)
        col.setContentsMargins(0, 0, 4, 0)
        col.setSpacing(6)
        for box in boxes:
            col.addWidget(box)
        col.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(panel)
        scroll.setWidgetResizable(True)
        scroll.setFixedWidth(310)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        guard_wheel(panel)  # the wheel scrolls the panel, not the field under the pointer
        return scroll

    def _build_session_box(self) -> QGroupBox:
        """Protocol and subject choice, start/pause/skip/stop, and the history button."""
        session_box = QGroupBox("Session")
        self.session_panel = SessionPanel(
            protocol=self._requested_protocol or str(self.prefs.get("protocol", "")),
            subject=str(self.prefs.get("subject", "")),
        )
        if self._requested_protocol and not self.session_panel.select_protocol(
            self._requested_protocol
        ):
            self.statusBar().showMessage(
                f"No protocol named {self._requested_protocol!r}: see 'biofeedback protocols list'",
                10000,
            )
        self.session_panel.start_requested.connect(self.start_session)
        self.session_panel.pause_toggled.connect(self.toggle_pause)
        self.session_panel.skip_requested.connect(self.skip_phase)
        self.session_panel.stop_requested.connect(self.request_stop)
        session_layout = QVBoxLayout(session_box)
        session_layout.addWidget(self.session_panel)
        self.history_button = QPushButton("History and progress…  (Ctrl+H)")
        self.history_button.clicked.connect(self.show_history)
        session_layout.addWidget(self.history_button)
        return session_box

    def _build_target_box(self) -> QGroupBox:
        """One threshold spin box per channel (filled in later) and "set target from last 30 s"."""
        self.threshold_spins: list[QDoubleSpinBox] = []
        self.threshold_form = QFormLayout()
        self.baseline_button = QPushButton("Set target from last 30 s")
        self.baseline_button.setToolTip(
            f"{AUTO_THRESHOLD_FRACTION:.0%} of the median RMS of the last 30 s "
            f"(at least {FLOOR_FACTOR:g} × noise floor)"
        )
        self.baseline_button.clicked.connect(self.set_thresholds_from_recent)
        target_box = QGroupBox("Target (µV RMS)")
        target_layout = QVBoxLayout(target_box)
        target_layout.addLayout(self.threshold_form)
        target_layout.addWidget(self.baseline_button)
        return target_box

    def _build_sound_box(self) -> QGroupBox:
        """Audio feedback mode, volume and mute (disabled when no audio output exists)."""
        sound_box = QGroupBox("Sound")
        self.audio_mode = QComboBox()
        _compact(self.audio_mode)
        for mode in AudioMode:
            self.audio_mode.addItem(mode.label, mode.value)
        self.volume = QSlider(Qt.Orientation.Horizontal)
        self.volume.setRange(0, 100)
        self.mute = QCheckBox("Mute  (Ctrl+M)")
        if self.audio is not None:
            self.audio_mode.setCurrentIndex(max(0, self.audio_mode.findData(self.audio.mode.value)))
            self.volume.setValue(round(self.audio.volume * 100))
            self.mute.setChecked(self.audio.muted)
        else:
            sound_box.setEnabled(False)
        self.audio_mode.currentIndexChanged.connect(self._on_audio_changed)
        self.volume.valueChanged.connect(self._on_audio_changed)
        self.mute.toggled.connect(self._on_audio_changed)
        sound_form = QFormLayout(sound_box)
        sound_form.addRow(self.audio_mode)
        sound_form.addRow("Volume", self.volume)
        sound_form.addRow(self.mute)
        return sound_box

    def _build_pacer_box(self) -> QGroupBox:
        """Breathing pacer: shown in the patient view or not, and its rate."""
        pacer_box = QGroupBox("Breathing pacer")
        self.pacer_visible = QCheckBox("Show in patient view")
        self.pacer_visible.setChecked(bool(self.prefs.get("pacer_visible", True)))
        self.pacer_rate = QDoubleSpinBox()
        self.pacer_rate.setRange(MIN_RATE_BPM, MAX_RATE_BPM)
        self.pacer_rate.setSingleStep(0.5)
        self.pacer_rate.setDecimals(1)
        self.pacer_rate.setSuffix(" breaths/min")
        self.pacer_rate.setValue(float(self.prefs.get("pacer_bpm", DEFAULT_RATE_BPM)))
        self.pacer_visible.toggled.connect(self._on_pacer_changed)
        self.pacer_rate.valueChanged.connect(self._on_pacer_changed)
        pacer_form = QFormLayout(pacer_box)
        pacer_form.addRow(self.pacer_visible)
        pacer_form.addRow("Rate", self.pacer_rate)
        return pacer_box

    def _build_marker_box(self) -> QGroupBox:
        """Add a marker, annotate the last one, and the list of markers so far."""
        marker_box = QGroupBox("Markers")
        self.marker_button = QPushButton("Add marker  (M)")
        self.marker_button.clicked.connect(lambda: self.add_marker())
        self.marker_note = QLineEdit()
        self.marker_note.setPlaceholderText("note for the last marker, Enter")
        self.marker_note.returnPressed.connect(self._on_marker_note)
        self.marker_list = QListWidget()
        self.marker_list.setMaximumHeight(90)
        marker_layout = QVBoxLayout(marker_box)
        marker_layout.addWidget(self.marker_button)
        marker_layout.addWidget(self.marker_note)
        marker_layout.addWidget(self.marker_list)
        return marker_box

    def _build_device_box(self) -> QGroupBox:
        """Source (device) choice and channel setup."""
        device_box = QGroupBox("Source and channel")
        recent = [u for u in self.prefs.get("recent_sources", []) if isinstance(u, str)]
        self.device_panel = DevicePanel(self.setup, recent)
        self.device_panel.source_requested.connect(self.start_source)
        self.device_panel.setup_applied.connect(self.apply_setup)
        QVBoxLayout(device_box).addWidget(self.device_panel)
        return device_box

    def _build_actions(self) -> None:
        def action(text: str, keys: list[str], slot: Callable[[], Any]) -> QAction:
            act = QAction(text, self)
            act.setShortcuts([QKeySequence(k) for k in keys])
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            act.triggered.connect(slot)
            self.addAction(act)
            return act

        self.patient_action = action("Patient view", ["F11", "P"], self.toggle_view)
        self.leave_action = action(
            "Back to clinician view", ["Esc"], lambda: self.set_view("clinician")
        )
        self.marker_action = action("Add marker", ["M"], lambda: self.add_marker())
        self.raise_action = action(
            "Raise target 5 %", ["+", "="], lambda: self.nudge_thresholds(THRESHOLD_STEP)
        )
        self.lower_action = action(
            "Lower target 5 %", ["-"], lambda: self.nudge_thresholds(1 / THRESHOLD_STEP)
        )
        self.mute_action = action("Mute sound", ["Ctrl+M"], lambda: self.mute.toggle())
        self.quit_action = action("Quit", ["Ctrl+Q"], self.close)
        self.history_action = action("History and progress", ["Ctrl+H"], self.show_history)
        self.shortcuts_action = action("Keyboard shortcuts", ["F1"], self._show_shortcuts)
        self.about_action = QAction("About", self)
        self.about_action.triggered.connect(self._show_about)
        self.check_signal_action = QAction("Check signal…", self)
        self.check_signal_action.triggered.connect(self.check_signal)
        self.import_action = QAction("Import recording…", self)
        self.import_action.triggered.connect(lambda: self.import_recording())
        # Course: the subject's course of treatment (gui/course_dialog.py)
        self.course_action = action("Course…", ["Ctrl+K"], lambda: self.show_course())
        # labelled by the data dir's station role when the menu opens (_label_course_menu)
        self.course_export_action = QAction("Send to clinician…", self)
        self.course_export_action.triggered.connect(lambda: self.show_course("export_bundle"))
        self.course_import_action = QAction("Import from clinic…", self)
        self.course_import_action.triggered.connect(lambda: self.show_course("import_bundle"))

        menu = self.menuBar()
        view_menu = menu.addMenu("&View")
        view_menu.addAction(self.patient_action)
        view_menu.addAction(self.leave_action)
        session_menu = menu.addMenu("&Session")
        for act in (
            self.marker_action,
            self.raise_action,
            self.lower_action,
            self.mute_action,
            self.history_action,
            self.import_action,
        ):
            session_menu.addAction(act)
        session_menu.addSeparator()
        session_menu.addAction(self.quit_action)
        course_menu = menu.addMenu("&Course")
        course_menu.aboutToShow.connect(self._label_course_menu)
        for act in (self.course_action, self.course_export_action, self.course_import_action):
            course_menu.addAction(act)
        menu.addMenu("&Tools").addAction(self.check_signal_action)
        # LSL and OSC out: off until switched on, remembered (gui/streaming.py)
        self.streaming = StreamingControl(
            self, self.prefs, self.alert, switch_on=self._streaming_switches
        )
        menu.addMenu(self.streaming.menu)
        self.statusBar().addPermanentWidget(self.streaming.label)
        # the clinic: Sync now, Clinic…, and the sync state in the status bar
        self.clinic_sync = ClinicSyncControl(self, self.db_path, self.alert)
        menu.addMenu(self.clinic_sync.menu)
        self.statusBar().addPermanentWidget(self.clinic_sync.label)
        help_menu = menu.addMenu("&Help")
        help_menu.addAction(self.shortcuts_action)
        help_menu.addAction(self.about_action)

    # -- sources -------------------------------------------------------------------------------
    def start(self) -> bool:
        """Open the initial source (called once the window is shown)."""
        return self.start_source(self._initial_source)

    def start_source(self, source: str | Device) -> bool:
        """Stop the current source and stream from a new one. Returns False (and says why in the
        banner) if the checklist was declined or the source could not be opened.

        Right after start-up the signal-processing libraries may still be loading: then the
        source opens when they are (the banner says "Connecting…" meanwhile) and this returns
        True; :attr:`pending_source` is the source waiting.
        """
        url = _url_of(source)
        if not preload.loaded():
            # loads while the safety checklist is read; after a failed load, tries again
            self.preloader.start()
        if not self._confirm_safety(url):
            self.banner.set_state(
                DeviceState.IDLE, "Not started: the safety checklist was not confirmed."
            )
            return False
        self._stop_current()
        self.banner.set_state(DeviceState.CONNECTING, "", url)
        if not preload.loaded():
            self._pending_source = source
            self.waiting_label.setText(f"Starting {url}…")
            return True
        self._pending_source = None
        return self._open_source(source, url)

    @property
    def pending_source(self) -> str | Device | None:
        """The source that opens once the libraries have loaded (None when nothing waits)."""
        return self._pending_source

    def _on_preloaded(self, error: str) -> None:
        source, self._pending_source = self._pending_source, None
        if self._closed or source is None:
            return
        url = _url_of(source)
        if error:
            self.banner.set_state(DeviceState.ERROR, error)
            self.waiting_label.setText(NOT_CONNECTED_TEXT)
            return
        self._open_source(source, url)

    def _open_source(self, source: str | Device, url: str) -> bool:
        QApplication.processEvents()
        engine: Engine | None = None
        try:
            engine = Engine(source, settings=pipeline_settings_for(self.setup))
            info = engine.open()
        except (BiofeedbackError, OSError, ImportError) as exc:
            # ImportError: a source type whose optional module is not installed in this build
            if engine is not None:
                engine.close()
            self.banner.set_state(DeviceState.ERROR, f"could not open {url}: {exc}")
            self.waiting_label.setText(NOT_CONNECTED_TEXT)
            self.device_panel.set_source(url)
            return False
        if info.extra.get("notes"):  # how a replayed file was read
            self.statusBar().showMessage(f"{url}: {info.extra['notes']}", 20000)
        self.engine = engine
        self.source_url = url
        self._source = source
        self.device_panel.set_source(url)
        bridge = EngineBridge(engine, window_s=self.window_s, fast_hz=self.fast_hz, parent=self)
        bridge.frame_ready.connect(self._on_frame)
        bridge.text_ready.connect(self._on_text)
        bridge.status_changed.connect(self._on_status)
        bridge.newest_changed.connect(self._on_newest)
        self.bridge = bridge
        self._build_cards(engine, info)
        self.streaming.attach(engine, self.thresholds_uv)
        self._remember_source(url)
        try:
            bridge.start()
        except (BiofeedbackError, OSError) as exc:
            self.banner.set_state(DeviceState.ERROR, f"could not start {url}: {exc}")
            return False
        # the app log says which source the window opened (the bundle's smoke check waits for it)
        log.info("window streaming from %s", url)
        self._start_audio()
        return True

    def _confirm_safety(self, url: str) -> bool:
        global _safety_accepted_this_run
        if not self.safety_check or not needs_checklist(url) or _safety_accepted_this_run:
            return True
        dialog = SafetyChecklistDialog(parent=self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return False
        _safety_accepted_this_run = True
        self.isolation = dialog.isolation
        return True

    def _stop_current(self) -> None:
        self.streaming.detach()
        if self.bridge is not None:
            self.bridge.close()
            self.bridge.deleteLater()
            self.bridge = None
        elif self.engine is not None:
            self.engine.close()
        self.engine = None

    def _build_cards(self, engine: Engine, info: StreamInfo) -> None:
        for card in self.cards:
            self.channels_box.removeWidget(card)
            card.deleteLater()
        self.cards = []
        self.waiting_label.hide()
        assert engine.pipeline is not None
        outputs = engine.pipeline.outputs
        remembered = self.prefs.get("thresholds_uv", {})
        if not isinstance(remembered, dict):
            remembered = {}
        self.thresholds_uv = []
        self._auto_threshold_pending = []
        while self.threshold_form.rowCount():
            self.threshold_form.removeRow(0)
        self.threshold_spins = []
        self.processing_label.setText(processing_text(engine.settings, info))
        self.device_panel.set_stream(info)
        for i, out in enumerate(outputs):
            name = str(out.name)
            card = ChannelCard(
                name,
                output_text(out.kind, engine.settings, info),
                self.window_s,
                show_raw=out.kind != ChannelKind.ENV,
            )
            if out.warning:
                card.set_warning(out.warning)
            card.plot.threshold_changed.connect(
                lambda v, c=i: self.set_threshold(c, v, "clinician")
            )
            card.gauge.threshold_changed.connect(
                lambda v, c=i: self.set_threshold(c, v, "clinician")
            )
            self.channels_box.addWidget(card, 1)
            self.cards.append(card)
            value = remembered.get(name)
            usable = value if isinstance(value, (int, float)) and value > 0 else None
            self.thresholds_uv.append(5.0 if usable is None else float(usable))
            self._auto_threshold_pending.append(usable is None)
            spin = QDoubleSpinBox()
            spin.setRange(0.1, 5000.0)
            spin.setDecimals(1)
            spin.setSuffix(" µV")
            spin.setKeyboardTracking(False)
            spin.setValue(self.thresholds_uv[-1])
            spin.valueChanged.connect(lambda v, c=i: self.set_threshold(c, v, "clinician"))
            self.threshold_form.addRow(name, spin)
            self.threshold_spins.append(spin)
            self._show_threshold(i)

    # -- thresholds ----------------------------------------------------------------------------
    def set_threshold(self, channel: int, value_uv: float, reason: str = "clinician") -> None:
        """Set one channel's target (uV RMS) everywhere it is shown, and log the change."""
        if not (0 <= channel < len(self.thresholds_uv)) or not (
            value_uv > 0 and math.isfinite(value_uv)
        ):
            return
        value_uv = round(float(value_uv), 2)
        if (
            abs(self.thresholds_uv[channel] - value_uv) < 1e-9
            and not self._auto_threshold_pending[channel]
        ):
            return
        self.thresholds_uv[channel] = value_uv
        self._auto_threshold_pending[channel] = False
        session = self.session
        if session is not None and session.runner is not None and reason == "clinician":
            try:
                events = session.runner.override_threshold(value_uv, "set in the window")
            except ValueError:
                events = []
            session.apply(events)
        index = self.bridge.latest_index if self.bridge is not None else 0
        self.threshold_log.append(ThresholdChange(index, channel, value_uv, reason))
        # a running protocol sends its own target changes (session events)
        protocol_runs = session is not None and session.runner is not None
        self.streaming.threshold(channel, value_uv, reason, index, marker=not protocol_runs)
        self._show_threshold(channel)
        if self.remember:
            thresholds = dict(self.prefs.get("thresholds_uv", {}) or {})
            thresholds[self.cards[channel].name] = value_uv
            self.prefs["thresholds_uv"] = thresholds

    def _show_threshold(self, channel: int) -> None:
        value = self.thresholds_uv[channel]
        card = self.cards[channel]
        card.gauge.set_threshold(value)
        card.plot.set_threshold(value)
        spin = self.threshold_spins[channel]
        spin.blockSignals(True)
        spin.setValue(value)
        spin.blockSignals(False)

    def nudge_thresholds(self, factor: float) -> None:
        """Multiply every channel's target by ``factor`` (keys + and -)."""
        for c, value in enumerate(self.thresholds_uv):
            self.set_threshold(c, value * factor, "clinician")

    def set_thresholds_from_recent(
        self, seconds: float = 30.0, reason: str = "from recent signal"
    ) -> None:
        """Target = 90 % of the median RMS over the last ``seconds`` (at least 1.5 x noise floor)."""
        bridge = self.bridge
        if bridge is None or bridge.fs_hz <= 0:
            return
        recent = bridge.recent_envelope(seconds)
        for c in range(bridge.n_outputs):
            values = recent[c]
            values = values[np.isfinite(values)]
            if values.size == 0:
                continue
            target = AUTO_THRESHOLD_FRACTION * float(np.median(values))
            floor = float(bridge.noise_floor_uv[c]) if c < len(bridge.noise_floor_uv) else math.nan
            if math.isfinite(floor):
                target = max(target, FLOOR_FACTOR * floor)
            if target > 0:
                self.set_threshold(c, target, reason)
        self.statusBar().showMessage(
            "Target set to "
            + ", ".join(f"{v:.1f} µV RMS" for v in self.thresholds_uv)
            + f" ({AUTO_THRESHOLD_FRACTION:.0%} of the median of the last {seconds:g} s)",
            8000,
        )

    # -- markers -------------------------------------------------------------------------------
    def add_marker(self, note: str = "") -> Marker | None:
        """Mark the current moment (key M); type a note and press Enter to attach it."""
        if self.bridge is None:
            return None
        marker = Marker(self.bridge.latest_index, note)
        self.streaming.marker(marker.index, note)
        self._store_marker()
        self.markers.append(marker)
        self._unsaved_marker = marker
        if note:
            self._store_marker()
        self.marker_list.insertItem(0, self._marker_text(marker))
        if not note and self.view == "clinician":
            self.marker_note.clear()
            self.marker_note.setFocus()
        self.statusBar().showMessage(
            f"Marker at {format_elapsed(self._marker_seconds(marker))}", 4000
        )
        return marker

    def _marker_seconds(self, marker: Marker) -> float:
        bridge = self.bridge
        if bridge is None or bridge.first_index is None or bridge.fs_hz <= 0:
            return 0.0
        return (marker.index - bridge.first_index) / bridge.fs_hz

    def _marker_text(self, marker: Marker) -> str:
        text = format_elapsed(self._marker_seconds(marker))
        return f"{text}  {marker.note}" if marker.note else text

    def _on_marker_note(self) -> None:
        if self.markers:
            self.markers[-1].note = self.marker_note.text().strip()
            if self.markers[-1].note:  # sent again with its note, at the marker's sample
                self.streaming.marker(self.markers[-1].index, self.markers[-1].note)
            item = self.marker_list.item(0)
            if item is not None:
                item.setText(self._marker_text(self.markers[-1]))
        self._store_marker()
        self.marker_note.clear()
        self.marker_note.clearFocus()

    def _store_marker(self) -> None:
        """Write the newest marker (with its note, if one was typed) into the session store."""
        marker, self._unsaved_marker = self._unsaved_marker, None
        session = self.session
        if marker is not None and session is not None and session.recorder is not None:
            session.recorder.add_marker(marker.index, "marker", marker.note)

    # -- guided sessions -----------------------------------------------------------------------
    def start_session(
        self,
        protocol_name: str = "",
        subject: str = "",
        pain_before: int | None = None,
        *,
        ask_due: bool = True,
    ) -> bool:
        """Record a session from the current source, guided by a protocol ("" = plain recording).

        The source is reopened so the session starts on a fresh sample clock; the runner and the
        recorder are wired by :class:`~biofeedback.session.RecordingSession`, as in
        ``biofeedback record``. Returns False (and says why) if it cannot start. When the
        subject's course asks questionnaires before this session (and ``ask_due``), the patient
        view asks them first and the session starts after them (True at once, ``session`` set
        then).
        """
        if self.questionnaires.asking:
            self.statusBar().showMessage(
                "The patient is answering the questionnaires due first (patient view, F11); "
                "the session starts after them.",
                10000,
            )
            return False
        if self.session is not None or self._source is None:
            return False
        source = self._source
        try:
            protocol = load_protocol(protocol_name) if protocol_name else None
        except BiofeedbackError as exc:
            self.statusBar().showMessage(str(exc), 15000)
            return False
        self.prefs["protocol"] = protocol_name
        self.prefs["subject"] = subject
        if ask_due and self.questionnaires.before_start(
            subject,
            lambda now: self._start_after_questions(protocol_name, subject, pain_before, now),
        ):
            return True
        self._stop_current()
        meta: dict[str, Any] = {}
        if pain_before is not None:
            meta["pain_before"] = pain_before
        isolation = self.isolation or (
            "no electrodes (simulated or replayed source)"
            if not needs_checklist(self.source_url)
            else ""
        )
        if isolation:
            meta["isolation_mode"] = isolation
        engine: Engine | None = None
        db: Database | None = None
        try:
            engine = Engine(source, settings=pipeline_settings_for(self.setup))
            info = engine.open()
            db = Database(self.db_path)
            db.recover_interrupted()
            meta.update(session_course_meta(db, subject or None))  # open course, clinic/home
            session = RecordingSession(engine, db, protocol, subject_id=subject or None, meta=meta)
        except (BiofeedbackError, OSError) as exc:
            self._session_not_started(engine, db, source, exc)
            return False
        session.add_listener(self.session_events.post)
        session.add_failure_listener(self.session_events.post_failure)
        bridge = EngineBridge(engine, window_s=self.window_s, fast_hz=self.fast_hz, parent=self)
        bridge.frame_ready.connect(self._on_frame)
        bridge.text_ready.connect(self._on_text)
        bridge.status_changed.connect(self._on_status)
        bridge.newest_changed.connect(self._on_newest)
        self.engine, self.bridge = engine, bridge
        self.session, self.session_db = session, db
        self._finish_scheduled = False
        self._build_cards(engine, info)
        self.streaming.attach(engine, self.thresholds_uv)
        session.add_listener(self.streaming.on_session_event)
        bridge.start(start_engine=False)
        try:
            session.start()
        except (BiofeedbackError, OSError) as exc:  # e.g. a read-only or damaged data folder
            self.session, self.session_db = None, None
            self._session_not_started(None, db, source, exc)
            return False
        self.alert.dismiss()
        self.streaming.listen(session)  # Streaming > Receive LSL markers: stored in the session
        self.patient.set_instruction("")
        self.markers.clear()
        self.marker_list.clear()
        self.session_panel.set_running(True)
        self._show_session_state()
        name = protocol.name if protocol is not None else "recording"
        self.statusBar().showMessage(f"Session {session.session_id} started: {name}", 8000)
        return True

    def _start_after_questions(
        self, protocol_name: str, subject: str, pain_before: int | None, pain_now: int | None
    ) -> None:
        """The questionnaires before the session are done: start it (a pain-nrs "now" answer is
        the pain before when the clinician left that empty)."""
        if not self._closed:
            before = pain_before if pain_before is not None else pain_now
            self.start_session(protocol_name, subject, before, ask_due=False)

    def _session_not_started(
        self, engine: Engine | None, db: Database | None, source: str | Device, exc: Exception
    ) -> None:
        """Say why a session could not start (it stays on screen) and go back to live view."""
        log.error("session not started: %s", exc)
        if engine is not None:
            engine.close()
        if db is not None:
            db.close()
        self.alert.show_alert("Session not started.", str(exc))
        self.start_source(source)

    def _on_session_failed(self, message: str) -> None:
        """The store, the device or a consumer failed: acquisition has stopped. Say so (it stays
        on screen), then close the session as interrupted, asking for the pain rating."""
        session = self.session
        if session is None:
            return
        sid = session.session_id
        self.alert.show_alert(f"Session {sid} stopped.", message)
        self.patient.set_instruction(PATIENT_STOPPED_TEXT)
        self.statusBar().showMessage(f"Session {sid} stopped: {message}", 30000)
        if not self._finish_scheduled:
            self._finish_scheduled = True
            # let the message be painted first: closing a failed store may wait a moment
            QTimer.singleShot(FAILED_FINISH_DELAY_MS, lambda: self.finish_session(message))

    def request_stop(self) -> None:
        """The Stop button: ask, then end the session early (kept as interrupted)."""
        session = self.session
        if session is None:
            return
        if session.runner is not None:
            question = (
                f"End session {session.session_id} before the protocol is over? What was "
                "recorded so far is kept; the session is marked as interrupted."
            )
        else:
            question = f"End recording {session.session_id} now? What was recorded is kept."
        if self.confirm("Stop the session", question):
            self.finish_session("stopped by the clinician")

    def _ask_yes_no(self, title: str, question: str) -> bool:
        answer = QMessageBox.question(
            self,
            title,
            question,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def _ask_pain_dialog(self) -> int | None:
        value, ok = QInputDialog.getInt(
            self, "Pain now", "Pain right now, 0 (none) to 10 (worst imaginable):", 0, 0, 10
        )
        return value if ok else None

    def _show_session_state(self) -> None:
        session, bridge = self.session, self.bridge
        if session is None or bridge is None:
            return
        runner = session.runner
        state = runner.state() if runner is not None else None
        self.session_panel.show_state(state, bridge.elapsed_s)
        if state is None:
            return
        if state.finished and not self._finish_scheduled:
            # normally the session_ended event does this; this catches a stream that stopped
            self._finish_scheduled = True
            QTimer.singleShot(0, self.finish_session)
        if time.monotonic() >= self._prompt_until:
            self.patient.set_instruction(state.instruction)
        self.patient.orb.setVisible(state.show_visual)
        if state.pacer_bpm:
            self.patient.pacer.set_rate(state.pacer_bpm)
            self.patient.set_pacer_visible(True)
        else:
            self.patient.pacer.set_rate(self.pacer_rate.value())
            self.patient.set_pacer_visible(self.pacer_visible.isChecked())
        if self.audio is not None:
            self.audio.muted = self.mute.isChecked() or not state.play_audio
        self._follow_runner_threshold(session, state.threshold_uv)

    def _follow_runner_threshold(self, session: RecordingSession, thr: float | None) -> None:
        """The protocol's target becomes the scored channels' target in the window."""
        if thr is None:
            return
        for c in self._scored_channels(session):
            if abs(self.thresholds_uv[c] - thr) > 1e-6:
                self.set_threshold(c, thr, "protocol")

    def _scored_channels(self, session: RecordingSession) -> list[int]:
        scored = session.protocol.scored_channel if session.protocol is not None else 0
        if isinstance(scored, int) and 0 <= scored < len(self.thresholds_uv):
            return [scored]
        return list(range(len(self.thresholds_uv)))  # "max" / "mean": one target for all

    def toggle_pause(self) -> None:
        """Pause or resume the protocol's phase clock."""
        session = self.session
        if session is None or session.runner is None:
            return
        runner = session.runner
        events = runner.resume() if runner.state().paused else runner.pause()
        session.apply(events)
        self._show_session_state()

    def skip_phase(self) -> None:
        """End the current phase now and go on to the next."""
        session = self.session
        if session is None or session.runner is None:
            return
        session.apply(session.runner.skip())
        self._show_session_state()

    def _on_step_done(self, index: int, answers: dict[str, Any], skipped: bool) -> None:
        """The patient pressed Continue, saved a form or skipped it: the runner goes on."""
        session = self.session
        if session is None or session.runner is None:
            self.patient.hide_step()
            return
        try:
            events = session.runner.continue_phase(answers, skipped=skipped, phase_index=index)
        except ValueError as exc:  # e.g. an answer longer than the limit: say so, keep the form
            self.patient.step_index = index
            self.patient.set_instruction(str(exc))
            self._prompt_until = time.monotonic() + 10.0
            return
        self.patient.hide_step()
        session.apply(events)
        self._show_session_state()

    def _on_session_event(self, event: RunnerEvent) -> None:
        if self.session is None:
            return
        if event.type == EventType.PHASE_STARTED:
            name = event.data.get("name", "")
            self.statusBar().showMessage(f"Phase: {name}", 6000)
            if "step" in event.data:  # education page, thought record, reflection
                self.patient.show_step(
                    int(event.data["index"]),
                    str(event.data["kind"]),
                    event.data["step"],
                    str(event.data.get("instruction", "")),
                )
                self.set_view("patient")
        elif event.type == EventType.PHASE_ENDED and event.data.get("kind") in STEP_KIND_NAMES:
            self.patient.hide_step()
        elif event.type == EventType.PROMPT:
            text = str(event.data.get("text") or event.data.get("prompt") or "")
            if text:
                self.patient.set_instruction(text)
                self._prompt_until = time.monotonic() + 10.0
                self.statusBar().showMessage(text, 10000)
        elif event.type == EventType.WARNING:
            self.statusBar().showMessage(str(event.data.get("message", "")), 15000)
        elif event.type == EventType.THRESHOLD_CHANGED:
            # at once, not on the next text refresh: a short phase may end before it
            new_uv = event.data.get("new_uv")
            if isinstance(new_uv, int | float):
                self._follow_runner_threshold(self.session, float(new_uv))
        elif event.type == EventType.SESSION_ENDED and not self._finish_scheduled:
            self._finish_scheduled = True
            QTimer.singleShot(0, self.finish_session)

    def finish_session(self, reason: str = "") -> SessionResult | None:
        """End the session (asks for the pain rating), store it, show the summary, and go back
        to the live view on the same source."""
        session = self.session
        if session is None:
            return None
        self._store_marker()
        ended = (session.subject_id, session.session_id)
        end_due = [] if self._closed else self.questionnaires.due_at_end(*ended)
        pain_after = None  # asked once: by the pain-nrs questionnaire when that is due now
        if self.pain_prompt is not None and not self._closed and not asks_pain(end_due):
            pain_after = self.pain_prompt()
        try:
            result = session.finish(pain_after=pain_after, aborted_reason=reason)
        finally:
            self.session = None
            if self.session_db is not None:
                self.session_db.close()
                self.session_db = None
        self.last_session_result = result
        self._report_session_end(result)
        if not self._closed:
            self.clinic_sync.session_ended()  # on a worker thread; the next session may start
        self.session_panel.set_running(False)
        self.patient.orb.setVisible(True)
        # a patient practising alone must not go on as if it were still recorded
        self.patient.set_instruction(PATIENT_STOPPED_TEXT if result.error else "")
        self.patient.set_pacer_visible(self.pacer_visible.isChecked())
        if self.audio is not None:
            self.audio.muted = self.mute.isChecked()
        if not self._closed:
            self.questionnaires.after_end(
                end_due, session.subject_id, result.session_id, lambda: self._after_end(result)
            )
        return result

    def _after_end(self, result: SessionResult) -> None:
        """After the questionnaires that end a session: its summary, then the live view again."""
        if self._closed:
            return
        if result.error:  # the questionnaires' own line replaced it
            self.patient.set_instruction(PATIENT_STOPPED_TEXT)
        if self.ask_pain:
            QMessageBox.information(self, "Session finished", summary_text(result))
        if self._source is not None:
            self.start_source(self._source)

    def _report_session_end(self, result: SessionResult) -> None:
        """Keep a failed session's reason and anything left unstored on screen."""
        if result.error:
            detail = f"{result.error.rstrip('.')}. It was saved as interrupted."
            if result.storage_note:
                detail += f" {result.storage_note[0].upper()}{result.storage_note[1:]}."
            self.alert.show_alert(f"Session {result.session_id} stopped.", detail)
        elif result.storage_note:
            self.alert.show_alert(
                f"Session {result.session_id} not fully saved.", result.storage_note
            )

    # -- history -------------------------------------------------------------------------------
    def show_history(self) -> None:
        """Open the history and progress dialog for the subject in the session panel."""
        subject = self.session_panel.subject.text().strip() or str(self.prefs.get("subject", ""))
        self.show_history_of(subject)

    def show_history_of(self, subject: str) -> None:
        """Open the history and progress dialog for ``subject``."""
        from biofeedback.gui.history_panel import HistoryDialog  # pyqtgraph: loaded on demand

        try:
            dialog = HistoryDialog(subject, db_path=self.db_path, parent=self)
        except BiofeedbackError as exc:
            self.statusBar().showMessage(str(exc), 10000)
            return
        self.history_dialog = dialog
        dialog.show()

    def import_recording(self, path: str | None = None) -> None:
        """Session > Import recording…: store another program's file as a session, then show
        it in its subject's history (gui/import_dialog.py; ``path`` skips the file dialog)."""
        from biofeedback.gui.import_dialog import open_import_dialog

        subject = self.session_panel.subject.text().strip() or str(self.prefs.get("subject", ""))
        self.import_dialog = open_import_dialog(
            self, self.db_path, subject, path, lambda _sid, who: self._show_imported(who)
        )

    def show_course(self, then: str = "") -> None:
        """Course > Course… (Ctrl+K): the subject's course, prescription, adherence and
        questionnaires (gui/course_dialog.py); ``then`` ("export_bundle" or "import_bundle")
        asks for the bundle file at once."""
        from biofeedback.gui.course_dialog import open_course_dialog

        subject = self.session_panel.subject.text().strip() or str(self.prefs.get("subject", ""))
        try:
            dialog = open_course_dialog(self, self.db_path, subject)
        except BiofeedbackError as exc:
            self.statusBar().showMessage(str(exc), 10000)
            return
        self.course_dialog = dialog
        if then == "export_bundle":
            dialog.export_bundle()
        elif then == "import_bundle":
            dialog.import_bundle()

    def _label_course_menu(self) -> None:
        """Send to patient… / Import from patient… at a clinic, else to clinician / from clinic
        (as the course dialog's buttons)."""
        from biofeedback.gui.course_dialog import station_bundle_labels

        export_label, import_label = station_bundle_labels(self.db_path)
        self.course_export_action.setText(export_label)
        self.course_import_action.setText(import_label)

    def _show_imported(self, subject: str) -> None:
        """The history list holding a just imported session (its subject's, or the sessions
        without a subject)."""
        self.show_history_of(subject)
        dialog = getattr(self, "history_dialog", None)
        if not subject and dialog is not None:
            from biofeedback.gui.history_panel import NO_SUBJECT

            dialog.subject.setCurrentIndex(dialog.subject.findText(NO_SUBJECT))

    def check_signal(self) -> CheckSignalDialog:
        """Run the doctor's checks on a few seconds of the live source (Tools > Check signal)."""
        pending = self._pending_source
        url = self.source_url or (_url_of(pending) if pending is not None else "")
        self.check_signal_dialog = open_check_signal(lambda: self.engine, url, self)
        return self.check_signal_dialog

    # -- views ---------------------------------------------------------------------------------
    def toggle_view(self) -> None:
        """Switch between the clinician and the full-screen patient view (F11 / P)."""
        self.set_view("clinician" if self.view == "patient" else "patient")

    def set_view(self, view: str) -> None:
        """``patient`` (full screen, calm) or ``clinician``."""
        if view not in ("patient", "clinician") or view == self.view:
            return
        self.view = view
        patient = view == "patient"
        self.stack.setCurrentWidget(self.patient if patient else self.clinician)
        self.menuBar().setVisible(not patient)
        self.statusBar().setVisible(not patient)
        if patient:
            self.patient.pacer.restart()
            self.showFullScreen()
        else:
            self.showNormal()
        self.prefs["view"] = view

    # -- timers --------------------------------------------------------------------------------
    def _on_frame(self) -> None:
        bridge = self.bridge
        if bridge is None:
            return
        now = time.monotonic()
        peaks, env_peaks = bridge.signal_peaks, bridge.envelope_peaks
        if (
            bridge.new_rows
            and self.view == "clinician"
            and peaks is not None
            and env_peaks is not None
        ):
            t_sig, t_env = bridge.t_peaks_s, bridge.t_columns_s
            signal, envelope = peaks.out, env_peaks.out
            marker_times = self._marker_times()
            end_column, fraction = peaks.total, peaks.fraction
            for c, card in enumerate(self.cards):
                card.plot.set_data(t_sig, signal[c], t_env, envelope[c], end_column, fraction)
                card.plot.set_markers(marker_times)
                card.gauge.set_level(
                    bridge.level_uv[c], int(bridge.recent_flags[c]), bridge.trail(c)
                )
        if self.view == "patient":
            lead = self._leading_channel()
            if lead is not None:
                level, flags = bridge.latest(lead)
                self.patient.advance(level, self.thresholds_uv[lead], flags, now)
            else:
                self.patient.pacer.advance(now)

    def _on_newest(self) -> None:
        """Between frames: recolour a gauge the moment its channel crosses the target (the bar
        and trail follow on the next frame). Flagged or unsettled channels wait for the frame."""
        bridge = self.bridge
        if bridge is None or self.view != "clinician":
            return
        levels, flags = bridge.newest_envelope_uv, bridge.newest_flags
        for c, card in enumerate(self.cards[: len(levels)]):
            gauge = card.gauge
            if (
                flags[c]
                or bridge.recent_flags[c]
                or gauge.state
                not in (
                    GaugeState.CALM,
                    GaugeState.TENSE,
                )
            ):
                continue
            if classify(float(levels[c]), self.thresholds_uv[c], 0) != gauge.state:
                gauge.set_level(float(levels[c]), 0)

    def _leading_channel(self) -> int | None:
        """The channel furthest above (or least below) its target: what the patient works on."""
        bridge = self.bridge
        if bridge is None or not self.thresholds_uv:
            return None
        with np.errstate(invalid="ignore", divide="ignore"):
            ratios = bridge.level_uv / np.asarray(self.thresholds_uv)
        if not np.isfinite(ratios).any():
            return 0
        return int(np.nanargmax(ratios))

    def _marker_times(self) -> list[float]:
        bridge = self.bridge
        if bridge is None or not self.markers:
            return []
        times = [(m.index - bridge.latest_index) / bridge.fs_hz for m in self.markers[-20:]]
        return [t for t in times if t >= -self.window_s]

    def _on_text(self) -> None:
        bridge = self.bridge
        if bridge is None:
            return
        self.timer_label.setText(format_elapsed(bridge.elapsed_s))
        if self.audio is not None and not self._audio_reported and self.audio.running:
            failure = self.audio.failure()
            if failure:
                self._report_audio(failure)
        if self.session is not None:
            self._show_session_state()
        sig_peaks, env_peaks = bridge.signal_peaks, bridge.envelope_peaks
        for c, card in enumerate(self.cards):
            card.gauge.set_readout(float(bridge.readout_uv[c]), int(bridge.quality_flags[c]))
            card.set_noise_floor(float(bridge.noise_floor_uv[c]))
            if bridge.first_index is None:
                card.quality.set_waiting()
            else:
                card.quality.set_flags(int(bridge.quality_flags[c]))
            if self.view == "clinician" and sig_peaks is not None and env_peaks is not None:
                card.plot.update_ranges(sig_peaks.out[c], env_peaks.out[c], self.thresholds_uv[c])
        if any(self._auto_threshold_pending) and bridge.elapsed_s >= AUTO_THRESHOLD_S:
            self._first_seconds_target()

    def _first_seconds_target(self) -> None:
        """The first target from the first seconds of signal, unless a protocol already set one
        (a late frame on a busy machine must not replace the protocol's target)."""
        session = self.session
        runner = session.runner if session is not None else None
        if session is not None and runner is not None and runner.threshold_uv is not None:
            self._auto_threshold_pending = [False] * len(self._auto_threshold_pending)
            self._follow_runner_threshold(session, runner.threshold_uv)
            return
        pending = list(self._auto_threshold_pending)
        saved = list(self.thresholds_uv)
        self.set_thresholds_from_recent(AUTO_THRESHOLD_S, "first seconds")
        for c, was_pending in enumerate(pending):
            if not was_pending and self.thresholds_uv[c] != saved[c]:
                self.set_threshold(c, saved[c], "kept")

    def _on_status(self, status: DeviceStatus) -> None:
        if status.warning:  # e.g. a board sending faster than it says: the state is unchanged
            self.alert.show_alert("Check the board.", status.message, level="warning")
            return
        self.banner.set_state(status.state, status.message, self.source_url)
        if status.state in (DeviceState.LOST, DeviceState.ERROR):
            for card in self.cards:
                card.gauge.clear()

    # -- audio ---------------------------------------------------------------------------------
    def _audio_level(self) -> tuple[float, float, int]:
        """Called on the audio thread: newest envelope straight from the ring buffer."""
        bridge = self.bridge
        if bridge is None or not self.thresholds_uv:
            return math.nan, 1.0, 0
        levels, flags = bridge.read_latest_envelope()
        thresholds = np.asarray(self.thresholds_uv[: len(levels)])
        if len(thresholds) != len(levels) or len(levels) == 0:
            return math.nan, 1.0, 0
        with np.errstate(invalid="ignore", divide="ignore"):
            ratios = levels / thresholds
        c = int(np.nanargmax(ratios)) if np.isfinite(ratios).any() else 0
        return float(levels[c]), float(thresholds[c]), int(flags[c])

    def _start_audio(self) -> None:
        if self.audio is None or self.audio.running:
            return
        error = self.audio.start()
        if error and not self._audio_reported:
            self._report_audio(error)

    def _report_audio(self, error: str) -> None:
        """No sound (never opened, or the output died): say it once, in a message that stays."""
        self._audio_reported = True
        log.warning("%s", error)
        self.alert.show_alert(
            "No sound.",
            f"{error.removeprefix('No sound: ')} Visual feedback continues; check the sound "
            "output, then reopen the window to get the tone back.",
            level="warning",
        )

    def _on_audio_changed(self) -> None:
        if self.audio is None:
            return
        self.audio.mode = AudioMode(self.audio_mode.currentData())
        self.audio.volume = self.volume.value() / 100.0
        self.audio.muted = self.mute.isChecked()
        self.prefs["audio"] = {
            "mode": self.audio.mode.value,
            "volume": self.audio.volume,
            "muted": self.audio.muted,
        }

    def _on_pacer_changed(self) -> None:
        self.patient.pacer.set_rate(self.pacer_rate.value())
        self.patient.set_pacer_visible(self.pacer_visible.isChecked())
        self.prefs["pacer_bpm"] = self.pacer_rate.value()
        self.prefs["pacer_visible"] = self.pacer_visible.isChecked()

    # -- settings ------------------------------------------------------------------------------
    def apply_setup(self, setup: ChannelSetup) -> None:
        """Apply channel settings: processing changes go to the running engine between chunks."""
        self.setup = setup
        self.prefs["channel"] = setup.as_dict()
        if self.engine is None:
            return
        info = self.engine.info
        if (
            info is not None
            and info.board in BOARDS
            and (setup.board != info.board or setup.effective_adc_bits != info.adc_bits)
        ):
            url = source_for_setup(self.source_url, setup)
            if url is None:
                self.statusBar().showMessage(
                    f"This source reports its own ADC ({info.board}, {info.adc_bits} bit); the "
                    "board and ADC choices apply to the simulator and a stock sketch's text "
                    "stream.",
                    8000,
                )
            elif url != self.source_url:
                self.start_source(url)  # a new ADC means a new stream: reopen
                return
        try:
            self.engine.set_settings(pipeline_settings_for(setup, self.engine.settings))
        except BiofeedbackError as exc:
            self.statusBar().showMessage(f"Settings not applied: {exc}", 8000)
            return
        info = self.engine.info
        self.processing_label.setText(processing_text(self.engine.settings, info))
        if info is not None and self.engine.pipeline is not None:
            for card, out in zip(self.cards, self.engine.pipeline.outputs, strict=False):
                text = output_text(out.kind, self.engine.settings, info)
                card.kind_label.setText(text)
                card.kind_label.setToolTip(text)
        self.statusBar().showMessage("Channel settings applied", 4000)

    def _remember_source(self, url: str) -> None:
        if not url:
            return
        self.prefs["source"] = url
        recent = [
            u for u in self.prefs.get("recent_sources", []) if isinstance(u, str) and u != url
        ]
        self.prefs["recent_sources"] = [url, *recent][:8]

    def save_settings(self) -> None:
        """Write the remembered settings (source, channel setup, view, audio, thresholds)."""
        if not self.remember:
            return
        self.prefs["channel"] = self.setup.as_dict()
        values = config.load_settings()
        values[SETTINGS_KEY] = self.prefs
        try:
            config.save_settings(values)
        except OSError as exc:
            self.statusBar().showMessage(f"Settings not saved: {exc}", 8000)

    # -- dialogs -------------------------------------------------------------------------------
    def _ask_board(self, url: str, description: str) -> bool:
        answer = QMessageBox.question(
            self,
            "Sensor board found",
            f"A board was found: {description}.\nConnect to it ({url})?\n\n"
            "Choose No to start on the simulated sensor.",
        )
        return answer == QMessageBox.StandardButton.Yes

    def _show_shortcuts(self) -> None:
        QMessageBox.information(
            self,
            "Keyboard shortcuts",
            "F11 or P\tpatient view on / off\nEsc\tback to the clinician view\n"
            "M\tadd a marker (then type a note, Enter)\n+ / -\traise / lower the target by 5 %\n"
            "Ctrl+M\tmute the sound\nCtrl+H\thistory and progress\nCtrl+K\tcourse of treatment\n"
            "F1\tthis list\nCtrl+Q\tquit",
        )

    def _show_about(self) -> None:
        QMessageBox.about(
            self,
            "About biofeedback",
            "Surface-EMG relaxation biofeedback.\n\nThis software is not a medical device. "
            "Use a laptop on battery or a USB isolator whenever electrodes are on the body.\n\n"
            "EMG biofeedback for chronic low back pain: Sielski et al. 2017 (pain g = 0.60).",
        )

    # -- shutdown ------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop sound, timers and the device thread; save settings (idempotent)."""
        if self._closed:
            return
        self._closed = True
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

    # -- for tests and the benchmark -----------------------------------------------------------
    @property
    def gauge_states(self) -> list[str]:
        """Current state of every channel's gauge."""
        return [card.gauge.state for card in self.cards]


def _url_of(source: str | Device) -> str:
    return source.url if isinstance(source, Device) else str(source).strip()


def _compact(combo: QComboBox) -> None:
    """Let a combo box with long entries shrink to the side panel's width."""
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(12)


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
    if window.prefs.get("view") == "patient":
        window.set_view("patient")
    QTimer.singleShot(0, window.start)
    code = app.exec()
    window.shutdown()
    return int(code)
