"""The main window fits a 1366x768 laptop screen: its start size, long error texts, the wheel."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QComboBox, QScrollArea

from biofeedback.devices.base import DeviceState
from biofeedback.gui.layout_rules import StartGeometry, start_geometry
from biofeedback.gui.main_window import MainWindow

LAPTOP_WIDTH = 1366
LONG_ERROR = "the port does not answer; " * 80  # 2000 characters


def test_start_size_is_the_preferred_size_on_a_large_screen():
    assert start_geometry((0, 0, 1920, 1050), (900, 600)) == StartGeometry(
        maximized=False, x=320, y=125, width=1280, height=800
    )


def test_start_size_shrinks_to_92_percent_of_a_laptop_screen():
    # 1366x768 with a 40 px task bar at the top: 728 px free
    geometry = start_geometry((0, 40, 1366, 728), (900, 600))
    assert (geometry.width, geometry.height) == (1256, 669)
    assert geometry.x == (1366 - 1256) // 2 and geometry.y == 40 + (728 - 669) // 2
    assert geometry.y + geometry.height <= 40 + 728


def test_start_size_never_goes_below_the_minimum():
    geometry = start_geometry((0, 0, 1000, 700), (950, 680))
    assert (geometry.width, geometry.height) == (950, 680)


def test_a_screen_smaller_than_the_minimum_starts_maximized():
    assert start_geometry((0, 0, 1024, 600), (900, 640)).maximized


def make_window(qtbot) -> MainWindow:
    window = MainWindow("sim://?scenario=nope", safety_check=False, audio=False, remember=False)
    qtbot.addWidget(window)
    window.show()
    return window


def assert_fits(window: MainWindow) -> None:
    QApplication.processEvents()
    assert window.minimumSizeHint().width() <= LAPTOP_WIDTH
    assert window.minimumWidth() <= LAPTOP_WIDTH
    assert window.width() <= LAPTOP_WIDTH
    assert window.minimumSizeHint().height() <= 768


def test_window_starts_inside_the_available_screen(qtbot):
    window = make_window(qtbot)
    area = window.screen().availableGeometry()
    hint = window.minimumSizeHint()
    if hint.width() > area.width() or hint.height() > area.height():
        assert window.isMaximized()
    else:
        assert window.width() <= max(hint.width(), int(area.width() * 0.92))
        assert window.height() <= max(hint.height(), int(area.height() * 0.92))
    side = window.pacer_rate.parentWidget()
    while not isinstance(side, QScrollArea):
        side = side.parentWidget()
    assert side.widgetResizable()  # the side panel scrolls: nothing in it is out of reach


def test_an_unknown_scenario_error_does_not_widen_the_window(qtbot):
    window = make_window(qtbot)
    assert window.start() is False
    assert window.banner.state == DeviceState.ERROR
    assert "nope" in window.banner.label.toolTip()
    assert_fits(window)


def test_a_missing_serial_port_error_does_not_widen_the_window(qtbot):
    window = make_window(qtbot)
    assert window.start_source("serial:///dev/ttyBIOFEEDBACK_NONE_" + "x" * 300) is False
    assert window.banner.state == DeviceState.ERROR
    assert_fits(window)


@pytest.mark.parametrize("where", ["banner", "alert", "waiting"])
def test_a_2000_character_message_does_not_widen_the_window(qtbot, where):
    window = make_window(qtbot)
    if where == "banner":
        window.banner.set_state(DeviceState.ERROR, LONG_ERROR)
        assert LONG_ERROR.strip() in window.banner.label.toolTip()
    elif where == "alert":
        window.alert.show_alert("Session stopped.", LONG_ERROR)
        assert window.alert.toolTip() == LONG_ERROR
    else:
        window.waiting_label.setText(LONG_ERROR)
    assert_fits(window)


def wheel(widget, steps: int) -> None:
    centre = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(
        centre,
        widget.mapToGlobal(centre),
        QPoint(0, 0),
        QPoint(0, 120 * steps),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def test_the_wheel_does_not_change_an_unfocused_pacer_rate(qtbot):
    window = make_window(qtbot)
    rate = window.pacer_rate
    rate.setValue(6.0)
    window.setFocus()
    assert not rate.hasFocus()
    wheel(rate, -3)
    assert rate.value() == 6.0


def test_the_wheel_changes_the_pacer_rate_once_it_has_focus(qtbot):
    window = make_window(qtbot)
    window.activateWindow()
    rate = window.pacer_rate
    rate.setValue(6.0)
    rate.setFocus()
    qtbot.waitUntil(rate.hasFocus, timeout=5000)
    wheel(rate, -1)
    assert rate.value() == 5.5


def test_every_field_in_the_side_panel_is_guarded(qtbot):
    window = make_window(qtbot)
    panel = window.pacer_rate.parentWidget()
    while not isinstance(panel, QScrollArea):
        panel = panel.parentWidget()
    fields = [*panel.findChildren(QAbstractSpinBox), *panel.findChildren(QComboBox)]
    assert len(fields) >= 4
    assert all(field.focusPolicy() == Qt.FocusPolicy.StrongFocus for field in fields)
