"""``biofeedback course start|show|edit|end|station|report``: a subject's course of treatment.

A course has a start date, the clinician, the muscle and electrode site, the number of planned
clinic sessions and a home-practice prescription (protocols, sessions per week, minutes per
session, until when). ``edit`` changes the prescription from a date on (the old one still holds
for the weeks before), so ``show`` judges every week against the prescription of that week.
``station`` says whether this data dir records clinic or home sessions by default. ``report``
writes the course report (:mod:`biofeedback.reports.course`). See docs/courses.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json

from biofeedback.cli.common import add_clinic_option

TYPE_CHECKING = False  # the store is imported by the handlers only
if TYPE_CHECKING:
    from typing import Any

    from biofeedback.storage.courses import Course
    from biofeedback.storage.database import Database
    from biofeedback.training.adherence import Adherence, Prescription
    from biofeedback.training.course_template import CourseTemplate


def _details(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clinician", metavar="TEXT", help="the treating clinician")
    parser.add_argument("--muscle", metavar="TEXT", help="muscle trained, e.g. 'upper trapezius'")
    parser.add_argument(
        "--electrode-site", metavar="TEXT", help="electrode site, e.g. 'C7 left 2 cm'"
    )
    parser.add_argument(
        "--clinic-sessions", type=int, metavar="N", help="planned clinic sessions (0-100)"
    )
    parser.add_argument("--notes", metavar="TEXT", help="free notes")


def _prescription(parser: argparse.ArgumentParser, required: bool) -> None:
    group = parser.add_argument_group("home-practice prescription")
    group.add_argument(
        "--sessions-per-week",
        type=int,
        required=required,
        metavar="N",
        help="home sessions per week (0-21; 0: no home practice)",
    )
    group.add_argument(
        "--minutes", type=int, required=required, metavar="N", help="minutes per session (1-180)"
    )
    group.add_argument(
        "--protocol",
        action="append",
        metavar="NAME",
        help="protocol to practise (built-in name or .toml file; repeat for several)",
    )
    group.add_argument(
        "--until", metavar="YYYY-MM-DD", help="last day of home practice (default: course end)"
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``course`` command."""
    parser = subparsers.add_parser(
        "course",
        description="A subject's course of treatment: clinic sessions, a home-practice "
        "prescription and adherence to it, week by week (see docs/courses.md).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    actions.required = True
    start = actions.add_parser("start", help="open a course for a subject")
    start.add_argument("--subject", required=True, metavar="ID")
    start.add_argument("--start", metavar="YYYY-MM-DD", help="first day (default today)")
    start.add_argument(
        "--template",
        metavar="NAME",
        help="follow a course template (e.g. six-session-back-neck): its clinic sessions, home "
        "practice and questionnaire schedule; options given here override it",
    )
    _details(start)
    _prescription(start, required=False)
    start.set_defaults(handler=_start)
    show = actions.add_parser("show", help="the course, its prescription and adherence per week")
    show.add_argument("--subject", required=True, metavar="ID")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.add_argument(
        "--as-of",
        metavar="YYYY-MM-DD",
        help="adherence as it stood on this day (default today): weeks up to it, streaks then",
    )
    show.set_defaults(handler=_show)
    edit = actions.add_parser(
        "edit", help="change the prescription from a date on, or the course details"
    )
    edit.add_argument("--subject", required=True, metavar="ID")
    edit.add_argument(
        "--from",
        dest="valid_from",
        metavar="YYYY-MM-DD",
        help="the prescription change holds from this day (default today)",
    )
    _details(edit)
    _prescription(edit, required=False)
    edit.set_defaults(handler=_edit)
    end = actions.add_parser("end", help="close the subject's open course")
    end.add_argument("--subject", required=True, metavar="ID")
    end.add_argument("--on", metavar="YYYY-MM-DD", help="last day of the course (default today)")
    end.set_defaults(handler=_end)
    station = actions.add_parser(
        "station", help="show or set whether this data dir records clinic or home sessions"
    )
    station.add_argument("role", nargs="?", choices=["clinic", "home"])
    station.set_defaults(handler=_station)
    report = actions.add_parser(
        "report",
        help="the course report (PDF or HTML): outcomes, trends, adherence, electrode sites",
    )
    report.add_argument("--subject", required=True, metavar="ID")
    report.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="report file (.pdf or .html)"
    )
    report.add_argument(
        "--thought-records",
        action="store_true",
        help="include the patient's thought records and reflections (private; off by default)",
    )
    report.add_argument(
        "--course-uid", metavar="UID", help="which course (default: the open one, else the latest)"
    )
    add_clinic_option(report)
    report.set_defaults(handler=_report)


def _date(text: str | None, what: str) -> dt.date:
    from biofeedback.storage.courses import parse_date

    return dt.date.today() if text is None else parse_date(text, what)


def _protocol_names(names: list[str] | None) -> tuple[str, ...]:
    """The prescribed protocols by their stored name (each must load: typos are caught here)."""
    from biofeedback.training.protocol import load_protocol

    return tuple(load_protocol(name).name for name in names or [])


def _start(args: argparse.Namespace) -> int:
    from biofeedback.storage.courses import set_station_role, start_course, station_role
    from biofeedback.storage.database import Database

    subject = Database.check_subject_id(args.subject)
    start = _date(args.start, "--start")
    template = _template(args.template)
    rx = _start_prescription(args, start, template)
    details = {
        k: getattr(args, k) or "" for k in ("clinician", "muscle", "electrode_site", "notes")
    }
    planned = args.clinic_sessions
    if planned is None and template is not None:
        planned = len(template.sessions)
    with Database() as db:
        course_id = start_course(
            db,
            subject,
            start,
            rx,
            planned_clinic_sessions=planned,
            template="" if template is None else template.name,
            outcome_schedule=None if template is None else template.outcomes,
            **details,
        )
        new_station = station_role(db) is None
        if new_station:
            set_station_role(db, "clinic")
    print(f"started course {course_id} for {subject} on {start}")
    if template is not None:
        print(f"following {template.name}: {len(template.sessions)} clinic sessions planned")
    if new_station:
        print(
            "this data dir now records clinic sessions by default "
            "(on the patient's own computer: biofeedback course station home)"
        )
    return 0


def _template(name: str | None) -> CourseTemplate | None:
    """The course template asked for, with every instrument of its schedule checked."""
    if name is None:
        return None
    from biofeedback.outcomes.instrument import load_instrument
    from biofeedback.training.course_template import load_template

    template = load_template(name)
    for instrument in template.outcomes.instruments():
        load_instrument(instrument)
    return template


def _start_prescription(
    args: argparse.Namespace, start: dt.date, template: CourseTemplate | None
) -> Prescription:
    """The first prescription: the options given, else the template's home practice."""
    from biofeedback.errors import StorageError
    from biofeedback.training.adherence import Prescription

    home = None if template is None else template.home_practice
    per_week = args.sessions_per_week
    minutes = args.minutes
    protocols = _protocol_names(args.protocol)
    if home is not None:
        per_week = home.sessions_per_week if per_week is None else per_week
        minutes = home.minutes if minutes is None else minutes
        protocols = protocols or (home.protocol.name,)
    if per_week is None or minutes is None:
        raise StorageError(
            "say the home practice: --sessions-per-week N and --minutes N (0 sessions for a "
            "clinic-only course), or follow a template with --template NAME"
        )
    return Prescription(
        valid_from=start,
        sessions_per_week=per_week,
        minutes_per_session=minutes,
        until=None if args.until is None else _date(args.until, "--until"),
        protocols=protocols,
    )


def _edit(args: argparse.Namespace) -> int:
    from biofeedback.errors import StorageError
    from biofeedback.storage.courses import (
        change_prescription,
        edit_course,
        require_open_course,
    )
    from biofeedback.storage.database import Database

    subject = Database.check_subject_id(args.subject)
    changes: dict[str, Any] = {}
    for option, key in (
        ("sessions_per_week", "sessions_per_week"),
        ("minutes", "minutes_per_session"),
    ):
        if getattr(args, option) is not None:
            changes[key] = getattr(args, option)
    if args.until is not None:
        changes["until"] = _date(args.until, "--until")
    if args.protocol is not None:
        changes["protocols"] = _protocol_names(args.protocol)
    details = {
        k: getattr(args, k)
        for k in ("clinician", "muscle", "electrode_site", "notes")
        if getattr(args, k) is not None
    }
    if args.clinic_sessions is not None:
        details["planned_clinic_sessions"] = args.clinic_sessions
    if not changes and not details:
        raise StorageError(
            "say what to change: --sessions-per-week, --minutes, --protocol, --until, "
            "--clinician, --muscle, --electrode-site, --clinic-sessions or --notes"
        )
    if args.valid_from is not None and not changes:
        raise StorageError("--from dates a prescription change: give what changes with it")
    valid_from = _date(args.valid_from, "--from")
    with Database() as db:
        course = require_open_course(db, subject)
        edit_course(db, course, details)
        if changes:
            rx = change_prescription(db, course, valid_from, changes)
            print(f"prescription of {subject} from {rx.valid_from}: {_rx_text(rx.to_dict())}")
    if details:
        print(f"changed course {course.id} of {subject}: {', '.join(details)}")
    return 0


def _end(args: argparse.Namespace) -> int:
    from biofeedback.storage.courses import end_course
    from biofeedback.storage.database import Database

    subject = Database.check_subject_id(args.subject)
    end = _date(args.on, "--on")
    with Database() as db:
        course = end_course(db, subject, end)
    print(f"ended course {course.id} of {subject} on {end}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from biofeedback.cli.common import open_store_or_clinic
    from biofeedback.reports.course import write_course_report
    from biofeedback.storage.database import Database

    subject = Database.check_subject_id(args.subject)
    with open_store_or_clinic(args, subject=subject) as db:
        path = write_course_report(
            db,
            subject,
            args.output,
            thought_records=args.thought_records,
            course_uid=args.course_uid,
        )
    print(path)
    return 0


def _station(args: argparse.Namespace) -> int:
    from biofeedback.storage.courses import set_station_role, station_role
    from biofeedback.storage.database import Database

    with Database() as db:
        if args.role is not None:
            set_station_role(db, args.role)
        role = station_role(db)
    if role is None:
        print("station role not set: sessions of an open course are recorded as home sessions")
    else:
        print(f"this data dir records {role} sessions by default (record --setting overrides)")
    return 0


def course_data(db: Database, course: Course, today: dt.date) -> tuple[dict[str, Any], Adherence]:
    """What ``course show --json`` prints (the course, its sessions and adherence), and the
    adherence itself."""
    from biofeedback.storage.courses import (
        adherence,
        clinic_sessions,
        course_sessions,
        due_outcomes,
    )

    sessions = course_sessions(db, course.id)
    due = due_outcomes(db, course.subject_id, "session-start", today, setting="clinic")
    result = adherence(db, course, today)
    clinic = clinic_sessions([s for s in sessions if s.status != "recording"], until=today)
    return {
        "course": course.to_dict(),
        "as_of": today.isoformat(),
        "clinic_sessions_done": len(clinic),
        "sessions": [
            {
                "id": s.id,
                "uid": s.uid,
                "setting": s.setting,
                "status": s.status,
                "protocol": s.protocol,
                "local_start": s.local_start.isoformat(timespec="minutes"),
                "duration_s": round(s.duration_s, 1),
            }
            for s in sessions
        ],
        "adherence": result.to_dict(),
        "due_before_next_clinic_session": [d.to_dict() for d in due],
    }, result


def _show(args: argparse.Namespace) -> int:
    from biofeedback.cli.common import open_existing_store
    from biofeedback.storage.courses import current_course
    from biofeedback.storage.database import Database

    subject = Database.check_subject_id(args.subject)
    today = _date(args.as_of, "--as-of")
    with open_existing_store() as db:
        course = current_course(db, subject)
        data, result = course_data(db, course, today)
    if args.json:
        print(json.dumps(data))
        return 0
    print("\n".join(_course_lines(data)))
    print("\n".join(adherence_lines(result)))
    return 0


def _rx_text(rx: dict[str, Any]) -> str:
    text = f"{rx['sessions_per_week']} sessions a week of {rx['minutes_per_session']} min"
    if rx["protocols"]:
        text += f" ({', '.join(rx['protocols'])})"
    if rx["until"]:
        text += f", until {rx['until']}"
    return text


def _course_lines(data: dict[str, Any]) -> list[str]:
    c = data["course"]
    state = "open" if c["open"] else f"ended {c['end_date']}"
    lines = [f"Course {c['id']} of {c['subject_id']}: from {c['start_date']}, {state}"]
    waiting = (dt.date.fromisoformat(c["start_date"]) - dt.date.fromisoformat(data["as_of"])).days
    if waiting > 0:
        lines.append(f"  starts in {waiting} day(s): nothing recorded or due yet")
    for key, label in (
        ("clinician", "clinician"),
        ("muscle", "muscle"),
        ("electrode_site", "site"),
    ):
        if c[key]:
            lines.append(f"  {label}: {c[key]}")
    planned = c["planned_clinic_sessions"]
    done = data["clinic_sessions_done"]
    lines.append(f"  clinic sessions: {done}" + (f" of {planned} planned" if planned else ""))
    for i, rx in enumerate(c["prescriptions"]):
        lead = "home practice" if i == 0 else f"  from {rx['valid_from']}"
        lines.append(f"  {lead}: {_rx_text(rx)}")
    if c["notes"]:
        lines.append(f"  notes: {c['notes']}")
    if c["template"]:
        lines.append(f"  template: {c['template']}")
    due = data["due_before_next_clinic_session"]
    if due:
        asked = ", ".join(f"{d['title'] or d['instrument']} ({d['timepoint']})" for d in due)
        lines.append(f"  questionnaires before the next clinic session: {asked}")
    return lines


def adherence_lines(result: Adherence) -> list[str]:
    """The adherence table for a terminal."""
    from biofeedback.training.adherence import INTERRUPTED_MIN_FRACTION

    lines = [f"Home practice: {result.this_week_text()}", ""]
    lines.append(
        f"{'week':<10}{'from':<12}{'sessions':>9}{'minutes':>13}{'days':>6}"
        f"{'interrupted':>13}{'clinic':>8}  met"
    )
    for w in result.weeks:
        sessions = (
            f"{w.sessions_done}/{w.prescribed_sessions}" if w.prescription else str(w.sessions_done)
        )
        minutes = (
            f"{w.minutes_done:.0f}/{w.prescribed_minutes:.0f}"
            if w.prescription
            else (f"{w.minutes_done:.0f}")
        )
        interrupted = f"{w.interrupted_counted}+{w.interrupted_short} short"
        met = {True: "yes", False: "no", None: "-"}[w.met]
        lines.append(
            f"{w.iso_week:<10}{w.week_start.isoformat():<12}{sessions:>9}{minutes:>13}"
            f"{w.days_practised:>6}{interrupted:>13}{w.clinic_sessions:>8}  {met}"
        )
    lines.append(
        f"Streaks: {result.current_day_streak} day(s) in a row (longest "
        f"{result.longest_day_streak}); {result.current_week_streak} week(s) met in a row "
        f"(longest {result.longest_week_streak})"
    )
    lines.append(
        "(home sessions only; interrupted: counted + too short to count (under "
        f"{INTERRUPTED_MIN_FRACTION:.0%} of the prescribed minutes), see docs/courses.md)"
    )
    return lines
