"""Session panel: start a guided protocol (or a plain recording), follow it, pause, skip, stop.

Besides the built-in and the user's own protocols, the combo offers any protocol file opened with
"Open protocol file…" (gui/protocol_file.py): validated with the CLI's messages, offered under its
name with its path in the tooltip; its path is what the session starts with and what is remembered.

The panel only shows and asks; the main window runs the session (a
:class:`~biofeedback.session.RecordingSession`: engine + runner + recorder wired once for the CLI
and the GUI). Runner events arrive on the device thread and are re-emitted here as queued
signals; the phase, time left, target and success are read from ``runner.state()`` on the slow
timer.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from biofeedback.errors import ProtocolFileError
from biofeedback.gui import protocol_file, subject_field
from biofeedback.gui.bridge import format_elapsed
from biofeedback.gui.subject_field import SubjectField
from biofeedback.gui.theme import PALETTE, font
from biofeedback.training.protocol import Protocol, list_protocols
from biofeedback.training.runner import RunnerEvent, RunnerState

#: The protocol combo's entry for a plain recording (no phases, no scoring).
FREE_RECORDING = ""

log = logging.getLogger(__name__)


class SessionEvents(QObject):
    """Carries runner events from the device thread to the GUI thread (queued signal)."""

    received = Signal(object)
    failed = Signal(str)
    _incoming = Signal(object)
    _failure = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._incoming.connect(self.received.emit, Qt.ConnectionType.QueuedConnection)
        self._failure.connect(self.failed.emit, Qt.ConnectionType.QueuedConnection)

    def post(self, event: RunnerEvent) -> None:
        """Called on the device thread (a RecordingSession listener)."""
        self._incoming.emit(event)

    def post_failure(self, message: str) -> None:
        """Called on the device or recorder thread when the session cannot go on."""
        self._failure.emit(message)


def available_protocols() -> tuple[list[Protocol], list[str]]:
    """Built-in and user protocols, and one line per user file that could not be read."""
    errors: list[ProtocolFileError] = []
    protocols = list_protocols(include_user=True, errors=errors)
    return protocols, [str(e) for e in errors]


class SessionPanel(QWidget):
    """Protocol choice and session controls.

    Signals
    -------
    start_requested(str, str, object)
        protocol name ("" for a plain recording), subject id ("" for none), pain before (int or
        None when not asked).
    pause_toggled()
    skip_requested()
    stop_requested()
    protocol_file_failed(str, str)
        a protocol file could not be used: a title and the validator's message (the panel shows
        it too, until a file loads); the window may show it in its alert bar.

    ``choose_file(parent, folder)`` asks for a protocol file (default: the system's file dialog).
    ``db_path``: the store whose subjects the subject field offers (default: the data dir's).
    """

    start_requested = Signal(str, str, object)
    pause_toggled = Signal()
    skip_requested = Signal()
    stop_requested = Signal()
    protocol_file_failed = Signal(str, str)

    def __init__(
        self,
        protocol: str = "",
        subject: str = "",
        parent: QWidget | None = None,
        *,
        choose_file: protocol_file.FileChooser | None = None,
        db_path: str | Path | None = None,
    ) -> None:
        super().__init__(parent)
        self.choose_file = choose_file or protocol_file.choose_file
        #: why the last protocol file could not be used ("" once one loads); also set when the
        #: protocol given to the constructor is a file that fails (before anyone could connect)
        self.file_error = ""
        self.protocols, self.protocol_errors = available_protocols()
        self.protocol = QComboBox()
        self.protocol.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.protocol.setMinimumContentsLength(10)
        self.protocol.addItem("Free recording (no protocol)", FREE_RECORDING)
        for p in self.protocols:
            minutes = p.duration_s / 60.0
            self.protocol.addItem(f"{p.name}  ({minutes:.0f} min)", p.name)
            self.protocol.setItemData(
                self.protocol.count() - 1, p.description, Qt.ItemDataRole.ToolTipRole
            )
        self.open_file_button = QPushButton("Open protocol file…")
        self.open_file_button.setToolTip(
            "Use a protocol file of your own (.toml); it is checked as by "
            "'biofeedback protocols validate'"
        )
        self.open_file_button.clicked.connect(self.open_protocol_file)
        self.file_message = QLabel("")
        self.file_message.setWordWrap(True)
        self.file_message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # a long message wraps instead of widening the side panel
        self.file_message.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.file_message.hide()
        self.select_protocol(protocol)
        # the subject: typed, or picked from the store's subjects (gui/subject_field.py)
        self.subject_field = SubjectField(subject, db_path)
        self.subject = self.subject_field.edit
        self.pain = QSpinBox()
        self.pain.setRange(-1, 10)
        self.pain.setSpecialValueText("not asked")
        self.pain.setValue(-1)
        self.pain.setToolTip("Pain right now, 0 (none) to 10 (worst imaginable)")
        self.start_button = QPushButton("Start session")
        self.start_button.clicked.connect(self._on_start)
        self.subject_field.state_changed.connect(self._subject_state)
        self._subject_state(self.subject_field.state)

        self._build_running_controls()

        self.setup_box = QWidget()
        form = QFormLayout(self.setup_box)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow(self.protocol)
        form.addRow(self.open_file_button)
        form.addRow(self.file_message)
        form.addRow("Subject", self.subject_field)
        form.addRow("Pain now", self.pain)
        form.addRow(self.start_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.setup_box)
        layout.addWidget(self.running_box)
        if self.protocol_errors:
            note = QLabel("Some protocol files could not be read (see the tooltip).")
            note.setStyleSheet(f"color: {PALETTE.tense};")
            note.setWordWrap(True)
            note.setToolTip("\n".join(self.protocol_errors))
            layout.addWidget(note)

    def _build_running_controls(self) -> None:
        """The phase, time and detail labels and Pause / Skip phase / Stop (shown while running)."""
        self.phase_label = QLabel("")
        self.phase_label.setFont(font(13, bold=True))
        self.phase_label.setWordWrap(True)
        self.time_label = QLabel("")
        self.time_label.setFont(font(18, bold=True))
        self.detail_label = QLabel("")
        self.detail_label.setObjectName("muted")
        self.detail_label.setWordWrap(True)
        self.pause_button = QPushButton("Pause")
        self.pause_button.clicked.connect(self.pause_toggled.emit)
        self.skip_button = QPushButton("Skip phase")
        self.skip_button.clicked.connect(self.skip_requested.emit)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop_requested.emit)
        self.running_box = QWidget()
        buttons = QHBoxLayout()
        for b in (self.pause_button, self.skip_button, self.stop_button):
            buttons.addWidget(b)
        running = QVBoxLayout(self.running_box)
        running.setContentsMargins(0, 0, 0, 0)
        running.addWidget(self.phase_label)
        running.addWidget(self.time_label)
        running.addWidget(self.detail_label)
        running.addLayout(buttons)
        self.running_box.hide()

    def select_protocol(self, name: str) -> bool:
        """Pick a protocol by name, or by file path (the file is loaded and offered); False if
        there is none by that name or the file cannot be used (then the panel says why)."""
        index = self.protocol.findData(name or FREE_RECORDING)
        if index < 0 and protocol_file.is_protocol_file(name):
            return self.add_protocol_file(name)
        if index < 0:
            return False
        self.protocol.setCurrentIndex(index)
        return True

    def open_protocol_file(self) -> bool:
        """Ask for a protocol file, validate it and select it; False when cancelled or invalid."""
        folder = protocol_file.start_folder(str(self.protocol.currentData() or ""))
        path = self.choose_file(self, folder)
        return bool(path) and self.add_protocol_file(str(path))

    def add_protocol_file(self, path: str) -> bool:
        """Validate a protocol file; offer and select it, or show why it cannot be used."""
        try:
            choice = protocol_file.load_choice(path)
        except ProtocolFileError as exc:
            log.warning("protocol file not loaded: %s", exc)
            self.file_error = str(exc)
            self._show_file_message(f"{protocol_file.NOT_LOADED}\n{exc}", error=True)
            self.protocol_file_failed.emit(protocol_file.NOT_LOADED, str(exc))
            return False
        self.file_error = ""
        self.protocol.setCurrentIndex(protocol_file.offer(self.protocol, choice))
        warnings = len(choice.protocol.warnings)
        note = f"; {warnings} warning(s), see the tooltip" if warnings else ""
        self._show_file_message(f"Loaded '{choice.protocol.name}' from {choice.path.name}{note}.")
        self.file_message.setToolTip(choice.tooltip)
        return True

    def _show_file_message(self, text: str, *, error: bool = False) -> None:
        self.file_message.setText(protocol_file.display_text(text))
        self.file_message.setToolTip(text)
        colour = PALETTE.tense if error else PALETTE.text_muted
        self.file_message.setStyleSheet(f"color: {colour};")
        self.file_message.show()

    def set_running(self, running: bool, guided: bool = True) -> None:
        """Switch between the setup form and the running controls; Pause and Skip phase only
        in a guided session (a free recording has no phases)."""
        self.setup_box.setVisible(not running)
        self.running_box.setVisible(running)
        self.pause_button.setText("Pause")
        self.skip_button.setEnabled(running and guided)
        self.pause_button.setEnabled(running and guided)
        if not running:
            self.phase_label.clear()
            self.time_label.clear()
            self.detail_label.clear()

    def show_state(self, state: RunnerState | None, elapsed_s: float) -> None:
        """Show the runner's state (or, for a plain recording, the time recorded)."""
        if state is None:
            self.phase_label.setText("Recording")
            self.time_label.setText(format_elapsed(elapsed_s))
            self.detail_label.setText("no protocol: stop when done")
            self.skip_button.setEnabled(False)
            self.pause_button.setEnabled(False)
            return
        self.skip_button.setEnabled(not state.finished)
        self.pause_button.setEnabled(not state.finished)
        self.pause_button.setText("Resume" if state.paused else "Pause")
        title = f"{state.phase_index + 1}/{state.n_phases}  {state.phase_name}"
        if state.paused:
            title += "  (paused)"
        self.phase_label.setText(title)
        if state.awaiting_continue:  # a page or form: the patient's pace (or its time limit)
            limit = (state.step or {}).get("time_limit_s")
            left = f", {format_elapsed(state.remaining_s)} left" if limit else ""
            self.time_label.setText(
                f"waiting for the patient ({format_elapsed(state.elapsed_s)}{left})"
            )
        else:
            self.time_label.setText(f"{format_elapsed(state.remaining_s)} left")
        parts = [f"session {format_elapsed(state.session_remaining_s)} left"]
        if state.threshold_uv is not None:
            parts.append(f"target {state.threshold_uv:.1f} µV RMS")
        if state.success_pct is not None:
            parts.append(f"{state.success_pct:.0f} % below")
        if not state.show_visual:
            parts.append("no visual feedback")
        self.detail_label.setText(" · ".join(parts))

    def _subject_state(self, state: str) -> None:
        """Start waits for a subject id the store's rule accepts (the field says what is wrong)."""
        self.start_button.setEnabled(state != subject_field.INVALID)

    def _on_start(self) -> None:
        if self.subject_field.state == subject_field.INVALID:
            return
        pain = self.pain.value()
        self.start_requested.emit(
            str(self.protocol.currentData() or ""),
            self.subject.text().strip(),
            None if pain < 0 else int(pain),
        )
