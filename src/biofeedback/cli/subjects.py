"""``biofeedback subjects add|list|show|edit``: the people treated, by pseudonymous id.

A subject is an id such as P001 (letters, digits, ``. _ -``), an optional name (kept only in
this data dir; leave it out to stay pseudonymous) and free notes. ``show`` adds the subject's
courses and session counts. See docs/courses.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json

TYPE_CHECKING = False  # the store is imported by the handlers only
if TYPE_CHECKING:
    from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``subjects`` command."""
    parser = subparsers.add_parser(
        "subjects",
        description="The subjects (patients, participants) of this data dir, by pseudonymous "
        "id (see docs/courses.md).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    actions.required = True
    add = actions.add_parser("add", help="add a subject")
    add.add_argument(
        "id", metavar="ID", help="pseudonymous id, e.g. P001 (1-64 letters, digits, . _ -)"
    )
    add.add_argument("--name", metavar="TEXT", help="a name (optional; kept in this data dir only)")
    add.add_argument("--notes", metavar="TEXT", default="", help="free notes")
    add.set_defaults(handler=_add)
    lst = actions.add_parser("list", help="list the subjects with their sessions and course")
    lst.add_argument("--json", action="store_true", help="print one JSON object")
    lst.set_defaults(handler=_list)
    show = actions.add_parser("show", help="one subject with courses and sessions")
    show.add_argument("id", metavar="ID")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.set_defaults(handler=_show)
    edit = actions.add_parser("edit", help="change a subject's name or notes")
    edit.add_argument("id", metavar="ID")
    edit.add_argument("--name", metavar="TEXT", help="new name ('' removes it)")
    edit.add_argument("--notes", metavar="TEXT", help="new notes (replace the old ones)")
    edit.set_defaults(handler=_edit)


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def _add(args: argparse.Namespace) -> int:
    from biofeedback.storage.database import Database

    with Database() as db:
        subject = db.add_subject(args.id, args.name, args.notes)
    print(f"added subject {subject}")
    return 0


def _edit(args: argparse.Namespace) -> int:
    from biofeedback.errors import StorageError
    from biofeedback.storage.database import Database

    if args.name is None and args.notes is None:
        raise StorageError("say what to change: --name TEXT and/or --notes TEXT")
    with Database() as db:
        db.edit_subject(Database.check_subject_id(args.id), args.name, args.notes)
    print(f"changed subject {args.id.strip()}")
    return 0


def _subject_dicts() -> list[dict[str, Any]]:
    from biofeedback.cli.common import store_path
    from biofeedback.storage.courses import open_course
    from biofeedback.storage.database import Database

    if not store_path().is_file():
        return []
    with Database() as db:
        out = []
        for row in db.list_subjects():
            course = open_course(db, row["id"])
            out.append({**row, "open_course": None if course is None else course.to_dict()})
        return out


def _list(args: argparse.Namespace) -> int:
    subjects = _subject_dicts()
    if args.json:
        print(json.dumps({"subjects": subjects}))
        return 0
    if not subjects:
        print("No subjects (add one: biofeedback subjects add P001)")
        return 0
    print(f"{'id':<16}{'name':<22}{'sessions':>9}  {'last session':<17} course")
    for s in subjects:
        course = s["open_course"]
        text = f"open since {course['start_date']}" if course else "-"
        print(
            f"{s['id']:<16}{(s['name'] or '-')[:21]:<22}{s['n_sessions']:>9}  "
            f"{_when(s['last_session_at']):<17} {text}"
        )
    return 0


def _show(args: argparse.Namespace) -> int:
    from biofeedback.cli.common import open_existing_store
    from biofeedback.storage.courses import list_courses
    from biofeedback.storage.database import Database

    subject_id = Database.check_subject_id(args.id)
    with open_existing_store() as db:
        row = db.require_subject(subject_id)
        sessions = db.list_sessions(subject_id)
        courses = list_courses(db, subject_id)
    data = {
        **row,
        "courses": [c.to_dict() for c in courses],
        "n_sessions": len(sessions),
        "n_clinic_sessions": sum(1 for s in sessions if s.setting == "clinic"),
        "n_home_sessions": sum(1 for s in sessions if s.setting == "home"),
        "last_session_at": sessions[-1].started_at if sessions else None,
    }
    if args.json:
        print(json.dumps(data))
        return 0
    print(f"Subject {data['id']}" + (f" ({data['name']})" if data["name"] else ""))
    print(f"  added {_when(data['created_at'])}")
    if data["notes"]:
        print(f"  notes: {data['notes']}")
    if data.get("weekly_goal") or data.get("reminder"):
        goal = data.get("weekly_goal") or "-"
        print(f"  weekly goal: {goal} sessions, daily reminder: {data.get('reminder') or '-'}")
    print(
        f"  sessions: {data['n_sessions']} ({data['n_clinic_sessions']} clinic, "
        f"{data['n_home_sessions']} home), last {_when(data['last_session_at'])}"
    )
    if not courses:
        print("  no course (start one: biofeedback course start --subject " + data["id"] + ")")
    for c in courses:
        state = "open" if c.is_open else f"ended {c.end_date}"
        print(f"  course {c.id}: from {c.start_date}, {state}")
    return 0
