"""The patient view on a second screen: one screen offscreen (the fallback), two screens on Xvfb.

The two-screen desk runs in a child process (patient_window_child.py) on a private Xvfb split
into two RandR monitors; offscreen Qt has one screen.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLabel, QMainWindow, QStackedWidget
from xvfb_server import xvfb

from biofeedback.gui.patient_view import PatientViewWidget
from biofeedback.gui.patient_window import PatientScreenControl

CHILD = Path(__file__).with_name("patient_window_child.py")


@pytest.fixture
def desk(qtbot):
    """A main window with a clinician page and the patient view in a stack, as MainWindow."""
    window = QMainWindow()
    qtbot.addWidget(window)
    stack = QStackedWidget()
    clinician = QLabel("clinician")
    patient = PatientViewWidget()
    stack.addWidget(clinician)
    stack.addWidget(patient)
    window.setCentralWidget(stack)
    window.show()
    qtbot.waitExposed(window)
    control = PatientScreenControl(window, patient, stack)
    return window, stack, patient, control


def test_one_screen_the_main_window_shows_the_patient_view_itself(desk) -> None:
    _window, stack, patient, control = desk
    assert len(QGuiApplication.screens()) == 1
    assert control.show_patient() is False
    assert not control.on_second_screen
    assert stack.indexOf(patient) == 1 and not control.window.isVisible()
    control.back_to_stack()  # nothing to bring back: nothing moves
    assert stack.indexOf(patient) == 1 and stack.count() == 2


def test_view_menu_option(desk, qtbot) -> None:
    window, _stack, _patient, control = desk
    assert control.action.text() == "Patient view on second screen"
    assert control.action.isCheckable() and control.action.isChecked()
    other = PatientScreenControl(window, PatientViewWidget(), QStackedWidget(), enabled=False)
    assert not other.action.isChecked() and not other.state.use_other_screen
    other.action.setChecked(True)
    assert other.state.use_other_screen


def test_closing_the_patient_window_brings_the_view_back(desk, two_screens, qtbot) -> None:
    _window, stack, patient, control = desk
    patient.set_instruction("Let the jaw hang loose.")
    assert control.show_patient() is True
    assert control.on_second_screen and stack.indexOf(patient) == -1
    assert patient.parent() is control.window
    assert control.show_patient() is True  # asked again: it stays
    control.window.close()  # Alt+F4 on the patient's screen
    qtbot.waitUntil(lambda: not control.window.isVisible())
    assert stack.indexOf(patient) == 1 and not control.on_second_screen
    assert patient.instruction.text() == "Let the jaw hang loose."


def test_screen_gone_brings_the_view_back_and_says_so(desk, two_screens, qtbot) -> None:
    window, stack, patient, control = desk
    control.show_patient()
    del two_screens[1]
    with qtbot.waitSignal(control.returned, timeout=5000) as returned:
        control._on_screens_changed()
    assert returned.args == ["second"]
    assert stack.indexOf(patient) == 1 and not control.window.isVisible()
    assert "second" in window.statusBar().currentMessage()


def test_option_off_and_main_window_closed_bring_the_view_back(desk, two_screens, qtbot) -> None:
    window, stack, patient, control = desk
    control.show_patient()
    control.action.setChecked(False)
    assert stack.indexOf(patient) == 1 and control.show_patient() is False
    control.action.setChecked(True)
    assert control.show_patient() is True
    window.close()
    qtbot.waitUntil(lambda: not control.window.isVisible())
    assert stack.indexOf(patient) == 1


def test_two_screens_on_xvfb(tmp_path) -> None:
    """Xvfb 3286x1080 split into LEFT 1366x768 (primary, the main window) and RIGHT 1920x1080."""
    with xvfb(3286, 1080) as display:
        env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb")
        env["BIOFEEDBACK_HOME"] = str(tmp_path / "home")
        result = subprocess.run(
            [sys.executable, str(CHILD)], capture_output=True, text=True, env=env, timeout=180
        )
    assert result.returncode == 0, result.stdout + result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["screens"] == ["LEFT", "RIGHT"]
    right = seen["on_right"]
    assert seen["shown"] and right["on_second"] and right["frameless"]
    assert right["patient_window_geometry"] == [1366, 0, 1920, 1080]
    assert right["patient_visible"] and right["in_stack"] == -1
    # the clinician view stays on the first screen
    assert right["main_visible"] and right["main_screen"] == "LEFT" and right["stack_current"]
    assert seen["after_main_moved"]["main_screen"] == "RIGHT"
    steps = ("after_esc", "after_unplug", "after_replug", "after_main_moved", "after_option_off")
    for step in (*steps, "after_close"):
        back = seen[step]
        assert back["in_stack"] == 1 and not back["on_second"], step
        assert not back["patient_window_visible"] and back["stack_current"], step
    assert seen["instruction_kept"] == "Let the jaw hang loose."
    assert seen["returned"] == ["RIGHT", "RIGHT"]  # unplugged, then the main window moved
    assert seen["status"].startswith("The patient screen (RIGHT) is gone")
    assert seen["status_moved"].startswith("This window is on the patient screen (RIGHT)")
    assert seen["shown_one_screen"] is False and seen["shown_option_off"] is False
    assert seen["shown_again"] and seen["on_right_again"]["on_second"]
