"""Checking answers, scoring them, and judging a change against the instrument's thresholds.

Answers are a mapping from item id to a number (numeric and choice items), text (free-text
items) or ``None`` (not answered). An item with ``ask_if`` is only asked, and only counted, when
the free-text item it names was answered (the Patient-Specific Functional Scale asks for a
rating of each activity the patient named). The rules are described in docs/outcomes.md.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from biofeedback.core.tomlfile import fmt_number
from biofeedback.errors import AnswerError
from biofeedback.outcomes.instrument import (
    MAX_ANSWER_CHARS,
    ChangeRule,
    Direction,
    Instrument,
    Item,
    Method,
    Missing,
    Response,
    Score,
)

Answer = float | str | None
_PLACEHOLDER_RE = re.compile(r"\{([a-z0-9_-]+)\}")


def applies(item: Item, answers: Mapping[str, Answer]) -> bool:
    """Whether ``item`` is asked, given the answers so far (its ``ask_if`` item was answered)."""
    return not item.ask_if or bool(answers.get(item.ask_if))


def item_text(item: Item, answers: Mapping[str, Answer]) -> str:
    """The item's text with ``{activity1}``-style references replaced by those answers."""
    return _PLACEHOLDER_RE.sub(lambda m: str(answers.get(m.group(1)) or "..."), item.text)


def questions(instrument: Instrument, answers: Mapping[str, Answer]) -> list[Item]:
    """The items to ask, in order, given the answers so far (one per screen in a window)."""
    return [item for item in instrument.items if applies(item, answers)]


def parse_answer(item: Item, raw: object) -> Answer:
    """One answer checked against its item: a number on the scale, one of the choice values,
    or text; ``None``, ``""`` or ``"-"`` mean not answered. Raises :class:`AnswerError`."""
    if raw is None or (isinstance(raw, str) and raw.strip() in ("", "-")):
        return None
    if item.response == Response.TEXT:
        text = unicodedata.normalize("NFC", str(raw)).strip()
        if any(unicodedata.category(ch) == "Cc" for ch in text):
            raise AnswerError(f"{item.id}: the answer holds control characters")
        if len(text) > MAX_ANSWER_CHARS:
            raise AnswerError(f"{item.id}: the answer is longer than {MAX_ANSWER_CHARS} characters")
        return text
    value = _number(item, raw)
    lo, hi = item.value_range()
    if item.response == Response.CHOICE:
        if all(c.value != value for c in item.choices):
            allowed = ", ".join(f"{fmt_number(c.value)} ({c.label})" for c in item.choices)
            raise AnswerError(f"{item.id}: {fmt_number(value)} is not one of {allowed}")
        return value
    steps = (value - lo) / item.step
    if not lo <= value <= hi or abs(steps - round(steps)) > 1e-9:
        step = "" if item.step == 1 else f" in steps of {fmt_number(item.step)}"
        raise AnswerError(
            f"{item.id}: {fmt_number(value)} is outside the scale: answer "
            f"{fmt_number(lo)} to {fmt_number(hi)}{step}"
        )
    return value


def _number(item: Item, raw: object) -> float:
    if isinstance(raw, bool):
        raise AnswerError(f"{item.id}: answer with a number, not {raw!r}")
    if isinstance(raw, int | float):
        value = float(raw)
    else:
        text = str(raw).strip()
        label = next((c.value for c in item.choices if c.label.lower() == text.lower()), None)
        if label is not None:
            return label
        try:
            value = float(text)
        except ValueError:
            raise AnswerError(f"{item.id}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise AnswerError(f"{item.id}: {value} is not a finite number")
    return value


def check_answers(instrument: Instrument, answers: Mapping[str, object]) -> dict[str, Answer]:
    """Every item's checked answer (``None`` when not answered), in the instrument's order.

    Raises :class:`AnswerError` for an unknown item id, an answer off the scale, or an answer
    to an item that is not asked (its ``ask_if`` item is empty).
    """
    known = instrument.item_ids
    for key in answers:
        if key not in known:
            raise AnswerError(
                f"{instrument.id} has no item {key!r}: its items are {', '.join(known)}"
            )
    out: dict[str, Answer] = {}
    for item in instrument.items:
        value = parse_answer(item, answers.get(item.id))
        if value is not None and not applies(item, out):
            raise AnswerError(
                f"{item.id}: answered, but it is only asked when {item.ask_if} is answered"
            )
        out[item.id] = value
    return out


@dataclass(frozen=True)
class ScoreResult:
    """One score of one answer set (``value`` is None when too many items were missing)."""

    id: str
    name: str
    value: float | None
    answered: int
    applicable: int
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "value": self.value,
            "answered": self.answered,
            "applicable": self.applicable,
            "note": self.note,
        }


def _scored_value(item: Item, value: float) -> float:
    """The value that counts: reverse-scored items count ``min + max - value``."""
    if not item.reverse:
        return value
    lo, hi = item.value_range()
    return lo + hi - value


def score_one(instrument: Instrument, score: Score, answers: Mapping[str, Answer]) -> ScoreResult:
    """One score from checked answers (see :func:`check_answers`)."""
    members = [instrument.item(i) for i in score.items]
    asked = [item for item in members if applies(item, answers)]
    done = [item for item in asked if isinstance(answers.get(item.id), int | float)]
    missing = len(asked) - len(done)
    base = functools.partial(
        ScoreResult, id=score.id, name=score.name, answered=len(done), applicable=len(asked)
    )
    if len(done) < score.min_answered or missing > score.max_missing:
        return base(value=None, note="not scored: " + _shortfall(score, len(done), len(asked)))
    values = [_scored_value(item, float(answers[item.id])) for item in done]  # type: ignore[arg-type]  # done holds numeric answers only
    total = math.fsum(values)
    note = ""
    if score.method == Method.SUM:
        value = total
        if missing and score.missing == Missing.PRORATE:
            value = total * len(asked) / len(done)
            note = f"prorated from {len(done)} of {len(asked)} items"
    elif score.method == Method.MEAN:
        value = total / len(done)
    else:
        least = math.fsum(item.value_range()[0] for item in done)
        most = math.fsum(item.value_range()[1] for item in done)
        value = (total - least) / (most - least) * 100.0
        if missing:
            note = f"percent of the maximum of the {len(done)} answered items"
    return base(value=round(value, 6), note=note)


def _shortfall(score: Score, answered: int, asked: int) -> str:
    """Why a score cannot be computed, plainly: ``1 of 1 items missing; every item must be
    answered``, ``3 of 10 items missing, at most 2 may be``, ``2 answered, at least 3 needed``."""
    missing = asked - answered
    if missing > score.max_missing:
        if score.max_missing == 0:
            return f"{missing} of {asked} items missing, every item must be answered"
        return f"{missing} of {asked} items missing, at most {score.max_missing} may be"
    return f"{answered} answered, at least {score.min_answered} needed"


def unscored_reason(instrument: Instrument, answers: Mapping[str, Answer]) -> str | None:
    """Why some score of these checked answers cannot be computed, as one line naming the score
    and the items to answer, e.g. ``'Average pain, last 7 days' cannot be scored: answer average
    (1 of 1 items missing, every item must be answered)``; None when every score is computed."""
    reasons = []
    for score in instrument.scores:
        result = score_one(instrument, score, answers)
        if result.value is not None:
            continue
        members = [instrument.item(i) for i in score.items]
        todo = [i.id for i in members if applies(i, answers) and answers.get(i.id) is None]
        short = _shortfall(score, result.answered, result.applicable)
        what = f"answer {', '.join(todo)} ({short})" if todo else short
        reasons.append(f"{score.name!r} cannot be scored: {what}")
    return "; ".join(reasons) or None


def score_answers(instrument: Instrument, answers: Mapping[str, Answer]) -> list[ScoreResult]:
    """Every score of the instrument, in its order, from checked answers."""
    return [score_one(instrument, score, answers) for score in instrument.scores]


@dataclass(frozen=True)
class Change:
    """A score compared with its baseline under the score's :class:`ChangeRule`."""

    change: float | None
    change_percent: float | None
    #: Improved by at least the minimal clinically important difference (points or percent),
    #: or (for a global rating of change) rated at least as good as ``responder_value``.
    important_improvement: bool
    #: Worsened by at least the minimal clinically important difference.
    important_worsening: bool
    #: |change| at least the minimal detectable change (None when the file gives none).
    beyond_mdc: bool | None
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "change": self.change,
            "change_percent": self.change_percent,
            "important_improvement": self.important_improvement,
            "important_worsening": self.important_worsening,
            "beyond_mdc": self.beyond_mdc,
            "verdict": self.verdict,
        }


def judge_value(rule: ChangeRule, value: float) -> Change:
    """A rating of change itself (global impression): is it at or beyond ``responder_value``?"""
    assert rule.responder_value is not None
    if rule.direction == Direction.LOWER_IS_BETTER:
        good = value <= rule.responder_value
    else:
        good = value >= rule.responder_value
    verdict = "important improvement" if good else "below the threshold of importance"
    return Change(None, None, good, False, None, verdict)


def compare(rule: ChangeRule, baseline: float, current: float) -> Change:
    """``current`` against ``baseline``: the change, and whether it passes the thresholds."""
    change = current - baseline
    better = -change if rule.direction == Direction.LOWER_IS_BETTER else change
    percent = better / abs(baseline) * 100.0 if baseline else None
    improved = worsened = False
    if rule.mcid is not None:
        improved = better >= rule.mcid - 1e-9
        worsened = -better >= rule.mcid - 1e-9
    if rule.mcid_percent is not None and percent is not None:
        improved = improved or percent >= rule.mcid_percent - 1e-9
        worsened = worsened or -percent >= rule.mcid_percent - 1e-9
    beyond = None if rule.mdc is None else abs(change) >= rule.mdc - 1e-9
    if improved:
        verdict = "important improvement"
    elif worsened:
        verdict = "important worsening"
    elif rule.mcid is None and rule.mcid_percent is None and beyond:
        verdict = "improved beyond measurement error" if better > 0 else "worse beyond error"
    else:
        verdict = "no important change"
    if beyond is False and (improved or worsened):
        verdict += " (within measurement error)"
    return Change(
        round(change, 6),
        None if percent is None else round(percent, 3),
        improved,
        worsened,
        beyond,
        verdict,
    )
