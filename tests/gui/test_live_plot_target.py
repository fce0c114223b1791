"""The envelope plot's target label and drag use the one rounding rule of the gauge."""

from __future__ import annotations

from biofeedback.gui.live_plot import LivePlotWidget
from biofeedback.gui.tension_gauge import TensionGaugeWidget


def test_plot_and_gauge_read_the_same_target(qtbot):
    plot = LivePlotWidget(window_s=10.0, show_raw=True)
    gauge = TensionGaugeWidget()
    qtbot.addWidget(plot)
    qtbot.addWidget(gauge)
    for value in (10.3, 10.04, 152.0, 0.85):
        plot.set_threshold(value)
        gauge.set_threshold(value)
        assert plot._label_text == gauge.target_text()  # e.g. "target 10.3 µV" on both


def test_a_dragged_line_lands_on_the_target_grid(qtbot):
    plot = LivePlotWidget(window_s=10.0, show_raw=True)
    qtbot.addWidget(plot)
    plot.threshold_line.setValue(12.345)
    with qtbot.waitSignal(plot.threshold_changed, timeout=1000) as blocker:
        plot._on_line_moved()
    assert blocker.args == [12.3]
    assert plot.threshold_line.value() == 12.3 and plot._label_text == "target 12.3 µV"
    plot.threshold_line.setValue(-1.0)
    with qtbot.waitSignal(plot.threshold_changed, timeout=1000) as blocker:
        plot._on_line_moved()
    assert blocker.args == [0.1]
