"""The tension gauge: state from level vs threshold and flags, log scale, threshold drag."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from biofeedback.core.types import Flag
from biofeedback.gui import tension_gauge
from biofeedback.gui.tension_gauge import GaugeState, TensionGaugeWidget, classify, format_uv


@pytest.mark.parametrize(
    ("level", "threshold", "flags", "state"),
    [
        (2.0, 5.0, 0, GaugeState.CALM),
        (5.0, 5.0, 0, GaugeState.TENSE),
        (50.0, 5.0, 0, GaugeState.TENSE),
        (2.0, 5.0, int(Flag.MAINS), GaugeState.CHECK),
        (math.nan, 5.0, 0, GaugeState.IDLE),
    ],
)
def test_classify(level, threshold, flags, state):
    assert classify(level, threshold, flags) == state


def test_format_uv():
    assert format_uv(3.14159) == "3.1"
    assert format_uv(123.4) == "123"
    assert format_uv(math.nan) == "–"


def test_gauge_colours_follow_state_and_caption_names_problem(qtbot):
    gauge = TensionGaugeWidget()
    qtbot.addWidget(gauge)
    gauge.resize(260, 420)
    gauge.set_threshold(5.0)
    gauge.set_level(3.0, 0, np.linspace(8, 3, 100))
    assert gauge.state == GaugeState.CALM
    assert gauge.caption == "Waiting for signal"  # the caption follows the (slow) number
    gauge.set_readout(3.1)
    assert gauge.caption == "Below target"
    gauge.set_level(30.0, 0)
    assert gauge.state == GaugeState.TENSE and gauge.caption == "Below target"
    gauge.set_readout(25.0)
    assert gauge.caption == "Above target"
    gauge.set_level(3.0, int(Flag.FLAT | Flag.MAINS))
    gauge.set_readout(3.0)
    assert gauge.state == GaugeState.CHECK
    assert "electrode off" in gauge.caption and "mains" in gauge.caption
    # the caption names the problem behind the number even after the bar's own bits cleared
    gauge.set_readout(40.0, int(Flag.MOTION))
    gauge.set_level(3.0, 0)
    assert gauge.caption == "Check: motion"
    # painting works in every state and counts paints (the benchmark timestamps pixels this way)
    gauge.show()
    qtbot.waitUntil(lambda: gauge.paint_count > 0, timeout=2000)


def test_log_scale_puts_threshold_between_rest_and_contraction(qtbot):
    gauge = TensionGaugeWidget()
    qtbot.addWidget(gauge)
    gauge.resize(260, 420)
    gauge.set_threshold(5.0)
    y_rest, y_thr, y_hard = gauge.y_of(1.0), gauge.y_of(5.0), gauge.y_of(40.0)
    assert y_rest > y_thr > y_hard  # higher tension is higher on screen (smaller y)
    assert gauge.value_at(y_thr) == pytest.approx(5.0, rel=1e-6)


def test_dragging_the_threshold_line_emits_new_value(qtbot):
    gauge = TensionGaugeWidget(interactive=True)
    qtbot.addWidget(gauge)
    gauge.resize(260, 420)
    gauge.show()
    gauge.set_threshold(5.0)
    x = int(gauge._bar_rect().center().x())
    y = round(gauge.y_of(5.0))
    target_y = round(gauge.y_of(10.0))
    with qtbot.waitSignal(gauge.threshold_changed, timeout=1000) as blocker:
        qtbot.mousePress(gauge, Qt.MouseButton.LeftButton, pos=QPoint(x, y))
        qtbot.mouseMove(gauge, QPoint(x, target_y))
        qtbot.mouseRelease(gauge, Qt.MouseButton.LeftButton, pos=QPoint(x, target_y))
    assert blocker.args[0] == pytest.approx(10.0, rel=0.05)
    assert gauge.threshold_uv == pytest.approx(blocker.args[0])


def test_colour_changes_repaint_at_once_height_changes_at_most_bar_hz(qtbot, monkeypatch):
    gauge = TensionGaugeWidget()
    qtbot.addWidget(gauge)
    gauge.resize(260, 420)
    gauge.set_threshold(10.0)
    gauge.set_level(3.0, 0)
    updates = []
    monkeypatch.setattr(gauge, "update", lambda *args: updates.append(args))
    clock = [1000.0]
    monkeypatch.setattr(tension_gauge.time, "monotonic", lambda: clock[0])
    gauge._trail_t = clock[0]  # no trail picture due during the test
    gauge._bar_t = clock[0]
    gauge.set_level(4.0, 0)  # a few pixels higher, same colour, 0 ms later: waits
    assert updates == []
    gauge.set_level(30.0, 0)  # crosses the target: repainted at once
    assert len(updates) == 1 and gauge.state == GaugeState.TENSE
    clock[0] += 0.5 / tension_gauge.BAR_HZ
    gauge.set_level(40.0, 0)  # moved, but too soon after the last repaint
    assert len(updates) == 1
    clock[0] += 1.0 / tension_gauge.BAR_HZ
    gauge.set_level(40.0, 0)  # now shown
    assert len(updates) == 2
