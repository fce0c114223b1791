"""The tension gauge: state from level vs threshold and flags, log scale, threshold drag."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor

from biofeedback.core.types import Flag
from biofeedback.gui import tension_gauge
from biofeedback.gui.tension_gauge import GaugeState, TensionGaugeWidget, classify, format_uv
from biofeedback.gui.theme import PALETTE


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
    """One rounding rule (0.1 uV) for levels and targets: 10.3 is never shown as 10."""
    assert format_uv(3.14159) == "3.1"
    assert format_uv(123.4) == "123.4"
    assert format_uv(10.3) == "10.3"
    assert format_uv(math.nan) == "–"


def test_gauge_colours_follow_state_and_caption_names_problem(qtbot):
    gauge = TensionGaugeWidget()
    qtbot.addWidget(gauge)
    gauge.resize(260, 420)
    gauge.set_threshold(5.0)
    assert gauge.caption == "Waiting for signal"
    gauge.set_level(3.0, 0, np.linspace(8, 3, 100))
    assert gauge.state == GaugeState.CALM and gauge.caption == "Below target"
    gauge.set_level(30.0, 0)  # a change of state refreshes the number and caption at once
    assert gauge.state == GaugeState.TENSE and gauge.caption == "Above target"
    assert gauge.readout_uv == 30.0
    gauge.set_level(3.0, int(Flag.FLAT | Flag.MAINS))
    assert gauge.state == GaugeState.CHECK
    assert gauge.caption == "Check: electrode off, mains"
    assert gauge._state_color(GaugeState.CHECK) == PALETTE.neutral
    gauge.set_level(3.0, int(Flag.MOTION))
    assert gauge.caption == "Check: motion"
    gauge.clear()
    assert gauge.state == GaugeState.IDLE and gauge.caption == "Waiting for signal"
    # painting works in every state and counts paints (the benchmark timestamps pixels this way)
    gauge.show()
    qtbot.waitUntil(lambda: gauge.paint_count > 0, timeout=2000)


@pytest.mark.parametrize(
    ("level", "state", "number", "caption"),
    [
        (9.6, GaugeState.CALM, "9.6", "Below target"),
        (9.95, GaugeState.CALM, "9.9", "Below target"),  # 9.9499... in binary
        (10.0, GaugeState.TENSE, "10.0", "On the target line"),
        (10.04, GaugeState.TENSE, "10.0", "On the target line"),
        (10.3, GaugeState.TENSE, "10.3", "Above target"),
    ],
)
def test_bar_colour_caption_and_number_agree_around_the_target(
    qtbot, level, state, number, caption
):
    """Issue 11: "9.6 Below target" on an amber bar; "10 Above" on a teal bar."""
    gauge = TensionGaugeWidget()
    qtbot.addWidget(gauge)
    gauge.resize(260, 420)
    gauge.set_threshold(10.0)
    # come from the other side of the target, then settle on the value
    gauge.set_level(40.0 if state == GaugeState.CALM else 2.0, 0)
    gauge.set_level(level, 0)
    assert gauge.state == gauge.caption_state == state
    assert gauge.shown.number == number and gauge.caption == caption
    assert gauge.readout_uv == level  # the number is the value classified
    colour = PALETTE.calm if state == GaugeState.CALM else PALETTE.tense
    assert gauge._state_color(gauge.state) == colour
    gauge.show()
    qtbot.waitUntil(lambda: gauge.paint_count > 0, timeout=2000)
    header = gauge._header_pm
    assert header is not None and gauge._header_key[1:] == (number, caption, state)
    assert gauge._label_key == gauge.target_text() == "target 10.0 µV"


def test_number_changes_at_most_number_hz_but_at_once_on_a_change_of_state(qtbot, monkeypatch):
    gauge = TensionGaugeWidget()
    qtbot.addWidget(gauge)
    gauge.resize(260, 420)
    clock = [1000.0]
    monkeypatch.setattr(tension_gauge.time, "monotonic", lambda: clock[0])
    gauge.set_threshold(10.0)
    gauge.set_level(5.0, 0)
    assert gauge.shown.number == "5.0"
    clock[0] += 0.1
    gauge.set_level(6.0, 0)  # same state, too soon: the number can still be read
    assert gauge.shown.number == "5.0" and gauge.feedback.number == "6.0"
    clock[0] += 0.05
    gauge.set_level(12.0, 0)  # crossed: number, caption and colour change together
    assert (gauge.shown.number, gauge.caption, gauge.state) == ("12.0", "Above target", "tense")
    clock[0] += 1.0 / tension_gauge.NUMBER_HZ
    gauge.set_level(13.0, 0)
    assert gauge.shown.number == "13.0"


def _nearest(c: QColor) -> str:
    """Which of the two feedback colours a trail pixel is (anti-aliasing blends a little)."""

    def dist(name: str) -> float:
        ref = QColor(name)
        return abs(c.red() - ref.red()) + abs(c.green() - ref.green()) + abs(c.blue() - ref.blue())

    return "tense" if dist(PALETTE.tense) < dist(PALETTE.calm) else "calm"


@pytest.mark.parametrize(("level", "role"), [(20.0, "tense"), (5.0, "calm")])
def test_the_trail_is_coloured_by_the_same_line(qtbot, level, role):
    gauge = TensionGaugeWidget()
    qtbot.addWidget(gauge)
    gauge.resize(260, 420)
    gauge.set_threshold(10.0)
    gauge.set_level(level, 0, np.full(200, level))
    gauge.show()
    qtbot.waitUntil(lambda: gauge._trail_pm is not None, timeout=2000)
    image = gauge._trail_pm.toImage()
    y = round((gauge.y_of(level) - gauge._body().top()) * gauge._trail_pm.devicePixelRatio())
    row = [image.pixelColor(x, y) for x in range(image.width())]
    drawn = [c for c in row if c.alpha() > 100]
    assert len(drawn) > 20 and {_nearest(c) for c in drawn} == {role}


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
    header = gauge._header_rect()
    # the bar's repaints (the number and caption above it have their own, tested above)
    monkeypatch.setattr(
        gauge, "update", lambda *args: None if args and args[0] == header else updates.append(args)
    )
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
