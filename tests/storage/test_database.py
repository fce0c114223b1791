"""Database: schema, permissions, codecs, sessions, markers, phases, thresholds, recovery."""

from __future__ import annotations

import itertools
import os
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from storage_helpers import myoware_info, synthetic_counts

from biofeedback.core.types import Flag
from biofeedback.errors import StorageError
from biofeedback.storage.database import (
    CODEC_FLOAT32,
    CODEC_INT16_DELTA,
    SCHEMA_VERSION,
    Database,
    decode_block,
    encode_block,
    info_from_dict,
    info_to_dict,
)


def test_new_database_is_private_wal_and_versioned(db_path: Path) -> None:
    db = Database(db_path)
    assert db.schema_version == SCHEMA_VERSION >= 1
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(db_path.parent.stat().st_mode) == 0o700
    mode = db._conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    db.ensure_subject("P001")  # a write creates the WAL file
    wal = Path(str(db_path) + "-wal")
    assert wal.exists() and stat.S_IMODE(wal.stat().st_mode) == 0o600
    assert db.integrity_check() == "ok"
    db.close()


def test_default_path_is_in_data_dir(_isolated_data_dir: Path) -> None:
    with Database() as db:
        assert db.path == _isolated_data_dir / "biofeedback.sqlite"
    assert stat.S_IMODE(_isolated_data_dir.stat().st_mode) == 0o700


def test_reopen_keeps_data_and_does_not_migrate_again(db_path: Path) -> None:
    with Database(db_path) as db:
        sid = db.create_session("P1", "demo", myoware_info(), {"rms_window_s": 0.1})
    with Database(db_path) as db:
        assert db.get_session(sid).protocol == "demo"
        assert db.schema_version == SCHEMA_VERSION


def test_newer_schema_is_refused_with_advice(db_path: Path) -> None:
    Database(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StorageError, match="newer biofeedback"):
        Database(db_path)


def test_not_a_database_says_move_it_aside(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match="move it aside"):
        Database(path)


def test_streaminfo_round_trips_through_json() -> None:
    info = myoware_info().with_(extra={"pot_kohm": "50"})
    assert info_from_dict(info_to_dict(info)) == info


@pytest.mark.parametrize("n_ch", [1, 3, 6])
def test_int_codec_is_lossless_and_compact(n_ch: int) -> None:
    samples = synthetic_counts(1000, seed=n_ch)[:, :1].repeat(n_ch, axis=1)
    flags = np.zeros(1000, dtype=np.uint16)
    block = encode_block(samples, flags)
    assert block.codec == CODEC_INT16_DELTA and block.flags is None and block.nan_mask is None
    assert len(block.data) < samples.size * 2  # smaller than plain int16
    out, out_flags = decode_block(block.codec, block.data, None, None, 1000, n_ch)
    np.testing.assert_array_equal(out, samples)
    assert not out_flags.any()


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 120), st.integers(1, 4)),
        elements=st.one_of(
            st.integers(-32768, 32767).map(float),
            st.floats(-1e6, 1e6, width=32),
            st.just(np.nan),
        ),
    )
)
def test_codec_round_trip_property(samples: np.ndarray) -> None:
    flags = (np.arange(len(samples)) % 3 == 0).astype(np.uint16) * int(Flag.CLIPPED)
    flags[np.isnan(samples).any(axis=1)] |= int(Flag.MISSING)
    block = encode_block(samples, flags)
    out, out_flags = decode_block(
        block.codec, block.data, block.nan_mask, block.flags, *samples.shape
    )
    np.testing.assert_array_equal(np.isnan(out), np.isnan(samples))
    ok = ~np.isnan(samples)
    if block.codec == CODEC_INT16_DELTA:
        np.testing.assert_array_equal(out[ok], samples[ok])
    else:
        assert block.codec == CODEC_FLOAT32
        np.testing.assert_array_equal(out[ok], samples[ok].astype(np.float32))
    np.testing.assert_array_equal(out_flags, flags)


def test_large_jumps_wrap_correctly() -> None:
    samples = np.array([[-32768.0], [32767.0], [-32768.0], [0.0], [32767.0]])
    block = encode_block(samples, np.zeros(5, np.uint16))
    assert block.codec == CODEC_INT16_DELTA
    out, _ = decode_block(block.codec, block.data, None, None, 5, 1)
    np.testing.assert_array_equal(out, samples)


def test_session_lifecycle_and_metadata(db: Database) -> None:
    info = myoware_info()
    sid = db.create_session(
        "P001",
        "clinical-session",
        info,
        {"band_hz": [20, 450], "rms_window_s": 0.1},
        muscle="upper trapezius",
        side="left",
        electrode_site="SENIAM trapezius descendens",
        electrode_type="Ag/AgCl gel",
        skin_prep="alcohol",
        isolation_mode="battery",
        clinician="Dr A",
        pain_before=6,
        hardware={"myoware_version": "2.0", "pot_kohm": 50.0},
    )
    rec = db.get_session(sid)
    assert rec.status == "recording" and rec.subject_id == "P001" and rec.info == info
    assert rec.pipeline_settings["rms_window_s"] == 0.1 and rec.hardware["pot_kohm"] == 50.0
    assert rec.muscle == "upper trapezius" and rec.pain_before == 6 and rec.pain_after is None
    db.update_session(sid, pain_after=3, notes="felt calmer")
    db.finish_session(sid, "complete", {"trials": 5})
    rec = db.get_session(sid)
    assert rec.status == "complete" and rec.pain_after == 3 and rec.summary == {"trials": 5}
    assert rec.ended_at is not None and rec.ended_at >= rec.started_at
    assert [r.id for r in db.list_sessions("P001")] == [sid]
    assert db.list_sessions("nobody") == []
    assert rec.to_dict()["muscle"] == "upper trapezius"


def test_bad_inputs_get_clear_messages(db: Database) -> None:
    with pytest.raises(StorageError, match="pseudonym"):
        db.ensure_subject("Jane Doe")
    with pytest.raises(StorageError, match="0 to 10"):
        db.create_session("P1", "x", myoware_info(), pain_before=11)
    with pytest.raises(TypeError, match="unknown session detail"):
        db.create_session("P1", "x", myoware_info(), musle="typo")
    with pytest.raises(StorageError, match="no session 99"):
        db.get_session(99)
    with pytest.raises(StorageError, match="not a session id"):
        db.get_session("abc")  # type: ignore[arg-type]
    with pytest.raises(StorageError, match="HH:MM"):
        db.set_reminder("P1", "25:00")


def test_subjects_goal_and_reminder(db: Database) -> None:
    db.ensure_subject("P1", name="Optional Name", weekly_goal=3)
    db.set_reminder("P1", "8:05")
    subject = db.get_subject("P1")
    assert subject is not None
    assert (subject["name"], subject["weekly_goal"], subject["reminder"]) == (
        "Optional Name",
        3,
        "08:05",
    )
    db.set_weekly_goal("P1", 2)
    assert db.list_subjects()[0]["weekly_goal"] == 2


def test_samples_blocks_gaps_and_ranges(db: Database) -> None:
    info = myoware_info()
    sid = db.create_session("P1", "demo", info)
    a = synthetic_counts(1500, seed=1)
    b = synthetic_counts(700, seed=2, start=2000)
    flags_a = np.zeros(1500, np.uint16)
    flags_a[100:120] = int(Flag.CLIPPED)
    with db.transaction() as conn:
        db.write_block(conn, sid, 0, a[:1000], flags_a[:1000])
        db.write_block(conn, sid, 1000, a[1000:], flags_a[1000:])
        db.write_block(conn, sid, 2000, b, np.zeros(700, np.uint16))
    db.finish_session(sid)
    rec = db.get_session(sid)
    assert (rec.first_index, rec.end_index, rec.n_samples) == (0, 2700, 2200)
    first, samples, flags = db.read_samples(sid)
    assert first == 0 and samples.shape == (2700, 3)
    np.testing.assert_array_equal(samples[:1500], a)
    np.testing.assert_array_equal(samples[2000:], b)
    assert np.isnan(samples[1500:2000]).all()
    assert (flags[1500:2000] == int(Flag.MISSING)).all()
    assert (flags[100:120] == int(Flag.CLIPPED)).all() and not flags[:100].any()
    # A window across a block boundary and the gap.
    first, part, _ = db.read_samples(sid, start=900, stop=2100)
    assert first == 900 and len(part) == 1200
    np.testing.assert_array_equal(part[:600], a[900:1500])
    np.testing.assert_array_equal(part[1100:], b[:100])
    # Chunks are contiguous and bounded.
    chunks = list(db.iter_chunks(sid, block_samples=256))
    assert all(len(c) <= 256 for c in chunks)
    assert all(c2.first_index == c1.end_index for c1, c2 in itertools.pairwise(chunks))
    assert chunks[-1].end_index == 2700


def test_markers_phases_thresholds(db: Database) -> None:
    sid = db.create_session("P1", "demo", myoware_info())
    with db.transaction() as conn:
        db.write_block(conn, sid, 5000, synthetic_counts(100), np.zeros(100, np.uint16))
    db.add_marker(sid, 5050, "cough", "patient coughed")
    db.add_marker(sid, 5010, "start")
    assert [m["label"] for m in db.markers(sid)] == ["start", "cough"]
    db.log_threshold(sid, 5020, None, 4.5, "baseline")
    db.log_threshold(sid, 5080, 4.5, 4.275, "shaping: 82 % below")
    log = db.threshold_log(sid)
    assert [(r["old_uv"], r["new_uv"]) for r in log] == [(None, 4.5), (4.5, 4.275)]
    phases = [
        {
            "name": "baseline",
            "kind": "baseline",
            "start_s": 0.0,
            "duration_s": 0.05,
            "mean_uv": 3.2,
        },
        {
            "name": "train 1",
            "kind": "train",
            "start_index": 5050,
            "end_index": 5100,
            "pct_below": 71.5,
            "apdf": [1.0, 2.0, 3.0],
        },
    ]
    db.save_phases(sid, phases)
    stored = db.phases(sid)
    assert stored[0]["start_index"] == 5000 and stored[0]["end_index"] == 5050
    assert stored[1]["pct_below"] == 71.5 and stored[1]["apdf"] == [1.0, 2.0, 3.0]
    db.save_phases(sid, phases[:1])  # replaces
    assert len(db.phases(sid)) == 1
    db.delete_session(sid)
    assert db.list_sessions() == [] and db.markers(sid) == []


def test_recover_interrupted_closes_dead_writers_only(db: Database) -> None:
    info = myoware_info()
    mine = db.create_session("P1", "demo", info)  # this process: alive
    # A session whose writer process is gone.
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = db.create_session("P1", "demo", info)
    with db.transaction() as conn:
        conn.execute("UPDATE sessions SET writer_pid = ? WHERE id = ?", (int(proc.stdout), dead))
        db.write_block(conn, dead, 0, synthetic_counts(300), np.zeros(300, np.uint16))
    # A session alive by pid but silent for too long.
    silent = db.create_session("P1", "demo", info)
    with db.transaction() as conn:
        conn.execute(
            "UPDATE sessions SET heartbeat_at = ? WHERE id = ?", (time.time() - 3600, silent)
        )
    closed = db.recover_interrupted()
    assert sorted(closed) == sorted([dead, silent])
    assert db.get_session(mine).status == "recording"
    rec = db.get_session(dead)
    assert rec.status == "interrupted" and rec.n_samples == 300 and rec.end_index == 300
    assert "interrupted_reason" in rec.summary
    assert db.recover_interrupted() == []


def test_concurrent_reader_while_writing(db_path: Path) -> None:
    writer = Database(db_path)
    sid = writer.create_session(None, "demo", myoware_info())
    reader = Database(db_path)
    with writer.transaction() as conn:
        writer.write_block(conn, sid, 0, synthetic_counts(100), np.zeros(100, np.uint16))
        # Uncommitted rows are invisible to the other connection, which is not blocked.
        assert reader.read_samples(sid)[1].shape == (0, 3)
    assert reader.read_samples(sid)[1].shape == (100, 3)
    reader.close()
    writer.close()


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_existing_file_permissions_are_tightened(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    Database(path).close()
    path.chmod(0o644)
    Database(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_codec_accepts_fortran_ordered_blocks() -> None:
    samples = np.asfortranarray(np.random.default_rng(0).normal(0, 0.05, (300, 4)))
    block = encode_block(samples, np.zeros(300, np.uint16))
    out, _ = decode_block(block.codec, block.data, None, None, 300, 4)
    np.testing.assert_array_equal(out, samples.astype(np.float32))
    ints = np.asfortranarray(synthetic_counts(300))
    block = encode_block(ints, np.zeros(300, np.uint16))
    np.testing.assert_array_equal(
        decode_block(block.codec, block.data, None, None, 300, 3)[0], ints
    )
