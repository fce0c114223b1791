"""Recorder memory stays bounded: pending samples are committed early, the page cache is small."""

from __future__ import annotations

import numpy as np
from storage_helpers import chunks_of, myoware_info, synthetic_counts

from biofeedback.storage.database import Database
from biofeedback.storage.recorder import Recorder


def test_a_fast_source_is_committed_every_flush_s_of_signal(db: Database, wait_for) -> None:
    """speed=max delivers minutes of signal per second: what is pending in memory is bounded by
    ``flush_s`` of signal, not by the commit interval."""
    info = myoware_info(realtime=False)
    sid = db.create_session("P1", "demo", info)
    rec = Recorder(db.path, sid, info, commit_interval_s=600.0, block_s=0.5, flush_s=1.0)
    samples = synthetic_counts(5000, seed=6)
    for chunk in chunks_of(samples, 100):
        rec.sink(chunk, None)
    wait_for(lambda: rec.stats.samples_written >= 4000, 10, "commits every second of signal")
    assert rec.stats.commits >= 4
    rec.close("complete")
    np.testing.assert_array_equal(db.read_samples(sid)[1], samples)


def test_the_recorder_connection_has_a_small_page_cache(db: Database) -> None:
    info = myoware_info(realtime=True)
    sid = db.create_session("P1", "demo", info)
    rec = Recorder(db.path, sid, info)
    try:
        assert rec._db._conn is not None
        kib = -int(rec._db._conn.execute("PRAGMA cache_size").fetchone()[0])
        assert 0 < kib == Recorder.CACHE_KIB <= 256  # SQLite's default is 2000 KiB
    finally:
        rec.close("complete")
