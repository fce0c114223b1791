"""A phase's patient_text: what the patient view says (validated, limited; every built-in has one)."""

from __future__ import annotations

import re

import pytest

from biofeedback.errors import ProtocolFileError
from biofeedback.training.protocol import (
    MAX_PATIENT_TEXT_CHARS,
    Feedback,
    list_protocols,
    parse_protocol,
)

HEAD = 'name = "calm"\n[[phases]]\nkind = "baseline"\nduration = "1 min"\n'


def test_patient_text_is_read_and_kept_apart_from_the_instruction() -> None:
    p = parse_protocol(
        HEAD + 'instruction = "Baseline: patient seated"\npatient_text = "  Sit quietly.  "\n',
        "calm.toml",
    )
    assert p.phases[0].patient_text == "Sit quietly."
    assert p.phases[0].instruction == "Baseline: patient seated"
    assert p.phases[0].to_dict()["patient_text"] == "Sit quietly."


def test_patient_text_is_empty_when_the_file_gives_none() -> None:
    assert parse_protocol(HEAD, "calm.toml").phases[0].patient_text == ""


def test_patient_text_repeats_with_its_block_and_works_on_step_phases() -> None:
    text = (
        'name = "calm"\n[[phases]]\nrepeat = 2\n  [[phases.block]]\n  kind = "rest"\n'
        '  duration = "30 s"\n  patient_text = "Rest."\n'
        '[[phases]]\nkind = "reflection"\npatient_text = "Look back."\n'
    )
    phases = parse_protocol(text, "calm.toml").phases
    assert [p.patient_text for p in phases] == ["Rest.", "Rest.", "Look back."]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "patient_text = 3",
            "calm.toml: phase 1 'baseline': patient_text must be text in quotes (got a number)",
        ),
        (
            'patient_text = """one\ntwo"""',
            "calm.toml: phase 1 'baseline': patient_text must be one line",
        ),
        (
            f'patient_text = "{"a" * (MAX_PATIENT_TEXT_CHARS + 1)}"',
            f"calm.toml: phase 1 'baseline': patient_text has {MAX_PATIENT_TEXT_CHARS + 1} "
            f"characters, more than the {MAX_PATIENT_TEXT_CHARS} allowed",
        ),
        (
            'patient_txt = "Sit."',
            "calm.toml: phase 1 'baseline': unknown key 'patient_txt' (did you mean 'patient_text'?)",
        ),
    ],
)
def test_bad_patient_text_is_refused_with_the_place_and_the_rule(line: str, message: str) -> None:
    with pytest.raises(ProtocolFileError) as caught:
        parse_protocol(HEAD + line + "\n", "calm.toml")
    assert str(caught.value).startswith(message), str(caught.value)


def test_the_limit_allows_exactly_max_characters() -> None:
    text = "a" * MAX_PATIENT_TEXT_CHARS
    p = parse_protocol(HEAD + f'patient_text = "{text}"\n', "calm.toml")
    assert p.phases[0].patient_text == text


BUILTINS = list_protocols(include_user=False)
#: Things the patient view does not have: the patient text must not point at them.
NOT_ON_PATIENT_VIEW = re.compile(r"\b(bar|line|display|trace|graph|screen|number)\b", re.I)


@pytest.mark.parametrize("protocol", BUILTINS, ids=[p.name for p in BUILTINS])
def test_every_builtin_phase_has_a_patient_text_about_what_the_view_shows(protocol) -> None:
    for phase in protocol.phases:
        text = phase.patient_text
        where = f"{protocol.name}: {phase.name}"
        assert text, f"{where} has no patient_text"
        assert len(text) <= MAX_PATIENT_TEXT_CHARS, where
        assert not NOT_ON_PATIENT_VIEW.search(text), f"{where}: {text!r}"
        # the pacer is named only where the phase runs one, the orb only where it is shown
        assert ("pacer" in text) == (phase.pacer_bpm is not None), f"{where}: {text!r}"
        if re.search(r"\borb grows?\b|\bwatch the orb\b", text):
            assert phase.feedback.visual, f"{where}: the orb is not shown ({phase.feedback})"
        if phase.feedback in (Feedback.NONE, Feedback.AUDIO) and "orb" in text:
            assert "without the orb" in text, f"{where}: {text!r}"
