"""The tension gauge: current muscle tension (uV RMS) against the target zone and threshold.

A vertical bar on a logarithmic scale (rest levels of 1-5 uV and contractions of 100+ uV must both
be readable) with the target zone below the threshold shaded, a short trail of the last seconds to
its left, and a large numeric readout on top. The bar is teal while tension is below the threshold,
soft amber above it, and grey while the signal is flagged (flagged samples are never rewarded).

The bar follows every frame; the number changes only a few times a second (``set_readout``) so it
can be read. In the clinician view the threshold line can be dragged with the mouse.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QFontMetricsF, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from biofeedback.core.types import Flag
from biofeedback.gui.theme import PALETTE, color, font

#: Scale around the threshold (log): from threshold / LOW_FACTOR to threshold x HIGH_FACTOR.
LOW_FACTOR = 6.0
HIGH_FACTOR = 10.0
MIN_SCALE_UV = 0.1


class GaugeState:
    """What the gauge currently says (string constants, easy to assert in tests)."""

    IDLE = "idle"  # no data yet
    CALM = "calm"  # below the threshold: the target
    TENSE = "tense"  # above the threshold
    CHECK = "check"  # signal flagged (clipping, mains, electrode off, motion, gap): not scored


def classify(level_uv: float, threshold_uv: float, flags: int) -> str:
    """The gauge state for a level, a threshold and the quality bits of the latest samples."""
    if flags:
        return GaugeState.CHECK
    if not math.isfinite(level_uv):
        return GaugeState.IDLE
    return GaugeState.CALM if level_uv < threshold_uv else GaugeState.TENSE


def format_uv(value_uv: float) -> str:
    """A readable number of microvolts: 2 significant digits below 10, integers above."""
    if not math.isfinite(value_uv):
        return "–"
    if value_uv < 10:
        return f"{value_uv:.1f}"
    return f"{value_uv:.0f}"


class TensionGaugeWidget(QWidget):
    """Large tension gauge for one channel.

    Signals
    -------
    threshold_changed(float)
        The user dragged the threshold line (uV RMS); emitted on release.
    """

    threshold_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None, interactive: bool = True) -> None:
        super().__init__(parent)
        self.interactive = interactive
        self.threshold_uv = 5.0
        self.noise_floor_uv = float("nan")
        self.level_uv = float("nan")
        self.readout_uv = float("nan")
        self.flags = 0
        self.state = GaugeState.IDLE
        self.trail_uv: np.ndarray = np.empty(0)
        self.show_number = True
        self._scale: tuple[float, float] = self._scale_for(self.threshold_uv)
        self._dragging = False
        self._drag_value = self.threshold_uv
        #: Called after every paint with this widget (benchmarks timestamp pixels with it).
        self.paint_listeners: list[Callable[[TensionGaugeWidget], None]] = []
        self.paint_count = 0
        self.setMinimumSize(190, 240)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(interactive)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, False)

    # -- data ----------------------------------------------------------------------------------
    def set_threshold(self, threshold_uv: float) -> None:
        """Move the threshold (uV RMS) and rescale around it."""
        if not (threshold_uv > 0 and math.isfinite(threshold_uv)):
            return
        self.threshold_uv = float(threshold_uv)
        if not self._dragging:
            self._scale = self._scale_for(self.threshold_uv)
        self.state = classify(self.level_uv, self.threshold_uv, self.flags)
        self.update()

    def set_noise_floor(self, noise_floor_uv: float) -> None:
        """The measured noise floor (uV RMS), drawn as a faint line."""
        self.noise_floor_uv = float(noise_floor_uv)

    def set_level(
        self, level_uv: float, flags: int = 0, trail_uv: np.ndarray | None = None
    ) -> None:
        """The latest envelope value (uV RMS), its quality bits and optionally the recent trail."""
        self.level_uv = float(level_uv)
        self.flags = int(flags)
        if trail_uv is not None:
            self.trail_uv = trail_uv
        self.state = classify(self.level_uv, self.threshold_uv, self.flags)
        self.update()

    def set_readout(self, value_uv: float) -> None:
        """The number shown on top (updated a few times a second)."""
        self.readout_uv = float(value_uv)
        self.update()

    def clear(self) -> None:
        """Back to 'waiting for signal'."""
        self.level_uv = self.readout_uv = float("nan")
        self.flags = 0
        self.trail_uv = np.empty(0)
        self.state = GaugeState.IDLE
        self.update()

    @property
    def caption(self) -> str:
        """The short sentence under the number."""
        if self.state == GaugeState.CALM:
            return "Below target"
        if self.state == GaugeState.TENSE:
            return "Above target"
        if self.state == GaugeState.CHECK:
            names = [n for n in Flag.describe(self.flags)] or ["signal"]
            return "Check: " + ", ".join(names)
        return "Waiting for signal"

    # -- geometry ------------------------------------------------------------------------------
    @staticmethod
    def _scale_for(threshold_uv: float) -> tuple[float, float]:
        lo = max(threshold_uv / LOW_FACTOR, MIN_SCALE_UV)
        hi = max(threshold_uv * HIGH_FACTOR, lo * 10)
        return lo, hi

    def _header_height(self) -> float:
        if not self.show_number:
            return 8.0
        return QFontMetricsF(font(34)).height() + QFontMetricsF(font(12)).height() + 14

    def _body(self) -> QRectF:
        r = QRectF(self.rect()).adjusted(10, self._header_height(), -10, -10)
        return r

    def _bar_rect(self) -> QRectF:
        body = self._body()
        width = max(34.0, min(72.0, body.width() * 0.28))
        return QRectF(body.right() - width, body.top(), width, body.height())

    def y_of(self, value_uv: float) -> float:
        """Pixel row of a value on the gauge's log scale (clamped to the body)."""
        body = self._body()
        lo, hi = self._scale
        v = min(max(value_uv, lo), hi) if math.isfinite(value_uv) else lo
        frac = math.log(v / lo) / math.log(hi / lo)
        return body.bottom() - frac * body.height()

    def value_at(self, y: float) -> float:
        """Value (uV) at a pixel row; inverse of :meth:`y_of`."""
        body = self._body()
        lo, hi = self._scale
        frac = (body.bottom() - y) / max(body.height(), 1.0)
        frac = min(max(frac, 0.0), 1.0)
        return lo * math.exp(frac * math.log(hi / lo))

    # -- painting ------------------------------------------------------------------------------
    def _state_color(self) -> str:
        return {
            GaugeState.CALM: PALETTE.calm,
            GaugeState.TENSE: PALETTE.tense,
            GaugeState.CHECK: PALETTE.neutral,
        }.get(self.state, PALETTE.border)

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        body = self._body()
        bar = self._bar_rect()
        threshold = self._drag_value if self._dragging else self.threshold_uv
        y_thr = self.y_of(threshold)
        state_hex = self._state_color()

        if self.show_number:
            self._paint_header(p, state_hex)

        # target zone: from the bottom of the scale up to the threshold
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(color(PALETTE.calm_soft, 150))
        p.drawRoundedRect(QRectF(body.left(), y_thr, body.width(), body.bottom() - y_thr), 4, 4)

        # scale ticks (1-2-5 sequence) on the left, faint
        self._paint_ticks(p, body, bar)

        # noise floor (what the hardware cannot resolve below)
        if math.isfinite(self.noise_floor_uv) and self.noise_floor_uv > self._scale[0]:
            y_nf = self.y_of(self.noise_floor_uv)
            pen = QPen(color(PALETTE.noise_floor, 160), 1, Qt.PenStyle.DotLine)
            p.setPen(pen)
            p.drawLine(QPointF(body.left(), y_nf), QPointF(bar.right(), y_nf))

        # trail of the last seconds
        trail = self.trail_uv
        if len(trail) > 1:
            left, right = body.left() + 34, bar.left() - 8
            if right - left > 20:
                self._paint_trail(p, trail, left, right)

        # bar track and fill
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(color(PALETTE.border, 120))
        p.drawRoundedRect(bar, 6, 6)
        if math.isfinite(self.level_uv):
            y_level = self.y_of(self.level_uv)
            p.setBrush(color(state_hex))
            p.drawRoundedRect(
                QRectF(bar.left(), y_level, bar.width(), bar.bottom() - y_level), 6, 6
            )

        # threshold line, across trail and bar, with its value
        pen = QPen(color(PALETTE.threshold), 2.5 if self._dragging else 2)
        p.setPen(pen)
        p.drawLine(QPointF(body.left() + 30, y_thr), QPointF(bar.right() + 4, y_thr))
        p.setFont(font(10))
        p.setPen(color(PALETTE.text))
        label = f"target {format_uv(threshold)}"
        fm = QFontMetricsF(p.font())
        ty = y_thr - 4 if y_thr - fm.height() > body.top() else y_thr + fm.ascent() + 2
        p.drawText(QPointF(body.left() + 36, ty), label)
        p.end()
        self.paint_count += 1
        for listener in self.paint_listeners:
            listener(self)

    def _paint_header(self, p: QPainter, state_hex: str) -> None:
        big = font(34, bold=True)
        small = font(12)
        fm_big = QFontMetricsF(big)
        fm_small = QFontMetricsF(small)
        number = format_uv(self.readout_uv)
        p.setFont(big)
        p.setPen(color(PALETTE.text))
        x = 12.0
        y = fm_big.ascent() + 2
        p.drawText(QPointF(x, y), number)
        p.setFont(small)
        p.setPen(color(PALETTE.text_muted))
        p.drawText(QPointF(x + fm_big.horizontalAdvance(number) + 6, y), "µV RMS")
        p.setPen(color(state_hex if self.state != GaugeState.IDLE else PALETTE.text_muted))
        p.setFont(font(12, bold=True))
        p.drawText(QPointF(x, y + fm_small.height() + 6), self.caption)

    def _paint_ticks(self, p: QPainter, body: QRectF, bar: QRectF) -> None:
        lo, hi = self._scale
        p.setFont(font(9))
        p.setPen(color(PALETTE.text_muted, 190))
        decade = 10 ** math.floor(math.log10(lo))
        ticks = []
        while decade <= hi:
            for m in (1, 2, 5):
                v = m * decade
                if lo <= v <= hi:
                    ticks.append(v)
            decade *= 10
        fm = QFontMetricsF(p.font())
        for v in ticks:
            y = self.y_of(v)
            text = f"{v:g}"
            p.drawText(QPointF(body.left(), y + fm.ascent() / 2 - 1), text)
            p.drawLine(QPointF(body.left() + 24, y), QPointF(body.left() + 28, y))

    def _paint_trail(self, p: QPainter, trail: np.ndarray, left: float, right: float) -> None:
        lo, hi = self._scale
        body = self._body()
        values = np.clip(np.nan_to_num(trail, nan=lo), lo, hi)
        frac = np.log(values / lo) / math.log(hi / lo)
        ys = body.bottom() - frac * body.height()
        xs = np.linspace(left, right, len(values))
        path = pg.arrayToQPath(xs, ys)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.setPen(QPen(color(PALETTE.envelope_trace, 200), 1.6))
        p.drawPath(path)

    # -- threshold drag ------------------------------------------------------------------------
    def _near_threshold(self, y: float) -> bool:
        return abs(y - self.y_of(self.threshold_uv)) <= 10

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self.interactive and event.button() == Qt.MouseButton.LeftButton:
            y = event.position().y()
            if self._near_threshold(y):
                self._dragging = True
                self._drag_value = self.threshold_uv
                event.accept()
                return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        y = event.position().y()
        if self._dragging:
            self._drag_value = round(self.value_at(y), 2)
            self.update()
            return
        if self.interactive:
            shape = (
                Qt.CursorShape.SizeVerCursor
                if self._near_threshold(y)
                else Qt.CursorShape.ArrowCursor
            )
            self.setCursor(shape)
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._dragging:
            self._dragging = False
            value = self._drag_value
            self.set_threshold(value)
            self.threshold_changed.emit(value)
            return
        super().mouseReleaseEvent(event)
