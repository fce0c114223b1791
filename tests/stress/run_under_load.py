#!/usr/bin/env python3
"""Run part of the test suite with the machine loaded by busy processes, several times.

    python3 tests/stress/run_under_load.py                      # 4 spinners, 3 runs, gui + devices
    python3 tests/stress/run_under_load.py --busy 6 --runs 5 tests/gui -- -x -k banner

Starts ``--busy`` pure-Python spin loops (at the same niceness as this script, so they compete
with the tests for the CPU), waits ``--warmup-s`` for the load to build, then runs
``python3 -m pytest PATHS -p no:cacheprovider -q [EXTRA]`` ``--runs`` times. Each run prints its
result, duration and the 1-minute load average seen during it; the spinners are killed at the end
whatever happens (including Ctrl-C and SIGTERM). Exits 1 if any run failed.

Not collected by pytest (the file name does not match ``test_*.py``, and tests/conftest.py ignores
this folder).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PATHS = ["tests/gui", "tests/devices"]
SPIN = "while True:\n    pass\n"


class LoadSampler:
    """Samples the 1-minute load average once a second on a background thread."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="load-sampler", daemon=True)

    def _loop(self) -> None:
        while True:
            self.samples.append(os.getloadavg()[0])
            if self._stop.wait(1.0):
                return

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def summary(self) -> str:
        if not self.samples:
            return "load n/a"
        s = self.samples
        return f"load avg (1 min) min {min(s):.1f} mean {sum(s) / len(s):.1f} max {max(s):.1f}"


def start_spinners(n: int) -> list[subprocess.Popen]:
    """``n`` busy Python processes at this process's niceness (niced 0 when run normally)."""
    return [
        subprocess.Popen(
            [sys.executable, "-c", SPIN],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(n)
    ]


def stop_spinners(procs: list[subprocess.Popen]) -> None:
    """Terminate (then kill) exactly the processes we started."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + 5
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def summary_line(log: str) -> str:
    """pytest's last line ("3 failed, 120 passed in 40.1s"), or the last non-empty line."""
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if " passed" in ln or " failed" in ln or " error" in ln or "no tests ran" in ln:
            return ln.strip("= ")
    return lines[-1] if lines else "(no output)"


def failures(log: str) -> list[str]:
    """The FAILED/ERROR lines of pytest's short summary (-ra)."""
    return [ln for ln in log.splitlines() if re.match(r"(FAILED|ERROR) \S+\.py", ln)]


def run_once(cmd: list[str], log_path: Path, timeout_s: float) -> tuple[int, float, str]:
    t0 = time.monotonic()
    with log_path.open("w") as log:
        try:
            rc = subprocess.run(
                cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, timeout=timeout_s
            ).returncode
        except subprocess.TimeoutExpired:
            rc = 124
    duration = time.monotonic() - t0
    return rc, duration, log_path.read_text(errors="replace")


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", default=DEFAULT_PATHS, help="test paths for pytest")
    parser.add_argument("--busy", type=int, default=4, help="busy processes (default 4)")
    parser.add_argument("--runs", type=int, default=3, help="pytest runs (default 3)")
    parser.add_argument(
        "--warmup-s", type=float, default=15.0, help="seconds of load before the first run"
    )
    parser.add_argument(
        "--timeout-s", type=float, default=1800.0, help="give up on a run after this long"
    )
    parser.add_argument("--log-dir", type=Path, help="keep each run's pytest output here")
    args = parser.parse_args(argv)
    if args.busy < 0 or args.runs < 1:
        parser.error("--busy must be >= 0 and --runs >= 1")
    return args, extra


def main(argv: list[str] | None = None) -> int:
    args, extra = parse_args(sys.argv[1:] if argv is None else argv)
    cmd = [sys.executable, "-m", "pytest", *args.paths, "-p", "no:cacheprovider", "-q", *extra]
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="biofeedback-stress-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    # SIGTERM/SIGHUP end the script through the finally below, so no spinner is left behind
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))
    print(f"command: {' '.join(cmd)}", flush=True)
    print(
        f"{os.cpu_count()} CPUs; {args.busy} busy processes at nice {os.nice(0)}; logs in {log_dir}"
    )
    spinners = start_spinners(args.busy)
    results: list[int] = []
    try:
        print(f"warming up {args.warmup_s:g} s ... load avg {os.getloadavg()[0]:.1f}", flush=True)
        time.sleep(args.warmup_s)
        for k in range(1, args.runs + 1):
            with LoadSampler() as load:
                rc, duration, log = run_once(cmd, log_dir / f"run{k}.log", args.timeout_s)
            results.append(rc)
            verdict = "PASS" if rc == 0 else f"FAIL (exit {rc})"
            print(f"run {k}/{args.runs}: {verdict} in {duration:.0f} s; {load.summary()}")
            print(f"    {summary_line(log)}")
            for line in failures(log):
                print(f"    {line}")
            sys.stdout.flush()
    finally:
        stop_spinners(spinners)
    failed = sum(1 for rc in results if rc != 0)
    print(f"{len(results) - failed} of {len(results)} runs passed under {args.busy} busy processes")
    return 1 if failed or len(results) < args.runs else 0


if __name__ == "__main__":
    sys.exit(main())
