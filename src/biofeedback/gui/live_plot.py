"""Raw and envelope traces of one channel (pyqtgraph).

Each trace is a :class:`ScrollingTrace`: the line's points live in a preallocated QPolygonF,
overwritten in place every frame; the window only ever holds what is in view (clip to view), fed
peak-decimated columns (:class:`~biofeedback.gui.bridge.PeakDecimator`: min/max per column for the
raw trace, about one column per pixel), and the picture scrolls: the whole line is rasterised
(1 px cosmetic pen, no antialiasing) into a pixmap twice a second, and in between Qt's own items
move that pixmap and draw only the newest columns.

Why not ``PlotDataItem.setData`` with ``clipToView`` and ``autoDownsample(method="peak")`` on the
full-rate window? It re-decimates the whole window and rebuilds and strokes a QPainterPath every
frame: for 4 channels x 2 kHz x 10 s, 29.5-30 ms per frame against 5.2 ms for these traces at the
app's plot width, 42-45 against 6.6-7.1 ms at 1280 px (update and paint, offscreen, this machine;
``python benchmarks/traces.py``): stock items top out at 22-24 fps, these leave room for 60 fps
within half a core. Axis ranges are set by the window's slow timer, never auto-ranged per frame,
so the picture does not pump; axes are drawn from a pixmap cache and kept outside the area
repainted every frame.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from pyqtgraph import functions as fn
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QFontMetricsF,
    QPainter,
    QPainterPath,
    QPen,
    QPixmap,
    QPolygonF,
    QTransform,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsLineItem,
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QGraphicsView,
    QWidget,
)

from biofeedback.gui.theme import PALETTE, color, font
from biofeedback.training.thresholds import format_uv, round_target

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


#: The cached picture of a scrolling trace is redrawn whole after this many new columns (about
#: half a second); in between, each frame moves it left and draws only the newest columns.
REFRESH_COLUMNS = 32


class ScrollingTrace:
    """A trace in a pyqtgraph plot, drawn by Qt's own (C++) items: no Python runs while painting.

    The line's points live in a preallocated QPolygonF, overwritten in place by ``set_data``.
    Every ``REFRESH_COLUMNS`` columns (or when the scale or size changes) the whole line is drawn
    once into a pixmap shown by a QGraphicsPixmapItem; on the frames in between that pixmap is
    only moved left by the columns added since, and a small QGraphicsPathItem draws the newest
    columns. A dense raw EMG trace then costs a blit instead of rasterising ~1000 long line
    segments, and Qt never calls back into Python for its bounds or paint.

    Non-finite points (a gap, or the part of the window not filled yet) are parked on the last
    finite point before them, so they draw nothing; an interior gap is covered by a grey band
    (which also hides the line bridging it).
    """

    def __init__(self, plot: pg.PlotItem, pen: QPen, background: str = PALETTE.panel) -> None:
        self.plot = plot
        self.pen = QPen(pen)
        self.pen.setCosmetic(True)
        # opaque picture: blitted without blending; the trace sits below the plot's lines
        self.background = color(background)
        self.gap_brush = QBrush(color(PALETTE.background, 235))
        self.image = QGraphicsPixmapItem()
        self.image.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.image.setShapeMode(QGraphicsPixmapItem.ShapeMode.BoundingRectShape)
        self.image.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.image.setZValue(-5)
        self.tail = QGraphicsPathItem()
        self.tail.setPen(self.pen)
        self.tail.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.tail.setZValue(-4)
        plot.addItem(self.image, ignoreBounds=True)
        plot.addItem(self.tail, ignoreBounds=True)
        self._poly = QPolygonF()
        self._xy = np.empty((0, 2))
        self._gaps: list[tuple[float, float]] = []
        self._visible = False
        self._end_column = 0
        self._fraction = 0.0
        self._points_per_column = 1
        self._column_dx = 0.0
        self._cache_key: tuple = ()
        self._cache_column = 0
        self._cache_pos = QPointF()
        self._transform: QTransform | None = None
        self._x_written: np.ndarray | None = None
        # the item-to-device transform changes only with the range or the size
        plot.vb.sigTransformChanged.connect(self._forget_transform)
        plot.vb.sigResized.connect(self._forget_transform)
        #: Full redraws of the picture (tests and benchmarks read this).
        self.full_renders = 0

    @property
    def gaps(self) -> list[tuple[float, float]]:
        """(x_start, x_end) of interior gaps currently drawn as bands."""
        return list(self._gaps)

    @property
    def points(self) -> np.ndarray:
        """The polyline's points [n, 2] as last set (after parking non-finite ones)."""
        return self._xy.copy()

    def set_data(
        self,
        x: np.ndarray,
        y: np.ndarray,
        end_column: int,
        points_per_column: int = 1,
        fraction: float = 0.0,
    ) -> None:
        """Replace the points (``x`` and ``y`` of equal length, the newest on the right).

        ``end_column`` is the running count of columns pushed so far (it tells how far the
        picture has scrolled); ``points_per_column`` is 2 for interleaved (min, max) columns;
        ``fraction`` (0-1) is how much of the next column has already arrived: the picture
        scrolls by that much more, so it moves on every frame, not only when a column completes.
        """
        n = len(y)
        if len(self._xy) != n:
            self._poly = fn.create_qpolygonf(n)
            self._xy = fn.ndarray_from_qpolygonf(self._poly)
            self._cache_key = ()
        finite = np.isfinite(y)
        self._gaps = []
        if finite.all():
            if self._x_written is not x:  # the time axis is the same array every frame
                self._xy[:, 0] = x
                self._x_written = x
            self._xy[:, 1] = y
        elif finite.any():
            self._x_written = None
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
        self._end_column = int(end_column)
        self._fraction = min(max(float(fraction), 0.0), 1.0)
        self._points_per_column = ppc = max(1, int(points_per_column))
        self._column_dx = float(x[-1] - x[-1 - ppc]) if n > ppc else 0.0
        self._refresh()

    def _forget_transform(self, *args: object) -> None:
        self._transform = None

    def _device_transform(self) -> QTransform | None:
        if self._transform is not None:
            return self._transform
        scene = self.plot.scene()
        views = scene.views() if scene is not None else []
        parent = self.image.parentItem()
        if not views or parent is None:
            return None
        self._transform = parent.deviceTransform(views[0].viewportTransform())
        return self._transform

    def _refresh(self) -> None:
        if not self._visible:
            self.image.setVisible(False)
            self.tail.setPath(QPainterPath())
            return
        t = self._device_transform()
        if t is None or self._column_dx <= 0:
            return
        view_rect = self.plot.vb.viewRect()
        key = (t, view_rect)
        shift = self._end_column - self._cache_column
        if key != self._cache_key or not 0 <= shift <= REFRESH_COLUMNS:
            self._render(t, view_rect)
            self._cache_key = key
            self._cache_column = self._end_column
            shift = 0
        self.image.setVisible(True)
        offset = self._fraction * self._column_dx
        self.image.setPos(
            self._cache_pos.x() - shift * self._column_dx - offset, self._cache_pos.y()
        )
        self.tail.setPos(-offset, 0.0)
        if shift:
            m = min(len(self._xy), (shift + 1) * self._points_per_column)
            # a new small polygon filled from the array: QPolygonF.mid() returns a QList that
            # PySide turns into Python QPointF objects and back (4x slower)
            tail = fn.create_qpolygonf(m)
            fn.ndarray_from_qpolygonf(tail)[:] = self._xy[-m:]
            path = QPainterPath()
            path.addPolygon(tail)
            self.tail.setPath(path)
        else:
            self.tail.setPath(QPainterPath())

    def _render(self, t: QTransform, view_rect: QRectF) -> None:
        device = t.mapRect(view_rect).toAlignedRect().adjusted(-1, -1, 1, 1)
        views = self.plot.scene().views()
        dpr = views[0].devicePixelRatioF() if views else 1.0
        pm = QPixmap(max(1, round(device.width() * dpr)), max(1, round(device.height() * dpr)))
        pm.setDevicePixelRatio(dpr)
        pm.fill(self.background)
        q = QPainter(pm)
        q.setTransform(t * QTransform.fromTranslate(-device.x(), -device.y()))
        q.setPen(self.pen)
        q.drawPolyline(self._poly)
        if self._gaps:
            top, height = view_rect.top(), view_rect.height()
            for x0, x1 in self._gaps:
                q.fillRect(QRectF(x0, top, x1 - x0, height), self.gap_brush)
        q.end()
        self.image.setPixmap(pm)
        inverse, _ = t.inverted()
        self._cache_pos = inverse.map(QPointF(device.topLeft()))
        self.full_renders += 1


#: The least distance between two labelled ticks on a vertical axis (px, about 1.5 lines).
MIN_TICK_GAP_PX = 18


class CachedAxisItem(pg.AxisItem):
    """An axis whose bounding rectangle is computed once per geometry change.

    Qt asks every item in the scene for its bounds on each repaint; pyqtgraph's AxisItem
    recomputes them in Python every time (about a fifth of a plot's per-frame cost here).
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._br_key: tuple | None = None
        self._br = QRectF()

    def tickSpacing(self, minVal: float, maxVal: float, size: float) -> list:
        """pyqtgraph's tick levels; on a short vertical axis (four channels on a laptop) only
        major ticks at least :data:`MIN_TICK_GAP_PX` apart, so their labels do not overlap."""
        levels = super().tickSpacing(minVal, maxVal, size)
        span = abs(maxVal - minVal)
        if self.orientation not in ("left", "right") or not levels or size <= 0 or span <= 0:
            return levels
        major = levels[0][0]
        if major * size / span >= MIN_TICK_GAP_PX:
            return levels
        while major * size / span < MIN_TICK_GAP_PX:
            major *= 2
        return [(major, 0.0)]

    def boundingRect(self) -> QRectF:
        key = (self.geometry(), self.style["tickLength"], self.grid)
        if key != self._br_key:
            self._br = super().boundingRect()
            self._br_key = key
        return QRectF(self._br)


def _axes() -> dict[str, pg.AxisItem]:
    return {name: CachedAxisItem(name) for name in ("left", "bottom")}


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
        # enableMenu=False: the view boxes never build the context menu that is switched off below
        # (start-up: about a third of a card's plots; docs/performance.md)
        self.raw_plot: pg.PlotItem = self.addPlot(row=0, col=0, axisItems=_axes(), enableMenu=False)
        self.env_plot: pg.PlotItem = self.addPlot(row=1, col=0, axisItems=_axes(), enableMenu=False)
        if show_raw:
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
        self._tune_painting()
        self.env_plot.setLabel("bottom", "time (s)")
        if not show_raw:
            self.raw_plot.hide()
            self.ci.layout.setRowStretchFactor(0, 0)
            self.ci.layout.setRowMaximumHeight(0, 0)
        self.raw_curve = ScrollingTrace(self.raw_plot, pg.mkPen(color(PALETTE.raw_trace), width=1))
        self.env_curve = ScrollingTrace(
            self.env_plot, pg.mkPen(color(PALETTE.envelope_trace), width=1)
        )

        self._add_threshold_line()
        # a plain Qt line (painted without calling into Python every frame)
        noise_pen = QPen(color(PALETTE.noise_floor), 1, Qt.PenStyle.DashLine)
        noise_pen.setCosmetic(True)
        self.noise_line = QGraphicsLineItem(-self.window_s, 0.0, 0.0, 0.0)
        self.noise_line.setPen(noise_pen)
        self.noise_line.setVisible(False)
        self.env_plot.addItem(self.noise_line, ignoreBounds=True)
        self.noise_floor_uv = math.nan
        for plot in (self.raw_plot, self.env_plot):
            # containers paint nothing themselves: spare Qt a call into Python per frame
            plot.vb.setFlag(QGraphicsItem.GraphicsItemFlag.ItemHasNoContents, True)
        self._marker_lines: list[tuple[pg.InfiniteLine, pg.InfiniteLine]] = []
        self._raw_range = 0.0
        self._env_range = 0.0

    def _tune_painting(self) -> None:
        """Painting settings that keep a frame cheap (measured with benchmarks/traces.py and
        benchmarks/gui.py)."""
        # items never rely on painter state left by another item; saves a save/restore per item
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontSavePainterState, True)
        # The scene's background brush (opaque) covers every repainted pixel: the viewport need
        # not fill it first, nor the parent card be painted under it, and a plain fill is cheaper
        # than pyqtgraph's cached-background blit (benchmarks/traces.py, 4 channels: 4.9-5.4 ->
        # 4.0-4.3 ms per frame under Xvfb, 4.7-4.9 -> 2.7 ms offscreen).
        self.viewport().setAutoFillBackground(False)
        self.viewport().setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        self.setCacheMode(QGraphicsView.CacheModeFlag.CacheNone)
        # Every frame moves the pictures of both plots: one repaint of the rectangle around all
        # that changed costs less than Qt's minimal region of many small rectangles (GUI thread
        # ~2 points lower, whole process ~5, in alternating runs of benchmarks/gui.py's fps part)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.BoundingRectViewportUpdate)
        for plot in (self.raw_plot, self.env_plot):
            for name in ("left", "bottom"):
                # ticks point outwards so the axes stay outside the area repainted every frame
                # (Qt then never asks them for their bounds while painting the traces), and
                # axes change only with the range (a few times a minute): paint them from a cache
                plot.getAxis(name).setStyle(tickLength=5)
                plot.getAxis(name).setCacheMode(
                    pg.QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache
                )

    def _add_threshold_line(self) -> None:
        """The draggable threshold line on the envelope plot, with its value as a label."""
        self.threshold_line = pg.InfiniteLine(
            pos=5.0,
            angle=0,
            movable=True,
            pen=pg.mkPen(color(PALETTE.threshold), width=1.5),
            hoverPen=pg.mkPen(color(PALETTE.calm), width=3),
        )
        self.threshold_line.setZValue(10)
        # drawn from a pixmap cache: no call into Python on the frames it does not move
        self.threshold_line.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.threshold_line.sigPositionChangeFinished.connect(self._on_line_moved)
        self.threshold_line.sigPositionChanged.connect(self._place_label)
        self.env_plot.addItem(self.threshold_line)
        # The line's value as a cached pixmap that ignores the view's scaling: pyqtgraph's text
        # label re-renders its text on every frame the traces repaint (~0.3 ms per plot).
        self.threshold_label = QGraphicsPixmapItem()
        self.threshold_label.setFlag(
            QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True
        )
        self.threshold_label.setZValue(11)
        self.env_plot.addItem(self.threshold_label, ignoreBounds=True)
        self._label_text = ""

    # -- data ----------------------------------------------------------------------------------
    def set_data(
        self,
        signal_t_s: np.ndarray,
        signal_uv: np.ndarray,
        envelope_t_s: np.ndarray,
        envelope_uv: np.ndarray,
        end_column: int,
        fraction: float = 0.0,
    ) -> None:
        """Replace both traces (times in seconds before now, <= 0). ``signal_uv`` holds
        interleaved (min, max) column pairs, ``envelope_uv`` one value per column;
        ``end_column`` (running column count) lets the traces scroll from a cached picture and
        ``fraction`` of a column more for the samples of the next, incomplete column."""
        self.raw_curve.set_data(signal_t_s, signal_uv, end_column, 2, fraction)
        self.env_curve.set_data(envelope_t_s, envelope_uv, end_column, 1, fraction)

    def set_threshold(self, threshold_uv: float) -> None:
        """Move the threshold line (``threshold_changed`` is only emitted for user drags)."""
        self.threshold_line.setValue(float(threshold_uv))
        self._place_label()

    def _place_label(self) -> None:
        value = float(self.threshold_line.value())
        text = f"target {format_uv(value)} µV"  # the one rounding rule (as on the gauge)
        if text != self._label_text:
            self._label_text = text
            metrics = QFontMetricsF(font(10))
            w, h = metrics.horizontalAdvance(text) + 10, metrics.height() + 2
            dpr = self.devicePixelRatioF()
            pm = QPixmap(max(1, round(w * dpr)), max(1, round(h * dpr)))
            pm.setDevicePixelRatio(dpr)
            pm.fill(Qt.GlobalColor.transparent)
            p = QPainter(pm)
            p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(color(PALETTE.panel, 225))
            p.drawRoundedRect(QRectF(0, 0, w, h), 4, 4)
            p.setFont(font(10))
            p.setPen(color(PALETTE.text))
            p.drawText(QRectF(0, 0, w, h), Qt.AlignmentFlag.AlignCenter, text)
            p.end()
            self.threshold_label.setPixmap(pm)
            self.threshold_label.setOffset(0, -h - 2)
        left = self.env_plot.vb.viewRect().left()
        self.threshold_label.setPos(left + 0.06 * self.window_s, value)

    def set_noise_floor(self, noise_floor_uv: float) -> None:
        """Dashed line at the measured noise floor."""
        if math.isfinite(noise_floor_uv) and noise_floor_uv != self.noise_floor_uv:
            self.noise_floor_uv = float(noise_floor_uv)
            self.noise_line.setLine(-self.window_s, self.noise_floor_uv, 0.0, self.noise_floor_uv)
            self.noise_line.setVisible(True)

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
        if round_target(value) != value:  # on the 0.1 uV grid (and above 0) like every target
            value = round_target(value)
            self.set_threshold(value)
        self.threshold_changed.emit(value)


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
