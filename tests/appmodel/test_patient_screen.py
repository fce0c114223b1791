"""What the patient view shows, decided without Qt (issue 11, "One truth on screen")."""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import pytest

from biofeedback.appmodel.patient_screen import (
    DEFAULT_TEXT,
    FREE_TEXT,
    STOPPED_TEXT,
    PacerSwitch,
    follow_level,
    patient_screen,
    time_left_text,
)
from biofeedback.core.types import ChannelKind
from biofeedback.training.protocol import load_protocol
from biofeedback.training.runner import SessionRunner

#: The outputs of the default 10-bit board with RAW and ENV: RAW cannot resolve rest.
RAW_ENV_10BIT = [
    SimpleNamespace(name="raw", kind=ChannelKind.RAW, resolves_rest=False),
    SimpleNamespace(name="env", kind=ChannelKind.ENV, resolves_rest=True),
]


def state_at(protocol, index: int, **changes):
    """The runner's snapshot as it would be during phase ``index``."""
    phase = protocol.phases[index]
    base = SessionRunner(protocol, 100.0, n_channels=2).state()
    fields = dict(
        phase_index=index,
        phase_kind=str(phase.kind),
        phase_name=phase.name,
        instruction=phase.instruction,
        show_visual=phase.feedback.visual,
        play_audio=phase.feedback.audio,
        pacer_bpm=phase.pacer_bpm,
        pacer_inhale_pct=phase.pacer_inhale_pct if phase.pacer_bpm else None,
        remaining_s=phase.duration_s,
        started=True,
    )
    fields.update(changes)
    return dataclasses.replace(base, **fields)


def test_without_a_session_the_clinicians_switch_decides_the_pacer_and_no_clock_runs():
    on = patient_screen(None, None, PacerSwitch(True, 4.5), RAW_ENV_10BIT)
    assert on.pacer_on and on.pacer_bpm == 4.5 and on.show_orb
    assert "pacer" in on.instruction and "normally" not in on.instruction
    off = patient_screen(None, None, PacerSwitch(False, 6.0), RAW_ENV_10BIT)
    assert not off.pacer_on and off.instruction == FREE_TEXT
    for screen in (on, off):
        assert not screen.show_session_clock and screen.progress == "" and not screen.in_session


def test_without_a_session_a_10bit_board_is_followed_on_env_not_raw():
    screen = patient_screen(None, None, PacerSwitch(), RAW_ENV_10BIT)
    assert screen.channels == (1,)
    # RAW reads its high noise floor (far above the target); the orb follows ENV anyway
    level, threshold, flags = follow_level(screen, [40.0, 3.0], [0, 0], [5.0, 4.0])
    assert (level, threshold, flags) == (3.0, 4.0, 0)
    both = [SimpleNamespace(resolves_rest=True), SimpleNamespace(resolves_rest=True)]
    lead = patient_screen(None, None, PacerSwitch(), both)
    assert lead.channels == (0, 1)
    assert follow_level(lead, [4.0, 9.0], [0, 2], [5.0, 6.0]) == (9.0, 6.0, 2)  # furthest above


def test_a_session_follows_its_scored_channel_and_combines_max_and_mean():
    protocol = load_protocol("clinical-session")
    scored_env = dataclasses.replace(protocol, scored_channel=1)
    screen = patient_screen(state_at(scored_env, 5), scored_env, PacerSwitch(), RAW_ENV_10BIT)
    assert screen.channels == (1,) and screen.in_session and screen.show_session_clock
    as_max = dataclasses.replace(protocol, scored_channel="max")
    screen = patient_screen(state_at(as_max, 5), as_max, PacerSwitch(), RAW_ENV_10BIT)
    assert screen.combine == "max"
    assert follow_level(screen, [3.0, 7.0], [0, 8], [6.0, 6.0]) == (7.0, 6.0, 8)
    as_mean = dataclasses.replace(protocol, scored_channel="mean")
    screen = patient_screen(state_at(as_mean, 5), as_mean, PacerSwitch(), RAW_ENV_10BIT)
    level, _, _ = follow_level(screen, [3.0, math.nan], [0, 0], [6.0, 6.0])
    assert level == 3.0


def test_the_patient_never_reads_the_clinicians_bar_and_line():
    """Issue 11: "Keep the bar below the line." on a screen with no bar and no line."""
    protocol = load_protocol("clinical-session")
    for i in range(len(protocol.phases)):
        screen = patient_screen(state_at(protocol, i), protocol, PacerSwitch(), RAW_ENV_10BIT)
        assert "bar" not in screen.instruction and "line" not in screen.instruction
        assert screen.instruction == protocol.phases[i].patient_text
    for kind, text in DEFAULT_TEXT.items():
        assert "bar" not in text and " line" not in text, kind


def test_a_phase_without_patient_text_gets_a_calm_default_matching_the_screen():
    protocol = load_protocol("clinical-session")
    phases = [dataclasses.replace(p, patient_text="") for p in protocol.phases]
    plain = dataclasses.replace(protocol, phases=phases)
    train = patient_screen(state_at(plain, 5), plain, PacerSwitch(), RAW_ENV_10BIT)
    assert (
        train.show_orb and train.instruction == DEFAULT_TEXT["train"] and "orb" in train.instruction
    )
    rest = patient_screen(state_at(plain, 6), plain, PacerSwitch(), RAW_ENV_10BIT)
    assert not rest.show_orb and "orb" not in rest.instruction
    transfer = patient_screen(state_at(plain, 15), plain, PacerSwitch(), RAW_ENV_10BIT)
    assert not transfer.show_orb and "orb" not in transfer.instruction
    no_orb_train = state_at(plain, 5, show_visual=False)
    screen = patient_screen(no_orb_train, plain, PacerSwitch(), RAW_ENV_10BIT)
    assert not screen.show_orb and "orb" not in screen.instruction


def test_the_pacer_runs_only_where_the_phase_asks_and_then_no_breathe_normally():
    """Issue 11: "Breathe normally." while a 4.5/min pacer ran."""
    protocol = load_protocol("breathing")
    switch = PacerSwitch(True, 4.5)  # the clinician's switch does not count in a session
    baseline = patient_screen(state_at(protocol, 0), protocol, switch, RAW_ENV_10BIT)
    assert not baseline.pacer_on
    breathing = patient_screen(state_at(protocol, 1), protocol, switch, RAW_ENV_10BIT)
    assert breathing.pacer_on and breathing.pacer_bpm == 6.0
    assert breathing.pacer_inhale_pct == protocol.phases[1].pacer_inhale_pct
    phases = [dataclasses.replace(p, patient_text="") for p in protocol.phases]
    plain = dataclasses.replace(protocol, phases=phases)
    for i, phase in enumerate(plain.phases):
        screen = patient_screen(state_at(plain, i), plain, switch, RAW_ENV_10BIT)
        assert screen.pacer_on == bool(phase.pacer_bpm)
        if screen.pacer_on:
            assert "pacer" in screen.instruction and "normally" not in screen.instruction


def test_trial_and_time_left_are_shown_calmly():
    protocol = load_protocol("clinical-session")
    screen = patient_screen(
        state_at(protocol, 7, remaining_s=148.2), protocol, PacerSwitch(), RAW_ENV_10BIT
    )
    assert screen.progress == "Trial 2 of 5 · 2:30 left"
    single = patient_screen(
        state_at(protocol, 2, remaining_s=61.0), protocol, PacerSwitch(), RAW_ENV_10BIT
    )
    assert single.progress == "1:10 left"
    paused = patient_screen(state_at(protocol, 7, paused=True), protocol, None, RAW_ENV_10BIT)
    assert paused.progress == "Paused"
    done = patient_screen(state_at(protocol, 16, finished=True), protocol, None, RAW_ENV_10BIT)
    assert done.progress == "" and not done.show_session_clock


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(150.0, "2:30 left"), (141.0, "2:30 left"), (9.0, "0:10 left"), (0.0, ""), (math.nan, "")],
)
def test_time_left_in_ten_second_steps(seconds, text):
    assert time_left_text(seconds) == text


def test_steps_prompts_and_a_stopped_session():
    protocol = load_protocol("course-1-assessment")
    steps = [i for i, p in enumerate(protocol.phases) if p.is_step]
    assert steps  # the assessment course opens with an education page
    screen = patient_screen(state_at(protocol, steps[0]), protocol, None, RAW_ENV_10BIT)
    assert not screen.show_orb and not screen.pacer_on
    clinical = load_protocol("clinical-session")
    prompt = patient_screen(
        state_at(clinical, 5), clinical, None, RAW_ENV_10BIT, prompt="Time for a short break."
    )
    assert prompt.instruction == "Time for a short break."
    stopped = patient_screen(None, None, PacerSwitch(False), RAW_ENV_10BIT, stopped=True)
    assert stopped.instruction == STOPPED_TEXT


def test_follow_level_without_channels():
    screen = patient_screen(None, None, PacerSwitch(), [])
    level, threshold, flags = follow_level(screen, [], [], [])
    assert math.isnan(level) and math.isnan(threshold) and flags == 0
