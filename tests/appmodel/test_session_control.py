"""The session lifecycle without Qt: a real simulated source, a temporary store, driven the way
the window drives it (commands in, events out)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from biofeedback.appmodel.markers import Markers
from biofeedback.appmodel.session_control import STOPPED_BY_CLINICIAN, SessionControl
from biofeedback.appmodel.targets import Targets
from biofeedback.storage.database import Database
from biofeedback.training.runner import EventType

SOURCE = "sim://?scenario=relax&level_uv=4&board=12bit&channels=raw&speed=8&seed=5"

PROTOCOL = """
format = 1
name = "model-test"
description = "a short trial, then a long one to skip"
[threshold]
target = "3 uV"
[[phases]]
kind = "train"
duration = "2 s"
instruction = "Relax."
[[phases]]
kind = "train"
duration = "10 min"
instruction = "Keep relaxing."
"""


class Harness:
    """A SessionControl with its targets and markers, and a record of every event."""

    def __init__(self, tmp_path: Path, confirm: bool = True, pain: int | None = 3) -> None:
        self.db_path = str(tmp_path / "sessions.sqlite")
        self.targets = Targets()
        self.control = SessionControl(
            self.targets,
            Markers(self.newest, lambda: self.recorder()),
            db_path=self.db_path,
            confirm=lambda _t, _q: confirm,
            pain_after=lambda: pain,
        )
        self.markers = self.control.markers
        self.events: list[tuple[str, Any]] = []
        for name in ("started", "not_started", "failed", "finish_due", "finished", "message"):
            signal = getattr(self.control, name)
            signal.connect(lambda *args, n=name: self.events.append((n, args)))
        self.control.opened.connect(self.on_opened)
        self.runner_events: list[Any] = []
        self.control.runner_event.connect(self.runner_events.append)

    def on_opened(self, session: Any, engine: Any, info: Any) -> None:
        """As the window does: the channels (and their targets) come from the new engine."""
        self.engine = engine
        self.targets.setup([str(o.name) for o in engine.pipeline.outputs], {})
        self.events.append(("opened", (session.session_id,)))

    def newest(self) -> int | None:
        session = self.control.session
        return None if session is None else int(session.engine.stats.last_index)

    def recorder(self) -> Any:
        session = self.control.session
        return None if session is None else session.recorder

    def names(self) -> list[str]:
        return [n for n, _ in self.events]

    def pump_until(self, wait_for: Callable[..., None], predicate: Callable[[], bool]) -> None:
        wait_for(lambda: (self.control.pump(), predicate())[1], 20, "event not seen")


@pytest.fixture
def protocol_path(tmp_path: Path) -> str:
    path = tmp_path / "model-test.toml"
    path.write_text(PROTOCOL, encoding="utf-8")
    return str(path)


def test_plain_recording_stop_asks_then_keeps_it(tmp_path: Path, wait_for) -> None:
    h = Harness(tmp_path, confirm=False)
    assert h.control.start(SOURCE, "", "S-01", 5, isolation="no electrodes")
    assert h.names()[:2] == ["opened", "started"] and h.control.running
    assert not h.control.guided and h.control.state() is None
    assert h.control.subject == "S-01"
    wait_for(lambda: (h.newest() or 0) > 100, 20, "no samples")
    assert h.markers.add() is not None
    h.markers.annotate("shifted in the chair")
    assert "End recording" in h.control.stop_question()
    assert not h.control.request_stop() and h.control.running  # declined: it goes on
    h.control.confirm = lambda _t, _q: True
    assert h.control.request_stop()
    result = h.control.last_result
    assert result is not None and result.status == "complete"  # a free recording ends any time
    assert h.names()[-1] == "finished" and not h.control.running
    with Database(h.db_path) as db:
        record = db.get_session(result.session_id)
        assert record.subject_id == "S-01" and record.status == "complete"
        assert [m["note"] for m in db.markers(result.session_id)] == ["shifted in the chair"]


def test_protocol_targets_pause_skip_and_finish(
    tmp_path: Path, wait_for, protocol_path: str
) -> None:
    h = Harness(tmp_path)
    changes: list[tuple[int, float, str]] = []
    h.targets.changed.connect(lambda c, v, r: changes.append((c, v, r)))
    assert h.control.start(SOURCE, protocol_path, "S-02")
    assert h.control.guided
    # the protocol's 3 uV target reaches the targets on its threshold event
    h.pump_until(wait_for, lambda: (0, 3.0, "protocol") in changes)
    assert h.targets.values_uv == [3.0] and not h.targets.first_target_due
    h.control.toggle_pause()
    h.pump_until(wait_for, lambda: any(e.type == EventType.PAUSED for e in h.runner_events))
    assert h.control.poll().paused
    h.control.toggle_pause()
    h.pump_until(wait_for, lambda: any(e.type == EventType.RESUMED for e in h.runner_events))
    # a clinician's target overrides the protocol's
    assert h.targets.set(0, 7.0, "clinician")
    assert h.control.session.runner.threshold_uv == 7.0
    # the second phase is long: skip it, the protocol ends and asks for the finish
    h.pump_until(wait_for, lambda: h.control.state().phase_index == 1)
    h.control.skip()
    h.pump_until(wait_for, lambda: "finish_due" in h.names())
    assert h.events[h.names().index("finish_due")][1] == ("",)
    result = h.control.finish()
    assert result is not None and result.status == "complete"
    with Database(h.db_path) as db:
        assert db.get_session(result.session_id).protocol == "model-test"


def test_store_failure_ends_as_interrupted(
    tmp_path: Path, wait_for, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    original = Database.write_block

    def write_block(db: Database, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] > 2:
            raise sqlite3.OperationalError("database or disk is full")
        return original(db, *args, **kwargs)

    monkeypatch.setattr(Database, "write_block", write_block)
    h = Harness(tmp_path, pain=6)
    assert h.control.start(SOURCE, "", "S-03")
    h.pump_until(wait_for, lambda: "failed" in h.names())
    sid, message = h.events[h.names().index("failed")][1]
    assert sid == h.control.session.session_id and "is full" in message
    reason = h.events[h.names().index("finish_due")][1][0]
    assert "is full" in reason
    monkeypatch.setattr(Database, "write_block", original)
    result = h.control.finish(reason)
    assert result is not None and result.status == "interrupted" and result.error
    # the window can start the next session afterwards
    assert h.control.start(SOURCE, "", "S-03")
    h.control.finish("done")


def test_cannot_start_says_why(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    assert not h.control.start(SOURCE, "no-such-protocol")
    assert h.names() == ["message"] and "no-such-protocol" in h.events[0][1][0]
    assert not h.control.start("sim://?scenario=nonsense")
    name, (message, source) = h.events[-1]
    assert name == "not_started" and "nonsense" in message and source.endswith("nonsense")
    assert not h.control.running and h.control.finish() is None


def test_first_targets_prefer_the_running_protocol(
    tmp_path: Path, wait_for, protocol_path: str
) -> None:
    h = Harness(tmp_path)
    assert h.control.start(SOURCE, protocol_path)
    wait_for(lambda: h.control.session.runner.threshold_uv is not None, 20, "no target")
    h.control.first_targets([[50.0] * 10], [1.0])  # a late first-seconds frame
    assert h.targets.values_uv == [3.0] and h.targets.log[-1].reason == "protocol"
    h.control.finish(STOPPED_BY_CLINICIAN)
    h.targets.setup(["raw"], {})
    h.control.first_targets([[50.0] * 10], [1.0])  # no session: the first-seconds rule
    assert h.targets.values_uv == [45.0] and h.targets.log[-1].reason == "first seconds"


def test_questionnaires_due_first_then_the_session(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    asked: list[tuple[str, Callable[[int | None], None]]] = []
    h.control.questions_first = lambda subject, then: (asked.append((subject, then)), True)[1]
    assert h.control.begin(SOURCE, "", "S-04")  # True at once: the questions come first
    assert not h.control.running and [s for s, _ in asked] == ["S-04"]
    answering = [True]
    h.control.busy = lambda: answering[0]
    assert not h.control.begin(SOURCE, "", "S-04")  # a second Start while they are answered
    assert "answering" in h.events[-1][1][0]
    answering[0] = False
    asked[0][1](4)  # answered: "pain now" 4 is the pain before
    assert h.control.running and h.control.session.meta["pain_before"] == 4
    result = h.control.finish("done")
    with Database(h.db_path) as db:
        assert db.get_session(result.session_id).pain_before == 4
    h.control.questions_first = lambda subject, then: False  # nothing due: starts at once
    assert h.control.begin(SOURCE, "", "S-04", 2) and h.control.session.meta["pain_before"] == 2
    h.control.finish("done")
