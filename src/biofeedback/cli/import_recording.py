"""``biofeedback import FILE``: store a recording made elsewhere as a session.

The command is ``import``; its module has another name because ``import`` is a Python keyword
(see :data:`biofeedback.cli.MODULE_NAMES`). The file's own start time and markers are kept; the
options say what the file does not (the same as ``replay``'s for recording files). A file
imported before is refused with the id of its session unless ``--again`` is given.
"""

from __future__ import annotations

import argparse
import json
import sys

from biofeedback.cli.common import (
    add_pipeline_options,
    add_recording_file_options,
    pipeline_settings_from_args,
)
from biofeedback.session_details import TEXT_FIELDS

TYPE_CHECKING = False  # typing and the store are not imported at start-up (see biofeedback.cli)
if TYPE_CHECKING:
    from typing import Any

    from biofeedback.storage.importing import RecordingOptions


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``import`` subcommand."""
    p = sub.add_parser(
        "import",
        description=(
            "Store a recording made by another program as a session, with the file's own start "
            "time and markers, so sessions, export, report and replay work on it. Reads EDF, "
            "EDF+ and BDF (annotations become markers), XDF (LabRecorder; --stream picks the "
            "EMG stream, marker streams become markers), WAV (Backyard Brains' NAME-events.txt "
            "beside it becomes markers) and CSV/text (OpenBCI GUI, BrainFlow, Chords-Python, "
            "our own export). A file that does not state its rate or units needs --fs and "
            "--units (the error says which). Files up to 2 GiB."
        ),
    )
    p.add_argument("file", metavar="FILE", help="the recording file")
    p.add_argument("--subject", metavar="ID", help="pseudonymous subject id, e.g. P007")
    p.add_argument(
        "--again",
        action="store_true",
        help="import a file that was imported before (by default it is refused)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object, no progress")
    add_recording_file_options(p.add_argument_group("what the file does not state (as for replay)"))
    details = p.add_argument_group("session details (shown in the clinician report)")
    for name in TEXT_FIELDS:
        details.add_argument(
            f"--{name.replace('_', '-')}", dest=name, metavar="TEXT", help=name.replace("_", " ")
        )
    add_pipeline_options(p)
    p.set_defaults(handler=run)


def _split(text: str | None) -> list[str] | None:
    if text is None:
        return None
    items = [item.strip() for item in text.split(",") if item.strip()]
    return items or None


def recording_options(args: argparse.Namespace) -> RecordingOptions:
    """The file options given on the command line (checked as replay:// checks them)."""
    from biofeedback.errors import SourceURLError
    from biofeedback.storage.importing import RecordingOptions

    limits = {
        "fs": (0.1, 1e6),
        "adc_bits": (1, 24),
        "vref": (0.01, 100.0),
        "gain": (1e-6, 1e9),
        "scale_uv": (1e-12, 1e12),
        "pot_kohm": (0.0, 1000.0),
    }
    for key, (lo, hi) in limits.items():
        value = getattr(args, key, None)
        if value is not None and not lo <= value <= hi:
            option = "--" + key.replace("_", "-")
            raise SourceURLError(f"{option} {value:g}: give a value from {lo:g} to {hi:g}")
    return RecordingOptions(
        fs_hz=args.fs,
        units=args.units,
        channels=_split(args.channels),
        columns=_split(args.columns),
        time_column=args.time,
        names=_split(args.names),
        board=args.board,
        adc_bits=args.adc_bits,
        vref_v=args.vref,
        gain=args.gain,
        pot_kohm=getattr(args, "pot_kohm", None),
        scale_uv=args.scale_uv,
        stream=args.stream,
    )


def run(args: argparse.Namespace) -> int:
    """Import the file; print the new session's id and what was read (or one JSON object)."""
    from biofeedback.storage.database import Database
    from biofeedback.storage.import_session import import_file

    settings = pipeline_settings_from_args(args)
    options = recording_options(args)
    details: dict[str, Any] = {
        name: getattr(args, name) for name in TEXT_FIELDS if getattr(args, name) is not None
    }
    show = not args.json and sys.stderr.isatty()

    def progress(fraction: float, what: str) -> None:
        if show:
            sys.stderr.write(f"\rimporting {args.file}: {what} {100 * fraction:5.1f} %   ")
            sys.stderr.flush()

    with Database() as db:
        try:
            result = import_file(
                db,
                args.file,
                options,
                subject_id=args.subject,
                details=details,
                again=args.again,
                progress=progress,
                pipeline=settings,
            )
        finally:
            if show:
                sys.stderr.write("\n")
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    print(
        f"Imported {result.path.name} ({result.format}) as session {result.session_id}: "
        f"{len(result.channels)} channel(s) at {result.fs_hz:g} Hz, {result.duration_s:.1f} s, "
        f"{result.markers} marker(s), recorded {result.start_time.replace('T', ' ')} "
        f"(from {result.start_time_source})."
    )
    for note in result.notes:
        print(f"  note: {note}")
    print(
        f"See it with: biofeedback report {result.session_id} -o report.pdf  |  "
        f"biofeedback replay {result.session_id}"
    )
    return 0
