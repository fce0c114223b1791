"""Raw and envelope traces of one channel (pyqtgraph).

The traces are :class:`TraceItem` s: pyqtgraph graphics items that hold a preallocated QPolygonF
which is overwritten in place every frame and drawn with one ``drawPolyline`` (1 px cosmetic pen,
no antialiasing). They only ever hold what is in view (clip to view) and are fed peak-decimated
columns (:class:`~biofeedback.gui.bridge.PeakDecimator`: min/max per column for the raw trace),
so a 10 s window at 2 kHz costs about as much as the plot is wide in pixels.

Why not ``PlotDataItem.setData`` with ``clipToView`` and ``autoDownsample(method="peak")``? It
rebuilds and strokes a QPainterPath every frame: measured 20 ms per frame for 4 channels against
5.8 ms with the polyline item (same data, offscreen raster, this machine), which decides whether
4 channels reach 60 fps within half a core. Axis ranges are set by the window's slow timer, never
auto-ranged per frame, so the picture does not pump; axes are drawn from a pixmap cache.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from pyqtgraph import functions as fn
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QPainter, QPen, QPolygonF
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


class TraceItem(pg.GraphicsObject):
    """A polyline whose points live in a preallocated QPolygonF, updated in place.

    ``set_data(x, y)`` copies into the polygon's own memory (no allocation while the length stays
    the same) and the item paints with one ``drawPolyline``. Non-finite points (a gap, or the part
    of the window not filled yet) are parked on the last finite point before them, so they draw
    nothing; an interior gap is covered by a grey band (which also hides the line bridging it).
    """

    def __init__(self, pen: QPen) -> None:
        super().__init__()
        self.pen = QPen(pen)
        self.pen.setCosmetic(True)
        self.gap_brush = QBrush(color(PALETTE.background, 235))
        self._poly = QPolygonF()
        self._xy = np.empty((0, 2))
        self._gaps: list[tuple[float, float]] = []
        self._visible = False
        self._bounds = QRectF()

    @property
    def gaps(self) -> list[tuple[float, float]]:
        """(x_start, x_end) of interior gaps currently drawn as bands."""
        return list(self._gaps)

    def set_data(self, x: np.ndarray, y: np.ndarray) -> None:
        """Replace the points (``x`` and ``y`` of equal length)."""
        n = len(y)
        if len(self._xy) != n:
            self._poly = fn.create_qpolygonf(n)
            self._xy = fn.ndarray_from_qpolygonf(self._poly)
        finite = np.isfinite(y)
        self._gaps = []
        if finite.all():
            self._xy[:, 0] = x
            self._xy[:, 1] = y
        elif finite.any():
            idx = np.where(finite, np.arange(n), 0)
            np.maximum.accumulate(idx, out=idx)
            first = int(np.argmax(finite))
            idx[:first] = first
            self._xy[:, 0] = x[idx]
            self._xy[:, 1] = y[idx]
            edges = np.flatnonzero(np.diff(finite[first:].view(np.int8))) + first + 1
            for start, stop in zip(edges[0::2], edges[1::2], strict=False):
                self._gaps.append((float(x[start - 1]), float(x[stop])))
        self._visible = bool(finite.any())
        if self._visible:
            lo, hi = float(np.nanmin(y)), float(np.nanmax(y))
            bounds = QRectF(float(x[0]), lo, float(x[-1] - x[0]), hi - lo)
        else:
            bounds = QRectF()
        if bounds != self._bounds:
            self.prepareGeometryChange()
            self._bounds = bounds
        self.update()

    def boundingRect(self) -> QRectF:
        return self._bounds

    def paint(self, p: QPainter, *args: object) -> None:
        if not self._visible:
            return
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        p.setPen(self.pen)
        p.drawPolyline(self._poly)
        if self._gaps:
            top, height = self._bounds.top(), self._bounds.height()
            for x0, x1 in self._gaps:
                p.fillRect(QRectF(x0, top, x1 - x0, height), self.gap_brush)


class LivePlotWidget(pg.GraphicsLayoutWidget):
    """Two stacked plots: filtered signal (uV) and envelope (uV RMS) with the threshold line.

    With ``show_raw=False`` (an ENV output: the MyoWare's own envelope has no raw trace) only the
    envelope plot is shown.

    Signals
    -------
    threshold_changed(float)
        The threshold line was dragged to a new value (uV RMS).
    """

    threshold_changed = Signal(float)

    def __init__(
        self, window_s: float = 10.0, show_raw: bool = True, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent=parent)
        self.window_s = float(window_s)
        self.show_raw = show_raw
        self.ci.layout.setContentsMargins(2, 2, 6, 2)
        self.ci.layout.setVerticalSpacing(2)
        self.raw_plot: pg.PlotItem = self.addPlot(row=0, col=0)
        self.env_plot: pg.PlotItem = self.addPlot(row=1, col=0)
        self.env_plot.setXLink(self.raw_plot)
        for plot, label in ((self.raw_plot, "µV"), (self.env_plot, "µV RMS")):
            plot.setMenuEnabled(False)
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            # no grid: grid lines belong to the axis items, which would then be repainted with
            # the curves on every frame (axis text is the most expensive thing on screen)
            plot.setLabel("left", label)
            plot.getAxis("left").setWidth(54)
            plot.vb.disableAutoRange()
            plot.setXRange(-self.window_s, 0, padding=0)
        self.raw_plot.getAxis("bottom").setStyle(showValues=False)
        for plot in (self.raw_plot, self.env_plot):
            for name in ("left", "bottom"):
                # axes change only with the range (a few times a minute): paint them from a cache
                plot.getAxis(name).setCacheMode(
                    pg.QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache
                )
        self.env_plot.setLabel("bottom", "time (s)")
        if not show_raw:
            self.raw_plot.hide()
            self.ci.layout.setRowStretchFactor(0, 0)
            self.ci.layout.setRowMaximumHeight(0, 0)
        self.raw_curve = TraceItem(pg.mkPen(color(PALETTE.raw_trace), width=1))
        self.env_curve = TraceItem(pg.mkPen(color(PALETTE.envelope_trace), width=1))
        self.raw_plot.addItem(self.raw_curve)
        self.env_plot.addItem(self.env_curve)

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
    def set_data(
        self,
        signal_t_s: np.ndarray,
        signal_uv: np.ndarray,
        envelope_t_s: np.ndarray,
        envelope_uv: np.ndarray,
    ) -> None:
        """Replace both traces (times in seconds before now, <= 0)."""
        self.raw_curve.set_data(signal_t_s, signal_uv)
        self.env_curve.set_data(envelope_t_s, envelope_uv)

    def set_threshold(self, threshold_uv: float) -> None:
        """Move the threshold line (``threshold_changed`` is only emitted for user drags)."""
        self.threshold_line.setValue(float(threshold_uv))

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
        # a little padding keeps the end tick labels of the two stacked plots apart
        self.raw_plot.setYRange(-self._raw_range, self._raw_range, padding=0.04)
        self.env_plot.setYRange(0, self._env_range, padding=0.02)

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
