"""The patient view applies one PatientScreen: its sentence, labelled orb and pacer, time left."""

from __future__ import annotations

import dataclasses

import PySide6.QtGui as qtgui
from PySide6.QtGui import QColor

from biofeedback.appmodel.patient_screen import PacerSwitch, patient_screen
from biofeedback.gui import breathing_pacer, patient_view
from biofeedback.gui.breathing_pacer import BreathingPacerWidget
from biofeedback.gui.patient_view import PatientViewWidget, TensionOrbWidget
from biofeedback.training.protocol import load_protocol
from biofeedback.training.runner import SessionRunner


def _state(protocol, index: int, remaining_s: float):
    phase = protocol.phases[index]
    return dataclasses.replace(
        SessionRunner(protocol, 100.0, n_channels=1).state(),
        phase_index=index,
        phase_kind=str(phase.kind),
        show_visual=phase.feedback.visual,
        pacer_bpm=phase.pacer_bpm,
        pacer_inhale_pct=phase.pacer_inhale_pct if phase.pacer_bpm else None,
        remaining_s=remaining_s,
        started=True,
    )


def _view(qtbot) -> PatientViewWidget:
    view = PatientViewWidget()
    qtbot.addWidget(view)
    view.resize(1366, 768)
    view.show()
    qtbot.waitExposed(view)
    return view


def test_a_training_trial_shows_its_text_the_orb_and_the_time_left_and_no_pacer(qtbot):
    view = _view(qtbot)
    clinical = load_protocol("clinical-session")
    view.show_screen(patient_screen(_state(clinical, 7, 148.0), clinical, PacerSwitch(True, 4.5)))
    assert view.instruction.text() == clinical.phases[7].patient_text
    assert view.progress.isVisible() and view.progress.text() == "Trial 2 of 5 · 2:30 left"
    assert view.orb.isVisible() and not view.pacer.isVisible()


def test_a_breathing_phase_runs_the_pacer_at_its_own_rate(qtbot):
    view = _view(qtbot)
    protocol = load_protocol("breathing")
    view.show_screen(patient_screen(_state(protocol, 1, 300.0), protocol, PacerSwitch(True, 4.5)))
    assert view.pacer.isVisible() and view.pacer.rate_bpm == 6.0
    assert view.pacer.inhale_fraction == protocol.phases[1].pacer_inhale_pct / 100
    assert "pacer" in view.instruction.text() and "normally" not in view.instruction.text()


def test_without_a_session_the_clinicians_switch_and_no_progress_line(qtbot):
    view = _view(qtbot)
    view.show_screen(patient_screen(None, None, PacerSwitch(True, 4.5)))
    assert view.pacer.isVisible() and view.pacer.rate_bpm == 4.5
    assert not view.progress.isVisible() and view.orb.isVisible()
    view.show_screen(patient_screen(None, None, PacerSwitch(False, 6.0)))
    assert not view.pacer.isVisible()
    assert "bar" not in view.instruction.text() and "line" not in view.instruction.text()


def test_a_step_page_keeps_its_own_sentence(qtbot):
    view = _view(qtbot)
    view.show_step(3, "education", {"title": "Pain", "text": "Read me."}, "Read at your pace.")
    view.show_screen(patient_screen(None, None, PacerSwitch(False)))
    assert view.instruction.text() == "Read at your pace."


def _centre_brightness(widget) -> tuple[int, int]:
    """Brightness at the drawing's centre and the widget's background colour's."""
    image = widget.grab().toImage()
    centre = QColor(image.pixelColor(image.width() // 2, image.height() // 2))
    corner = QColor(image.pixelColor(2, image.height() - 2))
    return centre.lightness(), corner.lightness()


def test_orb_and_pacer_are_labelled_and_do_not_look_alike(qtbot, monkeypatch):
    """Issue 11: two unlabelled circles of the same size."""
    drawn: list[str] = []
    orb, pacer = TensionOrbWidget(), BreathingPacerWidget(dark=True)
    for widget in (orb, pacer):
        qtbot.addWidget(widget)
        widget.resize(400, 460)
        widget.setStyleSheet("background: #1e2630;")
    orb.set_tension(5.0, 10.0, 0, 0.0)  # relaxed: a small glow, filled in the middle
    pacer.advance(0.0)  # the start of a breath: the smallest ring, empty in the middle
    real = qtgui.QPainter.drawText

    def spy(self, *args):
        drawn.append(str(args[-1]))
        return real(self, *args)

    monkeypatch.setattr(qtgui.QPainter, "drawText", spy)
    orb_centre, _ = _centre_brightness(orb)
    assert patient_view.ORB_TITLE in drawn and patient_view.ORB_HINT in drawn
    drawn.clear()
    pacer_centre, _ = _centre_brightness(pacer)
    assert breathing_pacer.TITLE in drawn and "breathe in" in drawn
    assert orb_centre > pacer_centre + 40  # a filled glow against an outlined ring
