"""When a course asks its questionnaires: the outcome schedule and what is due now.

A course's schedule names the instruments asked at four timepoints: ``baseline`` (before the
first clinic session), ``each_clinic_session`` (before every clinic session, as "session N"),
``end`` (after the last planned clinic session) and ``follow_up`` (a number of weeks after the
course has ended, before the next session recorded then). Pure logic on plain values: the store
(:func:`biofeedback.storage.courses.due_outcomes`) supplies what was answered and which clinic
session this is; the window and ``biofeedback outcomes due`` ask what this returns. See
docs/outcomes.md, "When questionnaires are due".
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from biofeedback.errors import ProtocolFileError

#: When a questionnaire can be asked: before a session starts or after it has ended.
MOMENTS = ("session-start", "session-end")
#: The schedule keys (a template's ``[outcomes]`` table and the stored JSON use these).
SCHEDULE_KEYS = ("baseline", "each_clinic_session", "end", "follow_up", "follow_up_weeks")
#: Limits of a schedule.
MAX_INSTRUMENTS_PER_TIMEPOINT = 10
MAX_FOLLOW_UP_WEEKS = 104
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class OutcomeSchedule:
    """The instruments asked at each timepoint of a course (instrument ids, in asking order)."""

    baseline: tuple[str, ...] = ("pain-nrs", "psfs", "pain-interference")
    each_clinic_session: tuple[str, ...] = ("pain-nrs",)
    end: tuple[str, ...] = ("pain-nrs", "psfs", "pain-interference", "pgic")
    follow_up: tuple[str, ...] = ("pain-nrs", "psfs", "pain-interference", "pgic")
    follow_up_weeks: int = 12

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the keys of :data:`SCHEDULE_KEYS`)."""
        return {
            "baseline": list(self.baseline),
            "each_clinic_session": list(self.each_clinic_session),
            "end": list(self.end),
            "follow_up": list(self.follow_up),
            "follow_up_weeks": self.follow_up_weeks,
        }

    def to_json(self) -> str:
        """The stored form (``courses.outcome_schedule_json``)."""
        return json.dumps(self.to_dict())

    def instruments(self) -> list[str]:
        """Every instrument the schedule names, once each."""
        seen: dict[str, None] = {}
        for ids in (self.baseline, self.each_clinic_session, self.end, self.follow_up):
            seen.update(dict.fromkeys(ids))
        return list(seen)


#: The schedule of a course that does not set its own.
DEFAULT_SCHEDULE = OutcomeSchedule()


@dataclass(frozen=True)
class DueOutcome:
    """One questionnaire to ask now: the instrument and the timepoint it is stored under."""

    instrument: str
    timepoint: str
    title: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"instrument": self.instrument, "timepoint": self.timepoint, "title": self.title}


def _ids(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProtocolFileError(f'{where}: a list of instrument ids, e.g. ["pain-nrs", "psfs"]')
    if len(value) > MAX_INSTRUMENTS_PER_TIMEPOINT:
        raise ProtocolFileError(
            f"{where}: at most {MAX_INSTRUMENTS_PER_TIMEPOINT} instruments, not {len(value)}"
        )
    for ident in value:
        if not _ID_RE.match(ident):
            raise ProtocolFileError(f"{where}: {ident[:40]!r} is not an instrument id")
    return tuple(dict.fromkeys(value))


def parse_schedule(raw: Mapping[str, Any], where: str = "outcomes") -> OutcomeSchedule:
    """A schedule from a mapping (a template's ``[outcomes]`` table, the stored JSON); keys not
    given keep the default. ProtocolFileError with one line on anything else."""
    unknown = sorted(set(raw) - set(SCHEDULE_KEYS))
    if unknown:
        raise ProtocolFileError(
            f"{where}: unknown key {unknown[0]!r} (known: {', '.join(SCHEDULE_KEYS)})"
        )
    values: dict[str, Any] = {}
    for key in SCHEDULE_KEYS[:4]:
        if key in raw:
            values[key] = _ids(raw[key], f"{where}.{key}")
    if "follow_up_weeks" in raw:
        weeks = raw["follow_up_weeks"]
        if isinstance(weeks, bool) or not isinstance(weeks, int):
            raise ProtocolFileError(f"{where}.follow_up_weeks: a whole number of weeks, e.g. 12")
        if not 1 <= weeks <= MAX_FOLLOW_UP_WEEKS:
            raise ProtocolFileError(
                f"{where}.follow_up_weeks: {weeks} is outside 1-{MAX_FOLLOW_UP_WEEKS}"
            )
        values["follow_up_weeks"] = weeks
    return OutcomeSchedule(**values)


def schedule_from_json(text: str) -> OutcomeSchedule:
    """The stored schedule ('' = the default)."""
    if not text:
        return DEFAULT_SCHEDULE
    return parse_schedule(json.loads(text), "the course's outcome schedule")


@dataclass(frozen=True)
class CourseMoment:
    """Where a course stands when a session starts or ends (what :func:`due_now` needs)."""

    moment: str
    #: 'clinic', 'home' or None: the setting of the session starting or ending
    setting: str | None
    #: the clinic session this is (1 for the first); 0 when the session is not a clinic one
    clinic_number: int
    planned_clinic_sessions: int | None
    course_end: dt.date | None
    today: dt.date
    #: (instrument, timepoint) pairs already answered in this course
    answered: Collection[tuple[str, str]] = field(default_factory=frozenset)


def _pending(ids: tuple[str, ...], timepoint: str, at: CourseMoment) -> list[DueOutcome]:
    return [DueOutcome(i, timepoint) for i in ids if (i, timepoint) not in at.answered]


def due_now(schedule: OutcomeSchedule, at: CourseMoment) -> list[DueOutcome]:
    """The questionnaires to ask at this moment, in order, none already answered.

    Before a clinic session: the baseline ones (until answered: a late baseline is better than
    none), then this session's ("session N"; an instrument asked for the baseline at the same
    moment is not asked twice). After
    the last planned clinic session: the end ones. Before any session from ``follow_up_weeks``
    after the course ended: the follow-up ones. Home sessions of an open course ask nothing.
    """
    if at.moment not in MOMENTS:
        raise ValueError(f"moment {at.moment!r}: use one of {', '.join(MOMENTS)}")
    if at.course_end is not None:
        follow_up_from = at.course_end + dt.timedelta(weeks=schedule.follow_up_weeks)
        if at.moment == "session-start" and at.today >= follow_up_from:
            return _pending(schedule.follow_up, "follow-up", at)
        return []
    if at.setting != "clinic" or at.clinic_number < 1:
        return []
    if at.moment == "session-start":
        due = _pending(schedule.baseline, "baseline", at)
        asked = {d.instrument for d in due}  # one pain rating before a session, not two
        session = [
            d
            for d in _pending(schedule.each_clinic_session, f"session {at.clinic_number}", at)
            if d.instrument not in asked
        ]
        return due + session
    planned = at.planned_clinic_sessions
    if planned and at.clinic_number >= planned:
        return _pending(schedule.end, "end", at)
    return []
