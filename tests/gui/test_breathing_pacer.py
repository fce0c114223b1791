"""Breathing pacer timing: 4 s in / 6 s out at 6 breaths/min, clamped 4.5-7."""

from __future__ import annotations

import pytest

from biofeedback.gui.breathing_pacer import BreathingPacerWidget, clamp_rate, pacer_phase


def test_six_per_minute_is_four_seconds_in_six_out():
    assert pacer_phase(0.0, 6).name == "inhale"
    assert pacer_phase(3.99, 6).name == "inhale"
    assert pacer_phase(4.01, 6).name == "exhale"
    assert pacer_phase(9.99, 6).name == "exhale"
    assert pacer_phase(10.01, 6).name == "inhale"  # next breath
    assert pacer_phase(4.0, 6).size == pytest.approx(1.0)  # full at the end of the inhale
    assert pacer_phase(0.0, 6).size == pytest.approx(0.0)
    assert pacer_phase(2.0, 6).size == pytest.approx(0.5)
    assert pacer_phase(1.0, 6).seconds_left == pytest.approx(3.0)


def test_rate_is_clamped_and_keeps_ratio():
    assert clamp_rate(3) == 4.5 and clamp_rate(9) == 7.0
    period = 60 / 4.5
    assert pacer_phase(period * 0.39, 4.5).name == "inhale"
    assert pacer_phase(period * 0.41, 4.5).name == "exhale"


def test_widget_advances_on_the_clock(qtbot):
    pacer = BreathingPacerWidget()
    qtbot.addWidget(pacer)
    pacer.set_rate(6)
    pacer.advance(100.0)
    assert pacer.phase.name == "inhale"
    pacer.advance(105.0)
    assert pacer.phase.name == "exhale"
    pacer.show()
    pacer.repaint()
