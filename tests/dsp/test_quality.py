"""Quality detectors in isolation (the pipeline tests cover them in context)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from biofeedback.core.types import Flag
from biofeedback.dsp.quality import ClipDetector, GapTracker, QualitySummary, run_lengths


def test_run_lengths_with_carry() -> None:
    cond = np.array([[True, True, False, True, True, True]])
    runs, carry = run_lengths(cond, np.array([5]))
    assert runs.tolist() == [[6, 7, 0, 1, 2, 3]]
    assert carry.tolist() == [3]


@settings(max_examples=40, deadline=None)
@given(bits=st.lists(st.booleans(), min_size=1, max_size=300), cuts=st.lists(st.integers(0, 40)))
def test_run_lengths_chunk_invariant(bits: list[bool], cuts: list[int]) -> None:
    cond = np.array([bits])
    whole, _ = run_lengths(cond, np.zeros(1, np.int64))
    carry = np.zeros(1, np.int64)
    parts, i = [], 0
    for k in [*cuts, len(bits)]:
        runs, carry = run_lengths(cond[:, i : i + k], carry)
        parts.append(runs)
        i += k
        if i >= len(bits):
            break
    assert np.array_equal(np.concatenate(parts, axis=1), whole[:, : sum(p.shape[1] for p in parts)])


def test_clip_detector_holds_the_flag_for_the_blanking_time() -> None:
    full = 4095.0
    det = ClipDetector(np.array([full / 2]), np.array([(0.5 - 0.02) * full]), blank=50)
    x = np.full((200, 1), 2048.0)
    x[10, 0] = 4095  # one sample at the rail
    x[20, 0] = 0.5 * 0.02 * full  # within 2 % of the lower rail
    x[30, 0] = np.nan  # missing: never clipped
    clean, dev = det.clean(x)
    assert not clean
    flags = det.process(dev, 1000)[0]
    assert not flags[:10].any()
    assert flags[10:71].all()  # 20 + 50 blanking
    assert not flags[71:].any()
    # the hold carries across blocks
    det2 = ClipDetector(det.mid, det.half, blank=50)
    a = det2.process(det2.clean(x[:15])[1], 1000)
    b = det2.process(det2.clean(x[15:])[1], 1015)
    assert np.array_equal(np.concatenate([a, b], axis=1)[0], flags)
    assert det2.clean(np.full((5, 1), 2048.0))[0]


def test_gap_tracker_holds_values_and_restarts_after_long_gaps() -> None:
    g = GapTracker(1, reset_len=3)
    x = np.array([[1.0, 2.0, np.nan, np.nan, 5.0, np.nan, np.nan, np.nan, np.nan, 9.0]])
    valid = np.isfinite(x)
    restarts = g.process(x, valid)
    assert x.tolist() == [[1, 2, 2, 2, 5, 5, 5, 5, 5, 9]]
    assert restarts == {0: [0, 9]}  # first sample, and after the 4-sample gap
    assert g.settled
    y = np.array([[np.nan, np.nan, np.nan]])
    assert g.process(y, np.isfinite(y)) == {}
    assert y.tolist() == [[9, 9, 9]] and not g.settled
    z = np.array([[np.nan, 4.0]])
    assert g.process(z, np.isfinite(z)) == {0: [1]}  # the gap of 4 spanned two blocks


def test_quality_summary_fractions() -> None:
    q = QualitySummary(["a", "b"], np.array([0]))
    flags = np.zeros((10, 2), np.uint16)
    flags[:5, 0] = Flag.MAINS
    flags[:2, 1] = Flag.MISSING | Flag.SETTLING
    q.update(flags)
    q.add_mains(np.array([[1.0, 3.0]]), np.array([[4.0, 4.0]]))
    d = q.as_dict()
    assert d["samples"] == 10
    assert d["fraction"]["mains"] == [0.5, 0.0]
    assert d["fraction"]["gap"] == [0.0, 0.2]
    assert d["fraction"]["any"] == [0.5, 0.2]
    assert d["mains_ratio_last"] == [0.75, None]
    assert d["mains_ratio_mean"] == [0.5, None]
