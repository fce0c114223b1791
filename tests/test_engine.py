"""Engine: device thread -> pipeline -> ring buffers and sinks; settings swap between chunks."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from biofeedback.core.types import ChannelInfo, ChannelKind, Chunk, Flag, StreamInfo
from biofeedback.devices.base import DeviceState, ThreadedDevice
from biofeedback.dsp.pipeline import Pipeline, PipelineSettings
from biofeedback.engine import Engine


class ArrayDevice(ThreadedDevice):
    """Plays a fixed array in chunks as fast as possible (a finite, non-real-time source)."""

    scheme = "array"

    def __init__(self, samples: np.ndarray, fs_hz: float = 1000.0, chunk: int = 37) -> None:
        super().__init__("array://test")
        self.samples = samples
        self.fs_hz = fs_hz
        self.chunk = chunk

    def open(self) -> StreamInfo:
        self.info = StreamInfo(
            self.fs_hz,
            (ChannelInfo("emg", ChannelKind.RAW, 1.0, 1.0),),
            units="uV",
            realtime=False,
        )
        return self.info

    def _run(self) -> bool:
        for start in range(0, len(self.samples), self.chunk):
            if self._stop_event.is_set():
                return False
            self._emit(Chunk(start, self.samples[start : start + self.chunk, None]))
        return True


def test_engine_output_equals_offline_pipeline_and_fills_buffers():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 10.0, 5000)
    engine = Engine(ArrayDevice(x), buffer_s=10.0)
    got = []
    engine.add_sink(lambda chunk, out: got.append(out.envelope_uv[:, 0].copy()))
    with engine:
        engine.start()
        assert engine.wait(10)
    offline = Pipeline(engine.info, PipelineSettings()).process(Chunk(0, x[:, None]))
    np.testing.assert_allclose(np.concatenate(got), offline.envelope_uv[:, 0], rtol=1e-12)
    assert engine.raw.end_index == 5000
    _, rows = engine.processed.read_last(5000)
    np.testing.assert_allclose(rows["envelope"][:, 0], offline.envelope_uv[:, 0], rtol=1e-12)
    assert engine.state == DeviceState.FINISHED


def test_max_samples_stops_exactly():
    engine = Engine(ArrayDevice(np.zeros(10_000)), buffer_s=20.0)
    with engine:
        engine.start(max_samples=1234)
        assert engine.wait(10)
    assert engine.stats.samples == 1234
    assert engine.raw.end_index == 1234


def test_a_failing_sink_is_counted_and_does_not_stop_acquisition():
    engine = Engine(ArrayDevice(np.zeros(2000)), buffer_s=5.0)

    def bad_sink(chunk, out):
        raise RuntimeError("consumer bug")

    engine.add_sink(bad_sink)
    with engine:
        engine.start()
        assert engine.wait(10)
    assert engine.stats.samples == 2000
    assert engine.stats.sink_errors > 0
    assert "consumer bug" in engine.sink_error


def test_settings_swap_happens_between_chunks():
    x = np.random.default_rng(1).normal(0, 5.0, 4000)
    device = ArrayDevice(x, chunk=100)
    engine = Engine(device, buffer_s=10.0)
    windows = []
    swapped = threading.Event()

    def sink(chunk, out):
        windows.append(engine.pipeline.settings.rms_window_s)
        if chunk.first_index == 1000 and not swapped.is_set():
            engine.set_settings(PipelineSettings(rms_window_s=0.2))
            swapped.set()

    engine.add_sink(sink)
    with engine:
        engine.start()
        assert engine.wait(10)
    assert windows[:11] == [0.1] * 11
    assert set(windows[11:]) == {0.2}


def test_sim_source_by_url_streams_through_the_engine():
    engine = Engine("sim://?scenario=steady&level_uv=20&board=12bit&speed=max", buffer_s=5.0)
    with engine:
        engine.start(max_samples=3000)
        assert engine.wait(20)
        reader = engine.processed.reader(from_start=True)
        first, rows = reader.read()
    assert first == 0 and len(rows) == 3000
    env = rows["envelope"][1000:, 0]
    assert np.nanmean(env) == pytest.approx(20.0, rel=0.1)


class JumpyDevice(ArrayDevice):
    """Skips 500 samples of index after the first chunk, then restarts at 0 (a reboot)."""

    def _run(self) -> bool:
        x = self.samples
        self._emit(Chunk(0, x[:100, None]))
        self._emit(Chunk(600, x[100:200, None]))
        self._emit(Chunk(0, x[200:300, None]))
        return True


def test_index_jumps_keep_the_buffers_contiguous():
    engine = Engine(JumpyDevice(np.ones(300)), buffer_s=5.0)
    seen = []
    engine.add_sink(lambda chunk, out: seen.append(chunk.first_index))
    with engine:
        engine.start()
        assert engine.wait(10)
    assert seen == [0, 600, 0]
    assert engine.stats.filled_samples == 500
    assert engine.stats.index_restarts == 1
    assert engine.raw.end_index == 100 and engine.processed.end_index == 100


def test_forward_gap_is_filled_with_missing_rows():
    class GapDevice(ArrayDevice):
        def _run(self) -> bool:
            self._emit(Chunk(0, self.samples[:100, None]))
            self._emit(Chunk(150, self.samples[100:200, None]))
            return True

    engine = Engine(GapDevice(np.ones(200)), buffer_s=5.0)
    with engine:
        engine.start()
        assert engine.wait(10)
    first, rows = engine.processed.read_range(0, 250)
    assert first == 0 and len(rows) == 250
    assert np.all(rows["flags"][100:150, 0] & Flag.MISSING)
    assert np.all(np.isnan(engine.raw.read_range(100, 150)[1]))
