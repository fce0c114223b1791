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
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from biofeedback.cli.common import add_pipeline_options, check_duration, pipeline_settings_from_args
from biofeedback.core.types import ChannelKind, Chunk, Flag, ProcessedChunk
from biofeedback.devices.base import DeviceState, DeviceStatus
from biofeedback.engine import Engine
from biofeedback.errors import BiofeedbackError

#: Rate achieved within this fraction of nominal passes.
RATE_TOLERANCE = 0.03
CLIP_LIMIT = 0.01
FLAT_LIMIT = 0.5
MOTION_LIMIT = 0.05


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``doctor`` subcommand."""
    p = sub.add_parser(
        "doctor",
        help="check a connection end to end: rate, frame errors, gaps, noise floor, mains; with fixes",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    p.add_argument(
        "--source", default="auto", help="source URL (default auto: the first board that answers)"
    )
    p.add_argument(
        "--seconds", type=float, default=10.0, metavar="N", help="how long to listen (default 10)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_pipeline_options(p)
    p.set_defaults(handler=run)


@dataclass
class _Capture:
    """What the sink and the status listener saw."""

    arrivals: list[tuple[float, int]] = field(default_factory=list)
    signal: list[np.ndarray] = field(default_factory=list)
    flags: list[np.ndarray] = field(default_factory=list)
    input_flags: list[np.ndarray] = field(default_factory=list)
    statuses: list[DeviceStatus] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def sink(self, chunk: Chunk, out: ProcessedChunk) -> None:
        with self.lock:
            self.arrivals.append((time.monotonic(), chunk.end_index))
            self.signal.append(out.signal_uv.copy())
            self.flags.append(out.flags.copy())
            self.input_flags.append(np.asarray(chunk.flags).copy())

    def status(self, status: DeviceStatus) -> None:
        with self.lock:
            self.statuses.append(status)


def run(args: argparse.Namespace) -> int:
    """Run the checks; print the report; exit 0 / 1 / 2."""
    check_duration(args.seconds, "--seconds")
    settings = pipeline_settings_from_args(args)
    try:
        engine = Engine(args.source, settings)
        info = engine.open()
    except BiofeedbackError as exc:
        report = {
            "source": args.source,
            "verdict": "cannot connect",
            "problems": [{"check": "connection", "problem": "no connection", "fix": str(exc)}],
        }
        _print(report, args.json)
        return 2
    capture = _Capture()
    engine.add_sink(capture.sink)
    engine.add_status_listener(capture.status)
    limit = None if info.realtime else round(args.seconds * info.fs_hz)
    t0 = time.monotonic()
    try:
        engine.start(max_samples=limit)
        if info.realtime:
            engine.wait(args.seconds)
        else:
            engine.wait(max(30.0, 3 * args.seconds))
    except KeyboardInterrupt:
        pass
    finally:
        engine.close()
    wall = time.monotonic() - t0
    report = analyse(engine, capture, args.source, wall)
    _print(report, args.json)
    return 0 if not report["problems"] else 1


def analyse(engine: Engine, cap: _Capture, source: str, wall_s: float) -> dict[str, Any]:
    """All checks on what was captured; returns the report (see module docstring)."""
    info, pipeline = engine.info, engine.pipeline
    assert info is not None and pipeline is not None
    stats = engine.device.stats
    outputs = pipeline.outputs
    problems: list[dict[str, str]] = []
    notes: list[str] = []
    checks: dict[str, Any] = {}

    def problem(check: str, what: str, fix: str) -> None:
        problems.append({"check": check, "problem": what, "fix": fix})

    errors = [s.message for s in cap.statuses if s.state == DeviceState.ERROR]
    with cap.lock:
        arrivals = list(cap.arrivals)
        signal = np.concatenate(cap.signal) if cap.signal else np.zeros((0, len(outputs)))
        flags = np.concatenate(cap.flags) if cap.flags else np.zeros((0, len(outputs)), np.uint16)
        in_flags = np.concatenate(cap.input_flags) if cap.input_flags else np.zeros(0, np.uint16)
    n = len(signal)
    missing = (in_flags & Flag.MISSING) != 0
    received = int(n - missing.sum())
    if n == 0:
        problem(
            "stream",
            "no samples arrived" + (f": {errors[-1]}" if errors else ""),
            "check that the board is connected and streaming (biofeedback devices)",
        )

    # -- rate: slope of the stream index against arrival time (robust to USB bursts), and the
    # device's own monitor (a board sending faster or slower than it declares)
    rate = None
    if info.realtime and len(arrivals) >= 3:
        t = np.array([a[0] for a in arrivals])
        idx = np.array([a[1] for a in arrivals], dtype=float)
        if t[-1] - t[0] > 0.5:
            rate = float(np.polyfit(t - t[0], idx, 1)[0])
    monitor = getattr(engine.device, "rate_check", None)
    verdict = monitor.verdict if monitor is not None else None
    measured = verdict.measured_hz if verdict is not None else None
    if measured is None and monitor is not None:
        measured = monitor.measured_hz
    checks["rate"] = {
        "nominal_hz": info.fs_hz,
        "achieved_hz": None if rate is None else round(rate, 2),
        "declared_hz": None if monitor is None else monitor.declared_hz,
        "measured_hz": None if measured is None else round(measured, 2),
        "flagged": verdict is not None,
        "estimated": info.fs_estimated,
        "received_samples": received,
        "seconds": round(wall_s, 2),
    }
    if verdict is not None:
        problem("rate", engine.device.rate_problem(verdict), engine.device.rate_advice(verdict))
    elif rate is not None and abs(rate / info.fs_hz - 1) > RATE_TOLERANCE:
        if rate > info.fs_hz:
            fix = (
                "the board sends more samples than it declares: give the rate it really sends "
                "(fs=) or flash firmware/biofeedback from this version of the app"
            )
        elif info.extra.get("format") == "text":
            fix = "the sketch's delay() sets its rate: flash firmware/biofeedback for a timer-driven rate"
        else:
            fix = (
                "samples are not arriving in real time: use a direct USB port (no unpowered hub), "
                "close programs loading the computer, or lower the rate (fs=500)"
            )
        problem("rate", f"{rate:.1f} Hz achieved of {info.fs_hz:g} Hz nominal", fix)
    if not info.realtime:
        notes.append("not a real-time source: the rate check does not apply")
    if info.fs_estimated:
        notes.append(
            f"the rate ({info.fs_hz:.1f} Hz) is estimated from arrival times (text mode); "
            "flash firmware/biofeedback for an exact rate and gap detection"
        )

    # -- link counters
    gap_events = int(np.count_nonzero(np.diff(np.concatenate([[0], missing.astype(int)])) == 1))
    lost_frames = int(stats.extra.get("lost_frames", 0))
    checks["link"] = {
        "frame_errors": stats.frame_errors,
        "lost_frames": lost_frames,
        "missing_samples": stats.missing_samples,
        "gaps": gap_events,
        "overruns": stats.overruns,
        "reconnects": stats.reconnects,
        "bytes": stats.bytes_received,
    }
    if stats.frame_errors:
        problem(
            "frames",
            f"{stats.frame_errors} damaged frame(s) or unreadable line(s)",
            "use a short, good USB cable plugged straight into the computer; keep it away from "
            "mains leads; for the firmware the baud must be 500000",
        )
    if stats.missing_samples:
        problem(
            "gaps",
            f"{stats.missing_samples} sample(s) missing in {gap_events} gap(s)",
            "samples were lost on the way: check the cable and connector, avoid hubs and "
            "USB power saving (disable autosuspend)",
        )
    if stats.overruns:
        problem(
            "overruns",
            f"the board dropped {stats.overruns} sample set(s): its buffer overflowed",
            "the computer read too slowly: close other programs, or lower the rate (fs=500)",
        )
    if stats.reconnects:
        problem(
            "reconnects",
            f"the connection dropped {stats.reconnects} time(s)",
            "reseat the USB cable at both ends; a loose connector or a failing cable does this",
        )

    # -- noise floor and resolution, per output
    floors = []
    ok_rows = (flags == 0).all(axis=1) if n else np.zeros(0, bool)
    win = max(1, int(info.fs_hz))
    for j, out in enumerate(outputs):
        measured = _quietest_rms(signal[:, j], ok_rows, win) if n else None
        entry = {
            "output": out.name,
            "kind": out.kind.value,
            "model_uv": round(float(out.noise_floor_uv), 3),
            "measured_quietest_1s_rms_uv": None if measured is None else round(measured, 3),
            "resolves_rest": bool(out.resolves_rest),
        }
        floors.append(entry)
    checks["noise_floor"] = floors
    # a RAW output that cannot resolve rest is fine when ENV can (the app then trains on ENV)
    if outputs and not any(o.resolves_rest for o in outputs):
        for out in outputs:
            problem(
                "noise floor",
                f"{out.name}: {out.warning}",
                _resolution_fix(out.kind, info.adc_bits),
            )

    # -- mains hum before the notch (RAW outputs)
    mains = None
    hum_hz: list[float | None] = []
    by_hz: dict[float, list[float | None]] = {}
    quality = getattr(pipeline, "quality", None)
    if quality is not None and n:
        mains = quality.mains_ratio()[1]
        by_hz = quality.mains_ratio_by_hz()
        hum_hz = quality.mains_hum_hz()
    threshold = pipeline.settings.mains_ratio_threshold
    notch_hz = pipeline.mains_hz_active
    checks["mains"] = {
        "ratio": mains,
        "ratio_by_hz": {f"{hz:g}": r for hz, r in by_hz.items()},
        "threshold": threshold,
        "notch_hz": notch_hz,
    }
    for i, (out, ratio) in enumerate(zip(outputs, mains or [], strict=False)):
        if ratio is not None and ratio > threshold:
            hz = hum_hz[i] if i < len(hum_hz) else None
            wrong = hz is not None and hz != notch_hz
            at = f" at {hz:g} Hz" if hz is not None else ""
            fix = (
                "check electrode contact and the reference electrode (fresh gel electrodes, clean "
                "skin), keep cables short and away from mains leads, and run on battery"
            )
            if wrong:
                # the hum is at the frequency not notched: the setting is the first thing to fix
                fix = (
                    f"your mains is {hz:g} Hz: set mains to {hz:g} (--mains {hz:g}, or auto); "
                    f"if hum remains, {fix}"
                )
            problem(
                "mains", f"{out.name}: strong mains hum{at} (ratio {ratio:.2f} > {threshold})", fix
            )

    # -- per-sample quality flags
    fractions = {}
    for name, bit in (
        ("clipping", Flag.CLIPPED),
        ("flat", Flag.FLAT),
        ("motion", Flag.MOTION),
        ("mains", Flag.MAINS),
        ("invalid", Flag.INVALID),
    ):
        fractions[name] = round(float(((flags & bit) != 0).mean()) if n else 0.0, 4)
    checks["quality"] = fractions
    if fractions["clipping"] > CLIP_LIMIT:
        problem(
            "clipping",
            f"{fractions['clipping']:.0%} of samples at the ADC rail",
            "lower the MyoWare gain (turn the ENV gain pot down) and check the REF wire; relax the muscle",
        )
    if fractions["flat"] > FLAT_LIMIT:
        problem(
            "flat",
            f"flat signal {fractions['flat']:.0%} of the time",
            "an electrode is off or the sensor is not connected: check the snaps and the cable",
        )
    if fractions["motion"] > MOTION_LIMIT:
        problem(
            "motion",
            f"motion artefacts {fractions['motion']:.0%} of the time",
            "keep still, tape the cable down so it does not pull on the electrodes",
        )
    if fractions["invalid"] > 0:
        problem(
            "invalid",
            f"the source sent impossible values (NaN, infinity or beyond the ADC's range) in "
            f"{fractions['invalid']:.2%} of samples; they are treated as gaps",
            "a sketch must print plain numbers only (check its Serial.print lines and the baud "
            "rate); a file must state its real units (units=, scale_uv=)",
        )
    flagged = {p["problem"] for p in problems}
    notes.extend(w for w in pipeline.warnings if w not in flagged)
    verdict = "ok: ready for a session" if not problems else f"{len(problems)} problem(s) found"
    return {
        "source": source,
        "device": info.device,
        "board": info.board,
        "adc_bits": info.adc_bits,
        "channels": [c.name for c in info.channels],
        "checks": checks,
        "problems": problems,
        "notes": notes,
        "errors": errors,
        "verdict": verdict,
    }


def _quietest_rms(x: np.ndarray, ok: np.ndarray, win: int) -> float | None:
    """10th percentile of 1-s RMS over clean windows: the lowest level this setup shows."""
    values = []
    for k in range(0, len(x) - win + 1, win):
        if ok[k : k + win].all():
            values.append(float(np.sqrt(np.mean(x[k : k + win] ** 2))))
    return float(np.percentile(values, 10)) if values else None


def _resolution_fix(kind: ChannelKind, adc_bits: int | None) -> str:
    if kind == ChannelKind.RAW and (adc_bits or 0) <= 10:
        return (
            "a 10-bit board cannot resolve a relaxed muscle from RAW: train on ENV "
            "(channels=env or raw,env,ref), or use a 12- or 14-bit board (Uno R4, SAMD, RP2040)"
        )
    return "raise the MyoWare gain (ENV gain pot), improve electrode contact, or use a higher-resolution board"


def _print(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report))
        return
    print(f"biofeedback doctor: {report['source']}")
    if "checks" in report:
        c = report["checks"]
        print(
            f"  device       {report['device']}, {report['board']} {report['adc_bits']}-bit, channels {', '.join(report['channels'])}"
        )
        r = c["rate"]
        if r["achieved_hz"] is not None:
            est = " (estimated)" if r["estimated"] else ""
            print(
                f"  rate         {r['achieved_hz']:.1f} Hz of {r['nominal_hz']:g} Hz nominal{est}"
            )
        if r.get("measured_hz") is not None:
            verdict = "off by more than 5 %" if r["flagged"] else "within 5 %"
            print(
                f"  rate monitor {r['measured_hz']:.1f} Hz measured, {r['declared_hz']:g} Hz "
                f"declared: {verdict}"
            )
        link = c["link"]
        print(
            f"  link         {link['frame_errors']} damaged frames, {link['missing_samples']} samples missing "
            f"in {link['gaps']} gaps, {link['overruns']} overruns, {link['reconnects']} reconnects"
        )
        floors = ", ".join(f"{f['output']} {f['model_uv']:g} uV" for f in c["noise_floor"])
        print(f"  noise floor  {floors} RMS (hardware model, removed in quadrature)")
        quiet = ", ".join(
            f"{f['output']} {f['measured_quietest_1s_rms_uv']:g} uV"
            for f in c["noise_floor"]
            if f["measured_quietest_1s_rms_uv"] is not None
        )
        if quiet:
            print(f"  quietest 1 s {quiet} RMS (noise floor plus any muscle activity)")
        ratios = c["mains"]["ratio"]
        if ratios and any(r is not None for r in ratios):
            print(
                "  mains        "
                + ", ".join(f"{r:.2f}" for r in ratios if r is not None)
                + " (hum / in-band power)"
            )
        q = c["quality"]
        print(
            f"  quality      clipping {q['clipping']:.1%}, flat {q['flat']:.1%}, motion {q['motion']:.1%}, "
            f"invalid {q['invalid']:.1%}"
        )
    print(f"verdict: {report['verdict']}")
    for p in report["problems"]:
        print(f"  - {p['problem']}\n    fix: {p['fix']}")
    for note in report.get("notes", []):
        print(f"  note: {note}")
