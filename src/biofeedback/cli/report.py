"""``biofeedback report SESSION -o PATH.pdf|.html``: the clinician report of a session."""

from __future__ import annotations

import argparse
import json
import sys
import time

from biofeedback.cli.common import add_clinic_option, open_store_or_clinic


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``report`` subcommand."""
    p = sub.add_parser(
        "report",
        description=(
            "Write the clinician report of a stored session: ids, hardware and processing, noise "
            "floor, the envelope with the phases, the per-phase measures, threshold history and "
            "success per trial, and trends across the subject's sessions."
        ),
    )
    p.add_argument("session", metavar="SESSION", help="session id (see: biofeedback sessions)")
    p.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="report file, .pdf or .html"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_clinic_option(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Write the report; print where it went."""
    from biofeedback.core.limits import parse_session_id
    from biofeedback.reports.clinician import write_report

    session_id = parse_session_id(args.session)
    t0 = time.perf_counter()
    if not args.json and sys.stderr.isatty():
        sys.stderr.write(f"writing the report of session {session_id} ...\n")
    with open_store_or_clinic(args, session_id=session_id) as db:
        path = write_report(db, session_id, args.output)
    seconds = time.perf_counter() - t0
    if args.json:
        print(
            json.dumps(
                {
                    "session_id": session_id,
                    "path": str(path),
                    "bytes": path.stat().st_size,
                    "seconds": round(seconds, 3),
                }
            )
        )
    else:
        print(f"Wrote {path}")
    return 0
