"""The window's keyboard shortcuts, menus and small dialogs.

Keyboard: F11 or P toggles the patient view (Esc leaves it), M adds a marker (type a note,
Enter), + / - move the target by 5 %, Ctrl+M mutes the sound, Ctrl+H history, Ctrl+K course,
F1 the list of shortcuts, Ctrl+Q quits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMessageBox, QWidget

from biofeedback.errors import BiofeedbackError
from biofeedback.gui.clinic_sync import ClinicSyncControl
from biofeedback.gui.patient_window import PatientScreenControl
from biofeedback.gui.streaming import StreamingControl

if TYPE_CHECKING:
    from biofeedback.gui.main_window import MainWindow

SHORTCUTS_TEXT = (
    "F11 or P\tpatient view on / off\nEsc\tback to the clinician view\n"
    "M\tadd a marker (then type a note, Enter)\n+ / -\traise / lower the target by 5 %\n"
    "Ctrl+M\tmute the sound\nCtrl+H\thistory and progress\nCtrl+K\tcourse of treatment\n"
    "F1\tthis list\nCtrl+Q\tquit"
)
ABOUT_TEXT = (
    "Surface-EMG relaxation biofeedback.\n\nThis software is not a medical device. "
    "Use a laptop on battery or a USB isolator whenever electrodes are on the body.\n\n"
    "EMG biofeedback for chronic low back pain: Sielski et al. 2017 (pain g = 0.60)."
)


def build_actions(window: MainWindow) -> None:
    """The shortcuts and the menu bar (sets the ``*_action`` attributes of the window)."""

    def action(text: str, keys: list[str], slot: Callable[[], Any]) -> QAction:
        act = QAction(text, window)
        act.setShortcuts([QKeySequence(k) for k in keys])
        act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        act.triggered.connect(lambda _checked=False: slot())
        window.addAction(act)
        return act

    def plain(text: str, slot: Callable[[], Any]) -> QAction:
        act = QAction(text, window)
        act.triggered.connect(lambda _checked=False: slot())
        return act

    w = window
    w.patient_action = action("Patient view", ["F11", "P"], w.toggle_view)
    w.leave_action = action("Back to clinician view", ["Esc"], lambda: w.set_view("clinician"))
    w.marker_action = action("Add marker", ["M"], w.add_marker)
    w.raise_action = action("Raise target 5 %", ["+", "="], lambda: w.targets.nudge(up=True))
    w.lower_action = action("Lower target 5 %", ["-"], lambda: w.targets.nudge(up=False))
    w.mute_action = action("Mute sound", ["Ctrl+M"], lambda: w.mute.toggle())
    w.quit_action = action("Quit", ["Ctrl+Q"], w.close)
    w.history_action = action("History and progress", ["Ctrl+H"], w.show_history)
    w.shortcuts_action = action("Keyboard shortcuts", ["F1"], lambda: show_shortcuts(w))
    w.about_action = plain("About", lambda: QMessageBox.about(w, "About biofeedback", ABOUT_TEXT))
    w.check_signal_action = plain("Check signal…", w.check_signal)
    w.import_action = plain("Import recording…", w.import_recording)
    # Course: the subject's course of treatment (gui/course_dialog.py)
    w.course_action = action("Course…", ["Ctrl+K"], w.show_course)
    # labelled by the data dir's station role when the menu opens (label_course_menu)
    w.course_export_action = plain("Send to clinician…", lambda: w.show_course("export_bundle"))
    w.course_import_action = plain("Import from clinic…", lambda: w.show_course("import_bundle"))
    _build_menus(w)


def _build_menus(w: MainWindow) -> None:
    menu = w.menuBar()
    view_menu = menu.addMenu("&View")
    view_menu.addAction(w.patient_action)
    view_menu.addAction(w.leave_action)
    # the patient view on a second screen when one is connected (gui/patient_window.py)
    second = w.prefs.patient_second_screen
    w.patient_screen = PatientScreenControl(w, w.patient, w.stack, enabled=second)
    w.patient_screen.action.toggled.connect(
        lambda on: setattr(w.prefs, "patient_second_screen", on)
    )
    view_menu.addAction(w.patient_screen.action)
    session_menu = menu.addMenu("&Session")
    for act in (w.marker_action, w.raise_action, w.lower_action, w.mute_action):
        session_menu.addAction(act)
    session_menu.addAction(w.history_action)
    session_menu.addAction(w.import_action)
    session_menu.addSeparator()
    session_menu.addAction(w.quit_action)
    course_menu = menu.addMenu("&Course")
    course_menu.aboutToShow.connect(lambda: label_course_menu(w))
    for act in (w.course_action, w.course_export_action, w.course_import_action):
        course_menu.addAction(act)
    menu.addMenu("&Tools").addAction(w.check_signal_action)
    # LSL and OSC out: off until switched on, remembered (gui/streaming.py)
    w.streaming = StreamingControl(w, w.prefs.streaming, w.alert, switch_on=w.streaming_switches)
    menu.addMenu(w.streaming.menu)
    w.statusBar().addPermanentWidget(w.streaming.label)
    # the clinic: Sync now, Clinic…, and the sync state in the status bar
    w.clinic_sync = ClinicSyncControl(w, w.db_path, w.alert)
    menu.addMenu(w.clinic_sync.menu)
    w.statusBar().addPermanentWidget(w.clinic_sync.label)
    help_menu = menu.addMenu("&Help")
    help_menu.addAction(w.shortcuts_action)
    help_menu.addAction(w.about_action)


def label_course_menu(w: MainWindow) -> None:
    """Send to patient… / Import from patient… at a clinic, else to clinician / from clinic."""
    from biofeedback.gui.course_dialog import station_bundle_labels

    export_label, import_label = station_bundle_labels(w.db_path)
    w.course_export_action.setText(export_label)
    w.course_import_action.setText(import_label)


def show_shortcuts(parent: QWidget) -> None:
    QMessageBox.information(parent, "Keyboard shortcuts", SHORTCUTS_TEXT)


def ask_yes_no(parent: QWidget, title: str, question: str) -> bool:
    """A yes/no question, No the default."""
    answer = QMessageBox.question(
        parent,
        title,
        question,
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No,
    )
    return answer == QMessageBox.StandardButton.Yes


def ask_pain(parent: QWidget) -> int | None:
    """The pain-after rating, 0-10, nothing chosen until the user picks (None when skipped)."""
    from biofeedback.gui.pain_dialog import ask_pain as ask_nrs

    return ask_nrs(parent, "Pain now", "Pain right now, 0 (none) to 10 (worst imaginable):")


def ask_board(parent: QWidget, url: str, description: str) -> bool:
    """A board was found at start: connect to it (Yes) or start on the simulated sensor."""
    answer = QMessageBox.question(
        parent,
        "Sensor board found",
        f"A board was found: {description}.\nConnect to it ({url})?\n\n"
        "Choose No to start on the simulated sensor.",
    )
    return answer == QMessageBox.StandardButton.Yes


def open_history(w: MainWindow, subject: str) -> None:
    """The history and progress dialog for ``subject`` (kept as ``w.history_dialog``)."""
    from biofeedback.gui.history_panel import HistoryDialog  # pyqtgraph: loaded on demand

    try:
        dialog = HistoryDialog(subject, db_path=w.db_path, parent=w)
    except BiofeedbackError as exc:
        w.statusBar().showMessage(str(exc), 10000)
        return
    w.history_dialog = dialog
    dialog.show()


def show_imported(w: MainWindow, subject: str) -> None:
    """The history list holding a just imported session (its subject's, or the sessions without
    a subject)."""
    open_history(w, subject)
    dialog = getattr(w, "history_dialog", None)
    if not subject and dialog is not None:
        from biofeedback.gui.history_panel import NO_SUBJECT

        dialog.subject.setCurrentIndex(dialog.subject.findText(NO_SUBJECT))


def open_course(w: MainWindow, subject: str, then: str = "") -> None:
    """Course > Course… (gui/course_dialog.py); ``then`` ("export_bundle" or "import_bundle")
    asks for the bundle file at once."""
    from biofeedback.gui.course_dialog import open_course_dialog

    try:
        dialog = open_course_dialog(w, w.db_path, subject)
    except BiofeedbackError as exc:
        w.statusBar().showMessage(str(exc), 10000)
        return
    w.course_dialog = dialog
    if then == "export_bundle":
        dialog.export_bundle()
    elif then == "import_bundle":
        dialog.import_bundle()
