"""The parts of the main window that its builders attach (typed in one place).

:class:`~biofeedback.gui.main_window.MainWindow` is composed by gui/window_panels.py (the side
column), gui/window_actions.py (shortcuts, menus, streaming and clinic controls) and the
dialogs it opens; they set these attributes on the window. Declaring them here keeps the
window's own module to composition and layout and lets the type checker see every part.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import (
        QCheckBox,
        QComboBox,
        QDoubleSpinBox,
        QLabel,
        QLineEdit,
        QListWidget,
        QPushButton,
        QSlider,
    )

    from biofeedback.gui.clinic_sync import ClinicSyncControl
    from biofeedback.gui.clinician_view import ConnectionBanner
    from biofeedback.gui.device_panel import DevicePanel
    from biofeedback.gui.patient_window import PatientScreenControl
    from biofeedback.gui.session_panel import SessionPanel
    from biofeedback.gui.streaming import StreamingControl
    from biofeedback.gui.window_panels import MarkerBox, TargetBox


class WindowParts:
    """Attributes only (no behaviour): what the builders put on the window."""

    # header (gui/window_panels.py)
    banner: ConnectionBanner
    timer_label: QLabel
    timer_caption: QLabel
    patient_button: QPushButton
    # side column (gui/window_panels.py)
    session_panel: SessionPanel
    history_button: QPushButton
    target_box: TargetBox
    marker_box: MarkerBox
    marker_note: QLineEdit
    marker_list: QListWidget
    audio_mode: QComboBox
    volume: QSlider
    mute: QCheckBox
    pacer_visible: QCheckBox
    pacer_rate: QDoubleSpinBox
    device_panel: DevicePanel
    # menus and controls (gui/window_actions.py)
    streaming: StreamingControl
    clinic_sync: ClinicSyncControl
    patient_action: QAction
    patient_screen: PatientScreenControl
    leave_action: QAction
    marker_action: QAction
    raise_action: QAction
    lower_action: QAction
    mute_action: QAction
    quit_action: QAction
    history_action: QAction
    shortcuts_action: QAction
    about_action: QAction
    check_signal_action: QAction
    import_action: QAction
    course_action: QAction
    course_export_action: QAction
    course_import_action: QAction
    # dialogs kept open (the last one of each)
    history_dialog: Any
    course_dialog: Any
    import_dialog: Any
