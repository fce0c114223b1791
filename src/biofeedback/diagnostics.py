"""Signal diagnostics: check a stretch of a stream and say how to fix each problem (Qt-free).

Used by ``biofeedback doctor`` (a fresh connection, streamed for a few seconds) and by the
window's "Check signal" action (a few seconds of the live source). A :class:`Capture` collects
what an :class:`~biofeedback.engine.Engine` sink sees; :func:`analyse` turns it into a
:class:`Diagnosis`: typed figures per check, the problems found (each with its fix), notes, and
one row per check (:meth:`Diagnosis.rows`) with a pass / warn / fail status for display.

The checks: the sample rate achieved against the rate the source should deliver (and the
device's own rate monitor: a board sending more than 5 % faster or slower than it declares, for
2 s), damaged frames, gaps, firmware buffer overruns, reconnects, the noise floor against the
level a relaxed muscle shows, mains hum (measured before the notch) and the share of clipped /
flat / motion / invalid samples. docs/diagnostics.md lists them with their limits.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from biofeedback.core.types import ChannelKind, Chunk, Flag, ProcessedChunk, StreamInfo
from biofeedback.devices.base import (
    Device,
    DeviceState,
    DeviceStats,
    DeviceStatus,
    ThreadedDevice,
)
from biofeedback.dsp.pipeline import Pipeline, PipelineSettings
from biofeedback.engine import Engine
from biofeedback.errors import BiofeedbackError

log = logging.getLogger(__name__)

#: Rate achieved within this fraction of the expected rate passes.
RATE_TOLERANCE = 0.03
#: Largest share of samples at the ADC rail, flat, or in motion artefacts that passes.
CLIP_LIMIT = 0.01
FLAT_LIMIT = 0.5
MOTION_LIMIT = 0.05

#: Advice shared by several checks (the doctor's wording, shown by the window too).
ELECTRODE_ADVICE = (
    "check electrode contact and the reference electrode (fresh gel electrodes, clean "
    "skin), keep cables short and away from mains leads, and run on battery"
)


class Status(enum.Enum):
    """The outcome of one check."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Problem:
    """Something wrong, and what to do about it."""

    check: str
    problem: str
    fix: str


@dataclass(frozen=True)
class LinkCounters:
    """The device's link counters (a difference of two snapshots over a check)."""

    frame_errors: int = 0
    lost_frames: int = 0
    missing_samples: int = 0
    overruns: int = 0
    reconnects: int = 0
    bytes: int = 0

    @classmethod
    def of(cls, stats: DeviceStats) -> LinkCounters:
        """A snapshot of ``stats`` now."""
        return cls(
            stats.frame_errors,
            int(stats.extra.get("lost_frames", 0)),
            stats.missing_samples,
            stats.overruns,
            stats.reconnects,
            stats.bytes_received,
        )

    def since(self, start: LinkCounters) -> LinkCounters:
        """What was counted after ``start`` was taken."""
        mine, theirs = dataclasses.astuple(self), dataclasses.astuple(start)
        return LinkCounters(*(a - b for a, b in zip(mine, theirs, strict=True)))


@dataclass(frozen=True)
class RateCheck:
    nominal_hz: float
    achieved_hz: float | None
    declared_hz: float | None
    measured_hz: float | None
    flagged: bool
    estimated: bool
    received_samples: int
    seconds: float


@dataclass(frozen=True)
class LinkCheck:
    frame_errors: int
    lost_frames: int
    missing_samples: int
    gaps: int
    overruns: int
    reconnects: int
    bytes: int


@dataclass(frozen=True)
class NoiseFloorCheck:
    """One pipeline output: the modelled floor and the quietest second measured."""

    output: str
    kind: str
    model_uv: float
    measured_quietest_1s_rms_uv: float | None
    resolves_rest: bool


@dataclass(frozen=True)
class MainsCheck:
    """Mean hum / in-band power per output (None for ENV), per measured mains frequency."""

    ratio: list[float | None] | None
    ratio_by_hz: dict[str, list[float | None]]
    threshold: float
    notch_hz: float | None


@dataclass(frozen=True)
class QualityCheck:
    """Share of samples carrying each quality flag."""

    clipping: float
    flat: float
    motion: float
    mains: float
    invalid: float


@dataclass(frozen=True)
class Checks:
    rate: RateCheck
    link: LinkCheck
    noise_floor: list[NoiseFloorCheck]
    mains: MainsCheck
    quality: QualityCheck


@dataclass(frozen=True)
class Row:
    """One line of the checklist a user reads: name, status, figure, what to do."""

    check: str
    status: Status
    figure: str
    #: What is wrong (empty unless the check failed).
    problem: str = ""
    #: What to do: the fixes of a failed check, or why a check could only warn.
    advice: str = ""


@dataclass(frozen=True)
class Diagnosis:
    """The result of the checks (``checks`` is None when no connection could be made)."""

    source: str
    verdict: str
    problems: list[Problem]
    checks: Checks | None = None
    device: str = ""
    board: str = ""
    adc_bits: int | None = None
    channels: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def connected(self) -> bool:
        return self.checks is not None

    @property
    def ok(self) -> bool:
        return self.connected and not self.problems

    @classmethod
    def cannot_connect(cls, source: str, why: str) -> Diagnosis:
        return cls(source, "cannot connect", [Problem("connection", "no connection", why)])

    def to_dict(self) -> dict[str, Any]:
        """The JSON form ``biofeedback doctor --json`` prints."""
        problems = [dataclasses.asdict(p) for p in self.problems]
        if self.checks is None:
            return {"source": self.source, "verdict": self.verdict, "problems": problems}
        return {
            "source": self.source,
            "device": self.device,
            "board": self.board,
            "adc_bits": self.adc_bits,
            "channels": list(self.channels),
            "checks": dataclasses.asdict(self.checks),
            "problems": problems,
            "notes": list(self.notes),
            "errors": list(self.errors),
            "verdict": self.verdict,
        }

    def rows(self) -> list[Row]:
        """One row per check, for a checklist display (see :func:`checklist`)."""
        return checklist(self)


@dataclass
class Capture:
    """What an engine sink and status listener saw (thread-safe: sinks run on the device thread).

    ``link_start`` is the device's counters when the capture began, so a check of a source that
    has been streaming for a while counts only what happened during the check.
    """

    arrivals: list[tuple[float, int]] = field(default_factory=list)
    signal: list[np.ndarray] = field(default_factory=list)
    flags: list[np.ndarray] = field(default_factory=list)
    input_flags: list[np.ndarray] = field(default_factory=list)
    statuses: list[DeviceStatus] = field(default_factory=list)
    link_start: LinkCounters = field(default_factory=LinkCounters)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def sink(self, chunk: Chunk, out: ProcessedChunk) -> None:
        """An engine sink (see :meth:`biofeedback.engine.Engine.add_sink`)."""
        with self.lock:
            self.arrivals.append((time.monotonic(), chunk.end_index))
            self.signal.append(out.signal_uv.copy())
            self.flags.append(out.flags.copy())
            self.input_flags.append(np.asarray(chunk.flags).copy())

    def status(self, status: DeviceStatus) -> None:
        """An engine status listener."""
        with self.lock:
            self.statuses.append(status)


@dataclass(frozen=True)
class _Arrays:
    """A capture's chunks joined: processed signal and flags per output, input flags."""

    arrivals: list[tuple[float, int]]
    signal: np.ndarray
    flags: np.ndarray
    input_flags: np.ndarray
    errors: list[str]

    @classmethod
    def join(cls, cap: Capture, n_outputs: int) -> _Arrays:
        with cap.lock:
            errors = [s.message for s in cap.statuses if s.state == DeviceState.ERROR]
            return cls(
                list(cap.arrivals),
                np.concatenate(cap.signal) if cap.signal else np.zeros((0, n_outputs)),
                np.concatenate(cap.flags) if cap.flags else np.zeros((0, n_outputs), np.uint16),
                np.concatenate(cap.input_flags) if cap.input_flags else np.zeros(0, np.uint16),
                errors,
            )

    @property
    def n(self) -> int:
        return len(self.signal)


class _Report:
    """Problems and notes gathered while the checks run."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.notes: list[str] = []

    def problem(self, check: str, what: str, fix: str) -> None:
        self.problems.append(Problem(check, what, fix))


def analyse(
    cap: Capture,
    info: StreamInfo,
    pipeline: Pipeline,
    device: Device,
    source: str,
    wall_s: float,
) -> Diagnosis:
    """All checks on what ``cap`` captured from ``device`` through ``pipeline``."""
    outputs = pipeline.outputs
    data = _Arrays.join(cap, len(outputs))
    report = _Report()
    if data.n == 0:
        report.problem(
            "stream",
            "no samples arrived" + (f": {data.errors[-1]}" if data.errors else ""),
            "check that the board is connected and streaming (biofeedback devices)",
        )
    checks = Checks(
        rate=_check_rate(data, info, device, wall_s, report),
        link=_check_link(data, LinkCounters.of(device.stats).since(cap.link_start), report),
        noise_floor=_check_noise_floor(data, info, pipeline, report),
        mains=_check_mains(data, pipeline, report),
        quality=_check_quality(data, report),
    )
    flagged = {p.problem for p in report.problems}
    report.notes.extend(w for w in pipeline.warnings if w not in flagged)
    problems = report.problems
    return Diagnosis(
        source=source,
        verdict="ok: ready for a session" if not problems else f"{len(problems)} problem(s) found",
        problems=problems,
        checks=checks,
        device=info.device,
        board=info.board,
        adc_bits=info.adc_bits,
        channels=[c.name for c in info.channels],
        notes=report.notes,
        errors=data.errors,
    )


def check_source(source: str, settings: PipelineSettings, seconds: float) -> Diagnosis:
    """Open ``source``, stream ``seconds`` through the pipeline the app uses, and analyse it
    (``biofeedback doctor``). A source that is not real time (a file at full speed) gives
    ``seconds`` of signal. Ctrl+C ends the listening early: what arrived is analysed."""
    try:
        engine = Engine(source, settings)
        # before opening: what the handshake saw counts too
        capture = Capture(link_start=LinkCounters.of(engine.device.stats))
        info = engine.open()
    except BiofeedbackError as exc:
        return Diagnosis.cannot_connect(source, str(exc))
    engine.add_sink(capture.sink, name="diagnostics")
    engine.add_status_listener(capture.status)
    limit = None if info.realtime else round(seconds * info.fs_hz)
    t0 = time.monotonic()
    try:
        engine.start(max_samples=limit)
        engine.wait(seconds if info.realtime else max(30.0, 3 * seconds))
    except KeyboardInterrupt:
        log.info("%s: listening interrupted after %.1f s", source, time.monotonic() - t0)
    finally:
        engine.close()
    pipeline = engine.pipeline
    if pipeline is None:  # open() builds it; a pipeline swapped out mid-check is never None
        raise BiofeedbackError(f"{source}: the engine has no pipeline after opening")
    return analyse(capture, info, pipeline, engine.device, source, time.monotonic() - t0)


def _achieved_rate(data: _Arrays, info: StreamInfo) -> float | None:
    """Slope of the stream index against arrival time (robust to USB bursts)."""
    if not info.realtime or len(data.arrivals) < 3:
        return None
    t = np.array([a[0] for a in data.arrivals])
    idx = np.array([a[1] for a in data.arrivals], dtype=float)
    if t[-1] - t[0] <= 0.5:
        return None
    return float(np.polyfit(t - t[0], idx, 1)[0])


def _rate_fix(rate: float, expected: float, info: StreamInfo) -> str:
    if rate > expected:
        return (
            "the board sends more samples than it declares: give the rate it really sends "
            "(fs=) or flash firmware/biofeedback from this version of the app"
        )
    if info.extra.get("format") == "text":
        return (
            "the sketch's delay() sets its rate: flash firmware/biofeedback for a timer-driven rate"
        )
    return (
        "samples are not arriving in real time: use a direct USB port (no unpowered hub), "
        "close programs loading the computer, or lower the rate (fs=500)"
    )


def _check_rate(
    data: _Arrays, info: StreamInfo, device: Device, wall_s: float, report: _Report
) -> RateCheck:
    """The achieved rate, and the device's own monitor (a board off the rate it declares)."""
    rate = _achieved_rate(data, info)
    # the rate monitor and pacing belong to sources that stream on a thread of their own
    paced = device if isinstance(device, ThreadedDevice) else None
    monitor = paced.rate_check if paced is not None else None
    verdict = monitor.verdict if monitor is not None else None
    measured = verdict.measured_hz if verdict is not None else None
    if measured is None and monitor is not None:
        measured = monitor.measured_hz
    # a sped-up simulation or replay should deliver fs x speed samples per second
    expected = (paced.paced_rate_hz if paced is not None else None) or info.fs_hz
    if verdict is not None and paced is not None:
        report.problem("rate", paced.rate_problem(verdict), paced.rate_advice(verdict))
    elif rate is not None and abs(rate / expected - 1) > RATE_TOLERANCE:
        report.problem(
            "rate",
            f"{rate:.1f} Hz achieved of {expected:g} Hz nominal",
            _rate_fix(rate, expected, info),
        )
    if not info.realtime:
        report.notes.append("not a real-time source: the rate check does not apply")
    if info.fs_estimated:
        report.notes.append(
            f"the rate ({info.fs_hz:.1f} Hz) is estimated from arrival times (text mode); "
            "flash firmware/biofeedback for an exact rate and gap detection"
        )
    missing = (data.input_flags & Flag.MISSING) != 0
    return RateCheck(
        nominal_hz=info.fs_hz,
        achieved_hz=None if rate is None else round(rate, 2),
        declared_hz=None if monitor is None else monitor.declared_hz,
        measured_hz=None if measured is None else round(measured, 2),
        flagged=verdict is not None,
        estimated=info.fs_estimated,
        received_samples=int(data.n - missing.sum()),
        seconds=round(wall_s, 2),
    )


def _check_link(data: _Arrays, counters: LinkCounters, report: _Report) -> LinkCheck:
    """Damaged frames, gaps, firmware overruns and reconnects during the capture."""
    missing = ((data.input_flags & Flag.MISSING) != 0).astype(int)
    gaps = int(np.count_nonzero(np.diff(np.concatenate([[0], missing])) == 1))
    if counters.frame_errors:
        report.problem(
            "frames",
            f"{counters.frame_errors} damaged frame(s) or unreadable line(s)",
            "use a short, good USB cable plugged straight into the computer; keep it away from "
            "mains leads; for the firmware the baud must be 500000",
        )
    if counters.missing_samples:
        report.problem(
            "gaps",
            f"{counters.missing_samples} sample(s) missing in {gaps} gap(s)",
            "samples were lost on the way: check the cable and connector, avoid hubs and "
            "USB power saving (disable autosuspend)",
        )
    if counters.overruns:
        report.problem(
            "overruns",
            f"the board dropped {counters.overruns} sample set(s): its buffer overflowed",
            "the computer read too slowly: close other programs, or lower the rate (fs=500)",
        )
    if counters.reconnects:
        report.problem(
            "reconnects",
            f"the connection dropped {counters.reconnects} time(s)",
            "reseat the USB cable at both ends; a loose connector or a failing cable does this",
        )
    return LinkCheck(
        frame_errors=counters.frame_errors,
        lost_frames=counters.lost_frames,
        missing_samples=counters.missing_samples,
        gaps=gaps,
        overruns=counters.overruns,
        reconnects=counters.reconnects,
        bytes=counters.bytes,
    )


def _check_noise_floor(
    data: _Arrays, info: StreamInfo, pipeline: Pipeline, report: _Report
) -> list[NoiseFloorCheck]:
    """Per output: the modelled floor, the quietest clean second, and whether rest is resolved."""
    outputs = pipeline.outputs
    ok_rows = (data.flags == 0).all(axis=1) if data.n else np.zeros(0, bool)
    win = max(1, int(info.fs_hz))
    floors = []
    for j, out in enumerate(outputs):
        quietest = _quietest_rms(data.signal[:, j], ok_rows, win) if data.n else None
        floors.append(
            NoiseFloorCheck(
                output=out.name,
                kind=out.kind.value,
                model_uv=round(float(out.noise_floor_uv), 3),
                measured_quietest_1s_rms_uv=None if quietest is None else round(quietest, 3),
                resolves_rest=bool(out.resolves_rest),
            )
        )
    # a RAW output that cannot resolve rest is fine when ENV can (the app then trains on ENV)
    if outputs and not any(o.resolves_rest for o in outputs):
        for out in outputs:
            report.problem(
                "noise floor",
                f"{out.name}: {out.warning}",
                _resolution_fix(out.kind, info.adc_bits),
            )
    return floors


def _check_mains(data: _Arrays, pipeline: Pipeline, report: _Report) -> MainsCheck:
    """Mains hum before the notch, per RAW output; names the mains frequency if it is not notched."""
    ratios: list[float | None] | None = None
    hum_hz: list[float | None] = []
    by_hz: dict[float, list[float | None]] = {}
    if data.n:
        ratios = pipeline.quality.mains_ratio()[1]
        by_hz = pipeline.quality.mains_ratio_by_hz()
        hum_hz = pipeline.quality.mains_hum_hz()
    threshold = pipeline.settings.mains_ratio_threshold
    notch_hz = pipeline.mains_hz_active
    for i, (out, ratio) in enumerate(zip(pipeline.outputs, ratios or [], strict=False)):
        if ratio is None or ratio <= threshold:
            continue
        hz = hum_hz[i] if i < len(hum_hz) else None
        at = f" at {hz:g} Hz" if hz is not None else ""
        fix = ELECTRODE_ADVICE
        if hz is not None and hz != notch_hz:
            # the hum is at the frequency not notched: the setting is the first thing to fix
            fix = f"your mains is {hz:g} Hz: set mains to {hz:g} (--mains {hz:g}, or auto); if hum remains, {fix}"
        report.problem(
            "mains", f"{out.name}: strong mains hum{at} (ratio {ratio:.2f} > {threshold})", fix
        )
    return MainsCheck(
        ratio=ratios,
        ratio_by_hz={f"{hz:g}": r for hz, r in by_hz.items()},
        threshold=threshold,
        notch_hz=notch_hz,
    )


def _share(data: _Arrays, bit: Flag) -> float:
    return round(float(((data.flags & bit) != 0).mean()) if data.n else 0.0, 4)


def _check_quality(data: _Arrays, report: _Report) -> QualityCheck:
    """The share of samples flagged clipped, flat, in motion, hummed or invalid."""
    q = QualityCheck(
        clipping=_share(data, Flag.CLIPPED),
        flat=_share(data, Flag.FLAT),
        motion=_share(data, Flag.MOTION),
        mains=_share(data, Flag.MAINS),
        invalid=_share(data, Flag.INVALID),
    )
    if q.clipping > CLIP_LIMIT:
        report.problem(
            "clipping",
            f"{q.clipping:.0%} of samples at the ADC rail",
            "lower the MyoWare gain (turn the ENV gain pot down) and check the REF wire; relax the muscle",
        )
    if q.flat > FLAT_LIMIT:
        report.problem(
            "flat",
            f"flat signal {q.flat:.0%} of the time",
            "an electrode is off or the sensor is not connected: check the snaps and the cable",
        )
    if q.motion > MOTION_LIMIT:
        report.problem(
            "motion",
            f"motion artefacts {q.motion:.0%} of the time",
            "keep still, tape the cable down so it does not pull on the electrodes",
        )
    if q.invalid > 0:
        report.problem(
            "invalid",
            f"the source sent impossible values (NaN, infinity or beyond the ADC's range) in "
            f"{q.invalid:.2%} of samples; they are treated as gaps",
            "a sketch must print plain numbers only (check its Serial.print lines and the baud "
            "rate); a file must state its real units (units=, scale_uv=)",
        )
    return q


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


# -- the checklist a user reads -----------------------------------------------------------------------
#: Row title -> the problem ``check`` names it covers.
ROW_CHECKS: dict[str, tuple[str, ...]] = {
    "Stream": ("stream",),
    "Sample rate": ("rate",),
    "Link": ("frames", "gaps", "overruns", "reconnects"),
    "Noise floor": ("noise floor",),
    "Mains hum": ("mains",),
    "Clipping": ("clipping",),
    "Flat signal": ("flat",),
    "Motion": ("motion",),
    "Invalid values": ("invalid",),
}


def checklist(diagnosis: Diagnosis) -> list[Row]:
    """One :class:`Row` per check: FAIL when it found a problem (advice: the doctor's fixes),
    WARN when it could not fully judge (advice: the note saying why), else PASS."""
    checks = diagnosis.checks
    if checks is None:
        return [_row("Connection", diagnosis.problems, "no connection")]
    q = checks.quality
    figures = {
        "Stream": f"{checks.rate.received_samples} samples in {checks.rate.seconds:g} s",
        "Sample rate": _rate_figure(checks.rate),
        "Link": (
            f"{checks.link.frame_errors} damaged frames, {checks.link.missing_samples} samples "
            f"missing in {checks.link.gaps} gaps, {checks.link.overruns} overruns, "
            f"{checks.link.reconnects} reconnects"
        ),
        "Noise floor": ", ".join(_floor_figure(f) for f in checks.noise_floor),
        "Mains hum": _mains_figure(checks.mains),
        "Clipping": f"{q.clipping:.1%} of samples",
        "Flat signal": f"{q.flat:.1%} of the time",
        "Motion": f"{q.motion:.1%} of the time",
        "Invalid values": f"{q.invalid:.2%} of samples",
    }
    rows = []
    for title, names in ROW_CHECKS.items():
        found = [p for p in diagnosis.problems if p.check in names]
        rows.append(_row(title, found, figures[title], _warning(title, diagnosis)))
    return rows


def _row(title: str, found: list[Problem], figure: str, warning: str = "") -> Row:
    if found:
        fixes = list(dict.fromkeys(p.fix for p in found))  # once each, in order
        problems = "; ".join(p.problem for p in found)
        return Row(title, Status.FAIL, figure, problems, "; ".join(fixes))
    if warning:
        return Row(title, Status.WARN, figure, advice=warning)
    return Row(title, Status.PASS, figure)


def _warning(title: str, diagnosis: Diagnosis) -> str:
    """The note that keeps a check from a plain pass, if any."""
    checks = diagnosis.checks
    if checks is None:
        return ""
    if title == "Sample rate":
        notes = [
            n for n in diagnosis.notes if "rate" in n and ("estimated" in n or "real-time" in n)
        ]
        return "; ".join(notes)
    if title == "Noise floor":
        weak = {f.output for f in checks.noise_floor if not f.resolves_rest}
        notes = [n for n in diagnosis.notes if any(n.startswith(f"{w}:") for w in weak)]
        return "; ".join(notes) or (
            "; ".join(sorted(weak)) + ": cannot resolve rest" if weak else ""
        )
    return ""


def _rate_figure(rate: RateCheck) -> str:
    parts = []
    if rate.achieved_hz is not None:
        est = " (estimated)" if rate.estimated else ""
        parts.append(f"{rate.achieved_hz:.1f} Hz achieved, {rate.nominal_hz:g} Hz nominal{est}")
    else:
        parts.append(f"{rate.nominal_hz:g} Hz nominal, achieved rate not measured")
    if rate.measured_hz is not None and rate.declared_hz is not None:
        parts.append(f"board sends {rate.measured_hz:.1f} of {rate.declared_hz:g} Hz declared")
    return "; ".join(parts)


def _floor_figure(f: NoiseFloorCheck) -> str:
    text = f"{f.output} {f.model_uv:g} µV"
    if f.measured_quietest_1s_rms_uv is not None:
        text += f" (quietest second {f.measured_quietest_1s_rms_uv:g} µV)"
    return text


def _mains_figure(mains: MainsCheck) -> str:
    ratios = [r for r in mains.ratio or [] if r is not None]
    if not ratios:
        return "not measured (no RAW output)"
    return (
        ", ".join(f"{r:.2f}" for r in ratios) + f" hum / in-band power (limit {mains.threshold:g})"
    )
