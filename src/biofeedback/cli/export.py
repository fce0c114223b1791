"""``biofeedback export SESSION --format edf|csv -o PATH``: write a session for other tools."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from biofeedback.cli.common import add_clinic_option, open_store_or_clinic
from biofeedback.errors import StorageError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``export`` subcommand."""
    p = sub.add_parser(
        "export",
        description=(
            "Export a stored session. EDF+: one signal per input channel in uV at the electrodes "
            "(lossless for ADC counts) with phases, markers and threshold changes as annotations. "
            "CSV: a commented header (fs, units, filters), a time column, and per channel the raw "
            "signal, the filtered signal and the envelope in uV with the quality flags."
        ),
    )
    p.add_argument("session", metavar="SESSION", help="session id (see: biofeedback sessions)")
    # checked when the command runs (the formats live with the writers, not imported for --help)
    p.add_argument("--format", help="edf or csv (default: from the -o suffix)")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="file to write")
    p.add_argument(
        "--csv-rate",
        type=float,
        metavar="HZ",
        help=(
            "compact CSV for spreadsheets: per channel the envelope (uV RMS, mean of each bin) "
            "and the quality flags at HZ rows per second, e.g. 100 (default: every sample, "
            "with the raw and filtered signal)"
        ),
    )
    p.add_argument("--json", action="store_true", help="print one JSON object, no progress")
    add_clinic_option(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Export; print where the file went (or one JSON object)."""
    from biofeedback.core.limits import parse_session_id
    from biofeedback.storage.export import FORMATS, export_session

    session_id = parse_session_id(args.session)
    path = Path(args.output).expanduser()
    if args.format is not None and args.format not in FORMATS:
        raise StorageError(
            f"--format {args.format!r} is not known: use --format edf or --format csv"
        )
    fmt = args.format or path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise StorageError(
            f"cannot tell the format from {path.name!r}: add --format edf or --format csv"
        )
    if args.csv_rate is not None and fmt != "csv":
        raise StorageError("--csv-rate applies to CSV exports only (EDF+ keeps every sample)")
    show = not args.json and sys.stderr.isatty()

    def progress(fraction: float) -> None:
        if show:
            sys.stderr.write(
                f"\rexporting session {session_id} as {fmt.upper()}: {100 * fraction:5.1f} %"
            )
            sys.stderr.flush()

    with open_store_or_clinic(args, session_id=session_id) as db:
        result = export_session(
            db, session_id, fmt, path, progress=progress, csv_rate_hz=args.csv_rate
        )
    if show:
        sys.stderr.write("\n")
    if args.json:
        print(
            json.dumps(
                {
                    "session_id": session_id,
                    "path": str(result.path),
                    "format": result.format,
                    "samples": result.samples,
                    "channels": result.channels,
                    "annotations": result.annotations,
                    "bytes": result.bytes,
                    "seconds": round(result.seconds, 3),
                    "csv_rate_hz": args.csv_rate,
                }
            )
        )
    else:
        kind = "EDF+" if result.format == "edf" else "CSV"
        if args.csv_rate is not None:
            kind = f"compact CSV at {args.csv_rate:g} Hz"
        print(
            f"Wrote {result.path} ({kind}, {result.channels} channels, {result.samples} samples, "
            f"{result.bytes / 1e6:.1f} MB)"
        )
    return 0
