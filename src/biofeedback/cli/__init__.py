"""Command line. ``biofeedback`` with no arguments opens the GUI; subcommands do headless work.

Each subcommand lives in its own module here and exposes ``register(subparsers)``; the module's
handler receives the parsed ``argparse.Namespace`` and returns an exit code. User errors
(:class:`biofeedback.errors.BiofeedbackError`) print one line and exit 2, never a traceback.

Start-up stays fast: the parser lists the commands from :data:`COMMAND_HELP` without importing
their modules, and only the module of the command being run (or asked about with ``--help``) is
imported and registers its options. A command module imports its heavy libraries (numpy, scipy,
Qt, the store) inside its handler, not at the top.

The global options (:func:`add_global_options`) are accepted before or after the command.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence

from biofeedback import __version__
from biofeedback.errors import BiofeedbackError

#: ``typing`` costs ~7 ms at start-up and is only needed by the type checker here (mypy treats a
#: name ``TYPE_CHECKING`` as ``typing.TYPE_CHECKING``).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

#: The commands, in the order shown by --help, with their one-line summaries. The module
#: ``biofeedback.cli.<name>`` of each adds the command's options when it is the one run.
COMMAND_HELP = {
    "gui": "open the biofeedback window (the default command)",
    "stream": "stream from a source headless: live terminal meter, then a summary",
    "record": "record a session headless (guided by --protocol, or for --duration seconds)",
    "protocols": "list, show and validate training protocols",
    "subjects": "add, list, show and edit subjects (pseudonymous ids)",
    "course": "a subject's course: start, show (with home-practice adherence per week), edit, end",
    "instruments": "list, show and validate outcome questionnaires (pain, function, change)",
    "outcomes": "record a subject's questionnaire answers; show scores and change from baseline",
    "bundle": "carry a subject's course between machines in one file: export, import, show",
    "fhir": "export a subject's questionnaires, pain ratings and sessions as a FHIR R4 Bundle",
    "clinic": "the clinic's shared PostgreSQL database: init (schema, roles), status, set, show",
    "sync": "send finished sessions, courses and questionnaires to the clinic; receive history",
    "sessions": "list stored sessions (--progress: trends and practice), delete one",
    "replay": "replay a stored session or a recording file (CSV, WAV, EDF) like a live board",
    "import": "store a recording made elsewhere (EDF+, BDF, XDF, WAV, CSV) as a session",
    "export": "export a session as EDF+ or CSV",
    "report": "write the clinician report of a session (PDF or HTML)",
    "devices": "list serial ports and what answers on them (our firmware, a stock sketch, nothing)",
    "doctor": "check a connection end to end: rate, frame errors, gaps, noise floor, mains; with fixes",
    "db": "check the session database or copy it (backup)",
}
#: Subcommand modules, in the order shown by --help.
COMMAND_MODULES = list(COMMAND_HELP)
#: A command whose name is not a usable module name (``import`` is a Python keyword) -> its module.
MODULE_NAMES = {"import": "import_recording"}


def command_module(name: str) -> str:
    """The module (``biofeedback.cli.<module>``) that registers the command ``name``."""
    return f"biofeedback.cli.{MODULE_NAMES.get(name, name)}"


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one clear line (and a hint) instead of the usage block."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"biofeedback: {message}\n(see: {self.prog} --help)\n")
        raise SystemExit(2)


class _Commands(argparse._SubParsersAction):
    """The command list: a command registered without a ``help=`` gets its line from
    :data:`COMMAND_HELP`, so the summary is written once."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        if "help" not in kwargs and name in COMMAND_HELP:
            kwargs["help"] = COMMAND_HELP[name]
        return super().add_parser(name, **kwargs)


#: Options whose value may hold bytes that are not UTF-8: file names on Linux can, and these are
#: only used to open a file here, never stored in the database or put into a source URL.
PATH_DESTS = frozenset({"data_dir", "output", "log_file"})
#: Positional arguments that are file names, per command (``protocols validate FILE``).
PATH_POSITIONALS = {
    "protocols": frozenset({"files", "name"}),
    "instruments": frozenset({"files", "name"}),
    "db": frozenset({"file"}),
}
#: Where ``-v`` given after the command counts (added to the count given before it).
_LATE_VERBOSE = "late_verbose"


def add_global_options(parser: argparse.ArgumentParser, after_command: bool = False) -> None:
    """``--version``, ``--data-dir``, ``-v/--verbose`` and ``--log-file``.

    The top-level parser has them with their defaults; every command's parser has them again
    (``after_command``) with no default, so a value given after the command replaces the one
    given before it and one not given there leaves it alone.
    """
    target: argparse._ActionsContainer = parser
    if after_command:
        target = parser.add_argument_group("global options (also accepted before the command)")
    unset = argparse.SUPPRESS if after_command else None
    target.add_argument("--version", action="version", version=f"biofeedback {__version__}")
    target.add_argument(
        "--data-dir",
        metavar="DIR",
        default=unset,
        help="where sessions and settings are kept (default: per-user data dir; env BIOFEEDBACK_HOME)",
    )
    target.add_argument(
        "-v",
        "--verbose",
        action="count",
        dest=_LATE_VERBOSE if after_command else "verbose",
        default=unset if after_command else 0,
        help="show the log on stderr (-v: info, -vv: debug)",
    )
    target.add_argument("--log-file", metavar="FILE", default=unset, help="append the log to FILE")


def _command_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """The parsers of the commands (and of their actions, e.g. ``db check``) below ``parser``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield sub
                yield from _command_parsers(sub)


def available_commands() -> list[str]:
    """The commands whose module is in this build (found without importing it)."""
    return [name for name in COMMAND_MODULES if importlib.util.find_spec(command_module(name))]


def build_parser(commands: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The parser; ``commands`` names the commands whose modules register their options (None:
    every command). The others are listed with their summary only, which is all ``--help`` needs.
    """
    parser = _Parser(
        prog="biofeedback",
        description="Surface-EMG relaxation biofeedback. With no command, opens the window.",
    )
    add_global_options(parser)
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=_Parser, action=_Commands
    )
    available = available_commands()
    wanted = set(available if commands is None else commands)
    for name in available:
        if name in wanted:
            importlib.import_module(command_module(name)).register(sub)
        else:
            sub.add_parser(name)
    for command_parser in _command_parsers(parser):
        add_global_options(command_parser, after_command=True)
    return parser


class _ScanError(Exception):
    pass


class _Scan(argparse.ArgumentParser):
    """The pre-scan for :func:`requested_command`: raises instead of printing and exiting (the
    real parser says what is wrong)."""

    def error(self, message: str) -> NoReturn:
        raise _ScanError(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise _ScanError(message or "")


def requested_command(argv: Sequence[str]) -> str | None:
    """The command named in ``argv`` (the first word not taken by a global option), if it is one
    of the commands; found without importing any command module."""
    template = argparse.ArgumentParser(add_help=False)
    add_global_options(template)
    scan = _Scan(add_help=False)
    for action in template._actions:  # the same options; none prints or exits (--version)
        kind = "count" if action.nargs == 0 else "store"
        scan.add_argument(*action.option_strings, dest=action.dest, action=kind)
    scan.add_argument("command", nargs="?")
    try:
        known, _ = scan.parse_known_args(argv)
    except _ScanError:
        return None
    name = known.command
    return name if name in COMMAND_MODULES else None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``biofeedback`` command."""
    parser, args = parse_arguments(sys.argv[1:] if argv is None else list(argv))
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
    from biofeedback.cli import logs  # after parsing: --help needs no logging

    try:
        logs.configure(args.verbose, args.log_file)
    except BiofeedbackError as exc:
        sys.stderr.write(f"biofeedback: {exc}\n")
        return 2
    handler = getattr(args, "handler", None)
    if handler is None:
        gui_handler = _default_handler()
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


def parse_arguments(argv: Sequence[str]) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    """Parse ``argv`` with a parser holding the options of the command it names (only that
    command's module is imported); the global options may come before or after the command."""
    command = requested_command(argv)
    parser = build_parser([command] if command else [])
    args = parser.parse_args(argv)
    if args.command is not None and args.command != command:
        # the pre-scan read the line differently (an abbreviated option): parse with every command
        parser = build_parser()
        args = parser.parse_args(argv)
    args.verbose += vars(args).pop(_LATE_VERBOSE, 0)
    return parser, args


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
    names: dict[str, str | None] = {}
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


def _default_handler() -> Callable[[argparse.Namespace], int] | None:
    """The GUI handler when the GUI command is available (bare ``biofeedback``)."""
    if "gui" not in available_commands():
        return None
    module = importlib.import_module("biofeedback.cli.gui")
    defaults = build_parser(["gui"]).parse_args(["gui"])
    return lambda _args: int(module.run(defaults))
