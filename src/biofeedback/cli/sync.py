"""``biofeedback sync [--clinic URL] [--subject ID] [--json]``: push this station's finished
sessions, courses, questionnaires and subjects to the clinic and pull what it needs to show the
subjects' history (docs/clinic.md, "Sync").

Exit 0 when everything is in step, 1 when some sessions stay pending after errors (says how
many and why), 2 on bad input, no clinic configured or the clinic unreachable.
"""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sync`` command."""
    parser = subparsers.add_parser(
        "sync",
        description="Send finished and interrupted sessions, courses, questionnaires and "
        "subjects (never their names) to the clinic's database and receive what this station "
        "needs to show their history. Safe to run again: it adds nothing twice, and a sync "
        "cut off goes on where it stopped.",
    )
    parser.add_argument(
        "--clinic",
        metavar="URL",
        help="the clinic database (postgresql://USER@HOST/DB or service=NAME; default: the "
        "one set with 'biofeedback clinic set')",
    )
    parser.add_argument(
        "--subject", metavar="ID", help="only this subject (default: every subject here)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object, no progress")
    parser.set_defaults(handler=_sync)


def _progress(done: int, total: int, what: str) -> None:
    if what.endswith(": samples"):
        return
    if sys.stdout.isatty():
        print(f"\r{what} ...", end="", flush=True)
    else:
        print(what, flush=True)


def _sync(args: argparse.Namespace) -> int:
    from biofeedback.clinic.connect import resolve_clinic
    from biofeedback.clinic.sync import sync
    from biofeedback.storage.database import Database

    conninfo = resolve_clinic(args.clinic)
    subject = None if args.subject is None else Database.check_subject_id(args.subject)
    with Database() as db:
        result = sync(db, conninfo, subject=subject, progress=None if args.json else _progress)
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        if sys.stdout.isatty():
            print()
        print(result.text())
    if result.errors:
        errors = len(result.errors)
        print(
            f"biofeedback: {errors} error{'' if errors == 1 else 's'}, {result.pending} "
            f"session{'' if result.pending == 1 else 's'} still pending: {result.errors[0]}",
            file=sys.stderr,
        )
        return 1
    return 0
