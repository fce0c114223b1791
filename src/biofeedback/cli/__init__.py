"""Command line. ``biofeedback`` with no arguments opens the GUI; subcommands do headless work.

Each subcommand lives in its own module here and exposes ``register(subparsers)``; the module's
handler receives the parsed ``argparse.Namespace`` and returns an exit code. User errors
(:class:`biofeedback.errors.BiofeedbackError`) print one line and exit 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from biofeedback import __version__
from biofeedback.errors import BiofeedbackError

#: Subcommand modules, in the order shown by --help.
COMMAND_MODULES = [
    "gui",
    "stream",
    "record",
    "protocols",
    "sessions",
    "replay",
    "export",
    "report",
    "devices",
    "doctor",
    "db",
]


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one clear line (and a hint) instead of the usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"biofeedback: {message}\n(see: {self.prog} --help)\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    """The full parser with every available subcommand."""
    parser = _Parser(
        prog="biofeedback",
        description="Surface-EMG relaxation biofeedback. With no command, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"biofeedback {__version__}")
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="where sessions and settings are kept (default: per-user data dir; env BIOFEEDBACK_HOME)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"biofeedback.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"biofeedback.cli.{name}":
                continue  # command not available in this build
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``biofeedback`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.data_dir is not None and not args.data_dir.strip():
        sys.stderr.write("biofeedback: --data-dir is empty: give a folder, e.g. --data-dir ~/emg\n")
        return 2
    if args.data_dir:
        os.environ["BIOFEEDBACK_HOME"] = args.data_dir
    handler = getattr(args, "handler", None)
    if handler is None:
        gui_handler = _default_handler(parser)
        if gui_handler is None:
            parser.print_help()
            return 0
        handler = gui_handler
    try:
        return int(handler(args) or 0)
    except BiofeedbackError as exc:
        sys.stderr.write(f"biofeedback: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("biofeedback: interrupted\n")
        return 130
    except BrokenPipeError:
        # output piped into e.g. `head`, which closed early: not an error worth a traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _default_handler(parser: argparse.ArgumentParser):
    """The GUI handler when the GUI command is available (bare ``biofeedback``)."""
    try:
        module = importlib.import_module("biofeedback.cli.gui")
    except ModuleNotFoundError:
        return None
    defaults = parser.parse_args(["gui"])
    return lambda _args: module.run(defaults)
