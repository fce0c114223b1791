"""``biofeedback replay SESSION|PATH``: replay a stored session, or play a file like a live board.

A stored session opens the replay window (play/pause, seek, speed, jump to a phase, with the
session's own targets: :mod:`biofeedback.gui.replay_window`). A recording file, a session with
``--live`` or ``--protocol``, opens the main window on ``replay://...`` as a live source; with
``--headless`` it streams through the pipeline and prints a summary like ``biofeedback stream``.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from urllib.parse import quote, urlencode

from biofeedback.cli.common import (
    add_pipeline_options,
    add_recording_file_options,
    check_duration,
    open_existing_store,
    pipeline_settings_from_args,
)
from biofeedback.errors import SourceURLError

#: command-line option -> replay URL option, for recording files (``--pot-kohm``, a pipeline
#: option every command shares, also goes into a file's URL as ``pot``: see :func:`replay_url`)
_FILE_OPTIONS = {
    "fs": "fs",
    "units": "units",
    "channels": "channels",
    "columns": "columns",
    "time": "time",
    "names": "names",
    "board": "board",
    "adc_bits": "adc_bits",
    "vref": "vref",
    "gain": "gain",
    "scale_uv": "scale_uv",
    "stream": "stream",
}


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``replay`` subcommand."""
    p = sub.add_parser(
        "replay",
        description=(
            "Replay a stored session (its id) in the replay window, with its own phases and "
            "targets; or play a recording file (or a session with --live) through the pipeline, "
            "in the main window or --headless. Files that do not state their sampling rate or units need "
            "--fs and --units (the error says which)."
        ),
    )
    p.add_argument("target", metavar="SESSION|PATH", help="session id, file path or replay:// URL")
    p.add_argument(
        "--speed",
        default="1",
        help="1 = real time, a factor such as 4, or max (the replay window: 0.5, 1, 2, 4 or 8)",
    )
    p.add_argument(
        "--live",
        action="store_true",
        help="a stored session in the main window as a live source (today's targets), not the "
        "replay window",
    )
    p.add_argument("--headless", action="store_true", help="no window: stream and print a summary")
    p.add_argument("--json", action="store_true", help="with --headless: one JSON object")
    p.add_argument(
        "--duration", type=float, metavar="SECONDS", help="with --headless: stop after SECONDS"
    )
    p.add_argument(
        "--protocol", metavar="NAME", help="protocol to prepare in the main window (implies --live)"
    )
    add_recording_file_options(p.add_argument_group("recording files"))
    add_pipeline_options(p)
    p.set_defaults(handler=run)


def replay_url(args: argparse.Namespace) -> str:
    """The replay:// URL for the target and options (checks that the session or file exists)."""
    check_duration(getattr(args, "duration", None))
    target = str(args.target).strip()
    options = {
        url_key: getattr(args, key)
        for key, url_key in _FILE_OPTIONS.items()
        if getattr(args, key, None) is not None
    }
    speed = str(args.speed)
    if target.startswith("replay://"):
        return target
    if target.isascii() and target.isdigit():
        from biofeedback.core.limits import parse_session_id

        session_id = parse_session_id(target, "session")
        if options:
            raise SourceURLError(
                f"--{next(iter(options)).replace('_', '-')} is for recording files, not stored "
                "sessions"
            )
        with open_existing_store() as db:
            db.get_session(session_id)  # a clear error if there is no such session
        query = urlencode({"speed": speed})
        return f"replay://{session_id}?{query}"
    path = Path(target).expanduser()
    if not path.is_file():
        raise SourceURLError(
            f"{target!r} is neither a session id nor a file: list sessions with 'biofeedback sessions'"
        )
    if getattr(args, "pot_kohm", None) is not None:
        options["pot"] = args.pot_kohm  # the file's ENV column in counts: its gain pot
    query = urlencode({**{k: str(v) for k, v in options.items()}, "speed": speed})
    return f"replay://{quote(str(path.resolve()))}?{query}"


def run(args: argparse.Namespace) -> int:
    """Open the window on the replay, or stream it headless with a summary."""
    pipeline_settings_from_args(args)  # the options' errors name the option, before any opening
    url = replay_url(args)
    if args.headless:
        from biofeedback.cli import stream

        ns = argparse.Namespace(**vars(args))
        ns.source = url
        return stream.run(ns)
    session_id = stored_session_id(str(args.target))
    if session_id is not None and not args.live and args.protocol is None:
        return open_replay_window(session_id, str(args.speed))
    from biofeedback.cli import gui

    return gui.run(argparse.Namespace(source=url, protocol=args.protocol))


def stored_session_id(target: str) -> int | None:
    """The session id when ``target`` names a stored session by its id (not a URL or file)."""
    target = target.strip()
    if target.isascii() and target.isdigit():
        from biofeedback.core.limits import parse_session_id

        return parse_session_id(target, "session")
    return None


def replay_window_speed(text: str) -> float:
    """``--speed`` for the replay window: one of its speeds (SourceURLError otherwise)."""
    from biofeedback.appmodel.replay import SPEEDS

    try:
        speed = float(text)
    except ValueError:
        speed = math.nan
    if speed not in SPEEDS:
        choices = ", ".join(f"{s:g}" for s in SPEEDS)
        raise SourceURLError(
            f"--speed {text}: the replay window plays at {choices}; use --live or --headless for "
            "other speeds"
        )
    return speed


def open_replay_window(session_id: int, speed_text: str) -> int:
    """Read the session (a bad id is one line, exit 2) and run the replay window."""
    speed = replay_window_speed(speed_text)
    from biofeedback.appmodel.replay import ReplayModel
    from biofeedback.cli.gui import display_problem

    model = ReplayModel.open(None, session_id)
    model.set_speed(speed)
    problem = display_problem()
    if problem:
        sys.stderr.write(f"biofeedback: {problem}\n")
        return 2
    from biofeedback.gui.replay_window import run_replay_app

    return run_replay_app(model)
