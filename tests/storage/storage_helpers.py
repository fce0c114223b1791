"""Synthetic streams for storage, report and CLI tests (imported by path from other test dirs)."""

from __future__ import annotations

import numpy as np

from biofeedback.core.hardware import MYOWARE_RAW_GAIN, myoware_env_gain
from biofeedback.core.types import ChannelInfo, ChannelKind, Chunk, StreamInfo, counts_to_uv_scale


def myoware_info(fs_hz: float = 1000.0, realtime: bool = False) -> StreamInfo:
    """RAW, ENV, REF from a 12-bit 3.3 V board, as the simulator and boards describe it."""
    raw = counts_to_uv_scale(3.3, 12, MYOWARE_RAW_GAIN)
    env_gain = myoware_env_gain()
    return StreamInfo(
        fs_hz=fs_hz,
        channels=(
            ChannelInfo("trapezius L", ChannelKind.RAW, MYOWARE_RAW_GAIN, raw, 0),
            ChannelInfo(
                "trapezius L env",
                ChannelKind.ENV,
                env_gain,
                counts_to_uv_scale(3.3, 12, env_gain),
                1,
            ),
            ChannelInfo("ref", ChannelKind.REF, MYOWARE_RAW_GAIN, raw, 2),
        ),
        adc_bits=12,
        vref_v=3.3,
        units="counts",
        board="12bit",
        device="test",
        realtime=realtime,
    )


def synthetic_counts(n: int, seed: int = 0, start: int = 0) -> np.ndarray:
    """Integer ADC codes shaped like RAW (noise around mid-scale), ENV (slow) and REF."""
    rng = np.random.default_rng(seed)
    t = np.arange(start, start + n)
    raw = 2048 + np.round(rng.normal(0, 6, n) * (1 + 0.5 * np.sin(t / 700)))
    env = np.round(40 + 30 * np.abs(np.sin(t / 900)) + rng.normal(0, 1, n))
    ref = 2048 + np.round(rng.normal(0, 0.3, n))
    return np.clip(np.stack([raw, env, ref], axis=1), 0, 4095)


def chunks_of(samples: np.ndarray, size: int, first_index: int = 0) -> list[Chunk]:
    """Cut samples into Chunks of ``size`` rows."""
    return [Chunk(first_index + a, samples[a : a + size]) for a in range(0, len(samples), size)]


def engine_envelope(
    source, settings=None, timeout_s: float = 120.0
) -> tuple[int, np.ndarray, np.ndarray]:
    """Run a source through the Engine (device thread + live pipeline) to its end.

    Returns (first_index, envelope_uv [n, k], flags [n, k]) as delivered to sinks.
    """
    from biofeedback.engine import Engine

    parts = []
    with Engine(source, settings) as engine:
        engine.add_sink(lambda chunk, processed: parts.append(processed))
        engine.start()
        assert engine.wait(timeout_s), "source did not finish"
    assert parts, "no data"
    env = np.concatenate([p.envelope_uv for p in parts])
    flags = np.concatenate([p.flags for p in parts])
    return parts[0].first_index, env, flags


def record_sim_session(
    db_path, url: str, seconds: float, subject: str | None = "P001", **meta
) -> int:
    """Record ``seconds`` of a simulator URL (speed=max) with Engine + Recorder; returns the id."""
    from biofeedback.engine import Engine
    from biofeedback.storage.database import Database
    from biofeedback.storage.recorder import Recorder

    db = Database(db_path)
    try:
        with Engine(url) as engine:
            info = engine.info
            sid = db.create_session(
                subject, meta.pop("protocol", "plain"), info, engine.settings.to_dict(), **meta
            )
            recorder = Recorder(db_path, sid, info)
            engine.add_sink(recorder.sink)
            engine.start(max_samples=round(seconds * info.fs_hz))
            assert engine.wait(300)
            engine.stop()
            recorder.close("complete")
    finally:
        db.close()
    return sid


def record_protocol_session(
    db_path, url: str, protocol: str, subject: str | None = "P001", **meta
) -> int:
    """Run a training protocol on a source (Engine + Recorder + SessionRunner, like ``record``)
    and store samples, phases, threshold log and summary; returns the session id."""
    import time

    from biofeedback.engine import Engine
    from biofeedback.storage.database import Database
    from biofeedback.storage.recorder import Recorder
    from biofeedback.training.protocol import load_protocol
    from biofeedback.training.runner import SessionRunner

    proto = load_protocol(protocol)
    db = Database(db_path)
    try:
        with Engine(url) as engine:
            info = engine.info
            sid = db.create_session(subject, proto.name, info, engine.settings.to_dict(), **meta)
            recorder = Recorder(db_path, sid, info)
            runner = SessionRunner(proto, info.fs_hz, noise_floor_uv=engine.pipeline.noise_floor_uv)
            engine.add_sink(recorder.sink)
            engine.add_sink(lambda chunk, p: runner.tick(p.first_index, p.envelope_uv, p.flags))
            engine.start()
            deadline = time.monotonic() + 600
            while not runner.finished and time.monotonic() < deadline:
                time.sleep(0.02)
            engine.stop()
            assert runner.finished, "protocol did not finish"
            summary = runner.summary()
            recorder.save_phases(
                [m.to_dict() for m in summary.phases], origin_index=summary.start_index
            )
            for change in summary.threshold_log:
                recorder.log_threshold(
                    change.sample_index, change.old_uv, change.new_uv, change.reason
                )
            stored = summary.to_dict()
            stored.pop("phases")
            stored.pop("threshold_log")
            recorder.close("complete", stored)
    finally:
        db.close()
    return sid
