"""Other tools' text recordings: OpenBCI GUI, BrainFlow CSV and Chords-Python CSV.

:func:`recognise` looks at what :mod:`~biofeedback.storage.importing` read before the first row
of numbers (comment lines, the column names, the first row) and says which tool wrote the file
and how: which columns are the signals, which one is a packet counter (its jumps become gaps),
which holds the time of day (the recording's start) or the markers, the rate and the units.
:func:`read` then reads it with the importer's row reader. What the user gives (``fs``,
``columns``, ``units``, ``names``, ``channels``) always wins over what is recognised.

The layouts (docs/interop.md, "Importing other tools' recordings", says what is read):

- **OpenBCI GUI** (``OpenBCI-RAW-*.txt``): ``%OpenBCI Raw EEG/EXG Data``, ``%Sample Rate = 250
  Hz``, ``%Board = OpenBCI_GUI$Board...``, then the column names (``Sample Index, EXG Channel 0,
  ..., Timestamp, Marker Channel, Timestamp (Formatted)``); EXG channels are in microvolts,
  ``Timestamp`` is Unix time in seconds, the formatted one is text. Files of GUI v4 have no
  column names: ``%First Column = SampleIndex``, the EXG channels after it, a clock time and
  Unix milliseconds last.
- **BrainFlow CSV** (``DataFilter.write_file``): tab-separated, no header, one row per sample
  with the board's rows as columns; the board (``board=cyton`` or BrainFlow's id) gives the
  layout from BrainFlow's own board description: package counter, EXG rows in microvolts,
  timestamp (Unix seconds), marker.
- **Chords-Python CSV**: ``Arduino Board: UNO-R4`` and ``Sampling Rate (samples per second):
  500`` lines, then ``[Timestamp,] Counter, Channel1, ...`` (ADC codes; the board's ADC from the
  Chords firmware's table); the counter wraps at 256; the start time is in the file's name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from biofeedback.core.hardware import BOARDS
from biofeedback.core.types import Flag
from biofeedback.devices.chords_protocol import ChordsBoard, chords_board
from biofeedback.errors import SourceURLError
from biofeedback.storage import importing
from biofeedback.storage.importing import Marker, Recording, RecordingOptions

OPENBCI = "OpenBCI GUI"
BRAINFLOW = "BrainFlow CSV"
CHORDS = "Chords-Python CSV"

#: Unix times after 2001-09-09 in seconds are above this; in milliseconds, above the next.
_UNIX_S = 1e9
_UNIX_MS = 1e12
#: Start times in Chords-Python's file names (``chordspy-20250102-101112.csv``,
#: ``ChordsPy_20250102_101112.csv``, ``data_2025-01-02_10-11-12.csv``).
_CHORDS_NAME_TIME = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})[-_](\d{2})-?(\d{2})-?(\d{2})(?:\D|$)")


@dataclass
class PeerLayout:
    """What a recognised file holds, by column (0-based); see the module docstring."""

    format: str
    names: list[str]
    signals: list[int]
    fs_hz: float | None = None
    units: str = "uV"
    counter: int | None = None
    unix_time: int | None = None
    marker: int | None = None
    #: Bits and reference of the ADC, for ``units="counts"``.
    adc_bits: int | None = None
    vref_v: float | None = None
    board_key: str = ""
    start_time: datetime | None = None
    #: What to add when the rate is missing (a hint for the error message).
    fs_hint: str = "fs=250"
    notes: list[str] = field(default_factory=list)


def recognise(
    path: Path, opts: RecordingOptions, layout: importing._TextLayout
) -> PeerLayout | None:
    """The file's layout when one of the tools wrote it, else None (a generic text file)."""
    names = importing._text_column_names(layout)
    found = _openbci(layout, names) or _chords(path, opts, layout, names)
    if found is None:
        found = _brainflow(path, opts, layout)
    return found


# -- OpenBCI GUI ------------------------------------------------------------------------------------
def _openbci(layout: importing._TextLayout, names: list[str]) -> PeerLayout | None:
    meta = layout.meta
    by_name = {n.strip().lower(): i for i, n in enumerate(names)}
    header = "sample index" in by_name and any(n.lower().startswith("exg channel") for n in names)
    v4 = meta.get("first column", "").replace(" ", "").lower() == "sampleindex"
    if not (header or v4 or meta.get("board", "").startswith("OpenBCI")):
        return None
    fs = importing._fs_from_meta(meta)
    peer = PeerLayout(OPENBCI, names, [], fs_hz=fs, fs_hint="fs=250 (the GUI's sample rate)")
    if header:
        # (the Sample Index steps differently per board, so it is not used to find gaps)
        peer.signals = [i for i, n in enumerate(names) if n.strip().lower().startswith("exg ")]
        peer.unix_time = by_name.get("timestamp")
        peer.marker = by_name.get("marker channel")
        formatted = by_name.get("timestamp (formatted)")
        if peer.unix_time is None and formatted is not None:
            peer.start_time = _parse_clock(_field(layout, formatted))
        return peer
    # GUI v4: Sample Index, the EXG channels, accelerometer/aux, a clock time, Unix milliseconds
    try:
        n_exg = int(meta.get("number of channels", ""))
    except ValueError:
        n_exg = layout.n_cols - 1 - len(layout.text_columns) - (3 if layout.n_cols > 5 else 0)
    peer.signals = list(range(1, min(1 + n_exg, layout.n_cols)))
    peer.names = [f"EXG Channel {i - 1}" if i in peer.signals else n for i, n in enumerate(names)]
    last = layout.n_cols - 1
    if last not in layout.text_columns and last not in peer.signals:
        peer.unix_time = last
    return peer


# -- Chords-Python ----------------------------------------------------------------------------------
def _chords(
    path: Path, opts: RecordingOptions, layout: importing._TextLayout, names: list[str]
) -> PeerLayout | None:
    stated: dict[str, str] = {}
    for line in layout.header_candidates:
        key, _, value = line.strip().strip('"').partition(":")
        if key.strip().lower() in ("arduino board", "sampling rate (samples per second)"):
            stated[key.strip().lower()] = value.strip()
    lowered = [n.strip().lower() for n in names]
    channel_cols = [i for i, n in enumerate(lowered) if re.fullmatch(r"channel\d+", n)]
    if not stated and not ("counter" in lowered and channel_cols):
        return None
    board: ChordsBoard | None = None
    name = stated.get("arduino board") or opts.board or ""
    if name:
        board = chords_board(name)
    rate = stated.get("sampling rate (samples per second)", "")
    fs = float(rate) if re.fullmatch(r"\d+(\.\d+)?", rate) else None
    peer = PeerLayout(
        CHORDS,
        names,
        channel_cols
        or [
            i
            for i in range(layout.n_cols)
            if lowered[i] not in ("counter", "timestamp") and i not in layout.text_columns
        ],
        fs_hz=fs or (board.fs_hz if board is not None else None),
        units="counts",
        counter=lowered.index("counter") if "counter" in lowered else None,
        fs_hint="fs=500 (UNO-R4 and 3.3 V boards; 250 on an UNO-R3, Nano or Mega)",
    )
    if board is not None:
        peer.adc_bits, peer.vref_v = board.adc_bits, board.vref_v
        peer.board_key = board.key if board.key in BOARDS else ""
        peer.notes.append(
            f"{path.name}: Chords {board.name}: {board.adc_bits}-bit ADC, {board.vref_v:g} V"
        )
    peer.start_time = _time_in_name(path)
    return peer


def _time_in_name(path: Path) -> datetime | None:
    match = _CHORDS_NAME_TIME.search(path.stem)
    if match is None:
        return None
    try:
        year, month, day, hour, minute, second = (int(g) for g in match.groups())
        return datetime(year, month, day, hour, minute, second)  # local time, as written
    except ValueError:
        return None


# -- BrainFlow --------------------------------------------------------------------------------------
def _brainflow(
    path: Path, opts: RecordingOptions, layout: importing._TextLayout
) -> PeerLayout | None:
    board = (opts.board or "").strip()
    ours = board.lower() in BOARDS or (board and chords_board(board) is not None)
    if layout.header_candidates or layout.delimiter != "\t" or ours:
        return None
    if not board:
        _hint_brainflow(path, opts, layout)
        return None
    descr = _brainflow_description(board, path)
    rows = int(descr.get("num_rows", 0))
    if rows != layout.n_cols:
        raise SourceURLError(
            f"{path}: a BrainFlow {descr.get('name', board)} file has {rows} columns, this one "
            f"{layout.n_cols}: check board="
        )
    exg = [int(r) for r in descr.get("emg_channels") or descr.get("eeg_channels") or []]
    names = [f"row {i}" for i in range(rows)]
    for k, r in enumerate(exg):
        names[r] = f"EXG {k + 1}"
    for key, label in (
        ("package_num_channel", "package"),
        ("timestamp_channel", "timestamp"),
        ("marker_channel", "marker"),
    ):
        if key in descr:
            names[int(descr[key])] = label
    return PeerLayout(
        BRAINFLOW,
        names,
        exg,
        fs_hz=float(descr["sampling_rate"]) if "sampling_rate" in descr else None,
        counter=_int_or_none(descr.get("package_num_channel")),
        unix_time=_int_or_none(descr.get("timestamp_channel")),
        marker=_int_or_none(descr.get("marker_channel")),
        notes=[f"{path.name}: BrainFlow {descr.get('name', board)} layout ({rows} rows)"],
    )


def _hint_brainflow(path: Path, opts: RecordingOptions, layout: importing._TextLayout) -> None:
    """A file that looks like BrainFlow's (a package counter first, Unix time in a column) and
    nothing said about its columns: say how to read it."""
    if opts.columns or opts.fs_hz or layout.n_cols < 6:
        return
    row = [importing._parse_number(f) for f in importing._split(layout.first_row, "\t")]
    values = [v for v in row if v is not None]
    counter = values[0] if values else -1.0
    if 0 <= counter <= 255 and counter == int(counter) and any(_UNIX_S < v < 1e10 for v in values):
        raise SourceURLError(
            f"{path}: this looks like a BrainFlow file (DataFilter.write_file): say which board "
            "recorded it, e.g. board=cyton (or BrainFlow's board id, board=0), or choose the "
            "columns yourself with columns= and fs="
        )


def _brainflow_description(board: str, path: Path) -> dict[str, Any]:
    """BrainFlow's own description of a board (its rows), by name or id; BrainFlow is imported
    by the devices layer (brainflow:// lives there), which says how to install it if missing."""
    from biofeedback.devices import brainflow_source

    try:
        descr = brainflow_source.board_description(brainflow_source.board_id(board))
    except SourceURLError as exc:
        raise SourceURLError(f"{path}: board={board}: {exc}") from None
    if descr is None:
        raise SourceURLError(f"{path}: board={board}: BrainFlow has no description of it")
    return descr


def _int_or_none(value: object) -> int | None:
    return int(value) if isinstance(value, int) else None


# -- reading ----------------------------------------------------------------------------------------
def read(
    path: Path,
    opts: RecordingOptions,
    layout: importing._TextLayout,
    lines: Iterator[str],
    max_rows: int,
    peer: PeerLayout,
) -> Recording:
    """Read a recognised file: the signals, gaps from the counter, start time, markers."""
    names = peer.names
    notes = list(peer.notes)
    if opts.columns:
        cols = [importing._column_index(c, names, path, "columns") for c in opts.columns]
    else:
        cols = peer.signals
    if not cols:
        raise SourceURLError(f"{path}: no signal columns: choose them with columns=")
    skipped = [i for i in layout.text_columns if i not in cols]
    notes += importing.text_column_notes(path, names, tuple(skipped))
    for i in cols:
        if i in layout.text_columns:
            raise SourceURLError(f"{path}: column {i + 1} ({names[i]!r}) holds text, not numbers")
    extra = [c for c in (peer.counter, peer.unix_time, peer.marker) if c is not None]
    keep = list(dict.fromkeys([*cols, *extra]))
    table, dropped = importing._read_rows(lines, layout, keep, max_rows, path)
    if dropped:
        notes.append(f"{path.name}: {dropped} row(s) with another number of columns left out")
    samples = importing._without_blank_tail(table[:, : len(cols)], path)
    table = table[: len(samples)]

    def column(index: int | None) -> np.ndarray | None:
        return None if index is None else table[:, keep.index(index)]

    positions, missing = _positions(column(peer.counter), len(samples))
    if missing:
        notes.append(
            f"{path.name}: {missing} sample(s) missing where the {names[peer.counter or 0]!r} "
            "column jumps: kept as gaps"
        )
    start = _start_time(column(peer.unix_time)) or peer.start_time
    markers = _markers(column(peer.marker), positions)
    info = _info(path, opts, peer, [names[c] for c in cols])
    n = int(positions[-1]) + 1
    full = np.full((n, len(cols)), np.nan)
    full[positions] = samples
    flags = np.where(np.isnan(full).any(axis=1), int(Flag.MISSING), 0).astype(np.uint16)
    return Recording(
        info, full, flags, path, notes, start_time=start, markers=markers, format=peer.format
    )


def _info(path: Path, opts: RecordingOptions, peer: PeerLayout, names: list[str]) -> Any:
    fs = opts.fs_hz or peer.fs_hz
    if fs is None:
        raise SourceURLError(
            f"{path}: this {peer.format} file does not state its sampling rate: add {peer.fs_hint}"
        )
    units = opts.units or peer.units
    given = (opts.board or "").lower()
    board = given if given in BOARDS else (peer.board_key or None)
    filled = replace(
        opts,
        board=board,
        adc_bits=opts.adc_bits or (None if board else peer.adc_bits),
        vref_v=opts.vref_v or (None if board else peer.vref_v),
    )
    if units == "counts" and filled.board is None and filled.adc_bits is None:
        raise SourceURLError(
            f"{path}: the {peer.format} file holds ADC codes but does not name its board: add "
            "board=UNO-R4 (the Chords board name) or adc_bits=14&vref=5"
        )
    if opts.names and len(opts.names) != len(names):
        raise SourceURLError(
            f"{path}: names= gives {len(opts.names)} names for {len(names)} channels"
        )
    kinds = importing._kinds(opts.channels, len(names), path)
    adc_bits = filled.adc_bits
    info = importing._make_info(path, filled, fs, units, kinds, opts.names or names, adc_bits)
    return replace(info, extra={**info.extra, "format": peer.format})


def _positions(counter: np.ndarray | None, n: int) -> tuple[np.ndarray, int]:
    """Each row's sample number, from a packet counter that may wrap and may step by more than
    one per sample (the usual step is the median); returns the numbers and the samples missing.
    Without a counter (or with a broken one) the rows are consecutive."""
    plain = np.arange(n)
    if counter is None or n < 2 or not np.isfinite(counter).all():
        return plain, 0
    c = counter.astype(np.int64)
    diffs = np.diff(c)
    if not (diffs > 0).any():
        return plain, 0
    step = int(np.median(diffs[diffs > 0])) if (diffs > 0).any() else 1
    if (diffs < 0).any():
        modulus = int(c.max()) + step  # 0..255 stepping by 1: 256
        diffs = diffs % modulus
    diffs[diffs <= 0] = step  # a repeat or a restart: no gap can be told
    advance = np.maximum(1, np.rint(diffs / step).astype(np.int64))
    positions = np.concatenate(([0], np.cumsum(advance)))
    if positions[-1] + 1 > 4 * n:  # mostly gaps: the column is not a packet counter
        return plain, 0
    return positions, int(positions[-1] + 1 - n)


def _start_time(unix: np.ndarray | None) -> datetime | None:
    """The first row's Unix time (seconds or milliseconds) as a UTC time."""
    if unix is None:
        return None
    finite = unix[np.isfinite(unix)]
    if not len(finite) or finite[0] < _UNIX_S:
        return None
    seconds = finite[0] / 1000.0 if finite[0] > _UNIX_MS else finite[0]
    return datetime.fromtimestamp(float(seconds), tz=UTC)


def _markers(values: np.ndarray | None, positions: np.ndarray) -> list[Marker]:
    """A marker for each row whose marker column is not zero (its value as the label)."""
    if values is None:
        return []
    rows = np.flatnonzero(np.isfinite(values) & (values != 0))
    return [Marker(int(positions[r]), f"{values[r]:g}", "marker channel") for r in rows]


def _field(layout: importing._TextLayout, index: int) -> str:
    fields = importing._split(layout.first_row, layout.delimiter)
    return fields[index] if index < len(fields) else ""


def _parse_clock(text: str) -> datetime | None:
    """OpenBCI's formatted time, ``2024-03-01 10:11:12.345`` (local time, no zone)."""
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
    return None
