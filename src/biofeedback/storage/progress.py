"""Progress and adherence across sessions: trends, practice streaks and the weekly goal.

Pure functions: :func:`session_point` and the streak/goal functions work on plain values;
:func:`subject_trend` and :func:`progress_summary` read them from a :class:`Database`. The GUI's
history panel and the clinician report both use these, so they always agree.

What is read from a stored session (the runner's ``SessionSummary.to_dict()`` stored with
:meth:`Database.finish_session`, and its ``PhaseMetrics.to_dict()`` rows stored with
:meth:`Database.save_phases`):

- baseline uV: summary ``baseline_uv``, else the median of the baseline phases' ``median_uv``;
- % time below threshold: summary ``training_pct_below``, else the mean of the train phases'
  ``pct_below``;
- recovery time: summary ``recovery_s``, else the first phase with a ``recovery_s``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from biofeedback.storage.database import Database, SessionRecord

#: A session counts as practice when it ran at least this long (complete or interrupted).
MIN_PRACTICE_S = 60.0


@dataclass
class SessionPoint:
    """One session on a trend plot."""

    session_id: int
    started_at: float
    date: dt.date
    protocol: str
    status: str
    duration_s: float
    baseline_uv: float | None
    pct_below: float | None
    recovery_s: float | None
    pct_excluded: float | None
    pain_before: float | None
    pain_after: float | None
    #: the format of the file an imported session came from ("EDF+", "XDF", ...); "" if recorded
    imported: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        data = asdict(self)
        data["date"] = self.date.isoformat()
        return data


@dataclass
class WeekProgress:
    """Practice in one ISO week (Monday to Sunday) against the clinician's goal."""

    week_start: dt.date
    sessions: int
    goal: int | None

    @property
    def met(self) -> bool | None:
        """Whether the goal is reached (None without a goal)."""
        return None if not self.goal else self.sessions >= self.goal

    @property
    def remaining(self) -> int:
        """Sessions still to do this week (0 without a goal)."""
        return max(0, (self.goal or 0) - self.sessions)


@dataclass
class ProgressSummary:
    """Everything the history panel shows for one subject."""

    subject_id: str
    points: list[SessionPoint]
    practice_days: list[dt.date]
    current_streak_days: int
    longest_streak_days: int
    this_week: WeekProgress
    reminder: str | None
    trend_text: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "subject_id": self.subject_id,
            "points": [p.to_dict() for p in self.points],
            "practice_days": [d.isoformat() for d in self.practice_days],
            "current_streak_days": self.current_streak_days,
            "longest_streak_days": self.longest_streak_days,
            "this_week": {
                "week_start": self.this_week.week_start.isoformat(),
                "sessions": self.this_week.sessions,
                "goal": self.this_week.goal,
                "met": self.this_week.met,
            },
            "reminder": self.reminder,
            "trend_text": self.trend_text,
        }


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])


def session_point(record: SessionRecord, phases: Sequence[dict[str, Any]]) -> SessionPoint:
    """The trend values of one session (see the module docstring for where they come from)."""
    summary = record.summary or {}
    baseline = _number(summary.get("baseline_uv"))
    if baseline is None:
        values = [
            v
            for p in phases
            if p.get("kind") == "baseline" and (v := _number(p.get("median_uv"))) is not None
        ]
        baseline = _median(values)
    below = _number(summary.get("training_pct_below"))
    if below is None:
        values = [
            v
            for p in phases
            if p.get("kind") == "train" and (v := _number(p.get("pct_below"))) is not None
        ]
        below = sum(values) / len(values) if values else None
    recovery = _number(summary.get("recovery_s"))
    if recovery is None:
        recovery = next(
            (v for p in phases if (v := _number(p.get("recovery_s"))) is not None), None
        )
    return SessionPoint(
        session_id=record.id,
        started_at=record.started_at,
        date=dt.datetime.fromtimestamp(record.started_at).date(),
        protocol=record.protocol,
        status=record.status,
        duration_s=record.duration_s,
        baseline_uv=baseline,
        pct_below=below,
        recovery_s=recovery,
        pct_excluded=_number(summary.get("pct_excluded")),
        pain_before=record.pain_before,
        pain_after=record.pain_after,
        imported=imported_format(record.hardware),
    )


def imported_format(hardware: dict[str, Any] | None) -> str:
    """The file format an imported session came from ("" for a recorded one)."""
    imported = (hardware or {}).get("imported")
    return str(imported.get("format") or "file") if isinstance(imported, dict) else ""


def subject_trend(db: Database, subject_id: str | None) -> list[SessionPoint]:
    """One point per session of a subject (``None``: sessions without a subject), oldest first."""
    if subject_id is None:
        records = [r for r in db.list_sessions() if r.subject_id is None]
    else:
        records = db.list_sessions(subject_id)
    return [session_point(r, db.phases(r.id)) for r in records if r.status != "recording"]


def practice_days(
    points: Iterable[SessionPoint], min_duration_s: float = MIN_PRACTICE_S
) -> list[dt.date]:
    """Days with at least one session of ``min_duration_s`` or more, sorted."""
    return sorted({p.date for p in points if p.duration_s >= min_duration_s})


def current_streak(days: Iterable[dt.date], today: dt.date) -> int:
    """Consecutive practice days ending today, or yesterday (today is not over yet)."""
    have = set(days)
    day = today if today in have else today - dt.timedelta(days=1)
    streak = 0
    while day in have:
        streak += 1
        day -= dt.timedelta(days=1)
    return streak


def longest_streak(days: Iterable[dt.date]) -> int:
    """Longest run of consecutive practice days."""
    ordered = sorted(set(days))
    best = run = 0
    previous: dt.date | None = None
    for day in ordered:
        run = run + 1 if previous is not None and day - previous == dt.timedelta(days=1) else 1
        best = max(best, run)
        previous = day
    return best


def week_progress(
    points: Iterable[SessionPoint],
    goal: int | None,
    today: dt.date,
    min_duration_s: float = MIN_PRACTICE_S,
) -> WeekProgress:
    """Sessions (of at least ``min_duration_s``) in the ISO week containing ``today``."""
    start = today - dt.timedelta(days=today.weekday())
    end = start + dt.timedelta(days=7)
    count = sum(1 for p in points if start <= p.date < end and p.duration_s >= min_duration_s)
    return WeekProgress(start, count, goal)


def trend_sentences(points: Sequence[SessionPoint]) -> list[str]:
    """Plain-language trend notes comparing the first and the latest sessions with data."""
    out: list[str] = []

    def first_last(attr: str) -> tuple[float, float, int] | None:
        values = [getattr(p, attr) for p in points if getattr(p, attr) is not None]
        if len(values) < 2:
            return None
        return values[0], values[-1], len(values)

    baseline = first_last("baseline_uv")
    if baseline:
        a, b, n = baseline
        change = 100.0 * (b - a) / a if a else 0.0
        word = "lower" if change < -5 else "higher" if change > 5 else "about the same"
        out.append(
            f"Resting (baseline) tension: {a:.1f} uV in the first session, {b:.1f} uV in the latest "
            f"({word}{'' if word == 'about the same' else f', {abs(change):.0f} %'}; {n} sessions)."
        )
    below = first_last("pct_below")
    if below:
        a, b, n = below
        out.append(
            f"Time below target in training: {a:.0f} % first, {b:.0f} % latest ({n} sessions)."
        )
    recovery = first_last("recovery_s")
    if recovery:
        a, b, n = recovery
        out.append(
            f"Recovery after a contraction: {a:.1f} s first, {b:.1f} s latest ({n} sessions)."
        )
    return out


def progress_summary(
    db: Database, subject_id: str, today: dt.date | None = None
) -> ProgressSummary:
    """Trends, streaks and this week's progress for one subject."""
    today = today or dt.date.today()
    subject = db.get_subject(subject_id) or {}
    points = subject_trend(db, subject_id)
    days = practice_days(points)
    return ProgressSummary(
        subject_id=subject_id,
        points=points,
        practice_days=days,
        current_streak_days=current_streak(days, today),
        longest_streak_days=longest_streak(days),
        this_week=week_progress(points, subject.get("weekly_goal"), today),
        reminder=subject.get("reminder"),
        trend_text=trend_sentences(points),
    )
