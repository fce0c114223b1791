"""``biofeedback stream``: run the live pipeline headless with a terminal meter and a summary."""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time

from biofeedback.cli.common import (
    add_pipeline_options,
    add_streaming_options,
    check_duration,
    pipeline_settings_from_args,
    streaming_options_from_args,
)
from biofeedback.errors import BiofeedbackError, SourceURLError

TYPE_CHECKING = False  # typing and the engine are not imported at start-up (see biofeedback.cli)
if TYPE_CHECKING:
    from typing import Any

    from biofeedback.devices.base import DeviceStatus
    from biofeedback.engine import Engine, EngineFault, EnvelopeStats
    from biofeedback.interop.streaming import Streaming, StreamingOptions

DEFAULT_SOURCE = "sim://?scenario=relax"


log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``stream`` subcommand."""
    p = sub.add_parser(
        "stream",
        description=(
            "Stream from a source through the real-time pipeline without a window. Shows a live meter "
            "of muscle tension (uV RMS at the electrodes) per channel, then a summary."
        ),
    )
    p.add_argument(
        "--source",
        default=DEFAULT_SOURCE,
        metavar="URL",
        help=f"source URL (default {DEFAULT_SOURCE}); e.g. serial:///dev/ttyACM0, replay://12",
    )
    p.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds of signal to stream",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object, no meter")
    p.add_argument(
        "--reconnect-s",
        type=float,
        metavar="SECONDS",
        help="how long a lost board may stay away before the stream ends (0-600, default 30)",
    )
    add_pipeline_options(p)
    add_streaming_options(p)
    p.set_defaults(handler=run)


def _start_streaming(
    engine: Engine, options: StreamingOptions, notes: list[str]
) -> Streaming | None:
    """Attach LSL/OSC to the engine when switched on (None when not: nothing is opened). What
    goes wrong later is said on stderr and kept in ``notes``."""
    if not options.active:
        return None
    from biofeedback.interop.streaming import Streaming

    def problem(message: str) -> None:
        notes.append(message)
        sys.stderr.write(f"\nbiofeedback: {message}\n")

    streaming = Streaming(options, on_problem=problem)
    streaming.attach(engine)
    log.info("streaming: %s", options.describe())
    return streaming


def _fmt(value: float) -> str:
    return "  --  " if not math.isfinite(value) else f"{value:6.1f}"


def _meter_line(
    engine: Engine, stats: EnvelopeStats, names: list[str], elapsed_s: float, total_s: float | None
) -> str:
    from biofeedback.core.types import Flag
    from biofeedback.devices.base import DeviceState

    parts = []
    for k, name in enumerate(names):
        bits = int(stats.latest_flags[k])
        problem = ",".join(n for n in Flag.describe(bits) if n != "settling")
        parts.append(
            f"{name} {_fmt(float(stats.latest[k]))} uV{' [' + problem + ']' if problem else ''}"
        )
    clock = f"{elapsed_s:6.1f}s" + (f"/{total_s:.0f}s" if total_s else "")
    state = (
        ""
        if engine.state == DeviceState.CONNECTED
        else f"  ({engine.state}: {engine.last_message})"
    )
    # \x1b[K clears what a longer previous line left behind
    return f"\r{clock}  " + "   ".join(parts) + state + "\x1b[K"


def run(args: argparse.Namespace) -> int:
    """Stream, show the meter (unless --json), print the summary; exit 0 on success."""
    from biofeedback.cli.signals import stop_signals_interrupt
    from biofeedback.devices.base import DeviceState
    from biofeedback.engine import Engine, EnvelopeStats

    check_duration(args.duration)
    settings = pipeline_settings_from_args(args)
    streaming_options = streaming_options_from_args(args)
    engine = Engine(args.source, settings)
    engine.device.set_reconnect_window(getattr(args, "reconnect_s", None))
    if args.duration is None and engine.device.info is None:
        engine.open()
    if (
        args.duration is None
        and engine.info is not None
        and not engine.info.realtime
        and not engine.device.finite
    ):
        engine.close()
        raise SourceURLError(
            f"{args.source} runs as fast as possible (speed=max): give --duration S, "
            "or drop speed=max to stream in real time until Ctrl-C"
        )
    errors: list[str] = []
    notes: list[str] = []  # said while streaming, kept for the summary (LSL/OSC stopped, ...)

    def on_fault(fault: EngineFault) -> None:
        if fault.fatal:  # streaming (LSL, OSC) is not essential: it says so itself
            errors.append(fault.message)

    def on_status(status: DeviceStatus) -> None:
        if status.warning:  # e.g. a board faster than it declares; also in the summary
            if not args.json:
                sys.stderr.write(f"\nbiofeedback: warning: {status.message}\n")
        elif status.state == DeviceState.ERROR:
            errors.append(status.message)
        elif status.state in (DeviceState.RECONNECTING, DeviceState.LOST) and not args.json:
            sys.stderr.write(f"\n{status.state}: {status.message}\n")

    with engine, stop_signals_interrupt():
        info = engine.info
        assert info is not None and engine.pipeline is not None
        outputs = engine.pipeline.outputs
        stats = EnvelopeStats(len(outputs), info.fs_hz)
        engine.add_sink(stats.add, name="the stream statistics", essential=True)
        engine.add_status_listener(on_status)
        engine.add_fault_listener(on_fault)
        streaming = _start_streaming(engine, streaming_options, notes)
        limit = None if args.duration is None else round(args.duration * info.fs_hz)
        names = [o.name for o in outputs]
        t0 = time.monotonic()
        engine.start(max_samples=limit)
        interactive = not args.json and sys.stderr.isatty()
        try:
            while not engine.wait(0.25):
                if not args.json:
                    elapsed = stats.samples / info.fs_hz
                    line = _meter_line(engine, stats, names, elapsed, args.duration)
                    if interactive:
                        sys.stderr.write(line)
                        sys.stderr.flush()
        except KeyboardInterrupt:  # Ctrl-C, SIGTERM, SIGHUP end the stream; the summary follows
            log.info("stream ended early by the user or a stop signal")
        engine.stop()
        wall_s = time.monotonic() - t0
        if streaming is not None:
            streaming.close()
        if interactive:
            sys.stderr.write("\n")

    summary = build_summary(engine, stats, wall_s)
    if streaming is not None:
        summary["streaming"] = streaming.stats()
        summary["warnings"].extend(notes)
    if errors and stats.samples == 0:
        raise BiofeedbackError(errors[-1])
    ended_early = (
        not errors
        and args.duration is not None
        and stats.samples < round(args.duration * info.fs_hz)
        and str(engine.state) == "finished"
    )
    if ended_early:
        summary["warnings"].append(
            f"the source ended after {summary['duration_s']:g} s, before --duration {args.duration:g} s"
        )
    if args.json:
        print(json.dumps(summary))
    else:
        print_summary(summary)
        if errors:
            sys.stderr.write(f"biofeedback: stream ended early: {errors[-1]}\n")
    return 1 if errors or ended_early else 0


def build_summary(engine: Engine, stats: EnvelopeStats, wall_s: float) -> dict[str, Any]:
    """The JSON summary of a stream (documented in docs/cli.md)."""
    info, pipeline = engine.info, engine.pipeline
    assert info is not None and pipeline is not None
    mean, median = stats.mean(), stats.median()
    floors = pipeline.noise_floor_uv
    channels = []
    warnings: list[str] = []
    if info.extra.get("notes"):  # how a replayed file was read
        warnings.append(info.extra["notes"])
    warnings.extend(getattr(engine.device, "warnings", []))  # said while streaming
    for k, out in enumerate(pipeline.outputs):
        note = getattr(out, "warning", "") or ""
        if note:
            warnings.append(f"{out.name}: {note}")
        channels.append(
            {
                "name": out.name,
                "kind": str(out.kind),
                "rms_uv_mean": None if not math.isfinite(mean[k]) else round(float(mean[k]), 4),
                "rms_uv_median": None
                if not math.isfinite(median[k])
                else round(float(median[k]), 4),
                "noise_floor_uv": round(float(floors[k]), 4),
                "resolves_rest": bool(getattr(out, "resolves_rest", True)),
                "pass_band": getattr(out, "passband", ""),
            }
        )
    device_stats = engine.device.stats
    return {
        "source": engine.device.url,
        "device": info.device,
        "board": info.board,
        "adc_bits": info.adc_bits,
        "fs_hz": info.fs_hz,
        "fs_estimated": info.fs_estimated,
        "samples": stats.samples,
        "duration_s": round(stats.samples / info.fs_hz, 3),
        "wall_s": round(wall_s, 3),
        "dropped": stats.missing,
        "frame_errors": device_stats.frame_errors,
        "overruns": device_stats.overruns,
        "reconnects": device_stats.reconnects,
        "channels": channels,
        "quality": stats.quality(),
        "pipeline": pipeline.describe(),
        "warnings": warnings,
        "state": str(engine.state),
    }


def print_summary(summary: dict[str, Any]) -> None:
    """Human-readable summary."""
    print(
        f"Streamed {summary['duration_s']:.1f} s at {summary['fs_hz']:g} Hz"
        f"{' (estimated)' if summary['fs_estimated'] else ''} from {summary['device'] or summary['source']}"
        f" ({summary['samples']} samples, {summary['dropped']} missing)"
    )
    print(f"{'channel':<10}{'kind':<6}{'mean':>10}{'median':>10}{'noise floor':>14}   flagged")
    for k, ch in enumerate(summary["channels"]):

        def show(v: float | None) -> str:
            return "--" if v is None else f"{v:.2f}"

        flagged = summary["quality"]["pct_flagged"][k]
        print(
            f"{ch['name']:<10}{ch['kind']:<6}{show(ch['rms_uv_mean']):>10}{show(ch['rms_uv_median']):>10}"
            f"{show(ch['noise_floor_uv']):>14}   {flagged:.1f} %"
        )
    print("(uV RMS at the electrodes; statistics exclude flagged samples)")
    problems = [
        f"{name[4:]} {max(vals):.1f} %"
        for name, vals in summary["quality"].items()
        if name.startswith("pct_") and name not in ("pct_flagged", "pct_settling") and max(vals) > 0
    ]
    if problems:
        print("Quality: " + ", ".join(problems) + " of samples")
    for warning in summary["warnings"]:
        print(f"Note: {warning}")
