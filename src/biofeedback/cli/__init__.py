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
from collections.abc import Iterator, Sequence

from biofeedback import __version__
from biofeedback.cli import logs
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


#: Options whose value may hold bytes that are not UTF-8: file names on Linux can, and these are
#: only used to open a file here, never stored in the database or put into a source URL.
PATH_DESTS = frozenset({"data_dir", "output", "log_file"})
#: Positional arguments that are file names, per command (``protocols validate FILE``).
PATH_POSITIONALS = {"protocols": frozenset({"files", "name"}), "db": frozenset({"file"})}


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
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="show the log on stderr (-v: info, -vv: debug)",
    )
    parser.add_argument("--log-file", metavar="FILE", help="append the log to FILE")
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
    bad = non_utf8_argument(parser, args)
    if bad is not None:
        sys.stderr.write(f"biofeedback: {bad}\n")
        return 2
    _print_file_names_as_given()
    if args.data_dir is not None and not args.data_dir.strip():
        sys.stderr.write("biofeedback: --data-dir is empty: give a folder, e.g. --data-dir ~/emg\n")
        return 2
    if args.data_dir:
        os.environ["BIOFEEDBACK_HOME"] = args.data_dir
    try:
        logs.configure(args.verbose, args.log_file)
    except BiofeedbackError as exc:
        sys.stderr.write(f"biofeedback: {exc}\n")
        return 2
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


def _print_file_names_as_given() -> None:
    """Let stdout print a file name that is not UTF-8 (allowed in ``PATH_DESTS``) as its own
    bytes, as ``ls`` does, instead of failing with UnicodeEncodeError on a strict UTF-8 stream."""
    if sys.stdout is not sys.__stdout__:
        return  # replaced (a test's capture, a redirect in-process): leave it alone
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None and getattr(sys.stdout, "errors", None) == "strict":
        reconfigure(errors="surrogateescape")


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _actions(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    """Every action of a parser and of its subcommands' parsers."""
    for action in parser._actions:
        yield action
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _actions(sub)


def non_utf8_argument(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str | None:
    """The one-line complaint about an argument that is not UTF-8 text, or None if all are.

    On Linux an argument with bytes that are not UTF-8 arrives with surrogate escapes; stored in
    the database or written into a report it would fail later with a traceback. File names of
    files only opened here (``PATH_DESTS``, ``PATH_POSITIONALS``) may legitimately hold such bytes
    and are let through.
    """
    names = {}
    for action in _actions(parser):
        label = action.option_strings[-1] if action.option_strings else action.metavar
        names.setdefault(action.dest, label if isinstance(label, str) else None)
    allowed = PATH_DESTS | PATH_POSITIONALS.get(getattr(args, "command", None) or "", frozenset())
    for dest, value in vars(args).items():
        values = value if isinstance(value, list) else [value]
        for item in values:
            if not isinstance(item, str) or _is_utf8(item) or dest in allowed:
                continue
            raw = os.fsencode(item)
            shown = raw if len(raw) <= 40 else raw[:40] + b"..."
            option = names.get(dest) or dest.upper()
            return (
                f"{option} is not UTF-8 text ({shown!r}): type it again in UTF-8 (check the "
                "terminal's encoding, e.g. LANG=C.UTF-8); rename a file whose name is not UTF-8"
            )
    return None


def _default_handler(parser: argparse.ArgumentParser):
    """The GUI handler when the GUI command is available (bare ``biofeedback``)."""
    try:
        module = importlib.import_module("biofeedback.cli.gui")
    except ModuleNotFoundError:
        return None
    defaults = parser.parse_args(["gui"])
    return lambda _args: module.run(defaults)
