"""What the course dialog shows, as plain text rows: no Qt here, so it is tested on its own.

The course details, the prescription history, the adherence per week and the questionnaires with
their change from baseline are read with the same functions the command line uses
(:mod:`biofeedback.storage.courses`, :func:`biofeedback.outcomes.results.change_table`), so the
window and ``biofeedback course show`` / ``outcomes show`` always say the same numbers.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from biofeedback.errors import InstrumentFileError
from biofeedback.outcomes.instrument import Instrument, load_instrument
from biofeedback.outcomes.results import (
    Measurement,
    change_table,
    change_text,
    compares_with_baseline,
    normalize_timepoint,
    number_text,
)
from biofeedback.storage.courses import Course
from biofeedback.storage.database import Database, SessionRecord
from biofeedback.storage.outcomes import OutcomeRecord, record_answers
from biofeedback.training.adherence import Adherence, Prescription, WeekAdherence
from biofeedback.training.outcome_schedule import DueOutcome

log = logging.getLogger(__name__)

ADHERENCE_COLUMNS = [
    "week",
    "from",
    "sessions",
    "minutes",
    "days",
    "interrupted",
    "clinic",
    "met",
]
PRESCRIPTION_COLUMNS = ["from", "sessions / week", "minutes", "protocols", "until", "state"]
#: The note (why a score was not computed, or how it was) is last: it fills what is left of the
#: table's width, elided, whole in its tooltip, so the verdict is never pushed off screen.
OUTCOME_COLUMNS = [
    "score",
    "taken",
    "timepoint",
    "value",
    "change from baseline",
    "verdict",
    "note",
]
NOTE_COLUMN = OUTCOME_COLUMNS.index("note")
#: The timepoints offered when a questionnaire is recorded (a free label may be typed).
TIMEPOINT_CHOICES = ["baseline", "session 1", "end", "follow-up"]


def bundle_labels(role: str | None) -> tuple[str, str]:
    """The bundle buttons by this data dir's station role (:func:`station_role`): a clinic sends
    to the patient and imports from the patient; a home computer (or one not set) sends to the
    clinician and imports from the clinic."""
    if role == "clinic":
        return "Send to patient…", "Import from patient…"
    return "Send to clinician…", "Import from clinic…"


def rx_text(rx: Prescription) -> str:
    """ "5 sessions a week of 12 min (course-home-practice), until 2026-12-20"."""
    text = f"{rx.sessions_per_week} sessions a week of {rx.minutes_per_session} min"
    if rx.protocols:
        text += f" ({', '.join(rx.protocols)})"
    if rx.until is not None:
        text += f", until {rx.until.isoformat()}"
    return text


def course_state(course: Course) -> str:
    """ "open" or "ended 2026-12-20"."""
    return "open" if course.is_open else f"ended {course.end_date}"


def clinic_done(sessions: list[SessionRecord]) -> int:
    """Finished clinic sessions of a course (as ``course show`` counts them)."""
    return sum(1 for s in sessions if s.setting == "clinic" and s.status != "recording")


def course_details(course: Course, clinic_sessions: int, today: dt.date) -> list[tuple[str, str]]:
    """(label, value) pairs describing a course, in the order ``course show`` prints them."""
    planned = course.planned_clinic_sessions
    rx = course.prescription_on(today) or (
        course.prescriptions[-1] if course.prescriptions else None
    )
    return [
        ("Course", f"from {course.start_date.isoformat()}, {course_state(course)}"),
        ("Clinician", course.clinician or "–"),
        ("Muscle", course.muscle or "–"),
        ("Electrode site", course.electrode_site or "–"),
        (
            "Clinic sessions",
            f"{clinic_sessions}" + (f" of {planned} planned" if planned else ""),
        ),
        ("Template", course.template or "none"),
        ("Home practice", rx_text(rx) if rx is not None else "–"),
        ("Notes", course.notes or "–"),
    ]


def prescription_rows(course: Course, today: dt.date) -> list[list[str]]:
    """The prescription history, oldest first; the one in force today is marked (in an ended
    course, the one in force on its last day: "at the course end")."""
    last = course.end_date if course.end_date is not None and course.end_date < today else today
    current = course.prescription_on(last)
    mark = "in force" if course.is_open else "at the course end"
    return [
        [
            rx.valid_from.isoformat(),
            str(rx.sessions_per_week),
            str(rx.minutes_per_session),
            ", ".join(rx.protocols) or "–",
            rx.until.isoformat() if rx.until is not None else "course end",
            mark if rx == current else "",
        ]
        for rx in course.prescriptions
    ]


def adherence_row(w: WeekAdherence) -> list[str]:
    """One week as ``course show`` prints it (sessions and minutes done / prescribed)."""
    if w.prescription is not None:
        sessions = f"{w.sessions_done} / {w.prescribed_sessions}"
        minutes = f"{w.minutes_done:.0f} / {w.prescribed_minutes:.0f}"
    else:
        sessions, minutes = str(w.sessions_done), f"{w.minutes_done:.0f}"
    interrupted = f"{w.interrupted_counted} counted, {w.interrupted_short} short"
    met = {True: "yes", False: "no", None: "–"}[w.met]
    return [
        w.iso_week,
        w.week_start.isoformat(),
        sessions,
        minutes,
        str(w.days_practised),
        interrupted,
        str(w.clinic_sessions),
        met,
    ]


def adherence_rows(result: Adherence) -> list[list[str]]:
    """Every week of the course, the newest first."""
    return [adherence_row(w) for w in reversed(result.weeks)]


def streak_text(result: Adherence) -> str:
    """The streaks in one sentence."""
    return (
        f"{result.current_day_streak} day(s) in a row (longest {result.longest_day_streak}); "
        f"{result.current_week_streak} week(s) met in a row (longest "
        f"{result.longest_week_streak})"
    )


def headline(subject: str, course: Course | None, result: Adherence | None) -> str:
    """The first line of the dialog: whose course, and this week's practice."""
    if course is None:
        return f"{subject}: no course yet. Start one with “Start course…”."
    text = f"{subject}: course from {course.start_date.isoformat()} ({course_state(course)})"
    if result is not None and course.is_open:
        text += f". Home practice: {result.this_week_text()}"
    return text


# -- questionnaires --------------------------------------------------------------------------------
@dataclass(frozen=True)
class OutcomeRow:
    """One score of one stored questionnaire, as the outcomes table shows it."""

    instrument: str
    record_id: int
    is_baseline: bool
    cells: list[str]


def instrument_loader() -> Callable[[str], Instrument | None]:
    """Instruments by id, loaded once; None when a clinic's file is gone (values shown, no
    thresholds judged, as ``outcomes show`` does)."""
    cache: dict[str, Instrument | None] = {}

    def load(ident: str) -> Instrument | None:
        if ident not in cache:
            try:
                cache[ident] = load_instrument(ident)
            except InstrumentFileError as exc:
                log.warning("%s: thresholds not judged: %s", ident, exc)
                cache[ident] = None
        return cache[ident]

    return load


def _cells(record: OutcomeRecord, score_id: str, cell: Mapping[str, Any], base: bool) -> list[str]:
    name = record.scores.get(score_id, {}).get("name", score_id)
    value = "not scored" if cell["value"] is None else number_text(cell["value"])
    label = record.timepoint or "–"
    if base and label != "baseline":
        label += " (baseline)"
    when = dt.datetime.fromtimestamp(record.taken_at).strftime("%Y-%m-%d %H:%M")
    change = cell.get("change")
    verdict = change["verdict"] if change else ""
    note = str(cell.get("note") or "")
    return [name, when, label, value, change_text(change) if change else "", verdict, note]


def outcome_groups(
    records: list[OutcomeRecord], load: Callable[[str], Instrument | None]
) -> list[tuple[str, list[OutcomeRow]]]:
    """Per instrument (title, rows): every questionnaire, oldest first, one row per score with
    the change from baseline and its verdict (:func:`change_table`, as ``outcomes show``)."""
    by_instrument: dict[str, list[OutcomeRecord]] = {}
    for r in records:
        by_instrument.setdefault(r.instrument, []).append(r)
    groups = []
    for ident, group in by_instrument.items():
        instrument = load(ident)
        by_id = {r.id: r for r in group}
        table = change_table(
            instrument, [Measurement(r.taken_at, r.timepoint, r.scores, r.id) for r in group]
        )
        compared = len(group) > 1 and compares_with_baseline(instrument)
        rows = [
            OutcomeRow(
                ident,
                row.measurement.record_id,
                row.is_baseline,
                _cells(by_id[row.measurement.record_id], sid, cell, row.is_baseline and compared),
            )
            for row in table
            for sid, cell in row.cells.items()
        ]
        title = f"{instrument.name} ({ident})" if instrument is not None else ident
        groups.append((title, rows))
    return groups


def store_questionnaire(
    db: Database,
    subject: str,
    instrument: Instrument,
    given: Mapping[str, object],
    timepoint: str,
    session_id: int | None = None,
) -> int:
    """Check, score and store one questionnaire (as ``outcomes record`` does); returns its id.
    AnswerError or StorageError (one line) when an answer or the timepoint is not valid."""
    label = normalize_timepoint(timepoint) if timepoint.strip() else ""
    record_id, _answers, _scores = record_answers(
        db, subject, instrument, given, timepoint=label, session_id=session_id
    )
    return record_id


def next_timepoint(
    records: list[OutcomeRecord],
    instrument: str,
    clinic_sessions: int,
    due: Sequence[DueOutcome] = (),
) -> str:
    """The timepoint proposed for a questionnaire: the one the course's schedule asks it at
    now (``due``), else baseline when the instrument was never answered, else the clinic session
    reached so far."""
    scheduled = next((d.timepoint for d in due if d.instrument == instrument), None)
    if scheduled is not None:
        return scheduled
    if not any(r.instrument == instrument for r in records):
        return "baseline"
    return f"session {max(clinic_sessions, 1)}"


def due_text(due: Sequence[DueOutcome]) -> str:
    """ "Due at the next clinic session: Pain intensity (session 3), ..." or ""."""
    if not due:
        return ""
    names = ", ".join(f"{d.title or d.instrument} ({d.timepoint})" for d in due)
    return f"Due at the next clinic session: {names}."


# -- forms -----------------------------------------------------------------------------------------
def template_defaults(name: str) -> dict[str, Any]:
    """What choosing a course template fills in: the home-practice protocol, sessions per week
    and minutes (from its ``[home_practice]``) and the planned clinic sessions."""
    from biofeedback.training.course_template import load_template

    template = load_template(name)
    out: dict[str, Any] = {"planned_clinic_sessions": len(template.sessions)}
    home = template.home_practice
    if home is not None:
        out.update(
            protocols=home.protocol.name,
            sessions_per_week=home.sessions_per_week,
            minutes=home.minutes,
        )
    return out


def protocol_names(text: str) -> tuple[str, ...]:
    """The protocols a form names (comma-separated), by their stored name; each must load, so a
    typo is caught here as ``course start --protocol`` catches it."""
    from biofeedback.training.protocol import load_protocol

    names = [part.strip() for part in text.split(",") if part.strip()]
    return tuple(load_protocol(name).name for name in names)


def subject_label(row: Mapping[str, Any]) -> str:
    """ "P001 – Ann Example" (the name stays in this data dir), or the id alone."""
    name = row.get("name") or ""
    return f"{row['id']} – {name}" if name else str(row["id"])
