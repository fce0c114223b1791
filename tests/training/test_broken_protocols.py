"""Every malformed protocol file gets a precise message: the file, the field, what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from biofeedback.errors import ProtocolFileError
from biofeedback.training import load_protocol_file

BROKEN = Path(__file__).parent / "broken"

PHASE_KEYS = (
    "kind, name, duration, instruction, patient_text, note, feedback, target, shaping, pacer_bpm, "
    "pacer_inhale_pct, micro_break_after_s, muscle_group, repeat"
)
KINDS = (
    "signal-check, noise-floor, baseline, reference-contraction, train, rest, tense, release, "
    "transfer, breathing, recovery, education, thought-record, reflection"
)

EXPECTED = {
    "negative_duration": "phase 3 'train': duration -5 must be > 0 seconds",
    "typo_key": (
        f"phase 2 'baseline': unknown key 'duraton' (did you mean 'duration'?); "
        f"allowed keys: {PHASE_KEYS}"
    ),
    "unknown_kind": (
        f"phase 2 'trian': kind 'trian' is not allowed (did you mean 'train'?): "
        f"choose one of {KINDS}"
    ),
    "bad_feedback": (
        "phase 2 'trial': feedback 'sound' is not allowed: choose one of visual, audio, both, none"
    ),
    "pacer_out_of_range": "phase 1 'breathing': pacer_bpm 12 must be between 4.5 and 7 breaths/min",
    "transfer_with_feedback": (
        "phase 3 'transfer': feedback 'visual' is not allowed: a transfer phase is without "
        'feedback (use kind = "train" for a trial with feedback)'
    ),
    "reference_target_without_reference": (
        "phase 2 'trial': target '10% of reference' needs a reference-contraction phase before it"
    ),
    "bad_duration_unit": (
        "phase 1 'baseline': duration '4 mn' is not a duration: write seconds (240) or a string "
        "like '4 min', '30 s' or '1 min 30 s'"
    ),
    "missing_name": "missing required key 'name' (e.g. name = \"my-protocol\")",
    "bad_name": (
        "name 'My Protocol' must be lower-case letters, digits and '-' (e.g. \"desk-10min\")"
    ),
    "repeat_zero": "phase 2 'trials': repeat 0 must be a whole number from 1 to 100",
    "nested_block": "phase 2.2: blocks cannot be nested: flatten the inner block",
    "shaping_band_reversed": (
        "[shaping]: band_pct [80, 60] must be [low, high] with "
        "0 <= low < target_success_pct (70) < high <= 100"
    ),
    "top_level_typo": (
        "unknown key 'phase' (did you mean 'phases'?); allowed keys: format, name, description, "
        "muscles, body_part, scored_channel, asymmetry_pairs, threshold, shaping, measures, phases"
    ),
    "not_toml": (
        "not valid TOML: Expected newline or end of document after a statement "
        '(at line 4, column 14): fix the syntax there (text needs quotes, e.g. duration = "3 min")'
    ),
    "no_phases": "phases is empty: add at least one [[phases]] table",
    "target_on_rest": "phase 2 'rest': target is not allowed on a rest phase (only on train phases)",
    "bad_scored_channel": (
        "scored_channel 'left' is not allowed: use an output channel number (0, 1, ...) "
        'or "max" or "mean"'
    ),
    "missing_duration": "phase 2 'trial 1': missing required key 'duration' (e.g. duration = \"4 min\")",
    "target_percent_of_what": (
        "phase 2 'train': target '90%': say percent of what: write '90% of baseline', '3 uV' "
        "or '5% of reference'"
    ),
    "train_without_feedback": (
        "phase 2 'train': feedback 'none' is not allowed on a train phase: use visual, audio or "
        'both, or kind = "transfer" for a trial without feedback'
    ),
    "block_phase_bad_duration": "phase 2.2 'rest': duration '0 s' must be > 0 seconds",
    "step_pct_zero": "[shaping]: step_pct 0 must be > 0 and <= 50 %",
    "format_two": "format 2 is not supported: this version reads format = 1",
    "micro_break_on_baseline": (
        "phase 1 'baseline': micro_break_after_s is not allowed on a baseline phase "
        "(only on train, transfer phases)"
    ),
    "asymmetry_same_channel": (
        "asymmetry_pairs must be a list of [left, right] channel numbers, e.g. [[0, 1]] "
        "(got [0, 0])"
    ),
    "too_long": "phase 1 'baseline': duration '400 min' is longer than the 2 h allowed",
}


def test_every_broken_file_has_an_expected_message() -> None:
    files = {p.stem for p in BROKEN.glob("*.toml")}
    assert files == set(EXPECTED)
    assert len(files) >= 10


@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_broken_file_message(stem: str) -> None:
    with pytest.raises(ProtocolFileError) as info:
        load_protocol_file(BROKEN / f"{stem}.toml")
    assert str(info.value) == f"{stem}.toml: {EXPECTED[stem]}"
