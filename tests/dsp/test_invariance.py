"""Streaming equals offline: any chunking gives the same output as one call (docs/signal-processing.md).

The pipeline is built to be bit-identical; the property asserted is the specified one, 1e-9
relative, plus identical flags and NaN positions.
"""

from __future__ import annotations

import numpy as np
from emg_signals import band_noise, myoware_counts, myoware_info
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from biofeedback.core.types import Chunk, Flag
from biofeedback.dsp.pipeline import Pipeline, PipelineSettings

N = 3000  # 3 s at 1 kHz: long enough for every detector's windows and holds


def _stream(seed: int, gaps: list[tuple[int, int]], hum: bool) -> tuple[np.ndarray, np.ndarray]:
    info = myoware_info("uno", "raw,env,ref", fs_hz=1000.0)
    rng = np.random.default_rng(seed)
    t = np.arange(N) / 1000.0
    level = 30 + 300 * ((t > 0.3) & (t < 0.5))  # a burst for the motion rule
    emg = band_noise(N, 1000.0, rng) * level
    if hum:
        emg = emg + 150 * np.sin(2 * np.pi * 50 * t)
    x = myoware_counts(info, emg, rng, adc_noise_lsb=0.5)
    x[2800:2820, 0] = 1023  # clipping
    flags = np.zeros(N, np.uint16)
    for start, length in gaps:
        if start % 2:
            x[start : start + length] = np.nan
        else:
            flags[start : start + length] |= np.uint16(Flag.MISSING)
    x[700:710, 1] = np.nan  # one channel only
    return x, flags


def _run(p: Pipeline, x: np.ndarray, flags: np.ndarray, cuts: list[int]):
    outs = []
    i = 0
    for k in cuts:
        if i >= N:
            break
        outs.append(p.process(Chunk(i, x[i : i + k], flags[i : i + k])))
        i += k
    if i < N:
        outs.append(p.process(Chunk(i, x[i:], flags[i:])))
    return (
        np.concatenate([o.signal_uv for o in outs]),
        np.concatenate([o.envelope_uv for o in outs]),
        np.concatenate([o.flags for o in outs]),
    )


def _assert_same(a: np.ndarray, b: np.ndarray) -> None:
    assert np.array_equal(np.isnan(a), np.isnan(b))
    fin = ~np.isnan(a)
    np.testing.assert_allclose(a[fin], b[fin], rtol=1e-9, atol=1e-12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**16),
    cuts=st.lists(st.one_of(st.just(1), st.integers(0, 40), st.integers(41, 700)), max_size=60),
    gaps=st.lists(st.tuples(st.integers(0, N - 300), st.integers(1, 200)), max_size=3),
    hum=st.booleans(),
    mains=st.sampled_from([50.0, 60.0, None, "auto"]),  # 60: hum at the frequency not notched
)
def test_chunked_equals_whole(seed, cuts, gaps, hum, mains) -> None:
    x, flags = _stream(seed, gaps, hum)
    info = myoware_info("uno", "raw,env,ref", fs_hz=1000.0)
    s = PipelineSettings(mains_hz=mains, auto_mains_after_s=0.5)
    whole = Pipeline(info, s).process(Chunk(0, x, flags))
    sig, env, fl = _run(Pipeline(info, s), x, flags, cuts)
    _assert_same(sig, whole.signal_uv)
    _assert_same(env, whole.envelope_uv)
    assert np.array_equal(fl, whole.flags)


def test_single_sample_chunks_over_gaps_and_every_flag() -> None:
    x, flags = _stream(7, [(900, 120), (1901, 30)], hum=True)
    info = myoware_info("uno", "raw,env,ref", fs_hz=1000.0)
    whole = Pipeline(info).process(Chunk(0, x, flags))
    sig, env, fl = _run(Pipeline(info), x, flags, [1] * N)
    _assert_same(sig, whole.signal_uv)
    _assert_same(env, whole.envelope_uv)
    assert np.array_equal(fl, whole.flags)
    seen = np.bitwise_or.reduce(whole.flags, axis=None)
    for bit in (Flag.MISSING, Flag.CLIPPED, Flag.MAINS, Flag.MOTION, Flag.SETTLING):
        assert seen & bit, bit  # the stream exercises each detector


def test_gap_right_after_one_sample_chunks_holds_the_last_value() -> None:
    # Regression: blocks taking the gap-free fast path must still update the held value, so a
    # gap that starts the next block holds the same sample as one call on the whole array.
    x, flags = _stream(0, [(2, 1)], False)
    info = myoware_info("uno", "raw,env,ref", fs_hz=1000.0)
    s = PipelineSettings(mains_hz=50.0)
    whole = Pipeline(info, s).process(Chunk(0, x, flags))
    sig, env, fl = _run(Pipeline(info, s), x, flags, [1, 1])
    _assert_same(sig, whole.signal_uv)
    _assert_same(env, whole.envelope_uv)
    assert np.array_equal(fl, whole.flags)
