"""The clinician's side column: one group box per concern, in a scroll area.

The boxes are views of the application model: the target box shows
:class:`~biofeedback.appmodel.targets.Targets` (one spin box per channel, kept in step by its
``changed`` event) and sends the clinician's values back; the marker box shows
:class:`~biofeedback.appmodel.markers.Markers`; the sound and pacer boxes keep the typed
preferences. Session and source controls send their commands to the window.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from biofeedback.appmodel.markers import Marker, Markers
from biofeedback.appmodel.prefs import PACER_RANGE_BPM, PacerPrefs
from biofeedback.appmodel.targets import MAX_UV, MIN_UV, Targets
from biofeedback.gui.audio_feedback import AudioMode
from biofeedback.gui.clinician_view import ConnectionBanner
from biofeedback.gui.device_panel import DevicePanel
from biofeedback.gui.protocol_file import NOT_LOADED
from biofeedback.gui.session_panel import SessionPanel
from biofeedback.gui.theme import font
from biofeedback.gui.wheel_guard import guard_wheel
from biofeedback.training import thresholds as rules

if TYPE_CHECKING:
    from biofeedback.gui.main_window import MainWindow

#: The side column's content width (px) unless its boxes need more; the scroll bar comes on top
#: of it, so no box is ever cut on the right. The traces take the rest.
SIDE_PANEL_WIDTH = 300


class TargetBox(QGroupBox):
    """One target spin box per channel and "Set target from last 30 s"."""

    def __init__(self, targets: Targets, from_recent: Callable[[], None]) -> None:
        super().__init__("Target (µV RMS)")
        self.targets = targets
        self.spins: list[QDoubleSpinBox] = []
        self.form = QFormLayout()
        self.baseline_button = QPushButton("Set target from last 30 s")
        self.baseline_button.setToolTip(
            f"{rules.RECENT_TARGET_FRACTION:.0%} of the median RMS of the last 30 s "
            f"(at least {rules.NOISE_FLOOR_FACTOR:g} × noise floor)"
        )
        self.baseline_button.clicked.connect(from_recent)
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addWidget(self.baseline_button)
        targets.reset.connect(self._rebuild)
        targets.changed.connect(self._show)

    def _rebuild(self, names: list[str]) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.spins = []
        for c, name in enumerate(names):
            spin = QDoubleSpinBox()
            spin.setRange(MIN_UV, MAX_UV)
            spin.setDecimals(rules.UV_DECIMALS)
            spin.setSingleStep(rules.UV_STEP)
            spin.setSuffix(" µV")
            spin.setKeyboardTracking(False)
            spin.setValue(self.targets.values_uv[c])
            spin.valueChanged.connect(lambda v, c=c: self.targets.set(c, v, "clinician"))
            self.form.addRow(name, spin)
            self.spins.append(spin)
        guard_wheel(self)  # the new spin boxes, too: the wheel scrolls the panel

    def _show(self, channel: int, value_uv: float, _reason: str) -> None:
        if channel < len(self.spins):
            spin = self.spins[channel]
            spin.blockSignals(True)
            spin.setValue(value_uv)
            spin.blockSignals(False)


class MarkerBox(QGroupBox):
    """Add a marker, annotate the last one, and the list of markers so far."""

    def __init__(
        self,
        markers: Markers,
        add: Callable[[], object],
        describe: Callable[[Marker], str],
        note_wanted: Callable[[], bool],
    ) -> None:
        super().__init__("Markers")
        self.markers, self.describe, self.note_wanted = markers, describe, note_wanted
        self.button = QPushButton("Add marker  (M)")
        self.button.clicked.connect(lambda: add())
        self.note = QLineEdit()
        self.note.setPlaceholderText("note for the last marker, Enter")
        self.note.returnPressed.connect(self._on_note)
        self.list = QListWidget()
        self.list.setMaximumHeight(90)
        layout = QVBoxLayout(self)
        for widget in (self.button, self.note, self.list):
            layout.addWidget(widget)
        markers.added.connect(self._on_added)
        markers.annotated.connect(self._on_annotated)
        markers.cleared.connect(self.list.clear)

    def _on_added(self, marker: Marker) -> None:
        self.list.insertItem(0, self.describe(marker))
        if not marker.note and self.note_wanted():
            self.note.clear()
            self.note.setFocus()

    def _on_annotated(self, marker: Marker) -> None:
        item = self.list.item(0)
        if item is not None:
            item.setText(self.describe(marker))

    def _on_note(self) -> None:
        self.markers.annotate(self.note.text())
        self.note.clear()
        self.note.clearFocus()


def build_sound_box(window: MainWindow) -> QGroupBox:
    """Audio feedback mode, volume and mute (disabled when no audio output exists)."""
    box = QGroupBox("Sound")
    window.audio_mode = mode = QComboBox()
    mode.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    mode.setMinimumContentsLength(12)
    for item in AudioMode:
        mode.addItem(item.label, item.value)
        mode.setItemData(mode.count() - 1, item.description, Qt.ItemDataRole.ToolTipRole)
    window.volume = QSlider(Qt.Orientation.Horizontal)
    window.volume.setRange(0, 100)
    window.mute = QCheckBox("Mute  (Ctrl+M)")
    audio = window.audio
    if audio is not None:
        mode.setCurrentIndex(max(0, mode.findData(audio.mode.value)))
        window.volume.setValue(round(audio.volume * 100))
        window.mute.setChecked(audio.muted)
    else:
        box.setEnabled(False)
    mode.currentIndexChanged.connect(lambda _i: _audio_changed(window))
    window.volume.valueChanged.connect(lambda _v: _audio_changed(window))
    window.mute.toggled.connect(lambda _on: _audio_changed(window))
    form = QFormLayout(box)
    form.addRow(mode)
    form.addRow("Volume", window.volume)
    form.addRow(window.mute)
    return box


def _audio_changed(window: MainWindow) -> None:
    audio = window.audio
    if audio is None:
        return
    audio.mode = AudioMode(window.audio_mode.currentData())
    audio.volume = window.volume.value() / 100.0
    audio.muted = window.mute.isChecked()
    prefs = window.prefs.audio
    prefs.mode, prefs.volume, prefs.muted = audio.mode.value, audio.volume, audio.muted


def build_pacer_box(window: MainWindow) -> QGroupBox:
    """Breathing pacer: shown in the patient view or not, and its rate."""
    prefs: PacerPrefs = window.prefs.pacer
    box = QGroupBox("Breathing pacer")
    window.pacer_visible = QCheckBox("Show in patient view")
    window.pacer_visible.setChecked(prefs.visible)
    window.pacer_rate = rate = QDoubleSpinBox()
    rate.setRange(*PACER_RANGE_BPM)
    rate.setSingleStep(0.5)
    rate.setDecimals(1)
    rate.setSuffix(" breaths/min")
    rate.setValue(prefs.rate_bpm)

    def changed() -> None:
        prefs.rate_bpm, prefs.visible = rate.value(), window.pacer_visible.isChecked()
        window.session_view.show_state()  # the patient view follows unless a phase sets it

    window.pacer_visible.toggled.connect(lambda _on: changed())
    rate.valueChanged.connect(lambda _v: changed())
    form = QFormLayout(box)
    form.addRow(window.pacer_visible)
    form.addRow("Rate", rate)
    return box


def build_session_box(window: MainWindow, protocol: str) -> QGroupBox:
    """Protocol and subject choice, start/pause/skip/stop, and the history button."""
    box = QGroupBox("Session")
    panel = window.session_panel = SessionPanel(
        protocol=protocol, subject=window.prefs.subject, db_path=window.db_path
    )
    # a protocol file that does not load: said in the panel and in the alert bar (it stays)
    panel.protocol_file_failed.connect(window.alert.show_alert)
    if panel.file_error:  # the remembered or requested file (the panel tried it already)
        window.alert.show_alert(NOT_LOADED, panel.file_error)
    elif window.requested_protocol and not panel.select_protocol(window.requested_protocol):
        window.statusBar().showMessage(
            f"No protocol named {window.requested_protocol!r}: see 'biofeedback protocols list'",
            10000,
        )
    # the subject being worked with lives in the model (history, course, reminders use it)
    window.session_control.set_subject(panel.subject.text())
    panel.subject.textChanged.connect(window.session_control.set_subject)
    panel.start_requested.connect(window.start_session)
    panel.pause_toggled.connect(window.toggle_pause)
    panel.skip_requested.connect(window.skip_phase)
    panel.stop_requested.connect(window.request_stop)
    layout = QVBoxLayout(box)
    layout.addWidget(panel)
    window.history_button = QPushButton("History and progress…  (Ctrl+H)")
    window.history_button.clicked.connect(window.show_history)
    layout.addWidget(window.history_button)
    return box


def build_device_box(window: MainWindow) -> QGroupBox:
    """Source (device) choice and channel setup."""
    box = QGroupBox("Source and channel")
    window.device_panel = DevicePanel(window.setup, list(window.prefs.recent_sources))
    window.device_panel.source_requested.connect(window.start_source)
    window.device_panel.setup_applied.connect(window.apply_setup)
    QVBoxLayout(box).addWidget(window.device_panel)
    return box


def build_header(window: MainWindow) -> QHBoxLayout:
    """The connection banner, the session clock and the patient-view button."""
    window.banner = ConnectionBanner()
    window.timer_label = QLabel("00:00")
    window.timer_label.setFont(font(20, bold=True))
    window.timer_label.setToolTip("Time since acquisition started (sample clock)")
    window.timer_caption = caption = QLabel("session")
    caption.setObjectName("muted")
    window.patient_button = QPushButton("Patient view  (F11)")
    window.patient_button.clicked.connect(window.toggle_view)
    header = QHBoxLayout()
    header.setSpacing(14)
    header.addWidget(window.banner, 1)
    for widget in (caption, window.timer_label, window.patient_button):
        header.addWidget(widget)
    return header


def build_waiting_label(text: str) -> QLabel:
    """What the channel area says while no source streams."""
    label = QLabel(text)
    label.setObjectName("muted")
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setWordWrap(True)  # "Starting <long url>…" wraps, never widens the window
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    return label


def build_side_panel(window: MainWindow) -> QScrollArea:
    """The side column in a scroll area; sets the window's widget attributes."""
    protocol = window.requested_protocol or window.prefs.protocol
    window.target_box = TargetBox(window.targets, window.set_thresholds_from_recent)
    window.marker_box = MarkerBox(
        window.markers,
        window.add_marker,
        window.marker_text,
        lambda: window.view == "clinician",
    )
    window.marker_note, window.marker_list = window.marker_box.note, window.marker_box.list
    boxes = (
        build_session_box(window, protocol),
        window.target_box,
        build_sound_box(window),
        build_pacer_box(window),
        window.marker_box,
        build_device_box(window),
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
    content = max(SIDE_PANEL_WIDTH, panel.minimumSizeHint().width())
    scroll.setFixedWidth(content + scroll.verticalScrollBar().sizeHint().width())
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    guard_wheel(panel)  # the wheel scrolls the panel, not the field under the pointer
    return scroll
