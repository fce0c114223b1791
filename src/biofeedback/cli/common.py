"""Options shared by several subcommands (pipeline settings, output formats)."""

from __future__ import annotations

import argparse
import math

from biofeedback.dsp.pipeline import PipelineSettings
from biofeedback.errors import SourceURLError


def check_duration(value: float | None, option: str = "--duration") -> None:
    """A duration option must be a finite, positive number of seconds."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise SourceURLError(f"{option} must be a positive number of seconds (got {value:g})")


def add_pipeline_options(parser: argparse.ArgumentParser) -> None:
    """Add the signal-processing options (SPEC.md section 2 defaults)."""
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
    if args.pot_kohm is not None and not (
        math.isfinite(args.pot_kohm) and 0 < args.pot_kohm <= 1000
    ):
        raise SourceURLError(
            f"--pot-kohm {args.pot_kohm:g} is not a gain-pot value: measure the MyoWare gain pot "
            "and give 0-1000 kOhm (the default pot is 50)"
        )
    if args.noise_floor_uv is not None and not (
        math.isfinite(args.noise_floor_uv) and 0 <= args.noise_floor_uv <= 50
    ):
        raise SourceURLError(
            f"--noise-floor-uv {args.noise_floor_uv:g} is implausible: a MyoWare noise floor is "
            "0.5-10 uV RMS; give a measured value between 0 and 50"
        )
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
