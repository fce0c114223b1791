"""Cost of the damaged-database check and of backups on a big session database.

Builds a database of ``--mb`` MB (default 100) of stored samples (random ADC codes, which
compress badly, so the file is as big as hours of a busy recording), then times:

- ``quick_check``: what :class:`~biofeedback.storage.database.Database` runs before its first
  write (so before every recording starts);
- ``integrity_check``: what ``biofeedback db check`` runs;
- the online backup (``biofeedback db backup``, and the daily automatic backup that runs on a
  background thread).

Each is run ``--repeat`` times on a warm page cache; with ``--cold`` the page cache is dropped
before each run first (Linux, needs root: ``/proc/sys/vm/drop_caches``).

    python benchmarks/db_integrity.py [--mb 100] [--repeat 3] [--cold]

The last line printed is one JSON object with the figures (median seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from biofeedback.core.types import ChannelInfo, ChannelKind, StreamInfo
from biofeedback.storage.database import Database
from biofeedback.storage.integrity import backup_database


def build(path: Path, megabytes: float) -> int:
    """Fill a new database at ``path`` to about ``megabytes``; returns its size in bytes."""
    info = StreamInfo(
        fs_hz=1000.0, channels=(ChannelInfo("raw", ChannelKind.RAW),), adc_bits=12, vref_v=5.0
    )
    rng = np.random.default_rng(1)
    with Database(path) as db:
        sid = db.create_session(None, "bench", info)
        index = 0
        while path.stat().st_size + _wal(path) < megabytes * 1e6:
            with db.transaction() as conn:
                for _ in range(200):
                    samples = rng.integers(0, 4096, size=(1000, 1)).astype(float)
                    db.write_block(conn, sid, index, samples, np.zeros(1000, np.uint16))
                    index += 1000
        db.finish_session(sid, "complete")
    return path.stat().st_size


def _wal(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


def drop_caches() -> None:
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w", encoding="ascii") as fh:
        fh.write("3\n")


def timed(fn, repeat: int, cold: bool) -> float:
    runs = []
    for _ in range(repeat):
        if cold:
            drop_caches()
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=100.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="drop the page cache before each run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "biofeedback.sqlite"
        size = build(path, args.mb)

        def check(full: bool) -> None:
            with Database(path) as db:
                assert db.problems(full=full) == []

        def backup() -> None:
            target = Path(tmp) / "copy.sqlite"
            backup_database(path, target)
            target.unlink()

        figures = {
            "database_mb": round(size / 1e6, 1),
            "cold_cache": args.cold,
            "quick_check_s": round(timed(lambda: check(False), args.repeat, args.cold), 3),
            "integrity_check_s": round(timed(lambda: check(True), args.repeat, args.cold), 3),
            "backup_s": round(timed(backup, args.repeat, args.cold), 3),
        }
    for key, value in figures.items():
        print(f"{key:>18}: {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
