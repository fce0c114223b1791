"""Session store: bytes per hour and memory over a long recording at speed=max.

Records ``--hours`` (default 8) of the simulated MyoWare 2.0 (12-bit board, RAW + ENV + REF at
1 kHz) through the real live path: ``Engine`` (device thread, pipeline, ring buffers) with the
``Recorder`` as a sink writing to a fresh SQLite database. The source runs as fast as the
recorder takes it (speed=max applies back-pressure, so nothing may be dropped). Figures:

- bytes stored per hour of signal (database + WAL after close), against the 25 MB/h budget;
- resident memory (VmRSS) every simulated hour: "flat" means the growth after the first hour
  stays small and does not scale with the length of the recording;
- recorder counters (dropped samples must be 0), wall time and speed-up over real time;
- for comparison, a few minutes of other scenarios (contractions, fatigue) whose bigger
  signals compress less, and the time to export the long session as EDF+.

    python benchmarks/storage.py [--hours 8] [--scenario relax] [--chunk-ms 1000]

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import threading
import time
from pathlib import Path

from biofeedback.engine import Engine
from biofeedback.storage.database import Database
from biofeedback.storage.export import export_session
from biofeedback.storage.recorder import Recorder

BUDGET_MB_PER_H = 25.0
SIM = "sim://?scenario={scenario}&seed=1&board=12bit&channels=raw,env,ref&fs=1000&speed=max&chunk_ms={chunk_ms}"


def rss_mb() -> float:
    """Resident set size of this process in MB (Linux /proc; else peak RSS)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def db_bytes(path: Path) -> int:
    """Database file plus its WAL and shared-memory files."""
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def record(db_path: Path, url: str, seconds: float, hourly: list[dict] | None = None) -> dict:
    """Record ``seconds`` of ``url`` with Engine + Recorder; returns the recorder's figures.

    With ``hourly``, memory and database size are sampled every hour of signal (every eighth of
    the run when it is shorter than 8 hours).
    """
    db = Database(db_path)
    engine = Engine(url, buffer_s=10.0)
    info = engine.open()
    sid = db.create_session("BENCH", "benchmark", info, engine.settings.to_dict())
    recorder = Recorder(db_path, sid, info)
    engine.add_sink(recorder.sink)
    fs = info.fs_hz
    mark_s = min(3600.0, seconds / 8.0)
    next_mark = [mark_s * fs]
    lock = threading.Lock()

    def progress(chunk, processed) -> None:
        if hourly is None or chunk.end_index < next_mark[0]:
            return
        with lock:
            next_mark[0] += mark_s * fs
            hourly.append(
                {
                    "hour": round(chunk.end_index / fs / 3600.0, 2),
                    "rss_mb": round(rss_mb(), 1),
                    "db_mb": round(db_bytes(db_path) / 1e6, 2),
                    "wall_s": round(time.perf_counter() - t0, 1),
                }
            )
            print(
                f"  {hourly[-1]['hour']:5.2f} h: RSS {hourly[-1]['rss_mb']:7.1f} MB, "
                f"database {hourly[-1]['db_mb']:8.2f} MB, {hourly[-1]['wall_s']:7.1f} s",
                flush=True,
            )

    engine.add_sink(progress)
    t0 = time.perf_counter()
    engine.start(max_samples=round(seconds * fs))
    engine.wait(None)
    engine.stop()
    recorder.close("complete")
    wall = time.perf_counter() - t0
    engine.close()
    stats = recorder.stats
    db.close()
    return {
        "session_id": sid,
        "samples": stats.samples_written,
        "dropped_samples": stats.dropped_samples,
        "overruns": stats.overruns,
        "commits": stats.commits,
        "sample_bytes": stats.bytes_written,
        "wall_s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=8.0)
    parser.add_argument("--scenario", default="relax")
    parser.add_argument("--chunk-ms", type=float, default=1000.0, help="simulator chunk length")
    parser.add_argument("--compare-minutes", type=float, default=10.0)
    args = parser.parse_args()
    hours = args.hours
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db_path = folder / "long.sqlite"
        print(
            f"Recording {hours:g} h of sim scenario={args.scenario} (12-bit, RAW+ENV+REF, 1 kHz) at speed=max"
        )
        gc.collect()
        rss_start = rss_mb()
        hourly: list[dict] = []
        url = SIM.format(scenario=args.scenario, chunk_ms=args.chunk_ms)
        main_run = record(db_path, url, hours * 3600.0, hourly)
        total = db_bytes(db_path)
        mb_per_h = total / 1e6 / hours
        with Database(db_path) as db:
            integrity = db.integrity_check()
            t0 = time.perf_counter()
            edf = export_session(db, main_run["session_id"], "edf", folder / "long.edf")
            edf_s = time.perf_counter() - t0
        print(
            f"Stored {total / 1e6:.1f} MB for {hours:g} h = {mb_per_h:.2f} MB per hour "
            f"(budget {BUDGET_MB_PER_H:g}); samples {main_run['samples']}, dropped {main_run['dropped_samples']}; "
            f"wall {main_run['wall_s']:.0f} s ({hours * 3600 / main_run['wall_s']:.0f}x real time); integrity {integrity}"
        )
        rss = [h["rss_mb"] for h in hourly]
        growth = (rss[-1] - rss[0]) if len(rss) >= 2 else 0.0
        print(
            f"RSS: start {rss_start:.1f} MB, at the first mark {rss[0] if rss else float('nan'):.1f} MB, "
            f"end {rss[-1] if rss else float('nan'):.1f} MB (growth after the first mark: {growth:+.1f} MB)"
        )
        print(f"EDF+ export of the whole recording: {edf.bytes / 1e6:.1f} MB in {edf_s:.1f} s")
        compare = {}
        for scenario in ("tense-release", "fatigue", "noisy"):
            path = folder / f"{scenario}.sqlite"
            seconds = args.compare_minutes * 60.0
            run = record(path, SIM.format(scenario=scenario, chunk_ms=args.chunk_ms), seconds)
            compare[scenario] = round(db_bytes(path) / 1e6 / (seconds / 3600.0), 2)
            print(
                f"  {scenario:<14} {compare[scenario]:6.2f} MB per hour ({args.compare_minutes:g} min, dropped {run['dropped_samples']})"
            )
    result = {
        "benchmark": "storage",
        "hours": hours,
        "scenario": args.scenario,
        "fs_hz": 1000.0,
        "channels": 3,
        "mb_per_hour": round(mb_per_h, 3),
        "budget_mb_per_hour": BUDGET_MB_PER_H,
        "within_budget": mb_per_h <= BUDGET_MB_PER_H,
        "raw_int16_mb_per_hour": round(3600 * 1000 * 3 * 2 / 1e6, 1),
        "samples": main_run["samples"],
        "dropped_samples": main_run["dropped_samples"],
        "overruns": main_run["overruns"],
        "wall_s": round(main_run["wall_s"], 1),
        "speedup_x_realtime": round(hours * 3600 / main_run["wall_s"], 1),
        "rss_start_mb": round(rss_start, 1),
        "rss_marks_mb": rss,
        "rss_mark_every_h": round(min(1.0, hours / 8.0), 3),
        "rss_growth_after_first_mark_mb": round(growth, 1),
        "integrity": integrity,
        "edf_export_s": round(edf_s, 1),
        "edf_mb": round(edf.bytes / 1e6, 1),
        "other_scenarios_mb_per_hour": compare,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
