"""``biofeedback gui [--source URL] [--protocol NAME|FILE]``: open the window (also bare ``biofeedback``).

A ``--protocol`` is loaded and validated before the window opens: an unknown name or an invalid
file is one line (the messages of ``protocols validate``) and exit 2. Qt aborts the whole process (no exception) when it cannot reach a display, so the display is
checked first and a missing one is reported in one line with what to do instead.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path
from typing import Any

from biofeedback.cli.common import add_streaming_options

#: Qt platform plugins that need no display server.
HEADLESS_PLATFORMS = ("offscreen", "minimal", "vnc", "linuxfb", "eglfs")

NO_DISPLAY_HINT = (
    "run it from a desktop session, or use the headless commands "
    "(biofeedback stream / record --source URL)"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``gui`` subcommand."""
    parser = subparsers.add_parser(
        "gui",
        description="Open the biofeedback window. Without --source it opens the last used source, "
        "else a detected board, else the simulated sensor.",
    )
    parser.add_argument(
        "--source",
        metavar="URL",
        default=None,
        help='source URL, e.g. "sim://?scenario=relax", serial:///dev/ttyACM0, replay://SESSION, auto',
    )
    parser.add_argument(
        "--protocol",
        metavar="NAME|FILE",
        default=None,
        help="training protocol to prepare in the session panel: a name (see: biofeedback "
        "protocols list) or a protocol file (.toml), validated before the window opens",
    )
    # the window's Streaming menu switched on from the command line (and remembered like it)
    add_streaming_options(parser)
    parser.set_defaults(handler=run)


def display_problem(environ: dict[str, str] | None = None, platform: str | None = None) -> str:
    """Why no window can be shown here, or "" if a display looks reachable.

    Checks what Qt would use: an explicit headless QT_QPA_PLATFORM is fine; on Linux/BSD a
    Wayland socket or an X display whose socket (or TCP port) answers is needed.
    """
    env = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    qpa = env.get("QT_QPA_PLATFORM", "").split(":")[0].strip().lower()
    if qpa in HEADLESS_PLATFORMS:
        return ""
    if platform.startswith(("win", "darwin", "cygwin")):
        return ""
    wayland = env.get("WAYLAND_DISPLAY", "")
    if wayland:
        runtime = env.get("XDG_RUNTIME_DIR", "")
        path = Path(wayland) if wayland.startswith("/") else Path(runtime) / wayland
        if path.exists():
            return ""
    display = env.get("DISPLAY", "")
    if not display:
        return f"no display found (DISPLAY is not set): {NO_DISPLAY_HINT}"
    if _x_display_reachable(display):
        return ""
    return f"cannot connect to the display {display!r}: {NO_DISPLAY_HINT}"


def _x_display_reachable(display: str) -> bool:
    host, _, rest = display.rpartition(":")
    number = rest.split(".")[0]
    if not number.isdigit():
        return False
    if host in ("", "unix") or host.startswith("/"):
        if host.startswith("/"):  # macOS launchd-style socket path
            return Path(display).exists()
        return Path(f"/tmp/.X11-unix/X{number}").exists()
    try:
        with socket.create_connection((host, 6000 + int(number)), timeout=1.0):
            return True
    except OSError:
        return False


def streaming_switches(args: argparse.Namespace) -> dict[str, Any] | None:
    """The Streaming menu's settings that ``--lsl``/``--osc``/``--osc-rate`` switch on (None
    when none is given); a bad value raises SourceURLError (one line, exit 2)."""
    lsl, osc, rate = (getattr(args, k, None) for k in ("lsl", "osc", "osc_rate"))
    if not lsl and osc is None and rate is None:
        return None
    from biofeedback.errors import SourceURLError
    from biofeedback.interop.osc import DEFAULT_RATE_HZ, check_rate, parse_target

    switches: dict[str, Any] = {"lsl": True} if lsl else {}
    if rate is not None and osc is None:
        raise SourceURLError("--osc-rate needs --osc HOST:PORT (where to send)")
    if osc is not None:
        target = parse_target(osc)
        switches.update(
            osc=True,
            osc_host=target.host,
            osc_port=target.port,
            osc_rate_hz=DEFAULT_RATE_HZ if rate is None else check_rate(rate),
        )
    return switches


def checked_protocol(name_or_path: str | None) -> str | None:
    """The ``--protocol`` the window gets: a name as given, a file as its absolute path (so the
    window can remember it). Loads and validates it first: an unknown name or an invalid file
    raises ProtocolFileError (one line, exit 2) before any window opens."""
    if not name_or_path:
        return None
    from biofeedback.core.tomlfile import as_file
    from biofeedback.training.protocol import load_protocol

    load_protocol(name_or_path)
    path = as_file(name_or_path)
    return name_or_path if path is None else str(path.resolve())


def run(args: argparse.Namespace) -> int:
    """Open the window; returns the exit code (2 with one line when there is no display)."""
    protocol = checked_protocol(getattr(args, "protocol", None))
    streaming = streaming_switches(args)
    problem = display_problem()
    if problem:
        sys.stderr.write(f"biofeedback: {problem}\n")
        return 2
    try:
        from biofeedback.gui.main_window import run_app
    except ImportError as exc:
        sys.stderr.write(
            f"biofeedback: the window cannot start ({exc}); reinstall with pip install -e .\n"
        )
        return 2
    import platformdirs

    from biofeedback.cli.logs import add_app_log

    # the window has no terminal to tell: failures and their tracebacks go to a rotating log
    add_app_log(Path(platformdirs.user_log_dir("biofeedback")))
    return run_app(
        source=getattr(args, "source", None),
        protocol=protocol,
        streaming=streaming,
    )
