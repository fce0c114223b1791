"""Everything the course report shows, read from the store only (no rendering here).

Per session: the stored summary and phase measures (never the samples: no envelope is
recomputed, which keeps a report of many sessions fast). The trend values are
:func:`biofeedback.storage.progress.session_point`'s (baseline uV, % below target, recovery s,
% excluded as artefact); the "rest gaps" are the stored EMG-gap measures of the training phases
(``gaps_per_min``: runs of at least 0.2 s below the threshold, per minute; ``rest_time_pct``: %
of the time inside such gaps), averaged over the train phases weighted by their length.
Outcomes: :func:`biofeedback.outcomes.results.change_table`, the table ``outcomes show``
prints. Adherence: :func:`biofeedback.storage.courses.adherence`. Thought records and
reflections (``summary["responses"]``, private to the subject) only when asked for.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from biofeedback.errors import InstrumentFileError, StorageError
from biofeedback.outcomes.instrument import Instrument, load_instrument
from biofeedback.outcomes.results import Measurement, Row, change_table
from biofeedback.storage.courses import Course, adherence, course_sessions, list_courses
from biofeedback.storage.database import Database, SessionRecord
from biofeedback.storage.outcomes import OutcomeRecord, list_outcomes
from biofeedback.storage.progress import imported_format, session_point
from biofeedback.training.adherence import Adherence
from biofeedback.training.steps import THOUGHT_RECORD_FIELDS, reflection_fields

log = logging.getLogger(__name__)

#: Step kinds whose answers are the patient's own writing (shown only on request).
PRIVATE_STEP_KINDS = ("thought-record", "reflection")


@dataclass
class SessionRow:
    """One session of the course with its stored measures."""

    number: int  # 1-based within the course
    session_id: int
    date: dt.date  # local day where it was recorded
    setting: str  # 'clinic', 'home' or '-'
    status: str  # 'complete' or 'interrupted'
    protocol: str
    duration_s: float
    imported: str  # file format of an imported session, '' when recorded
    baseline_uv: float | None
    pct_below: float | None
    recovery_s: float | None
    pct_excluded: float | None
    gaps_per_min: float | None
    rest_time_pct: float | None
    site: str
    site_changed: bool
    previous_site: str = ""


@dataclass
class OutcomeLine:
    """One score of one questionnaire, with its change from baseline."""

    timepoint: str
    date: dt.date
    score: str
    value: float | None
    is_baseline: bool
    change: dict[str, Any] | None
    note: str


@dataclass
class OutcomeBlock:
    """One instrument's questionnaires in the course."""

    instrument: str
    name: str
    judged: bool  # False when the instrument file is gone (values shown, no thresholds)
    rules: list[str]
    lines: list[OutcomeLine]


@dataclass
class StepAnswers:
    """One thought record or reflection as the patient wrote it."""

    session_number: int
    date: dt.date
    kind: str
    phase: str
    fields: list[tuple[str, str]]


@dataclass
class CourseReportData:
    """What the course report shows; built by :func:`collect_course`."""

    subject_id: str
    course: Course
    sessions: list[SessionRow]
    adherence: Adherence
    outcomes: list[OutcomeBlock]
    thought_records: list[StepAnswers] | None  # None: not asked for
    generated: str
    title: str = "Course report"
    skipped_recording: int = 0  # sessions still 'recording' (not shown)
    notes: list[str] = field(default_factory=list)

    @property
    def interrupted(self) -> list[SessionRow]:
        return [s for s in self.sessions if s.status == "interrupted"]


def find_course(
    db: Database, subject_id: str, course_id: int | None = None, course_uid: str | None = None
) -> Course:
    """The subject's course by id or uid; by default the open one, else the latest.
    StorageError (one line saying what to do) for an unknown subject or no such course."""
    subject_id = db.require_subject(subject_id)["id"]
    courses = list_courses(db, subject_id)
    if not courses:
        raise StorageError(
            f"{subject_id} has no course: start one with 'biofeedback course start --subject "
            f"{subject_id}'"
        )
    if course_id is None and course_uid is None:
        return next((c for c in courses if c.is_open), courses[-1])
    for course in courses:
        if course.id == course_id or (course_uid is not None and course.uid == course_uid):
            return course
    known = ", ".join(c.uid for c in courses)
    raise StorageError(
        f"{subject_id} has no course {course_uid or course_id}: its courses are {known} "
        f"(see 'biofeedback course show --subject {subject_id} --json')"
    )


def collect_course(
    db: Database,
    subject_id: str,
    *,
    thought_records: bool = False,
    course_id: int | None = None,
    course_uid: str | None = None,
    today: dt.date | None = None,
) -> CourseReportData:
    """Read the course report's contents from the store."""
    course = find_course(db, subject_id, course_id, course_uid)
    stored = course_sessions(db, course.id)
    records = [r for r in stored if r.status != "recording"]
    skipped = len(stored) - len(records)
    sessions = session_rows(db, records, course.electrode_site)
    day = today or dt.date.today()
    if course.end_date is not None:
        day = min(day, course.end_date)
    data = CourseReportData(
        subject_id=course.subject_id,
        course=course,
        sessions=sessions,
        adherence=adherence(db, course, max(day, course.start_date)),
        outcomes=outcome_blocks(db, course),
        thought_records=step_answers(records) if thought_records else None,
        generated=dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        skipped_recording=skipped,
    )
    if skipped:
        data.notes.append(f"{skipped} session(s) still recording or never closed: not shown.")
    return data


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def training_gaps(phases: Sequence[dict[str, Any]]) -> tuple[float | None, float | None]:
    """EMG gaps per minute and rest time % over the train phases, weighted by their length."""
    weighted_gaps = weighted_rest = total = 0.0
    for phase in phases:
        gaps = _number(phase.get("gaps_per_min"))
        rest = _number(phase.get("rest_time_pct"))
        length = _number(phase.get("duration_s")) or 0.0
        if phase.get("kind") != "train" or gaps is None or rest is None or length <= 0:
            continue
        weighted_gaps += gaps * length
        weighted_rest += rest * length
        total += length
    if total <= 0:
        return None, None
    return weighted_gaps / total, weighted_rest / total


def session_rows(
    db: Database, records: Sequence[SessionRecord], course_site: str
) -> list[SessionRow]:
    """One row per session; the site is the session's own, else the course's; a site that
    differs from the previous session's is flagged."""
    rows: list[SessionRow] = []
    for number, record in enumerate(records, start=1):
        phases = db.phases(record.id)
        point = session_point(record, phases)
        gaps, rest = training_gaps(phases)
        site = record.electrode_site.strip() or course_site.strip() or "-"
        previous = rows[-1].site if rows else site
        rows.append(
            SessionRow(
                number=number,
                session_id=record.id,
                date=record.local_start.date(),
                setting=record.setting or "-",
                status=record.status,
                protocol=record.protocol or "-",
                duration_s=record.duration_s,
                imported=imported_format(record.hardware),
                baseline_uv=point.baseline_uv,
                pct_below=point.pct_below,
                recovery_s=point.recovery_s,
                pct_excluded=point.pct_excluded,
                gaps_per_min=gaps,
                rest_time_pct=rest,
                site=site,
                site_changed=site != previous,
                previous_site=previous if site != previous else "",
            )
        )
    return rows


def _course_window(db: Database, course: Course) -> tuple[dt.date | None, dt.date | None]:
    """The days whose questionnaires belong to ``course``: from its start (or any time before,
    for the subject's first course) to the day before the next course starts."""
    courses = list_courses(db, course.subject_id)
    index = next(i for i, c in enumerate(courses) if c.id == course.id)
    first = None if index == 0 else course.start_date
    after = courses[index + 1].start_date if index + 1 < len(courses) else None
    return first, after


def course_outcomes(db: Database, course: Course) -> list[OutcomeRecord]:
    """The subject's questionnaires that belong to this course (all of them with one course)."""
    first, after = _course_window(db, course)
    out = []
    for record in list_outcomes(db, course.subject_id):
        day = dt.datetime.fromtimestamp(record.taken_at).date()
        if (first is None or day >= first) and (after is None or day < after):
            out.append(record)
    return out


def _instrument(ident: str) -> Instrument | None:
    try:
        return load_instrument(ident)
    except InstrumentFileError as exc:
        log.warning("%s: thresholds not judged: %s", ident, exc)
        return None


def _rule_words(rule: Any) -> str:
    if rule is None:
        return "no threshold (the change is shown as it is)"
    if rule.responder_value is not None:
        return f"a rating of {rule.responder_value:g} or better counts as important"
    parts = [f"{rule.mcid:g} points"] if rule.mcid is not None else []
    if rule.mcid_percent is not None:
        parts.append(f"{rule.mcid_percent:g} % of baseline")
    text = "important change (MCID) " + (" or ".join(parts) or "not given")
    if rule.mdc is not None:
        text += f", measurement error (MDC) {rule.mdc:g}"
    return f"{text}; {rule.direction}"


def rule_text(instrument: Instrument) -> list[str]:
    """The change thresholds of an instrument's scores in words, scores with the same rule on
    one line."""
    by_rule: dict[str, list[str]] = {}
    for score in instrument.scores:
        by_rule.setdefault(_rule_words(score.change), []).append(score.name)
    if len(by_rule) == 1:
        return [f"Every score: {words}" for words in by_rule]
    return [f"{' / '.join(names)}: {words}" for words, names in by_rule.items()]


def outcome_blocks(db: Database, course: Course) -> list[OutcomeBlock]:
    """Per instrument, every questionnaire's scores with the change from baseline."""
    groups: dict[str, list[OutcomeRecord]] = {}
    for record in course_outcomes(db, course):
        groups.setdefault(record.instrument, []).append(record)
    blocks = []
    for ident, group in groups.items():
        instrument = _instrument(ident)
        table = change_table(
            instrument, [Measurement(r.taken_at, r.timepoint, r.scores, r.id) for r in group]
        )
        blocks.append(
            OutcomeBlock(
                instrument=ident,
                name=instrument.name if instrument is not None else ident,
                judged=instrument is not None,
                rules=rule_text(instrument) if instrument is not None else [],
                lines=[line for row in table for line in _outcome_lines(row)],
            )
        )
    return blocks


def _outcome_lines(row: Row) -> list[OutcomeLine]:
    m = row.measurement
    lines = []
    for score_id, cell in row.cells.items():
        entry = m.scores.get(score_id)
        name = entry.get("name", score_id) if isinstance(entry, dict) else score_id
        lines.append(
            OutcomeLine(
                timepoint=m.timepoint or "-",
                date=dt.datetime.fromtimestamp(m.taken_at).date(),
                score=str(name),
                value=cell["value"],
                is_baseline=row.is_baseline,
                change=cell["change"],
                note=str(cell.get("note") or ""),
            )
        )
    return lines


def step_answers(records: Sequence[SessionRecord]) -> list[StepAnswers]:
    """The thought records and reflections the patient wrote, session by session."""
    out = []
    for number, record in enumerate(records, start=1):
        for response in (record.summary or {}).get("responses") or []:
            if not isinstance(response, dict) or response.get("kind") not in PRIVATE_STEP_KINDS:
                continue
            answers = response.get("answers") or {}
            if not isinstance(answers, dict) or not any(
                v not in (None, "") for v in answers.values()
            ):
                continue
            kind = str(response["kind"])
            fields = (
                THOUGHT_RECORD_FIELDS
                if kind == "thought-record"
                else reflection_fields(str(response.get("prompt") or ""))
            )
            labelled = [(f.label, _answer_text(answers.get(f.key), f.kind)) for f in fields]
            out.append(
                StepAnswers(
                    number,
                    record.local_start.date(),
                    kind,
                    str(response.get("phase", "")),
                    labelled,
                )
            )
    return out


def _answer_text(value: object, kind: str) -> str:
    if value is None or value == "":
        return "-"
    if kind == "percent" and isinstance(value, int | float):
        return f"{value:g} %"
    return str(value)
