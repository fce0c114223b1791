"""Everything a clinician report shows, gathered from the database (no rendering here).

The per-phase numbers are the stored measures, formatted by :func:`fmt`; the HTML and PDF
renderers print exactly these strings, so a test can compare a report with the database.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from biofeedback.core.hardware import BOARDS
from biofeedback.dsp.pipeline import Pipeline
from biofeedback.storage.courses import Course, clinic_sessions, course_sessions, list_courses
from biofeedback.storage.database import Database, SessionRecord
from biofeedback.storage.overview import (
    StoredOverview,
    fine_bin_samples,
    report_bin_samples,
    usable_overview,
)
from biofeedback.storage.progress import SessionPoint, subject_trend, trend_sentences
from biofeedback.storage.reprocess import (
    describe_processing,
    iter_processed,
    noise_floor_schedule,
    pipeline_for,
)

#: Bins of the envelope overview plot.
ENVELOPE_POINTS = 1500

#: Per-phase table: (column title, measure keys, decimals). Several keys share one cell
#: ("5.90 / 7.36 / 9.56"). The title's "\n" breaks the header line in the PDF.
PHASE_COLUMNS: list[tuple[str, tuple[str, ...], int]] = [
    ("Mean\nuV", ("mean_uv",), 2),
    ("Median\nuV", ("median_uv",), 2),
    ("SD\nuV", ("sd_uv",), 2),
    ("APDF 10 / 50 / 90\nuV", ("apdf10_uv", "apdf50_uv", "apdf90_uv"), 2),
    ("Below\n%", ("pct_below",), 1),
    ("Thresh.\nuV", ("threshold_uv",), 2),
    ("Gaps\n/min", ("gaps_per_min",), 1),
    ("Rest\n%", ("rest_time_pct",), 1),
    ("Recov.\ns", ("recovery_s",), 1),
    ("Asym.\n%", ("asymmetry_pct",), 1),
    ("Excl.\n%", ("pct_excluded",), 1),
]


def phase_cell(phase: dict[str, Any], keys: tuple[str, ...], decimals: int) -> str:
    """One cell of the per-phase table."""
    return " / ".join(fmt(phase.get(key), decimals) for key in keys)


def fmt(value: object, decimals: int = 2) -> str:
    """A stored number as the report prints it ("-" when missing)."""
    if value is None or isinstance(value, bool):
        return "-"
    if isinstance(value, int | float):
        if not math.isfinite(value):
            return "-"
        return f"{value:.{decimals}f}"
    return str(value)


def fmt_time(seconds: float | None) -> str:
    """``m:ss`` for a position in the session."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    total = round(seconds)
    return f"{total // 60}:{total % 60:02d}"


@dataclass
class EnvelopeOverview:
    """The session's envelope, binned for plotting (per output channel)."""

    t_s: np.ndarray  # bin centres, seconds from the first sample
    envelope_uv: np.ndarray  # [bins, k] mean envelope over included samples (NaN if none)
    excluded: np.ndarray  # [bins] fraction of samples flagged
    names: list[str]
    noise_floor_uv: list[float]


@dataclass
class PhaseRow:
    """One row of the per-phase table, already formatted."""

    name: str
    kind: str
    start: str
    duration: str
    cells: list[str]
    start_s: float | None
    end_s: float | None


@dataclass
class ReportData:
    """What the report shows; built by :func:`collect`."""

    record: SessionRecord
    title: str
    session_rows: list[tuple[str, str]]
    recording_rows: list[tuple[str, str]]
    summary_rows: list[tuple[str, str]]
    phases: list[PhaseRow]
    thresholds: list[dict[str, Any]]
    trial_success: list[tuple[str, float | None]]
    markers: list[dict[str, Any]]
    envelope: EnvelopeOverview
    trend: list[SessionPoint]
    trend_text: list[str]
    notes: str
    warnings: list[str] = field(default_factory=list)
    scored_channel: str = ""  # "Scored on channel env." when the summary names it
    generated: str = ""


def board_text(key: str, adc_bits: int | None, vref_v: float | None, units: str) -> str:
    """The board once: its label from :data:`BOARDS`, or the key with the ADC for others."""
    known = BOARDS.get(key or "")
    if known is not None and (not adc_bits or adc_bits == known.adc_bits):
        return known.label
    adc = f"{adc_bits}-bit, Vref {vref_v:g} V" if adc_bits and vref_v else units
    return f"{key or '-'} / {adc}"


def adopted_floors(phases: list[dict[str, Any]], n_outputs: int) -> list[bool] | None:
    """Per output: whether a noise-floor phase adopted its measured floor (None: no such phase)."""
    result: list[bool] | None = None
    for phase in phases:
        adopted = (phase.get("calibration") or {}).get("adopted")
        if phase.get("kind") != "noise-floor" or not isinstance(adopted, list):
            continue
        if len(adopted) != n_outputs:
            continue
        result = [bool(a) or bool(result and result[c]) for c, a in enumerate(adopted)]
    return result


def noise_floor_text(
    outputs: list[dict[str, Any]],
    live_floor_uv: list[float],
    replaced: bool,
    adopted: list[bool] | None,
) -> str:
    """``"raw 6.57 uV (model), env 0.52 uV (measured in this session)"``.

    An output's floor is "measured" only when a noise-floor phase adopted it (or, for sessions
    without that record, when the live floor was replaced by a value other than the model's);
    otherwise the pipeline's own source is named (model, setting, none).
    """
    parts = []
    for c, out in enumerate(outputs):
        value = float(out["noise_floor_uv"])
        source = str(out.get("noise_floor_source", "model"))
        if replaced and c < len(live_floor_uv):
            live = float(live_floor_uv[c])
            if adopted is not None:
                measured = adopted[c]
            else:
                measured = not math.isclose(live, value, rel_tol=1e-6, abs_tol=1e-9)
            if measured:
                value, source = live, "measured in this session"
        parts.append(f"{out['name']} {value:.2f} uV ({source})")
    return ", ".join(parts) + " RMS" if parts else "-"


def recovery_text(recovery_s: object, phases: list[dict[str, Any]]) -> str:
    """The summary's recovery time, or why it was not measured."""
    if isinstance(recovery_s, int | float) and math.isfinite(recovery_s):
        return f"{recovery_s:.1f} s"
    note = next((str(p["recovery_note"]) for p in phases if p.get("recovery_note")), "")
    if note:
        return note
    if any(p.get("recovery_level_uv") is not None for p in phases):
        return "did not settle within the recovery phase"
    return "-"


def scored_channel_text(scored: object, names: list[str]) -> str:
    """Which output channel the per-phase measures are computed on ("" when unknown)."""
    if isinstance(scored, bool) or scored is None:
        return ""
    if isinstance(scored, int):
        if 0 <= scored < len(names):
            return f"Scored on channel {names[scored]}."
        return ""
    if scored in ("max", "mean"):
        return f"Scored on the {scored} over all channels."
    return ""


def notes_text(record_notes: str | None, summary: dict[str, Any]) -> str:
    """The clinician's notes and the session's own notes (e.g. a changed scored channel)."""
    lines = [record_notes.strip()] if record_notes and record_notes.strip() else []
    for note in summary.get("notes") or []:
        text = str(note).strip()
        if text and text not in lines:
            lines.append(text)
    return "\n".join(lines)


def _date(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts).strftime("%d %b %Y %H:%M")


def envelope_overview(
    db: Database, record: SessionRecord, points: int = ENVELOPE_POINTS
) -> EnvelopeOverview:
    """Bin the session's envelope: from the overview stored while recording when it covers the
    stored samples (storage/overview.py), else by running the session's pipeline over them."""
    pipeline = pipeline_for(record)
    k = len(pipeline.outputs)
    first, end, _ = db.stored_extent(record.id)
    if first is None or end is None:
        empty = np.zeros(0)
        return EnvelopeOverview(
            empty, np.zeros((0, k)), empty, [o.name for o in pipeline.outputs], []
        )
    total = end - first
    fine = fine_bin_samples(record.info.fs_hz)
    size = report_bin_samples(total, points, fine)
    n_bins = math.ceil(total / size)
    stored = usable_overview(db, record, pipeline.describe()) if size % fine == 0 else None
    if stored is not None and stored.bin_samples == fine:
        sums, counts, flagged = _rebinned(stored, size // fine, n_bins)
        floors_now = _final_floors(db, record, pipeline, end)
    else:
        floors = [float(x) for x in pipeline.noise_floor_uv]
        sums, counts, flagged, floors_now = _binned_by_reprocessing(
            db, record, (first, size, n_bins), floors
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        env = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    widths = np.full(n_bins, float(size))
    widths[-1] = total - size * (n_bins - 1)
    t = (np.arange(n_bins) * size + widths / 2) / record.info.fs_hz
    return EnvelopeOverview(
        t, env, flagged / widths, [o.name for o in pipeline.outputs], floors_now
    )


def _rebinned(
    stored: StoredOverview, per_bin: int, n_bins: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The stored fine bins summed ``per_bin`` at a time into ``n_bins`` report bins."""
    k = stored.sums.shape[1]
    pad = n_bins * per_bin - stored.n_bins
    sums = np.concatenate([stored.sums, np.zeros((pad, k))]).reshape(n_bins, per_bin, k)
    counts = np.concatenate([stored.counts, np.zeros((pad, k))]).reshape(n_bins, per_bin, k)
    flagged = np.concatenate([stored.flagged, np.zeros(pad)]).reshape(n_bins, per_bin)
    return sums.sum(axis=1), counts.sum(axis=1), flagged.sum(axis=1).astype(float)


def _final_floors(db: Database, record: SessionRecord, pipeline: Pipeline, end: int) -> list[float]:
    """The noise floor at the end of the session, as reprocessing ends with it."""
    for index, values in noise_floor_schedule(db, record, len(pipeline.outputs)):
        if index < end:
            pipeline.set_noise_floor(values)
    return [float(x) for x in pipeline.noise_floor_uv]


def _binned_by_reprocessing(
    db: Database, record: SessionRecord, grid: tuple[int, int, int], floors_now: list[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[float]]:
    """Sums and counts of the valid envelope and flagged samples per bin of ``grid`` (first
    index, samples per bin, bins), reprocessed; with the noise floor at the end."""
    first, size, n_bins = grid
    k = len(floors_now)
    sums = np.zeros((n_bins, k))
    counts = np.zeros((n_bins, k))
    flagged = np.zeros(n_bins)
    for chunk, out, live in iter_processed(db, record, 1 << 15):
        floors_now = [float(x) for x in live.noise_floor_uv]
        bins = (np.arange(chunk.first_index, chunk.end_index) - first) // size
        ok = (out.flags == 0) & np.isfinite(out.envelope_uv)
        lo = int(bins[0])
        local = bins - lo
        size_local = int(local[-1]) + 1
        for c in range(k):
            sel = ok[:, c]
            sums[lo : lo + size_local, c] += np.bincount(
                local[sel], weights=out.envelope_uv[sel, c], minlength=size_local
            )
            counts[lo : lo + size_local, c] += np.bincount(local[sel], minlength=size_local)
        flagged[lo : lo + size_local] += np.bincount(
            local, weights=(out.flags != 0).any(axis=1), minlength=size_local
        )
    return sums, counts, flagged, floors_now


def collect(db: Database, session_id: int) -> ReportData:
    """Gather the report's contents for one stored session."""
    record = db.get_session(session_id)
    summary = record.summary or {}
    phases = db.phases(session_id)
    notes: list[str] = []
    pipeline = pipeline_for(record, notes)
    described = pipeline.describe()
    session_rows = _session_rows(record, phases, _course_of(db, record))
    envelope = envelope_overview(db, record)
    recording_rows = _recording_rows(db, record, pipeline, described, envelope, phases)
    rows = _phase_rows(record, phases)
    scored = scored_channel_text(summary.get("scored_channel"), envelope.names)
    trials = [(str(p.get("name")), p.get("pct_below")) for p in phases if p.get("kind") == "train"]
    trend = subject_trend(db, record.subject_id)
    warnings = [*notes, *described.get("warnings", [])]
    if record.status == "interrupted":
        warnings.insert(
            0, "This session was interrupted; measures cover the part that was recorded."
        )
    return ReportData(
        record=record,
        title="EMG biofeedback session report",
        session_rows=session_rows,
        recording_rows=recording_rows,
        summary_rows=_summary_rows(summary, phases),
        phases=rows,
        scored_channel=scored,
        thresholds=db.threshold_log(session_id),
        trial_success=trials,
        markers=db.markers(session_id),
        envelope=envelope,
        trend=trend,
        trend_text=trend_sentences(trend),
        notes=notes_text(record.notes, summary),
        warnings=warnings,
        generated=dt.datetime.now().strftime("%d %b %Y %H:%M"),
    )


@dataclass(frozen=True)
class CourseContext:
    """The course a session belongs to, as its report says it (no samples read)."""

    course: Course
    setting_text: str


def _course_of(db: Database, record: SessionRecord) -> CourseContext | None:
    """The session's course and its place in it: "clinic session 3 of 6 of the open course from
    2026-11-02", "home session of the course 2026-11-02 to 2026-12-14, after clinic session 3
    of 6". None for a session outside a course."""
    if record.course_id is None or not record.subject_id:
        return None
    courses = list_courses(db, record.subject_id)
    course = next((c for c in courses if c.id == record.course_id), None)
    if course is None:
        return None
    counted = clinic_sessions(course_sessions(db, course.id))
    planned = f" of {course.planned_clinic_sessions}" if course.planned_clinic_sessions else ""
    if course.end_date:
        of_course = f"of the course {course.start_date} to {course.end_date}"
    else:
        of_course = f"of the open course from {course.start_date}"
    ids = [r.id for r in counted]
    if record.setting == "clinic" and record.id in ids:
        text = f"clinic session {ids.index(record.id) + 1}{planned} {of_course}"
    else:
        before = sum(1 for r in counted if (r.started_at, r.id) < (record.started_at, record.id))
        where = f"after clinic session {before}{planned}" if before else "before clinic session 1"
        kind = f"{record.setting} session" if record.setting else "session (setting not recorded)"
        text = f"{kind} {of_course}, {where}"
    return CourseContext(course, text)


def _or_course(own: str | None, from_course: str | None) -> str:
    """The session's own value, else the course's marked "(from the course)", else "-"."""
    if own:
        return own
    return f"{from_course} (from the course)" if from_course else "-"


def _setting_text(record: SessionRecord, context: CourseContext | None) -> str:
    if context is not None:
        return context.setting_text
    if record.setting:
        return f"{record.setting} session (not part of a course)"
    return "not recorded"


def _session_rows(
    record: SessionRecord, phases: list[dict[str, Any]], context: CourseContext | None = None
) -> list[tuple[str, str]]:
    """Who, when, where (home or clinic, the course), which protocol and muscle, electrodes
    (the course's when the session has none), techniques used, pain ratings."""
    course = context.course if context is not None else Course(0, "", "", dt.date.min, None)
    kinds = {p.get("kind", "") for p in phases}
    techniques = []
    if "breathing" in kinds or "breathing" in record.protocol:
        techniques.append("breathing pacer")
    if kinds & {"tense", "release"} or record.protocol == "pmr":
        techniques.append("progressive muscle relaxation")
    pain = f"{fmt(record.pain_before, 0)} before, {fmt(record.pain_after, 0)} after (0-10)"
    return [
        ("Subject (pseudonym)", record.subject_id or "-"),
        ("Session", f"{record.id} ({record.status})"),
        ("Date", _date(record.started_at)),
        ("Setting", _setting_text(record, context)),
        ("Clinician", _or_course(record.clinician, course.clinician)),
        ("Protocol", record.protocol or "-"),
        ("Duration", fmt_time(record.duration_s)),
        (
            "Muscle / side",
            f"{_or_course(record.muscle, course.muscle)} / {record.side or '-'}",
        ),
        ("Electrode site", _or_course(record.electrode_site, course.electrode_site)),
        ("Electrodes / skin prep", f"{record.electrode_type or '-'} / {record.skin_prep or '-'}"),
        ("Breathing / PMR", ", ".join(techniques) or "not used"),
        ("Pain rating", pain),
    ]


def _recording_rows(
    db: Database,
    record: SessionRecord,
    pipeline: Pipeline,
    described: dict[str, Any],
    envelope: EnvelopeOverview,
    phases: list[dict[str, Any]],
) -> list[tuple[str, str]]:
    """Sensor, board and ADC, supply and isolation, channels, rate, filters, noise floor."""
    info = record.info
    hw = {**{k: v for k, v in info.extra.items()}, **(record.hardware or {})}
    board_adc = board_text(info.board, info.adc_bits, info.vref_v, info.units)
    sensor = str(hw.get("sensor") or hw.get("myoware_version") or "2.0")
    if not sensor.lower().startswith("myoware"):
        sensor = f"MyoWare {sensor}"
    imported = hw.get("imported")
    if isinstance(imported, dict):  # a file from another program: its sensor is not known here
        name, layout = imported.get("file", "a file"), imported.get("format", "")
        sensor = f"as the file's device recorded it (imported from {name}, {layout})"
    pot = hw.get("pot_kohm")
    supply = hw.get("supply_v")
    floor_text = noise_floor_text(
        described["outputs"],
        envelope.noise_floor_uv,
        bool(noise_floor_schedule(db, record, len(pipeline.outputs))),
        adopted_floors(phases, len(pipeline.outputs)),
    )
    channels = ", ".join(f"{c.name} ({c.kind.value}, gain {c.gain:g})" for c in info.channels)
    baseline = (record.summary or {}).get("baseline_uv")
    return [
        (
            "Sensor",
            f"{sensor}" + (f", gain pot {float(pot):g} kOhm" if pot not in (None, "") else ""),
        ),
        ("Board / ADC", board_adc),
        (
            "Supply / isolation",
            f"{f'{float(supply):g} V' if supply not in (None, '') else '-'} / {record.isolation_mode or '-'}",
        ),
        ("Channels", channels),
        ("Sampling rate", f"{info.fs_hz:g} Hz" + (" (estimated)" if info.fs_estimated else "")),
        ("Filters", describe_processing(record, pipeline)),
        ("Amplitude", "uV RMS referred to the electrodes, noise floor removed in quadrature"),
        ("Noise floor", floor_text),
        (
            "Normalisation",
            f"absolute uV; session baseline {fmt(baseline)} uV" if baseline else "absolute uV",
        ),
    ]


def _phase_rows(record: SessionRecord, phases: list[dict[str, Any]]) -> list[PhaseRow]:
    """One row of the per-phase table per stored phase (times relative to the recording start)."""
    origin = record.first_index or 0
    fs = record.info.fs_hz
    rows = []
    for p in phases:
        start = p.get("start_index")
        end = p.get("end_index")
        start_s = None if start is None else (start - origin) / fs
        end_s = None if end is None else (end - origin) / fs
        duration = p.get("duration_s")
        if duration is None and start_s is not None and end_s is not None:
            duration = end_s - start_s
        rows.append(
            PhaseRow(
                name=str(p.get("name", "")),
                kind=str(p.get("kind", "")),
                start=fmt_time(start_s),
                duration=fmt(duration, 0),
                cells=[phase_cell(p, keys, d) for _, keys, d in PHASE_COLUMNS],
                start_s=start_s,
                end_s=end_s,
            )
        )
    return rows


def _summary_rows(summary: dict[str, Any], phases: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Baseline, % below threshold (training and transfer), recovery time, % excluded."""
    return [
        ("Baseline (resting)", f"{fmt(summary.get('baseline_uv'))} uV"),
        ("Below threshold, training", f"{fmt(summary.get('training_pct_below'), 1)} % of the time"),
        (
            "Below, transfer (no feedback)",
            f"{fmt(summary.get('transfer_pct_below'), 1)} % of the time",
        ),
        ("Recovery time", recovery_text(summary.get("recovery_s"), phases)),
        ("Excluded (artefact, gaps)", f"{fmt(summary.get('pct_excluded'), 1)} %"),
    ]
