"""Options shared by several subcommands (pipeline settings, output formats)."""

from __future__ import annotations

import argparse

from biofeedback.core import limits
from biofeedback.core.limits import check_number
from biofeedback.dsp.pipeline import PipelineSettings


def check_duration(value: float | None, option: str = "--duration") -> None:
    """A duration option: finite, positive, at most ``limits.MAX_DURATION_S`` (24 h)."""
    limits.check_duration(value, option)


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
