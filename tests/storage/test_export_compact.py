"""Compact CSV (the envelope and flags at 100 Hz for spreadsheets) and the offline pipeline's
blocks: joining the store's blocks changes nothing in what it computes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from storage_helpers import record_sim_session

from biofeedback.core.types import Chunk
from biofeedback.errors import StorageError
from biofeedback.storage.database import Database
from biofeedback.storage.export import export_session
from biofeedback.storage.reprocess import iter_processed, pipeline_for

SIM = "sim://?scenario=tense-release&seed=5&board=12bit&channels=raw,env,ref&speed=max&chunk_ms=100"


@pytest.fixture(scope="module")
def sim_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("compact") / "db.sqlite"
    return path, record_sim_session(path, SIM, 6.0)


def read(path: Path) -> tuple[dict[str, str], list[str], np.ndarray]:
    header: dict[str, str] = {}
    lines = path.read_text().splitlines()
    body = [line for line in lines if not line.startswith("#")]
    for line in lines:
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            header[key.strip()] = value.strip()
    return header, body[0].split(","), np.loadtxt(body[1:], delimiter=",", ndmin=2)


def test_compact_csv_is_the_binned_full_rate_envelope(
    sim_db: tuple[Path, int], tmp_path: Path
) -> None:
    db_path, sid = sim_db
    with Database(db_path) as db:
        full = export_session(db, sid, "csv", tmp_path / "full.csv")
        compact = export_session(db, sid, "csv", tmp_path / "c.csv", csv_rate_hz=100.0)
    assert compact.samples == full.samples == 6000 and compact.bytes < full.bytes / 5
    header, columns, rows = read(tmp_path / "c.csv")
    _, full_columns, full_rows = read(tmp_path / "full.csv")
    assert header["biofeedback-envelope-csv"] == "1" and header["rate_hz"] == "100"
    assert header["recorded_fs_hz"] == "1000" and "RMS window 100 ms" in header["filters"]
    assert columns == [
        "time_s", "raw_envelope_uv", "raw_flags", "env_envelope_uv", "env_flags",
    ]  # fmt: skip
    assert rows.shape == (600, 5)
    assert np.allclose(rows[:, 0], np.arange(600) / 100.0)
    for name in ("raw", "env"):
        env = full_rows[:, full_columns.index(f"{name}_envelope_uv")].reshape(600, 10)
        flags = full_rows[:, full_columns.index(f"{name}_flags")].astype(int).reshape(600, 10)
        binned = rows[:, columns.index(f"{name}_envelope_uv")]
        assert np.allclose(binned, np.nanmean(env, axis=1), rtol=1e-5, atol=1e-4)
        assert np.array_equal(
            rows[:, columns.index(f"{name}_flags")].astype(int), np.bitwise_or.reduce(flags, 1)
        )


def test_compact_csv_bins_that_do_not_divide_the_rate(
    sim_db: tuple[Path, int], tmp_path: Path
) -> None:
    db_path, sid = sim_db
    with Database(db_path) as db:
        export_session(db, sid, "csv", tmp_path / "c.csv", csv_rate_hz=7.0)
    _, _, rows = read(tmp_path / "c.csv")
    # sample i is in bin floor(i * 7 / 1000): 6000 samples -> bins 0 .. 41
    assert rows.shape[0] == 42 and np.allclose(rows[:, 0], np.arange(42) / 7.0)
    assert np.isfinite(rows[:, 1]).all()


@pytest.mark.parametrize("rate", [0.0, -5.0, 1000.0, 5000.0, float("nan")])
def test_compact_rate_out_of_range(sim_db: tuple[Path, int], tmp_path: Path, rate: float) -> None:
    db_path, sid = sim_db
    with Database(db_path) as db, pytest.raises(StorageError, match="below the session's 1000"):
        export_session(db, sid, "csv", tmp_path / "c.csv", csv_rate_hz=rate)
    assert not (tmp_path / "c.csv").exists()


def test_compact_rate_is_for_csv_only(sim_db: tuple[Path, int], tmp_path: Path) -> None:
    db_path, sid = sim_db
    with Database(db_path) as db, pytest.raises(StorageError, match="CSV exports only"):
        export_session(db, sid, "edf", tmp_path / "c.edf", csv_rate_hz=100.0)


def test_offline_pipeline_in_joined_blocks_equals_the_stored_blocks(
    sim_db: tuple[Path, int],
) -> None:
    db_path, sid = sim_db
    with Database(db_path) as db:
        record = db.get_session(sid)
        joined = list(iter_processed(db, record))
        pipeline = pipeline_for(record)
        stored = [pipeline.process(c) for c in db.iter_chunks(sid, block_samples=1 << 14)]
    assert len(joined) < len(stored)  # the store's blocks were joined
    for field in ("signal_uv", "envelope_uv", "flags"):
        a = np.concatenate([getattr(p, field) for _, p, _ in joined])
        b = np.concatenate([getattr(p, field) for p in stored])
        assert np.array_equal(a, b, equal_nan=True), field
    assert isinstance(joined[0][0], Chunk)
