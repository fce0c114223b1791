"""One classification of one value against one threshold (Qt-free)."""

from __future__ import annotations

import math

import pytest

from biofeedback.appmodel.feedback import (
    ColourRole,
    FeedbackKind,
    classify,
    sounds_above,
    state_of,
)
from biofeedback.core.types import Flag
from biofeedback.training.thresholds import below_target, format_uv, round_target, round_uv


def test_one_rounding_rule_for_targets_and_levels():
    assert format_uv(10.3) == "10.3"  # the plot and the gauge both say 10.3, not "10"
    assert format_uv(9.64) == "9.6"
    assert format_uv(152.04) == "152.0"
    assert format_uv(math.nan) == "–"
    assert round_uv(10.34) == 10.3 and round_uv(10.36) == 10.4
    assert round_target(0.01) == 0.1  # a target is never below one step
    assert round_target(10.34) == 10.3


@pytest.mark.parametrize(
    ("level", "kind", "number", "caption", "role"),
    [
        (9.6, FeedbackKind.CALM, "9.6", "Below target", ColourRole.CALM),
        (9.94, FeedbackKind.CALM, "9.9", "Below target", ColourRole.CALM),
        # 9.95 is 9.9499... in binary: it reads 9.9 and is below (number and rule agree)
        (9.95, FeedbackKind.CALM, "9.9", "Below target", ColourRole.CALM),
        (9.96, FeedbackKind.TENSE, "10.0", "On the target line", ColourRole.TENSE),
        (10.0, FeedbackKind.TENSE, "10.0", "On the target line", ColourRole.TENSE),
        (10.04, FeedbackKind.TENSE, "10.0", "On the target line", ColourRole.TENSE),
        (10.3, FeedbackKind.TENSE, "10.3", "Above target", ColourRole.TENSE),
    ],
)
def test_number_caption_and_colour_agree_around_the_target(level, kind, number, caption, role):
    state = classify(level, 10.0, 0)
    assert (state.kind, state.number, state.caption, state.role) == (kind, number, caption, role)
    assert state.target == "10.0"
    assert state.below == (kind == FeedbackKind.CALM)
    # the tone's "above" is the gauge's "not below"
    assert sounds_above(level, 10.0) == (not state.below)


def test_regression_below_target_is_never_shown_on_an_amber_bar():
    """Issue 11: "9.6 Below target" on an amber bar above the line; "10 Above" on a teal bar."""
    for level in [9.0 + 0.01 * i for i in range(300)]:
        for target in (9.6, 10.0, 10.3):
            state = classify(level, target, 0)
            shown_below = float(state.number) < float(state.target)
            assert state.below == shown_below, (level, target, state)
            assert (state.caption == "Below target") == (state.role == ColourRole.CALM)
            assert ("Above" in state.caption) == (float(state.number) > float(state.target))


def test_regression_the_target_reads_the_same_everywhere():
    """Issue 11: the target read 10.3 uV on the plot and 10 uV on the gauge."""
    assert classify(11.0, 10.3, 0).target == format_uv(10.3) == "10.3"


def test_flags_and_missing_values():
    flagged = classify(3.0, 10.0, int(Flag.FLAT | Flag.MAINS))
    assert flagged.kind == FeedbackKind.FLAGGED and flagged.role == ColourRole.NEUTRAL
    assert flagged.caption == "Check: electrode off, mains"
    assert not flagged.below  # flagged samples are never rewarded
    waiting = classify(math.nan, 10.0, 0)
    assert waiting.kind == FeedbackKind.WAITING and waiting.number == "–"
    assert waiting.caption == "Waiting for signal" and waiting.role == ColourRole.MUTED
    assert not sounds_above(math.nan, 10.0)
    assert not sounds_above(12.0, math.nan)  # no target (no channel followed): no beeps
    assert state_of(2.0, 5.0, 0) == FeedbackKind.CALM == classify(2.0, 5.0).kind


def test_below_target_compares_what_is_shown():
    assert below_target(9.94, 10.0)
    assert not below_target(9.96, 10.0)  # reads 10.0: on the line, not below
    assert not below_target(10.0, 10.0)
