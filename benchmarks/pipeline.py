"""DSP pipeline cost: live (targets <= 1 % of one core) and offline (>= 20x faster than NeuroKit2).

(a) Live: CPU seconds (``time.process_time``) per second of signal for ``Pipeline.process`` plus
    the raw and processed ring-buffer writes the engine does for every chunk, on synthetic ADC
    counts: 4 RAW channels (+ REF) of a 12-bit board at 2 kHz in 10 ms chunks (20 samples). Also
    reported for 2 RAW + 2 ENV. Each figure is the best of a few repeats (the machine is shared).
(b) Offline: the same 10 minutes of 1 kHz single-channel signal through our pipeline (one call)
    and through ``neurokit2.emg_process`` (skipped with a message when NeuroKit2 is missing);
    median of a few runs each, and their ratio.

    python benchmarks/pipeline.py [--live-seconds 20] [--repeats 5] [--offline-runs 3] [--nk-runs 3]

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings

import numpy as np

from biofeedback.core.hardware import MYOWARE_RAW_GAIN, board, myoware_env_gain
from biofeedback.core.ringbuffer import RingBuffer
from biofeedback.core.types import ChannelInfo, ChannelKind, Chunk, StreamInfo, counts_to_uv_scale
from biofeedback.dsp.pipeline import Pipeline
from biofeedback.engine import processed_dtype

FS_LIVE = 2000.0
CHUNK = 20  # 10 ms at 2 kHz


def live_stream(kinds: str, seconds: float, seed: int = 0) -> tuple[StreamInfo, np.ndarray]:
    """Counts a 12-bit MyoWare setup sends: RAW around mid-scale, ENV low, one REF column."""
    b = board("12bit")
    raw_scale = counts_to_uv_scale(b.vref_v, b.adc_bits, MYOWARE_RAW_GAIN)
    env_scale = counts_to_uv_scale(b.vref_v, b.adc_bits, myoware_env_gain())
    chans = [
        ChannelInfo(f"{k}{i}", ChannelKind.RAW if k == "r" else ChannelKind.ENV,
                    MYOWARE_RAW_GAIN if k == "r" else myoware_env_gain(),
                    raw_scale if k == "r" else env_scale)
        for i, k in enumerate(kinds)
    ]  # fmt: skip
    chans.append(ChannelInfo("ref", ChannelKind.REF, 1.0, 1.0))
    info = StreamInfo(FS_LIVE, tuple(chans), adc_bits=b.adc_bits, vref_v=b.vref_v, board=b.key)
    rng = np.random.default_rng(seed)
    n = int(seconds * FS_LIVE)
    emg_uv = rng.standard_normal((n, len(kinds))) * 20.0
    cols = []
    for j, k in enumerate(kinds):
        if k == "r":
            cols.append(np.round(2048 + emg_uv[:, j] / raw_scale))
        else:
            cols.append(np.round(np.abs(emg_uv[:, j]) * 0.8 / env_scale))
    cols.append(np.full(n, 2048.0))
    return info, np.column_stack(cols)


def live_cost(kinds: str, seconds: float, repeats: int) -> float:
    """Best-of-``repeats`` CPU percent of one core for pipeline + ring buffers."""
    info, samples = live_stream(kinds, seconds)
    chunks = [Chunk(i, samples[i : i + CHUNK]) for i in range(0, len(samples), CHUNK)]
    best = float("inf")
    for _ in range(repeats):
        pipeline = Pipeline(info)
        k = len(pipeline.outputs)
        capacity = int(60 * FS_LIVE)
        raw = RingBuffer(capacity, (info.n_channels,), np.float64)
        processed = RingBuffer(capacity, (), processed_dtype(k))
        t0 = time.process_time()
        for chunk in chunks:  # what Engine does per chunk
            out = pipeline.process(chunk)
            raw.write(chunk.samples, chunk.first_index)
            rows = np.empty(len(out), dtype=processed.dtype)
            rows["signal"] = out.signal_uv
            rows["envelope"] = out.envelope_uv
            rows["flags"] = out.flags
            processed.write(rows, out.first_index)
        cpu = time.process_time() - t0
        best = min(best, cpu / (len(samples) / FS_LIVE))
    return 100.0 * best


def offline_signal(minutes: float = 10.0, fs: float = 1000.0, seed: int = 1) -> np.ndarray:
    """Band-limited EMG-like noise in uV with slow on/off bursts (so activity detectors work)."""
    from scipy import signal

    rng = np.random.default_rng(seed)
    n = int(minutes * 60 * fs)
    sos = signal.butter(2, [20, 250], "bandpass", fs=fs, output="sos")
    carrier = signal.sosfilt(sos, rng.standard_normal(n))
    t = np.arange(n) / fs
    level = 3.0 + 60.0 * (np.sin(2 * np.pi * t / 10.0) > 0.6)
    return carrier / carrier.std() * level


def offline_ours(x_uv: np.ndarray, runs: int) -> float:
    info = StreamInfo(1000.0, (ChannelInfo("emg", ChannelKind.RAW, 1.0, 1.0),), units="uV")
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        Pipeline(info).process(Chunk(0, x_uv[:, None]))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def offline_neurokit(x_uv: np.ndarray, runs: int) -> float | None:
    if runs < 1:
        print("NeuroKit2 comparison skipped (--nk-runs 0)")
        return None
    try:
        import neurokit2 as nk
    except ImportError:
        print("NeuroKit2 is not installed (pip install neurokit2): offline comparison skipped")
        return None
    times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(runs):
            t0 = time.perf_counter()
            nk.emg_process(x_uv, sampling_rate=1000)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--live-seconds", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=5, help="live: best of this many runs")
    parser.add_argument("--offline-runs", type=int, default=3)
    parser.add_argument("--nk-runs", type=int, default=3)
    args = parser.parse_args()

    live4 = live_cost("rrrr", args.live_seconds, args.repeats)
    print(f"live, 4 RAW + REF @ 2 kHz, 10 ms chunks: {live4:.2f} % of one core (target <= 1 %)")
    live22 = live_cost("rree", args.live_seconds, args.repeats)
    print(f"live, 2 RAW + 2 ENV + REF @ 2 kHz, 10 ms chunks: {live22:.2f} % of one core")

    x = offline_signal()
    ours = offline_ours(x, args.offline_runs)
    print(f"offline, 10 min @ 1 kHz, our pipeline: {ours:.3f} s (median of {args.offline_runs})")
    nk_s = offline_neurokit(x, args.nk_runs)
    speedup = None
    if nk_s is not None:
        speedup = nk_s / ours
        print(f"offline, NeuroKit2 emg_process: {nk_s:.2f} s (median of {args.nk_runs})")
        print(f"speed-up vs NeuroKit2: {speedup:.0f}x (target >= 20x)")
    print(
        json.dumps(
            {
                "live_cpu_pct_one_core": round(live4, 3),
                "live_cpu_pct_one_core_2raw_2env": round(live22, 3),
                "offline_ours_s": round(ours, 4),
                "offline_neurokit2_s": None if nk_s is None else round(nk_s, 3),
                "speedup_vs_neurokit2": None if speedup is None else round(speedup, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
