"""``biofeedback clinic init|status|set|show``: the clinic's PostgreSQL database.

``init URL`` creates or migrates the clinic schema and its two roles (run it as the database's
owner); ``status [URL]`` prints the schema version and what the clinic holds; ``set URL``
remembers the clinic for this data folder (never with a password in it) and ``show`` prints it.
URLs, credentials, TLS and the roles: docs/clinic.md.
"""

from __future__ import annotations

import argparse
import json

_URL_HELP = (
    "the clinic database: postgresql://USER@HOST/DB or libpq keywords like service=NAME "
    "(passwords come from ~/.pgpass, PGPASSFILE or the service file)"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``clinic`` command."""
    parser = subparsers.add_parser(
        "clinic",
        description="The clinic's shared PostgreSQL database (docs/clinic.md): create or "
        "migrate its schema and roles, see what it holds, and choose the clinic this data "
        "folder uses.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    actions.required = True
    init = actions.add_parser(
        "init", help="create or migrate the clinic schema and its station and clinician roles"
    )
    init.add_argument("url", metavar="URL", help=_URL_HELP)
    init.add_argument("--json", action="store_true", help="print one JSON object")
    init.set_defaults(handler=_init)
    status = actions.add_parser("status", help="schema version and counts of the clinic")
    status.add_argument(
        "url", metavar="URL", nargs="?", help="the clinic (default: the configured one)"
    )
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.set_defaults(handler=_status)
    set_ = actions.add_parser("set", help="remember the clinic for this data folder")
    set_.add_argument("url", metavar="URL", help=_URL_HELP + "; 'none' forgets it")
    set_.set_defaults(handler=_set)
    show = actions.add_parser("show", help="print the configured clinic")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.set_defaults(handler=_show)


def _init(args: argparse.Namespace) -> int:
    from biofeedback.clinic.connect import check_conninfo
    from biofeedback.clinic.migrate import init_clinic

    check_conninfo(args.url)
    result = init_clinic(args.url.strip())
    print(json.dumps(result.to_dict()) if args.json else result.text())
    return 0


def _status(args: argparse.Namespace) -> int:
    from biofeedback.clinic.connect import resolve_clinic
    from biofeedback.clinic.migrate import clinic_status

    status = clinic_status(resolve_clinic(args.url))
    print(json.dumps(status.to_dict()) if args.json else status.text())
    return 0


def _set(args: argparse.Namespace) -> int:
    from biofeedback.clinic.connect import describe, save_clinic

    if args.url.strip().lower() == "none":
        save_clinic(None)
        print("no clinic configured")
        return 0
    save_clinic(args.url)
    print(f"clinic set: {describe(args.url)}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from biofeedback.clinic.connect import configured_clinic, describe

    url = configured_clinic()
    if args.json:
        print(json.dumps({"clinic": url, "where": describe(url) if url else None}))
    else:
        print(url if url else "no clinic configured (set one with 'biofeedback clinic set URL')")
    return 0
