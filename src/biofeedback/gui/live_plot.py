"""Raw and envelope traces of one channel (pyqtgraph).

Curves are created once and only fed new arrays (``setData``); pens are 1 px wide (wider pens are
much slower to rasterise), curves clip to the view and use pyqtgraph's peak downsampling so a
10 s window at 2 kHz costs about as much as the plot is wide in pixels. Axis ranges are set by the
window's slow timer, never auto-ranged per frame, so the picture does not pump.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QWidget

from biofeedback.gui.theme import PALETTE, color

pg.setConfigOptions(antialias=False, background=PALETTE.panel, foreground=PALETTE.text_muted)


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k that is >= value (axis ranges that do not jitter)."""
    if not (value > 0 and math.isfinite(value)):
        return 1.0
    exp = math.floor(math.log10(value))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        candidate = m * 10**exp
        if candidate >= value * 0.999:
            return candidate
    return 10 ** (exp + 1)


def _make_curve(plot: pg.PlotItem, hex_code: str) -> pg.PlotDataItem:
    curve = plot.plot(pen=pg.mkPen(color(hex_code), width=1))
    curve.setClipToView(True)
    curve.setDownsampling(auto=True, method="peak")
    return curve


class LivePlotWidget(pg.GraphicsLayoutWidget):
    """Two stacked plots: filtered signal (uV) and envelope (uV RMS) with the threshold line.

    Signals
    -------
    threshold_changed(float)
        The threshold line was dragged to a new value (uV RMS).
    """

    threshold_changed = Signal(float)

    def __init__(self, window_s: float = 10.0, parent: QWidget | None = None) -> None:
        super().__init__(parent=parent)
        self.window_s = float(window_s)
        self.ci.layout.setContentsMargins(2, 2, 6, 2)
        self.ci.layout.setVerticalSpacing(2)
        self.raw_plot: pg.PlotItem = self.addPlot(row=0, col=0)
        self.env_plot: pg.PlotItem = self.addPlot(row=1, col=0)
        self.env_plot.setXLink(self.raw_plot)
        for plot, label in ((self.raw_plot, "µV"), (self.env_plot, "µV RMS")):
            plot.setMenuEnabled(False)
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            plot.showGrid(x=True, y=True, alpha=0.12)
            plot.setLabel("left", label)
            plot.getAxis("left").setWidth(54)
            plot.vb.disableAutoRange()
            plot.setXRange(-self.window_s, 0, padding=0)
        self.raw_plot.getAxis("bottom").setStyle(showValues=False)
        self.env_plot.setLabel("bottom", "time (s)")
        self.raw_curve = _make_curve(self.raw_plot, PALETTE.raw_trace)
        self.env_curve = _make_curve(self.env_plot, PALETTE.envelope_trace)

        self.threshold_line = pg.InfiniteLine(
            pos=5.0,
            angle=0,
            movable=True,
            pen=pg.mkPen(color(PALETTE.threshold), width=1.5),
            hoverPen=pg.mkPen(color(PALETTE.calm), width=3),
            label="target {value:.1f} µV",
            labelOpts={"position": 0.06, "color": PALETTE.text, "anchors": [(0, 1), (0, 1)]},
        )
        self.threshold_line.setZValue(10)
        self.threshold_line.sigPositionChangeFinished.connect(self._on_line_moved)
        self.env_plot.addItem(self.threshold_line)
        self.noise_line = pg.InfiniteLine(
            pos=0.0,
            angle=0,
            movable=False,
            pen=pg.mkPen(color(PALETTE.noise_floor), width=1, style=Qt.PenStyle.DashLine),
        )
        self.env_plot.addItem(self.noise_line)
        self._marker_lines: list[tuple[pg.InfiniteLine, pg.InfiniteLine]] = []
        self._raw_range = 0.0
        self._env_range = 0.0

    # -- data ----------------------------------------------------------------------------------
    def set_data(self, t_s: np.ndarray, signal_uv: np.ndarray, envelope_uv: np.ndarray) -> None:
        """Replace both traces (arrays of equal length; ``t_s`` is seconds before now, <= 0)."""
        self.raw_curve.setData(t_s, signal_uv)
        self.env_curve.setData(t_s, envelope_uv)

    def set_threshold(self, threshold_uv: float) -> None:
        """Move the threshold line without emitting ``threshold_changed``."""
        self.threshold_line.blockSignals(True)
        self.threshold_line.setValue(float(threshold_uv))
        self.threshold_line.blockSignals(False)

    def set_noise_floor(self, noise_floor_uv: float) -> None:
        """Dashed line at the measured noise floor."""
        if math.isfinite(noise_floor_uv):
            self.noise_line.setValue(float(noise_floor_uv))

    def update_ranges(
        self, signal_uv: np.ndarray, envelope_uv: np.ndarray, threshold_uv: float
    ) -> None:
        """Choose stable y ranges from the visible data (call a few times a second).

        The range grows at once when the signal outgrows it and shrinks only when the signal has
        been well inside it, so the traces do not breathe with every burst.
        """
        raw_peak = _robust_peak(np.abs(signal_uv))
        env_peak = max(_robust_peak(envelope_uv), threshold_uv * 1.6)
        self._raw_range = _sticky(self._raw_range, nice_ceiling(raw_peak * 1.15))
        self._env_range = _sticky(self._env_range, nice_ceiling(env_peak * 1.15))
        self.raw_plot.setYRange(-self._raw_range, self._raw_range, padding=0)
        self.env_plot.setYRange(0, self._env_range, padding=0)

    def set_markers(self, times_s: list[float]) -> None:
        """Vertical marker lines at these times (seconds before now, <= 0)."""
        while len(self._marker_lines) < len(times_s):
            pen = pg.mkPen(color(PALETTE.marker), width=1, style=Qt.PenStyle.DashLine)
            pair = (pg.InfiniteLine(angle=90, pen=pen), pg.InfiniteLine(angle=90, pen=pen))
            self.raw_plot.addItem(pair[0])
            self.env_plot.addItem(pair[1])
            self._marker_lines.append(pair)
        for i, pair in enumerate(self._marker_lines):
            visible = i < len(times_s)
            for line in pair:
                line.setVisible(visible)
                if visible:
                    line.setValue(times_s[i])

    def _on_line_moved(self) -> None:
        value = float(self.threshold_line.value())
        if value <= 0:
            value = 0.1
            self.set_threshold(value)
        self.threshold_changed.emit(round(value, 2))


def _robust_peak(values: np.ndarray) -> float:
    """99.5th percentile of the finite values (a single spike does not set the scale)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0
    if finite.size > 4000:
        finite = finite[:: finite.size // 4000]
    return float(np.percentile(finite, 99.5))


def _sticky(current: float, wanted: float) -> float:
    if wanted > current or wanted < current / 3:
        return wanted
    return current
