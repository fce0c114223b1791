"""Child process of test_patient_window.py: a two-screen desk on Xvfb.

    DISPLAY=:N python tests/gui/patient_window_child.py

The Xvfb screen (3286x1080) is split into two RandR monitors, LEFT (1366x768, primary) and
RIGHT (1920x1080), before Qt starts; the child moves the patient view to RIGHT and back (Esc,
the clinician view, RIGHT unplugged, the main window moved onto RIGHT, the option off, the main
window closed) and prints one JSON line of what it saw at each step.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from child_loop import wait_until
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QStackedWidget
from xvfb_server import Monitors

from biofeedback.gui.patient_view import PatientViewWidget
from biofeedback.gui.patient_window import PatientScreenControl
from biofeedback.gui.theme import apply_theme

LEFT = (0, 0, 1366, 768)
RIGHT = (1366, 0, 1920, 1080)


class Desk:
    """A main window with a clinician page and the patient view in a stack, as MainWindow."""

    def __init__(self) -> None:
        self.window = QMainWindow()
        self.stack = QStackedWidget()
        self.clinician = QLabel("clinician")
        self.patient = PatientViewWidget()
        self.stack.addWidget(self.clinician)
        self.stack.addWidget(self.patient)
        self.window.setCentralWidget(self.stack)
        self.control = PatientScreenControl(self.window, self.patient, self.stack)
        self.returned: list[str] = []
        self.control.returned.connect(self.returned.append)
        self.window.setGeometry(100, 60, 1100, 650)
        self.window.show()

    def where(self) -> dict[str, Any]:
        """Where the patient view is now."""
        win = self.control.window
        g = win.geometry()
        return {
            "on_second": self.control.on_second_screen,
            "in_stack": self.stack.indexOf(self.patient),
            "stack_current": self.stack.currentWidget() is self.clinician,
            "patient_window_visible": win.isVisible(),
            "patient_window_geometry": [g.x(), g.y(), g.width(), g.height()],
            "patient_visible": self.patient.isVisible(),
            "main_visible": self.window.isVisible(),
            "main_screen": self.window.screen().name(),
            "frameless": bool(win.windowFlags() & Qt.WindowType.FramelessWindowHint),
        }


def main() -> int:
    monitors = Monitors()  # kept open: the monitors last as long as this connection
    monitors.set("LEFT", LEFT, primary=True)
    monitors.set("RIGHT", RIGHT)
    app = QApplication(["biofeedback"])
    apply_theme(app)
    seen: dict[str, Any] = {"screens": [s.name() for s in app.screens()]}
    desk = Desk()
    wait_until(lambda: desk.window.isVisible())
    control, patient = desk.control, desk.patient
    patient.set_instruction("Let the jaw hang loose.")

    seen["shown"] = control.show_patient()
    wait_until(lambda: control.window.isVisible() and patient.isVisible())
    seen["on_right"] = desk.where()
    control.window.activateWindow()
    wait_until(lambda: control.window.isActiveWindow())
    QTest.keyClick(control.window, Qt.Key.Key_Escape)
    wait_until(lambda: not control.on_second_screen)
    seen["after_esc"] = desk.where()
    seen["instruction_kept"] = patient.instruction.text()

    control.show_patient()
    wait_until(lambda: control.window.isVisible())
    monitors.delete("RIGHT")  # the patient's screen unplugged during the session
    wait_until(lambda: len(app.screens()) == 1 and not control.on_second_screen)
    seen["after_unplug"] = desk.where()
    seen["returned"] = desk.returned
    seen["status"] = desk.window.statusBar().currentMessage()
    seen["shown_one_screen"] = control.show_patient()

    monitors.set("RIGHT", RIGHT)  # plugged in again: nothing moves until asked
    wait_until(lambda: len(app.screens()) == 2)
    seen["after_replug"] = desk.where()
    seen["shown_again"] = control.show_patient()
    wait_until(lambda: control.window.isVisible())
    seen["on_right_again"] = desk.where()

    desk.window.move(1500, 100)  # the main window dragged onto the patient's screen
    wait_until(lambda: not control.on_second_screen)
    seen["after_main_moved"] = desk.where()
    seen["status_moved"] = desk.window.statusBar().currentMessage()
    desk.window.move(100, 60)
    wait_until(lambda: desk.window.screen().name() == "LEFT")
    control.show_patient()
    wait_until(lambda: control.window.isVisible())

    control.action.setChecked(False)  # View > Patient view on second screen, off
    seen["after_option_off"] = desk.where()
    seen["shown_option_off"] = control.show_patient()
    control.action.setChecked(True)
    control.show_patient()
    wait_until(lambda: control.window.isVisible())
    desk.window.close()
    wait_until(lambda: not control.window.isVisible())
    seen["after_close"] = desk.where()
    print(json.dumps(seen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
