"""LSL out: a pylsl inlet receives the raw and envelope streams (>= 99 % of a 10 s stream, at the
stream's rate, stamped on the sample clock) and the markers stream (phase changes, targets, user
markers). LSL stays on loopback (tests/conftest.py)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable

import numpy as np
import pylsl
import pytest

from biofeedback.engine import Engine
from biofeedback.interop.lsl_outlet import ENVELOPE_NAME, MARKERS_NAME, RAW_NAME, source_id
from biofeedback.interop.streaming import Streaming, StreamingOptions
from biofeedback.storage.export import raw_uv
from biofeedback.training.runner import EventType, RunnerEvent

#: 10 s of signal in about 1 s.
SIM = "sim://?scenario=relax&seed=3&speed=10"


def _inlet(name: str) -> pylsl.StreamInlet:
    found = pylsl.resolve_byprop("name", name, 1, 10.0)
    assert found, f"LSL stream {name} not found"
    inlet = pylsl.StreamInlet(found[0], max_buflen=60)
    inlet.open_stream(timeout=10.0)
    return inlet


class Collected:
    def __init__(self) -> None:
        self.rows: list[list[float]] = []
        self.stamps: list[float] = []

    def pull(self, inlet: pylsl.StreamInlet) -> None:
        rows, stamps = inlet.pull_chunk(timeout=0.0, max_samples=100_000)
        self.rows.extend(rows)
        self.stamps.extend(stamps)


@pytest.fixture
def streaming_engine() -> tuple[Engine, Streaming]:
    engine = Engine(SIM)
    engine.open()
    streaming = Streaming(StreamingOptions(lsl=True))
    streaming.attach(engine)
    yield engine, streaming
    streaming.close()
    engine.close()


def test_an_inlet_receives_the_raw_and_envelope_of_a_10_s_stream_at_its_rate(
    streaming_engine: tuple[Engine, Streaming], wait_for: Callable[..., None]
) -> None:
    engine, streaming = streaming_engine
    info = engine.info
    assert info is not None
    fs = info.fs_hz
    total = round(10.0 * fs)
    raw_in, env_in = _inlet(RAW_NAME), _inlet(ENVELOPE_NAME)
    raw, env = Collected(), Collected()
    engine.start(max_samples=total)

    def received() -> bool:
        raw.pull(raw_in)
        env.pull(env_in)
        return len(raw.rows) >= total and len(env.rows) >= total

    wait_for(received, 30, lambda: f"raw {len(raw.rows)}, envelope {len(env.rows)} of {total}")
    assert engine.wait(10)
    assert len(raw.rows) >= 0.99 * total and len(env.rows) >= 0.99 * total
    assert streaming.stats()["lsl"]["raw_samples"] == total
    # the right rate: declared, and in the timestamps (sample clock: exactly 1/fs apart)
    assert raw_in.info().nominal_srate() == pytest.approx(fs)
    for got in (raw, env):
        steps = np.diff(got.stamps)
        assert np.median(steps) == pytest.approx(1.0 / fs, rel=1e-6)
        assert np.all(np.abs(steps - 1.0 / fs) < 1e-6)
    # uV at the electrodes, per input channel, as the CSV export writes them; envelope per output
    assert np.asarray(raw.rows).shape[1] == info.n_channels
    assert engine.pipeline is not None
    assert np.asarray(env.rows).shape[1] == len(engine.pipeline.outputs)
    assert engine.raw is not None
    _, stored = engine.raw.read_last(100)
    expected = raw_uv(info, stored)
    np.testing.assert_allclose(np.asarray(raw.rows[-100:]), expected, rtol=1e-5, atol=1e-3)


def test_the_stream_descriptions_name_channels_units_and_type(
    streaming_engine: tuple[Engine, Streaming],
) -> None:
    engine, _ = streaming_engine
    info = engine.info
    assert info is not None
    inlet = _inlet(RAW_NAME)
    full = inlet.info(timeout=10.0)
    assert full.type() == "EMG"
    assert full.channel_format() == pylsl.cf_float32
    assert full.source_id() == source_id(
        "raw", engine.device.url, [c.name for c in info.channels], info.fs_hz
    )
    root = ET.fromstring(full.as_xml())
    channels = root.findall("./desc/channels/channel")
    assert [c.findtext("label") for c in channels] == [c.name for c in info.channels]
    assert {c.findtext("unit") for c in channels} == {"microvolts"}
    assert {c.findtext("type") for c in channels} == {"EMG"}
    env = _inlet(ENVELOPE_NAME).info(timeout=10.0)
    assert env.type() == "EMG" and env.nominal_srate() == pytest.approx(info.fs_hz)
    env_root = ET.fromstring(env.as_xml())
    assert "moving RMS" in (env_root.findtext("./desc/processing") or "")
    markers = _inlet(MARKERS_NAME).info(timeout=10.0)
    assert markers.type() == "Markers"
    assert markers.channel_format() == pylsl.cf_string
    assert markers.nominal_srate() == pylsl.IRREGULAR_RATE


def test_markers_go_out_stamped_at_their_sample(
    streaming_engine: tuple[Engine, Streaming], wait_for: Callable[..., None]
) -> None:
    engine, streaming = streaming_engine
    inlet = _inlet(MARKERS_NAME)
    engine.start(max_samples=2000)
    assert engine.wait(20)
    clock = streaming.clock
    assert clock is not None and clock.anchored
    streaming.on_event(
        RunnerEvent(EventType.PHASE_STARTED, 500, 0.5, 0, {"name": "Baseline", "index": 0})
    )
    streaming.on_event(
        RunnerEvent(
            EventType.THRESHOLD_CHANGED,
            900,
            0.9,
            0,
            {"new_uv": 4.2, "old_uv": None, "source": "start", "sample_index": 900},
        )
    )
    streaming.marker("marker: electrode moved", 1500)
    got: list[tuple[str, float]] = []

    def three() -> bool:
        sample, stamp = inlet.pull_sample(timeout=0.0)
        if sample is not None:
            got.append((sample[0], stamp))
        return len(got) >= 3

    wait_for(three, 15, lambda: f"markers received: {got}")
    assert [text for text, _ in got] == [
        "phase start: Baseline",
        "threshold: 4.20 uV (start)",
        "marker: electrode moved",
    ]
    for (_, stamp), index in zip(got, (500, 900, 1500), strict=True):
        assert stamp == pytest.approx(clock.time_of(index), abs=1e-6)


def test_a_failing_outlet_is_detached_and_said_once_while_the_stream_goes_on(
    wait_for: Callable[..., None],
) -> None:
    problems: list[str] = []
    engine = Engine("sim://?scenario=relax&seed=3&speed=max")
    engine.open()
    streaming = Streaming(StreamingOptions(lsl=True), on_problem=problems.append)
    streaming.attach(engine)
    assert streaming.lsl is not None

    class Broken:
        def push_chunk(self, *_args: object) -> None:
            raise RuntimeError("the network is gone")

    streaming.lsl._raw = Broken()
    try:
        engine.start(max_samples=3000)
        assert engine.wait(20)
    finally:
        streaming.close()
        engine.close()
    assert engine.fault is None  # not essential: acquisition went on to the end
    assert engine.stats.samples == 3000
    assert len(problems) == 1
    assert "LSL streaming stopped" in problems[0] and "goes on" in problems[0]
