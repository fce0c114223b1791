"""Wire decoder throughput (target >= 20 MB/s).

Decodes a firmware-like stream (1 kHz x 3 channels of 10-bit codes, 10 sample sets per frame,
74 bytes per frame on the wire) fed in pieces of several sizes, plus a stream in which 1 % of
the frames are corrupted. Each figure is the best of a few repeats (the machine is shared).
Every run checks that all samples came out exactly, so a fast wrong decoder cannot score.

    python benchmarks/decoder.py [--mbytes 8]

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from biofeedback.devices import wire


def make_stream(n_sets: int, seed: int = 0) -> tuple[bytes, np.ndarray]:
    """RAW around mid-scale with EMG-like noise, ENV low, REF flat: what a MyoWare sends."""
    rng = np.random.default_rng(seed)
    raw = 512 + rng.normal(0, 40, n_sets)
    env = np.abs(rng.normal(0, 30, n_sets)) + 20
    ref = np.full(n_sets, 511.0)
    codes = np.clip(np.stack([raw, env, ref], axis=1), 0, 1023).astype(np.uint16)
    return wire.encode_samples_stream(0, codes, per_frame=10), codes


def decode_all(data: bytes, chunk: int) -> tuple[float, wire.Decoder, np.ndarray]:
    decoder = wire.Decoder()
    out = []
    t0 = time.perf_counter()
    for i in range(0, len(data), chunk):
        out.extend(decoder.feed(data[i : i + chunk]))
    elapsed = time.perf_counter() - t0
    blocks = [p for p in out if isinstance(p, wire.SamplesBlock)]
    samples = np.concatenate([b.samples for b in blocks]) if blocks else np.zeros((0, 3))
    return elapsed, decoder, samples


def best_rate(data: bytes, chunk: int, expect: np.ndarray, repeats: int) -> float:
    best = 0.0
    for _ in range(repeats):
        elapsed, _, samples = decode_all(b"\x00" + data, chunk)
        if not np.array_equal(samples, expect):
            raise SystemExit(f"decoder lost or changed samples at chunk={chunk}")
        best = max(best, len(data) / elapsed / 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mbytes", type=float, default=8.0, help="stream size (default 8 MB)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    n_sets = int(args.mbytes * 1e6 / 74) * 10  # 74 bytes per frame of 10 sets
    data, codes = make_stream(n_sets)
    results: dict[str, float | int | str] = {"stream_bytes": len(data), "frame_bytes": 74}

    for chunk, label in [(1 << 20, "1MiB"), (1 << 16, "64KiB"), (1 << 12, "4KiB")]:
        rate = best_rate(data, chunk, codes, args.repeats)
        results[f"mb_s_chunk_{label}"] = round(rate, 1)
        print(f"feed {label:>6}: {rate:7.1f} MB/s")

    # One frame per read, as a serial port at 1 kHz delivers it: the cost per call matters.
    small = data[: 74 * 2000]
    elapsed, _, samples = decode_all(b"\x00" + small, 74)
    assert np.array_equal(samples, codes[: len(samples)]) and len(samples) == 20000
    per_frame_us = elapsed / 2000 * 1e6
    results["us_per_single_frame_feed"] = round(per_frame_us, 1)
    print(f"one frame per feed: {per_frame_us:.1f} us per call")

    # 1 % of frames corrupted (one random byte changed): errors counted, the rest intact.
    rng = np.random.default_rng(1)
    frames = bytearray(data)
    n_frames = len(data) // 74
    hit = rng.choice(n_frames, n_frames // 100, replace=False)
    for f in hit:
        offset = int(f) * 74 + int(rng.integers(0, 73))
        frames[offset] = (frames[offset] + int(rng.integers(1, 255))) % 256 or 1
    t0 = time.perf_counter()
    decoder = wire.Decoder()
    decoder.feed(b"\x00")
    for i in range(0, len(frames), 1 << 16):
        decoder.feed(bytes(frames[i : i + (1 << 16)]))
    corrupt_rate = len(frames) / (time.perf_counter() - t0) / 1e6
    results["mb_s_1pct_corrupt_64KiB"] = round(corrupt_rate, 1)
    results["corrupted_frames"] = len(hit)
    results["frame_errors_counted"] = decoder.stats.frame_errors
    print(
        f"1% corrupted: {corrupt_rate:.1f} MB/s, {decoder.stats.frame_errors} frame errors for "
        f"{len(hit)} corrupted frames, {decoder.stats.gap_samples} samples marked missing"
    )

    results["throughput_mb_s"] = results["mb_s_chunk_64KiB"]
    results["target_mb_s"] = 20
    results["meets_target"] = bool(results["mb_s_chunk_64KiB"] >= 20)
    print(json.dumps({"benchmark": "decoder", **results}))


if __name__ == "__main__":
    main()
