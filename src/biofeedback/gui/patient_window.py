"""The patient view on a second screen, the clinician view kept on the first.

:class:`PatientScreenControl` moves the window's :class:`PatientViewWidget` out of the main
window's stack into a frameless full-screen window on another screen when the patient view is
asked for and another screen is connected (the rules are Qt-free: ``appmodel/screens.py``). The
view comes back into the stack on Esc or F11 in the patient window, when the clinician view is
asked for, when its screen is unplugged (``QGuiApplication.screenRemoved``) or the main window
is moved onto it, when the option is switched off and when the main window closes. It is the
same widget throughout, so nothing the patient sees or typed is lost.

The View menu's checkable "Patient view on second screen" is :attr:`PatientScreenControl.action`.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence, QScreen, QShortcut
from PySide6.QtWidgets import QMainWindow, QStackedWidget, QVBoxLayout, QWidget

from biofeedback.appmodel.screens import (
    PatientScreenState,
    Placement,
    ScreenInfo,
    returned_text,
)

log = logging.getLogger(__name__)

#: How long the status bar says that the patient view came back (ms).
RETURNED_MESSAGE_MS = 15_000


def screen_infos() -> list[ScreenInfo]:
    """The connected screens as the Qt-free rules see them."""
    primary = QGuiApplication.primaryScreen()
    return [_info(s, s is primary) for s in QGuiApplication.screens()]


def _info(screen: QScreen, primary: bool) -> ScreenInfo:
    g = screen.geometry()
    return ScreenInfo(screen.name(), (g.x(), g.y(), g.width(), g.height()), primary)


def _screen_named(name: str) -> QScreen | None:
    return next((s for s in QGuiApplication.screens() if s.name() == name), None)


class PatientWindow(QWidget):
    """The frameless top-level window holding the patient view on another screen; Esc or F11
    (the keys the patient view's hint names) and closing it ask for the view back."""

    back_requested = Signal()

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent, Qt.WindowType.Window | Qt.WindowType.FramelessWindowHint)
        self.setObjectName("patientWindow")
        self.setWindowTitle("Biofeedback — patient view")
        # the clinician keeps typing in the main window when this one appears
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating, True)
        self.box = QVBoxLayout(self)
        self.box.setContentsMargins(0, 0, 0, 0)
        for key in ("Esc", "F11"):
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.activated.connect(self.back_requested.emit)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Closing the window (Alt+F4) brings the view back instead of losing it."""
        if self.box.count():
            event.ignore()
            self.back_requested.emit()
            return
        super().closeEvent(event)


class PatientScreenControl(QObject):
    """Puts the patient view on a second screen and brings it back (module docstring).

    ``returned(screen_name)`` is emitted when the view came back because its screen went away;
    the main window's status bar says so too.
    """

    returned = Signal(str)

    def __init__(
        self,
        main_window: QMainWindow,
        patient_widget: QWidget,
        stack: QStackedWidget,
        *,
        enabled: bool = True,
    ) -> None:
        super().__init__(main_window)
        self.main_window = main_window
        self.patient = patient_widget
        self.stack = stack
        self.state = PatientScreenState(use_other_screen=enabled)
        self._stack_index = max(0, stack.indexOf(patient_widget))
        self.window = PatientWindow(main_window)
        self.window.back_requested.connect(self.back_to_stack)
        self.action = QAction("Patient view on second screen", main_window)
        self.action.setCheckable(True)
        self.action.setChecked(enabled)
        self.action.setStatusTip("When a second screen is connected, show the patient view there")
        self.action.toggled.connect(self._on_toggled)
        app = QGuiApplication.instance()
        assert isinstance(app, QGuiApplication)
        app.screenAdded.connect(self._on_screens_changed)
        app.screenRemoved.connect(self._on_screens_changed)
        main_window.installEventFilter(self)

    @property
    def on_second_screen(self) -> bool:
        """Whether the patient view is now in its own window on another screen."""
        return self.state.on_other_screen

    def show_patient(self) -> bool:
        """The patient view is asked for: True when it went to (or is on) another screen and
        the main window stays the clinician's; False when the main window shows it itself."""
        if self.state.on_other_screen:
            self.window.raise_()
            return True
        choice = self.state.show_patient(screen_infos(), self._window_screen())
        screen = _screen_named(choice.screen)
        if choice.placement is not Placement.OTHER_SCREEN or screen is None:
            self.state.back()
            return False
        self._stack_index = max(0, self.stack.indexOf(self.patient))
        self.stack.removeWidget(self.patient)
        self.window.box.addWidget(self.patient)
        self.patient.show()
        self.window.setScreen(screen)
        self.window.setGeometry(screen.geometry())
        self.window.showFullScreen()
        log.info("patient view on screen %s", screen.name())
        return True

    def back_to_stack(self) -> None:
        """Bring the patient view back into the main window's stack (not made current: the main
        window stays on the clinician view). Nothing happens when it is already there."""
        self.state.back()
        if self.patient.parent() is not self.window:
            return
        self.window.box.removeWidget(self.patient)
        self.stack.insertWidget(self._stack_index, self.patient)
        self.window.hide()
        log.info("patient view back in the main window")

    def _on_toggled(self, on: bool) -> None:
        self.state.use_other_screen = on
        if not on:
            self.back_to_stack()

    def _on_screens_changed(self, _screen: QScreen | None = None) -> None:
        came_from = self.state.screens_changed(screen_infos(), self._window_screen())
        if not came_from:
            return
        self.back_to_stack()
        text = returned_text(came_from, _screen_named(came_from) is not None)
        self.main_window.statusBar().showMessage(text, RETURNED_MESSAGE_MS)
        self.returned.emit(came_from)

    def _window_screen(self) -> str:
        screen = self.main_window.screen()
        return screen.name() if screen is not None else ""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """The main window moving onto the patient's screen or closing brings the view back."""
        if watched is self.main_window:
            if event.type() == QEvent.Type.Close:
                self.back_to_stack()
            elif self.state.on_other_screen and event.type() in (
                QEvent.Type.Move,
                QEvent.Type.ScreenChangeInternal,
            ):
                self._on_screens_changed()
        return False
