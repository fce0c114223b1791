"""Clinic sync at scale (issue 13, "Benchmark"): stations syncing to one PostgreSQL server.

Records the built-in ``clinical-session`` protocol cut at ``--minutes`` (default 40) once from the
simulated MyoWare 2.0 (scenario ``learner``, 12-bit board, RAW + ENV + REF at 1 kHz) at speed=max
through the live path, as ``benchmarks/reports.py`` does; every station's data folder is a copy of
that store with ``--sessions-per-station`` copies of the session (new uids) under the station's
own subject (``BENCH-S1``...). A throwaway server (``tests/clinic/pg_server.py``; fsync on unless
``--no-fsync``) gets ``clinic init`` and one station login per station (``biofeedback_station``),
reached over loopback TCP. Then:

- all stations sync at once, each in its own process (as separate machines would):
  sessions per second and MB/s (sample bytes as stored) over the wall time of the whole run,
  and each station's own sync time;
- a second sync of every station (nothing new: what an idle periodic sync costs);
- the wall time of one session's sync: a station with one new session syncs alone
  (goal <= 2 s);
- a subject with ``--history-sessions`` (default 50) sessions at the clinic, and the query the
  window's history runs for it (the subject's sessions, then their phases: what
  ``Database.list_sessions`` and ``progress.subject_trend`` read), timed directly on PostgreSQL
  (goal <= 100 ms); and, when ``biofeedback.clinic.mirror`` exists, the same history
  (``subject_trend``) on the mirror, first open (a pull) and then again;
- the server database's size per hour of signal (``pg_database_size`` after the syncs, less its
  size right after ``clinic init``, over the hours held), against the local store's (file + WAL
  after close, per hour).

    python benchmarks/clinic.py [--stations 8] [--minutes 40] [--sessions-per-station 1]
                                [--history-sessions 50] [--no-fsync] [--quick]

``--quick`` is a smoke run: 2 stations, 2-minute sessions, a 10-session history. Machine load
(``os.getloadavg()``) is printed before and after. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # benchmarks/reports.py: the recording and the session copies
sys.path.insert(0, str(HERE.parent / "tests" / "clinic"))  # pg_server.py: the throwaway server

from pg_server import ADMIN, Cluster, create_cluster  # noqa: E402

import reports  # noqa: E402
from biofeedback.storage.database import Database  # noqa: E402

GOALS = {"one_session_sync_s": 2.0, "history_query_ms": 100.0}
DBNAME = "emg"
TEMPLATE_SUBJECT = reports.SUBJECT


def load() -> list[float]:
    return reports.load()


def record_template(folder: Path, minutes: float) -> tuple[Path, int]:
    """One recorded session in ``folder/template.sqlite``; (path, session id)."""
    path = folder / "template.sqlite"
    t0 = time.perf_counter()
    sid = reports.record_session(path, minutes)
    print(f"recorded {minutes:g} min in {time.perf_counter() - t0:.1f} s", flush=True)
    return path, sid


def make_store(template: Path, target: Path, subject: str, sessions: int) -> None:
    """A station's store: the template with ``sessions`` sessions (new uids) of ``subject``."""
    shutil.copy(template, target)
    con = sqlite3.connect(target)
    with con:
        con.execute("PRAGMA foreign_keys = OFF")
        con.execute("UPDATE sessions SET uid = lower(hex(randomblob(16)))")
        con.execute("UPDATE subjects SET id = ? WHERE id = ?", (subject, TEMPLATE_SUBJECT))
        con.execute(
            "INSERT OR IGNORE INTO subjects (id, created_at) VALUES (?, ?)", (subject, time.time())
        )
        con.execute("UPDATE sessions SET subject_id = ?", (subject,))
    first = con.execute("SELECT min(id) FROM sessions").fetchone()[0]
    con.close()
    if sessions > 1:
        reports.copy_session(target, int(first), sessions - 1)


def sample_bytes(path: Path) -> int:
    """Bytes of the stored sample blocks (data, NaN mask and flags) in a store."""
    con = sqlite3.connect(path)
    row = con.execute(
        "SELECT coalesce(sum(length(data) + coalesce(length(nan_mask), 0) "
        "+ coalesce(length(flags), 0)), 0) FROM chunks"
    ).fetchone()
    con.close()
    return int(row[0])


def signal_hours(path: Path) -> float:
    con = sqlite3.connect(path)
    row = con.execute(
        "SELECT coalesce(sum(n_samples / fs_hz), 0) FROM sessions WHERE status != 'recording'"
    ).fetchone()
    con.close()
    return float(row[0]) / 3600.0


def store_size(path: Path) -> int:
    """The store's file and its WAL."""
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


# -- the server --------------------------------------------------------------------------------
def start_server(fsync: bool, stations: int) -> tuple[Cluster, str]:
    """A server with the clinic schema and ``stations`` station logins; the admin URL."""
    from biofeedback.clinic.migrate import init_clinic

    cluster = create_cluster(fsync=fsync)
    cluster.sql(f"CREATE DATABASE {DBNAME} OWNER {ADMIN}")
    admin = cluster.url(DBNAME)
    init_clinic(admin)
    for k in range(stations + 1):
        cluster.sql(f"CREATE ROLE desk{k} LOGIN IN ROLE biofeedback_station", DBNAME)
    return cluster, admin


def station_url(cluster: Cluster, k: int, sslmode: str) -> str:
    return cluster.tcp_url(DBNAME, f"desk{k}", sslmode=sslmode)


def server_size(admin: str) -> int:
    import psycopg

    with psycopg.connect(admin) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(row[0]) if row else 0


def ssl_in_use(url: str) -> bool:
    import psycopg

    with psycopg.connect(url) as conn:
        return bool(conn.pgconn.ssl_in_use)


# -- syncing -----------------------------------------------------------------------------------
def sync_station(job: tuple[str, str]) -> dict[str, Any]:
    """One station's sync in this process: its start, end and result."""
    from biofeedback.clinic.sync import sync

    path, url = job
    with Database(path) as db:
        start = time.time()
        result = sync(db, url)
        end = time.time()
    return {"start": start, "end": end, "result": result.to_dict()}


def sync_all(jobs: list[tuple[str, str]]) -> tuple[float, list[dict[str, Any]]]:
    """Every station syncs at once, one process each; (wall time, their outcomes)."""
    with ProcessPoolExecutor(max_workers=len(jobs)) as pool:
        outcomes = list(pool.map(sync_station, jobs))
    wall = max(o["end"] for o in outcomes) - min(o["start"] for o in outcomes)
    for o in outcomes:
        r = o["result"]
        if r["errors"] or r["pending"]:
            print(f"  station problem: {r['text']}", flush=True)
    return wall, outcomes


def concurrent_figures(
    jobs: list[tuple[str, str]], per_store_bytes: int, sessions: int
) -> dict[str, Any]:
    """The concurrent sync, then a second one with nothing new."""
    wall, outcomes = sync_all(jobs)
    pushed = sum(o["result"]["pushed_sessions"] for o in outcomes)
    verified = sum(o["result"]["verified"] for o in outcomes)
    each = [o["end"] - o["start"] for o in outcomes]
    mb = per_store_bytes * len(jobs) / 1e6
    print(
        f"concurrent sync: {len(jobs)} stations, {pushed} sessions ({verified} verified), "
        f"{mb:.1f} MB of samples in {wall:.2f} s: {pushed / wall:.2f} sessions/s, "
        f"{mb / wall:.1f} MB/s; per station {min(each):.2f}-{max(each):.2f} s",
        flush=True,
    )
    again_wall, again = sync_all(jobs)
    added = sum(o["result"]["pushed_sessions"] + o["result"]["pulled_sessions"] for o in again)
    print(f"second sync (nothing new): {again_wall:.2f} s, {added} sessions moved", flush=True)
    return {
        "stations": len(jobs),
        "sessions": pushed,
        "expected_sessions": sessions * len(jobs),
        "verified": verified,
        "sample_mb": round(mb, 2),
        "wall_s": round(wall, 2),
        "sessions_per_s": round(pushed / wall, 2),
        "mb_per_s": round(mb / wall, 2),
        "station_s_median": round(statistics.median(each), 2),
        "station_s_max": round(max(each), 2),
        "second_sync_wall_s": round(again_wall, 2),
        "second_sync_moved": added,
    }


def one_session_sync(template: Path, folder: Path, url: str) -> float:
    """Wall time of a station with one new session syncing alone."""
    path = folder / "single.sqlite"
    make_store(template, path, "BENCH-ONE", 1)
    outcome = sync_station((str(path), url))
    wall = outcome["end"] - outcome["start"]
    goal = GOALS["one_session_sync_s"]
    print(f"one session's sync, alone: {wall:.2f} s (goal <= {goal:g})", flush=True)
    return wall


# -- the history of a subject ------------------------------------------------------------------
HISTORY_SESSIONS_SQL = "SELECT * FROM sessions WHERE subject_id = %s ORDER BY started_at, id"
HISTORY_PHASES_SQL = "SELECT * FROM phases WHERE session_id = ANY(%s) ORDER BY session_id, seq"


def history_on_postgres(url: str, subject: str, runs: int = 7) -> dict[str, Any]:
    """The history's two reads on PostgreSQL: the subject's sessions, then their phases."""
    import psycopg
    from psycopg.rows import dict_row

    def query(conn: Any) -> int:
        sessions = conn.execute(HISTORY_SESSIONS_SQL, (subject,)).fetchall()
        ids = [row["id"] for row in sessions]
        conn.execute(HISTORY_PHASES_SQL, (ids,)).fetchall()
        return len(sessions)

    times, connected, found = [], [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        with psycopg.connect(url, row_factory=dict_row, options="-c search_path=biofeedback") as c:
            t1 = time.perf_counter()
            found = query(c)
            t2 = time.perf_counter()
        times.append((t2 - t1) * 1000)
        connected.append((t2 - t0) * 1000)
    return {
        "sessions_found": found,
        "query_ms": round(statistics.median(times), 1),
        "with_connect_ms": round(statistics.median(connected), 1),
    }


def history_on_mirror(url: str, subject: str, runs: int = 7) -> dict[str, Any] | None:
    """``subject_trend`` on the mirror (``clinic.mirror.clinic_database``), when it exists."""
    from biofeedback.errors import BiofeedbackError
    from biofeedback.storage.progress import subject_trend

    try:
        mirror = importlib.import_module("biofeedback.clinic.mirror")
    except ModuleNotFoundError:
        return None
    t0 = time.perf_counter()
    try:
        db = mirror.clinic_database(url, subject=subject)
    except BiofeedbackError as exc:
        return {"error": str(exc)}
    opened = time.perf_counter() - t0
    times, points = [], 0
    for _ in range(runs):
        t1 = time.perf_counter()
        points = len(subject_trend(db, subject))
        times.append((time.perf_counter() - t1) * 1000)
    db.close()
    return {
        "open_s": round(opened, 2),
        "trend_ms": round(statistics.median(times), 1),
        "points": points,
    }


def history_figures(template: Path, folder: Path, url: str, n: int) -> dict[str, Any]:
    """A subject with ``n`` sessions synced to the clinic, and the history read there."""
    path = folder / "history.sqlite"
    make_store(template, path, "BENCH-HIST", n)
    outcome = sync_station((str(path), url))
    pushed = outcome["result"]["pushed_sessions"]
    wall = outcome["end"] - outcome["start"]
    print(f"history subject: {pushed} sessions synced by one station in {wall:.2f} s", flush=True)
    direct = history_on_postgres(url, "BENCH-HIST")
    goal = GOALS["history_query_ms"]
    print(
        f"history query on PostgreSQL ({direct['sessions_found']} sessions + their phases): "
        f"{direct['query_ms']:.1f} ms, {direct['with_connect_ms']:.1f} ms with the connection "
        f"(goal <= {goal:g} ms)",
        flush=True,
    )
    mirror = history_on_mirror(url, "BENCH-HIST")
    if mirror is None:
        print("history on the mirror: not built yet (biofeedback.clinic.mirror)", flush=True)
    else:
        print(f"history on the mirror: {mirror}", flush=True)
    return {
        "sessions": n,
        "sync_s": round(wall, 2),
        "pushed": pushed,
        "postgres": direct,
        "mirror": mirror,
    }


# -- main --------------------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=8, help="stations syncing at once")
    parser.add_argument("--minutes", type=float, default=40.0, help="length of each session")
    parser.add_argument("--sessions-per-station", type=int, default=1, help="sessions each")
    parser.add_argument("--history-sessions", type=int, default=50, help="sessions in history")
    parser.add_argument("--no-fsync", action="store_true", help="the server without fsync")
    parser.add_argument("--sslmode", default="prefer", help="libpq sslmode of the stations")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 stations, 2 min")
    args = parser.parse_args()
    if args.quick:
        args.stations, args.minutes, args.history_sessions = 2, 2.0, 10
    if min(args.stations, args.sessions_per_station, args.history_sessions) < 1:
        parser.error("--stations, --sessions-per-station and --history-sessions are at least 1")
    if not 0.1 <= args.minutes <= 240:
        parser.error("--minutes is between 0.1 and 240")
    return args


def local_figures(template: Path) -> dict[str, Any]:
    con = sqlite3.connect(template)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    hours = signal_hours(template)
    empty_path = template.with_name("empty.sqlite")
    Database(empty_path).close()
    size = store_size(template) - store_size(empty_path)
    print(f"local store: +{size / 1e6:.2f} MB for {hours:.3f} h of signal", flush=True)
    return {
        "hours_per_session": round(hours, 4),
        "grown_mb": round(size / 1e6, 2),
        "sample_mb": round(sample_bytes(template) / 1e6, 2),
        "mb_per_hour": round(size / 1e6 / hours, 2),
    }


def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    template, _sid = record_template(folder, args.minutes)
    local = local_figures(template)
    sps = args.sessions_per_station
    paths = [folder / f"station{k}.sqlite" for k in range(1, args.stations + 1)]
    for k, path in enumerate(paths, 1):
        make_store(template, path, f"BENCH-S{k}", sps)
    cluster, admin = start_server(not args.no_fsync, args.stations + 2)
    try:
        empty = server_size(admin)
        jobs = [(str(p), station_url(cluster, k, args.sslmode)) for k, p in enumerate(paths, 1)]
        tls = ssl_in_use(jobs[0][1])
        print(f"server: fsync {'off' if args.no_fsync else 'on'}, TLS {tls}", flush=True)
        figures = concurrent_figures(jobs, sample_bytes(template) * sps, sps)
        held_h = local["hours_per_session"] * sps * args.stations
        grown = server_size(admin) - empty
        server = {
            "empty_mb": round(empty / 1e6, 2),
            "grown_mb": round(grown / 1e6, 2),
            "mb_per_hour": round(grown / 1e6 / held_h, 2),
        }
        print(
            f"server database: +{grown / 1e6:.1f} MB for {held_h:.2f} h = "
            f"{server['mb_per_hour']:.2f} MB/h (local store {local['mb_per_hour']:.2f} MB/h)",
            flush=True,
        )
        one = one_session_sync(template, folder, station_url(cluster, args.stations + 1, "prefer"))
        history = history_figures(
            template,
            folder,
            station_url(cluster, args.stations + 2, "prefer"),
            args.history_sessions,
        )
    finally:
        cluster.destroy()
    return {
        "fsync": not args.no_fsync,
        "tls": tls,
        "minutes": args.minutes,
        "local": local,
        "concurrent": figures,
        "server": server,
        "one_session_sync_s": round(one, 2),
        "history": history,
        "goals": GOALS,
    }


def main() -> None:
    args = parse_args()
    before = load()
    print(f"load before: {before}", flush=True)
    folder = Path(tempfile.mkdtemp(prefix="biofeedback-clinic-bench-"))
    os.environ["BIOFEEDBACK_HOME"] = str(folder / "home")
    try:
        figures = run(args, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    after = load()
    print(f"load after: {after}", flush=True)
    print(json.dumps({**figures, "load_before": before, "load_after": after}))


if __name__ == "__main__":
    main()
