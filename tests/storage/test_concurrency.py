"""Several recordings and readers in one data folder: short write transactions, bounded busy waits.

The stress test runs the real CLI: 3 ``record`` processes at speed=max plus a reader process
looping over ``sessions --json`` and ``export N --format csv`` on finished sessions, in a fresh
data folder per round. Always run: 3 rounds; ``-m slow``: 10 rounds of longer recordings.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from storage_helpers import chunks_of, myoware_info, synthetic_counts

from biofeedback.errors import StorageError
from biofeedback.storage import database
from biofeedback.storage.database import Database
from biofeedback.storage.recorder import Recorder

READER = textwrap.dedent(
    """
    import contextlib, io, json, os, sys
    from biofeedback.cli import main

    data, out, stop = sys.argv[1], sys.argv[2], sys.argv[3]
    loops = failures = exports = 0
    while not os.path.exists(stop):
        loops += 1
        text, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(text), contextlib.redirect_stderr(err):
            code = main(["--data-dir", data, "sessions", "--json"])
        if code != 0:
            failures += 1
            print("sessions failed:", err.getvalue().strip(), file=sys.stderr)
            continue
        for row in json.loads(text.getvalue())["sessions"]:
            if row["status"] != "complete":
                continue
            err = io.StringIO()
            target = os.path.join(out, f"s{row['id']}.csv")
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                code = main(["--data-dir", data, "export", str(row["id"]), "--format", "csv",
                             "-o", target])
            if code != 0:
                failures += 1
                print(f"export {row['id']} failed:", err.getvalue().strip(), file=sys.stderr)
            else:
                exports += 1
    print(json.dumps({"loops": loops, "failures": failures, "exports": exports}))
    """
)


def _record_cmd(data: Path, seed: int, duration_s: float) -> list[str]:
    url = f"sim://?scenario=relax&speed=max&seed={seed}"
    return [
        sys.executable, "-m", "biofeedback", "--data-dir", str(data), "record",
        "--source", url, "--duration", f"{duration_s:g}", "--json",
    ]  # fmt: skip


def _one_round(folder: Path, duration_s: float) -> None:
    data, out, stop = folder / "data", folder / "exports", folder / "stop"
    out.mkdir(parents=True)
    env = dict(os.environ)
    env.pop("BIOFEEDBACK_HOME", None)
    recorders = [
        subprocess.Popen(
            _record_cmd(data, seed, duration_s),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for seed in (1, 2, 3)
    ]
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(data), str(out), str(stop)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    results = []
    try:
        for proc in recorders:
            stdout, stderr = proc.communicate(timeout=240)
            assert proc.returncode == 0, f"a recorder failed: {stderr.strip()}"
            results.append(json.loads(stdout.strip().splitlines()[-1]))
    finally:
        stop.touch()
        for proc in recorders:
            if proc.poll() is None:
                proc.kill()
    stdout, stderr = reader.communicate(timeout=120)
    assert reader.returncode == 0, stderr
    loop = json.loads(stdout.strip().splitlines()[-1])
    assert loop["failures"] == 0, stderr
    assert loop["loops"] >= 1
    want = round(duration_s * 1000)
    with Database(data / database.DB_FILENAME) as db:
        sessions = db.list_sessions()
        assert sorted(s.id for s in sessions) == sorted(r["session_id"] for r in results)
        by_id = {r["session_id"]: r for r in results}
        for session in sessions:
            result = by_id[session.id]
            assert result["status"] == "complete"
            assert result["recorder"]["samples_written"] == want
            assert result["recorder"]["dropped_samples"] == 0
            assert session.status == "complete"
            assert session.n_samples == want
            assert db.stored_extent(session.id)[2] == want


def test_three_recordings_and_a_reader_loop_share_one_data_dir(tmp_path: Path) -> None:
    for i in range(3):
        _one_round(tmp_path / f"round{i}", duration_s=120)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_three_recordings_and_a_reader_loop_ten_times(tmp_path: Path) -> None:
    for i in range(10):
        _one_round(tmp_path / f"round{i}", duration_s=600)


def test_fresh_database_opened_at_once_by_several_connections(tmp_path: Path) -> None:
    """The schema is created once even when several processes open a new file together."""

    def open_it(path: Path, barrier: threading.Barrier, errors: list[BaseException]) -> None:
        barrier.wait(10)
        try:
            Database(path).close()
        except BaseException as exc:  # collected and reported below
            errors.append(exc)

    for attempt in range(5):
        path = tmp_path / f"try{attempt}" / "fresh.sqlite"
        barrier = threading.Barrier(6)
        errors: list[BaseException] = []
        threads = [threading.Thread(target=open_it, args=(path, barrier, errors)) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert errors == []
        with Database(path) as db:
            assert db.schema_version == database.SCHEMA_VERSION


def _try_write(path: Path, timeout_s: float) -> bool:
    """Can another connection take the write lock within ``timeout_s``?"""
    conn = sqlite3.connect(str(path), timeout=timeout_s, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


def test_recorder_holds_the_write_lock_only_while_it_commits(db: Database) -> None:
    """While a recorder waits for data between commits, another writer gets in at once."""
    info = myoware_info(realtime=True)
    sid = db.create_session("P1", "demo", info)
    rec = Recorder(db.path, sid, info, commit_interval_s=3.0, block_s=0.05)
    samples = synthetic_counts(4000, seed=4)
    chunks = chunks_of(samples, 10)
    misses = 0
    tries = 0
    try:
        for i, chunk in enumerate(chunks):  # >= 4 s of 10 ms chunks, paced like a board
            rec.sink(chunk, None)
            if i % 20 == 10:
                tries += 1
                misses += not _try_write(db.path, 1.0)
            time.sleep(0.01)
    finally:
        rec.close("complete")
    assert tries == 20
    # the old recorder held BEGIN IMMEDIATE from its first full block to the next commit
    assert misses == 0, f"{misses} of {tries} writers found the database locked for 1 s"
    assert db.get_session(sid).n_samples == 4000
    np.testing.assert_array_equal(db.read_samples(sid)[1], samples)


def _hold_write_lock(path: Path, hold_s: float, started: threading.Event) -> threading.Thread:
    def run() -> None:
        conn = sqlite3.connect(str(path), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        started.set()
        time.sleep(hold_s)  # holding the lock is the point here, not a timing assertion
        conn.execute("COMMIT")
        conn.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10)
    return thread


def test_a_write_waits_out_a_lock_longer_than_one_busy_timeout(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "BUSY_TIMEOUT_S", 0.05)
    monkeypatch.setattr(database, "BUSY_WAIT_S", 20.0)
    db = Database(db_path)
    try:
        holder = _hold_write_lock(db_path, 1.0, threading.Event())
        sid = db.create_session("P1", "demo", myoware_info())  # retried until the lock is free
        db.update_session(sid, notes="ok")
        db.finish_session(sid, "complete")
        holder.join(10)
        assert db.get_session(sid).status == "complete"
    finally:
        db.close()


def test_a_write_busy_beyond_the_bound_fails_with_advice(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "BUSY_TIMEOUT_S", 0.05)
    monkeypatch.setattr(database, "BUSY_WAIT_S", 0.5)
    db = Database(db_path)
    try:
        holder = _hold_write_lock(db_path, 3.0, threading.Event())
        t0 = time.monotonic()
        with pytest.raises(StorageError, match=r"stayed busy for 0\.5 s.*close it, or try again"):
            db.create_session("P1", "demo", myoware_info())
        assert time.monotonic() - t0 < 2.5  # bounded: not SQLite's old 10 s
        holder.join(10)
    finally:
        db.close()


def test_recorder_commits_after_a_long_busy_spell_and_keeps_everything(
    db: Database, monkeypatch: pytest.MonkeyPatch, wait_for
) -> None:
    monkeypatch.setattr(database, "BUSY_TIMEOUT_S", 0.05)
    monkeypatch.setattr(database, "BUSY_WAIT_S", 20.0)
    info = myoware_info(realtime=False)
    sid = db.create_session("P1", "demo", info)
    rec = Recorder(db.path, sid, info, commit_interval_s=0.1, block_s=0.25)
    samples = synthetic_counts(6000, seed=5)
    chunks = chunks_of(samples, 50)
    for chunk in chunks[:40]:
        rec.sink(chunk, None)
    wait_for(lambda: rec.stats.samples_written == 2000, 10, "the first commit")
    commits = rec.stats.commits
    holder = _hold_write_lock(db.path, 1.5, threading.Event())
    for chunk in chunks[40:]:
        rec.sink(chunk, None)
    rec.add_marker(5000, "during the busy spell")
    holder.join(10)
    wait_for(lambda: rec.stats.commits > commits, 10, "a commit after the busy spell")
    rec.close("complete")
    assert not rec.failed
    assert db.get_session(sid).n_samples == 6000
    np.testing.assert_array_equal(db.read_samples(sid)[1], samples)
    assert [m["label"] for m in db.markers(sid)] == ["during the busy spell"]
