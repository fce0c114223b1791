"""Adherence to a home-practice prescription, week by week (pure functions, no store).

Input: the sessions of one course as :class:`PracticeSession` (their local start time, i.e. the
wall clock where they were recorded, their length, status and setting) and the course's dated
prescription history as :class:`Prescription`. Output: one :class:`WeekAdherence` per ISO week
(Monday to Sunday) of the course, the day and week streaks, and the calm sentence the patient
sees ("3 of 5 this week"). The rules, with their constants, are in docs/courses.md:

- only home sessions are practice; clinic sessions are counted apart;
- a complete session counts when it lasted at least :data:`MIN_PRACTICE_S`;
- an interrupted session counts only when it lasted at least :data:`INTERRUPTED_MIN_FRACTION`
  of the prescribed minutes per session (at least :data:`INTERRUPTED_MIN_S` when no minutes are
  prescribed that week); shorter ones are reported apart and add no minutes;
- the prescription of a week is the one in force on the week's first day of the course (its
  Monday, or the course start in the first week): a change dated mid-week applies from the next
  week, so a week is never judged against two prescriptions;
- in a week the course covers only in part (its start or end, the prescription's "until"), the
  prescribed sessions are pro-rated by the days covered (rounded half up);
- a week is met when the counted sessions reach the prescribed sessions and the counted minutes
  reach :data:`MINUTES_MET_FRACTION` of the prescribed minutes.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

#: A complete home session shorter than this (s) is not practice (a start by mistake).
MIN_PRACTICE_S = 60.0
#: An interrupted home session counts as practice when it lasted at least this fraction of the
#: prescribed minutes per session.
INTERRUPTED_MIN_FRACTION = 0.5
#: ... or, in a week without prescribed minutes, at least this long (s).
INTERRUPTED_MIN_S = 300.0
#: A week's minutes are met at this fraction of the prescribed minutes (sessions end a little
#: early or late; a protocol of "15 minutes" may last 14.5).
MINUTES_MET_FRACTION = 0.9
#: A clinic session of the course (the "session N" of the plan and its questionnaires) is a
#: clinic recording, complete or interrupted, of at least this long (s): a one-minute signal
#: check at the clinic is not one of the planned sessions.
MIN_CLINIC_SESSION_S = 300.0

_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class PracticeSession:
    """One stored session as adherence sees it."""

    session_id: int
    local_start: dt.datetime  # wall clock where it was recorded (naive)
    duration_s: float
    status: str  # 'complete', 'interrupted' ('recording' ones are skipped)
    setting: str | None  # 'clinic', 'home' or None (not said: not counted as either)

    @property
    def day(self) -> dt.date:
        return self.local_start.date()


@dataclass(frozen=True)
class Prescription:
    """The home-practice prescription in force from ``valid_from`` on (until the next one)."""

    valid_from: dt.date
    sessions_per_week: int
    minutes_per_session: int
    until: dt.date | None = None  # last day of home practice (None: as long as the course)
    protocols: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid_from": self.valid_from.isoformat(),
            "sessions_per_week": self.sessions_per_week,
            "minutes_per_session": self.minutes_per_session,
            "until": None if self.until is None else self.until.isoformat(),
            "protocols": list(self.protocols),
        }


@dataclass
class WeekAdherence:
    """One ISO week of a course."""

    week_start: dt.date  # Monday
    prescription: Prescription | None
    days_covered: int  # days of this week inside the course and the prescription
    prescribed_sessions: int
    prescribed_minutes: float
    sessions_done: int = 0
    minutes_done: float = 0.0
    days_practised: int = 0
    interrupted_counted: int = 0
    interrupted_short: int = 0  # interrupted below the minimum: not practice
    interrupted_short_minutes: float = 0.0
    clinic_sessions: int = 0
    session_ids: list[int] = field(default_factory=list)

    @property
    def iso_week(self) -> str:
        year, week, _ = self.week_start.isocalendar()
        return f"{year}-W{week:02d}"

    @property
    def met(self) -> bool | None:
        """Whether the prescription is met (None: nothing prescribed this week)."""
        if self.prescribed_sessions <= 0:
            return None
        return (
            self.sessions_done >= self.prescribed_sessions
            and self.minutes_done >= MINUTES_MET_FRACTION * self.prescribed_minutes - 1e-9
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "iso_week": self.iso_week,
            "week_start": self.week_start.isoformat(),
            "prescription": None if self.prescription is None else self.prescription.to_dict(),
            "days_covered": self.days_covered,
            "prescribed_sessions": self.prescribed_sessions,
            "prescribed_minutes": round(self.prescribed_minutes, 1),
            "sessions_done": self.sessions_done,
            "minutes_done": round(self.minutes_done, 1),
            "days_practised": self.days_practised,
            "interrupted_counted": self.interrupted_counted,
            "interrupted_short": self.interrupted_short,
            "interrupted_short_minutes": round(self.interrupted_short_minutes, 1),
            "clinic_sessions": self.clinic_sessions,
            "met": self.met,
            "session_ids": list(self.session_ids),
        }


@dataclass
class Adherence:
    """A course's adherence: its weeks, streaks and this week's sentence."""

    weeks: list[WeekAdherence]
    practice_days: list[dt.date]
    current_day_streak: int
    longest_day_streak: int
    current_week_streak: int
    longest_week_streak: int
    today: dt.date

    @property
    def this_week(self) -> WeekAdherence | None:
        monday = week_start(self.today)
        return next((w for w in self.weeks if w.week_start == monday), None)

    def this_week_text(self) -> str:
        """What the patient sees, e.g. "3 of 5 this week" (see :func:`week_text`)."""
        week = self.this_week
        return week_text(week) if week is not None else "no home practice this week"

    def to_dict(self) -> dict[str, Any]:
        return {
            "today": self.today.isoformat(),
            "this_week_text": self.this_week_text(),
            "weeks": [w.to_dict() for w in self.weeks],
            "practice_days": [d.isoformat() for d in self.practice_days],
            "current_day_streak": self.current_day_streak,
            "longest_day_streak": self.longest_day_streak,
            "current_week_streak": self.current_week_streak,
            "longest_week_streak": self.longest_week_streak,
            "weeks_met": sum(1 for w in self.weeks if w.met),
            "weeks_judged": sum(1 for w in self.weeks if w.met is not None),
            "rules": {
                "min_practice_s": MIN_PRACTICE_S,
                "interrupted_min_fraction": INTERRUPTED_MIN_FRACTION,
                "interrupted_min_s": INTERRUPTED_MIN_S,
                "minutes_met_fraction": MINUTES_MET_FRACTION,
            },
        }


def week_start(day: dt.date) -> dt.date:
    """The Monday of ``day``'s ISO week."""
    return day - dt.timedelta(days=day.weekday())


def week_text(week: WeekAdherence) -> str:
    """The calm sentence for one week: "3 of 5 this week", "3 this week" without a target."""
    if week.prescribed_sessions > 0:
        return f"{week.sessions_done} of {week.prescribed_sessions} this week"
    return f"{week.sessions_done} this week"


def prescription_on(history: Sequence[Prescription], day: dt.date) -> Prescription | None:
    """The prescription in force on ``day``: the latest with ``valid_from <= day``."""
    current = None
    for item in sorted(history, key=lambda p: p.valid_from):
        if item.valid_from <= day:
            current = item
    return current


def is_clinic_session(setting: str | None, status: str, duration_s: float) -> bool:
    """Whether a recording counts as one of the course's clinic sessions: a clinic recording
    of at least :data:`MIN_CLINIC_SESSION_S` (a session still recording counts by its length
    so far)."""
    return (
        setting == "clinic"
        and status in ("complete", "interrupted", "recording")
        and duration_s >= MIN_CLINIC_SESSION_S
    )


def _round_half_up(value: float) -> int:
    return math.floor(value + 0.5)


def _counts(session: PracticeSession, minutes_per_session: int | None) -> bool:
    """Whether a home session is practice (the rules in the module docstring)."""
    if session.status == "complete":
        return session.duration_s >= MIN_PRACTICE_S
    if minutes_per_session:
        needed = INTERRUPTED_MIN_FRACTION * minutes_per_session * 60.0
    else:
        needed = INTERRUPTED_MIN_S
    return session.duration_s >= max(needed, MIN_PRACTICE_S)


def _empty_week(
    monday: dt.date, history: Sequence[Prescription], start: dt.date, end: dt.date | None
) -> WeekAdherence:
    """A week with its prescription and target; only the course's start and end and the
    prescription's "until" shorten it (the current week is judged as a whole week)."""
    first = max(monday, start)
    sunday = monday + 6 * _DAY
    stop = sunday if end is None else min(sunday, end)
    rx = prescription_on(history, first) if first <= stop else None
    covered = 0
    if rx is not None:
        if rx.until is not None:
            stop = min(stop, rx.until)
        covered = max(0, (stop - first).days + 1)
    sessions = 0
    if rx is not None and covered:
        sessions = _round_half_up(rx.sessions_per_week * covered / 7.0)
    minutes = float(sessions * rx.minutes_per_session) if rx is not None else 0.0
    return WeekAdherence(monday, rx, covered, sessions, minutes)


def _add_session(week: WeekAdherence, session: PracticeSession, days: set[dt.date]) -> None:
    if session.setting == "clinic":
        week.clinic_sessions += is_clinic_session(
            session.setting, session.status, session.duration_s
        )
        return
    if session.setting != "home" or session.status not in ("complete", "interrupted"):
        return
    minutes_rx = week.prescription.minutes_per_session if week.prescription else None
    minutes = max(0.0, session.duration_s) / 60.0
    if not _counts(session, minutes_rx):
        if session.status == "interrupted":
            week.interrupted_short += 1
            week.interrupted_short_minutes += minutes
        return
    week.sessions_done += 1
    week.minutes_done += minutes
    week.session_ids.append(session.session_id)
    if session.status == "interrupted":
        week.interrupted_counted += 1
    days.add(session.day)


def course_adherence(
    sessions: Iterable[PracticeSession],
    history: Sequence[Prescription],
    start: dt.date,
    today: dt.date,
    end: dt.date | None = None,
) -> Adherence:
    """Adherence of a course that started on ``start`` (and ended on ``end``, None: open),
    seen on ``today``: one row per ISO week from the week of the course start (or of an earlier
    session of the course) to the week of ``today`` or of the end, whichever comes first.
    Sessions after ``today`` are not seen (adherence as it stood that day)."""
    items = sorted((s for s in sessions if s.day <= today), key=lambda s: s.local_start)
    last_day = today if end is None else min(today, end)
    first_day = min([start, *(s.day for s in items)])
    last_week = week_start(max([last_day, *(s.day for s in items)]))
    weeks: dict[dt.date, WeekAdherence] = {}
    monday = week_start(first_day)
    while monday <= last_week:
        weeks[monday] = _empty_week(monday, history, start, end)
        monday += 7 * _DAY
    practised: set[dt.date] = set()
    for session in items:
        _add_session(weeks[week_start(session.day)], session, practised)
    days = sorted(practised)
    for day in days:
        weeks[week_start(day)].days_practised += 1
    ordered = [weeks[k] for k in sorted(weeks)]
    return Adherence(
        weeks=ordered,
        practice_days=days,
        current_day_streak=current_day_streak(days, today),
        longest_day_streak=longest_run(days),
        current_week_streak=current_week_streak(ordered, today),
        longest_week_streak=longest_week_streak(ordered),
        today=today,
    )


def current_day_streak(days: Iterable[dt.date], today: dt.date) -> int:
    """Consecutive practice days ending today, or yesterday (today is not over yet)."""
    have = set(days)
    day = today if today in have else today - _DAY
    streak = 0
    while day in have:
        streak += 1
        day -= _DAY
    return streak


def longest_run(days: Iterable[dt.date]) -> int:
    """Longest run of consecutive days."""
    best = run = 0
    previous: dt.date | None = None
    for day in sorted(set(days)):
        run = run + 1 if previous is not None and day - previous == _DAY else 1
        best = max(best, run)
        previous = day
    return best


def current_week_streak(weeks: Sequence[WeekAdherence], today: dt.date) -> int:
    """Consecutive met weeks ending with this week when it is met already, else with last week
    (this week is not over yet). Weeks with nothing prescribed neither break nor extend it."""
    this_monday = week_start(today)
    streak = 0
    for week in reversed(weeks):
        if week.week_start > this_monday or week.met is None:
            continue
        if week.met:
            streak += 1
        elif week.week_start == this_monday:
            continue  # not met yet, but the week is not over
        else:
            break
    return streak


def longest_week_streak(weeks: Sequence[WeekAdherence]) -> int:
    """Longest run of met weeks (weeks with nothing prescribed are skipped)."""
    best = run = 0
    for week in weeks:
        if week.met is None:
            continue
        run = run + 1 if week.met else 0
        best = max(best, run)
    return best
