"""EDF+ export as the field reads it: MNE-Python (channel types, band, BAD_ spans), edfio as a
second independent reader, the spec's record size, and rates the header cannot hold exactly."""

from __future__ import annotations

import warnings
from pathlib import Path

import edfio
import numpy as np
import pyedflib
import pytest
from storage_helpers import myoware_info, synthetic_counts

from biofeedback.core.types import ChannelKind
from biofeedback.storage.database import Database
from biofeedback.storage.edf_conventions import (
    GAP_TEXT,
    PADDING_TEXT,
    is_gap,
    is_padding,
    parse_label,
    signal_label,
    stated_rate,
)
from biofeedback.storage.export import (
    MAX_RECORD_BYTES,
    edf_quantum_uv,
    export_session,
    format_number,
    raw_uv,
    record_layout,
)
from biofeedback.storage.importing import load_recording
from biofeedback.storage.reprocess import pipeline_for

mne = pytest.importorskip("mne")


def header(path: Path) -> dict[str, object]:
    """The EDF header facts that decide the record layout."""
    head = path.read_bytes()[:256]
    ns = int(head[252:256])
    full = path.read_bytes()[: 256 * (ns + 1)]
    spr_at = 256 + ns * (16 + 80 + 8 * 5 + 80)
    spr = [int(full[spr_at + 8 * i : spr_at + 8 * i + 8]) for i in range(ns)]
    return {
        "reserved": head[192:236].decode().strip(),
        "n_records": int(head[236:244]),
        "duration": head[244:252].decode().strip(),
        "spr": spr,
        "record_bytes": 2 * sum(spr),
        "header_bytes": 256 * (ns + 1),
    }


def gap_session(
    db: Database, fs_hz: float, seconds: float, gap: tuple[int, int], settings: dict | None = None
) -> tuple[int, int]:
    """A 12-bit RAW/ENV/REF session of ``seconds`` with samples [gap) missing; (id, samples)."""
    total = round(seconds * fs_hz)
    sid = db.create_session("P-7", "demo", myoware_info(fs_hz), pipeline_settings=settings)
    a, b = gap
    with db.transaction() as conn:
        db.write_block(conn, sid, 0, synthetic_counts(a, 1), np.zeros(a, np.uint16))
        db.write_block(
            conn, sid, b, synthetic_counts(total - b, 2, b), np.zeros(total - b, np.uint16)
        )
    db.add_marker(sid, b + 100, "relax")
    db.finish_session(sid)
    return sid, total


def read_mne(path: Path):
    with warnings.catch_warnings():
        # ENV is the sensor's envelope, not band-passed by the app: MNE says the channels'
        # filters differ and keeps the highest high-pass and the lowest low-pass.
        warnings.filterwarnings("ignore", "Channels contain different", RuntimeWarning)
        return mne.io.read_raw_edf(path, infer_types=True, preload=True, verbose="error")


def test_mne_reads_emg_with_the_pipeline_band_and_omits_exactly_the_gap(
    db: Database, tmp_path: Path
) -> None:
    settings = {"highpass_hz": 30.0, "lowpass_hz": 400.0, "mains_hz": 60.0}
    sid, total = gap_session(db, 1000.0, 12.3, (4000, 4750), settings)
    path = tmp_path / "s.edf"
    export_session(db, sid, "edf", path)
    record = db.get_session(sid)
    band = pipeline_for(record).describe()["band_hz"]
    assert band == [30.0, 400.0]

    raw = read_mne(path)
    assert raw.get_channel_types() == ["emg", "emg", "misc"]
    assert raw.ch_names == ["trapez L RAW", "trapez L ENV", "ref REF"]
    assert (raw.info["highpass"], raw.info["lowpass"]) == (30.0, 400.0)
    assert raw.info["sfreq"] == 1000.0 and raw.n_times == 13000  # 13 whole 1 s records

    bad = [
        (round(o * 1000), round(d * 1000), t)
        for o, d, t in zip(
            raw.annotations.onset,
            raw.annotations.duration,
            raw.annotations.description,
            strict=True,
        )
        if t.startswith("BAD_")
    ]
    assert bad == [(4000, 750, GAP_TEXT), (12300, 700, PADDING_TEXT)]
    kept = raw.get_data(reject_by_annotation="omit")
    assert kept.shape == (3, total - 750)  # the gap and the end padding, nothing else
    stored = raw_uv(record.info, db.read_samples(sid)[1])
    present = stored[~np.isnan(stored).any(axis=1)]
    np.testing.assert_allclose(kept.T * 1e6, present, atol=0.01 * edf_quantum_uv(record).max())

    with pyedflib.EdfReader(str(path)) as reader:
        prefilter = reader.getPrefilter(0)
        assert prefilter.startswith("HP:30Hz LP:400Hz N:60Hz") and "unfiltered" in prefilter
        assert reader.getPrefilter(2) == prefilter  # REF takes part in the RAW - REF output
        assert "HP:" not in reader.getPrefilter(1)  # ENV: the sensor's envelope


def test_988_hz_session_exports_without_padding_in_spec_sized_records(
    db: Database, tmp_path: Path
) -> None:
    fs = 988.142
    sid, total = gap_session(db, fs, 200.0, (90_000, 91_234))
    path = tmp_path / "odd.edf"
    result = export_session(db, sid, "edf", path)
    h = header(path)
    duration = float(h["duration"])  # type: ignore[arg-type]
    assert h["reserved"] == "EDF+C" and len(str(h["duration"])) <= 8
    assert h["record_bytes"] <= MAX_RECORD_BYTES
    spr = h["spr"][0]  # type: ignore[index]
    assert h["n_records"] == -(-total // spr)
    length_s = h["n_records"] * duration  # type: ignore[operator]
    assert 200.0 <= length_s < 200.05  # was 297 s: 99 s records of 587 kB
    assert result.bytes == h["header_bytes"] + h["n_records"] * h["record_bytes"]  # type: ignore[operator]
    # every sample of the recording keeps its time to within 1 % of a sample period
    assert abs(spr / duration - fs) * total / fs < 0.01

    raw = read_mne(path)
    assert raw.info["sfreq"] == pytest.approx(fs, rel=1e-8)
    assert raw.get_data(reject_by_annotation="omit").shape[1] == total - 1234
    assert raw.get_channel_types() == ["emg", "emg", "misc"]

    # Our importer gives back the stream's own rate and the same counts.
    rec = load_recording(path)
    assert rec.info.fs_hz == fs and rec.info.units == "counts"
    np.testing.assert_array_equal(rec.samples, db.read_samples(sid)[1])
    assert [m.label for m in rec.markers] == ["relax"]


def test_edfio_reads_the_export(db: Database, tmp_path: Path) -> None:
    """A second independent reader (edfio, strict about the header) agrees with the file."""
    sid, total = gap_session(db, 988.142, 30.0, (1000, 1500))
    path = tmp_path / "s.edf"
    export_session(db, sid, "edf", path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # edfio warns about anything it had to guess
        edf = edfio.read_edf(path)
    labels = [s.label for s in edf.signals]
    assert labels == ["EMG trapez L RAW", "EMG trapez L ENV", "MISC ref REF"]
    lo, hi = pipeline_for(db.get_session(sid)).describe()["band_hz"]
    assert hi < 450.0  # the low-pass edge the pipeline used at this rate (below fs/2)
    assert edf.signals[0].prefiltering.startswith(f"HP:{lo:g}Hz LP:{hi:g}Hz N:50Hz")
    assert edf.signals[0].transducer_type.endswith("gain 200, ADC 12 bit, Vref 3.3 V")
    assert edf.signals[0].sampling_frequency == pytest.approx(988.142, rel=1e-8)
    notes = {a.text: a for a in edf.annotations}
    assert notes[GAP_TEXT].onset * edf.signals[0].sampling_frequency == pytest.approx(1000)
    assert notes[GAP_TEXT].duration * edf.signals[0].sampling_frequency == pytest.approx(500)
    assert PADDING_TEXT in notes
    assert any(stated_rate(t) == 988.142 for t in notes)
    record = db.get_session(sid)
    stored = raw_uv(record.info, db.read_samples(sid)[1])
    got = edf.signals[0].data[:total]
    ok = ~np.isnan(stored[:, 0])
    assert np.abs(got[ok] - stored[ok, 0]).max() < 0.01 * edf_quantum_uv(record)[0]


def test_many_annotations_in_one_record_keep_records_within_the_spec(
    db: Database, tmp_path: Path
) -> None:
    sid, _ = gap_session(db, 1000.0, 20.0, (5000, 5100))
    for k in range(400):  # 400 markers in the first second: about 20 kB of annotations
        db.add_marker(sid, 2 * k, f"tap {k}", "a marker with a note of some length")
    path = tmp_path / "busy.edf"
    export_session(db, sid, "edf", path)
    h = header(path)
    assert h["record_bytes"] <= MAX_RECORD_BYTES
    with pyedflib.EdfReader(str(path)) as reader:
        texts = reader.readAnnotations()[2]
    assert sum(t.startswith("Marker: tap ") for t in texts) == 400


@pytest.mark.parametrize(
    "fs_hz", [250.0, 500.0, 988.142, 998.7, 1000.0, 1234.5678, 4000.0, 44100.0]
)
@pytest.mark.parametrize("n_signals", [1, 3, 8, 32])
def test_record_layout_fits_the_header_and_the_size_limit(fs_hz: float, n_signals: int) -> None:
    total = round(3600 * fs_hz)  # one hour
    duration, spr, edf_fs = record_layout(fs_hz, n_signals, 60, total)
    text = format_number(duration)
    assert len(text) <= 8 and float(text) == duration
    assert 2 * (n_signals * spr + 30) <= MAX_RECORD_BYTES
    assert edf_fs == spr / duration
    error = abs(edf_fs - fs_hz) / fs_hz
    assert error < 1e-6
    if n_signals <= 8 and round(fs_hz, 3) == fs_hz:
        # the time of the last sample is off by less than 1 % of a sample period (0 when exact)
        assert error * total < 0.01 and error <= 1e-8
    if fs_hz.is_integer() and 2 * (n_signals * fs_hz + 30) <= MAX_RECORD_BYTES:
        assert (duration, spr) == (1.0, int(fs_hz))  # the spec's recommended 1 s


def test_labels_and_annotations_of_older_exports_still_read() -> None:
    assert signal_label("trapezius L", ChannelKind.RAW) == "EMG trapez L RAW"
    assert signal_label("trapezius L env", ChannelKind.ENV) == "EMG trapez L ENV"
    assert signal_label("ref", ChannelKind.REF) == "MISC ref REF"
    assert signal_label("biceps", ChannelKind.RECT) == "EMG biceps RECT"
    assert parse_label("EMG trapez L RAW") == (ChannelKind.RAW, "trapez L")
    assert parse_label("MISC ref REF") == (ChannelKind.REF, "ref")
    assert parse_label("RAW trapezius L") == (ChannelKind.RAW, "trapezius L")  # older export
    assert parse_label("EEG Fpz-Cz") is None
    assert is_gap("no data (gap)") and is_gap(GAP_TEXT) and not is_gap("BAD_motion")
    assert is_padding("no data (end padding)") and is_padding(PADDING_TEXT)
    assert stated_rate("Marker: relax") is None
