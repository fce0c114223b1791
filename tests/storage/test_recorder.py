"""Recorder: back-pressure, overruns as gaps, commit cadence, control events, storage errors."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from storage_helpers import chunks_of, myoware_info, synthetic_counts

from biofeedback.core.types import Chunk, Flag
from biofeedback.errors import StorageError
from biofeedback.storage.database import Database
from biofeedback.storage.recorder import Recorder


def _wait_for(predicate, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_max_speed_source_loses_nothing_with_a_tiny_queue(db: Database) -> None:
    info = myoware_info(realtime=False)
    sid = db.create_session("P1", "demo", info)
    rec = Recorder(db.path, sid, info, queue_size=2, block_s=0.25)
    samples = synthetic_counts(20_000, seed=3)
    for chunk in chunks_of(samples, 37, first_index=100):
        rec.sink(chunk, None)
    rec.close("complete", {"note": "ok"})
    assert rec.stats.overruns == 0 and rec.stats.dropped_samples == 0
    assert rec.stats.samples_written == 20_000
    session = db.get_session(sid)
    assert session.status == "complete" and session.n_samples == 20_000
    assert session.summary["note"] == "ok" and session.summary["recorder"]["dropped_samples"] == 0
    first, stored, flags = db.read_samples(sid)
    assert first == 100
    np.testing.assert_array_equal(stored, samples)
    assert not flags.any()


def test_realtime_sink_never_blocks_and_overruns_become_gaps(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = myoware_info(realtime=True)
    sid = db.create_session("P1", "demo", info)
    gate = threading.Event()
    original = Database.write_block

    def slow_write(self, *args, **kwargs):  # the disk stalls until the gate opens
        gate.wait(10)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Database, "write_block", slow_write)
    rec = Recorder(db.path, sid, info, queue_size=3, block_s=0.1)
    samples = synthetic_counts(5000, seed=4)
    chunks = chunks_of(samples, 50)
    # The writer is stuck on the gate; every sink call must still return.
    for chunk in chunks:
        rec.sink(chunk, None)
    assert rec.stats.overruns > 0
    dropped = rec.stats.dropped_samples
    assert dropped > 0
    gate.set()
    rec.close()
    first, stored, flags = db.read_samples(sid)
    kept = ~np.isnan(stored).any(axis=1)
    assert first == 0 and kept.sum() == 5000 - dropped  # everything not dropped is stored
    np.testing.assert_array_equal(stored[kept], samples[: len(stored)][kept])
    assert (flags[~kept] & int(Flag.MISSING)).all()
    assert db.get_session(sid).summary["recorder"]["overruns"] == rec.stats.overruns


def test_commits_within_the_interval_while_recording(db: Database) -> None:
    info = myoware_info(realtime=True)
    sid = db.create_session("P1", "demo", info)
    rec = Recorder(db.path, sid, info, commit_interval_s=0.2)
    rec.sink(Chunk(0, synthetic_counts(300)), None)
    reader = Database(db.path)
    try:
        # Another connection sees the samples without the recorder being closed.
        # (the bound only has to tell 'commits while recording' from 'only at close')
        assert _wait_for(lambda: reader.read_samples(sid)[1].shape[0] == 300, 10.0)
        assert reader.get_session(sid).n_samples == 300
        assert reader.get_session(sid).status == "recording"
    finally:
        reader.close()
        rec.close()


def test_control_events_are_written_with_the_samples(db: Database) -> None:
    info = myoware_info(realtime=False)
    sid = db.create_session("P1", "demo", info)
    rec = Recorder(db.path, sid, info)
    rec.sink(Chunk(1000, synthetic_counts(2000)), None)
    rec.add_marker(1500, "cough", "note")
    rec.log_threshold(1600, None, 5.0, "baseline")
    rec.log_threshold(2600, 5.0, 4.75, "shaping")
    rec.save_phases([{"name": "baseline", "kind": "baseline", "start_s": 0.0, "duration_s": 1.0}])
    rec.close()
    assert [(m["sample_index"], m["label"]) for m in db.markers(sid)] == [(1500, "cough")]
    assert [r["new_uv"] for r in db.threshold_log(sid)] == [5.0, 4.75]
    phase = db.phases(sid)[0]
    assert (phase["start_index"], phase["end_index"]) == (1000, 2000)


def test_source_gap_and_index_reset_are_kept(db: Database) -> None:
    info = myoware_info(realtime=False)
    sid = db.create_session("P1", "demo", info)
    rec = Recorder(db.path, sid, info, block_s=0.1)
    a, b, c = synthetic_counts(250, 1), synthetic_counts(250, 2), synthetic_counts(100, 3)
    rec.sink(Chunk(0, a), None)
    rec.sink(Chunk(400, b), None)  # 150 samples never arrived
    rec.sink(Chunk(10, c), None)  # counter went backwards: appended after what is stored
    rec.close()
    assert rec.stats.index_resets == 1
    first, stored, flags = db.read_samples(sid)
    assert first == 0 and len(stored) == 750
    np.testing.assert_array_equal(stored[:250], a)
    assert np.isnan(stored[250:400]).all() and (flags[250:400] == int(Flag.MISSING)).all()
    np.testing.assert_array_equal(stored[400:650], b)
    np.testing.assert_array_equal(stored[650:], c)


def test_disk_full_keeps_what_was_committed(db: Database) -> None:
    info = myoware_info(realtime=False)
    sid = db.create_session("P1", "demo", info)
    rec = Recorder(db.path, sid, info, commit_interval_s=0.05, block_s=0.5)
    rec.sink(Chunk(0, synthetic_counts(3000, seed=1)), None)
    assert _wait_for(lambda: rec.stats.samples_written == 3000)
    pages = rec._db._conn.execute("PRAGMA page_count").fetchone()[0]
    # Simulate a full disk: this connection may not grow the file any more.
    rec._db._conn.execute(f"PRAGMA max_page_count = {pages}")
    noise = np.random.default_rng(0).integers(0, 4096, size=(200_000, 3)).astype(float)
    with pytest.raises(StorageError, match="full"):
        for chunk in chunks_of(noise, 1000, first_index=3000):
            rec.sink(chunk, None)
            time.sleep(0.001)
        _wait_for(lambda: rec.failed)
        rec.sink(Chunk(500_000, noise[:10]), None)
    assert rec.failed and "free some space" in rec.error and "kept" in rec.error
    with pytest.raises(StorageError):
        rec.close()
    check = Database(db.path)
    try:
        assert check.integrity_check() == "ok"
        _, stored, _ = check.read_samples(sid, stop=3000)
        np.testing.assert_array_equal(stored, synthetic_counts(3000, seed=1))
        status = check.get_session(sid).status
        if status == "recording":  # closing could not be written either: next start closes it
            assert sid in check.recover_interrupted()
        assert check.get_session(sid).status == "interrupted"
    finally:
        check.close()


def test_bad_database_path_fails_before_streaming(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StorageError, match="cannot create"):
        Recorder(blocker / "db.sqlite", 1, myoware_info())


def test_unknown_session_is_refused(db: Database) -> None:
    with pytest.raises(StorageError, match="no session 12"):
        Recorder(db.path, 12, myoware_info())
