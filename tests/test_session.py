"""RecordingSession: the stored session reproduces what the live session computed."""

from __future__ import annotations

import numpy as np
import pytest

from biofeedback.engine import Engine
from biofeedback.session import RecordingSession
from biofeedback.storage.database import Database
from biofeedback.storage.reprocess import NOISE_FLOOR_MARKER, iter_processed
from biofeedback.training.protocol import parse_protocol

PROTOCOL = """
format = 1
name = "short-test"
description = "noise floor, baseline, one short trial"
muscles = ["upper trapezius"]

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
duration = "20 s"
instruction = "Relax."
"""


def test_measured_noise_floor_is_applied_live_and_reproduced_offline():
    protocol = parse_protocol(PROTOCOL, "short-test.toml")
    engine = Engine("sim://?scenario=steady&level_uv=0.5&board=12bit&seed=9&speed=max")
    live: list[np.ndarray] = []
    engine.add_sink(lambda chunk, out: live.append(out.envelope_uv.copy()))
    db = Database()
    with engine:
        session = RecordingSession(engine, db, protocol, subject_id="T1")
        session_id = session.start()
        assert session.wait(60)
        result = session.finish()
    assert result.status == "complete"
    markers = [m for m in db.markers(session_id) if m["label"] == NOISE_FLOOR_MARKER]
    assert len(markers) == 1
    # the floor changed live: the envelope after the marker was corrected with the measured floor
    record = db.get_session(session_id)
    offline = np.concatenate([out.envelope_uv for _, out, _ in iter_processed(db, record)])
    live_env = np.concatenate(live)
    assert offline.shape == live_env.shape
    np.testing.assert_allclose(offline, live_env, rtol=1e-9, atol=1e-12, equal_nan=True)
    stored = db.phases(session_id)
    assert [p["kind"] for p in stored] == ["noise-floor", "baseline", "train"]
    assert stored[1]["start_s"] == pytest.approx(5.0)
    db.close()


STEP_PROTOCOL = """
format = 1
name = "step-test"
description = "a thought record between two short trials"
[threshold]
target = "3 uV"
[[phases]]
kind = "train"
duration = "2 s"
[[phases]]
kind = "thought-record"
[[phases]]
kind = "train"
duration = "2 s"
"""


def test_step_answers_are_stored_when_the_step_ends_not_only_at_the_end(wait_for, tmp_path):
    """A crash after a thought record must not lose it: the summary so far is stored at each
    phase end, while the session is still recording."""
    protocol = parse_protocol(STEP_PROTOCOL, "step-test.toml")
    engine = Engine("sim://?scenario=steady&level_uv=2&board=12bit&seed=3&speed=max")
    path = tmp_path / "db.sqlite"
    db = Database(path)
    answers = {"situation": "Late train", "thought": "My neck will lock", "belief_before": 80}
    with engine:
        session = RecordingSession(engine, db, protocol, subject_id="T1")
        session_id = session.start()
        runner = session.runner
        assert runner is not None
        wait_for(lambda: runner.state().phase_index == 1, 30, "the step phase never came")
        session.apply(runner.continue_phase(answers, phase_index=1))
        other = Database(path)  # another reader, as a recovery after a crash would be

        def stored() -> list:
            record = other.get_session(session_id)
            return record.summary.get("responses", []) if record.status == "recording" else []

        wait_for(lambda: any(r.get("status") == "answered" for r in stored()), 30, "not stored")
        assert stored()[0]["answers"]["thought"] == "My neck will lock" and stored()[0]["private"]
        other.close()
        assert session.wait(60)
        result = session.finish()
    assert result.status == "complete"
    assert db.get_session(session_id).summary["responses"][0]["answers"]["belief_before"] == 80
    db.close()
