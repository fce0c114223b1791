"""Export a stored session to EDF+ or CSV.

EDF+ (our own writer, read back in the tests by pyedflib's edflib, edfio and MNE-Python): EDF+C,
one signal per input channel in microvolts at the electrodes, labelled the EDF+ way with the
type first (``EMG trapez L RAW``; ``MISC ref REF``: see :mod:`biofeedback.storage.edf_conventions`)
so MNE types them itself, the app's band-pass and notch in the prefilter field
(``HP:20Hz LP:450Hz N:50Hz``; the samples themselves are stored unfiltered), plus an
"EDF Annotations" signal with the phases, markers, threshold changes and, as ``BAD_gap`` /
``BAD_padding``, the stretches without data (MNE leaves ``BAD_`` spans out). Data records stay
within the spec's 61,440 bytes with a duration that holds a whole number of samples
(:func:`record_layout`). For sessions in ADC counts the EDF digital values *are* the ADC codes
(shifted by half the range), so the export is lossless; RAW and REF are shown relative to
mid-supply, ENV and RECT from zero; each signal's transducer field ends with the ADC facts
(``gain 200, ADC 10 bit, Vref 5 V``). See docs/storage.md and docs/interop.md.

CSV (``# biofeedback-csv: 2``): a commented header (session, fs, units, source and ADC, per input
column its gain, uV per unit and offset, filters), a time column and per channel the raw signal
in uV, then per pipeline output the filtered signal, the envelope (uV RMS) and the quality flags,
computed by :func:`biofeedback.storage.reprocess.iter_processed` (the session's own pipeline over
its stored samples, as it ran live).

:func:`biofeedback.storage.importing.load_recording` reads both back as the session was stored:
ADC counts with the same StreamInfo, so replaying an export models the same noise floor.

Both writers stream block by block (an 8-hour session never sits in memory) and write through
:func:`biofeedback.storage.safe_output.open_output`: a 0600 temporary file with a random name,
renamed at the end, so an error never leaves half a file behind, and the session database (or
anything else of the data folder's own files) is never a valid target.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
import unicodedata
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import numpy as np

from biofeedback import __version__
from biofeedback.core.types import (
    ChannelKind,
    Flag,
    ProcessedChunk,
    StreamInfo,
    counts_to_uv_scale,
)
from biofeedback.errors import StorageError
from biofeedback.storage.csv_format import format_columns
from biofeedback.storage.database import Database, SessionRecord
from biofeedback.storage.edf_conventions import GAP_TEXT, PADDING_TEXT, rate_note, signal_label
from biofeedback.storage.importing import CSV_VERSION, channel_offsets
from biofeedback.storage.reprocess import describe_processing, iter_processed, pipeline_for
from biofeedback.storage.safe_output import open_output, store_files

TYPE_CHECKING = False  # the pipeline (scipy) is imported when a session is processed
if TYPE_CHECKING:
    from biofeedback.dsp.pipeline import Pipeline

log = logging.getLogger(__name__)

FORMATS = ("edf", "csv")
#: Rows per second of the compact CSV the window offers and the docs suggest (a 40-minute session
#: is 240,000 rows, within a spreadsheet's 1,048,576; the envelope's 100 ms window is smooth at it).
COMPACT_RATE_HZ = 100.0
Progress = Callable[[float], None]

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


@dataclass
class ExportResult:
    """What an export wrote."""

    path: Path
    format: str
    samples: int
    channels: int
    annotations: int
    bytes: int
    seconds: float


# -- shared helpers ----------------------------------------------------------------------------------
def slug(name: str) -> str:
    """A column-safe version of a channel name (``trapezius L env`` -> ``trapezius_l_env``)."""
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower() or "ch"


def raw_uv(info: StreamInfo, samples: np.ndarray) -> np.ndarray:
    """Input samples in uV at the electrodes as exported (see :func:`channel_offsets`)."""
    scales = np.array([ch.scale_uv for ch in info.channels])
    return (samples - channel_offsets(info)) * scales


def export_session(
    db: Database,
    session_id: int,
    fmt: str,
    path: Path | str,
    progress: Progress | None = None,
    csv_rate_hz: float | None = None,
) -> ExportResult:
    """Write session ``session_id`` as ``fmt`` ("edf" or "csv") to ``path``.

    ``csv_rate_hz`` (CSV only) writes the compact CSV for spreadsheets instead of one row per
    sample: per output the envelope (mean of each bin) and the quality flags (any in the bin) at
    that many rows per second (:data:`COMPACT_RATE_HZ` is what the window and docs suggest).
    """
    fmt = fmt.lower().lstrip(".")
    if fmt not in FORMATS:
        raise StorageError(f"export format {fmt!r}: choose edf or csv")
    record = db.get_session(session_id)
    if csv_rate_hz is not None:
        check_csv_rate(fmt, csv_rate_hz, record.info.fs_hz)
    if not db.stored_extent(session_id)[2]:
        raise StorageError(f"session {session_id} has no recorded samples: nothing to export")
    started = time.perf_counter()
    # Never onto the database being exported (or its -wal/-shm, backups, settings).
    with open_output(path, store_files(db.path), example=f"session.{fmt}") as out:
        if fmt == "edf":
            samples, channels, annotations = _write_edf(db, record, out.file, progress)
        elif csv_rate_hz is not None:
            samples, channels, annotations = _write_compact_csv(
                db, record, out.file, progress, csv_rate_hz
            )
        else:
            samples, channels, annotations = _write_csv(db, record, out.file, progress)
    path = out.path
    if progress is not None:
        progress(1.0)
    return ExportResult(
        path,
        fmt,
        samples,
        channels,
        annotations,
        path.stat().st_size,
        time.perf_counter() - started,
    )


# -- EDF+ ---------------------------------------------------------------------------------------------
def _ascii(text: object, width: int | None = None) -> str:
    value = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode("ascii")
    value = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in value)
    return value if width is None else value[:width]


def _field(text: object, width: int) -> bytes:
    value = _ascii(text, width)
    return value.ljust(width).encode("ascii")


def _subfield(text: object) -> str:
    """EDF+ header subfields have no spaces; 'X' means unknown."""
    value = _ascii(text).strip().replace(" ", "_")
    return value or "X"


def format_number(value: float, width: int = 8, direction: int = 0) -> str:
    """The most precise decimal of ``value`` that fits ``width`` characters.

    ``direction`` -1 / +1 rounds down / up (physical minimum / maximum must still contain the
    data); 0 rounds to nearest.
    """
    if not math.isfinite(value):
        raise ValueError("EDF header numbers must be finite")
    for decimals in range(width - 2, -1, -1):
        text = f"{value:.{decimals}f}"
        if decimals:
            text = text.rstrip("0").rstrip(".") if "." in text else text
        if len(text) > width:
            continue
        number = float(text)
        if direction < 0 and number > value:
            number = math.floor(value * 10**decimals) / 10**decimals
            text = f"{number:.{decimals}f}"
        elif direction > 0 and number < value:
            number = math.ceil(value * 10**decimals) / 10**decimals
            text = f"{number:.{decimals}f}"
        if len(text) <= width:
            return text
    raise ValueError(f"{value} does not fit in {width} characters")


#: Largest data record the EDF specification recommends (bytes): "the duration of each data
#: record is recommended to be a whole number of seconds and its size (number of bytes) is
#: recommended not to exceed 61440" (Kemp et al. 1992, https://www.edfplus.info/specs/edf.html).
MAX_RECORD_BYTES = 61440
#: Width of the header's "duration of a data record" field.
_DURATION_WIDTH = 8


def _duration_decimals(seconds: np.ndarray) -> np.ndarray:
    """Decimals a record duration may carry in the 8-character field (``9.999999``,
    ``99.99999``, ``0.123456``)."""
    whole = np.floor(seconds).astype(np.int64)
    digits = np.where(whole > 0, np.floor(np.log10(np.maximum(whole, 1))).astype(np.int64) + 1, 1)
    return np.clip(_DURATION_WIDTH - 1 - digits, 0, 6)


def _used_decimals(seconds: np.ndarray) -> np.ndarray:
    """Decimals each duration needs (``0.25`` -> 2, ``10.0`` -> 0)."""
    used = np.full(len(seconds), 6)
    for k in range(5, -1, -1):
        scaled = seconds * 10.0**k
        used[np.abs(scaled - np.round(scaled)) < 1e-6] = k
    return used


def _fraction(seconds: float) -> Fraction:
    return Fraction(format_number(float(seconds)))


def record_layout(
    fs_hz: float,
    n_signals: int = 1,
    annotation_bytes: int = 60,
    total_samples: int | None = None,
    max_bytes: int = MAX_RECORD_BYTES,
) -> tuple[float, int, float]:
    """(record duration s, samples per record, EDF sampling rate) for a stream rate.

    A data record of ``n_signals`` 2-byte signals plus ``annotation_bytes`` of annotations stays
    within ``max_bytes``; its duration is a decimal that fits the header's 8 characters and holds
    a whole number of samples. The last record is completed with padding.

    - The rate is exactly representable (every integer rate; 998.7 Hz in 10 s): the shortest
      duration with the fewest decimals (1 s for integer rates, as the spec recommends).
    - Otherwise (988.142 Hz would need 500 s records): among the durations whose rate
      ``samples / duration`` is within 1e-8 of ``fs_hz`` and keeps the time of the last sample
      of a ``total_samples`` recording within 1 % of a sample period, the one that pads least
      (the shortest when the length is not given; then within 1e-9).
    - None is that close (many signals make records short, and short durations carry few
      decimals: 32 signals at 988.142 Hz give 5e-7, 1.8 ms in an hour): the closest rate.
      Annotations are placed on the file's own time axis, so they stay on their samples, and
      the export states the exact rate in an annotation.
    """
    if not (math.isfinite(fs_hz) and fs_hz > 0):
        raise ValueError(f"sampling rate must be positive, got {fs_hz!r}")
    max_spr = max(1, (max_bytes - annotation_bytes) // (2 * max(1, n_signals)))
    spr = np.arange(1, max_spr + 1, dtype=np.int64)
    exact_seconds = spr / float(fs_hz)
    decimals = _duration_decimals(exact_seconds)
    scale = 10.0**decimals
    seconds = np.round(exact_seconds * scale) / scale
    ok = seconds > 0
    spr, seconds = spr[ok], seconds[ok]
    if not len(spr):
        raise ValueError(f"a {fs_hz:g} Hz rate needs records shorter than 1 microsecond")
    error = np.abs(spr / seconds - fs_hz) / fs_hz
    used = _used_decimals(seconds)
    # Among the exact layouts: fewest decimals, then the shortest (checked exactly in Fraction).
    exact = np.flatnonzero(error < 1e-12)
    exact = exact[np.lexsort((seconds[exact], used[exact]))][:1]
    rate = Fraction(repr(float(fs_hz)))
    if len(exact) and Fraction(int(spr[exact[0]])) / _fraction(seconds[exact[0]]) != rate:
        exact = exact[:0]
    tolerance = min(1e-8, 0.01 / total_samples) if total_samples else 1e-9
    close = np.flatnonzero(error <= tolerance)
    if len(exact):
        i = int(exact[0])
    elif len(close) and total_samples:
        padding = (-int(total_samples)) % spr[close]
        i = int(close[np.argmin(padding)])  # the least end padding; the shortest on a tie
    elif len(close):
        i = int(close[0])  # the shortest
    else:
        i = int(len(error) - 1 - np.argmin(error[::-1]))  # the closest; the longest on a tie
    duration = float(format_number(float(seconds[i])))
    return duration, int(spr[i]), int(spr[i]) / duration


@dataclass
class _EdfSignal:
    label: str
    transducer: str
    dimension: str
    phys_min: str
    phys_max: str
    dig_min: int
    dig_max: int
    prefilter: str
    offset: float  # input value -> digital: round(value * gain + offset) ... see _digital
    gain: float
    gap_digital: int


def software_filters(record: SessionRecord) -> str:
    """The session pipeline's filters in the EDF+ prefilter notation (``HP:20Hz LP:450Hz
    N:50Hz``), as MNE and EDF browsers read them; "" when it applies none (no band-pass)."""
    try:
        described = pipeline_for(record).describe()
    except ValueError as exc:  # a rate too low for the stored band: the session has no band
        log.warning(
            "session %s: no pipeline band for the EDF+ prefilter field (%s)", record.id, exc
        )
        return ""
    band = described.get("band_hz")
    if not band:
        return ""
    parts = [f"HP:{band[0]:g}Hz", f"LP:{band[1]:g}Hz"]
    mains, notches = described.get("mains_hz"), described.get("notch_hz") or []
    if isinstance(mains, int | float) and notches:
        parts.append(f"N:{notches[0]:g}Hz")
    elif mains == "auto":
        parts.append("N:50/60Hz(auto)")
    return " ".join(parts)


def _edf_signals(
    record: SessionRecord,
    extremes: tuple[np.ndarray, np.ndarray] | None,
    filters: str = "",
) -> list[_EdfSignal]:
    """One EDF signal per input channel: ``EMG <name> <KIND>`` label, sensor and ADC facts in
    the transducer field, the app's filters (``filters``) in the prefilter field of RAW and REF
    (ENV/RECT are the sensor's envelope, not filtered by the app), and the digital mapping."""
    info = record.info
    hw = record.hardware or {}
    version = hw.get("myoware_version")
    sensor = _ascii(f"MyoWare {version}" if version else "MyoWare")
    signals = []
    lossless = info.units == "counts" and info.adc_bits is not None and info.adc_bits <= 16
    offsets = channel_offsets(info)
    for i, ch in enumerate(info.channels):
        label = signal_label(" ".join(_ascii(ch.name).split()), ch.kind)
        transducer = f"{sensor} {ch.kind.value.upper()} surface EMG, analogue gain {ch.gain:g}"
        if lossless and info.vref_v:
            transducer = _adc_transducer(f"{sensor} {ch.kind.value.upper()} surface EMG", info, i)
        if ch.kind not in (ChannelKind.RAW, ChannelKind.REF):
            prefilter = "sensor rectify+smooth (ENV/RECT output); no filter in the app"
        elif filters:
            prefilter = f"{filters} in the app; samples stored unfiltered"
        else:
            prefilter = "no filter in the app (raw ADC); analogue filters of the sensor only"
        if lossless:
            mid = 2 ** (info.adc_bits - 1)  # type: ignore[operator]
            dig_min, dig_max = -mid, mid - 1
            # physical = (counts - offset) * scale; digital = counts - mid
            phys_lo = (0 - offsets[i]) * ch.scale_uv
            phys_hi = (2**info.adc_bits - 1 - offsets[i]) * ch.scale_uv  # type: ignore[operator]
            pmin, pmax = format_number(phys_lo), format_number(phys_hi)
            gain, offset = 1.0, -float(mid)
            zero = round(offsets[i] - mid)
        else:
            assert extremes is not None
            lo, hi = extremes[0][i], extremes[1][i]
            lo_uv, hi_uv = sorted(
                ((lo - offsets[i]) * ch.scale_uv, (hi - offsets[i]) * ch.scale_uv)
            )
            if not (math.isfinite(lo_uv) and math.isfinite(hi_uv)):
                lo_uv, hi_uv = -1.0, 1.0
            if hi_uv - lo_uv < 1e-6 * max(1.0, abs(hi_uv)):
                lo_uv, hi_uv = lo_uv - 1.0, hi_uv + 1.0
            pmin, pmax = format_number(lo_uv, direction=-1), format_number(hi_uv, direction=1)
            dig_min, dig_max = -32768, 32767
            # digital = dig_min + (uV - pmin) / step, with uV = (value - offset_i) * scale
            step = (float(pmax) - float(pmin)) / (dig_max - dig_min)
            gain = ch.scale_uv / step
            offset = dig_min - (offsets[i] * ch.scale_uv + float(pmin)) / step
            zero = round(min(max(dig_min - float(pmin) / step, dig_min), dig_max))
        signals.append(
            _EdfSignal(
                label=label,
                transducer=transducer,
                dimension="uV",
                phys_min=pmin,
                phys_max=pmax,
                dig_min=dig_min,
                dig_max=dig_max,
                prefilter=prefilter,
                offset=offset,
                gain=gain,
                gap_digital=int(min(max(zero, dig_min), dig_max)),
            )
        )
    return signals


def exact_number(value: float) -> str:
    """The shortest text that reads back as exactly ``value`` (``200.0`` -> ``200``)."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def exact_gain(info: StreamInfo, index: int) -> float:
    """A gain from which ``counts_to_uv_scale(vref, bits, gain)`` gives channel ``index``'s
    scale exactly: its own gain (boards and the simulator derive the scale from it), else the
    gain the scale implies (e.g. a file imported with ``scale_uv=``), to the nearest bit."""
    ch = info.channels[index]
    vref, bits = float(info.vref_v or 0.0), int(info.adc_bits or 0)
    if counts_to_uv_scale(vref, bits, ch.gain) == ch.scale_uv:
        return float(ch.gain)
    implied = vref / 2**bits / ch.scale_uv * 1e6
    for candidate in (implied, *np.nextafter(implied, [0.0, np.inf]).tolist()):
        if counts_to_uv_scale(vref, bits, candidate) == ch.scale_uv:
            return float(candidate)
    return float(implied)


def _adc_transducer(description: str, info: StreamInfo, index: int) -> str:
    """EDF transducer field of a signal in ADC counts: what it is, then the ADC facts that turn
    its digital values back into counts and uV (``importing.EDF_ADC_FACTS`` reads them):
    ``..., gain 10200, ADC 10 bit, Vref 5 V``. The description is shortened to fit 80 bytes."""
    facts = (
        f", gain {exact_number(exact_gain(info, index))}, ADC {info.adc_bits} bit, "
        f"Vref {exact_number(info.vref_v or 0.0)} V"
    )
    return _ascii(description, 80 - len(facts)).rstrip() + facts


def _tal(onset_s: float, text: str = "", duration_s: float | None = None) -> bytes:
    onset = f"{onset_s:+.6f}".rstrip("0").rstrip(".")
    if onset in ("+", "-"):
        onset = "+0"
    head = onset.encode("ascii")
    if duration_s is not None and duration_s > 0:
        head += b"\x15" + f"{duration_s:.6f}".rstrip("0").rstrip(".").encode("ascii")
    clean = text.replace("\x14", " ").replace("\x15", " ").replace("\x00", " ")
    return head + b"\x14" + clean.encode("utf-8") + b"\x14\x00"


#: An annotation in sample units: (first sample from the start of the export, number of samples
#: or None for an instant, text); converted to seconds on the file's own time axis when written.
Note = tuple[int, int | None, str]


def session_annotations(db: Database, record: SessionRecord, origin: int) -> list[Note]:
    """Phases, markers and threshold changes as (sample offset from ``origin``, length or None,
    text)."""
    out: list[Note] = []
    for phase in db.phases(record.id):
        start = phase.get("start_index")
        if start is None:
            continue
        end = phase.get("end_index")
        length = None if end is None else max(0, int(end) - int(start))
        out.append((max(0, int(start) - origin), length, f"Phase: {phase['name']}"))
    for marker in db.markers(record.id):
        text = f"Marker: {marker['label']}" + (f" - {marker['note']}" if marker["note"] else "")
        out.append((max(0, int(marker["sample_index"]) - origin), None, text))
    for change in db.threshold_log(record.id):
        text = f"Threshold {change['new_uv']:.3g} uV ({change['reason']})"
        if record.info.n_channels > 1 and change["channel"]:
            text += f" channel {change['channel'] + 1}"
        out.append((max(0, int(change["sample_index"]) - origin), None, text))
    out.sort(key=lambda a: a[0])
    return out


def _scan(
    db: Database, record: SessionRecord, need_extremes: bool
) -> tuple[list[tuple[int, int]], tuple[np.ndarray, np.ndarray] | None]:
    """Missing-data runs (absolute [start, stop)) and per-channel min/max of the stored values."""
    runs: list[tuple[int, int]] = []
    lo = np.full(record.info.n_channels, np.inf)
    hi = np.full(record.info.n_channels, -np.inf)
    open_start: int | None = None
    last_end = record.first_index or 0
    for chunk in db.iter_chunks(record.id, block_samples=1 << 16):
        missing = np.isnan(chunk.samples).any(axis=1) | ((chunk.flags & int(Flag.MISSING)) != 0)
        edges = np.diff(np.concatenate([[0], missing.astype(np.int8), [0]]))
        starts = [int(a) + chunk.first_index for a in np.flatnonzero(edges == 1)]
        stops = [int(b) + chunk.first_index for b in np.flatnonzero(edges == -1)]
        if open_start is not None:
            # A run reached the end of the previous chunk: it continues here or ended there.
            if starts and starts[0] == chunk.first_index:
                starts[0] = open_start
            else:
                runs.append((open_start, chunk.first_index))
            open_start = None
        for a, b in zip(starts, stops, strict=True):
            if b == chunk.end_index:
                open_start = a
            else:
                runs.append((a, b))
        if need_extremes and not missing.all():
            good = chunk.samples[~missing]
            lo = np.minimum(lo, good.min(axis=0))
            hi = np.maximum(hi, good.max(axis=0))
        last_end = chunk.end_index
    if open_start is not None:
        runs.append((open_start, last_end))
    return runs, ((lo, hi) if need_extremes else None)


@dataclass
class _EdfLayout:
    """Data records and their annotation bytes (see :func:`_edf_layout`)."""

    duration_s: float
    spr: int
    edf_fs: float
    n_records: int
    annotations: list[bytes]  # per data record
    annotation_samples: int  # 2-byte "samples" of the annotation signal per record
    notes: int  # annotations written (besides the records' time stamps)


def _edf_layout(record: SessionRecord, n_signals: int, total: int, notes: list[Note]) -> _EdfLayout:
    """The record layout (:func:`record_layout`) and the annotations of each record: the
    session's notes, ``BAD_padding`` for the end of the last record and, when the file's rate
    differs from the stream's, a note saying by how much. The annotation signal's size depends
    on the layout and the layout on it: grown until both agree (a few rounds at most)."""
    fs = record.info.fs_hz
    annotation_bytes = 60
    while True:
        duration_s, spr, edf_fs = record_layout(fs, n_signals, annotation_bytes, total)
        n_records = max(1, math.ceil(total / spr))
        all_notes = list(notes)
        padding = n_records * spr - total
        if padding:
            all_notes.append((total, padding, PADDING_TEXT))
        if abs(edf_fs - fs) > 1e-12 * fs:
            note = rate_note(fs, spr, format_number(duration_s), edf_fs)
            all_notes.insert(0, (0, None, note))
        per_record = _annotation_records(all_notes, n_records, spr, duration_s, edf_fs)
        need = max(60, 2 * math.ceil(max(len(r) for r in per_record) / 2))
        # (more annotations in one record than the recommended size holds: written anyway)
        if need <= annotation_bytes or need >= MAX_RECORD_BYTES:
            return _EdfLayout(
                duration_s,
                spr,
                edf_fs,
                n_records,
                per_record,
                max(need, annotation_bytes) // 2,
                len(all_notes),
            )
        annotation_bytes = need


def _write_edf(
    db: Database, record: SessionRecord, fh: BinaryIO, progress: Progress | None
) -> tuple[int, int, int]:
    info = record.info
    first, end, _ = db.stored_extent(record.id)
    assert first is not None and end is not None
    total = end - first
    lossless = info.units == "counts" and info.adc_bits is not None and info.adc_bits <= 16
    gaps, extremes = _scan(db, record, need_extremes=not lossless)
    signals = _edf_signals(record, extremes, software_filters(record))
    notes = session_annotations(db, record, first)
    notes += [(a - first, b - a, GAP_TEXT) for a, b in gaps]
    notes.sort(key=lambda n: n[0])
    layout = _edf_layout(record, len(signals), total, notes)
    spr = layout.spr
    fh.write(_edf_header(record, signals, layout))

    dig_min = np.array([s.dig_min for s in signals])
    dig_max = np.array([s.dig_max for s in signals])
    gains = np.array([s.gain for s in signals])
    offsets = np.array([s.offset for s in signals])
    gap_digital = np.array([s.gap_digital for s in signals])
    buffer = np.empty((0, info.n_channels), dtype=np.int16)
    written_records = 0

    def emit(rows: np.ndarray) -> None:
        nonlocal written_records
        block = bytearray()
        ann = layout.annotations[written_records]
        for ch in range(info.n_channels):
            block += rows[:, ch].astype("<i2").tobytes()
        block += ann.ljust(layout.annotation_samples * 2, b"\x00")
        fh.write(block)
        written_records += 1
        if progress is not None and written_records % 64 == 0:
            progress(written_records / layout.n_records)

    for chunk in db.iter_chunks(record.id, block_samples=1 << 15):
        digital = np.rint(chunk.samples * gains + offsets)
        nan = np.isnan(digital)
        digital = np.where(nan, gap_digital, digital)
        digital = np.clip(digital, dig_min, dig_max).astype(np.int16)
        buffer = np.concatenate([buffer, digital]) if len(buffer) else digital
        while len(buffer) >= spr:
            emit(buffer[:spr])
            buffer = buffer[spr:]
    if written_records < layout.n_records:
        pad = np.tile(gap_digital.astype(np.int16), (spr - len(buffer), 1))
        emit(np.concatenate([buffer, pad]) if len(buffer) else pad)
    return total, info.n_channels, layout.notes


def _annotation_records(
    notes: list[Note], n_records: int, spr: int, duration_s: float, edf_fs: float
) -> list[bytes]:
    """Per data record its annotation bytes: the record's time stamp, then the TALs whose first
    sample falls in it, with onsets and durations on the file's time axis (``edf_fs``)."""
    per_record = [_tal(k * duration_s) for k in range(n_records)]
    for start, length, text in notes:
        k = min(n_records - 1, start // spr)
        per_record[k] += _tal(start / edf_fs, text, None if length is None else length / edf_fs)
    return per_record


def _edf_header(record: SessionRecord, signals: list[_EdfSignal], layout: _EdfLayout) -> bytes:
    start = time.localtime(record.started_at)
    ns = len(signals) + 1
    patient = f"{_subfield(record.subject_id or 'X')} X X X"
    info = record.info
    # The board key exactly ("X" when a board's stream did not name it): the importer restores
    # it. Imported files say "file".
    board = info.board or ("X" if info.units == "counts" else "file")
    head_of_recording = (
        f"Startdate {start.tm_mday:02d}-{_MONTHS[start.tm_mon - 1]}-{start.tm_year:04d} "
        f"S{record.id} "
    )
    equipment = f"biofeedback_{_subfield(__version__)}_{_subfield(board)}"
    # A long clinician name is shortened so the equipment subfield always fits in 80 bytes.
    room = max(1, 80 - len(head_of_recording) - 1 - len(equipment))
    clinician = _subfield(record.clinician or "X")[:room]
    recording = f"{head_of_recording}{clinician} {equipment}"
    head = b"".join(
        [
            _field("0", 8),
            _field(patient, 80),
            _field(recording, 80),
            _field(f"{start.tm_mday:02d}.{start.tm_mon:02d}.{start.tm_year % 100:02d}", 8),
            _field(f"{start.tm_hour:02d}.{start.tm_min:02d}.{start.tm_sec:02d}", 8),
            _field(str(256 * (ns + 1)), 8),
            _field("EDF+C", 44),
            _field(str(layout.n_records), 8),
            _field(format_number(layout.duration_s), 8),
            _field(str(ns), 4),
        ]
    )
    ann = _EdfSignal("EDF Annotations", "", "", "-1", "1", -32768, 32767, "", 0.0, 1.0, 0)
    allsig = [*signals, ann]
    counts = [layout.spr] * len(signals) + [layout.annotation_samples]
    parts = [
        b"".join(_field(s.label, 16) for s in allsig),
        b"".join(_field(s.transducer, 80) for s in allsig),
        b"".join(_field(s.dimension, 8) for s in allsig),
        b"".join(_field(s.phys_min, 8) for s in allsig),
        b"".join(_field(s.phys_max, 8) for s in allsig),
        b"".join(_field(str(s.dig_min), 8) for s in allsig),
        b"".join(_field(str(s.dig_max), 8) for s in allsig),
        b"".join(_field(s.prefilter, 80) for s in allsig),
        b"".join(_field(str(c), 8) for c in counts),
        b"".join(_field("", 32) for _ in allsig),
    ]
    out = head + b"".join(parts)
    assert len(out) == 256 * (ns + 1)
    return out


def edf_quantum_uv(record: SessionRecord, db: Database | None = None) -> np.ndarray:
    """Per channel, the uV value of one EDF digital step for this session's export."""
    info = record.info
    if info.units == "counts" and info.adc_bits is not None and info.adc_bits <= 16:
        return np.array([ch.scale_uv for ch in info.channels])
    if db is None:
        raise ValueError("need the database to compute the range of a non-count session")
    _, extremes = _scan(db, record, need_extremes=True)
    return np.array(
        [(float(s.phys_max) - float(s.phys_min)) / 65535 for s in _edf_signals(record, extremes)]
    )


# -- CSV ----------------------------------------------------------------------------------------------
def _write_csv(
    db: Database, record: SessionRecord, fh: BinaryIO, progress: Progress | None
) -> tuple[int, int, int]:
    info = record.info
    notes: list[str] = []
    pipeline = pipeline_for(record, notes)  # for the header; iter_processed runs its own
    n_outputs = len(pipeline.outputs)
    first, end, _ = db.stored_extent(record.id)
    assert first is not None and end is not None
    total = end - first
    fh.write(_csv_header(record, pipeline, notes).encode("utf-8"))
    fmt = ["%.6f"] + ["%.10g"] * info.n_channels + ["%.6g", "%.6g", "%d"] * n_outputs
    done = 0
    pending: list[list[np.ndarray]] = []  # formatted together: numpy's cost per call is fixed
    rows = 0
    # The text is made on a worker thread (numpy lets go of the GIL) while the pipeline runs on
    # this one; at most two blocks wait, and they are written in order.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="csv-format") as pool:
        queued: deque[Future[bytes]] = deque()
        for chunk, processed, _ in iter_processed(db, record, 1 << 14):
            t = (np.arange(chunk.first_index, chunk.end_index) - first) / info.fs_hz
            raw = raw_uv(info, chunk.samples)
            columns = [t, *raw.T]
            for k in range(n_outputs):
                columns += [
                    processed.signal_uv[:, k],
                    processed.envelope_uv[:, k],
                    processed.flags[:, k].astype(np.float64),
                ]
            pending.append(columns)
            rows += len(chunk)
            done += len(chunk)
            if rows >= _CSV_BLOCK_ROWS:
                queued.append(pool.submit(_csv_block, pending, fmt))
                pending, rows = [], 0
                if len(queued) > 2:
                    fh.write(queued.popleft().result())
            if progress is not None:  # (per block processed, as before: a Cancel stops here)
                progress(done / max(1, total))
        if pending:
            queued.append(pool.submit(_csv_block, pending, fmt))
        while queued:
            fh.write(queued.popleft().result())
    return total, info.n_channels, 0


def _csv_block(pending: list[list[np.ndarray]], fmt: list[str]) -> bytes:
    """The CSV rows of the chunks' columns (``pending``: per chunk its columns)."""
    columns = [np.concatenate(parts) for parts in zip(*pending, strict=True)]
    return format_columns(columns, fmt)


#: Version of the compact CSV's header (``# biofeedback-envelope-csv: 1``).
COMPACT_CSV_VERSION = 1

#: Rows formatted at a time (about 10 MB of text): numpy's fixed cost per call stays small.
_CSV_BLOCK_ROWS = 1 << 17


def check_csv_rate(fmt: str, rate_hz: float, fs_hz: float) -> None:
    """A compact CSV rate: CSV only, a positive number below the session's sampling rate."""
    if fmt != "csv":
        raise StorageError("--csv-rate applies to CSV exports only (EDF+ keeps every sample)")
    if not (math.isfinite(rate_hz) and 0 < rate_hz < fs_hz):
        raise StorageError(
            f"CSV rate {rate_hz:g} Hz: give a rate above 0 and below the session's {fs_hz:g} Hz "
            f"(e.g. {COMPACT_RATE_HZ:g}), or leave it out for every sample"
        )


def _write_compact_csv(
    db: Database, record: SessionRecord, fh: BinaryIO, progress: Progress | None, rate_hz: float
) -> tuple[int, int, int]:
    """The compact CSV: per bin of 1/``rate_hz`` s (sample i is in bin floor(i * rate / fs)),
    its start time and per output the mean envelope of its samples with a value and the OR of
    their quality flags (docs/storage.md, "Compact CSV")."""
    info = record.info
    notes: list[str] = []
    pipeline = pipeline_for(record, notes)
    n_outputs = len(pipeline.outputs)
    first, end, _ = db.stored_extent(record.id)
    assert first is not None and end is not None
    total = end - first
    fh.write(_compact_header(record, pipeline, notes, rate_hz).encode("utf-8"))
    fmt = ["%.6f"] + ["%.6g", "%d"] * n_outputs
    ratio = rate_hz / info.fs_hz
    carry: tuple[int, np.ndarray, np.ndarray, np.ndarray] | None = None  # the open last bin (1 row)
    for chunk, processed, _ in iter_processed(db, record, 1 << 16):
        bins = np.floor((np.arange(chunk.first_index, chunk.end_index) - first) * ratio)
        lo = int(bins[0])
        local = bins.astype(np.int64) - lo
        size = int(local[-1]) + 1
        sums, counts, flags = _bin_envelope(local, size, processed)
        if carry is not None and carry[0] == lo:
            sums[0] += carry[1][0]
            counts[0] += carry[2][0]
            flags[0] |= carry[3][0]
        elif carry is not None:  # (a chunk never skips a bin: they are contiguous)
            fh.write(_compact_rows(*carry, rate_hz, fmt))
        fh.write(_compact_rows(lo, sums[:-1], counts[:-1], flags[:-1], rate_hz, fmt))
        carry = (lo + size - 1, sums[-1:], counts[-1:], flags[-1:])
        if progress is not None:
            progress((chunk.end_index - first) / max(1, total))
    if carry is not None:
        fh.write(_compact_rows(*carry, rate_hz, fmt))
    return total, info.n_channels, 0


def _bin_envelope(
    local: np.ndarray, size: int, processed: ProcessedChunk
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per bin and output: the sum and count of the finite envelope values, the OR of flags."""
    k = processed.envelope_uv.shape[1]
    sums, counts = np.zeros((size, k)), np.zeros((size, k))
    flags = np.zeros((size, k), dtype=np.int64)
    for c in range(k):
        env = processed.envelope_uv[:, c]
        ok = np.isfinite(env)
        sums[:, c] = np.bincount(local[ok], weights=env[ok], minlength=size)
        counts[:, c] = np.bincount(local[ok], minlength=size)
        np.bitwise_or.at(flags[:, c], local, processed.flags[:, c].astype(np.int64))
    return sums, counts, flags


def _compact_rows(
    first_bin: int,
    sums: np.ndarray,
    counts: np.ndarray,
    flags: np.ndarray,
    rate_hz: float,
    fmt: list[str],
) -> bytes:
    if not len(sums):
        return b""
    with np.errstate(invalid="ignore", divide="ignore"):
        env = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    columns = [np.arange(first_bin, first_bin + len(sums)) / rate_hz]
    for c in range(sums.shape[1]):
        columns += [env[:, c], flags[:, c].astype(np.float64)]
    return format_columns(columns, fmt)


def _compact_header(
    record: SessionRecord, pipeline: Pipeline, notes: list[str], rate_hz: float
) -> str:
    """The compact CSV's commented header and column-name line."""
    info = record.info
    columns = ["time_s"]
    for out in pipeline.outputs:
        n = slug(out.name)
        columns += [f"{n}_envelope_uv", f"{n}_flags"]
    started = time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(record.started_at))
    lines = [
        f"# biofeedback-envelope-csv: {COMPACT_CSV_VERSION}",
        f"# session: {record.id}",
        f"# subject: {record.subject_id or ''}",
        f"# protocol: {record.protocol}",
        f"# started: {started}",
        f"# rate_hz: {rate_hz:.9g}",
        f"# recorded_fs_hz: {info.fs_hz:.9g}",
        "# units: uV RMS at the electrodes",
        f"# source: {info.device} board={info.board} adc_bits={info.adc_bits} vref_v={info.vref_v} units={info.units}",
        f"# filters: {describe_processing(record, pipeline)}",
        "# envelope: causal moving RMS as shown live, noise-floor corrected in quadrature; "
        f"mean of each 1/{rate_hz:g} s (nan where every sample is missing)",
        "# flags: quality bits of any sample in the row's time: 1=gap 2=clipping 4=electrode off "
        "8=mains 16=motion 32=settling 64=invalid",
        "# time_s: start of each row's time, seconds from the first recorded sample",
        "# every sample, the raw and the filtered signal: export without a rate (or EDF+)",
        *[f"# note: {note}" for note in notes],
        ",".join(columns),
    ]
    return "\n".join(lines) + "\n"


def _csv_header(record: SessionRecord, pipeline: Pipeline, notes: list[str]) -> str:
    """The commented header lines and the column-name line (docs/storage.md, "CSV")."""
    info = record.info
    in_names = [slug(ch.name) for ch in info.channels]
    columns = ["time_s"] + [f"{n}_raw_uv" for n in in_names]
    for out in pipeline.outputs:
        n = slug(out.name)
        columns += [f"{n}_filtered_uv", f"{n}_envelope_uv", f"{n}_flags"]
    started = time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(record.started_at))
    channel_desc = ", ".join(f"{slug(ch.name)} ({ch.kind.value})" for ch in info.channels)
    offsets = channel_offsets(info)
    inputs = [
        {
            "column": f"{n}_raw_uv",
            "name": ch.name,
            "kind": ch.kind.value,
            "gain": ch.gain,
            "scale_uv": ch.scale_uv,
            "offset": float(offsets[i]),
        }
        for i, (n, ch) in enumerate(zip(in_names, info.channels, strict=True))
    ]
    lines = [
        f"# biofeedback-csv: {CSV_VERSION}",
        f"# session: {record.id}",
        f"# subject: {record.subject_id or ''}",
        f"# protocol: {record.protocol}",
        f"# started: {started}",
        f"# fs_hz: {info.fs_hz:.9g}",
        "# units: uV at the electrodes (raw: RAW/REF relative to mid-supply, ENV/RECT from 0)",
        f"# source: {info.device} board={info.board} adc_bits={info.adc_bits} vref_v={info.vref_v} units={info.units}",
        f"# channels: {channel_desc}",
        # exact (JSON numbers round-trip): <column> = (stored value - offset) x scale_uv
        f"# inputs: {json.dumps(inputs, ensure_ascii=False)}",
        f"# filters: {describe_processing(record, pipeline)}",
        "# envelope: causal moving RMS as shown live, noise-floor corrected in quadrature",
        "# flags: quality bits 1=gap 2=clipping 4=electrode off 8=mains 16=motion 32=settling 64=invalid",
        "# time_s: seconds from the first recorded sample; missing samples are nan",
        *[f"# note: {note}" for note in notes],
        ",".join(columns),
    ]
    return "\n".join(lines) + "\n"
