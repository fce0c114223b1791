"""``--lsl-markers NAME``: another program's LSL marker stream (a pylsl outlet here, as PsychoPy
makes one) becomes markers stored in the session, at the sample measured when they were sent."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pylsl
import pytest

from biofeedback.engine import Engine
from biofeedback.interop.clock import SampleClock
from biofeedback.interop.lsl_markers import LslMarkerInlet
from biofeedback.interop.streaming import Streaming, StreamingOptions
from biofeedback.session import RecordingSession
from biofeedback.storage.database import Database


def _marker_outlet(name: str, source: str = "") -> pylsl.StreamOutlet:
    info = pylsl.StreamInfo(name, "Markers", 1, pylsl.IRREGULAR_RATE, pylsl.cf_string, source)
    return pylsl.StreamOutlet(info)


def test_markers_of_a_pylsl_outlet_are_stored_in_the_session(
    tmp_path: Path, wait_for: Callable[..., None]
) -> None:
    outlet = _marker_outlet("psychopy-test-markers", "psychopy-test-1")
    db = Database(tmp_path / "s.db")
    engine = Engine("sim://?scenario=relax&seed=4")  # real time: markers land as they are sent
    engine.open()
    messages: list[str] = []
    streaming = Streaming(
        StreamingOptions(lsl_markers="psychopy-test-markers"), on_problem=messages.append
    )
    session = RecordingSession(engine, db, duration_s=60.0)
    try:
        streaming.attach(engine)
        session_id = session.start()
        streaming.listen_for_markers(
            lambda index, label, note: session.add_marker(label, note, index=index)
        )
        inlet = streaming.inlet
        assert inlet is not None
        wait_for(lambda: inlet.state == "connected", 20, lambda: f"inlet {inlet.state}")
        wait_for(lambda: engine.stats.samples > 200, 10, "no samples")
        sent_at = engine.stats.last_index
        outlet.push_sample(["stimulus onset"])
        outlet.push_sample(["response"])
        wait_for(lambda: inlet.received >= 2, 15, lambda: f"received {inlet.received}")
        after = engine.stats.last_index
        result = session.finish()
    finally:
        streaming.close()
        engine.close()
    assert result.session_id == session_id
    assert any("receiving LSL markers from 'psychopy-test-markers'" in m for m in messages)
    stored = [m for m in db.markers(session_id) if m["note"] == "LSL psychopy-test-markers"]
    assert [m["label"] for m in stored] == ["stimulus onset", "response"]
    fs = engine.info.fs_hz  # type: ignore[union-attr]
    for m in stored:
        # between the newest sample when it was sent (less a block's arrival) and when it arrived
        assert sent_at - 0.25 * fs <= m["sample_index"] <= after
    db.close()


def test_a_stream_that_is_not_there_is_said_once_and_still_looked_for(
    wait_for: Callable[..., None],
) -> None:
    messages: list[str] = []
    clock = SampleClock(1000.0)
    inlet = LslMarkerInlet(
        "no-such-marker-stream",
        clock,
        lambda *_: None,
        on_message=messages.append,
        deadline_s=0.2,
    )
    inlet.start()
    try:
        wait_for(lambda: messages, 15, "no message")
        assert inlet.state == "not found"
        assert (
            "no LSL marker stream named 'no-such-marker-stream' found within 0.2 s" in messages[0]
        )
        assert "still looking" in messages[0]
        # it keeps looking: a stream that starts later is picked up
        outlet = _marker_outlet("no-such-marker-stream")
        wait_for(lambda: inlet.state == "connected", 20, lambda: f"inlet {inlet.state}")
        # and a stream that goes away is said once, then looked for again
        del outlet
        wait_for(lambda: any("was lost" in m for m in messages), 30, lambda: str(messages))
        wait_for(lambda: inlet.state == "resolving", 10, lambda: f"inlet {inlet.state}")
    finally:
        inlet.stop()
    assert len([m for m in messages if "found within" in m]) == 1
    assert len([m for m in messages if "was lost" in m]) == 1


def test_a_marker_before_the_first_sample_is_dropped_not_misplaced() -> None:
    stored: list[tuple[int, str, str]] = []
    inlet = LslMarkerInlet("x", SampleClock(100.0, now=lambda: 5.0), lambda *a: stored.append(a))
    inlet._take(["early"], 4.0)
    assert stored == [] and inlet.dropped == 1


@pytest.mark.parametrize("sample", [[1.0, 2.0], ["a", "b"]])
def test_a_multi_value_marker_becomes_one_label(sample: list[object]) -> None:
    now = [10.0]
    clock = SampleClock(100.0, now=lambda: now[0])
    from biofeedback.core.types import Chunk

    clock.sink(Chunk(0, [[0.0]] * 100), None)  # type: ignore[arg-type]
    stored: list[tuple[int, str, str]] = []
    inlet = LslMarkerInlet("x", clock, lambda *a: stored.append(a))
    inlet._take(sample, 9.5)
    assert stored == [(49, " ".join(str(v) for v in sample), "LSL x")]
