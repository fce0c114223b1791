"""``biofeedback sessions``: list stored sessions (and a subject's progress); ``sessions delete
ID`` removes one (asked first on a terminal; a session still recording is refused); ``sessions
annotate ID`` changes its notes or pain-after rating."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from biofeedback.cli.common import add_clinic_option, open_store_or_clinic, store_path

TYPE_CHECKING = False  # typing and the store are not imported at start-up (see biofeedback.cli)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from biofeedback.storage.database import Database
    from biofeedback.storage.progress import ProgressSummary


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``sessions`` subcommand."""
    p = sub.add_parser(
        "sessions",
        description=(
            "List the stored sessions, oldest first, with their key measures. Sessions left open "
            "by a crash are closed as interrupted first (everything recorded is kept)."
        ),
    )
    p.add_argument("--subject", metavar="ID", help="only this subject's sessions")
    p.add_argument(
        "--progress",
        action="store_true",
        help="with --subject: practice streak, weekly goal and trends as well",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_clinic_option(p)
    p.set_defaults(handler=run)
    actions = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    delete = actions.add_parser(
        "delete",
        help="delete one session with everything stored with it (e.g. one copy of a conflict)",
        description="Delete one session with its samples, markers and phases. Questionnaires "
        "linked to it are kept (no longer linked). A session still recording is refused.",
    )
    delete.add_argument("id", metavar="ID", help="the session id shown by 'biofeedback sessions'")
    delete.add_argument("--yes", action="store_true", help="do not ask (needed without a terminal)")
    delete.set_defaults(handler=run_delete)
    annotate = actions.add_parser(
        "annotate",
        help="change a session's notes or pain-after rating",
        description="Change the notes and/or the pain-after rating (0-10) of one stored session. "
        "Notes hold at most 4000 characters of UTF-8 text (line breaks and tabs allowed). The "
        "session's revision goes up, so bundles and the clinic sync carry the change.",
    )
    annotate.add_argument("id", metavar="ID", help="the session id shown by 'biofeedback sessions'")
    annotate.add_argument("--notes", metavar="TEXT", help="the new notes ('' clears them)")
    pain = annotate.add_mutually_exclusive_group()
    pain.add_argument("--pain-after", metavar="N", help="pain after the session, 0 to 10")
    pain.add_argument(
        "--clear-pain-after", action="store_true", help="pain after was not asked: clear it"
    )
    annotate.set_defaults(handler=run_annotate)


def _row(record: Any, point: Any) -> dict[str, Any]:
    return {
        "id": record.id,
        "setting": record.setting,
        "conflict_copy_of": record.conflict_copy_of,
        "subject_id": record.subject_id,
        "protocol": record.protocol,
        "imported": point.imported or None,
        "started": dt.datetime.fromtimestamp(record.started_at).isoformat(timespec="seconds"),
        "status": record.status,
        "duration_s": round(record.duration_s, 3),
        "fs_hz": record.info.fs_hz,
        "channels": [f"{c.name} ({c.kind.value})" for c in record.info.channels],
        "muscle": record.muscle,
        "side": record.side,
        "baseline_uv": point.baseline_uv,
        "pct_below": point.pct_below,
        "recovery_s": point.recovery_s,
        "pain_before": record.pain_before,
        "pain_after": record.pain_after,
        "samples": record.n_samples,
    }


def _confirm(question: str) -> bool:
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def run_delete(args: argparse.Namespace) -> int:
    """``sessions delete ID [--yes]``: delete one session after the question (or --yes)."""
    from biofeedback.cli.common import existing_store_path
    from biofeedback.errors import StorageError
    from biofeedback.storage.database import Database

    with Database(existing_store_path()) as db:
        record = db.get_session(args.id)
        db.recover_interrupted()  # a writer that is gone no longer holds its session
        record = db.get_session(record.id)
        if record.status == "recording":
            raise StorageError(
                f"session {record.id} is still being recorded: stop the recording, then delete it"
            )
        label = record.label()
        if not args.yes:
            if not sys.stdin.isatty():
                raise StorageError(
                    f"not deleting {label} without a question: add --yes to delete it"
                )
            if not _confirm(f"Delete {label}?"):
                print("Nothing deleted.")
                return 1
        db.delete_session(record.id)
    print(f"Deleted {label}.")
    return 0


def run_annotate(args: argparse.Namespace) -> int:
    """``sessions annotate ID [--notes TEXT] [--pain-after N | --clear-pain-after]``."""
    from biofeedback.cli.common import existing_store_path
    from biofeedback.errors import StorageError
    from biofeedback.storage.annotations import KEEP, Keep, annotate_session, check_pain
    from biofeedback.storage.database import Database

    if args.notes is None and args.pain_after is None and not args.clear_pain_after:
        raise StorageError(
            "nothing to change: give --notes TEXT, --pain-after N or --clear-pain-after"
        )
    pain: float | Keep | None = None if args.clear_pain_after else KEEP
    if args.pain_after is not None:
        pain = check_pain(args.pain_after)
    with Database(existing_store_path()) as db:
        notes = KEEP if args.notes is None else args.notes
        record = annotate_session(db, args.id, notes=notes, pain_after=pain)
    rating = "not asked" if record.pain_after is None else f"{record.pain_after:g}"
    print(
        f"Session {record.id}: notes {len(record.notes)} characters, pain after {rating} "
        f"(revision {record.revision})."
    )
    return 0


#: Widest protocol column of the session list; a longer name ends in "..." (--json has it whole).
MAX_PROTOCOL_COLUMN = 30


def _elide(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, ending in "..." when it was cut."""
    return text if len(text) <= width else text[: width - 3] + "..."


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _duration(seconds: float) -> str:
    total = round(seconds)
    return f"{total // 3600}:{total // 60 % 60:02d}:{total % 60:02d}"


def _read(
    db: Database, subject: str | None, with_progress: bool
) -> tuple[list[int], list[dict[str, Any]], ProgressSummary | None]:
    """Sessions closed as interrupted, the table's rows, and the subject's progress (or None)."""
    from biofeedback.storage.progress import progress_summary, session_point

    recovered = db.recover_interrupted()
    rows = [_row(r, session_point(r, db.phases(r.id))) for r in db.list_sessions(subject)]
    progress = progress_summary(db, subject) if with_progress and subject else None
    return recovered, rows, progress


def _course_week(subject: str, path: Path | None = None) -> str | None:
    """This week's home practice of the subject's open course ("4 of 5 this week", as the course
    dialog and History say it), or None without one."""
    from biofeedback.storage.courses import adherence, open_course
    from biofeedback.storage.database import Database

    with Database(path or store_path()) as db:
        course = open_course(db, subject)
        return None if course is None else adherence(db, course).this_week_text()


def practice_text(sessions: int, goal: int | None) -> str:
    """``"2 of 3 sessions this week"`` or ``"2 sessions this week (no weekly goal set)"``."""
    if goal:
        return f"{sessions} of {goal} sessions this week"
    noun = "session" if sessions == 1 else "sessions"
    return f"{sessions} {noun} this week (no weekly goal set)"


def run(args: argparse.Namespace) -> int:
    """Print the session list (or one JSON object); exit 0. Without a database there are no
    sessions to list, and none is created."""
    if args.progress and not args.subject:
        sys.stderr.write("biofeedback: --progress needs --subject ID\n")
        return 2
    from biofeedback.storage.database import Database

    path = store_path()
    if args.subject is not None:
        Database.check_subject_id(args.subject)
    if args.clinic is not None:
        with open_store_or_clinic(args, subject=args.subject) as db:
            recovered, rows, progress = _read(db, args.subject, args.progress)
            path = db.path
    elif path.is_file():
        with Database() as db:
            recovered, rows, progress = _read(db, args.subject, args.progress)
            path = db.path
    else:
        # nothing stored here yet: an empty store, thrown away, gives the same answer
        import tempfile

        with tempfile.TemporaryDirectory() as tmp, Database(f"{tmp}/empty.sqlite") as db:
            recovered, rows, progress = _read(db, args.subject, args.progress)
    if args.json:
        out: dict[str, Any] = {"database": str(path), "recovered": recovered, "sessions": rows}
        if progress is not None:
            out["progress"] = progress.to_dict()
        print(json.dumps(out))
        return 0
    if recovered:
        ids = ", ".join(str(i) for i in recovered)
        sys.stderr.write(
            f"Closed session(s) {ids} as interrupted (the app stopped while recording).\n"
        )
    if not rows:
        who = f" for subject {args.subject}" if args.subject else ""
        print(f"No sessions{who} in {path}. Record one with: biofeedback record --source URL ...")
        return 0
    whats = [r["protocol"] or (f"imported {r['imported']}" if r["imported"] else "-") for r in rows]
    pw = min(max(len("protocol"), *(len(w) for w in whats)), MAX_PROTOCOL_COLUMN)
    header = f"{'id':>5}  {'started':<16}  {'subject':<10} {'protocol':<{pw}} {'length':>8}  {'status':<11} {'setting':<7} {'baseline':>9} {'% below':>8} {'recov s':>8}"
    print(header)
    for r, what in zip(rows, whats, strict=True):
        print(
            f"{r['id']:>5}  {r['started'][:16].replace('T', ' '):<16}  {(r['subject_id'] or '-')[:10]:<10} "
            f"{_elide(what, pw):<{pw}} {_duration(r['duration_s']):>8}  {r['status']:<11} "
            f"{r['setting'] or '-':<7} {_num(r['baseline_uv'], 2):>9} {_num(r['pct_below']):>8} {_num(r['recovery_s']):>8}"
            + ("  CONFLICT COPY" if r["conflict_copy_of"] else "")
        )
    print("(baseline in uV RMS at the electrodes; % below = time below threshold in training)")
    if any(r["conflict_copy_of"] for r in rows):
        print(
            "(CONFLICT COPY: a bundle's version of a session changed on both machines; keep "
            "one: biofeedback sessions delete ID)"
        )
    if progress is not None:
        week = progress.this_week
        done = practice_text(week.sessions, week.goal)
        if args.subject and (course_week := _course_week(args.subject, path)) is not None:
            done = f"home practice {course_week} (the course's prescription)"
        print()
        print(
            f"Practice: {done}; streak "
            f"{progress.current_streak_days} day(s), longest {progress.longest_streak_days}."
        )
        for line in progress.trend_text:
            print(line)
    return 0
