"""Read an XDF recording (LabRecorder, the Lab Streaming Layer's recorder) into a Recording.

An XDF file holds several streams, each with its own header (name, type, channel count, nominal
rate, channel labels and units in ``desc/channels``) and time stamps on the LSL clock, which pyxdf
synchronises across computers with the file's clock offsets. The import takes one signal stream
(the only one, the only one of type EMG, or the one named by the ``stream=`` option: its name,
type or number as listed in the error), turns every marker stream (text samples, or nominal rate
0) into markers at the signal's sample nearest each marker's time stamp, and places breaks
between the signal's segments (pyxdf finds them in the time stamps) as missing samples.

The file header's ``datetime`` is when the recording started; the signal's first sample is
placed that long after it as its first time stamp comes after the earliest first time stamp of
any stream in the file, so the start time is as good as the recording computer's clock.
"""

from __future__ import annotations

import logging
import math
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from biofeedback.core.types import Flag
from biofeedback.errors import SourceURLError
from biofeedback.storage.importing import (
    _UNIT_ALIASES,
    Marker,
    Recording,
    RecordingOptions,
    _column_index,
    _kinds,
    _make_info,
)

log = logging.getLogger(__name__)

#: A pause in a stream's time stamps longer than this many seconds and samples is a break (the
#: samples around it are dejittered separately and the break is stored as missing samples);
#: pyxdf's defaults (1 s and 500 samples) would smooth over a 2 s dropout at 200 Hz.
XDF_BREAK_S = 0.25
XDF_BREAK_SAMPLES = 10
#: Longest break between segments of a signal filled with missing samples; a longer one means
#: the time stamps are not usable (a clock reset pyxdf could not repair).
MAX_XDF_BREAK_S = 3600.0


def _text(info: dict[str, Any], key: str) -> str:
    """A header field as text ('' when missing): pyxdf keeps each field as a list."""
    value = info.get(key)
    if isinstance(value, list):
        value = value[0] if value else None
    return "" if value is None else str(value).strip()


def _describe(number: int, stream: dict[str, Any]) -> str:
    info = stream["info"]
    rate = _text(info, "nominal_srate")
    return (
        f"{number}: {_text(info, 'name') or '(no name)'} (type {_text(info, 'type') or '-'}, "
        f"{_text(info, 'channel_count')} ch, {rate} Hz)"
    )


def _is_signal(stream: dict[str, Any]) -> bool:
    info = stream["info"]
    try:
        rate = float(_text(info, "nominal_srate") or 0)
    except ValueError:
        return False
    return rate > 0 and _text(info, "channel_format") != "string" and len(stream["time_stamps"]) > 0


def _is_markers(stream: dict[str, Any]) -> bool:
    """Text samples, or samples at irregular times (nominal rate 0): events, not a signal."""
    info = stream["info"]
    if _text(info, "channel_format") == "string":
        return True
    try:
        return float(_text(info, "nominal_srate") or 0) == 0
    except ValueError:
        return False


def _choose(streams: list[dict[str, Any]], wanted: str | None, path: Path) -> dict[str, Any]:
    """The signal stream to import (see the module docstring)."""
    listing = "; ".join(_describe(i + 1, s) for i, s in enumerate(streams))
    signals = [s for s in streams if _is_signal(s)]
    if wanted:
        key = wanted.strip().lower()
        if key.isdigit() and 1 <= int(key) <= len(streams):
            matches = [streams[int(key) - 1]]
        else:
            matches = [s for s in signals if _text(s["info"], "name").lower() == key]
            matches = matches or [s for s in signals if _text(s["info"], "type").lower() == key]
        if len(matches) != 1 or not _is_signal(matches[0]):
            raise SourceURLError(
                f"{path}: stream={wanted!r} names no single signal stream; the file holds {listing}"
            )
        return matches[0]
    if not signals:
        raise SourceURLError(
            f"{path}: no stream with samples at a fixed rate; the file holds {listing}"
        )
    emg = [s for s in signals if _text(s["info"], "type").lower() == "emg"]
    if len(signals) == 1 or len(emg) == 1:
        return signals[0] if len(signals) == 1 else emg[0]
    raise SourceURLError(
        f"{path}: the file holds several signal streams ({listing}): choose one with "
        "stream=NAME, TYPE or NUMBER"
    )


def _channels(info: dict[str, Any], n: int) -> tuple[list[str], list[str]]:
    """(labels, units) per channel from ``desc/channels/channel`` (ch1, ch2... when absent)."""
    labels = [f"ch{i + 1}" for i in range(n)]
    units = [""] * n
    try:
        desc = info["desc"][0]
        channels = desc["channels"][0]["channel"] if desc else []
    except (KeyError, IndexError, TypeError):
        channels = []
    for i, ch in enumerate(channels[:n]):
        if isinstance(ch, dict):
            labels[i] = _text(ch, "label") or labels[i]
            units[i] = _text(ch, "unit")
    return labels, units


def _units(units: list[str], opts: RecordingOptions) -> str | None:
    if opts.units is not None or opts.scale_uv is not None:
        return opts.units
    known = {_UNIT_ALIASES.get(u.lower()) for u in units}
    return known.pop() if len(known) == 1 else None


def _header_time(header: dict[str, Any] | None) -> datetime | None:
    """The file header's ``datetime`` (LabRecorder writes e.g. 2024-05-02T14:03:11+0200)."""
    text = _text((header or {}).get("info") or {}, "datetime")
    if not text:
        return None
    text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text.replace("Z", "+00:00"))
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _placed(stream: dict[str, Any], fs_hz: float, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(samples, flags): the stream's segments at their time stamps, breaks as missing samples."""
    values = np.asarray(stream["time_series"], dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    stamps = np.asarray(stream["time_stamps"], dtype=np.float64)
    segments = stream["info"].get("segments") or [(0, len(stamps) - 1)]
    if len(segments) <= 1:
        return values, np.zeros(len(values), dtype=np.uint16)
    t0 = stamps[0]
    starts = [max(0, round((stamps[a] - t0) * fs_hz)) for a, _ in segments]
    for (a, b), start, nxt in zip(segments, starts, [*starts[1:], None], strict=True):
        if nxt is not None and nxt - (start + b - a + 1) > MAX_XDF_BREAK_S * fs_hz:
            raise SourceURLError(
                f"{path}: a break of more than {MAX_XDF_BREAK_S:g} s inside the stream "
                "(a clock reset?): import a shorter recording"
            )
    total = max(start + b - a + 1 for (a, b), start in zip(segments, starts, strict=True))
    out = np.full((total, values.shape[1]), np.nan)
    flags = np.full(total, int(Flag.MISSING), dtype=np.uint16)
    for (a, b), start in zip(segments, starts, strict=True):
        out[start : start + b - a + 1] = values[a : b + 1]
        flags[start : start + b - a + 1] = 0
    return out, flags


def _markers(
    streams: list[dict[str, Any]], t0: float, fs_hz: float, n: int, notes: list[str], path: Path
) -> list[Marker]:
    """Every marker stream's samples as markers (label: the first channel's text)."""
    markers: list[Marker] = []
    outside = 0
    marker_streams = [s for s in streams if _is_markers(s)]
    for stream in marker_streams:
        name = _text(stream["info"], "name")
        for stamp, value in zip(stream["time_stamps"], stream["time_series"], strict=False):
            first = (
                value[0] if isinstance(value, list | tuple | np.ndarray) and len(value) else value
            )
            if isinstance(first, float | np.floating) and float(first).is_integer():
                first = int(first)  # a numeric trigger code: 3, not 3.0
            label = str(first).strip()
            index = round((float(stamp) - t0) * fs_hz)
            if not label:
                continue
            if not 0 <= index < n:
                outside += 1
                continue
            note = f"from {name}" if len(marker_streams) > 1 and name else ""
            markers.append(Marker(index, label, note))
    if outside:
        notes.append(f"{path.name}: {outside} marker(s) outside the signal's time were left out")
    markers.sort(key=lambda m: m.sample_index)
    return markers


class _Collect(logging.Handler):
    """Keeps pyxdf's warnings (a damaged chunk it skipped) for the recording's notes instead of
    letting them reach stderr."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        # expected whenever a stream has breaks (they are stored as gaps): not worth a note
        if "clock-segments differ" not in text and text not in self.messages:
            self.messages.append(text)


def _load(path: Path, notes: list[str]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    import pyxdf

    logger = logging.getLogger("pyxdf")
    collect = _Collect()
    propagate = logger.propagate
    logger.addHandler(collect)
    logger.propagate = False
    try:
        streams, header = pyxdf.load_xdf(
            str(path),
            jitter_break_threshold_seconds=XDF_BREAK_S,
            jitter_break_threshold_samples=XDF_BREAK_SAMPLES,
        )
    except Exception as exc:  # pyxdf raises bare Exception/IOError/struct errors on bad files
        log.info("pyxdf could not read %s", path, exc_info=True)
        raise SourceURLError(f"{path}: not a readable XDF file ({exc})") from None
    finally:
        logger.removeHandler(collect)
        logger.propagate = propagate
    if not streams:
        raise SourceURLError(f"{path}: the XDF file holds no streams")
    for message in collect.messages[:3]:
        log.info("pyxdf on %s: %s", path, message)
        notes.append(f"{path.name}: damaged or cut short ({message}); what could be read was kept")
    return list(streams), header


def load_xdf(path: Path, opts: RecordingOptions) -> Recording:
    """Read one signal stream of an XDF file and its marker streams (module docstring)."""
    notes: list[str] = []
    streams, header = _load(path, notes)
    stream = _choose(streams, opts.stream, path)
    info = stream["info"]
    nominal = float(_text(info, "nominal_srate"))
    fs_hz = opts.fs_hz or nominal
    effective = info.get("effective_srate")
    if isinstance(effective, float) and effective > 0 and abs(effective / nominal - 1) > 0.01:
        notes.append(
            f"{path.name}: the stream's time stamps give {effective:.6g} Hz, its header "
            f"{nominal:g} Hz; {fs_hz:g} Hz was used"
        )
    samples, flags = _placed(stream, fs_hz, path)
    labels, units = _channels(info, samples.shape[1])
    if opts.columns:
        cols = [_column_index(c, labels, path, "columns") for c in opts.columns]
        samples = samples[:, cols]
        labels = [labels[c] for c in cols]
        units = [units[c] for c in cols]
    unit = _units(units, opts)
    if unit is None and opts.scale_uv is None:
        shown = ", ".join(sorted({u or "none" for u in units}))
        raise SourceURLError(
            f"{path}: the stream's channel units ({shown}) are not uV/mV/V: add units=... or "
            "scale_uv=..."
        )
    kinds = _kinds(opts.channels, samples.shape[1], path)
    stream_info = _make_info(path, opts, fs_hz, unit, kinds, opts.names or labels, opts.adc_bits)
    t0 = float(stream["time_stamps"][0])
    firsts = [float(s["time_stamps"][0]) for s in streams if len(s["time_stamps"])]
    start = _header_time(header)
    if start is not None:
        start += timedelta(seconds=max(0.0, t0 - min(firsts)))
    else:
        notes.append(f"{path.name}: the file header gives no recording date")
    markers = _markers(streams, t0, fs_hz, len(samples), notes, path)
    if not math.isfinite(fs_hz) or fs_hz <= 0:
        raise SourceURLError(f"{path}: the stream's rate {fs_hz} is not usable: give fs=...")
    name = _text(info, "name")
    return Recording(
        stream_info,
        samples,
        flags,
        path,
        notes,
        start_time=start,
        markers=markers,
        format=f"XDF (stream {name})" if name else "XDF",
    )
