"""``biofeedback db check|backup``: is the session database sound, and a copy of it."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from pathlib import Path

from biofeedback.cli.common import existing_store_path
from biofeedback.errors import StorageError

#: Exit code of ``db check`` for a damaged file (2 stays "you typed something wrong").
EXIT_DAMAGED = 1


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``db`` subcommand with ``check`` and ``backup``."""
    p = sub.add_parser(
        "db",
        description=(
            "Look after the session database. 'check' runs SQLite's integrity check and prints "
            "ok or the problems (exit 0 sound, 1 damaged). 'backup' copies the live database "
            "with SQLite's online backup, safe while a recording runs. Automatic daily backups "
            "(7 kept) are in the data folder's backups/."
        ),
    )
    actions = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    check = actions.add_parser("check", help="integrity check (exit 0 ok, 1 damaged)")
    check.add_argument(
        "file",
        nargs="?",
        metavar="FILE",
        help="a database file to check, e.g. a backup (default: the data folder's)",
    )
    check.add_argument("--json", action="store_true", help="print one JSON object")
    check.set_defaults(handler=run_check_command)
    backup = actions.add_parser("backup", help="copy the database to FILE (0600)")
    backup.add_argument("-o", "--output", required=True, metavar="FILE", help="backup file")
    backup.add_argument("--json", action="store_true", help="print one JSON object")
    backup.set_defaults(handler=run_backup)


def check_file(path: Path) -> list[str]:
    """Problems in the database file ``path`` (``[]`` when sound). Opened read-only when
    SQLite can, so checking never writes into a damaged file."""
    from biofeedback.storage.integrity import run_check

    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return [f"cannot open it: {exc}"]
    try:
        return run_check(conn, full=True)
    finally:
        conn.close()


def run_check_command(args: argparse.Namespace) -> int:
    """Print ok or the problems; exit 0 (sound) or 1 (damaged)."""
    if args.file is not None:
        path = Path(args.file).expanduser()
        if not path.is_file():
            raise StorageError(f"{path} is not a file: give a database file to check")
    else:
        path = existing_store_path()
    started = time.perf_counter()
    problems = check_file(path)
    seconds = time.perf_counter() - started
    if args.json:
        print(
            json.dumps(
                {
                    "database": str(path),
                    "ok": not problems,
                    "problems": problems,
                    "bytes": path.stat().st_size,
                    "seconds": round(seconds, 3),
                }
            )
        )
    elif not problems:
        print(f"{path}: ok ({path.stat().st_size / 1e6:.1f} MB checked in {seconds:.2f} s)")
    else:
        from biofeedback.storage.integrity import BACKUP_FOLDER

        print(f"{path}: DAMAGED, {len(problems)} problem(s):")
        for problem in problems:
            print(f"  {problem}")
        print(
            "Move the file aside (keep it) and copy in a sound backup: 'biofeedback db check "
            "FILE' tells whether a backup is sound; the automatic ones are in "
            f"{path.parent / BACKUP_FOLDER}"
        )
    return EXIT_DAMAGED if problems else 0


def run_backup(args: argparse.Namespace) -> int:
    """Copy the database to ``-o FILE``; print where it went."""
    from biofeedback.storage.integrity import backup_database

    source = existing_store_path()
    result = backup_database(source, args.output)
    problems = check_file(result.path)
    if args.json:
        print(
            json.dumps(
                {
                    "database": str(source),
                    "path": str(result.path),
                    "bytes": result.bytes,
                    "seconds": round(result.seconds, 3),
                    "ok": not problems,
                }
            )
        )
    else:
        print(f"Wrote {result.path} ({result.bytes / 1e6:.1f} MB in {result.seconds:.2f} s)")
    if problems:
        sys.stderr.write(
            f"biofeedback: the database was already damaged and so is the copy ({problems[0]}): "
            "keep both; see 'biofeedback db check'\n"
        )
    return 0
