"""The replay model: a real session recorded headless from the simulator, then played back.

Its targets come from the session's own threshold log (not today's preferences), its time in
target equals what the runner scored live, and play/pause/seek/speed/phase jumps behave.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from biofeedback.appmodel.replay import SPEEDS, ReplayModel, format_clock, load_replay
from biofeedback.engine import Engine
from biofeedback.errors import StorageError
from biofeedback.session import RecordingSession
from biofeedback.storage.database import Database
from biofeedback.storage.reprocess import iter_processed
from biofeedback.training.protocol import parse_protocol

PROTOCOL = """
format = 1
name = "replay-test"
description = "baseline, a trial with shaping, rest, a trial with its own target"
[threshold]
target = "90% of baseline"
[shaping]
interval_s = 5
[[phases]]
kind = "baseline"
duration = "4 s"
[[phases]]
kind = "train"
duration = "11 s"
[[phases]]
kind = "rest"
duration = "2 s"
[[phases]]
kind = "train"
duration = "6 s"
target = "3 uV"
"""

SIM = "sim://?scenario=relax&board=12bit&seed=3&speed=max"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A 23 s protocol session stored through RecordingSession, as the window records one."""
    path = tmp_path_factory.mktemp("replay") / "store.sqlite"
    db = Database(path)
    with Engine(SIM) as engine:
        session = RecordingSession(
            engine, db, parse_protocol(PROTOCOL, "replay-test.toml"), subject_id="R1"
        )
        session_id = session.start()
        assert session.wait(120)
        assert session.finish().status == "complete"
    db.close()
    return path, session_id


@pytest.fixture
def model(recorded: tuple[Path, int]) -> ReplayModel:
    return ReplayModel.open(*recorded)


def test_phases_and_markers_on_the_session_time_axis(model: ReplayModel) -> None:
    assert model.duration_s == pytest.approx(23.0)
    assert [(p.name, p.kind, p.start_s, p.end_s) for p in model.phases] == [
        ("baseline", "baseline", 0.0, 4.0),
        ("train", "train", 4.0, 15.0),
        ("rest", "rest", 15.0, 17.0),
        ("train", "train", 17.0, 23.0),
    ]
    assert [c.name for c in model.channels] == ["raw", "env"]
    assert [c.show_raw for c in model.channels] == [True, False]
    # the noise-floor bookkeeping marker is not shown as an event
    assert all(m.label != "noise floor applied" for m in model.markers)


def test_targets_are_the_sessions_log_not_todays_preferences(
    recorded: tuple[Path, int], model: ReplayModel
) -> None:
    from biofeedback.config import save_settings

    save_settings({"thresholds_uv": {"raw": 42.0, "env": 42.0}})  # today's targets differ
    with Database(recorded[0]) as db:
        logged = db.threshold_log(recorded[1])
    assert len(logged) >= 3  # start, shaping, the second trial's own 3 uV
    assert model.target_at(0, 2.0) is None  # the baseline ran without a target
    for row in logged:
        t = row["sample_index"] / 1000.0
        assert model.target_at(0, t) == pytest.approx(row["new_uv"])
        change = model.target_change_at(0, t + 0.5)  # what set it: when and why
        assert change is not None and change.reason == row["reason"] and change.t_s == t
        if row["old_uv"] is not None:
            assert model.target_at(0, t - 0.001) == pytest.approx(row["old_uv"])
    assert model.target_at(0, 18.0) == pytest.approx(3.0)
    assert model.target_at(0, 5.0) != 42.0
    # across a window: the target as it was at each moment (a step at each change)
    start, shaped = logged[0], logged[1]
    t_shaped = shaped["sample_index"] / 1000.0
    segments = model.target_segments(0, 10.0, t_shaped + 2.0)
    assert segments[-2:] == [
        (pytest.approx(start["sample_index"] / 1000.0 - t_shaped - 2.0), -2.0, start["new_uv"]),
        (-2.0, 0.0, shaped["new_uv"]),
    ]
    assert model.target_segments(0, 10.0, 3.0) == []  # baseline: none yet
    # the protocol scored channel 0: the env output never had a target
    assert model.target_at(1, 10.0) is None and not model.has_targets(1)


def test_time_in_target_equals_what_the_runner_scored(
    recorded: tuple[Path, int], model: ReplayModel
) -> None:
    with Database(recorded[0]) as db:
        stored = db.phases(recorded[1])
    model.seek(model.duration_s)
    for i, phase in enumerate(stored):
        got = model.phase_time_in_target(i, 0)
        if phase.get("pct_below") is None:
            assert got.pct is None
        else:
            assert got.pct == pytest.approx(phase["pct_below"], abs=1e-9)
    # so far: half-way through the first trial counts only its first half
    model.seek(9.5)
    first_half = model.time_in_target(0)
    assert first_half.scored_s == pytest.approx(5.5, abs=0.01)
    assert model.time_in_target(1).pct is None


def test_traces_are_the_sessions_own_pipeline_output(
    recorded: tuple[Path, int], model: ReplayModel
) -> None:
    with Database(recorded[0]) as db:
        record = db.get_session(recorded[1])
        env = np.concatenate([p.envelope_uv for _, p, _ in iter_processed(db, record)])
    model.seek(12.0)
    window = model.trace_window(10.0)
    assert window.envelope_uv.shape == (2, 1000) and window.signal_uv.shape == (2, 2000)
    assert window.end_column == 1200
    # the last column is the maximum of the envelope over samples 11990-11999
    np.testing.assert_allclose(window.envelope_uv[:, -1], env[11990:12000].max(axis=0), rtol=1e-6)
    assert window.t_columns_s[-1] == 0.0 and window.t_columns_s[0] == pytest.approx(-9.99)
    level, flags = model.level(0)
    assert level == pytest.approx(env[11999, 0], rel=1e-6) and flags == 0
    model.seek(3.0)  # columns before the start are empty
    window = model.trace_window(10.0)
    assert np.isnan(window.envelope_uv[:, :700]).all()
    assert np.isfinite(window.envelope_uv[:, -300:]).all()


def test_play_pause_tick_speed_and_end(model: ReplayModel) -> None:
    events: list[tuple[str, object]] = []
    model.playing_changed.connect(lambda v: events.append(("playing", v)))
    model.speed_changed.connect(lambda v: events.append(("speed", v)))
    model.tick(1.0)
    assert model.position_s == 0.0  # paused: the clock does not move
    model.play()
    model.tick(0.5)
    assert model.position_s == pytest.approx(0.5)
    model.set_speed(4)
    model.tick(0.5)
    assert model.position_s == pytest.approx(2.5)
    with pytest.raises(ValueError, match="choose one of"):
        model.set_speed(3)
    model.pause()
    model.tick(1.0)
    assert model.position_s == pytest.approx(2.5)
    model.play()
    model.tick(60.0)  # past the end: stops there, paused
    assert model.position_s == model.duration_s and not model.playing
    model.play()  # at the end: from the start again
    assert model.position_s == 0.0 and model.playing
    assert events == [
        ("playing", True),
        ("speed", 4.0),
        ("playing", False),
        ("playing", True),
        ("playing", False),
        ("playing", True),
    ]
    assert set(SPEEDS) == {0.5, 1.0, 2.0, 4.0, 8.0}


def test_seek_clamps_and_phase_jumps(model: ReplayModel) -> None:
    phases: list[int | None] = []
    model.phase_changed.connect(phases.append)
    model.seek(-5.0)
    assert model.position_s == 0.0
    model.seek(1e9)
    assert model.position_s == model.duration_s and model.current_phase is None
    model.seek(math.nan)
    assert model.position_s == model.duration_s
    model.jump_to_phase(2)
    assert model.position_s == pytest.approx(15.0) and model.current_phase == 2
    model.next_phase()
    assert model.position_s == pytest.approx(17.0) and model.current_phase == 3
    model.next_phase()  # after the last phase: stays
    assert model.current_phase == 3
    model.seek(17.5)
    model.previous_phase()  # within 1 s of the phase's start: the one before
    assert model.current_phase == 2
    model.seek(16.5)
    model.previous_phase()  # later in a phase: its own start
    assert model.position_s == pytest.approx(15.0)
    with pytest.raises(IndexError):
        model.jump_to_phase(4)
    assert phases == [None, 2, 3, 2]


def test_position_listeners_see_the_new_positions_phase(model: ReplayModel) -> None:
    """A seek sets position and phase before telling anyone: the window's time in target for
    "this phase" is read on position_changed."""
    seen: list[tuple[float, int | None, float | None]] = []

    def on_position(t: float) -> None:
        phase = model.current_phase
        pct = None if phase is None else model.phase_time_in_target(phase, 0).pct
        seen.append((t, phase, pct))

    model.position_changed.connect(on_position)
    model.seek(1.0)  # baseline: not scored
    model.seek(10.0)  # the trial, 6 s in
    assert seen[0] == (1.0, 0, None)
    assert seen[1][:2] == (10.0, 1) and seen[1][2] is not None
    assert seen[1][2] == pytest.approx(model.phase_time_in_target(1, 0).pct)


def test_a_recording_without_a_protocol_has_no_targets(tmp_path: Path) -> None:
    path = tmp_path / "plain.sqlite"
    db = Database(path)
    with Engine(SIM) as engine:
        session = RecordingSession(engine, db, None, subject_id="R2", duration_s=3.0)
        session_id = session.start()
        assert session.wait(60)
        session.finish()
    db.close()
    model = ReplayModel.open(path, session_id)
    model.seek(2.0)
    assert model.phases == [] and model.duration_s == pytest.approx(3.0)
    assert model.target_at(0) is None and not model.has_targets(0)
    assert model.time_in_target(0).scored_s == 0.0
    model.next_phase()  # nothing to jump to
    assert model.position_s == 2.0


def test_a_missing_session_is_one_line(recorded: tuple[Path, int]) -> None:
    with pytest.raises(StorageError, match="no session 9999") as info:
        load_replay(recorded[0], 9999)
    assert "\n" not in str(info.value)


def test_clock_format() -> None:
    assert format_clock(750.4) == "12:30"
    assert format_clock(1200) == "20:00"
    assert format_clock(3723) == "1:02:03"
