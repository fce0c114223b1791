"""A subject's questionnaires over a course: timepoint labels and change from baseline.

Pure logic on what the store keeps (time taken, timepoint, scores as JSON): the CLI's
``outcomes show`` and the course report use the same table, so both say the same thing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from biofeedback.errors import AnswerError
from biofeedback.outcomes.instrument import Instrument
from biofeedback.outcomes.scoring import compare, judge_value

#: The timepoints of a course; a free label (up to 40 characters) is allowed as well.
NAMED_TIMEPOINTS = ("baseline", "end", "follow-up")
MAX_TIMEPOINT_CHARS = 40
_SESSION_RE = re.compile(r"^session\s*(\d{1,3})$")


def normalize_timepoint(text: str) -> str:
    """``"Baseline"`` -> ``"baseline"``, ``"session 3"``/``"s3"`` -> ``"session 3"``,
    ``"followup"`` -> ``"follow-up"``; anything else is kept as a free label (checked)."""
    label = unicodedata.normalize("NFC", text).strip()
    low = " ".join(label.lower().split())
    if low in ("followup", "follow up", "follow-up"):
        return "follow-up"
    if low in NAMED_TIMEPOINTS:
        return low
    match = _SESSION_RE.match(low) or re.fullmatch(r"s(\d{1,3})", low)
    if match:
        if int(match.group(1)) == 0:
            raise AnswerError(
                f"timepoint {label!r}: session numbers start at 1 (the course's first clinic "
                "session); before it is baseline"
            )
        return f"session {int(match.group(1))}"
    if not label:
        raise AnswerError("the timepoint is empty: e.g. baseline, session 3, end, follow-up")
    if len(label) > MAX_TIMEPOINT_CHARS or any(unicodedata.category(c) == "Cc" for c in label):
        raise AnswerError(
            f"timepoint {label[:20]!r}: use baseline, session N, end, follow-up or a short "
            f"label (at most {MAX_TIMEPOINT_CHARS} characters, no control characters)"
        )
    return label


def number_text(value: float, sign: bool = False) -> str:
    """A score or a change as people read it: at most two decimals, no trailing zeros
    (``6.33``, ``7``, ``-3.67``; ``+4`` with ``sign``). The CLI and the reports use this."""
    text = f"{value:+.2f}" if sign else f"{value:.2f}"
    text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "+0") else text


def change_text(change: Mapping[str, Any] | None) -> str:
    """``-3 (43 % better)`` from a change (``Change.to_dict()``); ``-`` without one."""
    delta = None if not change else change.get("change")
    if delta is None:
        return "-"
    text = number_text(float(delta), sign=True)
    percent = change.get("change_percent") if change else None
    if percent is not None:
        text += f" ({abs(percent):.0f} % {'better' if percent >= 0 else 'worse'})"
    return text


def compares_with_baseline(instrument: Instrument | None) -> bool:
    """False for an instrument that rates change itself (every score judged on its value, as
    the global impression of change): its later rows are not compared with a baseline."""
    if instrument is None:
        return True
    return any(s.change is None or s.change.responder_value is None for s in instrument.scores)


def counts_as_answered(scores: Mapping[str, Any]) -> bool:
    """Whether a stored questionnaire counts as answered for a course's outcome schedule: at
    least one of its scores was computed (or the instrument has no scores). One stored with
    ``outcomes record --partial`` and every score "not scored" is asked again when due."""
    if not scores:
        return True
    return any(_value(scores, score_id) is not None for score_id in scores)


@dataclass(frozen=True)
class Measurement:
    """One stored questionnaire, as the table needs it."""

    taken_at: float
    timepoint: str
    scores: Mapping[str, Any]
    record_id: int = 0


@dataclass
class Row:
    """One questionnaire's scores, each with its change from baseline when it has a rule."""

    measurement: Measurement
    is_baseline: bool
    #: score id -> {"value", "note", "change": Change.to_dict() or None}
    cells: dict[str, dict[str, Any]] = field(default_factory=dict)


def _value(scores: Mapping[str, Any], score_id: str) -> float | None:
    entry = scores.get(score_id)
    value = entry.get("value") if isinstance(entry, Mapping) else None
    return float(value) if isinstance(value, int | float) else None


def baseline_of(measurements: Sequence[Measurement]) -> Measurement | None:
    """The first measurement labelled baseline, else the first one."""
    ordered = sorted(measurements, key=lambda m: (m.taken_at, m.record_id))
    return next((m for m in ordered if m.timepoint == "baseline"), ordered[0] if ordered else None)


def change_table(instrument: Instrument | None, measurements: Sequence[Measurement]) -> list[Row]:
    """Every measurement (oldest first) with, per score, the change from baseline and whether it
    passes the instrument's thresholds. Without the instrument (its file is gone) the stored
    values are shown and no threshold is judged."""
    ordered = sorted(measurements, key=lambda m: (m.taken_at, m.record_id))
    base = baseline_of(ordered)
    rules = {s.id: s.change for s in instrument.scores} if instrument is not None else {}
    rows = []
    for m in ordered:
        row = Row(m, m is base)
        for score_id, entry in m.scores.items():
            value = _value(m.scores, score_id)
            note = entry.get("note", "") if isinstance(entry, Mapping) else ""
            cell: dict[str, Any] = {"value": value, "note": note, "change": None}
            rule = rules.get(score_id)
            if rule is not None and value is not None:
                if rule.responder_value is not None:
                    cell["change"] = judge_value(rule, value).to_dict()
                elif base is not None and not row.is_baseline:
                    start = _value(base.scores, score_id)
                    if start is not None:
                        cell["change"] = compare(rule, start, value).to_dict()
            elif value is not None and base is not None and not row.is_baseline:
                start = _value(base.scores, score_id)
                if start is not None:
                    cell["change"] = {"change": round(value - start, 6), "verdict": "no threshold"}
            row.cells[score_id] = cell
        rows.append(row)
    return rows
