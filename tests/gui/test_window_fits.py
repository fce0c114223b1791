"""The main window fits a 1366x768 laptop screen: its start size, long error texts, the wheel;
and on a real X display (Xvfb) at 1366x768, 1920x1080 and 200 % scaling, with 1, 2 and 4
channels and after a wrong port or an unknown scenario (window_fits_child.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QComboBox, QScrollArea
from xvfb_server import xvfb

from biofeedback.devices.base import DeviceState
from biofeedback.gui.audio_feedback import AudioMode
from biofeedback.gui.layout_rules import MAX_START_SIZE, StartGeometry, start_geometry
from biofeedback.gui.main_window import MainWindow
from biofeedback.gui.tension_gauge import TensionGaugeWidget

LAPTOP_WIDTH = 1366
LONG_ERROR = "the port does not answer; " * 80  # 2000 characters


def test_start_size_is_92_percent_of_a_full_hd_screen():
    assert start_geometry((0, 0, 1920, 1050), (900, 600)) == StartGeometry(
        maximized=False, x=77, y=42, width=1766, height=966
    )


def test_start_size_at_200_percent_counts_logical_pixels():
    # 3840x2160 at 200 %: Qt reports 1920x1080 logical pixels, the window takes 92 % of them
    geometry = start_geometry((0, 0, 1920, 1080), (900, 600))
    assert (geometry.width, geometry.height) == (1766, 993)


def test_start_size_is_capped_on_a_4k_screen_at_100_percent():
    geometry = start_geometry((0, 0, 3840, 2160), (900, 600))
    assert (geometry.width, geometry.height) == MAX_START_SIZE
    assert (geometry.x, geometry.y) == ((3840 - 2560) // 2, (2160 - 1600) // 2)


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


def side_panel(window: MainWindow) -> QScrollArea:
    panel = window.pacer_rate.parentWidget()
    while not isinstance(panel, QScrollArea):
        panel = panel.parentWidget()
    return panel


def test_the_side_panel_shows_its_boxes_whole(qtbot):
    window = make_window(qtbot)
    scroll = side_panel(window)
    QApplication.processEvents()
    content = scroll.widget()
    # room for the content's minimum beside the vertical scroll bar: nothing cut on the right
    bar = scroll.verticalScrollBar().sizeHint().width()
    assert content.minimumSizeHint().width() <= scroll.width() - bar
    assert content.width() <= scroll.viewport().width()


def test_the_sound_list_shows_each_mode_whole_with_its_long_form_as_tooltip(qtbot):
    window = make_window(qtbot)
    combo = window.audio_mode
    QApplication.processEvents()
    room = combo.width() - 40  # the arrow and the frame
    for i, mode in enumerate(AudioMode):
        assert combo.itemText(i) == mode.label
        assert combo.fontMetrics().horizontalAdvance(mode.label) <= room, mode.label
        assert combo.itemData(i, Qt.ItemDataRole.ToolTipRole) == mode.description


def test_a_short_gauge_labels_its_decades_and_leaves_out_crowded_labels(qtbot):
    tall, short = TensionGaugeWidget(), TensionGaugeWidget()
    for gauge, height in ((tall, 500), (short, 160)):
        qtbot.addWidget(gauge)
        gauge.resize(210, height)
        gauge.set_threshold(5.0)
        gauge.grab()  # paints the scale
    assert {"1", "10"} <= set(short.tick_labels)
    assert len(short.tick_labels) < len(tall.tick_labels)
    assert short.minimumHeight() <= 160


def test_a_short_trace_axis_keeps_its_labels_apart(qtbot):
    import pyqtgraph as pg

    from biofeedback.gui.live_plot import MIN_TICK_GAP_PX, CachedAxisItem

    axis = CachedAxisItem("left")
    # a 45 px raw-trace axis from -400 to 400 uV: pyqtgraph alone puts labels 11 px apart
    (major, _offset), *minor = axis.tickSpacing(-400.0, 400.0, 45.0)
    assert major * 45.0 / 800.0 >= MIN_TICK_GAP_PX and minor == []
    # a tall axis keeps pyqtgraph's own ticks
    assert axis.tickSpacing(-400.0, 400.0, 400.0) == pg.AxisItem("left").tickSpacing(
        -400.0, 400.0, 400.0
    )


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


CHILD = Path(__file__).with_name("window_fits_child.py")
#: (label, Xvfb screen, QT_SCALE_FACTOR, the logical screen)
SCREENS = [
    ("1366x768", (1366, 768), "1", (1366, 768)),
    ("1920x1080", (1920, 1080), "1", (1920, 1080)),
    ("3840x2160-2x", (3840, 2160), "2", (1920, 1080)),
]


@pytest.fixture(scope="module", params=SCREENS, ids=[s[0] for s in SCREENS])
def on_screen(request, tmp_path_factory) -> tuple[dict[str, Any], tuple[int, int]]:
    """What window_fits_child.py saw on an Xvfb screen of one size; and the logical screen."""
    _label, size, scale, logical = request.param
    home = tmp_path_factory.mktemp("fits-home")
    with xvfb(*size) as display:
        env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb", QT_SCALE_FACTOR=scale)
        env["BIOFEEDBACK_HOME"] = str(home)
        result = subprocess.run(
            [sys.executable, str(CHILD)], capture_output=True, text=True, env=env, timeout=240
        )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1]), logical


def test_the_window_starts_at_92_percent_of_the_screen(on_screen):
    shown, (width, height) = on_screen
    frame = shown["start"]["frame"]
    assert frame[2:] == [int(width * 0.92), int(height * 0.92)]
    assert frame[:2] == [(width - frame[2]) // 2, (height - frame[3]) // 2]  # centred


@pytest.mark.parametrize("step", ["channels_1", "channels_2", "channels_4"])
def test_the_whole_window_is_on_screen_with_1_2_and_4_channels(on_screen, step):
    shown, _logical = on_screen
    seen = shown[step]
    assert seen["cards"] == int(step[-1]) and seen["banner"] == "connected", seen
    assert seen["inside"], f"frame {seen['frame']} not inside {seen['available']}"
    assert seen["frame"] == shown["start"]["frame"]  # more channels do not resize the window


def test_one_and_two_channels_share_the_height_without_scrolling(on_screen):
    shown, _logical = on_screen
    for step in ("channels_1", "channels_2"):
        assert not shown[step]["channels_scroll"], shown[step]


@pytest.mark.parametrize("step", ["wrong_port", "unknown_scenario"])
def test_a_failing_source_does_not_change_the_window(on_screen, step):
    shown, _logical = on_screen
    seen = shown[step]
    assert seen["banner"] == "error", seen
    assert seen["frame"] == shown["channels_4"]["frame"]
    assert seen["inside"]
