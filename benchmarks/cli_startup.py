"""How long the command line takes to answer ``--help``: ``biofeedback --help`` and
``biofeedback COMMAND --help`` for every command.

Each is a fresh process (the installed ``biofeedback`` script when it is on PATH, else
``python -m biofeedback``), run ``--repeat`` times after one warm-up run; the median wall time is
reported, with the CPU time the process used (user + system, which a busy machine inflates less
than the wall time) and Python's own start-up (``python -c pass``) for comparison. The target for
``biofeedback --help`` is 0.3 s: the parser lists the commands without importing their modules
(see docs/cli.md, "Start-up").

    python benchmarks/cli_startup.py [--repeat 9] [--commands stream,record]

The last line printed is one JSON object with the figures (median seconds) and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

from biofeedback.cli import COMMAND_MODULES

TARGET_S = 0.3


def program() -> list[str]:
    """The ``biofeedback`` command as users start it."""
    script = shutil.which("biofeedback")
    return [script] if script else [sys.executable, "-m", "biofeedback"]


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def median_seconds(argv: list[str], repeat: int) -> tuple[float, float]:
    """Median wall time and CPU time of ``argv`` run ``repeat`` times (after one run that warms
    the caches)."""
    wall, cpu = [], []
    for k in range(repeat + 1):
        c0, t0 = _children_cpu_s(), time.perf_counter()
        result = subprocess.run(argv, capture_output=True, timeout=120)
        elapsed, used = time.perf_counter() - t0, _children_cpu_s() - c0
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed: {result.stderr.decode(errors='replace')}")
        if k:
            wall.append(elapsed)
            cpu.append(used)
    return statistics.median(wall), statistics.median(cpu)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=9, help="runs per command (default 9)")
    parser.add_argument(
        "--commands", help="comma-separated commands to time (default: all of them)"
    )
    args = parser.parse_args()
    commands = args.commands.split(",") if args.commands else list(COMMAND_MODULES)
    load_before = os.getloadavg()[0]
    base = program()
    python_s, python_cpu = median_seconds([sys.executable, "-c", "pass"], args.repeat)
    top_s, top_cpu = median_seconds([*base, "--help"], args.repeat)
    print(f"{'':<28} {'wall':>7}    {'CPU':>7}")
    print(f"{'python -c pass':<28} {python_s * 1000:7.0f} ms {python_cpu * 1000:7.0f} ms")
    print(
        f"{'biofeedback --help':<28} {top_s * 1000:7.0f} ms {top_cpu * 1000:7.0f} ms"
        f"  (target {TARGET_S * 1000:.0f} ms)"
    )
    per_command, per_command_cpu = {}, {}
    for name in commands:
        wall, cpu = median_seconds([*base, name, "--help"], args.repeat)
        per_command[name], per_command_cpu[name] = round(wall, 4), round(cpu, 4)
        label = f"biofeedback {name} --help"
        print(f"{label:<28} {wall * 1000:7.0f} ms {cpu * 1000:7.0f} ms")
    load_after = os.getloadavg()[0]
    print(f"load average (1 min): {load_before:.2f} before, {load_after:.2f} after")
    result = {
        "program": " ".join(base),
        "repeat": args.repeat,
        "python_startup_s": round(python_s, 4),
        "python_startup_cpu_s": round(python_cpu, 4),
        "help_s": round(top_s, 4),
        "help_cpu_s": round(top_cpu, 4),
        "help_target_s": TARGET_S,
        "help_within_target": top_s <= TARGET_S,
        "command_help_s": per_command,
        "command_help_cpu_s": per_command_cpu,
        "cpu_count": os.cpu_count(),
        "load_avg_1min_before": round(load_before, 2),
        "load_avg_1min_after": round(load_after, 2),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
