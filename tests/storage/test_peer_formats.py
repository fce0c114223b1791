"""Other tools' recordings, written in each tool's own layout: OpenBCI GUI (v5 and v4 text files),
BrainFlow CSV (written by BrainFlow's DataFilter.write_file) and Chords-Python CSV."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from biofeedback.core.types import Flag
from biofeedback.devices.registry import open_device
from biofeedback.errors import SourceURLError
from biofeedback.storage.importing import load_recording

T0 = 1_709_287_872.125  # 2024-03-01 10:11:12.125 UTC


def exg(n: int, n_ch: int) -> np.ndarray:
    """A checkable microvolt value for every (sample, channel)."""
    i = np.arange(n)[:, None]
    return np.round(np.sin(i * 0.3 + np.arange(n_ch)) * 50.0 + np.arange(n_ch) * 3, 3)


# -- OpenBCI GUI --------------------------------------------------------------------------------------
CYTON_COLUMNS = (
    ["Sample Index"]
    + [f"EXG Channel {i}" for i in range(8)]
    + [f"Accel Channel {i}" for i in range(3)]
    + ["Other"] * 7
    + [f"Analog Channel {i}" for i in range(3)]
    + ["Timestamp", "Marker Channel"]
)


def write_openbci_v5(path: Path, x: np.ndarray, markers: dict[int, float]) -> None:
    """As the GUI's DataWriterODF writes it: the header, the board's channel names followed by
    ", " and 'Timestamp (Formatted)'; each value followed by ", ", then the formatted time."""
    lines = [
        "%OpenBCI Raw EXG Data",
        "%Number of channels = 8",
        "%Sample Rate = 250 Hz",
        "%Board = OpenBCI_GUI$BoardCytonSerial",
        "".join(f"{c}, " for c in CYTON_COLUMNS) + "Timestamp (Formatted)",
    ]
    for k, row in enumerate(x):
        t = T0 + k / 250.0
        values = [float(k % 256), *row, 0.0, 0.0, 0.0, *([0.0] * 7), 0.0, 0.0, 0.0]
        values += [float(f"{t:.3f}"), markers.get(k, 0.0)]
        clock = datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        # Java prints 1.709287872125E9 for the time stamp
        text = [repr(float(v)) if v < 1e7 else f"{v:.12E}".replace("E+0", "E") for v in values]
        lines.append("".join(f"{v}, " for v in text) + clock)
    path.write_text("\n".join(lines) + "\n")


def test_openbci_gui_file_reads_its_rate_exg_channels_start_and_markers(tmp_path):
    path = tmp_path / "OpenBCI-RAW-2024-03-01_10-11-12.txt"
    x = exg(600, 8)
    write_openbci_v5(path, x, {100: 2.0, 350: 5.0})
    rec = load_recording(path)
    assert rec.format == "OpenBCI GUI" and rec.info.fs_hz == 250
    assert [c.name for c in rec.info.channels] == [f"EXG Channel {i}" for i in range(8)]
    assert rec.info.units == "uV" and all(c.scale_uv == 1.0 for c in rec.info.channels)
    np.testing.assert_allclose(rec.samples, x)
    assert not rec.flags.any()
    assert rec.start_time == datetime.fromtimestamp(T0, tz=UTC).replace(microsecond=125000)
    assert [(m.sample_index, m.label) for m in rec.markers] == [(100, "2"), (350, "5")]
    assert any("'Timestamp (Formatted)'" in n and "skipped" in n for n in rec.notes)


def test_openbci_file_replays_and_channels_can_be_chosen(tmp_path):
    path = tmp_path / "OpenBCI-RAW-x.txt"
    write_openbci_v5(path, exg(300, 8), {})
    device = open_device(f"replay://{path}?columns=EXG Channel 2,EXG Channel 5&speed=max")
    info = device.open()
    try:
        assert info.fs_hz == 250 and [c.name for c in info.channels] == [
            "EXG Channel 2",
            "EXG Channel 5",
        ]
    finally:
        device.close()
    with pytest.raises(SourceURLError, match="holds text, not numbers"):
        load_recording(path, columns=["Timestamp (Formatted)"])


def test_openbci_gui_v4_file_without_column_names(tmp_path):
    path = tmp_path / "OpenBCI-RAW-2019-05-15_12-14-49.txt"
    x = exg(250, 4)
    lines = [
        "%OpenBCI Raw EEG Data",
        "%Number of channels = 4",
        "%Sample Rate = 200.0 Hz",
        "%First Column = SampleIndex",
        "%Last Column = Timestamp ",
        "%Other Columns = EEG data in microvolts followed by Accel Data (in G) interleaved "
        "with Aux Data",
    ]
    for k, row in enumerate(x):
        ms = int(T0 * 1000) + k * 5
        clock = datetime.fromtimestamp(ms / 1000).strftime("%H:%M:%S.%f")[:-3]
        cells = [str(k % 201), *(f"{v:.2f}" for v in row), "0.00", "0.00", "0.00", clock, str(ms)]
        lines.append(", ".join(cells))
    path.write_text("\n".join(lines) + "\n")
    rec = load_recording(path)
    assert rec.format == "OpenBCI GUI" and rec.info.fs_hz == 200
    assert rec.info.n_channels == 4 and rec.info.units == "uV"
    np.testing.assert_allclose(rec.samples, x, atol=0.006)
    assert rec.start_time == datetime.fromtimestamp(int(T0 * 1000) / 1000, tz=UTC)


# -- BrainFlow ----------------------------------------------------------------------------------------
def test_brainflow_csv_by_board_name_with_counter_gaps_start_and_markers(tmp_path):
    pytest.importorskip("brainflow")
    from brainflow.board_shim import BoardIds, BoardShim
    from brainflow.data_filter import DataFilter

    descr = BoardShim.get_board_descr(BoardIds.SYNTHETIC_BOARD.value)
    n, lost = 700, set(range(300, 310)) | {500}
    kept = [k for k in range(n) if k not in lost]
    data = np.zeros((descr["num_rows"], len(kept)))
    values = exg(n, len(descr["emg_channels"]))
    for j, k in enumerate(kept):
        data[descr["package_num_channel"], j] = k % 256
        data[descr["emg_channels"], j] = values[k]
        data[descr["timestamp_channel"], j] = T0 + k / descr["sampling_rate"]
        data[descr["marker_channel"], j] = 3.0 if k == 42 else 0.0
    path = tmp_path / "brainflow.csv"
    DataFilter.write_file(data, str(path), "w")

    rec = load_recording(path, board="synthetic")
    assert rec.format == "BrainFlow CSV" and rec.info.fs_hz == descr["sampling_rate"]
    assert rec.info.n_channels == len(descr["emg_channels"]) and rec.info.units == "uV"
    assert len(rec.samples) == n
    missing = (rec.flags & Flag.MISSING) != 0
    assert set(np.flatnonzero(missing).tolist()) == lost
    np.testing.assert_allclose(rec.samples[~missing], values[kept], atol=1e-6)
    assert rec.start_time is not None
    assert abs(rec.start_time.timestamp() - T0) < 1e-3
    assert [(m.sample_index, m.label) for m in rec.markers] == [(42, "3")]
    assert any("11 sample(s) missing" in note for note in rec.notes)
    # the board's id works as well as its name
    assert load_recording(path, board="-1").info.n_channels == rec.info.n_channels

    with pytest.raises(SourceURLError, match=r"looks like a BrainFlow file.*board=cyton"):
        load_recording(path)
    with pytest.raises(SourceURLError, match="has 24 columns, this one 32"):
        load_recording(path, board="cyton")


# -- Chords-Python -----------------------------------------------------------------------------------
def write_chords(path: Path, codes: np.ndarray, lost: set[int], timestamp: bool) -> None:
    """As Chords-Python's CSV writer: the board and rate lines, a blank row, the header, then
    [clock time,] the firmware's packet counter and the channels' ADC codes."""
    lines = ["Arduino Board: UNO-R4", "Sampling Rate (samples per second): 500", ""]
    channels = [f"Channel{i + 1}" for i in range(codes.shape[1])]
    lines.append(",".join((["Timestamp"] if timestamp else []) + ["Counter", *channels]))
    for k, row in enumerate(codes):
        if k in lost:
            continue
        clock = [f"10:11:{12 + k // 500:02d}"] if timestamp else []
        lines.append(",".join([*clock, str(k % 256), *(str(int(v)) for v in row)]))
    path.write_text("\r\n".join(lines) + "\r\n")


@pytest.mark.parametrize("timestamp", [True, False])
def test_chords_python_csv_reads_its_rate_board_and_counter(tmp_path, timestamp):
    path = tmp_path / "chordspy-20250102-101112.csv"
    codes = (np.arange(900)[:, None] * 11 + np.arange(6) * 1000) % 16384
    lost = set(range(250, 260)) | set(range(600, 602))
    write_chords(path, codes, lost, timestamp)
    rec = load_recording(path)
    assert rec.format == "Chords-Python CSV" and rec.info.fs_hz == 500
    assert [c.name for c in rec.info.channels] == [f"Channel{i + 1}" for i in range(6)]
    assert rec.info.units == "counts" and rec.info.adc_bits == 14 and rec.info.vref_v == 5.0
    missing = (rec.flags & Flag.MISSING) != 0
    assert set(np.flatnonzero(missing).tolist()) == lost
    keep = [k for k in range(900) if k not in lost]
    np.testing.assert_array_equal(rec.samples[~missing], codes[keep])
    assert rec.start_time == datetime(2025, 1, 2, 10, 11, 12)
    assert any("12 sample(s) missing" in note for note in rec.notes)


def test_chords_python_csv_without_its_header_lines_asks_for_what_is_missing(tmp_path):
    path = tmp_path / "ChordsPy_20250102_101112.csv"
    rows = ["Counter,Channel1,Channel2,Channel3"] + [
        f"{k},{k},{2 * k},{3 * k}" for k in range(1, 50)
    ]
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(SourceURLError, match="does not state its sampling rate: add fs=500"):
        load_recording(path)
    with pytest.raises(SourceURLError, match="does not name its board: add board=UNO-R4"):
        load_recording(path, fs_hz=500)
    rec = load_recording(path, board="UNO-R4")
    assert rec.info.fs_hz == 500 and rec.info.n_channels == 3 and rec.info.adc_bits == 14
    assert not rec.flags.any() and rec.samples[0].tolist() == [1, 2, 3]


def test_a_text_column_in_a_plain_csv_is_skipped_with_a_note(tmp_path):
    path = tmp_path / "plain.csv"
    rows = ["emg,clock"] + [f"{k}.5,2025-01-02 10:11:{k:02d}" for k in range(30)]
    path.write_text("\n".join(rows) + "\n")
    rec = load_recording(path, fs_hz=100, units="mV")
    assert rec.info.n_channels == 1 and rec.samples[3, 0] == 3.5
    assert any("'clock'" in n and "skipped" in n for n in rec.notes)


def test_openbci_start_from_the_formatted_time_when_there_is_no_unix_time(tmp_path):
    path = tmp_path / "OpenBCI-RAW-ganglion.txt"
    lines = [
        "%OpenBCI Raw EXG Data",
        "%Number of channels = 4",
        "%Sample Rate = 200 Hz",
        "%Board = OpenBCI_GUI$BoardGanglionBLE",
        "Sample Index, EXG Channel 0, EXG Channel 1, EXG Channel 2, EXG Channel 3, "
        "Timestamp (Formatted)",
    ]
    lines += [f"{k}, 1.0, 2.0, 3.0, {k}.5, 2024-03-01 10:11:12.{k * 5:03d}" for k in range(40)]
    path.write_text("\n".join(lines) + "\n")
    rec = load_recording(path)
    assert rec.start_time == datetime(2024, 3, 1, 10, 11, 12)
    assert rec.samples[7].tolist() == [1.0, 2.0, 3.0, 7.5]
    with pytest.raises(SourceURLError, match="names= gives 1 names for 4 channels"):
        load_recording(path, names=["a"])


def test_import_command_stores_an_openbci_file_as_a_session(tmp_path):
    import json
    import subprocess
    import sys

    path = tmp_path / "OpenBCI-RAW-2024-03-01_10-11-12.txt"
    write_openbci_v5(path, exg(1000, 8), {10: 1.0, 20: 2.0})
    result = subprocess.run(
        [sys.executable, "-m", "biofeedback", "import", str(path), "--subject", "P1", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["format"] == "OpenBCI GUI" and out["fs_hz"] == 250 and out["markers"] == 2
    assert out["start_time"].startswith("2024-03-01T10:11:12")
