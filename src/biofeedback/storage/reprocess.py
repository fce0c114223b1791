"""Offline reprocessing: run a stored session's samples through its own pipeline, as it ran live.

Exports (CSV columns), clinician reports and tests need the filtered signal, the envelope and
the quality flags of a stored session. The store keeps the raw samples and the pipeline settings
the session started with; during a session the measured noise floor may replace the hardware
model's (a noise-floor phase). The live session records each replacement as a marker labelled
:data:`NOISE_FLOOR_MARKER` (its note: a JSON list of uV values, one per output, null keeping a
value); :func:`iter_processed` applies them at the same sample, so the offline envelope equals
the live one. Sessions stored before the marker existed use the end of a noise-floor phase with
adopted measurements instead. See docs/storage.md.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator

import numpy as np

from biofeedback.core.types import Chunk, ProcessedChunk
from biofeedback.storage.database import Database, SessionRecord

log = logging.getLogger(__name__)

TYPE_CHECKING = False  # the pipeline (scipy) is imported when a session is processed
if TYPE_CHECKING:
    from biofeedback.dsp.pipeline import Pipeline

#: Marker label for "the live pipeline's noise floor was replaced here"; its note is a JSON list
#: of uV values, one per output (null keeps a value). Optional: without it the end of a
#: noise-floor phase with adopted measurements is used.
NOISE_FLOOR_MARKER = "noise floor applied"

#: One replacement of the noise floor: (sample index, one value in uV or None per output).
NoiseFloorChange = tuple[int, list[float | None]]


def pipeline_for(record: SessionRecord, notes: list[str] | None = None) -> Pipeline:
    """The DSP pipeline with the session's stored settings, as it started live (measured noise
    floors applied later in the session are replayed by :func:`iter_processed`).

    Settings written by another version of the app may name fields this version does not know,
    or values it no longer accepts: those are left out (defaults used) and, when ``notes`` is
    given, a sentence saying so is appended to it, so old sessions always stay readable.
    """
    from biofeedback.dsp.pipeline import Pipeline, PipelineSettings, PipelineSettingsError

    stored = dict(record.pipeline_settings or {})
    if isinstance(stored.get("settings"), dict):  # a Pipeline.describe() dict
        stored = dict(stored["settings"])
    known = {f.name for f in dataclasses.fields(PipelineSettings)}
    unknown = sorted(set(stored) - known)
    if unknown and notes is not None:
        notes.append(
            f"stored pipeline settings unknown to this version were ignored: {', '.join(unknown)}"
        )
    usable = {k: v for k, v in stored.items() if k in known}
    try:
        settings = PipelineSettings.from_dict(usable) if usable else None
    except (PipelineSettingsError, TypeError, ValueError) as exc:
        if notes is not None:
            notes.append(f"stored pipeline settings could not be used ({exc}); defaults applied")
        settings = None
    return Pipeline(record.info, settings)


def noise_floor_schedule(
    db: Database, record: SessionRecord, n_outputs: int
) -> list[NoiseFloorChange]:
    """When the live session replaced the pipeline's noise floor, and with what (sample index,
    one value or None per output), so offline processing reproduces the live envelope."""
    schedule: list[NoiseFloorChange] = []
    for marker in db.markers(record.id):
        if marker["label"] != NOISE_FLOOR_MARKER:
            continue
        try:
            values = json.loads(marker["note"])
        except ValueError:
            log.warning(
                "session %s: noise-floor marker at sample %s is not readable (%r): the model "
                "floor stays in use from there",
                record.id,
                marker["sample_index"],
                marker["note"][:80],
            )
            continue
        if isinstance(values, list) and len(values) == n_outputs:
            schedule.append(
                (int(marker["sample_index"]), [None if v is None else float(v) for v in values])
            )
    if schedule:
        return sorted(schedule, key=lambda item: item[0])
    for phase in db.phases(record.id):
        calibration = phase.get("calibration") or {}
        measured = calibration.get("noise_floor_uv")
        adopted = calibration.get("adopted")
        end = phase.get("end_index")
        if phase.get("kind") != "noise-floor" or end is None or not isinstance(measured, list):
            continue
        if (
            not isinstance(adopted, list)
            or len(adopted) != len(measured)
            or len(measured) != n_outputs
        ):
            continue
        values = [
            float(m) if ok and m is not None else None
            for m, ok in zip(measured, adopted, strict=True)
        ]
        if any(v is not None for v in values):
            schedule.append((int(end), values))
    return schedule


#: Samples the pipeline is given at a time offline: the store's blocks of about a second cost the
#: pipeline's fixed cost per call ~2400 times in 40 minutes; much longer blocks leave the CPU
#: caches (measured on a 40-minute session: 1000 -> 4000-8000 samples halves the time).
PROCESS_BLOCK = 8192


def merged_chunks(chunks: Iterator[Chunk], block_samples: int) -> Iterator[Chunk]:
    """Consecutive chunks joined into blocks of up to ``block_samples`` (the store keeps blocks
    of about a second; the pipeline's cost per call is fixed and its output does not depend on
    how the samples are cut)."""
    parts: list[Chunk] = []
    size = 0
    for chunk in chunks:
        if parts and (
            size + len(chunk) > block_samples or chunk.first_index != parts[-1].end_index
        ):
            yield _joined(parts)
            parts, size = [], 0
        parts.append(chunk)
        size += len(chunk)
    if parts:
        yield _joined(parts)


def _joined(parts: list[Chunk]) -> Chunk:
    if len(parts) == 1:
        return parts[0]
    return Chunk(
        parts[0].first_index,
        np.concatenate([c.samples for c in parts]),
        np.concatenate([c.flags for c in parts]),
    )


def iter_processed(
    db: Database,
    record: SessionRecord,
    block_samples: int = 1 << 14,
    notes: list[str] | None = None,
) -> Iterator[tuple[Chunk, ProcessedChunk, Pipeline]]:
    """Run the session's pipeline over its stored samples as it ran live: (chunk, processed,
    pipeline) per block, with measured noise floors applied where the session applied them."""
    pipeline = pipeline_for(record, notes)
    schedule = noise_floor_schedule(db, record, len(pipeline.outputs))
    chunks = db.iter_chunks(record.id, block_samples=block_samples)
    for chunk in merged_chunks(chunks, min(block_samples, PROCESS_BLOCK)):
        start = 0
        while schedule and schedule[0][0] < chunk.end_index:
            cut = max(0, schedule[0][0] - chunk.first_index)
            if cut > start:
                part = Chunk(
                    chunk.first_index + start, chunk.samples[start:cut], chunk.flags[start:cut]
                )
                yield part, pipeline.process(part), pipeline
                start = cut
            pipeline.set_noise_floor(schedule.pop(0)[1])
        if start < len(chunk):
            part = (
                chunk
                if start == 0
                else Chunk(chunk.first_index + start, chunk.samples[start:], chunk.flags[start:])
            )
            yield part, pipeline.process(part), pipeline


def describe_processing(record: SessionRecord, pipeline: Pipeline | None = None) -> str:
    """One line on the filters and envelope, for headers and reports."""
    pipeline = pipeline if pipeline is not None else pipeline_for(record)
    d = pipeline.describe()
    parts = []
    if d.get("band_hz"):
        lo, hi = d["band_hz"]
        parts.append(f"band-pass {lo:g}-{hi:g} Hz ({d.get('filter', '')})")
    if d.get("notch_hz"):
        parts.append(
            f"notch {d['notch_hz'][0]:g} Hz Q {d.get('notch_q', 0):g}"
            + (f" + {len(d['notch_hz']) - 1} harmonics" if len(d["notch_hz"]) > 1 else "")
        )
    elif d.get("mains_hz") in (None, "auto"):
        parts.append(f"mains notch {d.get('mains_hz') or 'off'}")
    parts.append(f"RMS window {d.get('rms_window_s', 0) * 1000:g} ms")
    return "; ".join(parts)
