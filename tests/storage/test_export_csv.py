"""CSV export: header, raw uV, envelope from the session's pipeline; round trip through replay."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from storage_helpers import engine_envelope, record_sim_session

from biofeedback.core.types import Chunk
from biofeedback.dsp.pipeline import PipelineSettings
from biofeedback.storage.database import Database
from biofeedback.storage.export import export_session, raw_uv
from biofeedback.storage.reprocess import pipeline_for

SIM = (
    "sim://?scenario=tense-release&seed=3&board=12bit&channels=raw,env,ref&speed=max"
    "&lead_s=2&tense_s=3&release_s=5"
)


@pytest.fixture(scope="module")
def sim_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("csv") / "db.sqlite"
    sid = record_sim_session(path, SIM, 12.0, muscle="upper trapezius")
    return path, sid


def read_csv(path: Path) -> tuple[dict[str, str], list[str], np.ndarray]:
    header: dict[str, str] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.startswith("#"):
                columns = line.strip().split(",")
                break
            key, _, value = line[1:].partition(":")
            header[key.strip()] = value.strip()
    data = np.loadtxt(path, delimiter=",", comments="#", skiprows=len(header) + 1)
    return header, columns, data


def test_csv_has_header_time_raw_and_envelope(sim_db: tuple[Path, int], tmp_path: Path) -> None:
    db_path, sid = sim_db
    out = tmp_path / "s.csv"
    with Database(db_path) as db:
        fractions: list[float] = []
        result = export_session(db, sid, "csv", out, progress=fractions.append)
        record = db.get_session(sid)
        first, stored, flags = db.read_samples(sid)
        offline = pipeline_for(record).process(Chunk(first, stored, flags))
    assert fractions and fractions[-1] == 1.0 and fractions == sorted(fractions)
    header, columns, data = read_csv(out)
    assert header["fs_hz"] == "1000" and header["session"] == str(sid)
    assert "band-pass 20-450 Hz" in header["filters"] and "RMS window 100 ms" in header["filters"]
    assert header["channels"] == "raw (raw), env (env), ref (ref)"
    assert columns == [
        "time_s", "raw_raw_uv", "env_raw_uv", "ref_raw_uv",
        "raw_filtered_uv", "raw_envelope_uv", "raw_flags",
        "env_filtered_uv", "env_envelope_uv", "env_flags",
    ]  # fmt: skip
    assert len(data) == len(stored) == result.samples == 12_000
    np.testing.assert_allclose(data[:, 0], np.arange(12_000) / 1000.0, atol=1e-9)
    np.testing.assert_allclose(data[:, 1:4], raw_uv(record.info, stored), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(data[:, 5], offline.envelope_uv[:, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(data[:, 8], offline.envelope_uv[:, 1], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(data[:, 6], offline.flags[:, 0])
    # The envelope is a real signal: contractions in tense-release are far above rest.
    assert np.percentile(data[:, 5], 95) > 5 * np.percentile(data[:, 5], 5)


def test_csv_export_replays_to_the_same_envelope(sim_db: tuple[Path, int], tmp_path: Path) -> None:
    db_path, sid = sim_db
    out = tmp_path / "s.csv"
    with Database(db_path) as db:
        export_session(db, sid, "csv", out)
    # A file in uV carries no hardware noise model, so compare without noise-floor correction.
    settings = PipelineSettings(noise_floor_uv=0.0)
    # The session itself, replayed from the database ...
    first, env_session, _ = engine_envelope(f"replay://{sid}?db={db_path}&speed=max", settings)
    # ... and its CSV export, replayed as a file: the header tells fs, units and channel kinds.
    _, env_csv, _ = engine_envelope(f"replay://{out}?speed=max", settings)
    assert first == 0 and env_csv.shape == env_session.shape
    np.testing.assert_allclose(env_csv, env_session, rtol=1e-6, atol=1e-6)


def test_old_settings_and_measured_noise_floor_are_replayed(tmp_path: Path) -> None:
    """Unknown stored settings are ignored with a note; a measured floor applies where it did."""
    from storage_helpers import myoware_info, synthetic_counts

    from biofeedback.storage.reprocess import iter_processed, noise_floor_schedule

    info = myoware_info()
    with Database(tmp_path / "db.sqlite") as db:
        sid = db.create_session("P1", "x", info, {"rms_window_s": 0.1, "from_the_future": 1})
        samples = synthetic_counts(6000, 9)
        with db.transaction() as conn:
            db.write_block(conn, sid, 0, samples, np.zeros(6000, np.uint16))
        db.save_phases(
            sid,
            [
                {"name": "noise floor", "kind": "noise-floor", "start_index": 0, "end_index": 2500,
                 "calibration": {"noise_floor_uv": [0.9, 0.2], "adopted": [True, False]}},
            ],
        )  # fmt: skip
        db.finish_session(sid)
        record = db.get_session(sid)
        notes: list[str] = []
        assert pipeline_for(record, notes).settings.rms_window_s == 0.1
        assert "from_the_future" in notes[0]
        assert noise_floor_schedule(db, record, 2) == [(2500, [0.9, None])]
        parts = list(iter_processed(db, record, block_samples=4000))
        assert [p[0].first_index for p in parts] == [0, 2500, 4000]
        got = np.concatenate([p[1].envelope_uv for p in parts])
        # By hand: the same pipeline, floor replaced at sample 2500.
        manual = pipeline_for(record)
        first = manual.process(Chunk(0, samples[:2500]))
        model_env_floor = manual.noise_floor_uv[1]
        manual.set_noise_floor([0.9, None])
        second = manual.process(Chunk(2500, samples[2500:]))
        np.testing.assert_array_equal(got, np.concatenate([first.envelope_uv, second.envelope_uv]))
        assert manual.noise_floor_uv[0] == 0.9 and manual.noise_floor_uv[1] == model_env_floor
        # An exact marker wins over the phase end.
        db.add_marker(sid, 2600, "noise floor applied", "[1.1, null]")
        assert noise_floor_schedule(db, record, 2) == [(2600, [1.1, None])]
