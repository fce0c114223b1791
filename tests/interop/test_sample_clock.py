"""The sample clock <-> LSL time mapping: anchored once, so block arrival jitter never reaches the
timestamps; the newest block maps times when the source does not run in real time."""

from __future__ import annotations

import pytest

from biofeedback.core.types import Chunk
from biofeedback.interop.clock import SampleClock


class FakeNow:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _block(first: int, n: int = 10) -> Chunk:
    return Chunk(first, [[0.0]] * n)


def test_times_follow_the_sample_clock_whatever_the_arrival_jitter() -> None:
    now = FakeNow(100.0)
    clock = SampleClock(1000.0, now=now)
    assert not clock.anchored
    assert clock.time_of(5) == 100.0  # before the first block: now
    assert clock.index_of(100.0) is None
    clock.sink(_block(0), None)  # type: ignore[arg-type]
    # the newest sample of the first block (index 9) was measured at its arrival
    assert clock.time_of(9) == pytest.approx(100.0)
    assert clock.time_of(1009) == pytest.approx(101.0)
    now.t = 100.0 + 1.037  # a late block: the timestamps do not move
    clock.sink(_block(1000, 20), None)  # type: ignore[arg-type]
    assert clock.time_of(1009) == pytest.approx(101.0)
    assert clock.index_of(100.5) == 509


def test_a_source_faster_than_real_time_maps_times_by_its_newest_block() -> None:
    now = FakeNow(0.0)
    clock = SampleClock(1000.0, now=now)
    clock.sink(_block(0), None)  # type: ignore[arg-type]
    now.t = 1.0  # ten seconds of samples in one second
    clock.sink(_block(10_000), None)  # type: ignore[arg-type]
    assert clock.index_of(1.0) == 10_009
    assert clock.index_of(0.9) == 9_909
    assert clock.index_of(5.0) == 10_009  # never past the newest sample


def test_a_counter_that_restarts_re_anchors() -> None:
    now = FakeNow(0.0)
    clock = SampleClock(100.0, now=now)
    clock.sink(_block(5000), None)  # type: ignore[arg-type]
    now.t = 3.0
    clock.sink(_block(0), None)  # type: ignore[arg-type]
    assert clock.restarts == 1
    assert clock.time_of(9) == pytest.approx(3.0)
