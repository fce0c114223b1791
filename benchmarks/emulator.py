"""Long emulated streaming run: the firmware in simavr at 1 kHz x 3 channels for N minutes of
device time (default 10), read through SerialDevice over a pty. Every sample is checked against
the millivolts fed to the ADC; the run passes with 0 gaps, 0 frame errors and 0 mismatches.

    python benchmarks/emulator.py [--minutes 10] [--realtime]

Unthrottled by default (the emulator runs as fast as the host reads; simavr manages about
1.2-1.5x real time on one core here), so 10 minutes take roughly 7-9 minutes. Needs
``gcc-avr avr-libc binutils-avr arduino-core-avr simavr libsimavr-dev``.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "firmware"))

import harness

from biofeedback.core.types import Chunk, Flag
from biofeedback.devices.registry import open_device


def adc_input(seconds: int = 60) -> np.ndarray:
    """A minute of the BioSPPy recording on RAW (replayed in a loop), its rectified moving
    average on ENV, REF flat; millivolts [n, 3]."""
    path = harness.ROOT / "tests" / "data" / "biosppy" / "emg_1.txt"
    counts = np.loadtxt(path)[: seconds * 1000]
    raw = counts * 5000 / 4096
    env = np.convolve(np.abs(counts - counts.mean()), np.ones(50) / 50, mode="same") * 40
    ref = np.full(len(counts), 2500.0)
    return np.stack([raw, env, ref], axis=1).clip(0, 5000).round().astype(np.uint16)


class Checker:
    """Checks each chunk as it arrives (no need to keep 10 minutes in memory)."""

    def __init__(self, expected: np.ndarray) -> None:
        self.expected = expected
        self.samples = 0
        self.missing = 0
        self.mismatches = 0
        self.non_contiguous = 0
        self.next_index = 0
        self.offset: int | None = None
        self.device = None
        self.lock = threading.Lock()

    def __call__(self, chunk: Chunk) -> None:
        with self.lock:
            if chunk.first_index != self.next_index:
                self.non_contiguous += 1
            self.next_index = chunk.end_index
            self.samples += len(chunk)
            missing = (chunk.flags & Flag.MISSING) != 0
            self.missing += int(missing.sum())
            offset = self.device.index_offset
            device_index = np.arange(chunk.first_index, chunk.end_index) - offset
            want = self.expected[device_index % len(self.expected)]
            self.mismatches += int((chunk.samples[~missing] != want[~missing]).any(axis=1).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--realtime", action="store_true", help="pace the emulator to real time")
    args = parser.parse_args()
    for reason in (harness.missing_avr_toolchain(), harness.missing_simavr()):
        if reason:
            print(json.dumps({"benchmark": "emulator", "skipped": reason}))
            return
    elf, report = harness.build_firmware()
    print(report.strip())
    exe = harness.build_harness()
    mv = adc_input()
    expected = harness.expected_codes(mv).astype(np.float64)
    target = int(args.minutes * 60 * 1000)
    with tempfile.TemporaryDirectory() as tmp:
        emu = harness.Emulator(exe, elf, mv, Path(tmp), fast=not args.realtime)
        with emu:
            device = open_device(f"serial://{emu.path}")
            check = Checker(expected)
            check.device = device
            device.open()
            t0 = time.monotonic()
            device.start(check)
            last_report = t0
            while check.samples < target:
                time.sleep(0.5)
                if time.monotonic() - last_report > 30:
                    last_report = time.monotonic()
                    print(
                        f"{check.samples / 1000:.0f} s of device time in "
                        f"{last_report - t0:.0f} s: {check.missing} missing, "
                        f"{check.mismatches} mismatches",
                        flush=True,
                    )
                if device.state.value == "error":
                    break
            wall = time.monotonic() - t0
            device.close()
            stats = device.stats
        sim = emu.stats
    result = {
        "benchmark": "emulator",
        "device_seconds": round(check.samples / 1000, 1),
        "channels": 3,
        "fs_hz": 1000,
        "samples": check.samples,
        "gaps_samples": check.missing,
        "non_contiguous_chunks": check.non_contiguous,
        "mismatches": check.mismatches,
        "frame_errors": stats.frame_errors,
        "overruns": stats.overruns,
        "wall_s": round(wall, 1),
        "speed_x_realtime": round(check.samples / 1000 / wall, 2),
        "bytes": stats.bytes_received,
        "harness": sim,
        "passed": bool(
            check.samples >= target
            and check.missing == 0
            and check.mismatches == 0
            and check.non_contiguous == 0
            and stats.frame_errors == 0
            and stats.overruns == 0
        ),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
