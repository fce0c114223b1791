"""EnvelopeStats: streaming, constant-memory statistics that match the exact ones."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from biofeedback.core.types import Chunk, Flag, ProcessedChunk
from biofeedback.engine import EnvelopeStats

FS = 1000.0


def _feed(stats: EnvelopeStats, env: np.ndarray, flags: np.ndarray, chunk: int, first: int = 0):
    """Feed ``env`` [n, k] to ``stats`` in chunks of ``chunk`` samples starting at ``first``."""
    n, k = env.shape
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        raw = Chunk(first + a, np.zeros((b - a, k)), np.zeros(b - a, dtype=np.uint16))
        out = ProcessedChunk(first + a, np.zeros((b - a, k)), env[a:b], flags[a:b])
        stats.add(raw, out)


def _exact_median(stats: EnvelopeStats, env: np.ndarray, flags: np.ndarray, first: int = 0):
    """np.median over the unflagged, finite values on the 10 ms grid, per channel."""
    offset = (-first) % stats.decimate
    dec, fl = env[offset :: stats.decimate], flags[offset :: stats.decimate]
    good = (fl == 0) & np.isfinite(dec)
    return np.array([np.median(dec[good[:, k], k]) for k in range(env.shape[1])])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_median_matches_numpy_within_the_stated_resolution(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 300_000  # 5 minutes at 1 kHz: 30,000 values per channel on the 10 ms grid
    scales = np.array([0.05, 3.0, 250.0, 40_000.0])  # four channels, 0.05 uV .. 40 mV
    env = rng.lognormal(0.0, 1.0, (n, 4)) * scales
    flags = np.zeros((n, 4), dtype=np.uint16)
    bad = rng.random((n, 4)) < 0.1
    flags[bad] = int(Flag.CLIPPED)
    env[bad] = 1e9  # flagged values must not count
    env[rng.random((n, 4)) < 0.01] = np.nan  # nor non-finite ones
    env[rng.random((n, 4)) < 0.001] = np.inf
    stats = EnvelopeStats(4, FS)
    _feed(stats, env, flags, chunk=int(rng.integers(10, 60)), first=13)
    got, want = stats.median(), _exact_median(stats, env, flags, first=13)
    np.testing.assert_allclose(got, want, rtol=0.005)


def test_median_of_few_values_and_of_zeros() -> None:
    stats = EnvelopeStats(2, FS)
    env = np.zeros((4000, 2))
    env[:, 1] = np.repeat([2.0, 7.0, 3.0, 100.0], 1000)  # values on the 10 ms grid: 2, 7, 3, 100
    _feed(stats, env, np.zeros((4000, 2), dtype=np.uint16), chunk=10)
    got = stats.median()
    assert got[0] == 0.0  # a flat zero envelope has median 0, not the lowest bin
    assert got[1] == pytest.approx(5.0, rel=0.005)  # (3 + 7) / 2, as np.median


def test_median_beyond_the_histogram_is_the_nearest_value_seen() -> None:
    stats = EnvelopeStats(2, FS)
    env = np.empty((3000, 2))
    env[:, 0] = np.repeat([0.002, 0.004, 0.003], 1000)  # all below 0.01 uV
    env[:, 1] = np.repeat([3e5, 2e5, 5e5], 1000)  # all above 100 mV
    _feed(stats, env, np.zeros((3000, 2), dtype=np.uint16), chunk=10)
    assert stats.median().tolist() == [0.004, 2e5]


def test_median_is_nan_without_unflagged_values() -> None:
    stats = EnvelopeStats(1, FS)
    _feed(stats, np.ones((100, 1)), np.full((100, 1), int(Flag.MISSING), np.uint16), chunk=10)
    assert np.isnan(stats.median()[0])
    assert np.isnan(stats.mean()[0])


def test_chunking_does_not_change_the_median() -> None:
    rng = np.random.default_rng(5)
    env = rng.lognormal(1.0, 0.5, (50_000, 2))
    flags = np.zeros((50_000, 2), dtype=np.uint16)
    medians = []
    for chunk in (10, 37, 1000):
        stats = EnvelopeStats(2, FS)
        _feed(stats, env, flags, chunk=chunk)
        medians.append(stats.median())
    np.testing.assert_array_equal(medians[0], medians[1])
    np.testing.assert_array_equal(medians[0], medians[2])


def test_memory_does_not_grow_with_the_length_of_the_session() -> None:
    """10 ms chunks: memory after 8x more chunks is the same."""
    stats = EnvelopeStats(3, FS)
    rng = np.random.default_rng(9)
    raw = Chunk(0, np.zeros((10, 3)), np.zeros(10, dtype=np.uint16))
    flags = np.zeros((10, 3), dtype=np.uint16)
    env = rng.lognormal(1.0, 1.0, (10, 3))

    def run(first: int, n_chunks: int) -> None:
        for i in range(first, first + n_chunks):
            stats.add(raw, ProcessedChunk(i * 10, env, env * rng.random(), flags))

    tracemalloc.start()
    try:
        run(0, 1_000)  # 10 s of signal
        before = tracemalloc.get_traced_memory()[0]
        run(1_000, 8_000)  # 80 s more
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # the old per-chunk arrays took ~3 MB for these 8,000 chunks
    assert grown < 20_000, f"EnvelopeStats grew by {grown} bytes over 8,000 chunks"
    assert stats.median()[0] > 0
