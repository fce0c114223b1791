"""Moving sums without drift, moving RMS, unit conversion, quadrature correction."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from biofeedback.dsp.envelope import (
    MovingSum,
    counts_to_uv,
    linear_envelope,
    moving_rms,
    quadrature_correct,
)


def brute_moving_sum(q: np.ndarray, w: int) -> np.ndarray:
    """[n, cols] moving sums in extended precision."""
    c = np.concatenate([np.zeros((1, q.shape[1])), np.cumsum(q, axis=0, dtype=np.longdouble)])
    idx = np.arange(q.shape[0])
    lo = np.maximum(idx - w + 1, 0)
    return (c[idx + 1] - c[lo]).astype(float)


@pytest.mark.parametrize("w", [1, 2, 7, 100])
def test_moving_sum_matches_brute_force(w: int) -> None:
    rng = np.random.default_rng(w)
    q = rng.random((2000, 3)) * np.exp(rng.standard_normal((2000, 3)))
    out = MovingSum(w, 3).process(q)
    assert np.allclose(out, brute_moving_sum(q, w), rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    w=st.integers(1, 60),
    sizes=st.lists(st.integers(0, 150), min_size=1, max_size=40),
    seed=st.integers(0, 2**16),
)
def test_moving_sum_is_bit_identical_for_any_chunking(w: int, sizes: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = sum(sizes)
    q = rng.random((n, 2)) ** 4 * 1e3
    whole = MovingSum(w, 2).process(q)
    m = MovingSum(w, 2)
    parts, i = [], 0
    for k in sizes:
        parts.append(m.process(q[i : i + k]))
        i += k
    assert np.array_equal(np.concatenate(parts), whole)


def test_no_drift_after_a_long_stream_with_huge_values() -> None:
    """A running float sum would lose the rest level after hours of bursts; ours forgets
    everything older than two windows (rounding is bounded by what the last two held)."""
    w = 200
    m = MovingSum(w, 1)
    rng = np.random.default_rng(3)
    for _ in range(50):  # a million samples of (1 mV)^2 bursts
        m.process(rng.random((20_011, 1)) * 1e6)
    rest = rng.random((2000, 1)) * 1e-2  # (0.1 uV)^2, starting mid-window
    out = m.process(rest)[:, 0]
    exact = brute_moving_sum(rest, w)[:, 0]
    assert np.allclose(out[2 * w :], exact[2 * w :], rtol=1e-12)
    burst_window = 1e6 * w
    assert np.abs(out[w : 2 * w] - exact[w : 2 * w]).max() < 1e-15 * burst_window


def test_moving_rms_and_gaps() -> None:
    x = np.ones(10) * 3.0
    x[4] = np.nan
    r = moving_rms(x, 3)
    assert np.allclose(r, 3.0)
    y = np.full((6, 2), np.nan)
    y[:2] = [[1.0, 2.0], [1.0, 2.0]]
    r2 = moving_rms(y, 2)
    assert np.allclose(r2[:3], [[1, 2]] * 3) and np.isnan(r2[4:]).all()
    t = np.arange(4000) / 1000
    s = np.sin(2 * np.pi * 50 * t) * 10
    assert moving_rms(s, 100)[-1] == pytest.approx(10 / np.sqrt(2), rel=1e-6)


def test_units_and_quadrature() -> None:
    assert counts_to_uv(np.array([2048.0, 2049.0]), 4.0, offset=2048) == pytest.approx([0, 4])
    assert quadrature_correct(np.array([5.0]), 3.0) == pytest.approx([4.0])
    assert quadrature_correct(np.array([2.0, 0.5]), 3.0).tolist() == [0.0, 0.0]
    assert quadrature_correct(np.array([3.0, 4.0]), np.array([0.0, 0.0])).tolist() == [3, 4]


def test_linear_envelope_is_zero_phase() -> None:
    fs = 1000
    t = np.arange(4000) / fs
    burst = np.exp(-(((t - 2.0) / 0.2) ** 2))
    x = np.random.default_rng(0).standard_normal(len(t)) * burst
    env = linear_envelope(x, fs)
    assert abs(t[np.argmax(env)] - 2.0) < 0.03
