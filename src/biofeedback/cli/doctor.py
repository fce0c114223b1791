"""``biofeedback doctor``: check a connection end to end and say how to fix each problem.

Streams for a few seconds through the real pipeline (the same Engine the app uses) and checks:
the sample rate achieved against the nominal one (and the device's own rate monitor: a board
sending more than 5 % faster or slower than it declares, for 2 s), damaged frames, gaps,
firmware buffer overruns, reconnects, the noise floor against the level a relaxed muscle shows,
mains hum (before the notch) and the share of clipped / flat / motion / invalid samples. Exit
code 0 when all is well, 1 when problems were found, 2 when no connection could be made.
"""

from __future__ import annotations

import argparse

TYPE_CHECKING = False  # typing is not imported at start-up (see biofeedback.cli)
if TYPE_CHECKING:
    from biofeedback.diagnostics import Checks, Diagnosis


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``doctor`` subcommand."""
    p = sub.add_parser("doctor", description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    p.add_argument(
        "--source", default="auto", help="source URL (default auto: the first board that answers)"
    )
    p.add_argument(
        "--duration",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how long to listen (default 10)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    from biofeedback.cli.common import add_pipeline_options

    add_pipeline_options(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the checks (:mod:`biofeedback.diagnostics`); print the report; exit 0 / 1 / 2."""
    from biofeedback.cli.common import check_duration, pipeline_settings_from_args
    from biofeedback.diagnostics import check_source

    check_duration(args.duration, "--duration")
    diagnosis = check_source(args.source, pipeline_settings_from_args(args), args.duration)
    if args.json:
        import json

        print(json.dumps(diagnosis.to_dict()))
    else:
        print_text(diagnosis)
    if not diagnosis.connected:
        return 2
    return 0 if diagnosis.ok else 1


def print_text(diagnosis: Diagnosis) -> None:
    """The report for a terminal: the figures, the verdict, each problem with its fix, notes."""
    print(f"biofeedback doctor: {diagnosis.source}")
    if diagnosis.checks is not None:
        print(
            f"  device       {diagnosis.device}, {diagnosis.board} {diagnosis.adc_bits}-bit, "
            f"channels {', '.join(diagnosis.channels)}"
        )
        _print_checks(diagnosis.checks)
    print(f"verdict: {diagnosis.verdict}")
    for p in diagnosis.problems:
        print(f"  - {p.problem}\n    fix: {p.fix}")
    for note in diagnosis.notes:
        print(f"  note: {note}")


def _print_checks(c: Checks) -> None:
    r = c.rate
    if r.achieved_hz is not None:
        est = " (estimated)" if r.estimated else ""
        print(f"  rate         {r.achieved_hz:.1f} Hz of {r.nominal_hz:g} Hz nominal{est}")
    if r.measured_hz is not None:
        verdict = "off by more than 5 %" if r.flagged else "within 5 %"
        print(
            f"  rate monitor {r.measured_hz:.1f} Hz measured, {r.declared_hz:g} Hz "
            f"declared: {verdict}"
        )
    link = c.link
    print(
        f"  link         {link.frame_errors} damaged frames, {link.missing_samples} samples missing "
        f"in {link.gaps} gaps, {link.overruns} overruns, {link.reconnects} reconnects"
    )
    floors = ", ".join(f"{f.output} {f.model_uv:g} uV" for f in c.noise_floor)
    print(f"  noise floor  {floors} RMS (hardware model, removed in quadrature)")
    quiet = ", ".join(
        f"{f.output} {f.measured_quietest_1s_rms_uv:g} uV"
        for f in c.noise_floor
        if f.measured_quietest_1s_rms_uv is not None
    )
    if quiet:
        print(f"  quietest 1 s {quiet} RMS (noise floor plus any muscle activity)")
    ratios = [x for x in c.mains.ratio or [] if x is not None]
    if ratios:
        print("  mains        " + ", ".join(f"{x:.2f}" for x in ratios) + " (hum / in-band power)")
    q = c.quality
    print(
        f"  quality      clipping {q.clipping:.1%}, flat {q.flat:.1%}, motion {q.motion:.1%}, "
        f"invalid {q.invalid:.1%}"
    )
