"""Our own CSV and EDF+ exports of a session in ADC counts import as that session again.

The file's samples come back as the same whole ADC counts with the same StreamInfo (units,
ADC bits, Vref, board, per-channel gain and scale), so the pipeline models the same noise floor
and gives the same 10-bit warning as the live session. Old (version 1) CSVs and edited files
still import, in uV.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from storage_helpers import myoware_info, record_sim_session, synthetic_counts

from biofeedback.core.types import ChannelKind, StreamInfo
from biofeedback.dsp.pipeline import Pipeline
from biofeedback.engine import Engine
from biofeedback.storage.database import Database
from biofeedback.storage.export import export_session, raw_uv
from biofeedback.storage.importing import load_recording

BOARDS = ("uno", "12bit")
TEN_BIT_WARNING = "RAW cannot resolve rest on a 10-bit board: use ENV"


def sim_url(board: str) -> str:
    return f"sim://?scenario=relax&seed=5&board={board}&channels=raw,env,ref&speed=max"


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, int]]:
    """A 6 s relaxed recording per board, and its CSV and EDF+ exports next to the database."""
    out = {}
    for board in BOARDS:
        folder = tmp_path_factory.mktemp(board)
        db_path = folder / "db.sqlite"
        sid = record_sim_session(db_path, sim_url(board), 6.0)
        with Database(db_path) as db:
            for fmt in ("csv", "edf"):
                export_session(db, sid, fmt, folder / f"s.{fmt}")
        out[board] = (db_path, sid)
    return out


def channel_facts(info: StreamInfo) -> list[tuple[str, ChannelKind, float, float]]:
    return [(c.name, c.kind, c.gain, c.scale_uv) for c in info.channels]


def live_view(url: str) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Noise floor, warnings and envelope of a source run through the Engine to its end."""
    parts = []
    with Engine(url) as engine:
        floor = engine.pipeline.noise_floor_uv.copy()
        warnings = list(engine.pipeline.describe()["warnings"])
        engine.add_sink(lambda chunk, processed: parts.append(processed.envelope_uv))
        engine.start()
        assert engine.wait(120), "source did not finish"
    return floor, warnings, np.concatenate(parts)


@pytest.mark.parametrize("fmt", ["csv", "edf"])
@pytest.mark.parametrize("board", BOARDS)
def test_export_imports_as_the_recorded_counts(
    sessions: dict[str, tuple[Path, int]], board: str, fmt: str
) -> None:
    db_path, sid = sessions[board]
    path = db_path.parent / f"s.{fmt}"
    with Database(db_path) as db:
        original = db.get_session(sid).info
        stored = db.read_samples(sid)[1]
    rec = load_recording(path)
    info = rec.info
    assert rec.notes == []
    assert (info.units, info.adc_bits, info.vref_v, info.board, info.fs_hz) == (
        "counts",
        original.adc_bits,
        original.vref_v,
        board,
        original.fs_hz,
    )
    assert channel_facts(info) == channel_facts(original)
    # The same whole counts, sample for sample.
    assert rec.samples.shape == stored.shape == (6000, 3)
    np.testing.assert_array_equal(rec.samples, stored)
    assert np.array_equal(rec.samples, np.rint(rec.samples))
    # The pipeline sees the same hardware: the same modelled noise floor and warnings.
    live, offline = Pipeline(original), Pipeline(info)
    np.testing.assert_array_equal(offline.noise_floor_uv, live.noise_floor_uv)
    assert [o.noise_floor_source for o in offline.outputs] == ["model", "model"]
    assert offline.describe()["warnings"] == live.describe()["warnings"]
    has_warning = any(TEN_BIT_WARNING in w for w in offline.describe()["warnings"])
    assert has_warning == (board == "uno")


@pytest.mark.parametrize("fmt", ["csv", "edf"])
def test_replayed_export_streams_like_the_session(
    sessions: dict[str, tuple[Path, int]], fmt: str
) -> None:
    """replay:// of the file gives the session's noise floor, 10-bit warning and envelope."""
    db_path, sid = sessions["uno"]
    floor, warnings, envelope = live_view(f"replay://{sid}?db={db_path}&speed=max")
    floor_f, warnings_f, envelope_f = live_view(f"replay://{db_path.parent / f's.{fmt}'}?speed=max")
    assert floor[0] > 5.0  # 10-bit RAW: quantisation + amplifier noise, ~6.6 uV RMS
    np.testing.assert_array_equal(floor_f, floor)
    assert warnings_f == warnings and any(TEN_BIT_WARNING in w for w in warnings_f)
    np.testing.assert_allclose(envelope_f, envelope, rtol=1e-9, atol=1e-9)


def test_version_1_csv_still_imports_in_uv(
    sessions: dict[str, tuple[Path, int]], tmp_path: Path
) -> None:
    """A CSV written before version 2 (no "# inputs:" line) reads as before: uV, no ADC."""
    db_path, sid = sessions["uno"]
    lines = (db_path.parent / "s.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    assert lines[0] == "# biofeedback-csv: 2\n"
    v1 = ["# biofeedback-csv: 1\n"] + [ln for ln in lines[1:] if not ln.startswith("# inputs:")]
    path = tmp_path / "v1.csv"
    path.write_text("".join(v1), encoding="utf-8")
    rec = load_recording(path)
    assert rec.info.units == "uV" and rec.info.adc_bits is None and rec.info.board == ""
    assert [c.kind for c in rec.info.channels] == [
        ChannelKind.RAW,
        ChannelKind.ENV,
        ChannelKind.REF,
    ]
    assert all(c.scale_uv == 1.0 for c in rec.info.channels)
    with Database(db_path) as db:
        record = db.get_session(sid)
        stored = db.read_samples(sid)[1]
    np.testing.assert_allclose(rec.samples, raw_uv(record.info, stored), rtol=1e-9, atol=1e-9)
    assert Pipeline(rec.info).noise_floor_uv.tolist() == [0.0, 0.0]


def test_edited_csv_falls_back_to_uv_with_a_note(
    sessions: dict[str, tuple[Path, int]], tmp_path: Path
) -> None:
    db_path, _ = sessions["uno"]
    lines = (db_path.parent / "s.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    row = next(i for i, ln in enumerate(lines) if ln[0].isdigit()) + 100
    cells = lines[row].split(",")
    cells[1] = f"{float(cells[1]) + 3.0:.10g}"  # 3 uV is not a whole number of 24.4 uV steps
    lines[row] = ",".join(cells)
    path = tmp_path / "edited.csv"
    path.write_text("".join(lines), encoding="utf-8")
    rec = load_recording(path)
    assert rec.info.units == "uV" and rec.info.adc_bits is None
    assert len(rec.notes) == 1 and "not whole 10-bit ADC counts" in rec.notes[0]
    assert "\n" not in rec.notes[0] and "uV" in rec.notes[0]
    assert rec.samples[100, 0] == pytest.approx(float(cells[1]))
    # replaying it says so: the note is in the stream's summary
    out = subprocess.run(
        [
            *(sys.executable, "-m", "biofeedback", "stream"),
            *("--source", f"replay://{path}?speed=max", "--duration", "2", "--json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    warnings = json.loads(out.stdout.strip().splitlines()[-1])["warnings"]
    assert any("not whole 10-bit ADC counts" in w for w in warnings), warnings


def test_edited_edf_header_falls_back_to_uv_with_a_note(
    sessions: dict[str, tuple[Path, int]], tmp_path: Path
) -> None:
    db_path, _ = sessions["uno"]
    data = (db_path.parent / "s.edf").read_bytes()
    assert data.count(b"Vref 5 V") == 3
    path = tmp_path / "edited.edf"
    path.write_bytes(data.replace(b"Vref 5 V", b"Vref 3 V"))  # disagrees with the ranges
    rec = load_recording(path)
    assert rec.info.units == "uV" and rec.info.adc_bits is None
    assert len(rec.notes) == 1 and "no longer matches the ADC" in rec.notes[0]


def test_options_given_by_the_user_win(sessions: dict[str, tuple[Path, int]]) -> None:
    db_path, _ = sessions["12bit"]
    for fmt in ("csv", "edf"):
        rec = load_recording(db_path.parent / f"s.{fmt}", units="uV")
        assert rec.info.units == "uV" and rec.info.adc_bits is None and rec.notes == []


def test_gaps_long_clinician_and_import_as_a_session(tmp_path: Path) -> None:
    """Missing samples stay missing; a long clinician name does not push the board out of the
    EDF recording field; recording a replay of the file stores the counts (a new session in
    counts)."""
    info = myoware_info()
    with Database(tmp_path / "db.sqlite") as db:
        sid = db.create_session("P1", "x", info, clinician="Dr " + "Longname" * 12)
        with db.transaction() as conn:
            db.write_block(conn, sid, 0, synthetic_counts(1500, 1), np.zeros(1500, np.uint16))
            db.write_block(conn, sid, 1800, synthetic_counts(700, 2), np.zeros(700, np.uint16))
        db.finish_session(sid)
        stored = db.read_samples(sid)[1]
        assert np.isnan(stored[1500:1800]).all()
        for fmt in ("csv", "edf"):
            path = tmp_path / f"g.{fmt}"
            export_session(db, sid, fmt, path)
            rec = load_recording(path)
            assert rec.info.units == "counts" and rec.info.board == "12bit", fmt
            # EDF labels hold 16 characters: "EMG trapezius L RAW" is cut to "EMG trapez L RAW"
            names = [c.name for c in info.channels]
            if fmt == "edf":
                names = ["trapez L", "trapez L", "ref"]
            assert [c.name for c in rec.info.channels] == names
            assert [f[1:] for f in channel_facts(rec.info)] == [f[1:] for f in channel_facts(info)]
            np.testing.assert_array_equal(rec.samples, stored)
            assert (rec.flags[1500:1800] != 0).all() and not rec.flags[:1500].any()
            new = record_sim_session(db.path, f"replay://{path}?speed=max", 2.5, subject=None)
            again = db.get_session(new)
            assert again.info.units == "counts" and again.info.adc_bits == 12
            np.testing.assert_array_equal(db.read_samples(new)[1], stored)
