"""EDF+ export, read back with independent readers (pyedflib's C edflib; MNE when installed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyedflib
import pytest
from storage_helpers import myoware_info, synthetic_counts

from biofeedback.core.types import ChannelInfo, ChannelKind, Flag, StreamInfo
from biofeedback.errors import StorageError
from biofeedback.storage.database import Database
from biofeedback.storage.edf_conventions import GAP_TEXT, PADDING_TEXT
from biofeedback.storage.export import (
    edf_quantum_uv,
    export_session,
    format_number,
    raw_uv,
    record_layout,
)
from biofeedback.storage.importing import load_recording

PHASES = [
    {"name": "baseline", "kind": "baseline", "start_index": 200, "end_index": 1400, "mean_uv": 3.0},
    {"name": "train 1", "kind": "train", "start_index": 1400, "end_index": 3900, "pct_below": 70.0},
]


def make_session(db: Database) -> int:
    """2.5 s + gap + 1.5 s of 12-bit counts, phases, markers and threshold changes."""
    sid = db.create_session(
        "P-001", "demo", myoware_info(), clinician="Dr Émile", hardware={"myoware_version": "2.0"}
    )
    flags = np.zeros(2500, np.uint16)
    flags[50:60] = int(Flag.CLIPPED)
    with db.transaction() as conn:
        db.write_block(conn, sid, 200, synthetic_counts(2500, 1), flags)
        db.write_block(conn, sid, 3000, synthetic_counts(1500, 2), np.zeros(1500, np.uint16))
    db.save_phases(sid, PHASES)
    db.add_marker(sid, 700, "cough", "patient coughed")
    db.log_threshold(sid, 1400, None, 4.5, "baseline")
    db.finish_session(sid)
    return sid


def test_edf_matches_stored_samples_within_one_step(db: Database, tmp_path: Path) -> None:
    sid = make_session(db)
    path = tmp_path / "s.edf"
    result = export_session(db, sid, "edf", path)
    assert result.samples == 4300 and path.stat().st_size == result.bytes
    record = db.get_session(sid)
    first, stored, _ = db.read_samples(sid)
    expected_uv = raw_uv(record.info, stored)
    step = edf_quantum_uv(record)
    reader = pyedflib.EdfReader(str(path))
    try:
        assert reader.filetype == pyedflib.FILETYPE_EDFPLUS
        labels = reader.getSignalLabels()
        # EDF+ standard texts: type first (MNE's infer_types), 16 characters
        assert labels == ["EMG trapez L RAW", "EMG trapez L ENV", "MISC ref REF"]
        assert all(reader.getPhysicalDimension(i) == "uV" for i in range(3))
        assert all(reader.getSampleFrequency(i) == 1000.0 for i in range(3))
        assert reader.getPatientCode() == "P-001"
        for ch in range(3):
            got = reader.readSignal(ch)
            assert len(got) == 5000  # 5 whole 1 s records; the last 0.7 s is padding
            ok = ~np.isnan(expected_uv[:, ch])
            err = np.abs(got[:4300][ok] - expected_uv[ok, ch])
            assert err.max() <= step[ch], (ch, err.max(), step[ch])
            # Lossless in fact: well inside half a step.
            assert err.max() < 0.01 * step[ch]
            assert np.all(got[:4300][~ok] == pytest.approx(0.0, abs=step[ch]))
        onsets, durations, texts = reader.readAnnotations()
    finally:
        reader.close()
    notes = list(zip(onsets.round(6), durations.round(6), texts, strict=True))
    for phase in PHASES:
        onset = (phase["start_index"] - first) / 1000.0
        duration = (phase["end_index"] - phase["start_index"]) / 1000.0
        assert (onset, duration, f"Phase: {phase['name']}") in notes
    assert (0.5, -1.0, "Marker: cough - patient coughed") in notes  # -1: no duration
    assert any(t.startswith("Threshold 4.5 uV (baseline)") for _, _, t in notes)
    assert (2.5, 0.3, GAP_TEXT) in notes
    assert (4.3, 0.7, PADDING_TEXT) in notes


def test_edf_of_float_session_and_reimport(db: Database, tmp_path: Path) -> None:
    """A session recorded from an imported mV file: generic scaling, within one step."""
    info = StreamInfo(
        fs_hz=512.0,
        channels=(ChannelInfo("vastus", ChannelKind.RAW, 1.0, 1000.0),),
        units="mV",
    )
    values = np.random.default_rng(0).normal(0, 0.05, (3000, 1))
    values[100:120] = np.nan
    sid = db.create_session(None, "import", info)
    with db.transaction() as conn:
        db.write_block(conn, sid, 0, values, np.zeros(3000, np.uint16))
    db.finish_session(sid)
    path = tmp_path / "f.edf"
    export_session(db, sid, "edf", path)
    record = db.get_session(sid)
    step = edf_quantum_uv(record, db)[0]
    stored_uv = db.read_samples(sid)[1][:, 0].astype(np.float32).astype(np.float64) * 1000.0
    with pyedflib.EdfReader(str(path)) as reader:
        got = reader.readSignal(0)[:3000]
    ok = ~np.isnan(stored_uv)
    assert np.abs(got[ok] - stored_uv[ok]).max() <= step
    # Our importer reads it back: gaps become NaN again and the end padding is trimmed.
    rec = load_recording(path)
    assert rec.info.fs_hz == 512.0 and rec.info.channels[0].scale_uv == 1.0
    assert len(rec.samples) == 3000
    assert np.isnan(rec.samples[100:120]).all() and (rec.flags[100:120] == int(Flag.MISSING)).all()
    assert np.abs(rec.samples[ok, 0] - stored_uv[ok]).max() <= step


def test_edf_reimport_keeps_channel_kinds(db: Database, tmp_path: Path) -> None:
    sid = make_session(db)
    path = tmp_path / "s.edf"
    export_session(db, sid, "edf", path)
    rec = load_recording(path)
    assert [c.kind for c in rec.info.channels] == [
        ChannelKind.RAW,
        ChannelKind.ENV,
        ChannelKind.REF,
    ]
    # A session in ADC counts comes back as the same counts (test_export_roundtrip.py has more).
    record = db.get_session(sid)
    stored = db.read_samples(sid)[1]
    assert rec.info.units == "counts" and rec.info.adc_bits == 12
    np.testing.assert_array_equal(rec.samples, stored)
    np.testing.assert_allclose(
        raw_uv(rec.info, rec.samples), raw_uv(record.info, stored), atol=1e-9, equal_nan=True
    )


def test_mne_reads_the_export(db: Database, tmp_path: Path) -> None:
    mne = pytest.importorskip("mne")
    sid = make_session(db)
    path = tmp_path / "s.edf"
    export_session(db, sid, "edf", path)
    raw = mne.io.read_raw_edf(path, preload=True, verbose="error")
    record = db.get_session(sid)
    stored = raw_uv(record.info, db.read_samples(sid)[1])
    got_uv = raw.get_data()[:, :4300].T * 1e6  # MNE returns volts
    ok = ~np.isnan(stored)
    assert np.abs(got_uv[ok] - stored[ok]).max() <= edf_quantum_uv(record).max()
    descriptions = list(raw.annotations.description)
    assert "Phase: baseline" in descriptions and "Phase: train 1" in descriptions


def test_non_integer_rate_uses_whole_sample_records() -> None:
    assert record_layout(1000.0) == (1.0, 1000, 1000.0)
    duration, spr, fs = record_layout(998.7)
    assert (duration, spr) == (10.0, 9987) and fs == pytest.approx(998.7)


@pytest.mark.parametrize(
    ("value", "direction", "text"),
    [
        (-8249.344, 0, "-8249.34"),
        (-8249.344, -1, "-8249.35"),
        (323.5, 1, "323.5"),
        (0.1234567891, 0, "0.123457"),
    ],
)
def test_header_numbers_fit_eight_characters(value: float, direction: int, text: str) -> None:
    assert format_number(value, direction=direction) == text


def test_export_errors_are_clear(db: Database, tmp_path: Path) -> None:
    sid = make_session(db)
    with pytest.raises(StorageError, match="choose edf or csv"):
        export_session(db, sid, "xls", tmp_path / "x.xls")
    with pytest.raises(StorageError, match="does not exist"):
        export_session(db, sid, "edf", tmp_path / "nope" / "x.edf")
    empty = db.create_session("P1", "demo", myoware_info())
    with pytest.raises(StorageError, match="no recorded samples"):
        export_session(db, empty, "edf", tmp_path / "x.edf")
    assert not list(tmp_path.glob(".*.part"))


def test_export_refuses_special_and_read_only_targets(tmp_path):
    from biofeedback.errors import StorageError
    from biofeedback.storage.safe_output import check_output_path as output_part_path

    with pytest.raises(StorageError, match="not a regular file"):
        output_part_path(Path("/dev/null"))
    ro = tmp_path / "ro.csv"
    ro.write_text("keep me")
    ro.chmod(0o444)
    with pytest.raises(StorageError, match="read-only"):
        output_part_path(ro)
