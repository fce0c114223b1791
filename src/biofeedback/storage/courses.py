"""Courses of treatment in the session store: the course, its dated home-practice prescription,
the data dir's station role, and which course and setting a new session gets.

A subject has at most one open course (the database enforces it too). The prescription is a
history: every change is a new row valid from its date, so adherence
(:mod:`biofeedback.training.adherence`) judges each week against the prescription that held
then. See docs/courses.md for the rules and docs/storage.md for the tables.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from biofeedback.errors import BiofeedbackError, ProtocolFileError, StorageError
from biofeedback.storage.database import SETTINGS, Database, SessionRecord
from biofeedback.training.adherence import (
    Adherence,
    PracticeSession,
    Prescription,
    course_adherence,
    is_clinic_session,
)
from biofeedback.training.outcome_schedule import (
    DEFAULT_SCHEDULE,
    CourseMoment,
    DueOutcome,
    OutcomeSchedule,
    due_now,
    schedule_from_json,
)

log = logging.getLogger(__name__)

#: Limits of what a course may say (anything outside is refused with these numbers).
MAX_SESSIONS_PER_WEEK = 21
MIN_MINUTES_PER_SESSION = 1
MAX_MINUTES_PER_SESSION = 180
MAX_PLANNED_CLINIC_SESSIONS = 100
MAX_PROTOCOLS = 10
MAX_TEXT_CHARS = 200
MAX_NOTES_CHARS = 4000
#: Dates a course may carry.
EARLIEST_DATE = dt.date(2000, 1, 1)
LATEST_DATE = dt.date(2100, 12, 31)

#: The ``store_settings`` key of the station role (what a session recorded here is by default).
STATION_ROLE_KEY = "station_role"
#: The text fields of a course that ``course edit`` may change.
COURSE_TEXT_FIELDS = ("clinician", "muscle", "electrode_site", "notes")


@dataclass
class Course:
    """One course of a subject with its prescription history (oldest first)."""

    id: int
    uid: str
    subject_id: str
    start_date: dt.date
    end_date: dt.date | None
    clinician: str = ""
    muscle: str = ""
    electrode_site: str = ""
    planned_clinic_sessions: int | None = None
    notes: str = ""
    prescriptions: list[Prescription] = field(default_factory=list)
    #: the course template followed ('' for none) and the outcome schedule
    template: str = ""
    outcome_schedule: OutcomeSchedule = DEFAULT_SCHEDULE

    @property
    def is_open(self) -> bool:
        return self.end_date is None

    def prescription_on(self, day: dt.date) -> Prescription | None:
        """The prescription in force on ``day`` (None before the first one)."""
        current = None
        for item in self.prescriptions:
            if item.valid_from <= day:
                current = item
        return current

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "uid": self.uid,
            "subject_id": self.subject_id,
            "start_date": self.start_date.isoformat(),
            "end_date": None if self.end_date is None else self.end_date.isoformat(),
            "open": self.is_open,
            "clinician": self.clinician,
            "muscle": self.muscle,
            "electrode_site": self.electrode_site,
            "planned_clinic_sessions": self.planned_clinic_sessions,
            "notes": self.notes,
            "prescriptions": [p.to_dict() for p in self.prescriptions],
            "template": self.template,
            "outcome_schedule": self.outcome_schedule.to_dict(),
        }


# -- checks ----------------------------------------------------------------------------------------
def parse_date(text: str, what: str) -> dt.date:
    """``YYYY-MM-DD`` within :data:`EARLIEST_DATE` .. :data:`LATEST_DATE`; StorageError (one line)
    otherwise."""
    try:
        day = dt.date.fromisoformat(str(text).strip())
    except ValueError:
        raise StorageError(
            f"{what} {text!r}: write the date as YYYY-MM-DD, e.g. 2026-03-02"
        ) from None
    if len(str(text).strip()) != 10:
        raise StorageError(f"{what} {text!r}: write the date as YYYY-MM-DD, e.g. 2026-03-02")
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise StorageError(
            f"{what} {day}: give a date from {EARLIEST_DATE.year} to {LATEST_DATE.year}"
        )
    return day


def check_count(value: int | None, what: str, lo: int, hi: int) -> int | None:
    """An integer in ``lo..hi`` (None passes); StorageError naming the limits otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or int(value) != value or not lo <= value <= hi:
        raise StorageError(f"{what} {value}: give a whole number from {lo} to {hi}")
    return int(value)


def _check_text(value: str, what: str, limit: int = MAX_TEXT_CHARS) -> str:
    text = str(value).strip()
    if len(text) > limit:
        raise StorageError(f"{what} is {len(text)} characters long: at most {limit}")
    return text


def _check_protocols(protocols: tuple[str, ...]) -> tuple[str, ...]:
    cleaned = tuple(dict.fromkeys(_check_text(p, "a protocol name") for p in protocols if p))
    if len(cleaned) > MAX_PROTOCOLS:
        raise StorageError(f"{len(cleaned)} protocols prescribed: at most {MAX_PROTOCOLS}")
    return cleaned


def check_prescription(rx: Prescription, start: dt.date) -> Prescription:
    """A prescription within the limits and not ending before it starts (or before ``start``)."""
    check_count(rx.sessions_per_week, "sessions per week", 0, MAX_SESSIONS_PER_WEEK)
    check_count(
        rx.minutes_per_session,
        "minutes per session",
        MIN_MINUTES_PER_SESSION,
        MAX_MINUTES_PER_SESSION,
    )
    if rx.valid_from < start:
        raise StorageError(
            f"a prescription change dated {rx.valid_from} is before the course start ({start})"
        )
    if rx.until is not None and rx.until < rx.valid_from:
        raise StorageError(
            f"home practice until {rx.until} ends before it starts ({rx.valid_from})"
        )
    return replace(rx, protocols=_check_protocols(rx.protocols))


# -- reading ---------------------------------------------------------------------------------------
def _course(db: Database, row: sqlite3.Row) -> Course:
    rx_rows = db._query(
        "SELECT * FROM prescriptions WHERE course_id = ? ORDER BY valid_from", (row["id"],)
    )
    return Course(
        id=int(row["id"]),
        uid=row["uid"],
        subject_id=row["subject_id"],
        start_date=dt.date.fromisoformat(row["start_date"]),
        end_date=None if row["end_date"] is None else dt.date.fromisoformat(row["end_date"]),
        clinician=row["clinician"],
        muscle=row["muscle"],
        electrode_site=row["electrode_site"],
        planned_clinic_sessions=row["planned_clinic_sessions"],
        notes=row["notes"],
        template=row["template"],
        outcome_schedule=_schedule(row),
        prescriptions=[
            Prescription(
                valid_from=dt.date.fromisoformat(r["valid_from"]),
                sessions_per_week=int(r["sessions_per_week"]),
                minutes_per_session=int(r["minutes_per_session"]),
                until=None if r["until_date"] is None else dt.date.fromisoformat(r["until_date"]),
                protocols=tuple(json.loads(r["protocols_json"])),
            )
            for r in rx_rows
        ],
    )


def _schedule(row: sqlite3.Row) -> OutcomeSchedule:
    try:
        return schedule_from_json(row["outcome_schedule_json"])
    except (ValueError, ProtocolFileError) as exc:
        raise StorageError(
            f"course {row['uid']}: its stored outcome schedule is damaged ({exc}); "
            "set it again with 'biofeedback course edit --template NAME'"
        ) from None


def list_courses(db: Database, subject_id: str) -> list[Course]:
    """A subject's courses, oldest first."""
    rows = db._query(
        "SELECT * FROM courses WHERE subject_id = ? ORDER BY start_date, id", (subject_id,)
    )
    return [_course(db, r) for r in rows]


def open_course(db: Database, subject_id: str) -> Course | None:
    """The subject's open course, or None."""
    rows = db._query(
        "SELECT * FROM courses WHERE subject_id = ? AND end_date IS NULL", (subject_id,)
    )
    return _course(db, rows[0]) if rows else None


def current_course(db: Database, subject_id: str) -> Course:
    """The open course, else the latest ended one; StorageError (one line) when there is none."""
    db.require_subject(subject_id)
    courses = list_courses(db, subject_id)
    course = open_course(db, subject_id) or (courses[-1] if courses else None)
    if course is None:
        raise StorageError(
            f"{subject_id} has no course: start one with 'biofeedback course start --subject "
            f"{subject_id}'"
        )
    return course


def require_open_course(db: Database, subject_id: str) -> Course:
    """The open course; StorageError (one line) when the subject has none open."""
    db.require_subject(subject_id)
    course = open_course(db, subject_id)
    if course is None:
        raise StorageError(
            f"{subject_id} has no open course: start one with 'biofeedback course start "
            f"--subject {subject_id}'"
        )
    return course


def course_sessions(db: Database, course_id: int) -> list[SessionRecord]:
    """The sessions of a course, oldest first."""
    ids = db._query(
        "SELECT id FROM sessions WHERE course_id = ? ORDER BY started_at, id", (course_id,)
    )
    return [db.get_session(int(r["id"])) for r in ids]


def practice_sessions(records: list[SessionRecord]) -> list[PracticeSession]:
    """Sessions as adherence sees them (local start where they were recorded)."""
    return [
        PracticeSession(r.id, r.local_start, r.duration_s, r.status, r.setting)
        for r in records
        if r.status != "recording"
    ]


def adherence(db: Database, course: Course, today: dt.date | None = None) -> Adherence:
    """Week-by-week adherence of a course (see :mod:`biofeedback.training.adherence`)."""
    return course_adherence(
        practice_sessions(course_sessions(db, course.id)),
        course.prescriptions,
        course.start_date,
        today or dt.date.today(),
        course.end_date,
    )


# -- writing ---------------------------------------------------------------------------------------
def start_course(
    db: Database,
    subject_id: str,
    start: dt.date,
    prescription: Prescription,
    *,
    clinician: str = "",
    muscle: str = "",
    electrode_site: str = "",
    planned_clinic_sessions: int | None = None,
    notes: str = "",
    uid: str | None = None,
    template: str = "",
    outcome_schedule: OutcomeSchedule | None = None,
) -> int:
    """Open a course (the subject must exist and have no open course); returns its id. ``uid``
    keeps the stable id of a course copied from another data dir (default: a new one);
    ``template`` names the course template followed and ``outcome_schedule`` says when the
    questionnaires are due (None: the default schedule)."""
    subject_id = db.require_subject(subject_id)["id"]
    check_count(planned_clinic_sessions, "planned clinic sessions", 0, MAX_PLANNED_CLINIC_SESSIONS)
    rx = check_prescription(replace(prescription, valid_from=start), start)
    texts = {
        "clinician": _check_text(clinician, "the clinician"),
        "muscle": _check_text(muscle, "the muscle"),
        "electrode_site": _check_text(electrode_site, "the electrode site"),
        "notes": _check_text(notes, "the notes", MAX_NOTES_CHARS),
    }
    now = time.time()
    with db.transaction() as conn:
        row = conn.execute(
            "SELECT id, start_date FROM courses WHERE subject_id = ? AND end_date IS NULL",
            (subject_id,),
        ).fetchone()
        if row is not None:
            raise StorageError(
                f"{subject_id} has an open course (started {row[1]}): end it first with "
                f"'biofeedback course end --subject {subject_id}'"
            )
        _check_no_overlap(conn, subject_id, start)
        cur = conn.execute(
            "INSERT INTO courses (uid, subject_id, start_date, clinician, muscle, electrode_site, "
            "planned_clinic_sessions, notes, created_at, updated_at, template, "
            "outcome_schedule_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                uid or uuid.uuid4().hex,
                subject_id,
                start.isoformat(),
                texts["clinician"],
                texts["muscle"],
                texts["electrode_site"],
                planned_clinic_sessions,
                texts["notes"],
                now,
                now,
                _check_text(template, "the template name"),
                "" if outcome_schedule is None else outcome_schedule.to_json(),
            ),
        )
        course_id = int(cur.lastrowid or 0)
        _write_prescription(conn, course_id, rx)
    return course_id


def _check_no_overlap(conn: sqlite3.Connection, subject_id: str, start: dt.date) -> None:
    """Courses of a subject follow each other: a new one starts after the last one ended (a
    session or questionnaire belongs to one course only)."""
    row = conn.execute(
        "SELECT start_date, end_date FROM courses WHERE subject_id = ? AND end_date >= ? "
        "ORDER BY end_date DESC LIMIT 1",
        (subject_id, start.isoformat()),
    ).fetchone()
    if row is not None:
        after = dt.date.fromisoformat(row[1]) + dt.timedelta(days=1)
        raise StorageError(
            f"{subject_id}'s course from {row[0]} ran until {row[1]}: a new course starts after "
            f"it (--start {after} or later)"
        )


def _write_prescription(conn: sqlite3.Connection, course_id: int, rx: Prescription) -> None:
    conn.execute(
        "INSERT INTO prescriptions (course_id, valid_from, protocols_json, sessions_per_week, "
        "minutes_per_session, until_date, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (course_id, valid_from) DO UPDATE SET protocols_json = excluded.protocols_json, "
        "sessions_per_week = excluded.sessions_per_week, minutes_per_session = "
        "excluded.minutes_per_session, until_date = excluded.until_date, created_at = "
        "excluded.created_at",
        (
            course_id,
            rx.valid_from.isoformat(),
            json.dumps(list(rx.protocols)),
            rx.sessions_per_week,
            rx.minutes_per_session,
            None if rx.until is None else rx.until.isoformat(),
            time.time(),
        ),
    )


def change_prescription(
    db: Database, course: Course, valid_from: dt.date, changes: dict[str, Any]
) -> Prescription:
    """A new prescription from ``valid_from`` on: the one in force then with ``changes``
    (``sessions_per_week``, ``minutes_per_session``, ``until``, ``protocols``). A change dated
    the same day as an earlier one replaces it."""
    rows = db._query("SELECT * FROM courses WHERE id = ?", (course.id,))
    if not rows:
        raise StorageError(f"there is no course {course.id}")
    course = _course(db, rows[0])  # as stored now (another change may have come in)
    if not course.is_open:
        raise StorageError(f"the course of {course.subject_id} has ended: start a new one")
    base = course.prescription_on(valid_from)
    if base is None:
        raise StorageError(
            f"a prescription change dated {valid_from} is before the course start "
            f"({course.start_date})"
        )
    unknown = set(changes) - {"sessions_per_week", "minutes_per_session", "until", "protocols"}
    if unknown:
        raise ValueError(f"unknown prescription fields: {sorted(unknown)}")
    rx = check_prescription(replace(base, valid_from=valid_from, **changes), course.start_date)
    with db.transaction() as conn:
        _write_prescription(conn, course.id, rx)
        conn.execute("UPDATE courses SET updated_at = ? WHERE id = ?", (time.time(), course.id))
    return rx


def edit_course(db: Database, course: Course, details: dict[str, Any]) -> None:
    """Change the course's clinician, muscle, electrode site, notes, planned clinic sessions,
    ``template`` (a name) or ``outcome_schedule`` (an OutcomeSchedule; None: the default)."""
    columns: dict[str, Any] = {}
    for key, value in details.items():
        if key in COURSE_TEXT_FIELDS:
            limit = MAX_NOTES_CHARS if key == "notes" else MAX_TEXT_CHARS
            columns[key] = _check_text(value, f"the {key.replace('_', ' ')}", limit)
        elif key == "planned_clinic_sessions":
            columns[key] = check_count(
                value, "planned clinic sessions", 0, MAX_PLANNED_CLINIC_SESSIONS
            )
        elif key == "template":
            columns[key] = _check_text(value, "the template name")
        elif key == "outcome_schedule":
            columns["outcome_schedule_json"] = "" if value is None else value.to_json()
        else:
            raise ValueError(f"unknown course detail {key!r}")
    if not columns:
        return
    columns["updated_at"] = time.time()
    assignments = ", ".join(f"{k} = ?" for k in columns)
    with db.transaction() as conn:
        conn.execute(
            f"UPDATE courses SET {assignments} WHERE id = ?", [*columns.values(), course.id]
        )


def end_course(db: Database, subject_id: str, end: dt.date, today: dt.date | None = None) -> Course:
    """Close the subject's open course on ``end`` (not before its start, not after today: the
    course is closed at once); returns it closed."""
    course = require_open_course(db, subject_id)
    if end < course.start_date:
        raise StorageError(f"end date {end} is before the course start ({course.start_date})")
    today = today or dt.date.today()
    if end > today:
        raise StorageError(
            f"end date {end} is after today: a course is ended on its last day (to stop the "
            f"home practice on a later day, give the prescription an until date: course edit "
            f"--subject {subject_id} --until {end})"
        )
    with db.transaction() as conn:
        conn.execute(
            "UPDATE courses SET end_date = ?, updated_at = ? WHERE id = ?",
            (end.isoformat(), time.time(), course.id),
        )
    return replace(course, end_date=end)


# -- station role and new sessions -----------------------------------------------------------------
def station_role(db: Database) -> str | None:
    """'clinic' or 'home' when this data dir's role is set, else None."""
    rows = db._query("SELECT value FROM store_settings WHERE key = ?", (STATION_ROLE_KEY,))
    value = rows[0]["value"] if rows else None
    return value if value in SETTINGS else None


def set_station_role(db: Database, role: str) -> None:
    """Set what sessions recorded with this data dir are by default: 'clinic' or 'home'."""
    if role not in SETTINGS:
        raise StorageError(f"station role {role!r}: use 'clinic' or 'home'")
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO store_settings (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (STATION_ROLE_KEY, role),
        )


def session_course_meta(
    db: Database, subject_id: str | None, setting: str | None = None
) -> dict[str, Any]:
    """``course_id`` and ``setting`` for a new session of ``subject_id`` (for
    :meth:`Database.create_session`): the subject's open course, and the setting given, else the
    data dir's station role, else 'home' when a course is open (a machine nobody set up as a
    clinic station is the patient's), else None."""
    if setting is not None and setting not in SETTINGS:
        raise StorageError(f"setting {setting!r}: use 'clinic' or 'home'")
    course = None
    if subject_id:
        course = open_course(db, Database.check_subject_id(subject_id))
    chosen = setting or station_role(db) or ("home" if course is not None else None)
    return {"course_id": None if course is None else course.id, "setting": chosen}


# -- questionnaires due ----------------------------------------------------------------------------
def _answered(db: Database, subject_id: str, since: dt.date) -> set[tuple[str, str]]:
    """(instrument, timepoint) pairs the subject answered from ``since`` (local midnight) on;
    one stored with every score "not scored" does not count (see
    :func:`biofeedback.outcomes.results.counts_as_answered`)."""
    from biofeedback.outcomes.results import counts_as_answered

    start = dt.datetime.combine(since, dt.time()).timestamp()
    rows = db._query(
        "SELECT instrument, timepoint, scores_json FROM outcomes "
        "WHERE subject_id = ? AND taken_at >= ?",
        (subject_id, start),
    )
    return {
        (r["instrument"], r["timepoint"])
        for r in rows
        if counts_as_answered(json.loads(r["scores_json"]))
    }


def clinic_sessions(
    records: Sequence[SessionRecord], until: dt.date | None = None
) -> list[SessionRecord]:
    """The recordings that count as the course's clinic sessions (see
    :func:`biofeedback.training.adherence.is_clinic_session`), oldest first; with ``until``
    only those started on or before that day (local time where recorded)."""
    return [
        r
        for r in sorted(records, key=lambda r: (r.started_at, r.id))
        if is_clinic_session(r.setting, r.status, r.duration_s)
        and (until is None or r.local_start.date() <= until)
    ]


def _clinic_number(records: list[SessionRecord], moment: str, session_id: int | None) -> int:
    """Which clinic session of the course this is (1 for the first): the given session's place
    among the clinic sessions (0 when it is not one), else the next one (at a start) or the
    last one (at an end)."""
    counted = clinic_sessions(records)
    if session_id is not None:
        ids = [r.id for r in counted]
        return ids.index(session_id) + 1 if session_id in ids else 0
    finished = sum(r.status != "recording" for r in counted)
    return finished + 1 if moment == "session-start" else finished


def due_outcomes(
    db: Database,
    subject_id: str,
    moment: str,
    today: dt.date | None = None,
    *,
    session_id: int | None = None,
    setting: str | None = None,
) -> list[DueOutcome]:
    """The questionnaires the subject's course asks now (see
    :func:`biofeedback.training.outcome_schedule.due_now`): ``moment`` is 'session-start' or
    'session-end'; ``session_id`` is the session starting or ending when it is stored already;
    ``setting`` overrides the setting a new session would get (default as
    :func:`session_course_meta` decides). Empty without a course. Titles from the instruments."""
    subject_id = Database.check_subject_id(subject_id)
    courses = list_courses(db, subject_id) if db.get_subject(subject_id) else []
    course = open_course(db, subject_id) or (courses[-1] if courses else None)
    if course is None:
        return []
    records = course_sessions(db, course.id)
    if session_id is not None:
        setting = db.get_session(session_id).setting
    elif setting is None:
        setting = session_course_meta(db, subject_id)["setting"] if course.is_open else None
    at = CourseMoment(
        moment=moment,
        setting=setting,
        clinic_number=_clinic_number(records, moment, session_id),
        planned_clinic_sessions=course.planned_clinic_sessions,
        course_end=course.end_date,
        today=today or dt.date.today(),
        answered=_answered(db, subject_id, course.start_date),
    )
    return [
        replace(d, title=_instrument_title(d.instrument))
        for d in due_now(course.outcome_schedule, at)
    ]


def _instrument_title(instrument_id: str) -> str:
    from biofeedback.outcomes.instrument import load_instrument

    try:
        return load_instrument(instrument_id).name
    except BiofeedbackError as exc:  # a clinic's file gone: ask by id, say why in the log
        log.warning("instrument %s: %s", instrument_id, exc)
        return instrument_id


#: The daily reminder without a prescription to quote.
DEFAULT_REMINDER_TEXT = "Time for today's relaxation practice (about 10 minutes)."


def reminder_text(db: Database, subject_id: str, today: dt.date | None = None) -> str:
    """The daily home-practice reminder: the prescribed minutes and this week's count when the
    subject has an open course that prescribes home practice, else the plain reminder."""
    today = today or dt.date.today()
    course = open_course(db, subject_id)
    rx = None if course is None else course.prescription_on(today)
    if course is None or rx is None or rx.sessions_per_week == 0:
        return DEFAULT_REMINDER_TEXT
    if rx.until is not None and rx.until < today:
        return DEFAULT_REMINDER_TEXT
    week = adherence(db, course, today).this_week_text()
    return f"Time for today's relaxation practice: {rx.minutes_per_session} minutes ({week})."
