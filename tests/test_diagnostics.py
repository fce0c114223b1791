"""biofeedback.diagnostics: the checks behind ``doctor`` and the window's "Check signal"."""

from __future__ import annotations

import pytest

from biofeedback.devices.base import DeviceStats
from biofeedback.diagnostics import (
    ROW_CHECKS,
    Diagnosis,
    LinkCounters,
    Row,
    Status,
    check_source,
    checklist,
)
from biofeedback.dsp.pipeline import PipelineSettings


def rows_by_name(diagnosis: Diagnosis) -> dict[str, Row]:
    return {row.check: row for row in diagnosis.rows()}


def test_a_clean_simulated_stream_passes_every_check() -> None:
    d = check_source("sim://?scenario=relax&seed=3&speed=max", PipelineSettings(), 2.0)
    assert d.ok and d.verdict.startswith("ok")
    rows = d.rows()
    assert [r.check for r in rows] == list(ROW_CHECKS)
    assert all(r.status != Status.FAIL for r in rows), rows
    assert d.checks is not None and d.checks.rate.received_samples == 2000
    by_name = rows_by_name(d)
    # speed=max is not real time: the rate check could not judge, and says why
    assert by_name["Sample rate"].status == Status.WARN
    assert "not a real-time source" in by_name["Sample rate"].advice
    assert by_name["Stream"].figure == "2000 samples in " + f"{d.checks.rate.seconds:g} s"


def test_mains_hum_fails_its_row_with_the_doctors_fix() -> None:
    d = check_source("sim://?scenario=relax&mains_uv=300&speed=max", PipelineSettings(), 3.0)
    assert not d.ok
    mains = rows_by_name(d)["Mains hum"]
    assert mains.status == Status.FAIL
    assert "strong mains hum" in mains.problem and "electrode contact" in mains.advice
    assert "hum / in-band power" in mains.figure
    assert rows_by_name(d)["Clipping"].status == Status.PASS


def test_a_sped_up_real_time_source_is_held_to_its_paced_rate() -> None:
    """speed=4 delivers 4000 samples/s of a 1000 Hz stream: that is on time, not too fast."""
    # 3 s: over a shorter stretch, scheduling jitter on a loaded machine can exceed the 3 %
    # tolerance (RATE_TOLERANCE)
    d = check_source("sim://?scenario=relax&seed=2&speed=4", PipelineSettings(), 3.0)
    assert d.checks is not None
    assert d.checks.rate.achieved_hz == pytest.approx(4000, rel=0.1)
    assert not [p for p in d.problems if p.check == "rate"], d.problems


def test_cannot_connect_gives_one_failed_row() -> None:
    d = check_source("sim://?scenario=nonsense", PipelineSettings(), 1.0)
    assert not d.connected and not d.ok and d.verdict == "cannot connect"
    assert d.to_dict().keys() == {"source", "verdict", "problems"}
    (row,) = checklist(d)
    assert row.status == Status.FAIL and "nonsense" in row.advice


def test_link_counters_count_only_what_happened_during_the_check() -> None:
    stats = DeviceStats(missing_samples=30, frame_errors=2, reconnects=1, extra={"lost_frames": 3})
    start = LinkCounters.of(stats)
    stats.missing_samples += 20
    stats.frame_errors += 1
    stats.extra["lost_frames"] = 5
    delta = LinkCounters.of(stats).since(start)
    assert delta == LinkCounters(
        frame_errors=1, lost_frames=2, missing_samples=20, overruns=0, reconnects=0, bytes=0
    )


def test_a_source_slower_than_its_paced_rate_fails_the_rate_row(monkeypatch) -> None:
    """Samples arriving at half the pace the source promises: the rate row fails with a fix."""
    from biofeedback.devices.simulated import SimulatedDevice

    # the simulator streams 1000 Hz in real time but claims twice that pace
    monkeypatch.setattr(
        SimulatedDevice, "paced_rate_hz", property(lambda self: 2 * self.info.fs_hz)
    )
    d = check_source("sim://?scenario=relax&seed=2", PipelineSettings(), 1.5)
    assert [p.check for p in d.problems] == ["rate"], d.problems
    (problem,) = d.problems
    assert "Hz achieved of 2000 Hz nominal" in problem.problem
    assert "not arriving in real time" in problem.fix
    assert rows_by_name(d)["Sample rate"].status == Status.FAIL
