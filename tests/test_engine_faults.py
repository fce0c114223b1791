"""Engine consumers that fail: reported as faults (never a silent counter), removed, and an
essential one (recorder, runner) stops acquisition."""

from __future__ import annotations

import logging

import numpy as np

from biofeedback.devices.base import DeviceState, DeviceStatus
from biofeedback.engine import Engine, EngineFault
from biofeedback.errors import StorageError
from test_engine import ArrayDevice


def run(engine: Engine) -> None:
    with engine:
        engine.start()
        assert engine.wait(10)


def test_an_essential_sink_failure_stops_acquisition_and_is_reported():
    engine = Engine(ArrayDevice(np.zeros(20_000), chunk=100), buffer_s=30.0)
    faults: list[EngineFault] = []
    seen: list[int] = []

    def recorder(chunk, out):
        seen.append(chunk.first_index)
        if chunk.first_index >= 1000:
            raise StorageError("the disk is full: free some space")

    engine.add_sink(recorder, name="the recorder", essential=True)
    engine.add_fault_listener(faults.append)
    run(engine)
    assert faults == [EngineFault("the recorder", "the disk is full: free some space", True)]
    assert engine.fault == faults[0]
    assert seen[-1] == 1000  # called no more after it failed
    assert engine.stats.samples < 20_000  # acquisition stopped


def test_a_failing_optional_sink_is_detached_reported_once_and_acquisition_goes_on(caplog):
    engine = Engine(ArrayDevice(np.zeros(5000), chunk=100), buffer_s=10.0)
    faults: list[EngineFault] = []
    calls: list[int] = []

    def buggy(chunk, out):
        calls.append(1)
        raise KeyError("channel")

    engine.add_sink(buggy, name="the meter")
    engine.add_fault_listener(faults.append)
    with caplog.at_level(logging.ERROR, logger="biofeedback.engine"):
        run(engine)
    assert len(calls) == 1 and len(faults) == 1 and not faults[0].fatal
    assert "KeyError" in faults[0].message and "bug" in faults[0].message
    assert engine.fault is None and engine.stats.samples == 5000
    assert any("the meter failed" in r.getMessage() for r in caplog.records)
    assert caplog.records[0].exc_info is not None  # the traceback is in the log


def test_a_broken_listener_is_logged_and_the_others_still_hear(caplog):
    engine = Engine(ArrayDevice(np.zeros(10)), buffer_s=1.0)
    heard: list[DeviceStatus] = []

    def broken(status):
        raise RuntimeError("listener bug")

    engine.add_status_listener(broken)
    engine.add_status_listener(heard.append)
    with caplog.at_level(logging.ERROR, logger="biofeedback.engine"):
        engine._on_status(DeviceStatus(DeviceState.ERROR, "gone"))
    assert heard and heard[0].message == "gone"
    assert any("status listener failed" in r.getMessage() for r in caplog.records)
