"""What several subcommands share: the signal-processing options, the streaming options (LSL,
OSC), the duration check, and finding the session database without creating it.

Command modules import this while their parser is built, so nothing heavy (numpy, the store) is
imported at the top: the functions that run a command import what they need.
"""

from __future__ import annotations

import argparse

TYPE_CHECKING = False  # typing is not imported at start-up (see biofeedback.cli)
if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import Any

    from biofeedback.dsp.pipeline import PipelineSettings
    from biofeedback.interop.streaming import StreamingOptions
    from biofeedback.storage.database import Database


def check_duration(value: float | None, option: str = "--duration") -> None:
    """A duration option: finite, positive, at most ``limits.MAX_DURATION_S`` (24 h)."""
    from biofeedback.core import limits

    limits.check_duration(value, option)


def store_path() -> Path:
    """The data folder's session database: where it is, or would be. Creates nothing."""
    from biofeedback.config import data_dir
    from biofeedback.storage.database import DB_FILENAME

    return data_dir(create=False) / DB_FILENAME


def existing_store_path() -> Path:
    """The data folder's session database; StorageError (one line, exit 2) when there is none.

    Commands that only read (sessions, export, report, replay, db) go through here, so on a
    machine without data they say so and create neither the data folder nor an empty database.
    """
    from biofeedback.storage.database import existing_database_path

    return existing_database_path()


def open_existing_store() -> Database:
    """The data folder's session database, opened (see :func:`existing_store_path`)."""
    existing_store_path()
    from biofeedback.storage.database import Database

    # opened the usual way (not by path), so the data folder's checks and backups apply
    return Database()


def add_clinic_option(parser: argparse.ArgumentParser) -> None:
    """``--clinic [URL]``: read from the clinic's database instead of this data folder."""
    parser.add_argument(
        "--clinic",
        nargs="?",
        const="",
        metavar="URL",
        help="read from the clinic's database (postgresql://USER@HOST/DB or service=NAME; "
        "without URL: the one set with 'biofeedback clinic set') instead of this data folder",
    )


def open_store_or_clinic(
    args: argparse.Namespace, *, subject: str | None = None, session_id: int | None = None
) -> Database:
    """The data folder's store, or with ``--clinic`` the clinic's data (its local cache, brought
    up to date; only ``subject``'s or session ``session_id``'s when given)."""
    clinic = getattr(args, "clinic", None)
    if clinic is None:
        return open_existing_store()
    from biofeedback.clinic.connect import resolve_clinic
    from biofeedback.clinic.mirror import clinic_database

    conninfo = resolve_clinic(clinic or None)
    return clinic_database(conninfo, subject=subject, session_id=session_id)


def add_pipeline_options(parser: argparse.ArgumentParser) -> None:
    """Add the signal-processing options (defaults and ranges: docs/signal-processing.md)."""
    group = parser.add_argument_group("signal processing")
    group.add_argument(
        "--mains",
        choices=["50", "60", "auto", "off"],
        default="50",
        help="mains notch frequency: 50 (Europe, Asia, Africa), 60 (Americas), auto, off (default 50)",
    )
    group.add_argument(
        "--rms-window-ms",
        type=float,
        default=100.0,
        metavar="MS",
        help="moving RMS window, 50-250 ms (default 100)",
    )
    group.add_argument(
        "--highpass-hz",
        type=float,
        default=20.0,
        metavar="HZ",
        help="band-pass lower edge (default 20; use 30 on the trunk or left trapezius to reject ECG)",
    )
    group.add_argument(
        "--pot-kohm",
        type=float,
        default=None,
        metavar="KOHM",
        help="measured MyoWare 2.0 gain-pot resistance for the ENV gain (default: the source's)",
    )
    group.add_argument(
        "--noise-floor-uv",
        type=float,
        default=None,
        metavar="UV",
        help="measured noise floor to remove in quadrature (default: hardware model)",
    )


def pipeline_settings_from_args(args: argparse.Namespace) -> PipelineSettings:
    """PipelineSettings from the options above (validated; errors say what to change)."""
    from biofeedback.core.limits import check_number
    from biofeedback.dsp.pipeline import PipelineSettings

    if args.pot_kohm is not None:
        check_number(
            args.pot_kohm,
            "--pot-kohm",
            0.0,
            1000.0,
            lo_open=True,
            hint="measure the MyoWare gain pot; the default pot is 50 kOhm",
        )
    if args.noise_floor_uv is not None:
        check_number(
            args.noise_floor_uv,
            "--noise-floor-uv",
            0.0,
            50.0,
            hint="a MyoWare noise floor is 0.5-10 uV RMS; give a measured value",
        )
    lo_s, hi_s = PipelineSettings.RMS_WINDOW_RANGE_S
    check_number(args.rms_window_ms, "--rms-window-ms", lo_s * 1000.0, hi_s * 1000.0)
    mains: float | str | None
    if args.mains == "off":
        mains = None
    elif args.mains == "auto":
        mains = "auto"
    else:
        mains = float(args.mains)
    return PipelineSettings(
        highpass_hz=args.highpass_hz,
        mains_hz=mains,
        rms_window_s=args.rms_window_ms / 1000.0,
        env_pot_kohm=args.pot_kohm,
        noise_floor_uv=args.noise_floor_uv,
    )


def add_streaming_options(parser: argparse.ArgumentParser, *, markers_in: bool = False) -> None:
    """Add ``--lsl``, ``--osc``, ``--osc-rate`` (and ``--lsl-markers`` for commands that store
    markers). Everything is off unless given (docs/interop.md)."""
    group = parser.add_argument_group(
        "streaming to other programs (off unless given; what each opens: docs/interop.md)"
    )
    group.add_argument(
        "--lsl",
        action="store_true",
        help="stream raw EMG, envelope and markers to Lab Streaming Layer "
        "(biofeedback-raw, biofeedback-envelope, biofeedback-markers)",
    )
    if markers_in:
        group.add_argument(
            "--lsl-markers",
            metavar="NAME",
            help="store the markers of the LSL marker stream NAME (e.g. from PsychoPy) "
            "as session markers",
        )
    group.add_argument(
        "--osc",
        metavar="HOST:PORT",
        help="send envelope, target and below/above as OSC (UDP) to HOST:PORT, e.g. 127.0.0.1:9000",
    )
    group.add_argument(
        "--osc-rate",
        type=float,
        metavar="HZ",
        help="OSC messages per second, 1-200 (default 20)",
    )


def streaming_options_from_args(args: argparse.Namespace) -> StreamingOptions:
    """StreamingOptions from the options above (validated: bad values are one line, exit 2)."""
    from biofeedback.errors import SourceURLError
    from biofeedback.interop.osc import DEFAULT_RATE_HZ, check_rate, parse_target
    from biofeedback.interop.streaming import StreamingOptions

    osc_text = getattr(args, "osc", None)
    rate = getattr(args, "osc_rate", None)
    if rate is not None and osc_text is None:
        raise SourceURLError("--osc-rate needs --osc HOST:PORT (where to send)")
    markers = getattr(args, "lsl_markers", None)
    if markers is not None and not markers.strip():
        raise SourceURLError("--lsl-markers is empty: give the name of the LSL marker stream")
    return StreamingOptions(
        lsl=bool(getattr(args, "lsl", False)),
        osc=None if osc_text is None else parse_target(osc_text),
        osc_rate_hz=DEFAULT_RATE_HZ if rate is None else check_rate(rate),
        lsl_markers=(markers or "").strip(),
    )


def validate_files(
    files: list[str],
    load: Callable[[str], Any],
    error: type[Exception],
    describe: Callable[[str, Any], tuple[str, dict[str, Any]]],
    as_json: bool,
) -> int:
    """``protocols validate`` / ``instruments validate``: load each file with ``load``; a file
    raising ``error`` is one line on stderr. ``describe(path, loaded)`` gives the "ok: ..." line
    and the JSON fields of a valid file. Exit 2 when any file failed."""
    import json
    import sys

    results = []
    failed = 0
    for path in files:
        try:
            loaded = load(path)
        except error as exc:
            failed += 1
            results.append({"file": path, "valid": False, "error": str(exc), "warnings": []})
            if not as_json:
                sys.stderr.write(f"biofeedback: {exc}\n")
            continue
        line, fields = describe(path, loaded)
        warnings = list(loaded.warnings)
        results.append({"file": path, "valid": True, "error": None, "warnings": warnings, **fields})
        if not as_json:
            print(line)
            for warning in warnings:
                print(f"warning: {warning}")
    if as_json:
        print(json.dumps({"valid": failed == 0, "files": results}))
    return 2 if failed else 0


def add_recording_file_options(files: argparse._ArgumentGroup) -> None:
    """The options for what a recording file does not state (``replay`` and ``import``; the
    same names as a ``replay:///path?...`` URL's options, storage/importing.py)."""
    files.add_argument("--fs", type=float, metavar="HZ", help="sampling rate")
    files.add_argument("--units", help="counts, uV, mV or V")
    files.add_argument("--channels", metavar="KINDS", help="kind per column: raw,env,rect,ref")
    files.add_argument("--columns", metavar="COLS", help="columns to use: numbers from 1 or names")
    files.add_argument("--time", metavar="COL", help="the time column (gives fs)")
    files.add_argument("--names", metavar="NAMES", help="channel names, comma separated")
    files.add_argument(
        "--board",
        help="uno, 12bit or uno-r4 (for --units counts); a Chords board (UNO-R4) for a "
        "Chords-Python CSV; a BrainFlow board name or id (cyton, 0) for a BrainFlow CSV",
    )
    files.add_argument("--adc-bits", dest="adc_bits", type=int, metavar="N", help="ADC bits")
    files.add_argument("--vref", type=float, metavar="V", help="ADC reference voltage")
    files.add_argument("--gain", type=float, help="analogue gain electrodes -> ADC (default 200)")
    files.add_argument(
        "--scale-uv", dest="scale_uv", type=float, metavar="UV", help="uV per file unit"
    )
    files.add_argument(
        "--stream", metavar="NAME", help="XDF: the signal stream (name, type or number)"
    )
