"""The patient view: a calm full-screen room with one shape, one sentence and the breathing pacer.

The shape is a soft orb whose size follows muscle tension relative to the target: it shrinks and
its colour cools from amber to teal as tension falls; a faint ring marks the target size. It is
labelled "Your muscle tension"; the pacer beside it is an outlined ring under its own title
("Breathing pacer"), so the two never look alike. Nothing else competes for attention
(no numbers, no traces); the clinician view holds those. A muted line under the sentence says
the trial and the time left in a session.

What it shows is decided without Qt (:mod:`biofeedback.appmodel.patient_screen`) and applied
in one call, :meth:`PatientViewWidget.show_screen`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QPainter, QPaintEvent, QPen, QRadialGradient
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from biofeedback.appmodel.patient_screen import PatientScreen
from biofeedback.gui.breathing_pacer import BreathingPacerWidget
from biofeedback.gui.education_page import EducationPageWidget
from biofeedback.gui.questionnaire import QuestionnaireWidget
from biofeedback.gui.tension_gauge import GaugeState, classify
from biofeedback.gui.theme import FONT_INSTRUCTION_PT, PALETTE, blend, color, font
from biofeedback.gui.thought_record import StepFormWidget

if TYPE_CHECKING:  # the instruments load when a questionnaire is asked
    from biofeedback.outcomes.instrument import Instrument

DEFAULT_INSTRUCTION = "Let your shoulders drop and breathe slowly."

#: Tension ratio (level / threshold) shown from 1/RATIO_SPAN (smallest orb) to RATIO_SPAN (largest).
RATIO_SPAN = 4.0
#: Smoothing time constant of the orb (seconds): calm movement without lagging the feedback much.
ORB_SMOOTHING_S = 0.12
#: The orb's label and the line under it (what the orb means, in the patient's words).
ORB_TITLE = "Your muscle tension"
ORB_HINT = "it grows smaller as you relax"


#: How far out the orb is plainly visible at full tension, as a share of its largest radius (the
#: gradient fades to nothing at the edge); its title sits just above.
ORB_REACH = 0.7


def orb_fraction(ratio: float) -> float:
    """Orb size 0-1 for a tension ratio (level / threshold), log-mapped; 0.5 is on target."""
    if not (ratio > 0 and math.isfinite(ratio)):
        return 0.0
    x = math.log(ratio) / math.log(RATIO_SPAN)
    return min(max(0.5 + 0.5 * x, 0.0), 1.0)


class TensionOrbWidget(QWidget):
    """A soft circle: big and amber when tense, small and teal when relaxed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.fraction = 0.5
        self._target_fraction = 0.5
        self.state = GaugeState.IDLE
        self._last_t: float | None = None
        self.setMinimumSize(240, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_tension(self, level_uv: float, threshold_uv: float, flags: int, now_s: float) -> None:
        """Update from the latest envelope value and threshold; ``now_s`` drives the smoothing."""
        self.state = classify(level_uv, threshold_uv, flags)
        if self.state in (GaugeState.CALM, GaugeState.TENSE):
            self._target_fraction = orb_fraction(level_uv / threshold_uv)
        if self._last_t is None:
            self.fraction = self._target_fraction
        else:
            dt = max(0.0, now_s - self._last_t)
            alpha = 1.0 - math.exp(-dt / ORB_SMOOTHING_S)
            self.fraction += alpha * (self._target_fraction - self.fraction)
        self._last_t = now_s
        if self.isVisible():
            self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        full = QRectF(self.rect())
        label_h = 58.0
        r = full.adjusted(0, label_h, 0, 0)
        centre = r.center()
        max_radius = min(r.width(), r.height()) / 2 - 10
        min_radius = max_radius * 0.22
        radius = min_radius + (max_radius - min_radius) * self.fraction
        target_radius = min_radius + (max_radius - min_radius) * 0.5
        if self.state == GaugeState.CHECK or self.state == GaugeState.IDLE:
            core = color(PALETTE.room_text_muted)
        else:
            # colour cools continuously from amber (well above target) through a warm grey (on
            # target) to teal (below it); a straight RGB blend would pass through olive
            t = min(max((self.fraction - 0.3) / 0.4, 0.0), 1.0)
            if t < 0.5:
                core = blend(PALETTE.orb_calm, PALETTE.orb_mid, t * 2)
            else:
                core = blend(PALETTE.orb_mid, PALETTE.orb_tense, t * 2 - 1)
        gradient = QRadialGradient(centre, radius)
        inner = color(core.name(), 235)
        edge = color(core.name(), 0)
        # a relaxed orb has a softer, wider edge
        soft = 0.55 + 0.25 * (1.0 - self.fraction)
        gradient.setColorAt(0.0, inner)
        gradient.setColorAt(max(0.05, 1.0 - soft), inner)
        gradient.setColorAt(1.0, edge)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(gradient)
        p.drawEllipse(centre, radius, radius)
        # faint ring: the target size
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.setPen(QPen(color(PALETTE.room_text, 70), 1.5, Qt.PenStyle.DashLine))
        p.drawEllipse(centre, target_radius, target_radius)
        if self.state == GaugeState.CHECK:
            p.setPen(color(PALETTE.room_text_muted))
            p.setFont(font(13))
            p.drawText(
                QRectF(r.left(), centre.y() + max_radius - 30, r.width(), 28),
                Qt.AlignmentFlag.AlignCenter,
                "checking the signal",
            )
        # the title sits just above where the orb shows when tense (its edge fades out beyond
        # ORB_REACH of the largest radius), not above the empty corner of a large widget
        self._paint_label(p, full, centre.y() - ORB_REACH * max_radius - label_h)
        p.end()

    def _paint_label(self, p: QPainter, r: QRectF, top: float) -> None:
        """The orb's title and what it does, above it (like the pacer's title)."""
        p.setPen(color(PALETTE.room_text))
        p.setFont(font(15))
        p.drawText(QRectF(r.left(), top, r.width(), 26), Qt.AlignmentFlag.AlignCenter, ORB_TITLE)
        p.setPen(color(PALETTE.room_text_muted))
        p.setFont(font(11))
        p.drawText(
            QRectF(r.left(), top + 26, r.width(), 20), Qt.AlignmentFlag.AlignCenter, ORB_HINT
        )


class PatientViewWidget(QWidget):
    """Full-screen patient view: instruction on top, the orb and the breathing pacer; in a step
    phase the education page or the thought-record / reflection form instead of the orb, and
    around a session the questionnaires its course asks then; under it, this week's home practice.

    ``step_done(phase_index, answers, skipped)`` says the patient finished a step.
    """

    step_done = Signal(int, object, bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("patientView")
        # a plain QWidget only paints a style-sheet background with this attribute
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(
            f"QWidget#patientView {{ background: {PALETTE.room}; }}"
            f" QLabel {{ color: {PALETTE.room_text}; background: transparent; }}"
        )
        self.instruction = QLabel(DEFAULT_INSTRUCTION)
        self.instruction.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.instruction.setWordWrap(True)
        self.instruction.setFont(font(FONT_INSTRUCTION_PT))
        # "Trial 2 of 5 · 2:30 left": small, muted, under the sentence ("" hides it)
        self.progress = QLabel("")
        self.progress.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.progress.setFont(font(14))
        self.progress.setStyleSheet(f"color: {PALETTE.room_text_muted};")
        self.progress.setVisible(False)
        self.current_screen: PatientScreen | None = None
        self.orb = TensionOrbWidget()
        self.pacer = BreathingPacerWidget(dark=True)
        self.hint = QLabel("Esc or F11: back to the clinician view")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setFont(font(10))
        self.hint.setStyleSheet(f"color: {PALETTE.room_text_muted};")

        room = QWidget()
        row = QHBoxLayout(room)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(40)
        row.addStretch(1)
        row.addWidget(self.orb, 5)
        row.addWidget(self.pacer, 3)
        row.addStretch(1)
        self.page = EducationPageWidget()
        self.form = StepFormWidget()
        self.questionnaire = QuestionnaireWidget()  # due questionnaires around a session
        # this week's home practice, one muted line ("" hides it): no colour, no pressure
        self.practice = QLabel("")
        self.practice.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.practice.setFont(font(15))
        self.practice.setStyleSheet(f"color: {PALETTE.room_text_muted};")
        self.practice.setVisible(False)
        self.body = QStackedWidget()
        for widget in (room, self.page, self.form, self.questionnaire):
            self.body.addWidget(widget)
        self.room = room
        self.step_index: int | None = None
        self.page.continued.connect(lambda: self._done({}, False))
        self.form.saved.connect(lambda answers: self._done(answers, False))
        self.form.skipped.connect(lambda: self._done({}, True))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(40, 40, 40, 16)
        layout.addWidget(self.instruction)
        layout.addWidget(self.progress)
        layout.addSpacing(20)
        layout.addWidget(self.body, 1)
        layout.addWidget(self.practice)
        layout.addWidget(self.hint)

    def set_instruction(self, text: str) -> None:
        """The one sentence shown to the patient."""
        self.instruction.setText(text or DEFAULT_INSTRUCTION)

    def set_pacer_visible(self, visible: bool) -> None:
        """Show or hide the breathing pacer."""
        self.pacer.setVisible(visible)

    def show_screen(self, screen: PatientScreen) -> None:
        """Apply what the patient view shows (appmodel.patient_screen): the sentence, the orb,
        the pacer and its rate, and the trial / time-left line. A step page or a questionnaire
        on screen keeps its own sentence."""
        self.current_screen = screen
        if not self.showing_step and not self.showing_questionnaire:
            self.set_instruction(screen.instruction)
        self.orb.setVisible(screen.show_orb)
        if screen.pacer_on:
            self.pacer.set_rate(screen.pacer_bpm)
            self.pacer.set_inhale_pct(screen.pacer_inhale_pct)
        self.pacer.setVisible(screen.pacer_on)
        self.progress.setText(screen.progress)
        self.progress.setVisible(bool(screen.progress))

    def advance(self, level_uv: float, threshold_uv: float, flags: int, now_s: float) -> None:
        """Per-frame update of the orb and the pacer."""
        self.orb.set_tension(level_uv, threshold_uv, flags, now_s)
        self.pacer.advance(now_s)

    def show_step(
        self, phase_index: int, kind: str, step: dict[str, Any], instruction: str
    ) -> None:
        """Show a step phase: the education page, or the thought-record / reflection form."""
        self.step_index = phase_index
        self.set_instruction(instruction)  # the phase's instruction stays on top
        if kind == "education":
            self.page.show_page(step.get("title") or "", step.get("text", ""), step.get("image"))
            self.body.setCurrentWidget(self.page)
            self.page.continue_button.setFocus()
        else:
            self.form.show_form(kind, "", step.get("prompt", ""))
            self.body.setCurrentWidget(self.form)

    def hide_step(self) -> None:
        """Back to the orb (the step ended: answered, skipped or its time ran out)."""
        self.step_index = None
        self.body.setCurrentWidget(self.room)

    def show_questionnaire(self, instrument: Instrument, intro: str) -> None:
        """Ask a questionnaire (one item per screen) under a calm line saying why."""
        self.set_instruction(intro)
        self.questionnaire.start(instrument)
        self.body.setCurrentWidget(self.questionnaire)

    def hide_questionnaire(self) -> None:
        """Back to the orb after the questionnaires."""
        self.set_instruction("")
        self.body.setCurrentWidget(self.room)

    @property
    def showing_questionnaire(self) -> bool:
        return self.body.currentWidget() is self.questionnaire

    def set_practice_text(self, text: str) -> None:
        """This week's home practice ("Home practice: 3 of 5 this week"; "" hides the line)."""
        self.practice.setText(text)
        self.practice.setVisible(bool(text))

    @property
    def showing_step(self) -> bool:
        """True while an education page or a form is on screen."""
        return self.step_index is not None

    def _done(self, answers: dict[str, Any], skipped: bool) -> None:
        index = self.step_index
        if index is None:  # a second Enter after the step already ended
            return
        self.step_index = None
        self.step_done.emit(index, answers, skipped)
