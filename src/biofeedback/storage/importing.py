"""Read recordings made elsewhere (CSV / text, WAV, EDF/EDF+) into samples and a StreamInfo.

A file rarely says everything the pipeline needs. Whatever it states (a sampling-rate header line,
a time column, EDF physical units) is used; what it does not must be given as an option, and a
missing one raises :class:`~biofeedback.errors.SourceURLError` naming the option to add. The same
options work in a ``replay:///path?...`` URL and in :func:`load_recording`. Text files written by
OpenBCI GUI, BrainFlow and Chords-Python are recognised (:mod:`~biofeedback.storage.peer_formats`);
a column of text (a clock time) is skipped with a note.

Options (all optional unless the file lacks the fact):

``fs``        sampling rate in Hz
``units``     ``counts`` (ADC codes), ``uV``, ``mV`` or ``V``
``channels``  kinds per selected column: ``raw``, ``env``, ``rect``, ``ref`` (default all raw)
``columns``   which columns to use, 1-based numbers or header names (default: all but time)
``time``      the column holding time in seconds (dropped; gives fs when ``fs`` is missing)
``names``     channel names
``board``     ``uno``, ``12bit`` or ``uno-r4`` (ADC bits and Vref, for ``units=counts``)
``adc_bits``, ``vref``  the ADC, when the board is not one of those
``gain``      analogue gain from electrodes to ADC for RAW/RECT/REF (default MyoWare 200)
``pot``       MyoWare ENV gain potentiometer in kOhm (default 50)
``scale_uv``  microvolts at the electrodes per file unit (overrides units and gains)
``stream``    XDF: the stream to import (its name, type or number) when it holds several
"""

from __future__ import annotations

import codecs
import dataclasses
import itertools
import json
import math
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from biofeedback.core.hardware import (
    MYOWARE_DEFAULT_POT_KOHM,
    MYOWARE_RAW_GAIN,
    myoware_env_gain,
)
from biofeedback.core.hardware import (
    board as lookup_board,
)
from biofeedback.core.types import ChannelInfo, ChannelKind, Flag, StreamInfo, counts_to_uv_scale
from biofeedback.errors import SourceURLError
from biofeedback.storage.edf_conventions import (
    GAP_TEXT,
    PADDING_TEXT,
    is_gap,
    is_padding,
    parse_label,
    stated_rate,
)

UNITS = ("counts", "uV", "mV", "V")
UNIT_SCALE_UV = {"uV": 1.0, "mV": 1e3, "V": 1e6}
TEXT_SUFFIXES = (".csv", ".txt", ".tsv", ".dat", ".asc")
WAV_SUFFIXES = (".wav",)
EDF_SUFFIXES = (".edf", ".bdf")
XDF_SUFFIXES = (".xdf", ".xdfz")
#: Largest recording file imported or replayed (checked before reading).
MAX_IMPORT_FILE_BYTES = 2 * 1024**3
#: Text lines parsed per batch: a text file is read in bounded batches into one preallocated
#: float64 array of the chosen columns, so memory stays near the size of the samples themselves.
TEXT_BATCH_LINES = 1 << 15
#: Bytes read per block while checking a text file's encoding and counting its lines.
_SCAN_BLOCK = 1 << 20

#: Version of our CSV export's header (``# biofeedback-csv: 2``). Version 2 adds the
#: ``# inputs:`` line (per input column: name, kind, gain, scale_uv, offset, as JSON), from
#: which a session in ADC counts is restored exactly; version 1 files import in uV.
CSV_VERSION = 2

#: The end of our EDF+ transducer field for signals stored as ADC counts (digital value =
#: count - 2**(bits-1)): ``..., gain 10200, ADC 10 bit, Vref 5 V`` (export.py writes it).
EDF_ADC_FACTS = re.compile(r", gain (\S+), ADC (\d+) bit, Vref (\S+) V$")

#: Largest distance (in ADC counts) from a whole count that an exported value may have and
#: still be restored as counts: CSV values carry 10 significant digits, so a true count is
#: within ~1e-6 of the grid; an edited value almost never is.
COUNT_GRID_TOLERANCE = 1e-4

#: Annotation texts our EDF+ writer uses for stretches without data (edf_conventions.py; older
#: exports' texts are read too); an import turns them back into NaN samples flagged missing, or
#: trims the end padding.
EDF_GAP_TEXT = GAP_TEXT
EDF_PADDING_TEXT = PADDING_TEXT

_UNIT_ALIASES = {
    "uv": "uV",
    "µv": "uV",
    "μv": "uV",
    "microvolt": "uV",
    "microvolts": "uV",
    "mv": "mV",
    "millivolt": "mV",
    "millivolts": "mV",
    "v": "V",
    "volt": "V",
    "volts": "V",
    "counts": "counts",
    "count": "counts",
    "adc": "counts",
}
_FS_KEYS = (
    "fs_hz",
    "fs",
    "sampling rate (hz)",
    "sampling rate",
    "sampling_rate",
    "samplerate",
    "sample rate",
)


@dataclass
class RecordingOptions:
    """What the user states about a file (see the module docstring)."""

    fs_hz: float | None = None
    units: str | None = None
    channels: list[str] | None = None
    columns: list[str] | None = None
    time_column: str | None = None
    names: list[str] | None = None
    board: str | None = None
    adc_bits: int | None = None
    vref_v: float | None = None
    gain: float | None = None
    pot_kohm: float | None = None
    scale_uv: float | None = None
    stream: str | None = None


class Marker(NamedTuple):
    """An event in a recording: at sample ``sample_index`` (0 = the file's first sample), a
    short ``label`` and an optional longer ``note`` (stored as the session's markers on import)."""

    sample_index: int
    label: str
    note: str = ""


@dataclass
class Recording:
    """Samples of an imported file in the file's units, with the StreamInfo that converts them.

    ``start_time`` is when the file says its first sample was taken (timezone-aware when the
    file states the zone or the time is UTC by the format; naive local time otherwise), None
    when it does not say; ``markers`` are the file's events in sample order; ``format`` names
    the file's layout (e.g. ``"EDF+"``, ``"OpenBCI GUI"``) for the imported session's source.
    """

    info: StreamInfo
    samples: np.ndarray
    flags: np.ndarray
    path: Path
    notes: list[str] = field(default_factory=list)
    start_time: datetime | None = None
    markers: list[Marker] = field(default_factory=list)
    format: str = ""

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.info.fs_hz


def load_recording(
    path: Path | str, options: RecordingOptions | None = None, **kwargs: Any
) -> Recording:
    """Read a CSV/text, WAV or EDF file. Options as :class:`RecordingOptions` or keywords."""
    opts = options or RecordingOptions(**kwargs)
    path = Path(path).expanduser()
    where = str(path)
    if not path.is_file():
        raise SourceURLError(
            f"{where}: no such file: check the path (use an absolute path in URLs)"
        )
    size = path.stat().st_size
    if size > MAX_IMPORT_FILE_BYTES:
        raise SourceURLError(
            f"{where}: the file is {size / 1024**3:.1f} GiB, more than the "
            f"{MAX_IMPORT_FILE_BYTES / 1024**3:g} GiB limit for a recording: split it into "
            "shorter files"
        )
    suffix = path.suffix.lower()
    if suffix in WAV_SUFFIXES:
        return _load_wav(path, opts)
    if suffix in EDF_SUFFIXES:
        return _load_edf(path, opts)
    if suffix in XDF_SUFFIXES:
        from biofeedback.storage.xdf_reader import load_xdf

        return load_xdf(path, opts)
    if suffix not in TEXT_SUFFIXES and _looks_binary(path):
        raise SourceURLError(
            f"{path}: not a format this app reads (EDF, EDF+, BDF, XDF, WAV or CSV/text): "
            "export the recording from its program as EDF+ or CSV"
        )
    return _load_text(path, opts)


def _looks_binary(path: Path) -> bool:
    """True when the file's first 4 KiB hold NUL bytes (no text file does)."""
    with path.open("rb") as fh:
        return b"\x00" in fh.read(4096)


# -- text -------------------------------------------------------------------------------------------
def _parse_number(text: str) -> float | None:
    text = text.strip()
    if text == "" or text.lower() in ("nan", "na", "null", "-"):
        return math.nan
    try:
        return float(text)
    except ValueError:
        return None


def _split(line: str, delimiter: str | None) -> list[str]:
    if delimiter is None:
        return line.split()
    return [f.strip() for f in line.split(delimiter)]


def _detect_delimiter(line: str) -> str | None:
    for candidate in ("\t", ";", ","):
        if candidate in line:
            return candidate
    return None


def _scan_text(path: Path) -> tuple[str, int]:
    """The file's encoding (UTF-8, else Latin-1, as for the whole file) and an upper bound on its
    number of lines, read in blocks so the file is never held in memory at once."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    encoding = "utf-8-sig"
    newlines = carriage = 0
    with path.open("rb") as fh:
        while block := fh.read(_SCAN_BLOCK):
            newlines += block.count(b"\n")
            carriage += block.count(b"\r")
            if encoding != "latin-1":
                try:
                    decoder.decode(block)
                except UnicodeDecodeError:
                    encoding = "latin-1"
    if encoding != "latin-1":
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            encoding = "latin-1"
    return encoding, max(newlines, carriage) + 1


@dataclass
class _TextLayout:
    """What the lines before the first row of numbers say, and how the rows are written."""

    meta: dict[str, str]
    header_candidates: list[str]
    first_row: str
    delimiter: str | None
    decimal_comma: bool
    n_cols: int
    #: Columns whose first row holds text such as a clock time (read as NaN, never a channel).
    text_columns: tuple[int, ...] = ()


def _text_fields(fields: list[str], values: list[float | None]) -> tuple[int, ...] | None:
    """The text fields of a row of numbers (a clock time or a date beside the numbers, such as
    ``10:11:12.345`` or ``2024-03-01 10:11:12``), or None when the line is not a row of numbers
    (a field that is neither, e.g. a column name)."""
    text = tuple(i for i, v in enumerate(values) if v is None)
    if len(text) == len(fields) or any(not _CLOCK_TEXT.fullmatch(fields[i]) for i in text):
        return None
    return text


#: A clock time or date written as text: digits with ``: . - / +``, spaces, ``T`` or ``Z``.
_CLOCK_TEXT = re.compile(r"(?=.*\d)[\d:./+\-TZ ]+")


def _read_header(lines: Iterator[str], path: Path) -> _TextLayout:
    """Consume comment and header lines up to and including the first row of numbers."""
    meta: dict[str, str] = {}
    header_candidates: list[str] = []
    for line in lines:
        stripped = line.strip()
        if not stripped:
            continue
        if stripped[0] in "#%;":
            body = stripped.lstrip("#%; ").strip()
            match = re.match(r"^([^:=]+?)\s*:?=\s*(.*)$", body) or re.match(
                r"^([^:]+?)\s*:\s*(.*)$", body
            )
            if match:
                meta[match[1].strip().lower()] = match[2].strip()
            continue
        delim = _detect_delimiter(stripped)
        fields = _split(stripped, delim)
        comma = delim == ";" and any("," in f for f in fields)
        values = [_parse_number(f.replace(",", ".") if comma else f) for f in fields]
        numbers = [v for v in values if v is not None]
        text = _text_fields(fields, values)
        if text is not None and numbers and not all(math.isnan(v) for v in numbers):
            return _TextLayout(meta, header_candidates, stripped, delim, comma, len(fields), text)
        header_candidates.append(stripped)
    raise SourceURLError(f"{path}: found no rows of numbers: is this a recording exported as text?")


def _parse_batch(lines: list[str], layout: _TextLayout, path: Path) -> np.ndarray:
    """One batch of text rows as a [rows, n_cols] float64 array (blank and comment lines
    skipped; empty cells NaN; rows with another number of columns left out)."""
    if layout.decimal_comma:
        lines = [line.replace(",", ".") for line in lines]
    delimiter, n = layout.delimiter, layout.n_cols
    text_cells: dict[int | str, Callable[[str], float]] | None = {
        c: _text_cell for c in layout.text_columns
    } or None
    try:
        data = np.loadtxt(
            lines,
            delimiter=delimiter,
            ndmin=2,
            dtype=np.float64,
            comments=("#", "%"),
            converters=text_cells,
        )
        if data.size == 0 or data.shape[1] == n:
            return data.reshape(-1, n)
    except ValueError:
        pass  # empty cells or ragged rows: the slower reader below fills them with NaN
    for usecols in (None, range(n)):
        try:
            with warnings.catch_warnings():
                # rows left out are counted and reported in the recording's notes instead
                warnings.filterwarnings("ignore", message="Some errors were detected")
                data = np.genfromtxt(
                    lines,
                    delimiter=delimiter,
                    dtype=np.float64,
                    comments="#",
                    invalid_raise=False,
                    usecols=usecols,
                    ndmin=2,
                )
        except ValueError as exc:
            raise SourceURLError(f"{path}: cannot read the numbers ({exc})") from None
        if data.size == 0 or data.shape[1] == n:
            return data.reshape(-1, n)
    return np.empty((0, n))


def _text_cell(text: str) -> float:
    """A text column's cell (a clock time, a date) as a number: none."""
    return math.nan


def _data_lines(lines: list[str]) -> int:
    """Lines that should hold a row of numbers (not blank, not a comment)."""
    return sum(1 for line in lines if (text := line.lstrip()) and text[0] not in "#%")


def _read_rows(
    lines: Iterator[str], layout: _TextLayout, keep: list[int], max_rows: int, path: Path
) -> tuple[np.ndarray, int]:
    """The kept columns of every row, parsed in batches of ``TEXT_BATCH_LINES`` into one
    preallocated array (``max_rows`` bounds the rows; it grows if that was too few), and the
    number of rows left out because they had another number of columns."""
    out = np.empty((max(1, max_rows), len(keep)), dtype=np.float64)
    n = dropped = 0
    batch = [layout.first_row]
    for line in itertools.chain(lines, [None]):
        if line is not None:
            batch.append(line)
            if len(batch) < TEXT_BATCH_LINES:
                continue
        if not batch:
            continue
        rows = _parse_batch(batch, layout, path)[:, keep]
        dropped += _data_lines(batch) - len(rows)
        batch = []
        if n + len(rows) > len(out):
            grown = np.empty((max(2 * len(out), n + len(rows)), len(keep)))
            grown[:n] = out[:n]
            out = grown
        out[n : n + len(rows)] = rows
        n += len(rows)
    if n == 0:
        raise SourceURLError(f"{path}: the file holds no samples")
    return out[:n], dropped


def _load_text(path: Path, opts: RecordingOptions) -> Recording:
    encoding, max_rows = _scan_text(path)
    with path.open(encoding=encoding, newline=None) as fh:
        lines = (line.rstrip("\n") for line in fh)
        layout = _read_header(lines, path)
        # OpenBCI GUI, BrainFlow and Chords-Python files (peer_formats reads with this module)
        from biofeedback.storage import peer_formats

        peer = peer_formats.recognise(path, opts, layout)
        if peer is not None:
            return peer_formats.read(path, opts, layout, lines, max_rows, peer)
        return _text_recording(path, opts, layout, lines, max_rows)


def _text_recording(
    path: Path, opts: RecordingOptions, layout: _TextLayout, lines: Iterator[str], max_rows: int
) -> Recording:
    """Choose the columns from the header, then read only those (and the time column)."""
    meta, n_cols = layout.meta, layout.n_cols
    column_names = _text_column_names(layout)
    ours = "biofeedback-csv" in meta
    time_col, cols = _text_columns(path, opts, column_names, ours, layout.text_columns)
    # Only the chosen columns (then the time column, if it is not one of them) are kept.
    keep = cols + ([time_col] if time_col is not None and time_col not in cols else [])
    table, dropped = _read_rows(lines, layout, keep, max_rows, path)

    notes = text_column_notes(path, column_names, layout.text_columns)
    if dropped > 0:
        notes.append(
            f"{path.name}: {dropped} row(s) without {n_cols} columns were left out "
            "(see them with a text editor)"
        )
    version = _csv_version(meta) if ours else 0
    times = None if time_col is None else table[:, keep.index(time_col)]
    fs_hz = _text_fs_hz(path, opts, meta, version, times, notes)
    units = opts.units
    if units is None and ours:
        units = "uV"
    if units is None and opts.scale_uv is None:
        units = _units_from_meta(meta)
    adc_bits = opts.adc_bits
    if adc_bits is None and "resolution" in meta:
        try:
            adc_bits = int(float(meta["resolution"]))
        except ValueError:
            adc_bits = None
    samples = _without_blank_tail(table[:, : len(cols)], path)
    kinds = _kinds(opts.channels, len(cols), path)
    if ours and opts.channels is None and "channels" in meta:
        kinds = _kinds_from_meta(meta["channels"], [column_names[c] for c in cols]) or kinds
    names = opts.names or [
        column_names[c][: -len("_raw_uv")]
        if ours and column_names[c].endswith("_raw_uv")
        else column_names[c]
        for c in cols
    ]
    if "labels" in meta and not opts.names and len(meta["labels"].split()) == len(cols):
        names = meta["labels"].split()
    info = _make_info(path, opts, fs_hz, units, kinds, names, adc_bits)
    if version >= 2 and not _user_describes(opts):
        restored = _restore_csv_counts(meta, [column_names[c] for c in cols], samples, path)
        if isinstance(restored, str):
            notes.append(restored)
        elif restored is not None:
            channels, adc, counts = restored
            if opts.names:
                channels = [
                    ChannelInfo(str(n), c.kind, c.gain, c.scale_uv)
                    for n, c in zip(opts.names, channels, strict=False)
                ]
            info = _counts_info(info, channels, *adc)
            samples = counts
    flags = np.where(np.isnan(samples).any(axis=1), int(Flag.MISSING), 0).astype(np.uint16)
    return Recording(info, samples, flags, path, notes)


def _text_column_names(layout: _TextLayout) -> list[str]:
    """Column names from the last header line when it has one name per column, else ch1, ch2..."""
    n_cols = layout.n_cols
    column_names = [f"ch{i + 1}" for i in range(n_cols)]
    if layout.header_candidates:
        names = _split(layout.header_candidates[-1], layout.delimiter)
        if len(names) == n_cols and any(_parse_number(n) is None for n in names):
            column_names = [n.strip().strip('"') or f"ch{i + 1}" for i, n in enumerate(names)]
    return column_names


def _text_columns(
    path: Path,
    opts: RecordingOptions,
    column_names: list[str],
    ours: bool,
    text_columns: tuple[int, ...] = (),
) -> tuple[int | None, list[int]]:
    """(time column or None, signal columns).

    Signal columns: explicit, else (our own export) the raw columns, else all but time and the
    columns holding text. A column holding text cannot be chosen as a signal or the time.
    """
    time_col = (
        _column_index(opts.time_column, column_names, path, "time") if opts.time_column else None
    )
    if time_col is None and ours and column_names[0] == "time_s":
        time_col = 0
    if opts.columns:
        cols = [_column_index(c, column_names, path, "columns") for c in opts.columns]
    elif ours:
        cols = [i for i, name in enumerate(column_names) if name.endswith("_raw_uv")]
    else:
        cols = [i for i in range(len(column_names)) if i != time_col and i not in text_columns]
    for i in [*cols, *([] if time_col is None else [time_col])]:
        if i in text_columns:
            raise SourceURLError(
                f"{path}: column {i + 1} ({column_names[i]!r}) holds text, not numbers: choose "
                "other columns"
            )
    if not cols:
        raise SourceURLError(f"{path}: no signal columns left: choose them with columns=2,3")
    return time_col, cols


def text_column_notes(path: Path, names: list[str], text_columns: tuple[int, ...]) -> list[str]:
    """The note saying which columns held text and were skipped."""
    if not text_columns:
        return []
    skipped = ", ".join(f"{i + 1} ({names[i]!r})" for i in text_columns)
    return [f"{path.name}: column(s) {skipped} hold text, not numbers: skipped"]


def _text_fs_hz(
    path: Path,
    opts: RecordingOptions,
    meta: dict[str, str],
    version: int,
    times: np.ndarray | None,
    notes: list[str],
) -> float:
    """The sampling rate: given, else stored (our v2 export), else from the time column, else
    from the header's metadata; a note says when it came from the time column."""
    fs_hz = opts.fs_hz
    if fs_hz is None and version >= 2:
        fs_hz = _fs_from_meta(meta)  # as exact as it was stored (9 digits)
    if fs_hz is None and times is not None:
        fs_hz = _fs_from_time(times, path)
        notes.append(f"sampling rate {fs_hz:g} Hz from the time column")
    if fs_hz is None:
        fs_hz = _fs_from_meta(meta)
    if fs_hz is None:
        raise SourceURLError(
            f"{path}: the file does not state its sampling rate: add fs=1000 (samples per "
            "second) to the options, or time=N if column N holds the time in seconds"
        )
    return fs_hz


def _without_blank_tail(samples: np.ndarray, path: Path) -> np.ndarray:
    """The samples without trailing rows that hold no value in any chosen column.

    Such rows are not samples: files end with a line of delimiters, or another column (such as
    a goniometer) runs on for a few rows.
    """
    blank = np.isnan(samples).all(axis=1)
    samples = (
        samples[: len(samples) - int(np.argmin(blank[::-1]))] if not blank.all() else samples[:0]
    )
    if len(samples) == 0:
        raise SourceURLError(
            f"{path}: the chosen columns hold no numbers: choose others with columns="
        )
    return samples


def channel_offsets(info: StreamInfo) -> np.ndarray:
    """Per input channel, the value (in input units) that maps to 0 uV in exports.

    RAW and REF from a board are centred on mid-supply: exports show them relative to
    ``2**(bits-1)``. ENV and RECT (and files already in uV/mV) are shown from zero.
    """
    offsets = np.zeros(info.n_channels)
    if info.units == "counts" and info.adc_bits is not None:
        mid = float(2 ** (info.adc_bits - 1))
        for i, ch in enumerate(info.channels):
            if ch.kind in (ChannelKind.RAW, ChannelKind.REF):
                offsets[i] = mid
    return offsets


# -- our own exports: back to ADC counts --------------------------------------------------------------
def _user_describes(opts: RecordingOptions) -> bool:
    """The user said how to read the samples: then their options win over our export's facts."""
    return any(
        v is not None
        for v in (
            opts.units,
            opts.scale_uv,
            opts.board,
            opts.adc_bits,
            opts.vref_v,
            opts.gain,
            opts.pot_kohm,
            opts.channels,
            opts.columns,
        )
    )


def _csv_version(meta: dict[str, str]) -> int:
    match = re.match(r"\s*(\d+)", meta.get("biofeedback-csv", ""))
    return int(match[1]) if match else 1


def _not_counts_note(path: Path, why: str) -> str:
    return (
        f"{path.name}: {why}, so it was read in uV at the electrodes, without the ADC's noise model"
    )


def _to_counts(
    values: np.ndarray, scales: np.ndarray, offsets: np.ndarray, bits: int
) -> np.ndarray | None:
    """Exported uV back to whole ADC counts, or None if they are not on the count grid."""
    with np.errstate(invalid="ignore"):
        counts = values / scales + offsets
        whole = np.rint(counts)
    ok = np.isfinite(counts)
    if np.isinf(counts).any():
        return None
    if ok.any():
        off_grid = np.abs(counts[ok] - whole[ok]).max()
        if off_grid > COUNT_GRID_TOLERANCE or whole[ok].min() < 0 or whole[ok].max() >= 2**bits:
            return None
    return np.where(ok, whole, np.nan)


def _restore_csv_counts(
    meta: dict[str, str], columns: list[str], samples: np.ndarray, path: Path
) -> tuple[list[ChannelInfo], tuple[int, float, str], np.ndarray] | str | None:
    """Our CSV (version 2) of a session in ADC counts: (channels, (bits, vref, board), counts).

    None when the session was not in counts (the file is read in uV as before); a one-line note
    when it was but the file no longer holds whole counts (edited) or its header is damaged.
    """
    source = re.search(
        r"\bboard=(\S*) adc_bits=(\S+) vref_v=(\S+) units=(\S+)\s*$", meta.get("source", "")
    )
    if source is None or source[4] != "counts" or source[2] == "None" or source[3] == "None":
        return None  # not counts, or counts without a known ADC: uV as before
    try:
        bits, vref = int(source[2]), float(source[3])
        inputs = json.loads(meta["inputs"])
        by_column = {str(item["column"]): item for item in inputs}
        chosen = [by_column[c] for c in columns]
        channels = [
            ChannelInfo(
                str(item["name"]),
                ChannelKind(str(item["kind"])),
                float(item["gain"]),
                float(item["scale_uv"]),
            )
            for item in chosen
        ]
        offsets = np.array([float(item["offset"]) for item in chosen])
    except (KeyError, TypeError, ValueError):
        return _not_counts_note(path, "the header's ADC facts (# source, # inputs) are unreadable")
    scales = np.array([c.scale_uv for c in channels])
    if not (
        1 <= bits <= 24
        and math.isfinite(vref)
        and vref > 0
        and np.all(np.isfinite(scales))
        and np.all(scales > 0)
        and np.all(np.isfinite(offsets))
    ):
        return _not_counts_note(path, "the header's ADC facts (# source, # inputs) are not valid")
    counts = _to_counts(samples, scales, offsets, bits)
    if counts is None:
        return _not_counts_note(
            path, f"the values are not whole {bits}-bit ADC counts (edited after export?)"
        )
    return channels, (bits, vref, source[1]), counts


def _counts_info(
    info: StreamInfo, channels: list[ChannelInfo], bits: int, vref: float, board: str
) -> StreamInfo:
    """The file's StreamInfo as the session recorded it: ADC counts with the ADC's facts."""
    return info.with_(
        channels=tuple(channels), adc_bits=bits, vref_v=vref, units="counts", board=board
    )


def _column_index(spec: str, names: list[str], path: Path, option: str) -> int:
    spec = str(spec).strip()
    if spec.isdigit():
        index = int(spec) - 1
        if not 0 <= index < len(names):
            raise SourceURLError(f"{path}: {option}={spec}: the file has columns 1-{len(names)}")
        return index
    lowered = [n.lower() for n in names]
    if spec.lower() in lowered:
        return lowered.index(spec.lower())
    raise SourceURLError(
        f"{path}: {option}={spec!r} names no column; columns are numbered 1-{len(names)}"
        + (f" or named {', '.join(names)}" if not all(n.startswith("ch") for n in names) else "")
    )


def _fs_from_time(t: np.ndarray, path: Path) -> float:
    steps = np.diff(t[np.isfinite(t)])
    if len(steps) < 2 or np.median(steps) <= 0:
        raise SourceURLError(f"{path}: the time column does not increase: give fs=... instead")
    step = float(np.median(steps))
    if np.max(np.abs(steps - step)) > 0.01 * step:
        raise SourceURLError(
            f"{path}: the time column is not evenly spaced (samples missing or jittered): give fs=... "
            "and leave out time="
        )
    return float(f"{1.0 / step:.6g}")


def _fs_from_meta(meta: dict[str, str]) -> float | None:
    for key in _FS_KEYS:
        if key in meta:
            match = re.search(r"[-+]?\d+(\.\d+)?", meta[key])
            if match and float(match[0]) > 0:
                return float(match[0])
    return None


def _units_from_meta(meta: dict[str, str]) -> str | None:
    for key in ("units", "unit"):
        if key in meta:
            word = meta[key].split()[0].lower() if meta[key].split() else ""
            if word in _UNIT_ALIASES:
                return _UNIT_ALIASES[word]
    return None


def _kinds(spec: list[str] | None, n: int, path: Path) -> list[ChannelKind]:
    if not spec:
        return [ChannelKind.RAW] * n
    allowed = [k.value for k in ChannelKind]
    kinds = []
    for item in spec:
        if item.lower() not in allowed:
            raise SourceURLError(
                f"{path}: channels={item!r}: each must be one of {', '.join(allowed)}"
            )
        kinds.append(ChannelKind(item.lower()))
    if len(kinds) == 1 and n > 1:
        kinds = kinds * n
    if len(kinds) != n:
        raise SourceURLError(
            f"{path}: channels= lists {len(kinds)} kinds for {n} columns: give one per column"
        )
    return kinds


def _kinds_from_meta(text: str, names: list[str]) -> list[ChannelKind] | None:
    # "# channels: trapezius L (raw), trapezius L env (env)" as written by export.py
    found = dict(re.findall(r"([^,]+?)\s*\((raw|env|rect|ref)\)", text))
    base = [n[: -len("_raw_uv")] if n.endswith("_raw_uv") else n for n in names]
    slug = {_slug(k.strip()): v for k, v in found.items()}
    if all(b in slug for b in base):
        return [ChannelKind(slug[b]) for b in base]
    return None


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower() or "ch"


def _make_info(
    path: Path,
    opts: RecordingOptions,
    fs_hz: float,
    units: str | None,
    kinds: list[ChannelKind],
    names: list[str],
    adc_bits: int | None,
) -> StreamInfo:
    if units is not None and units not in UNITS:
        units = _UNIT_ALIASES.get(units.lower(), units)
        if units not in UNITS:
            raise SourceURLError(f"{path}: units={units!r}: use one of {', '.join(UNITS)}")
    vref = opts.vref_v
    board_key = opts.board or ""
    if opts.board:
        try:
            b = lookup_board(opts.board)
        except ValueError as exc:
            raise SourceURLError(f"{path}: {exc}") from None
        adc_bits = opts.adc_bits or b.adc_bits
        vref = vref or b.vref_v
    pot = opts.pot_kohm if opts.pot_kohm is not None else MYOWARE_DEFAULT_POT_KOHM
    channels = []
    for name, kind in zip(names, kinds, strict=True):
        gain = myoware_env_gain(pot) if kind == ChannelKind.ENV else (opts.gain or MYOWARE_RAW_GAIN)
        if opts.scale_uv is not None:
            scale = float(opts.scale_uv)
        elif units == "counts":
            if adc_bits is None or vref is None:
                raise SourceURLError(
                    f"{path}: units=counts needs the ADC: add board=uno|12bit|uno-r4, or adc_bits=12 "
                    "and vref=3.3"
                )
            scale = counts_to_uv_scale(float(vref), int(adc_bits), gain)
        elif units in UNIT_SCALE_UV:
            scale = UNIT_SCALE_UV[units]
            gain = 1.0  # already referred to the electrodes
        else:
            raise SourceURLError(
                f"{path}: the file does not state its units: add units=mV (or uV, V), or "
                "units=counts with board=uno|12bit|uno-r4 (or adc_bits= and vref=)"
            )
        channels.append(ChannelInfo(str(name), kind, float(gain), float(scale)))
    return StreamInfo(
        fs_hz=float(fs_hz),
        channels=tuple(channels),
        adc_bits=int(adc_bits) if (units == "counts" and adc_bits is not None) else None,
        vref_v=float(vref) if (units == "counts" and vref is not None) else None,
        units=units or "uV",
        board=board_key,
        device=f"file {path.name}",
        realtime=True,
        extra={"file": str(path)},
    )


# -- WAV --------------------------------------------------------------------------------------------
def _load_wav(path: Path, opts: RecordingOptions) -> Recording:
    from scipy.io import wavfile

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")  # chunks scipy skips (e.g. 'bext', 'cue '): a note
            rate, data = wavfile.read(str(path))
    except UnboundLocalError:  # scipy's reader on a WAV that ends before its format chunk
        raise SourceURLError(
            f"{path}: cannot read this WAV file (it ends before its samples); save it as PCM WAV"
        ) from None
    except (ValueError, OSError, EOFError) as exc:
        raise SourceURLError(
            f"{path}: cannot read this WAV file ({exc}); save it as PCM WAV"
        ) from None
    data = np.asarray(data)
    if data.ndim == 1:
        data = data[:, None]
    adc_bits = opts.adc_bits
    if adc_bits is None and np.issubdtype(data.dtype, np.integer):
        adc_bits = data.dtype.itemsize * 8
    if data.dtype == np.uint8:
        data = data.astype(np.float64) - 128.0  # 8-bit WAV is offset binary
    samples = data.astype(np.float64)
    n_cols = samples.shape[1]
    names = [f"ch{i + 1}" for i in range(n_cols)]
    if opts.columns:
        cols = [_column_index(c, names, path, "columns") for c in opts.columns]
        samples = samples[:, cols]
        names = [names[c] for c in cols]
    fs_hz = opts.fs_hz or float(rate)
    if opts.units is None and opts.scale_uv is None:
        raise SourceURLError(
            f"{path}: a WAV file does not say what its numbers mean: add units=counts with "
            "adc_bits= and vref= (or board=), units=V for a float WAV in volts, or scale_uv= "
            "(microvolts per unit)"
        )
    kinds = _kinds(opts.channels, samples.shape[1], path)
    info = _make_info(path, opts, fs_hz, opts.units, kinds, opts.names or names, adc_bits)
    flags = np.zeros(len(samples), dtype=np.uint16)
    notes = [f"{path.name}: {w.message}" for w in caught]
    markers = _wav_events(path, fs_hz, len(samples), notes)
    start = _time_in_name(path)
    fmt = "Backyard Brains WAV" if markers or path.name.startswith("BYB_") else "WAV"
    return Recording(info, samples, flags, path, notes, start, markers or [], fmt)


#: Backyard Brains Spike Recorder names a recording by its local start time
#: (``BYB_Recording_2022-03-18_15.36.04.wav``).
_NAME_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})_(\d{2})\.(\d{2})\.(\d{2})")


def _time_in_name(path: Path) -> datetime | None:
    """The start time a file's name states (Spike Recorder's ``YYYY-MM-DD_HH.MM.SS``), as
    naive local time, or None."""
    match = _NAME_TIME.search(path.stem)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None


#: Spike Recorder also writes the spike times of neurons sorted in its analysis view into the
#: events file (``_ch0_neuron1,<tab>10.5081``); they are not events of the recording.
_BYB_SPIKE = re.compile(r"^_ch\d+_neuron\d+\s*,")


def _wav_events(path: Path, fs_hz: float, n: int, notes: list[str]) -> list[Marker] | None:
    """The markers of Backyard Brains' ``NAME-events.txt`` beside ``NAME.wav`` (lines
    ``label,<tab>seconds`` after ``#`` comments), None when there is no such file."""
    events = path.with_name(f"{path.stem}-events.txt")
    if not events.is_file():
        return None
    raw = events.read_bytes()[: 16 * 1024**2]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    markers: list[Marker] = []
    bad = late = spikes = 0
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if _BYB_SPIKE.match(line):
            spikes += 1  # a sorted neuron's spike time (Spike Recorder's analysis), not an event
            continue
        label, _, when = line.rpartition(",")
        seconds = _parse_number(when)
        if not label.strip() or seconds is None or not math.isfinite(seconds) or seconds < 0:
            bad += 1
            continue
        index = round(seconds * fs_hz)
        if index >= n:
            late += 1
            continue
        markers.append(Marker(index, label.strip()))
    if bad:
        notes.append(f"{events.name}: {bad} line(s) that are not 'label, seconds' were left out")
    if late:
        notes.append(f"{events.name}: {late} event(s) after the end of the recording left out")
    if spikes:
        notes.append(f"{events.name}: {spikes} spike time(s) of sorted neurons were not imported")
    markers.sort(key=lambda m: m.sample_index)
    return markers


# -- EDF --------------------------------------------------------------------------------------------
def _edf_equipment(path: Path) -> tuple[str, str] | None:
    """(version, board) from the ``biofeedback_<version>_<board>`` subfield of our EDF+ exports'
    recording field, else None (a file from another program)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(256)
    except OSError:
        return None
    for token in head[88:168].decode("ascii", "replace").split():
        parts = token.split("_", 2)
        if len(parts) == 3 and parts[0] == "biofeedback":
            return parts[1], parts[2]
    return None


class _EdfCounts(NamedTuple):
    """A session EDF+ read back in ADC counts (see :func:`_edf_counts`)."""

    channels: list[ChannelInfo]
    bits: int
    vref_v: float
    counts: np.ndarray


def _edf_counts(
    signals: list[Any], kinds: list[ChannelKind], names: list[str], path: Path
) -> _EdfCounts | str | None:
    """Our EDF+ of a session in ADC counts: (channels, bits, vref, counts).

    ``signals`` are the chosen edfio signals. The transducer field ends with the ADC facts
    (:data:`EDF_ADC_FACTS`) and the digital values are ``count - 2**(bits-1)``; the digital and
    physical ranges are checked against those facts. None when the signals carry no ADC facts
    (other sessions, older exports: read in uV as before); a one-line note when they do but the
    header no longer agrees (edited file).
    """
    facts = [EDF_ADC_FACTS.search(sig.transducer_type.strip()) for sig in signals]
    if not all(facts):
        return None
    try:
        gains = [float(m[1]) for m in facts if m]
        adc = {(int(m[2]), float(m[3])) for m in facts if m}
    except ValueError:
        return _not_counts_note(path, "the ADC facts in its transducer fields are unreadable")
    if len(adc) != 1:
        return _not_counts_note(path, "its signals name different ADCs")
    bits, vref = adc.pop()
    if not (1 <= bits <= 16 and vref > 0 and all(g > 0 for g in gains)):
        return _not_counts_note(path, "the ADC facts in its transducer fields are not valid")
    channels = [
        ChannelInfo(n, k, g, counts_to_uv_scale(vref, bits, g))
        for n, k, g in zip(names, kinds, gains, strict=True)
    ]
    mid = 2 ** (bits - 1)
    offsets = channel_offsets(
        StreamInfo(1.0, tuple(channels), adc_bits=bits, vref_v=vref, units="counts")
    )
    for j, sig in enumerate(signals):
        scale = channels[j].scale_uv
        expect = ((0 - offsets[j]) * scale, (2**bits - 1 - offsets[j]) * scale)
        got = (sig.physical_min, sig.physical_max)
        # the header holds 8-character numbers (5 or more significant digits here)
        close = all(abs(a - b) <= 1e-5 * max(1.0, abs(a)) for a, b in zip(expect, got, strict=True))
        if sig.digital_min != -mid or sig.digital_max != mid - 1 or not close:
            return _not_counts_note(
                path, "its digital or physical range no longer matches the ADC (edited?)"
            )
    counts = np.stack([np.asarray(sig.digital) for sig in signals], axis=1)
    return _EdfCounts(channels, bits, vref, counts.astype(np.float64) + mid)


def _read_edf_file(path: Path, notes: list[str]) -> Any:
    """The file as an edfio ``Edf``/``Bdf`` (BDF: 24-bit, by its version field or suffix);
    edfio's warnings (a truncated last record) become notes."""
    import edfio

    try:
        with path.open("rb") as fh:
            head = fh.read(8)
        bdf = head.startswith(b"\xffBIOSEMI") or path.suffix.lower() == ".bdf"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # Latin-1 takes any byte: header text from other programs is not always ASCII
            edf: Any = (
                edfio.read_bdf(path, header_encoding="latin-1")
                if bdf
                else edfio.read_edf(path, lazy_load_data=False, header_encoding="latin-1")
            )
            edf_signals = list(edf.signals)
    except (ValueError, OSError, IndexError, OverflowError, UnicodeDecodeError) as exc:
        kind = "BDF" if path.suffix.lower() == ".bdf" else "EDF/EDF+"
        raise SourceURLError(f"{path}: not a readable {kind} file ({exc})") from None
    if not edf_signals:
        raise SourceURLError(f"{path}: the file holds annotations only, no signals")
    notes.extend(f"{path.name}: {w.message}" for w in caught)
    return edf


def _edf_start(edf: Any, path: Path, notes: list[str]) -> datetime | None:
    """The recording's start (local time as the file states it, no zone), or None when the
    header's date is anonymised or unreadable."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the EDF+ date wins over the legacy field
            start: datetime = edf.startdatetime
            return start
    except ValueError as exc:  # edfio.AnonymizedDateError is a ValueError
        notes.append(f"{path.name}: no usable start date in the header ({exc})")
        return None


def _edf_markers(
    annotations: Any, fs_hz: float, samples: np.ndarray, flags: np.ndarray
) -> tuple[list[Marker], int]:
    """Annotations -> markers; our own gap and end-padding annotations turn back into missing
    samples and the end of the data. Returns (markers, samples to keep); markers at or after
    that end are the caller's to leave out."""
    end = len(samples)
    markers: list[Marker] = []
    for ann in annotations:
        onset, duration, text = float(ann.onset), ann.duration, str(ann.text)
        a = max(0, round(onset * fs_hz))
        b = min(len(samples), a + round(float(duration or 0.0) * fs_hz))
        if is_padding(text):
            end = min(end, a)
        elif is_gap(text):
            if b > a:
                samples[a:b] = np.nan
                flags[a:b] |= int(Flag.MISSING)
        elif text.strip() and stated_rate(text) is None:
            # (our export's exact-rate note is not a marker)
            markers.append(_edf_marker(a, text, duration))
    return markers, end


def _edf_marker(index: int, text: str, duration: float | None) -> Marker:
    """One annotation as a marker; our export's ``Marker: label - note`` back to label and note."""
    note = f"duration {float(duration):g} s" if duration else ""
    match = re.match(r"^Marker: (.*?)(?: - (.*))?$", text, re.S)
    if match:
        return Marker(index, match[1], match[2] or note)
    return Marker(index, text.strip(), note)


def _edf_physical(signals: list[Any], path: Path, notes: list[str]) -> np.ndarray:
    """The signals in physical units, calibrated in place in one float64 array (EDF spec:
    ``physical = (digital + offset) * gain`` from the digital and physical ranges); edfio's
    ``data`` would hold two more float64 copies of each signal at its peak."""
    samples = np.empty((len(signals[0].digital), len(signals)))
    for j, sig in enumerate(signals):
        column = samples[:, j]
        column[:] = sig.digital
        d_lo, d_hi = sig.digital_min, sig.digital_max
        p_lo, p_hi = sig.physical_min, sig.physical_max
        if d_hi == d_lo or p_hi == p_lo:
            notes.append(
                f"{path.name}: {sig.label.strip()}: its digital or physical range is empty, so "
                "its values are read as they are stored (uncalibrated)"
            )
            continue
        gain = (p_hi - p_lo) / (d_hi - d_lo)
        column += p_hi / gain - d_hi
        column *= gain
    return samples


def _edf_layout(
    edf_signals: list[Any], opts: RecordingOptions, path: Path
) -> tuple[list[int], float, list[ChannelKind], list[str]]:
    """(chosen signals, rate, kinds, names) from the labels and the options."""
    labels = [sig.label.strip() for sig in edf_signals]
    if opts.columns:
        cols = [_column_index(c, labels, path, "columns") for c in opts.columns]
    else:
        cols = list(range(len(labels)))
    rates = {float(edf_signals[i].sampling_frequency) for i in cols}
    if len(rates) != 1:
        raise SourceURLError(
            f"{path}: the chosen signals have different rates ({', '.join(f'{r:g}' for r in sorted(rates))} "
            "Hz): choose signals with one rate, e.g. columns=1,2"
        )
    fs_hz = opts.fs_hz or rates.pop()
    if opts.channels is None:
        # Our export labels signals "EMG name RAW", ... (older exports "RAW name")
        prefixed = [parse_label(labels[c]) for c in cols]
        if all(prefixed):
            return (
                cols,
                fs_hz,
                [m[0] for m in prefixed if m],
                [m[1] for m in prefixed if m],
            )
    return cols, fs_hz, _kinds(opts.channels, len(cols), path), [labels[c] for c in cols]


def _load_edf(path: Path, opts: RecordingOptions) -> Recording:
    notes: list[str] = []
    edf = _read_edf_file(path, notes)
    edf_signals = list(edf.signals)
    equipment = _edf_equipment(path)
    cols, fs_hz, kinds, names = _edf_layout(edf_signals, opts, path)
    chosen = [edf_signals[c] for c in cols]
    dims = {sig.physical_dimension.strip() for sig in chosen}
    restored: _EdfCounts | None = None
    if equipment is not None and not _user_describes(opts) and dims == {"uV"}:
        found = _edf_counts(chosen, kinds, opts.names or names, path)
        if isinstance(found, str):
            notes.append(found)
        else:
            restored = found
    if len({len(sig.digital) for sig in chosen}) != 1:
        raise SourceURLError(f"{path}: the chosen signals have different lengths")
    samples = restored.counts if restored is not None else _edf_physical(chosen, path, notes)
    units = opts.units
    if units is None and opts.scale_uv is None and len(dims) == 1:
        units = _UNIT_ALIASES.get(next(iter(dims)).lower())
    if units is None and opts.scale_uv is None and restored is None:
        # signals in different units (uV and mV): each converted to uV
        per_signal = [_UNIT_ALIASES.get(sig.physical_dimension.strip().lower()) for sig in chosen]
        if all(u in UNIT_SCALE_UV for u in per_signal):
            samples = samples * np.array([UNIT_SCALE_UV[str(u)] for u in per_signal])
            units = "uV"
    if units is None and opts.scale_uv is None:
        raise SourceURLError(
            f"{path}: the signals' physical dimension is not uV/mV/V: add units=... or scale_uv=..."
        )
    info = _make_info(path, opts, fs_hz, units, kinds, opts.names or names, opts.adc_bits)
    if restored is not None:
        assert equipment is not None
        board = "" if equipment[1] in ("X", "file") else equipment[1]
        info = _counts_info(info, restored.channels, restored.bits, restored.vref_v, board)
    samples = np.asarray(samples, dtype=np.float64)  # a writable array: gaps become NaN below
    flags = np.zeros(len(samples), dtype=np.uint16)
    if str(edf.reserved).strip() in ("EDF+D", "BDF+D"):
        samples, flags = _edf_discontinuous(path, edf, chosen[0], samples, fs_hz, notes)
    try:
        annotations = edf.annotations
    except (ValueError, IndexError, UnicodeDecodeError) as exc:
        notes.append(f"{path.name}: its annotations are unreadable ({exc}); none were imported")
        annotations = ()
    markers, end = _edf_markers(annotations, fs_hz, samples, flags)
    late = sum(1 for m in markers if m.sample_index >= end)
    if late:
        notes.append(f"{path.name}: {late} annotation(s) after the end of the signals left out")
        markers = [m for m in markers if m.sample_index < end]
    stated = [r for ann in annotations if (r := stated_rate(str(ann.text)))]
    if stated and equipment is not None and opts.fs_hz is None:
        # our export of a rate the header cannot hold exactly: the stream's own rate
        info = dataclasses.replace(info, fs_hz=stated[0])
    reserved = str(edf.reserved).strip()
    if isinstance(edf, _edfio_bdf()):
        fmt = "BDF+" if reserved.startswith("BDF+") else "BDF"
    else:
        fmt = "EDF+" if reserved.startswith("EDF+") else "EDF"
    return Recording(
        info,
        samples[:end],
        flags[:end],
        path,
        notes,
        start_time=_edf_start(edf, path, notes),
        markers=markers,
        format=fmt,
    )


def _record_onsets(path: Path, n_records: int, bytes_per_sample: int) -> list[float] | None:
    """EDF+D/BDF+D: each data record's start in seconds after the file's start, from the
    time-keeping annotation that opens the record's first annotation signal (EDF+ spec 2.2.4),
    read from the raw header and records; None when a record has none."""
    with path.open("rb") as fh:
        head = fh.read(256)
        ns = int(head[252:256].decode("ascii", "replace").strip() or 0)
        fields = fh.read(256 * ns)
        labels = [fields[16 * i : 16 * i + 16].decode("latin-1").strip() for i in range(ns)]
        spr_at = ns * 216  # after label, transducer, dimension, 4 ranges and prefilter
        spr = [int(fields[spr_at + 8 * i : spr_at + 8 * i + 8]) for i in range(ns)]
        ann = next((i for i, x in enumerate(labels) if x.endswith("Annotations")), None)
        if ann is None:
            return None
        record_bytes = sum(spr) * bytes_per_sample
        skip = sum(spr[:ann]) * bytes_per_sample
        onsets = []
        for r in range(n_records):
            fh.seek(256 * (ns + 1) + r * record_bytes + skip)
            match = re.match(rb"([+-]\d+(?:\.\d*)?)\x14\x14", fh.read(min(64, spr[ann] * 2)))
            if match is None:
                return None
            onsets.append(float(match[1]))
    return onsets


def _edf_discontinuous(
    path: Path, edf: Any, signal: Any, samples: np.ndarray, fs_hz: float, notes: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """An EDF+D file's records placed at their start times, the time between them as missing
    samples (as a live recording's gaps)."""
    bdf = isinstance(edf, _edfio_bdf())
    why = "a record has no time-keeping annotation"
    try:
        onsets = _record_onsets(path, int(edf.num_data_records), 3 if bdf else 2)
    except (OSError, ValueError) as exc:
        onsets, why = None, str(exc)
    per_record = int(signal.samples_per_data_record)
    if not onsets or per_record * len(onsets) != len(samples):
        notes.append(
            f"{path.name}: a discontinuous EDF+D file whose record times are unreadable ({why}): "
            "its records were joined end to end"
        )
        return samples, np.zeros(len(samples), dtype=np.uint16)
    starts, expected = [], 0
    for onset in onsets:
        start = round((onset - onsets[0]) * fs_hz)
        if abs(start - expected) <= 1:
            start = expected  # contiguous (rounding of the onset text)
        if start < expected:
            raise SourceURLError(f"{path}: its data records overlap in time (record onsets)")
        starts.append(start)
        expected = start + per_record
    if expected > 10 * len(samples) + 3600 * fs_hz:
        raise SourceURLError(
            f"{path}: its records are mostly gaps (more than an hour): not imported"
        )
    placed = np.full((expected, samples.shape[1]), np.nan)
    flags = np.full(expected, int(Flag.MISSING), dtype=np.uint16)
    for r, start in enumerate(starts):
        placed[start : start + per_record] = samples[r * per_record : (r + 1) * per_record]
        flags[start : start + per_record] = 0
    missing = expected - len(samples)
    if missing:
        notes.append(
            f"{path.name}: a discontinuous EDF+D file: {missing / fs_hz:g} s between its "
            "records are stored as gaps"
        )
    return placed, flags


def _edfio_bdf() -> type:
    import edfio

    return edfio.Bdf
