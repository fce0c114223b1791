"""Breathing pacer: a ring that grows while breathing in and shrinks while breathing out.

Drawn as an outlined ring with its own title ("Breathing pacer") so it never looks like
the patient view's tension orb (a soft filled glow, labelled "Your muscle tension").

Resonance-frequency breathing at about 6 breaths per minute (4 s in, 6 s out), adjustable from 4.5 to
7 breaths per minute with the same 40:60 in:out ratio (docs/clinical-background.md). The phase comes from a
monotonic clock passed in by the caller, so the animation does not drift with the frame rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from biofeedback.gui.theme import PALETTE, color, font

MIN_RATE_BPM = 4.5
MAX_RATE_BPM = 7.0
DEFAULT_RATE_BPM = 6.0
INHALE_FRACTION = 0.4  # 4 s in, 6 s out at 6 breaths/min


@dataclass(frozen=True)
class PacerPhase:
    """Where in the breath cycle we are: ``inhale`` or ``exhale``, progress 0-1 within that
    half, seconds left in it, and the circle size 0 (empty lungs) to 1 (full)."""

    name: str
    progress: float
    seconds_left: float
    size: float


def clamp_rate(rate_bpm: float) -> float:
    """Keep a breathing rate within 4.5-7 breaths per minute."""
    return min(max(float(rate_bpm), MIN_RATE_BPM), MAX_RATE_BPM)


def pacer_phase(
    t_s: float, rate_bpm: float = DEFAULT_RATE_BPM, inhale_fraction: float = INHALE_FRACTION
) -> PacerPhase:
    """Breath phase at time ``t_s`` (seconds since the pacer started)."""
    period = 60.0 / clamp_rate(rate_bpm)
    inhale = period * min(max(inhale_fraction, 0.2), 0.8)
    exhale = period - inhale
    t = t_s % period
    if t < inhale:
        progress = t / inhale
        # ease in and out: the circle starts and ends its growth gently
        size = 0.5 - 0.5 * math.cos(math.pi * progress)
        return PacerPhase("inhale", progress, inhale - t, size)
    progress = (t - inhale) / exhale
    size = 0.5 + 0.5 * math.cos(math.pi * progress)
    return PacerPhase("exhale", progress, period - t, size)


#: The pacer's title, drawn above its ring.
TITLE = "Breathing pacer"


class BreathingPacerWidget(QWidget):
    """The pacer ring under its title, with "breathe in" / "breathe out" and the rate below."""

    def __init__(self, parent: QWidget | None = None, dark: bool = True) -> None:
        super().__init__(parent)
        self.dark = dark
        self.rate_bpm = DEFAULT_RATE_BPM
        self.inhale_fraction = INHALE_FRACTION
        self.phase = pacer_phase(0.0, self.rate_bpm)
        self._t0: float | None = None
        self.setMinimumSize(160, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_rate(self, rate_bpm: float) -> None:
        """Breaths per minute (clamped to 4.5-7)."""
        self.rate_bpm = clamp_rate(rate_bpm)

    def set_inhale_pct(self, inhale_pct: float) -> None:
        """Share of each breath spent breathing in (percent; 40 = 4 s in, 6 s out at 6/min)."""
        self.inhale_fraction = min(max(float(inhale_pct) / 100.0, 0.2), 0.8)

    def advance(self, now_s: float) -> None:
        """Move the animation to clock time ``now_s`` (monotonic seconds)."""
        if self._t0 is None:
            self._t0 = now_s
        self.phase = pacer_phase(now_s - self._t0, self.rate_bpm, self.inhale_fraction)
        if self.isVisible():
            self.update()

    def restart(self) -> None:
        """Start a new breath (inhale) at the next advance."""
        self._t0 = None

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        r = QRectF(self.rect())
        title_h, label_h = 34.0, 60.0
        side = min(r.width(), r.height() - label_h - title_h)
        # title, ring and its two lines of text, centred as one block
        top = r.top() + (r.height() - side - label_h - title_h) / 2 + title_h
        centre = QPointF(r.center().x(), top + side / 2)
        max_radius = side / 2 - 6
        min_radius = max_radius * 0.35
        radius = min_radius + (max_radius - min_radius) * self.phase.size
        text = PALETTE.room_text if self.dark else PALETTE.text
        muted = PALETTE.room_text_muted if self.dark else PALETTE.text_muted
        p.setPen(color(text))
        p.setFont(font(15))
        p.drawText(
            QRectF(r.left(), top - title_h, r.width(), title_h - 4),
            Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom,
            TITLE,
        )
        # outer guide ring: where a full breath reaches (solid: the orb's target ring is dashed)
        p.setPen(QPen(color(PALETTE.pacer, 90), 2))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawEllipse(centre, max_radius, max_radius)
        # the breath itself: an outlined ring with a faint fill, never the orb's soft glow
        p.setPen(QPen(color(PALETTE.pacer, 230), max(3.0, max_radius * 0.06)))
        p.setBrush(color(PALETTE.pacer, 40))
        p.drawEllipse(centre, radius, radius)
        p.setPen(color(text))
        p.setFont(font(20))
        word = "breathe in" if self.phase.name == "inhale" else "breathe out"
        p.drawText(
            QRectF(r.left(), centre.y() + max_radius + 6, r.width(), 32),
            Qt.AlignmentFlag.AlignCenter,
            word,
        )
        p.setPen(color(muted))
        p.setFont(font(11))
        p.drawText(
            QRectF(r.left(), centre.y() + max_radius + 36, r.width(), 20),
            Qt.AlignmentFlag.AlignCenter,
            f"{self.rate_bpm:g} breaths / min",
        )
        p.end()
