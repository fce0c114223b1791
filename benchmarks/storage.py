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

``--record-path`` measures instead the memory of the CLI ``record`` path (what ``biofeedback record
--duration`` runs: ``Engine`` + ``RecordingSession`` with its ``Recorder`` and envelope statistics,
optionally ``--protocol``) with 10 ms chunks, paced as fast as the recorder takes them. It reports
the RSS growth from minute 2 to minute 20 of signal, per hour and per 8 hours of signal (goal:
<= 5 MB per 8 h):

    python benchmarks/storage.py --record-path [--from-min 2] [--to-min 20] [--chunk-ms 10]
                                 [--protocol NAME] [--sim-truth-s 10]

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

from rss import rss_growth

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


RECORD_PATH_GOAL_MB_PER_8H = 5.0


def record_path(
    from_min: float,
    to_min: float,
    chunk_ms: float,
    scenario: str,
    protocol: str | None,
    sim_truth_s: float,
) -> dict:
    """Run the CLI ``record`` path in this process and sample RSS at ``from_min`` and ``to_min``
    minutes of signal (and every minute in between).

    The simulator keeps the true EMG level of the last ``sim_truth_s`` seconds for tests (a
    ring of 4.8 MB at its default 600 s, which fills during the first 10 minutes); a real board
    has no such thing, so it is kept short here unless asked otherwise.
    """
    from biofeedback.devices.simulated import SimulatedDevice, parse_sim_url
    from biofeedback.session import RecordingSession
    from biofeedback.training.protocol import load_protocol

    url = SIM.format(scenario=scenario, chunk_ms=chunk_ms)
    marks: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "record-path.sqlite")
        device = SimulatedDevice(parse_sim_url(url), url=url, truth_capacity_s=sim_truth_s)
        engine = Engine(device)  # the CLI's defaults otherwise (60 s ring buffers)
        prot = load_protocol(protocol) if protocol else None
        session = RecordingSession(
            engine, db, prot, subject_id="BENCH", duration_s=None if prot else to_min * 60.0
        )
        info = engine.info
        assert info is not None
        fs = info.fs_hz
        next_min = [from_min]

        def sample(chunk, processed) -> None:
            minute = chunk.end_index / fs / 60.0
            if minute < next_min[0]:
                return
            next_min[0] = int(minute) + 1.0
            gc.collect()
            marks.append({"minute": round(minute, 2), "rss_mb": round(rss_mb(), 2)})
            print(
                f"  minute {minute:5.1f} of signal: RSS {marks[-1]['rss_mb']:7.2f} MB", flush=True
            )
            if prot is not None and minute >= to_min:
                engine.finish()

        engine.add_sink(sample)
        t0 = time.perf_counter()
        session.start()
        session.wait(None)
        result = session.finish()
        wall = time.perf_counter() - t0
        engine.close()
        db.close()
    first = next(m for m in marks if m["minute"] >= from_min)
    last = [m for m in marks if m["minute"] <= to_min + 0.05][-1]
    span = marks[marks.index(first) : marks.index(last) + 1]
    g = rss_growth([(m["minute"] / 60.0, m["rss_mb"]) for m in span])
    growth, per_h, late_per_h = g["growth_mb"], g["per_h"], g["second_half_per_h"]
    return {
        "benchmark": "storage-record-path",
        "source": url,
        "sim_truth_s": sim_truth_s,
        "protocol": protocol or "",
        "chunk_ms": chunk_ms,
        "status": result.status,
        "samples_written": result.recorder_stats.get("samples_written"),
        "dropped_samples": result.recorder_stats.get("dropped_samples"),
        "wall_s": round(wall, 1),
        "rss_marks": marks,
        "rss_from": first,
        "rss_to": last,
        "rss_growth_mb": round(growth, 2),
        "rss_growth_mb_per_h": round(per_h, 2),
        "rss_growth_mb_per_8h": round(per_h * 8.0, 2),
        "rss_growth_second_half_mb_per_8h": round(late_per_h * 8.0, 2),
        "goal_mb_per_8h": RECORD_PATH_GOAL_MB_PER_8H,
        "within_goal": per_h * 8.0 <= RECORD_PATH_GOAL_MB_PER_8H,
    }


def main_record_path(args: argparse.Namespace) -> None:
    """``--record-path``: print the RSS growth of the CLI record path, then one JSON line."""
    print(
        f"CLI record path, sim scenario={args.scenario} in {args.chunk_ms:g} ms chunks at speed=max; "
        f"RSS from minute {args.from_min:g} to minute {args.to_min:g} of signal"
    )
    result = record_path(
        args.from_min, args.to_min, args.chunk_ms, args.scenario, args.protocol, args.sim_truth_s
    )
    print(
        f"RSS {result['rss_from']['rss_mb']:.2f} MB at minute {result['rss_from']['minute']:g} -> "
        f"{result['rss_to']['rss_mb']:.2f} MB at minute {result['rss_to']['minute']:g}: "
        f"{result['rss_growth_mb']:+.2f} MB = {result['rss_growth_mb_per_h']:+.2f} MB per hour of "
        f"signal = {result['rss_growth_mb_per_8h']:+.1f} MB per 8 h (goal <= "
        f"{RECORD_PATH_GOAL_MB_PER_8H:g}); wall {result['wall_s']:.0f} s"
    )
    print(
        "Second half of that span alone: "
        f"{result['rss_growth_second_half_mb_per_8h']:+.1f} MB per 8 h of signal"
    )
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record-path", action="store_true", help="memory of the CLI record path")
    parser.add_argument("--from-min", type=float, default=2.0, help="record path: first RSS mark")
    parser.add_argument("--to-min", type=float, default=20.0, help="record path: last RSS mark")
    parser.add_argument("--protocol", help="record path: run this protocol instead of a duration")
    parser.add_argument(
        "--sim-truth-s",
        type=float,
        default=10.0,
        help="record path: the simulator's ground-truth ring (s; the simulator's default is 600)",
    )
    parser.add_argument("--hours", type=float, default=8.0)
    parser.add_argument("--scenario", default="relax")
    parser.add_argument("--chunk-ms", type=float, default=1000.0, help="simulator chunk length")
    parser.add_argument("--compare-minutes", type=float, default=10.0)
    args = parser.parse_args()
    if args.record_path:
        if args.chunk_ms == 1000.0:
            args.chunk_ms = 10.0  # the record path is measured with a board's 10 ms chunks
        main_record_path(args)
        return
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
