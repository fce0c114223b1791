"""Wall time of a whole clinical session processed headless, and its shaping figures.

sim ``learner`` (12-bit board, RAW, 1 kHz) -> Pipeline -> SessionRunner for the built-in
``clinical-session`` (40.7 min of signal), without the engine's threads: the per-chunk work of
``biofeedback record --source "sim://...&speed=max" --protocol clinical-session``. Chunks of
10 ms are what the simulated device delivers by default; 1 s blocks show the per-chunk overhead.

Usage: python benchmarks/training_session.py [--seeds 2] [--chunk-ms 10 1000]
The last printed line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from biofeedback.devices.simulated import Synthesiser
from biofeedback.dsp.pipeline import Pipeline
from biofeedback.training import EventType, SessionRunner, load_protocol

URL = "sim://?scenario=learner&seed={seed}&board=12bit&channels=raw,ref"


def run(seed: int, chunk_ms: float) -> dict:
    protocol = load_protocol("clinical-session")
    t0 = time.perf_counter()
    synth = Synthesiser.from_url(URL.format(seed=seed))
    pipeline = Pipeline(synth.info)
    runner = SessionRunner(protocol, synth.fs_hz, noise_floor_uv=pipeline.noise_floor_uv)
    chunk = max(1, round(chunk_ms * synth.fs_hz / 1000))
    ahead = chunk * max(1, round(synth.fs_hz / chunk))  # the device synthesises ~1 s ahead
    t_runner = 0.0
    while not runner.finished:
        block = synth.generate(ahead).to_chunk()
        for a in range(0, len(block), chunk):
            piece = type(block)(
                block.first_index + a, block.samples[a : a + chunk], block.flags[a : a + chunk]
            )
            out = pipeline.process(piece)
            t1 = time.perf_counter()
            events = runner.tick(out.first_index, out.envelope_uv, out.flags)
            t_runner += time.perf_counter() - t1
            for event in events:
                if event.type == EventType.CALIBRATED and event.data["what"] == "noise_floor":
                    pipeline.set_noise_floor(event.data["values_uv"])
            if runner.finished:
                break
    wall = time.perf_counter() - t0
    summary = runner.summary()
    trials = [p for p in summary.phases if p.kind == "train"]
    minutes = [w["success_pct"] for p in trials for w in p.shaping][2:]
    first = trials[0].shaping[2:]
    success = [
        float(
            np.average(
                [w["success_pct"] for w in first], weights=[w["included_pct"] for w in first]
            )
        )
    ] + [p.pct_below for p in trials[1:]]
    return {
        "seed": seed,
        "chunk_ms": chunk_ms,
        "signal_s": protocol.duration_s,
        "wall_s": round(wall, 2),
        "runner_s": round(t_runner, 2),
        "trials_pct_below": [round(v, 1) for v in summary.trials_pct_below],
        "trial_success_after_2min_pct": [round(v, 1) for v in success],
        "trials_in_band": int(sum(60 <= v <= 80 for v in success)),
        "minutes_in_band_pct": round(100 * float(np.mean([60 <= m <= 80 for m in minutes])), 1),
        "threshold_changes": len(summary.threshold_log),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[2])
    parser.add_argument("--chunk-ms", type=float, nargs="+", default=[10.0, 1000.0])
    args = parser.parse_args()
    results = []
    for chunk_ms in args.chunk_ms:
        for seed in args.seeds:
            r = run(seed, chunk_ms)
            results.append(r)
            print(
                f"seed {seed}, {chunk_ms:g} ms chunks: {r['signal_s'] / 60:.1f} min of signal in "
                f"{r['wall_s']:.1f} s (runner {r['runner_s']:.1f} s); trials "
                f"{r['trials_pct_below']} % below; {r['trials_in_band']}/5 trials in 60-80 %"
            )
    print(json.dumps({"benchmark": "training_session", "results": results}))


if __name__ == "__main__":
    main()
