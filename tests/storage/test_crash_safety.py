"""SIGKILL a process recording from sim:// in real time; the next start keeps everything committed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from storage_helpers import engine_envelope

from biofeedback.devices.registry import open_device
from biofeedback.storage.database import Database

SIM = "sim://?scenario=relax&seed=7&board=12bit&channels=raw,env,ref"

CHILD = textwrap.dedent(
    f"""
    import sys, time
    from biofeedback.engine import Engine
    from biofeedback.storage.database import Database
    from biofeedback.storage.recorder import Recorder

    db = Database()
    db.recover_interrupted()
    engine = Engine({SIM!r})
    info = engine.open()
    sid = db.create_session("P001", "crash-test", info, engine.settings.to_dict())
    recorder = Recorder(db.path, sid, info)
    engine.add_sink(recorder.sink)
    # After the recorder has the chunk: report how far the source got.
    engine.add_sink(lambda chunk, processed: print("emitted", chunk.end_index, flush=True))
    print("session", sid, flush=True)
    engine.start()
    time.sleep(60)
    """
)


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_sigkill_mid_session_loses_at_most_one_second(_isolated_data_dir: Path, wait_for) -> None:
    env = {**os.environ, "BIOFEEDBACK_HOME": str(_isolated_data_dir)}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    deadline = time.monotonic() + 60
    emitted = 0
    while time.monotonic() < deadline and emitted < 3500:
        time.sleep(0.05)
        ends = [int(x.split()[1]) for x in list(lines) if x.startswith("emitted")]
        emitted = ends[-1] if ends else 0
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    assert emitted >= 3500, "the child did not stream in time"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    reader.join(10)
    assert proc.returncode == -signal.SIGKILL
    sid = int(next(x for x in lines if x.startswith("session")).split()[1])
    last_emitted = max(int(x.split()[1]) for x in lines if x.startswith("emitted"))

    # The next start: the file is sound, the session is closed as interrupted.
    with Database() as db:
        assert db.integrity_check() == "ok"
        assert db.get_session(sid).status == "recording"
        assert db.recover_interrupted() == [sid]
        record = db.get_session(sid)
        assert record.status == "interrupted"
        assert record.ended_at is not None
        first, stored, flags = db.read_samples(sid)
        listed = {r.id: r.status for r in db.list_sessions("P001")}
    assert listed[sid] == "interrupted"
    lost = last_emitted - (first + len(stored))
    print(f"SIGKILL: {last_emitted} samples emitted, {len(stored)} kept, {lost} lost")
    assert first == 0 and 0 <= lost <= record.info.fs_hz, f"lost {lost} samples"
    assert not np.isnan(stored).any() and not (flags & 1).any()  # no gaps inside

    # What was kept is exactly what the simulator produced.
    sim = open_device(SIM + "&speed=max")
    sim.open()
    produced: list[np.ndarray] = []
    sim.start(lambda chunk: produced.append(chunk.samples))
    wait_for(lambda: sum(len(p) for p in produced) >= len(stored), 60, "the simulator stalled")
    sim.close()
    np.testing.assert_array_equal(np.concatenate(produced)[: len(stored)], stored)

    # And it replays like any session.
    start, envelope, _ = engine_envelope(f"replay://{sid}?speed=max")
    assert start == 0 and len(envelope) == len(stored)
    assert np.isfinite(envelope).all()
