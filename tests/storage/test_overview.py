"""The envelope overview kept while recording: the report's plot from it equals the plot from
reprocessing the stored samples, and every doubtful overview falls back to reprocessing."""

from __future__ import annotations

import json
import logging
import sqlite3
import zlib
from pathlib import Path

import numpy as np
import pytest
from storage_helpers import myoware_info, synthetic_counts

import biofeedback.reports.data as report_data
from biofeedback.core.types import Chunk
from biofeedback.dsp.pipeline import Pipeline
from biofeedback.engine import Engine
from biofeedback.reports.data import EnvelopeOverview, envelope_overview
from biofeedback.session import RecordingSession
from biofeedback.storage import database
from biofeedback.storage.database import Database
from biofeedback.storage.overview import read_overview, report_bin_samples
from biofeedback.storage.recorder import Recorder
from biofeedback.storage.reprocess import NOISE_FLOOR_MARKER
from biofeedback.training.protocol import parse_protocol

PROTOCOL = """
format = 1
name = "overview-test"
description = "noise floor, baseline, one trial"
[[phases]]
kind = "noise-floor"
duration = "5 s"
instruction = "Short the sensor inputs."
[[phases]]
kind = "baseline"
duration = "10 s"
instruction = "Sit quietly."
[[phases]]
kind = "train"
duration = "25 s"
instruction = "Relax."
"""


def _reprocessed(db: Database, session_id: int, points: int) -> EnvelopeOverview:
    """The plot as a session without an overview gets it (the row removed)."""
    with db.transaction() as conn:
        conn.execute("DELETE FROM overviews WHERE session_id = ?", (session_id,))
    return envelope_overview(db, db.get_session(session_id), points)


def _from_overview(
    db: Database, session_id: int, points: int, monkeypatch: pytest.MonkeyPatch
) -> EnvelopeOverview:
    """The plot, failing if it reprocessed the samples."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the stored overview was not used")

    with monkeypatch.context() as patch:
        patch.setattr(report_data, "iter_processed", refuse)
        return envelope_overview(db, db.get_session(session_id), points)


def _assert_same(a: EnvelopeOverview, b: EnvelopeOverview) -> None:
    np.testing.assert_array_equal(a.t_s, b.t_s)
    np.testing.assert_allclose(a.envelope_uv, b.envelope_uv, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(a.excluded, b.excluded, rtol=0, atol=1e-15)
    assert a.names == b.names
    np.testing.assert_allclose(a.noise_floor_uv, b.noise_floor_uv, rtol=1e-12)


def test_recorded_session_plot_from_the_overview_equals_reprocessing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Live path (sim at speed=max, Engine + RecordingSession): a noise-floor phase changes the
    floor mid-session; the dropout scenario loses packets (NaN, MISSING) and takes the
    electrode off (flagged samples)."""
    engine = Engine("sim://?scenario=dropout&level_uv=0.5&board=12bit&seed=4&speed=max")
    db = Database(tmp_path / "db.sqlite")
    with engine:
        session = RecordingSession(engine, db, parse_protocol(PROTOCOL, "o.toml"), "T1")
        sid = session.start()
        assert session.wait(60)
        assert session.finish().status == "complete"
    assert [m for m in db.markers(sid) if m["label"] == NOISE_FLOOR_MARKER]
    points = 45  # 40 s in 45 bins: 900 samples, 9 fine bins each
    stored = _from_overview(db, sid, points, monkeypatch)
    assert stored.excluded.max() == 1 and stored.excluded.min() == 0  # electrode off 10-12 s
    assert np.isfinite(stored.envelope_uv).any()
    _assert_same(stored, _reprocessed(db, sid, points))
    db.close()


def _record_with_gaps(db: Database) -> tuple[int, list[float]]:
    """A session recorded through a Recorder fed by a live pipeline: index gaps (samples that
    never arrived), NaN rows, and a measured noise floor applied at sample 20 300."""
    info = myoware_info()
    pipeline = Pipeline(info)
    sid = db.create_session("P1", "demo", info, pipeline.describe())
    rec = Recorder(db.path, sid, info, block_s=0.5)
    samples = synthetic_counts(60_000, seed=5)
    samples[31_000:31_400] = np.nan  # a lost stretch the device marks
    floors = [4.0, 1.5]
    for start in range(0, len(samples), 700):
        if 9_800 <= start < 12_000 or 40_600 <= start < 41_300:
            continue  # never arrived: stored as gaps
        if start == 20_300:
            rec.add_marker(20_300, NOISE_FLOOR_MARKER, json.dumps(floors))
            pipeline.set_noise_floor(floors)
        chunk = Chunk(start, samples[start : start + 700])
        rec.sink(chunk, pipeline.process(chunk))
    rec.close()
    return sid, floors


@pytest.mark.parametrize("points", [60, 100, 37])
def test_overview_with_gaps_and_a_floor_change_equals_reprocessing(
    db: Database, monkeypatch: pytest.MonkeyPatch, points: int
) -> None:
    sid, floors = _record_with_gaps(db)
    first, end, total = db.stored_extent(sid)
    assert total < end - first  # the gaps are not stored
    stored = _from_overview(db, sid, points, monkeypatch)
    assert stored.noise_floor_uv == pytest.approx(floors)
    gap_bin = int(np.searchsorted(stored.t_s, 10.5))  # inside the first gap: nothing valid
    assert np.isnan(stored.envelope_uv[gap_bin]).all() and stored.excluded[gap_bin] == 1
    assert stored.excluded.max() > 0  # the NaN rows
    _assert_same(stored, _reprocessed(db, sid, points))


def test_short_sessions_are_reprocessed_with_the_exact_bin_size(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Below ``points`` fine bins the plot keeps ceil(total / points) samples per bin; longer
    sessions get whole fine bins."""
    assert report_bin_samples(60_000, 1500, 100) == 40
    assert report_bin_samples(150_000, 1500, 100) == 100
    assert report_bin_samples(150_001, 1500, 100) == 200
    assert report_bin_samples(2_440_000, 1500, 100) == 1700
    sid, _ = _record_with_gaps(db)
    calls = _processing_refused(monkeypatch)
    plot = envelope_overview(db, db.get_session(sid), 1500)
    assert calls and len(plot.t_s) == 1500


def test_no_overview_when_a_chunk_came_without_its_envelope(db: Database) -> None:
    info = myoware_info()
    pipeline = Pipeline(info)
    sid = db.create_session("P1", "demo", info, pipeline.describe())
    rec = Recorder(db.path, sid, info)
    a, b = Chunk(0, synthetic_counts(5000, 1)), Chunk(5000, synthetic_counts(5000, 2))
    rec.sink(a, pipeline.process(a))
    rec.sink(b, None)
    rec.close()
    assert read_overview(db, sid) is None


def test_an_unfinished_recording_has_no_overview(db: Database, wait_for) -> None:
    """Written only with the last commit: a crash leaves none, never a partial one."""
    info = myoware_info()
    pipeline = Pipeline(info)
    sid = db.create_session("P1", "demo", info, pipeline.describe())
    rec = Recorder(db.path, sid, info, commit_interval_s=0.05)
    chunk = Chunk(0, synthetic_counts(3000, 1))
    rec.sink(chunk, pipeline.process(chunk))
    wait_for(lambda: rec.stats.samples_written == 3000, 10, "samples never committed")
    with Database(db.path) as other:
        assert read_overview(other, sid) is None
    rec.close()
    assert read_overview(db, sid) is not None


def _processing_refused(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts calls of the reprocessing path (which still runs)."""
    calls: list[int] = []
    real = report_data.iter_processed

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(report_data, "iter_processed", counting)
    return calls


def test_an_overview_not_covering_the_store_is_not_used(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid, _ = _record_with_gaps(db)
    with db.transaction() as conn:  # the store changed after recording (last block removed)
        conn.execute(
            "DELETE FROM chunks WHERE id = (SELECT MAX(id) FROM chunks WHERE session_id = ?)",
            (sid,),
        )
    assert read_overview(db, sid) is not None
    calls = _processing_refused(monkeypatch)
    plot = envelope_overview(db, db.get_session(sid), 60)
    assert calls and len(plot.t_s) > 0


def test_an_overview_made_with_other_settings_is_not_used(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid, _ = _record_with_gaps(db)
    settings = db.get_session(sid).pipeline_settings
    settings["settings"]["rms_window_s"] = 0.2
    with db.transaction() as conn:
        conn.execute(
            "UPDATE sessions SET pipeline_json = ? WHERE id = ?", (json.dumps(settings), sid)
        )
    calls = _processing_refused(monkeypatch)
    envelope_overview(db, db.get_session(sid), 60)
    assert calls


@pytest.mark.parametrize(
    "blob",
    [zlib.compress(b"\0" * 24), b"not zlib at all", b""],
    ids=["wrong length", "not zlib", "empty"],
)
def test_a_damaged_overview_falls_back_with_a_warning(
    db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, blob: bytes
) -> None:
    sid, _ = _record_with_gaps(db)
    with db.transaction() as conn:
        conn.execute("UPDATE overviews SET data = ? WHERE session_id = ?", (blob, sid))
    calls = _processing_refused(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="biofeedback.storage.overview"):
        plot = envelope_overview(db, db.get_session(sid), 60)
    assert calls and np.isfinite(plot.envelope_uv).any()
    assert any("damaged" in r.getMessage() for r in caplog.records)


def test_a_schema_4_database_gets_the_table_and_its_sessions_are_reprocessed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.sqlite"
    with Database(path) as db:
        sid, _ = _record_with_gaps(db)
    conn = sqlite3.connect(path)  # as schema 4 left it: no overviews
    conn.execute("DROP TABLE overviews")
    conn.execute("PRAGMA user_version = 4")
    conn.commit()
    conn.close()
    with Database(path) as db:
        assert db.schema_version == database.SCHEMA_VERSION == 5
        assert read_overview(db, sid) is None
        calls = _processing_refused(monkeypatch)
        plot = envelope_overview(db, db.get_session(sid), 60)
        assert calls and np.isfinite(plot.envelope_uv).any()
        monkeypatch.undo()
        sid2, _ = _record_with_gaps(db)  # a session recorded now has one
        assert read_overview(db, sid2) is not None
        _assert_same(_from_overview(db, sid2, 60, monkeypatch), plot)
