"""A guided recording with ``--lsl``: its phase changes and target changes reach the markers
stream, stamped at the samples they happened at, in the order they happened."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pylsl
import pytest

from biofeedback import config
from biofeedback.cli.record import _start_streaming
from biofeedback.engine import Engine
from biofeedback.interop.lsl_outlet import MARKERS_NAME
from biofeedback.interop.streaming import StreamingOptions
from biofeedback.session import RecordingSession
from biofeedback.storage.database import Database
from biofeedback.training.protocol import load_protocol

PROTOCOL = """
format = 1
name = "lsl-test"
description = "baseline then training"

[[phases]]
kind = "baseline"
duration = "5 s"
instruction = "Sit still."

[[phases]]
kind = "train"
duration = "10 s"
feedback = "visual"
target = "90% of baseline"
instruction = "Relax."
"""


def test_phases_and_targets_of_a_recording_go_out_as_markers(
    tmp_path: Path, wait_for: Callable[..., None]
) -> None:
    folder = config.data_dir() / "protocols"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "lsl-test.toml").write_text(PROTOCOL, encoding="utf-8")
    db = Database(tmp_path / "s.db")
    engine = Engine("sim://?scenario=relax&seed=7&speed=max")
    engine.open()
    session = RecordingSession(engine, db, load_protocol("lsl-test"))
    streaming = _start_streaming(session, StreamingOptions(lsl=True))
    assert streaming is not None and streaming.clock is not None
    found = pylsl.resolve_byprop("name", MARKERS_NAME, 1, 10.0)
    assert found
    inlet = pylsl.StreamInlet(found[0])
    inlet.open_stream(timeout=10.0)
    got: list[tuple[str, float]] = []
    try:
        session.start()
        assert session.wait(60)
        session.finish()

        def ended() -> bool:
            sample, stamp = inlet.pull_sample(timeout=0.0)
            if sample is not None:
                got.append((sample[0], stamp))
            return bool(got) and got[-1][0].startswith("session end")

        wait_for(ended, 20, lambda: f"markers: {[t for t, _ in got]}")
    finally:
        streaming.close()
        engine.close()
        db.close()
    texts = [t for t, _ in got]
    assert texts[0] == "phase start: baseline"
    assert "phase end: baseline" in texts
    assert "phase start: train" in texts
    assert any(t.startswith("threshold: ") and "uV (start)" in t for t in texts)
    assert texts[-1] == "session end"
    stamps = [s for _, s in got]
    assert stamps == sorted(stamps)
    fs = engine.info.fs_hz  # type: ignore[union-attr]
    start = got[texts.index("phase start: train")][1]
    # the training phase starts 5 s of samples after the baseline did
    assert start - got[0][1] == pytest.approx(5.0, abs=2.0 / fs)
