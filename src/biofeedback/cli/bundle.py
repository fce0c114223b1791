"""``biofeedback bundle export|import|show``: carry a subject's course between machines.

``export`` writes everything stored about one subject (course, prescriptions, questionnaires,
sessions with their samples; never the name) into one checksummed file; ``import`` merges such a
file into this data dir (all or nothing, idempotent: importing it twice adds nothing); ``show``
says what a file holds without importing it. The format and the merge rules: docs/bundles.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

TYPE_CHECKING = False  # the store is imported by the handlers only (see biofeedback.cli)
if TYPE_CHECKING:
    from collections.abc import Callable

    from biofeedback.storage.bundle import BundleImport, BundleInfo
    from biofeedback.storage.database import Database


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``bundle`` command."""
    parser = subparsers.add_parser(
        "bundle",
        description="Move a subject's course between machines without a server: 'export' writes "
        "one portable file (course, questionnaires, sessions with their samples; checksummed; "
        "the subject's name stays here), 'import' merges it into this data dir (importing twice "
        "adds nothing, a newer copy of a session replaces an older one, a session changed on "
        "both sides is kept twice), 'show' says what a file holds (see docs/bundles.md).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    actions.required = True
    export = actions.add_parser("export", help="write one subject's data into a bundle file")
    export.add_argument("--subject", required=True, metavar="ID", help="the subject, e.g. P001")
    export.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="file to write (e.g. P001.bfbundle)"
    )
    export.add_argument("--json", action="store_true", help="print one JSON object, no progress")
    export.set_defaults(handler=_export)
    imp = actions.add_parser("import", help="merge a bundle file into this data dir")
    imp.add_argument("file", metavar="FILE", help="a file written by 'bundle export'")
    imp.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")
    imp.add_argument("--json", action="store_true", help="print one JSON object, no progress")
    imp.set_defaults(handler=_import)
    show = actions.add_parser("show", help="what a bundle file holds (nothing is imported)")
    show.add_argument("file", metavar="FILE", help="a file written by 'bundle export'")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.set_defaults(handler=_show)


def _progress(args: argparse.Namespace, what: str) -> Callable[[int, int], None] | None:
    """Progress on stderr when it is a terminal (never with --json)."""
    if args.json or not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        sys.stderr.write(f"\r{what}: session {done} of {total}   ")
        sys.stderr.flush()

    return show


def _end_progress(progress: Callable[[int, int], None] | None) -> None:
    if progress is not None:
        sys.stderr.write("\n")


def _export(args: argparse.Namespace) -> int:
    from biofeedback.cli.common import open_existing_store
    from biofeedback.storage.bundle import export_bundle

    progress = _progress(args, f"exporting {args.subject}")
    with open_existing_store() as db:
        try:
            info = export_bundle(db, args.subject, args.output, progress=progress)
        finally:
            _end_progress(progress)
    if args.json:
        print(json.dumps(info.to_dict()))
        return 0
    print(f"Wrote {info.path} ({_contents(info)}, {info.bytes / 1e6:.1f} MB)")
    return 0


def _contents(info: BundleInfo) -> str:
    counts = info.counts
    return (
        f"{info.subject_id}: {counts.get('sessions', 0)} session(s), "
        f"{counts.get('outcomes', 0)} questionnaire(s), {counts.get('courses', 0)} course(s)"
    )


def _import(args: argparse.Namespace) -> int:
    from biofeedback.storage.bundle import import_bundle
    from biofeedback.storage.database import Database

    progress = _progress(args, f"importing {args.file}")
    with Database() as db:
        try:
            result = import_bundle(db, args.file, progress=progress, dry_run=args.dry_run)
        finally:
            _end_progress(progress)
        if args.json:
            print(json.dumps(result.to_dict()))
            return 0
        print(result.text())
        _print_conflicts(db, result)
    return 0


def _print_conflicts(db: Database, result: BundleImport) -> None:
    for uid, copy_uid in result.conflicts:
        here = db.session_id_for_uid(uid)
        copy = db.session_id_for_uid(copy_uid)
        copy_text = "(dry run: not stored)" if copy is None else f"is session {copy}"
        print(
            f"  session {here} ({uid}) was changed here and there: the bundle's copy "
            f"{copy_text}; delete the one you do not want (biofeedback sessions delete ID)"
        )


def _show(args: argparse.Namespace) -> int:
    from biofeedback.storage.bundle import read_bundle_info

    info = read_bundle_info(args.file)
    if args.json:
        print(json.dumps(info.to_dict()))
        return 0
    print(info.text())
    for item in info.sessions:
        started = item.get("started_at")
        when = (
            "?"
            if started is None
            else dt.datetime.fromtimestamp(started).strftime("%Y-%m-%d %H:%M")
        )
        print(
            f"  {when}  {item.get('setting') or '-':6}  {item.get('status', ''):11}  "
            f"{item.get('protocol') or '-'}  (revision {item.get('revision')})"
        )
    return 0
