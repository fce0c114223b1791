"""Report and export speed on a 40-minute session (issue 12, "Report speed").

Records the built-in ``clinical-session`` protocol (40.7 min, 17 phases) from the simulated
MyoWare 2.0 (scenario ``learner``, 12-bit board, RAW + ENV + REF at 1 kHz) at speed=max into a
temporary store through the live path (``Engine`` + ``RecordingSession`` with its ``Recorder``,
as ``biofeedback record --protocol`` runs it), then times, median of ``--runs`` runs each:

- the clinician report of it as PDF and as HTML (``biofeedback report SESSION -o FILE``:
  :func:`biofeedback.reports.clinician.write_report`), goal <= 2 s, and its data step alone
  (:func:`biofeedback.reports.data.collect`);
- the CSV export (``biofeedback export SESSION -o FILE.csv``), in MB/s, goal >= 40 MB/s, and the
  compact CSV (``--csv-rate 100``: the envelope and flags at 100 Hz, what a spreadsheet holds);
- the EDF+ export, for comparison;
- the same report and CSV export as commands (``biofeedback report`` / ``export`` in a new
  process each: the imports of numpy, scipy and matplotlib included);
- the course of ``--course-sessions`` (default 12) sessions of one subject, goal <= 4 s: the
  session is stored that many times under one subject (copies of its rows in the store) and made
  one course (every third session a clinic one), then timed: the subject's trend across the
  sessions (:func:`biofeedback.storage.progress.subject_trend`), the data step of every session's
  report, and the course report
  (:func:`biofeedback.reports.course.write_course_report`, PDF).

    python benchmarks/reports.py [--runs 3] [--minutes 40.7] [--course-sessions 12] [--skip-course]
                                 [--store DIR]

Machine load (``os.getloadavg()``) is printed before and after. The last line printed is one JSON
object with the figures.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from biofeedback.devices.simulated import SimulatedDevice, parse_sim_url
from biofeedback.engine import Engine
from biofeedback.reports.clinician import write_report
from biofeedback.reports.course import write_course_report
from biofeedback.reports.data import collect
from biofeedback.session import RecordingSession
from biofeedback.storage.database import Database
from biofeedback.storage.export import export_session
from biofeedback.storage.progress import subject_trend
from biofeedback.training.protocol import load_protocol

SIM = (
    "sim://?scenario=learner&seed=1&board=12bit&channels=raw,env,ref&fs=1000&speed=max&chunk_ms=100"
)
PROTOCOL = "clinical-session"
SUBJECT = "BENCH-01"
GOALS = {"session_report_s": 2.0, "course_report_s": 4.0, "csv_mb_per_s": 40.0}


def load() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def record_session(db_path: Path, minutes: float) -> int:
    """Record the clinical-session protocol (cut at ``minutes``) at speed=max; its session id."""
    db = Database(db_path)
    device = SimulatedDevice(parse_sim_url(SIM), url=SIM, truth_capacity_s=10.0)
    engine = Engine(device)
    session = RecordingSession(engine, db, load_protocol(PROTOCOL), subject_id=SUBJECT)
    info = engine.info
    assert info is not None
    limit = round(minutes * 60.0 * info.fs_hz)

    def cut(chunk, processed) -> None:
        if chunk.end_index >= limit:
            engine.finish()

    engine.add_sink(cut)
    session.start()
    session.wait(None)
    result = session.finish()
    engine.close()
    db.close()
    return result.session_id


def copy_session(db_path: Path, session_id: int, copies: int) -> list[int]:
    """Store ``copies`` more copies of a session (its row and every row that names it) one day
    apart, as the sessions of a course; their ids."""
    con = sqlite3.connect(db_path)
    tables = [
        name
        for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
        if name != "sessions"
        and any(col[1] == "session_id" for col in con.execute(f"PRAGMA table_info({name})"))
    ]
    cols = [c[1] for c in con.execute("PRAGMA table_info(sessions)") if c[1] != "id"]
    ids = []
    with con:
        for k in range(1, copies + 1):
            shifted = [_shifted(c, 86400 * (copies + 1 - k)) for c in cols]
            cur = con.execute(
                f"INSERT INTO sessions ({','.join(cols)}) SELECT {','.join(shifted)} "
                "FROM sessions WHERE id = ?",
                (session_id,),
            )
            new = int(cur.lastrowid or 0)
            ids.append(new)
            for table in tables:
                tcols = [c[1] for c in con.execute(f"PRAGMA table_info({table})") if c[1] != "id"]
                sel = [str(new) if c == "session_id" else _shifted(c, 0) for c in tcols]
                con.execute(
                    f"INSERT INTO {table} ({','.join(tcols)}) SELECT {','.join(sel)} "
                    f"FROM {table} WHERE session_id = ?",
                    (session_id,),
                )
    con.close()
    return ids


def _shifted(column: str, seconds: int) -> str:
    """The SQL that copies ``column``: started/ended times moved ``seconds`` earlier, unique ids
    made new."""
    if column in ("started_at", "ended_at") and seconds:
        return f"{column} - {seconds}"
    if column == "uid":
        return "lower(hex(randomblob(16)))"
    return column


def median_time(fn: Callable[[], object], runs: int, label: str) -> tuple[float, object]:
    """Median wall time of ``runs`` calls of ``fn`` (and the last result)."""
    times = []
    result: object = None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(f"  {label:<34} {med:7.2f} s  (runs: {', '.join(f'{t:.2f}' for t in times)})", flush=True)
    return med, result


def time_exports(db: Database, sid: int, folder: Path, runs: int) -> dict:
    """CSV (full and compact) and EDF+ export times and sizes."""
    out: dict = {}
    csv_s, csv = median_time(
        lambda: export_session(db, sid, "csv", folder / "s.csv"), runs, "CSV export"
    )
    mb = csv.bytes / 1e6  # type: ignore[attr-defined]
    out.update(csv_s=round(csv_s, 2), csv_mb=round(mb, 1), csv_mb_per_s=round(mb / csv_s, 1))
    print(f"    {mb:.1f} MB -> {mb / csv_s:.1f} MB/s (goal >= {GOALS['csv_mb_per_s']:g})")
    if "csv_rate_hz" in inspect.signature(export_session).parameters:
        compact_s, compact = median_time(
            lambda: export_session(db, sid, "csv", folder / "c.csv", csv_rate_hz=100.0),
            runs,
            "compact CSV export (--csv-rate 100)",
        )
        out.update(
            csv_compact_s=round(compact_s, 2),
            csv_compact_mb=round(compact.bytes / 1e6, 2),  # type: ignore[attr-defined]
        )
    else:  # a version from before the compact CSV (to compare against)
        out.update(csv_compact_s=None, csv_compact_mb=None)
    edf_s, edf = median_time(
        lambda: export_session(db, sid, "edf", folder / "s.edf"), runs, "EDF+ export"
    )
    out.update(edf_s=round(edf_s, 2), edf_mb=round(edf.bytes / 1e6, 1))  # type: ignore[attr-defined]
    return out


def time_cli(data_dir: Path, sid: int, folder: Path, runs: int) -> dict:
    """The commands as a user runs them, each a new process (imports of numpy, scipy and
    matplotlib included)."""
    out = {}
    for key, argv in (
        ("cli_report_pdf_s", ["report", str(sid), "-o", str(folder / "cli.pdf")]),
        ("cli_export_csv_s", ["export", str(sid), "-o", str(folder / "cli.csv")]),
    ):
        command = [sys.executable, "-m", "biofeedback", "--data-dir", str(data_dir), *argv]
        seconds, _ = median_time(
            lambda command=command: subprocess.run(command, check=True, capture_output=True),
            runs,
            "biofeedback " + " ".join(argv[:2]) + " " + Path(argv[-1]).suffix,
        )
        out[key] = round(seconds, 2)
    return out


def attach_course(db: Database, ids: list[int]) -> None:
    """Make the sessions one course of the subject (every third a clinic session, the others
    home practice, 5 a week of 12 minutes prescribed), as the course report needs one."""
    from biofeedback.storage.courses import open_course, start_course
    from biofeedback.training.adherence import Prescription

    if open_course(db, SUBJECT) is not None:
        return  # a --store kept from an earlier run
    first = db.get_session(ids[0]).local_start.date()
    course_id = start_course(db, SUBJECT, first, Prescription(first, 5, 12), clinician="bench")
    with db.transaction() as conn:
        for n, session_id in enumerate(ids):
            conn.execute(
                "UPDATE sessions SET course_id = ?, setting = ? WHERE id = ?",
                (course_id, "clinic" if n % 3 == 0 else "home", session_id),
            )


def time_course(db_path: Path, sid: int, folder: Path, runs: int, sessions: int) -> dict:
    """The course figures: trend over the subject's sessions, every session's data step, and the
    course report once it exists."""
    copy_session(db_path, sid, sessions - 1)
    with Database(db_path) as db:
        ids = [r.id for r in db.list_sessions(SUBJECT)]
        assert len(ids) == sessions, ids
        attach_course(db, ids)
        trend_s, points = median_time(
            lambda: subject_trend(db, SUBJECT), runs, f"trend over {sessions} sessions"
        )
        data_s, _ = median_time(
            lambda: [collect(db, i) for i in ids], 1, f"report data of {sessions} sessions"
        )
        course_s, _ = median_time(
            lambda: write_course_report(db, SUBJECT, folder / "course.pdf"),
            runs,
            "course report PDF",
        )
    return {
        "course_sessions": sessions,
        "course_trend_s": round(trend_s, 3),
        "course_trend_points": len(points),  # type: ignore[arg-type]
        "course_sessions_data_s": round(data_s, 2),
        "course_report_s": round(course_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--minutes", type=float, default=40.7, help="length of the session")
    parser.add_argument("--course-sessions", type=int, default=12)
    parser.add_argument("--skip-course", action="store_true")
    parser.add_argument(
        "--store",
        metavar="DIR",
        help="data folder to keep the recorded session in (reused when it holds one; the course "
        "copies are added to it): compare versions on the same recording",
    )
    args = parser.parse_args()
    load_before = load()
    print(f"Machine load before: {load_before} (1, 5, 15 min; {os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        store = Path(args.store) if args.store else folder / "data"  # a data folder for the CLI
        db_path = store / "biofeedback.sqlite"
        if db_path.exists():
            with Database(db_path) as db:
                sid = db.list_sessions(SUBJECT)[0].id
            print(f"Using session {sid} of {db_path}")
        else:
            store.mkdir(mode=0o700, parents=True, exist_ok=True)
            print(f"Recording {args.minutes:g} min of {PROTOCOL} (sim learner, RAW+ENV+REF, 1 kHz)")
            t0 = time.perf_counter()
            sid = record_session(db_path, args.minutes)
            print(f"  recorded session {sid} in {time.perf_counter() - t0:.1f} s")
        result: dict = {"benchmark": "reports", "minutes": args.minutes, "runs": args.runs}
        with Database(db_path) as db:
            samples = db.stored_extent(sid)[2]
            result["samples"] = samples
            data_s, _ = median_time(lambda: collect(db, sid), args.runs, "report data step")
            pdf_s, _ = median_time(
                lambda: write_report(db, sid, folder / "r.pdf"), args.runs, "session report PDF"
            )
            html_s, _ = median_time(
                lambda: write_report(db, sid, folder / "r.html"), args.runs, "session report HTML"
            )
            result.update(
                report_data_s=round(data_s, 2),
                report_pdf_s=round(pdf_s, 2),
                report_html_s=round(html_s, 2),
            )
            result.update(time_exports(db, sid, folder, args.runs))
        result.update(time_cli(db_path.parent, sid, folder, args.runs))
        if not args.skip_course:
            result.update(time_course(db_path, sid, folder, args.runs, args.course_sessions))
    result["goals"] = GOALS
    result["load_before"] = load_before
    result["load_after"] = load()
    result["cpus"] = os.cpu_count()
    print(f"Machine load after: {result['load_after']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
