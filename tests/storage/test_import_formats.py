"""Other tools' recordings, written in each tool's own layout, read with their start time and
markers, and stored as sessions that replay, export and report like recorded ones."""

from __future__ import annotations

import datetime as dt
import os
import wave
from pathlib import Path

import edfio
import numpy as np
import pytest
from xdf_writer import XdfStream, write_xdf

from biofeedback.core.types import ChannelKind, Flag
from biofeedback.errors import SourceURLError, StorageError
from biofeedback.storage.database import Database
from biofeedback.storage.export import export_session
from biofeedback.storage.import_session import import_file
from biofeedback.storage.importing import Marker, RecordingOptions, load_recording


# -- Backyard Brains Spike Recorder: WAV + NAME-events.txt ---------------------------------------------
def write_byb(folder: Path, fs: int = 10_000, seconds: float = 3.0) -> tuple[Path, np.ndarray]:
    """A Spike Recorder recording: 16-bit mono WAV named by its start time, and its events
    file (``# Marker IDs can be arbitrary strings.`` / ``# Marker ID,<tab>Time (in s)`` /
    ``label,<tab>seconds`` with 4 decimals)."""
    n = int(fs * seconds)
    rng = np.random.default_rng(3)
    data = (rng.normal(0, 800, n)).astype(np.int16)
    path = folder / "BYB_Recording_2023-12-12_15.43.39.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(fs)
        w.writeframes(data.tobytes())
    events = folder / "BYB_Recording_2023-12-12_15.43.39-events.txt"
    events.write_text(
        "# Marker IDs can be arbitrary strings.\n# Marker ID,\tTime (in s)\n"
        "1,\t0.5012\n2,\t1.2500\nclench,\t2.0000\n"
    )
    return path, data


def test_backyard_brains_wav_reads_its_events_and_the_start_time_in_its_name(tmp_path):
    path, data = write_byb(tmp_path)
    rec = load_recording(path, units="counts", adc_bits=16, vref_v=3.3, gain=1)
    assert rec.format == "Backyard Brains WAV"
    assert rec.info.fs_hz == 10_000 and rec.samples.shape == (len(data), 1)
    np.testing.assert_array_equal(rec.samples[:, 0], data.astype(float))
    assert rec.start_time == dt.datetime(2023, 12, 12, 15, 43, 39)
    assert rec.markers == [Marker(5012, "1"), Marker(12500, "2"), Marker(20000, "clench")]


def test_backyard_brains_events_that_are_damaged_or_late_are_left_out_with_a_note(tmp_path):
    path, _ = write_byb(tmp_path, seconds=1.0)
    events = path.with_name(f"{path.stem}-events.txt")
    events.write_bytes(
        b"# Marker ID,\tTime (in s)\nok,\t0.1\nbroken line\n\xe9t\xe9,\t0.2\nlate,\t9.0\n"
        b"_ch0_neuron0,\t0.3001\n_ch0_neuron0,\t0.4120\n"
    )
    rec = load_recording(path, scale_uv=1.0)
    assert [(m.sample_index, m.label) for m in rec.markers] == [(1000, "ok"), (2000, "été")]
    assert any("1 line(s)" in n for n in rec.notes) and any("after the end" in n for n in rec.notes)
    assert any("2 spike time(s)" in n for n in rec.notes)


def test_a_plain_wav_has_no_markers_and_no_start_time(tmp_path):
    path = tmp_path / "take.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(2000)
        w.writeframes(np.zeros((100, 2), np.int16).tobytes())
    rec = load_recording(path, scale_uv=0.5)
    assert rec.format == "WAV" and rec.markers == [] and rec.start_time is None


# -- EDF+ and BDF (edfio writes them as other programs do) ---------------------------------------------
def write_edf_plus(path: Path, fs: int = 1000, seconds: int = 6) -> np.ndarray:
    t = np.arange(fs * seconds) / fs
    values = 80.0 * np.sin(2 * np.pi * 50 * t) + 10.0 * np.cos(2 * np.pi * 7 * t)
    signals = [
        edfio.EdfSignal(
            values,
            sampling_frequency=fs,
            label="EMG trap L",
            physical_dimension="uV",
            physical_range=(-500.0, 500.0),
        ),
        edfio.EdfSignal(
            values / 1000.0,
            sampling_frequency=fs,
            label="EMG trap R",
            physical_dimension="mV",
            physical_range=(-0.5, 0.5),
        ),
    ]
    edf = edfio.Edf(
        signals,
        recording=edfio.Recording(startdate=dt.date(2024, 3, 2)),
        starttime=dt.time(9, 30, 5),
        annotations=[
            edfio.EdfAnnotation(1.5, None, "eyes closed"),
            edfio.EdfAnnotation(3.25, 2.0, "clench"),
        ],
    )
    edf.write(path)
    return values


def test_edf_plus_annotations_become_markers_and_the_header_gives_the_start(tmp_path):
    path = tmp_path / "other.edf"
    values = write_edf_plus(path)
    rec = load_recording(path, columns=["1"])
    assert rec.format == "EDF+" and rec.info.fs_hz == 1000 and rec.info.units == "uV"
    assert rec.info.channels[0].name == "EMG trap L"
    np.testing.assert_allclose(rec.samples[:, 0], values, atol=500 / 32767)
    assert rec.start_time == dt.datetime(2024, 3, 2, 9, 30, 5)
    assert rec.markers == [Marker(1500, "eyes closed"), Marker(3250, "clench", "duration 2 s")]
    both = load_recording(path)  # one signal in uV, one in mV: both read in uV
    assert both.info.units == "uV"
    np.testing.assert_allclose(both.samples[:, 1], values, atol=0.5 / 32767 * 1000)


def test_bdf_24_bit_is_read_with_its_annotations(tmp_path):
    path = tmp_path / "biosemi.bdf"
    fs = 2048
    values = np.linspace(-2000.0, 2000.0, fs * 2)
    bdf = edfio.Bdf(
        [
            edfio.BdfSignal(
                values,
                sampling_frequency=fs,
                label="EXG1",
                physical_dimension="uV",
                physical_range=(-262144.0, 262143.0),
            )
        ],
        recording=edfio.Recording(startdate=dt.date(2022, 1, 31)),
        starttime=dt.time(23, 59, 58),
        annotations=[edfio.EdfAnnotation(0.5, None, "trigger 1")],
    )
    bdf.write(path)
    rec = load_recording(path)
    assert rec.format.startswith("BDF") and rec.info.fs_hz == fs
    # 24 bits over +-262 mV: a quantum of 0.03 uV, where 16 bits would give 8 uV
    np.testing.assert_allclose(rec.samples[:, 0], values, atol=0.05)
    assert rec.start_time == dt.datetime(2022, 1, 31, 23, 59, 58)
    assert rec.markers == [Marker(1024, "trigger 1")]


def test_a_file_that_is_not_edf_is_refused_in_one_line(tmp_path):
    path = tmp_path / "fake.edf"
    path.write_bytes(b"0       this is not an EDF header" + bytes(300))
    with pytest.raises(SourceURLError, match="not a readable EDF"):
        load_recording(path)
    short = tmp_path / "short.bdf"
    short.write_bytes(b"\xffBIOSEMI")
    with pytest.raises(SourceURLError, match="not a readable BDF"):
        load_recording(short)


# -- XDF (LabRecorder) ------------------------------------------------------------------------------------
T0 = 5000.0  # LSL clock at the recording start (seconds since the recording computer booted)


def xdf_streams(fs: float = 500.0, seconds: float = 4.0) -> tuple[list[XdfStream], np.ndarray]:
    n = int(fs * seconds)
    rng = np.random.default_rng(9)
    emg = rng.normal(0, 30, (n, 2)).astype(np.float32)
    eeg = rng.normal(0, 10, (int(250 * seconds), 1)).astype(np.float32)
    streams = [
        XdfStream(
            "OpenBCI_EEG",
            "EEG",
            250.0,
            "float32",
            list(T0 + np.arange(len(eeg)) / 250.0),
            eeg,
            ["Fz"],
            ["microvolts"],
        ),
        XdfStream(
            "MyoWare",
            "EMG",
            fs,
            "float32",
            list(T0 + 0.5 + np.arange(n) / fs),
            emg,
            ["trap L", "trap R"],
            ["microvolts", "microvolts"],
        ),
        XdfStream(
            "PsychoPyMarkers",
            "Markers",
            0.0,
            "string",
            [T0 + 0.2, T0 + 1.5, T0 + 3.0, T0 + 99.0],
            [["before the EMG"], ["relax"], ["tense"], ["after"]],
        ),
    ]
    return streams, emg


def test_xdf_takes_the_emg_stream_its_markers_and_the_header_time(tmp_path):
    streams, emg = xdf_streams()
    path = tmp_path / "sub-P1_task-relax.xdf"
    write_xdf(path, streams, "2024-05-02T14:03:11+0200")
    rec = load_recording(path)
    assert rec.format == "XDF (stream MyoWare)"
    assert rec.info.fs_hz == 500.0 and [c.name for c in rec.info.channels] == ["trap L", "trap R"]
    assert rec.info.units == "uV"
    np.testing.assert_allclose(rec.samples, emg.astype(float), rtol=1e-6)
    tz = dt.timezone(dt.timedelta(hours=2))
    # the EMG stream's first sample came 0.5 s after the earliest stream's first sample
    assert rec.start_time == dt.datetime(2024, 5, 2, 14, 3, 11, 500000, tzinfo=tz)
    assert [(m.sample_index, m.label) for m in rec.markers] == [(500, "relax"), (1250, "tense")]
    assert any("2 marker(s) outside" in n for n in rec.notes)


def test_xdf_with_several_signal_streams_and_no_emg_asks_for_stream(tmp_path):
    streams, _ = xdf_streams()
    streams[1].type = "ExG"
    path = tmp_path / "two.xdf"
    write_xdf(path, streams, "2024-05-02T14:03:11+0200")
    with pytest.raises(SourceURLError, match="stream=") as caught:
        load_recording(path)
    assert "OpenBCI_EEG" in str(caught.value) and "MyoWare" in str(caught.value)
    assert load_recording(path, stream="myoware").info.n_channels == 2
    assert load_recording(path, stream="EEG").info.channels[0].name == "Fz"
    assert load_recording(path, stream="2").info.fs_hz == 500.0
    with pytest.raises(SourceURLError, match="names no single signal stream"):
        load_recording(path, stream="PsychoPyMarkers")


def test_xdf_units_it_does_not_state_must_be_given(tmp_path):
    streams, _ = xdf_streams()
    streams[1].units = ["", ""]
    path = tmp_path / "nounits.xdf"
    write_xdf(path, streams[1:], "2024-05-02T14:03:11Z")
    with pytest.raises(SourceURLError, match="units="):
        load_recording(path)
    rec = load_recording(path, units="mV")
    assert rec.info.channels[0].scale_uv == 1000.0
    assert rec.start_time is not None and rec.start_time.utcoffset() == dt.timedelta(0)


def test_a_break_in_an_xdf_stream_becomes_missing_samples(tmp_path):
    fs = 200.0
    stamps = list(T0 + np.arange(400) / fs) + list(T0 + 4.0 + np.arange(400) / fs)
    values = np.ones((800, 1), np.float32)
    stream = XdfStream("emg", "EMG", fs, "float32", stamps, values, ["a"], ["uV"])
    path = tmp_path / "break.xdf"
    write_xdf(path, [stream], "2024-05-02T14:03:11Z")
    rec = load_recording(path)
    assert len(rec.samples) == 1200
    assert np.isnan(rec.samples[400:800]).all() and (rec.flags[400:800] == Flag.MISSING).all()
    assert np.isfinite(rec.samples[:400]).all() and np.isfinite(rec.samples[800:]).all()


def test_a_file_that_is_not_xdf_is_refused_in_one_line(tmp_path):
    path = tmp_path / "bad.xdf"
    path.write_bytes(b"PK\x03\x04 a zip, not XDF")
    with pytest.raises(SourceURLError, match="not a readable XDF"):
        load_recording(path)


# -- stored as a session ----------------------------------------------------------------------------------
def test_an_imported_edf_is_a_session_with_its_start_markers_and_source(tmp_path, db):
    path = tmp_path / "other.edf"
    values = write_edf_plus(path)
    result = import_file(db, path, RecordingOptions(columns=["1"]), subject_id="P9")
    record = db.get_session(result.session_id)
    assert record.status == "complete" and record.subject_id == "P9"
    assert record.started_at == dt.datetime(2024, 3, 2, 9, 30, 5).timestamp()
    assert record.n_samples == len(values) and record.first_index == 0
    imported = record.hardware["imported"]
    assert imported["file"] == "other.edf" and imported["format"] == "EDF+"
    assert len(imported["sha256"]) == 64 and record.hardware["source"] == "file other.edf (EDF+)"
    assert record.summary["notes"][0] == "Imported from other.edf (EDF+)."
    assert [(m["sample_index"], m["label"], m["note"]) for m in db.markers(record.id)] == [
        (1500, "eyes closed", ""),
        (3250, "clench", "duration 2 s"),
    ]
    stored = np.concatenate([c.samples for c in db.iter_chunks(record.id)])
    np.testing.assert_allclose(stored[:, 0], values, atol=500 / 32767)
    assert record.pipeline_settings["fs_hz"] == 1000.0


def test_the_same_file_twice_is_refused_unless_again(tmp_path, db):
    path = tmp_path / "other.edf"
    write_edf_plus(path)
    first = import_file(db, path)
    copy = tmp_path / "renamed copy.edf"
    copy.write_bytes(path.read_bytes())
    with pytest.raises(StorageError, match=f"imported already as session {first.session_id}"):
        import_file(db, copy)
    again = import_file(db, copy, again=True)
    assert again.session_id != first.session_id and len(db.list_sessions()) == 2


def test_a_file_without_a_start_time_takes_its_modification_time(tmp_path, db):
    path = tmp_path / "plain.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(1000)
        w.writeframes(np.arange(2000, dtype=np.int16).tobytes())
    os.utime(path, (1_700_000_000, 1_700_000_000))
    result = import_file(db, path, RecordingOptions(scale_uv=1.0))
    assert db.get_session(result.session_id).started_at == pytest.approx(1_700_000_000 - 2.0)
    assert result.start_time_source == "the file's modification time"
    assert any("does not state when" in n for n in result.notes)


def test_gaps_are_stored_as_holes_and_replay_as_missing_samples(tmp_path, db):
    fs = 200.0
    stamps = list(T0 + np.arange(400) / fs) + list(T0 + 4.0 + np.arange(400) / fs)
    stream = XdfStream("emg", "EMG", fs, "float32", stamps, np.ones((800, 1)), ["a"], ["uV"])
    path = tmp_path / "break.xdf"
    write_xdf(path, [stream], "2024-05-02T14:03:11Z")
    result = import_file(db, path)
    record = db.get_session(result.session_id)
    assert record.n_samples == 800 and record.duration_s == pytest.approx(6.0)
    assert result.missing_samples == 400
    chunks = list(db.iter_chunks(record.id))
    flags = np.concatenate([c.flags for c in chunks])
    assert (flags[400:800] == Flag.MISSING).all() and not flags[:400].any()


def test_our_own_export_imports_back_with_its_markers(tmp_path, db):
    from storage_helpers import record_sim_session

    sid = record_sim_session(
        db.path, "sim://?scenario=relax&seed=2&board=12bit&channels=raw,env&speed=max", 2.0
    )
    db.add_marker(sid, 700, "cough", "subject coughed")
    out = tmp_path / "ours.edf"
    export_session(db, sid, "edf", out)
    result = import_file(db, out)
    original, imported = db.get_session(sid), db.get_session(result.session_id)
    assert imported.info.units == "counts" and imported.n_samples == original.n_samples
    assert [c.kind for c in imported.info.channels] == [ChannelKind.RAW, ChannelKind.ENV]
    origin = original.first_index or 0
    assert [(m["sample_index"], m["label"], m["note"]) for m in db.markers(imported.id)] == [
        (700 - origin, "cough", "subject coughed")
    ]
    a = np.concatenate([c.samples for c in db.iter_chunks(sid)])
    b = np.concatenate([c.samples for c in db.iter_chunks(imported.id)])
    np.testing.assert_array_equal(a, b)


def test_a_failed_import_leaves_no_session(tmp_path, db, monkeypatch):
    path = tmp_path / "other.edf"
    write_edf_plus(path)
    import biofeedback.storage.import_session as module

    def broken(*args, **kwargs):
        raise StorageError("disk full")

    monkeypatch.setattr(module, "_write_samples", broken)
    with pytest.raises(StorageError, match="disk full"):
        import_file(db, path)
    assert db.list_sessions() == []


def test_an_imported_session_replays_and_exports(tmp_path, db):
    from biofeedback.storage.replay import ReplayDevice

    path, data = write_byb(tmp_path, fs=2000, seconds=3.0)
    result = import_file(db, path, RecordingOptions(units="counts", adc_bits=16, vref_v=3.3))
    device = ReplayDevice(session_id=result.session_id, db_path=db.path, speed=None)
    info = device.open()
    got = np.concatenate([c.samples for c in device._chunks(512)])
    device.close()
    assert info.fs_hz == 2000 and got.shape == (len(data), 1)
    out = tmp_path / "back.csv"
    export_session(db, result.session_id, "csv", out)
    assert "clench" not in out.read_text()  # CSV has no annotations; the EDF+ has them
    edf_out = tmp_path / "back.edf"
    export_session(db, result.session_id, "edf", edf_out)
    texts = [a.text for a in edfio.read_edf(edf_out).annotations]
    assert any("clench" in t for t in texts)
    assert Database.check_subject_id("P1") == "P1"


def test_replay_of_an_xdf_file_takes_the_stream_option(tmp_path):
    from biofeedback.devices.registry import open_device

    streams, _ = xdf_streams()
    streams[1].type = "ExG"
    path = tmp_path / "two.xdf"
    write_xdf(path, streams, "2024-05-02T14:03:11+0200")
    device = open_device(f"replay://{path}?stream=MyoWare&speed=max")
    try:
        info = device.open()
    finally:
        device.close()
    assert info.fs_hz == 500.0 and [c.name for c in info.channels] == ["trap L", "trap R"]


def test_edf_plus_d_records_are_placed_at_their_times_with_the_gap_missing(tmp_path):
    """EDF+D (discontinuous): each record's time-keeping annotation says when it starts; the
    time between records becomes missing samples, so markers stay on their samples."""
    path = tmp_path / "discontinuous.edf"
    fs = 100
    edfio.Edf(
        [
            edfio.EdfSignal(
                np.arange(600, dtype=float),
                sampling_frequency=fs,
                label="EMG a",
                physical_dimension="uV",
                physical_range=(-1000.0, 1000.0),
            )
        ],
        recording=edfio.Recording(startdate=dt.date(2024, 1, 2)),
        starttime=dt.time(10, 0, 0),
        annotations=[edfio.EdfAnnotation(8.25, None, "late event")],
    ).write(path)
    raw = path.read_bytes()
    raw = raw[:192] + b"EDF+D".ljust(44) + raw[236:]
    for old, new in ((b"+3", b"+7"), (b"+4", b"+8"), (b"+5", b"+9")):  # a 4 s pause after 3 s
        assert raw.count(old + b"\x14\x14\x00") == 1
        raw = raw.replace(old + b"\x14\x14\x00", new + b"\x14\x14\x00")
    path.write_bytes(raw)
    rec = load_recording(path)
    assert len(rec.samples) == 1000
    np.testing.assert_allclose(rec.samples[:300, 0], np.arange(300), atol=0.05)
    assert np.isnan(rec.samples[300:700]).all() and (rec.flags[300:700] == Flag.MISSING).all()
    np.testing.assert_allclose(rec.samples[700:, 0], np.arange(300, 600), atol=0.05)
    assert rec.markers == [Marker(825, "late event")]
    assert any("4 s between its records" in n for n in rec.notes)


def test_a_damaged_xdf_keeps_what_can_be_read_with_a_note_and_nothing_on_stderr(tmp_path, capfd):
    fs = 250.0
    stream = XdfStream(
        "emg",
        "EMG",
        fs,
        "float32",
        list(100 + np.arange(2000) / fs),
        np.ones((2000, 1)),
        ["a"],
        ["uV"],
    )
    codes = XdfStream(
        "triggers", "Markers", 0.0, "double64", [101.0, 102.0], np.array([[3], [4.5]])
    )
    path = tmp_path / "cut.xdf"
    write_xdf(path, [stream, codes], "2024-01-01T10:00:00Z")
    rec = load_recording(path)
    assert [(m.sample_index, m.label) for m in rec.markers] == [(250, "3"), (500, "4.5")]
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    rec = load_recording(path)
    assert 0 < len(rec.samples) < 2000
    assert any("damaged or cut short" in n for n in rec.notes)
    assert capfd.readouterr().err == ""


def test_edf_oddities_become_notes_not_stderr(tmp_path, capfd):
    """An annotation after the signals ends is left out, and a signal whose physical range is
    empty is read uncalibrated with a note, not a line on stderr."""
    path = tmp_path / "odd.edf"
    edfio.Edf(
        [
            edfio.EdfSignal(
                np.zeros(200),
                sampling_frequency=100,
                label="EMG a",
                physical_dimension="uV",
                physical_range=(-1000.0, 1000.0),
            )
        ],
        annotations=[edfio.EdfAnnotation(0.5, None, "in"), edfio.EdfAnnotation(9.0, None, "out")],
    ).write(path)
    raw = bytearray(path.read_bytes())
    n_signals = int(raw[252:256])
    at = 256 + n_signals * (16 + 80 + 8 + 8)  # the first signal's physical maximum
    raw[at : at + 8] = b"-1000   "
    path.write_bytes(bytes(raw))
    rec = load_recording(path)
    assert rec.markers == [Marker(50, "in")]
    assert any("1 annotation(s) after the end" in n for n in rec.notes)
    assert any("EMG a: its digital or physical range is empty" in n for n in rec.notes)
    assert capfd.readouterr().err == ""


def test_a_wav_chunk_scipy_skips_is_a_note_not_stderr(tmp_path, capfd):
    import struct

    path = tmp_path / "cue.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(1000)
        w.writeframes(np.zeros(100, np.int16).tobytes())
    raw = bytearray(path.read_bytes()) + b"cue " + struct.pack("<I", 4) + bytes(4)
    struct.pack_into("<I", raw, 4, len(raw) - 8)  # the RIFF size covers the added chunk
    path.write_bytes(bytes(raw))
    rec = load_recording(path, scale_uv=1.0)
    assert len(rec.samples) == 100 and any("not understood" in n for n in rec.notes)
    assert capfd.readouterr().err == ""
