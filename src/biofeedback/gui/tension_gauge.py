"""The tension gauge: current muscle tension (uV RMS) against the target zone and threshold.

A vertical bar on a logarithmic scale (rest levels of 1-5 uV and contractions of 100+ uV must both
be readable) with the target zone below the threshold shaded, a short trail of the last seconds to
its left, and a large numeric readout on top. The bar is teal while tension is below the threshold,
soft amber above it, and grey while the signal is flagged (flagged samples are never rewarded).

Bar colour, number, caption and the trail's colours come from one classification of one value
(:func:`biofeedback.appmodel.feedback.classify`): the number shown is the level that was
classified. The bar follows every frame; the number and caption are refreshed at most
``NUMBER_HZ`` times a second so they can be read, and at once whenever the state changes, so the
caption never disagrees with the colour. In the clinician view the threshold line can be dragged.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (
    QFont,
    QFontMetricsF,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPixmap,
    QPolygonF,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from biofeedback.appmodel.feedback import (
    WAITING,
    ColourRole,
    FeedbackKind,
    FeedbackState,
    role_of,
    state_of,
)
from biofeedback.appmodel.feedback import classify as classify_feedback
from biofeedback.gui.theme import FONT_READOUT_PT, PALETTE, color, font
from biofeedback.training.thresholds import format_uv, round_target


@dataclass(frozen=True)
class _Fonts:
    """Fonts, metrics and the trail pen used on every frame, made once (after the QApplication)."""

    big: QFont
    unit: QFont
    caption: QFont
    label: QFont
    tick: QFont
    fm_big: QFontMetricsF
    fm_unit: QFontMetricsF
    fm_label: QFontMetricsF
    header_height: float
    trail_calm: QPen
    trail_tense: QPen


_FONTS: _Fonts | None = None


def _fonts() -> _Fonts:
    """The shared fonts (built on first use: Qt fonts need a QApplication)."""
    global _FONTS
    if _FONTS is None:
        big, unit = font(FONT_READOUT_PT, bold=True), font(12)
        label = font(10)
        fm_big, fm_unit = QFontMetricsF(big), QFontMetricsF(unit)
        trail_calm = QPen(color(PALETTE.calm, 220), 2)
        trail_tense = QPen(color(PALETTE.tense, 230), 2)
        for pen in (trail_calm, trail_tense):
            pen.setCosmetic(True)
        _FONTS = _Fonts(
            big=big,
            unit=unit,
            caption=font(12, bold=True),
            label=label,
            tick=font(9),
            fm_big=fm_big,
            fm_unit=fm_unit,
            fm_label=QFontMetricsF(label),
            header_height=fm_big.height() + fm_unit.height() + 14,
            trail_calm=trail_calm,
            trail_tense=trail_tense,
        )
    return _FONTS


#: How often the trail picture is redrawn (it scrolls slowly; the bar itself follows every frame).
TRAIL_HZ = 15.0
#: The bar's height is redrawn at most this often (its colour at once): every second frame at
#: 60 fps. A 100 ms moving RMS changes slowly (a few Hz), so a faster bar only costs paints.
BAR_HZ = 40.0
#: Scale around the threshold (log): from threshold / LOW_FACTOR to threshold x HIGH_FACTOR.
LOW_FACTOR = 6.0
HIGH_FACTOR = 10.0
MIN_SCALE_UV = 0.1
#: The number and caption are refreshed at most this often (and at once on a change of state).
NUMBER_HZ = 3.0

__all__ = ["GaugeState", "TensionGaugeWidget", "classify", "format_uv"]


class GaugeState:
    """What the gauge currently says (the state names of :class:`FeedbackKind`)."""

    IDLE = FeedbackKind.WAITING  # no data yet
    CALM = FeedbackKind.CALM  # below the threshold: the target
    TENSE = FeedbackKind.TENSE  # at or above the threshold
    CHECK = FeedbackKind.FLAGGED  # signal flagged (clipping, mains, electrode off...): not scored


def classify(level_uv: float, threshold_uv: float, flags: int) -> str:
    """The gauge state for a level, a threshold and the quality bits of the latest samples."""
    return state_of(level_uv, threshold_uv, flags)


_ROLE_COLOUR = {
    ColourRole.CALM: PALETTE.calm,
    ColourRole.TENSE: PALETTE.tense,
    ColourRole.NEUTRAL: PALETTE.neutral,
}


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
        #: The latest classification (bar colour) and the one behind the number and caption:
        #: the same object, or an older one of the same state (refreshed at NUMBER_HZ).
        self.feedback: FeedbackState = WAITING
        self.shown: FeedbackState = WAITING
        self._number_t = -math.inf
        self.trail_uv: np.ndarray = np.empty(0)
        self.show_number = True
        self._scale: tuple[float, float] = self._scale_for(self.threshold_uv)
        self._dragging = False
        self._drag_value = self.threshold_uv
        self._geometry_key: tuple = ()
        self._painted: tuple = ()
        self._geometry_cache = (QRectF(), QRectF())
        self._bg: QPixmap | None = None
        self._bg_key: tuple | None = None
        self._trail_poly = QPolygonF()
        self._trail_xy = np.empty((0, 2))
        self._trail_x_key = (0.0, 0.0)
        self._trail_pm: QPixmap | None = None
        self._trail_pm_key: tuple = ()
        self._trail_t = 0.0
        self._bar_t = 0.0
        self._label_pm: QPixmap | None = None
        self._label_key: str = ""
        self._header_pm: QPixmap | None = None
        self._header_key: tuple | None = None
        _fonts()
        #: Called after every paint with this widget (benchmarks timestamp pixels with it).
        self.paint_listeners: list[Callable[[TensionGaugeWidget], None]] = []
        self.paint_count = 0
        #: the scale's labelled values as last drawn (a short gauge leaves out crowded ones)
        self.tick_labels: list[str] = []
        self.setMinimumSize(190, 160)  # number and caption (85 px) and a 75 px scale
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(interactive)
        # the gauge paints every pixel itself (its cached background is opaque), so Qt need not
        # repaint the card's styled background under it on every frame
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)

    # -- what it says ----------------------------------------------------------------------------
    @property
    def level_uv(self) -> float:
        """The latest level (uV RMS): the bar's height."""
        return self.feedback.value_uv

    @property
    def flags(self) -> int:
        """The quality bits of the latest level."""
        return self.feedback.flags

    @property
    def state(self) -> str:
        """The latest state (the bar's colour)."""
        return self.feedback.kind

    @property
    def caption_state(self) -> str:
        """The state behind the number and caption (always equal to :attr:`state` once
        painted: a change of state refreshes them at once)."""
        return self.shown.kind

    @property
    def readout_uv(self) -> float:
        """The value the big number shows (a level that was classified, not a separate mean)."""
        return self.shown.value_uv

    def target_text(self, threshold_uv: float | None = None) -> str:
        """The threshold line's label (the one rounding rule, as on the plot)."""
        value = self.threshold_uv if threshold_uv is None else threshold_uv
        return f"target {format_uv(value)} µV"

    @property
    def caption(self) -> str:
        """The short sentence under the number."""
        return self.shown.caption

    # -- data ----------------------------------------------------------------------------------
    def set_threshold(self, threshold_uv: float) -> None:
        """Move the threshold (uV RMS) and rescale around it."""
        if not (threshold_uv > 0 and math.isfinite(threshold_uv)):
            return
        self.threshold_uv = float(threshold_uv)
        if not self._dragging:
            self._scale = self._scale_for(self.threshold_uv)
        self._classify(self.level_uv, self.flags)
        self._show_number()
        self.update()

    def _classify(self, level_uv: float, flags: int) -> bool:
        """Classify a new level; True when the state (or the problem a flagged state names)
        differs from what the number and caption show: they follow at once."""
        self.feedback = new = classify_feedback(level_uv, self.threshold_uv, flags)
        shown = self.shown
        return new.kind != shown.kind or (
            new.kind == FeedbackKind.FLAGGED and new.flags != shown.flags
        )

    def _show_number(self) -> None:
        """The number and caption now show the latest classification."""
        self.shown = self.feedback
        self._number_t = time.monotonic()

    def set_noise_floor(self, noise_floor_uv: float) -> None:
        """The measured noise floor (uV RMS), drawn as a faint line."""
        self.noise_floor_uv = float(noise_floor_uv)

    def set_level(
        self, level_uv: float, flags: int = 0, trail_uv: np.ndarray | None = None
    ) -> None:
        """The latest envelope value (uV RMS), its quality bits and optionally the recent trail."""
        changed = self._classify(level_uv, flags)
        if trail_uv is not None:
            self.trail_uv = trail_uv
        now = time.monotonic()
        if changed or now - self._number_t >= 1.0 / NUMBER_HZ:
            before = (self.shown.number, self.shown.caption, self.shown.kind)
            self._show_number()
            if (self.shown.number, self.shown.caption, self.shown.kind) != before:
                self.update(self._header_rect())
        # Repaint only the gauge body, and only when something visible changed: the colour (at
        # once: crossing the target is the feedback), the bar by a pixel (at most BAR_HZ), or the
        # trail picture is due (a relaxed, steady muscle then costs almost nothing to show).
        bar_px = round(self.y_of(self.level_uv)) if math.isfinite(self.level_uv) else -1
        trail_due = now - self._trail_t >= 1.0 / TRAIL_HZ
        recolour = not self._painted or self._painted[1] != self.state
        moved = not self._painted or self._painted[0] != bar_px
        if recolour or trail_due or (moved and now - self._bar_t >= 1.0 / BAR_HZ):
            self._painted = (bar_px, self.state)
            self._bar_t = now
            # between trail pictures only the bar changes: repaint just its column (a third of
            # the body's pixels)
            area = self._body() if trail_due else self._bar_rect()
            self.update(area.adjusted(-10, -2, 10, 10).toAlignedRect())

    def refresh_number(self) -> None:
        """Show the latest classified level as the number now (a slow text tick may call it;
        the gauge also refreshes it by itself at ``NUMBER_HZ``)."""
        if self.shown is not self.feedback:
            self._show_number()
            self.update(self._header_rect())

    def clear(self) -> None:
        """Back to 'waiting for signal'."""
        self.feedback = self.shown = classify_feedback(math.nan, self.threshold_uv, 0)
        self.trail_uv = np.empty(0)
        self.update()

    # -- geometry ------------------------------------------------------------------------------
    @staticmethod
    def _scale_for(threshold_uv: float) -> tuple[float, float]:
        lo = max(threshold_uv / LOW_FACTOR, MIN_SCALE_UV)
        hi = max(threshold_uv * HIGH_FACTOR, lo * 10)
        return lo, hi

    def _header_height(self) -> float:
        if not self.show_number:
            return 8.0
        return _fonts().header_height

    def _geometry(self) -> tuple[QRectF, QRectF]:
        key = (self.width(), self.height(), self.show_number)
        if key != self._geometry_key:
            body = QRectF(self.rect()).adjusted(10, self._header_height(), -10, -10)
            width = max(34.0, min(72.0, body.width() * 0.28))
            bar = QRectF(body.right() - width, body.top(), width, body.height())
            self._geometry_cache = (body, bar)
            self._geometry_key = key
        return self._geometry_cache

    def _body(self) -> QRectF:
        return QRectF(self._geometry()[0])

    def _bar_rect(self) -> QRectF:
        return QRectF(self._geometry()[1])

    def _header_rect(self) -> QRect:
        return QRectF(0, 0, self.width(), self._header_height()).toAlignedRect()

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
    # The static parts (scale, target zone, track) and the header (number and caption, which
    # change a few times a second) are cached as pixmaps; a frame only blits them and draws the
    # bar, the trail and the threshold line.
    def _state_color(self, state: str) -> str:
        """The palette colour of a state's role (bar, caption)."""
        return _ROLE_COLOUR.get(role_of(state), PALETTE.border)

    def _new_pixmap(self, width: float, height: float, opaque: bool = False) -> QPixmap:
        """A pixmap at the screen's pixel ratio; opaque ones (no alpha channel) are blitted
        without blending."""
        dpr = self.devicePixelRatioF()
        pm = QPixmap(max(1, round(width * dpr)), max(1, round(height * dpr)))
        pm.setDevicePixelRatio(dpr)
        pm.fill(color(PALETTE.panel) if opaque else Qt.GlobalColor.transparent)
        return pm

    def _background(self, threshold: float) -> QPixmap:
        noise = round(self.noise_floor_uv, 2) if math.isfinite(self.noise_floor_uv) else None
        key = (
            self.width(),
            self.height(),
            self._scale,
            round(threshold, 3),
            noise,
            self.show_number,
        )
        if self._bg_key == key and self._bg is not None:
            return self._bg
        pm = self._new_pixmap(self.width(), self.height(), opaque=True)
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        body, bar = self._body(), self._bar_rect()
        y_thr = self.y_of(threshold)
        # target zone: from the bottom of the scale up to the threshold
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(color(PALETTE.calm_soft, 150))
        p.drawRoundedRect(QRectF(body.left(), y_thr, body.width(), body.bottom() - y_thr), 4, 4)
        self._paint_ticks(p, body)
        # noise floor (what the hardware cannot resolve below)
        if noise is not None and self.noise_floor_uv > self._scale[0]:
            y_nf = self.y_of(self.noise_floor_uv)
            p.setPen(QPen(color(PALETTE.noise_floor, 160), 1, Qt.PenStyle.DotLine))
            p.drawLine(QPointF(body.left() + 30, y_nf), QPointF(bar.right(), y_nf))
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(color(PALETTE.border, 120))
        p.drawRoundedRect(bar, 6, 6)
        p.end()
        self._bg, self._bg_key = pm, key
        return pm

    def _header(self) -> QPixmap:
        shown = self.shown
        state = shown.kind
        key = (self.width(), shown.number, shown.caption, state)
        if self._header_key == key and self._header_pm is not None:
            return self._header_pm
        f = _fonts()
        pm = self._new_pixmap(self.width(), f.header_height, opaque=True)
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
        number = shown.number
        x, y = 12.0, f.fm_big.ascent() + 2
        p.setFont(f.big)
        p.setPen(color(PALETTE.text))
        p.drawText(QPointF(x, y), number)
        p.setFont(f.unit)
        p.setPen(color(PALETTE.text_muted))
        p.drawText(QPointF(x + f.fm_big.horizontalAdvance(number) + 6, y), "µV RMS")
        p.setFont(f.caption)
        p.setPen(
            color(self._state_color(state) if state != GaugeState.IDLE else PALETTE.text_muted)
        )
        p.drawText(QPointF(x, y + f.fm_unit.height() + 6), shown.caption)
        p.end()
        self._header_pm, self._header_key = pm, key
        return pm

    def _label(self, text: str) -> QPixmap:
        if self._label_key == text and self._label_pm is not None:
            return self._label_pm
        f = _fonts()
        w = f.fm_label.horizontalAdvance(text) + 10
        h = f.fm_label.height() + 2
        pm = self._new_pixmap(w, h)
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(color(PALETTE.panel, 225))
        p.drawRoundedRect(QRectF(0, 0, w, h), 4, 4)
        p.setFont(f.label)
        p.setPen(color(PALETTE.text))
        p.drawText(QRectF(0, 0, w, h), Qt.AlignmentFlag.AlignCenter, text)
        p.end()
        self._label_pm, self._label_key = pm, text
        return pm

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        threshold = self._drag_value if self._dragging else self.threshold_uv
        p.drawPixmap(0, 0, self._background(threshold))
        if self.show_number:
            p.drawPixmap(0, 0, self._header())
        body, bar = self._body(), self._bar_rect()
        y_thr = self.y_of(threshold)

        # trail of the last seconds: it moves ~20 px per second, so it is redrawn into a cached
        # pixmap at TRAIL_HZ and only blitted in between
        trail = self.trail_uv
        left, right = body.left() + 34, bar.left() - 8
        if len(trail) > 1 and right - left > 20:
            now = time.monotonic()
            key = (self.width(), self.height(), self._scale, threshold)
            trail_rect = QRectF(left - 2, body.top(), right - left + 4, body.height())
            due = now - self._trail_t >= 1.0 / TRAIL_HZ
            if (
                self._trail_pm is None
                or key != self._trail_pm_key
                # a repaint of the bar alone does not show the trail: keep it for the next one
                or (due and event.region().intersects(trail_rect.toAlignedRect()))
            ):
                self._trail_pm = self._render_trail(trail, left, right, body, y_thr)
                self._trail_t, self._trail_pm_key = now, key
            p.drawPixmap(QPointF(left - 2, body.top()), self._trail_pm)

        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        if math.isfinite(self.level_uv):
            y_level = self.y_of(self.level_uv)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(color(self._state_color(self.state)))
            p.drawRoundedRect(
                QRectF(bar.left(), y_level, bar.width(), bar.bottom() - y_level), 6, 6
            )

        # threshold line across trail and bar, with its value on a small label
        p.setPen(QPen(color(PALETTE.threshold), 2.5 if self._dragging else 2))
        p.drawLine(QPointF(body.left() + 30, y_thr), QPointF(bar.right() + 4, y_thr))
        label = self._label(self.target_text(threshold))
        h = label.height() / label.devicePixelRatio()
        top = y_thr - h - 3 if y_thr - h - 3 > body.top() else y_thr + 3
        p.drawPixmap(QPointF(left, top), label)
        p.end()
        self.paint_count += 1
        for listener in self.paint_listeners:
            listener(self)

    def _paint_ticks(self, p: QPainter, body: QRectF) -> None:
        lo, hi = self._scale
        p.setFont(_fonts().tick)
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
        labelled: list[float] = []
        self.tick_labels = []
        # decades first: on a short gauge (four channels on a laptop) the 2s and 5s lose their
        # labels where they would overlap, the tick marks stay
        for v in sorted(ticks, key=lambda v: abs(math.log10(v) - round(math.log10(v))) > 1e-9):
            y = self.y_of(v)
            p.drawLine(QPointF(body.left() + 24, y), QPointF(body.left() + 28, y))
            # centred on its tick, but kept inside the body (the header is drawn over the top)
            baseline = max(y + fm.ascent() / 2 - 1, body.top() + fm.ascent())
            if all(abs(baseline - other) >= fm.height() for other in labelled):
                p.drawText(QPointF(body.left(), baseline), f"{v:g}")
                labelled.append(baseline)
                self.tick_labels.append(f"{v:g}")

    def _render_trail(
        self, trail: np.ndarray, left: float, right: float, body: QRectF, y_thr: float
    ) -> QPixmap:
        pm = self._new_pixmap(right - left + 4, body.height())
        p = QPainter(pm)
        p.translate(-(left - 2), -body.top())
        self._paint_trail(p, trail, left, right, body, y_thr)
        p.end()
        return pm

    def _paint_trail(
        self, p: QPainter, trail: np.ndarray, left: float, right: float, body: QRectF, y_thr: float
    ) -> None:
        """The trail in the bar's colours: tense (amber) above the target line, calm below."""
        lo, hi = self._scale
        n = len(trail)
        if len(self._trail_xy) != n or self._trail_x_key != (left, right):
            # imported on first use: the window is built before pyqtgraph is loaded (gui.preload)
            from pyqtgraph import functions as fn

            self._trail_poly = fn.create_qpolygonf(n)
            self._trail_xy = fn.ndarray_from_qpolygonf(self._trail_poly)
            self._trail_xy[:, 0] = np.linspace(left, right, n)
            self._trail_x_key = (left, right)
        values = np.clip(np.nan_to_num(trail, nan=lo), lo, hi)
        self._trail_xy[:, 1] = body.bottom() - np.log(values / lo) * (
            body.height() / math.log(hi / lo)
        )
        f = _fonts()
        width = right - left + 8
        for pen, top, bottom in (
            (f.trail_tense, body.top() - 4, y_thr),
            (f.trail_calm, y_thr, body.bottom() + 4),
        ):
            p.setClipRect(QRectF(left - 4, top, width, bottom - top))
            p.setPen(pen)
            p.drawPolyline(self._trail_poly)
        p.setClipping(False)

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
            self._drag_value = round_target(self.value_at(y))
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
