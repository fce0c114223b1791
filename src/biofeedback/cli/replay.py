"""``biofeedback replay SESSION|PATH``: play a stored session or a recording file like a live board.

Opens the window on ``replay://...``; with ``--headless`` it streams through the pipeline and
prints a summary like ``biofeedback stream``.
"""

from __future__ import annotations

import argparse
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
            "Replay a stored session (its id) or a recording file through the pipeline, in the "
            "window or --headless. Files that do not state their sampling rate or units need "
            "--fs and --units (the error says which)."
        ),
    )
    p.add_argument("target", metavar="SESSION|PATH", help="session id, file path or replay:// URL")
    p.add_argument("--speed", default="1", help="1 = real time, a factor such as 4, or max")
    p.add_argument("--headless", action="store_true", help="no window: stream and print a summary")
    p.add_argument("--json", action="store_true", help="with --headless: one JSON object")
    p.add_argument(
        "--duration", type=float, metavar="SECONDS", help="with --headless: stop after SECONDS"
    )
    p.add_argument("--protocol", metavar="NAME", help="protocol to prepare in the window")
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
    from biofeedback.cli import gui

    return gui.run(argparse.Namespace(source=url, protocol=args.protocol))
