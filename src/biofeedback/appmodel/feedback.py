"""One classification of one value against one threshold: what every feedback channel says.

The gauge's bar colour, its caption and big number, the colour of its trail, the patient orb and
the tone all read a :class:`FeedbackState` made by :func:`classify` (or use its rule,
:func:`biofeedback.training.thresholds.below_target`), so they cannot disagree: the number shown
is the value that was classified, rounded by the one rule for targets and levels
(:func:`biofeedback.training.thresholds.format_uv`, 0.1 uV), and "below" means the number as
shown is below the target as shown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from biofeedback.core.types import Flag
from biofeedback.training.thresholds import below_target, format_uv, round_uv


class FeedbackKind:
    """State names (plain strings: easy to assert and to store)."""

    WAITING = "idle"  # no value yet
    CALM = "calm"  # below the target: what the patient works for
    TENSE = "tense"  # at or above the target
    FLAGGED = "check"  # the signal is flagged (clipping, mains, electrode off...): not scored


class ColourRole:
    """Which theme colour a state is painted in (the GUI maps roles to its palette)."""

    CALM = "calm"
    TENSE = "tense"
    NEUTRAL = "neutral"  # flagged
    MUTED = "muted"  # waiting


_ROLE = {
    FeedbackKind.CALM: ColourRole.CALM,
    FeedbackKind.TENSE: ColourRole.TENSE,
    FeedbackKind.FLAGGED: ColourRole.NEUTRAL,
    FeedbackKind.WAITING: ColourRole.MUTED,
}


def role_of(kind: str) -> str:
    """The colour role of a state name."""
    return _ROLE.get(kind, ColourRole.MUTED)


@dataclass(frozen=True)
class FeedbackState:
    """What one value says against one threshold.

    ``value_uv`` is the value classified (as given); ``number`` its text, ``target`` the
    threshold's text (both by the one rounding rule); ``caption`` the short sentence under the
    number; ``role`` the colour role of the bar, caption and the trail above the line.
    """

    kind: str
    value_uv: float
    threshold_uv: float
    flags: int
    number: str
    target: str
    caption: str
    role: str

    @property
    def below(self) -> bool:
        """True when the value counts as below the target (never while flagged)."""
        return self.kind == FeedbackKind.CALM


def state_of(level_uv: float, threshold_uv: float, flags: int) -> str:
    """Just the state name (the cheap path, e.g. between frames)."""
    if flags:
        return FeedbackKind.FLAGGED
    if not (math.isfinite(level_uv) and math.isfinite(threshold_uv)):
        return FeedbackKind.WAITING
    return FeedbackKind.CALM if below_target(level_uv, threshold_uv) else FeedbackKind.TENSE


def caption_for(kind: str, level_uv: float, threshold_uv: float, flags: int) -> str:
    """The sentence under the number for a state."""
    if kind == FeedbackKind.CALM:
        return "Below target"
    if kind == FeedbackKind.TENSE:
        if round_uv(level_uv) == round_uv(threshold_uv):
            return "On the target line"  # the number reads like the target: not below it
        return "Above target"
    if kind == FeedbackKind.FLAGGED:
        return "Check: " + ", ".join(Flag.describe(flags) or ["signal"])
    return "Waiting for signal"


def classify(level_uv: float, threshold_uv: float, flags: int = 0) -> FeedbackState:
    """The one classification of ``level_uv`` against ``threshold_uv`` with its quality bits."""
    level, threshold, bits = float(level_uv), float(threshold_uv), int(flags)
    kind = state_of(level, threshold, bits)
    return FeedbackState(
        kind=kind,
        value_uv=level,
        threshold_uv=threshold,
        flags=bits,
        number=format_uv(level),
        target=format_uv(threshold),
        caption=caption_for(kind, level, threshold, bits),
        role=role_of(kind),
    )


#: Before any data: the gauge's first state.
WAITING = classify(math.nan, math.nan, 0)


def sounds_above(level_uv: float, threshold_uv: float) -> bool:
    """The tone's "above the target" (beep and above-only modes): the same rule as the gauge."""
    if not (math.isfinite(level_uv) and math.isfinite(threshold_uv)):
        return False  # nothing to compare: silence, as while waiting for signal
    return not below_target(level_uv, threshold_uv)
