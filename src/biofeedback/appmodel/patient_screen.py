"""What the patient view shows: its own words, the orb, the pacer, the channel, the time left.

Qt-free: :func:`patient_screen` turns the session's state (or no session), its protocol phase and
the clinician's pacer switch into one :class:`PatientScreen`; the patient view applies it in one
call. The rules (issue 11, "One truth on screen"):

- The patient reads the phase's ``patient_text`` when the protocol gives one, else a calm
  default for the phase kind that names only what is on screen (never "the bar" or "the line":
  the patient view has neither; never "breathe normally" while a pacer runs). The clinician's
  ``instruction`` is written for the other screen and is never shown here.
- The pacer runs only where the phase asks for it (at the phase's rate); outside a session it
  follows the clinician's switch and rate.
- The orb shows where the phase gives visual feedback (always outside a session) and follows the
  channel the session scores; without a session, the channels that can resolve a relaxed muscle
  (the ENV output on a 10-bit board, not RAW), the one furthest above its own target.
- "Trial 2 of 5 · 2:30 left" in a session (time in 10 s steps, so it does not tick); the session
  clock only in a session.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from numpy.typing import NDArray

#: The pacer rate outside a session when the clinician has not chosen one (breaths per minute).
DEFAULT_PACER_BPM = 6.0
DEFAULT_INHALE_PCT = 40.0
#: Time left is shown in steps of this many seconds (rounded up): a calm line, not a countdown.
TIME_LEFT_STEP_S = 10.0
#: What the patient reads once a session stopped on a failure (until the next one starts).
STOPPED_TEXT = "The session stopped and what was recorded is saved. Press Esc to see why."

#: Calm defaults per phase kind, naming only what the patient view shows ("orb", "pacer").
DEFAULT_TEXT: dict[str, str] = {
    "signal-check": "Sit comfortably. The sensor is being checked; there is nothing you need to do.",
    "noise-floor": "Stay completely still for a moment.",
    "baseline": "Sit quietly with your arms resting. There is nothing you need to do.",
    "reference-contraction": "Tense the muscle firmly, not painfully, and hold until told to stop.",
    "train": "Let your shoulders go soft. The orb grows smaller as you let go.",
    "rest": "Rest. Move and stretch gently if you like.",
    "tense": "Tense the muscle now and hold it.",
    "release": "Let go completely and notice the difference.",
    "transfer": "Relax the same way as before, this time on your own.",
    "breathing": "Breathe with the pacer: in as it grows, slowly out as it shrinks.",
    "recovery": "Let go completely and sit quietly.",
    "education": "Read at your own pace, then press Continue.",
    "thought-record": "Take it one step at a time; there are no wrong answers.",
    "reflection": "Take a moment to look back on the last exercise.",
}
#: Outside a session: the orb is on screen, the pacer when the clinician switched it on.
FREE_TEXT = "Let your shoulders go soft. The orb grows smaller as you let go."
WITH_PACER = " Breathe with the pacer."
NO_ORB_TRAIN_TEXT = "Let your shoulders go soft and heavy."
STEP_KINDS = frozenset({"education", "thought-record", "reflection"})


@dataclass(frozen=True)
class PacerSwitch:
    """The clinician's pacer settings (used outside a session)."""

    visible: bool = True
    bpm: float = DEFAULT_PACER_BPM


@dataclass(frozen=True)
class PatientScreen:
    """Everything the patient view shows, decided in one place.

    ``channels`` are the output channels the orb (and the tone) follow, combined by
    ``combine``: ``"lead"`` (the one furthest above its own target), ``"max"`` or ``"mean"``
    (as the session scores them, against one target).
    """

    instruction: str
    show_orb: bool
    pacer_on: bool
    pacer_bpm: float
    pacer_inhale_pct: float
    progress: str
    show_session_clock: bool
    channels: tuple[int, ...]
    combine: str = "lead"
    in_session: bool = False


def time_left_text(seconds: float) -> str:
    """``2:30 left`` in TIME_LEFT_STEP_S steps, rounded up ("" when unknown or done)."""
    if not (math.isfinite(seconds) and seconds > 0):
        return ""
    steps = math.ceil(seconds / TIME_LEFT_STEP_S - 1e-9)
    total = int(steps * TIME_LEFT_STEP_S)
    return f"{total // 60}:{total % 60:02d} left"


def progress_text(state: Any, phase: Any) -> str:
    """``Trial 2 of 5 · 2:30 left`` for a running phase ("" outside a session)."""
    if state is None or state.finished:
        return ""
    if state.paused:
        return "Paused"
    parts = []
    count = int(getattr(phase, "repeat_count", 1) or 1)
    index = getattr(phase, "repeat_index", None)
    if index is not None and count > 1:
        parts.append(f"Trial {index} of {count}")
    if not getattr(phase, "is_step", False):
        left = time_left_text(float(state.remaining_s))
        if left:
            parts.append(left)
    return " · ".join(parts)


def rest_channels(outputs: Sequence[Any]) -> tuple[int, ...]:
    """The outputs that can resolve a relaxed muscle (all of them when none can)."""
    able = tuple(i for i, o in enumerate(outputs) if getattr(o, "resolves_rest", True))
    return able or tuple(range(len(outputs)))


def followed(outputs: Sequence[Any], scored: Any) -> tuple[tuple[int, ...], str]:
    """(channels, combine) the patient follows: the session's scored channel (an index, or
    "max"/"mean" over all), or without a session the channels that resolve rest."""
    n = len(outputs)
    if isinstance(scored, int) and not isinstance(scored, bool) and 0 <= scored < n:
        return (scored,), "lead"
    if scored in ("max", "mean"):
        return tuple(range(n)), str(scored)
    return rest_channels(outputs), "lead"


def _instruction(kind: str, phase: Any, show_orb: bool, pacer_on: bool) -> str:
    own = str(getattr(phase, "patient_text", "") or "").strip()
    if own:
        return own
    if kind == "train" and not show_orb:
        text = NO_ORB_TRAIN_TEXT
    else:
        text = DEFAULT_TEXT.get(kind, FREE_TEXT)
    if pacer_on and "pacer" not in text:
        text += WITH_PACER
    return text


def patient_screen(
    state: Any = None,
    protocol: Any = None,
    pacer: PacerSwitch | None = None,
    outputs: Sequence[Any] = (),
    prompt: str = "",
    stopped: bool = False,
) -> PatientScreen:
    """The patient view for a runner ``state`` (None: no session running) of ``protocol``.

    ``pacer``: the clinician's switch (outside a session); ``outputs``: the pipeline's output
    channels (``resolves_rest``); ``prompt``: a message on screen for a while (a micro-break, an
    answer too long), shown instead of the instruction; ``stopped``: the last session stopped on
    a failure.
    """
    switch = pacer or PacerSwitch()
    if state is None or protocol is None or state.finished:
        channels, combine = followed(outputs, None)
        text = STOPPED_TEXT if stopped else FREE_TEXT + (WITH_PACER if switch.visible else "")
        return PatientScreen(
            instruction=prompt or text,
            show_orb=True,
            pacer_on=switch.visible,
            pacer_bpm=float(switch.bpm),
            pacer_inhale_pct=DEFAULT_INHALE_PCT,
            progress="",
            show_session_clock=False,
            channels=channels,
            combine=combine,
        )
    phases = protocol.phases
    phase = phases[min(max(int(state.phase_index), 0), len(phases) - 1)]
    kind = str(state.phase_kind)
    bpm = state.pacer_bpm
    pacer_on = bool(bpm) and kind not in STEP_KINDS
    show_orb = bool(state.show_visual) and kind not in STEP_KINDS
    channels, combine = followed(outputs, getattr(protocol, "scored_channel", 0))
    return PatientScreen(
        instruction=prompt or _instruction(kind, phase, show_orb, pacer_on),
        show_orb=show_orb,
        pacer_on=pacer_on,
        pacer_bpm=float(bpm) if pacer_on else float(switch.bpm),
        pacer_inhale_pct=float(state.pacer_inhale_pct or DEFAULT_INHALE_PCT),
        progress=progress_text(state, phase),
        show_session_clock=True,
        channels=channels,
        combine=combine,
        in_session=True,
    )


def follow_level(
    screen: PatientScreen,
    levels: Sequence[float] | NDArray[Any],
    flags: Sequence[int] | NDArray[Any],
    thresholds: Sequence[float],
) -> tuple[float, float, int]:
    """(level, threshold, flags) the orb and the tone follow, per ``screen.channels``.

    ``"lead"``: the followed channel furthest above its own target (its own flags);
    ``"max"``/``"mean"``: the channels combined as the session scores them, against the first
    channel's target (a session gives them one), flagged when any is.
    """
    chans = [c for c in screen.channels if c < min(len(levels), len(flags), len(thresholds))]
    if not chans:
        return math.nan, math.nan, 0
    if screen.combine in ("max", "mean"):
        values = [float(levels[c]) for c in chans if math.isfinite(float(levels[c]))]
        bits = 0
        for c in chans:
            bits |= int(flags[c])
        if not values:
            return math.nan, float(thresholds[chans[0]]), bits
        level = max(values) if screen.combine == "max" else sum(values) / len(values)
        return level, float(thresholds[chans[0]]), bits
    best, best_ratio = chans[0], -math.inf
    for c in chans:
        level, thr = float(levels[c]), float(thresholds[c])
        ratio = level / thr if thr > 0 and math.isfinite(level) else -math.inf
        if ratio > best_ratio:
            best, best_ratio = c, ratio
    return float(levels[best]), float(thresholds[best]), int(flags[best])
