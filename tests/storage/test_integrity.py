"""Damaged databases are detected and never written into; backups (online, daily, rolling)."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import time
from pathlib import Path

import numpy as np
import pytest
from storage_helpers import myoware_info

from biofeedback.errors import StorageError
from biofeedback.storage import integrity
from biofeedback.storage.database import Database
from biofeedback.storage.integrity import (
    BACKUPS_KEPT,
    DamagedDatabaseError,
    backup_database,
    backup_name,
    list_backups,
    take_daily_backup,
)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def logged():
    """Messages logged under biofeedback.storage, whatever the app's logging setup (the CLI's
    logger does not propagate to the root, where caplog listens)."""
    handler = _Records()
    logger = logging.getLogger("biofeedback.storage")
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def make_store(path: Path, blocks: int = 200, status: str = "complete") -> int:
    """A real database of ~1 MB (random samples compress badly), WAL checkpointed on close."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = Database(path)
    sid = db.create_session("P1", "demo", myoware_info())
    rng = np.random.default_rng(3)
    with db.transaction() as conn:
        for k in range(blocks):
            samples = rng.integers(0, 4096, size=(1000, 3)).astype(float)
            db.write_block(conn, sid, k * 1000, samples, np.zeros(1000, np.uint16))
    if status == "complete":
        db.finish_session(sid, "complete")
    else:  # a recorder that died long ago
        with db.transaction() as conn:
            conn.execute("UPDATE sessions SET heartbeat_at = 0, writer_pid = NULL")
    db.close()
    return sid


def corrupt(path: Path, pages: int = 3) -> None:
    """Overwrite ``pages`` pages in the middle of the file, as a bad disk sector would."""
    size = path.stat().st_size
    page = 4096
    assert size > 20 * page, "the database is too small to damage in the middle"
    with open(path, "r+b") as fh:
        fh.seek((size // 2) // page * page)
        fh.write(b"\xa5" * (pages * page))


def test_a_damaged_database_is_refused_for_writing_and_never_written(tmp_path: Path) -> None:
    path = tmp_path / "data" / "biofeedback.sqlite"
    sid = make_store(path)
    corrupt(path)
    before = path.read_bytes()
    db = Database(path)
    assert [r.id for r in db.list_sessions()] == [sid]  # reading still works
    with pytest.raises(DamagedDatabaseError) as info:
        db.create_session("P2", "demo", myoware_info())
    message = str(info.value)
    assert "biofeedback db check" in message and "backups" in message and "\n" not in message
    with pytest.raises(DamagedDatabaseError):
        db.add_marker(sid, 0, "late")
    db.close()
    assert path.read_bytes() == before


def test_housekeeping_skips_a_damaged_database_so_reading_works(
    tmp_path: Path, logged: list[str]
) -> None:
    path = tmp_path / "biofeedback.sqlite"
    sid = make_store(path, status="recording")
    corrupt(path)
    with Database(path) as db:
        assert db.recover_interrupted() == []
        assert db.get_session(sid).status == "recording"
    assert any("damaged" in m for m in logged)


def test_a_sound_database_is_checked_once_per_object(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = integrity.run_check

    def counting(conn: sqlite3.Connection, full: bool = False, limit: int = 100) -> list[str]:
        calls.append(full)
        return real(conn, full, limit)

    monkeypatch.setattr("biofeedback.storage.database.run_check", counting)
    with Database(tmp_path / "x.sqlite") as db:
        sid = db.create_session("P1", "demo", myoware_info())
        db.add_marker(sid, 0, "a")
        db.finish_session(sid, "complete")
    assert calls == [False]  # one quick_check
    assert not (tmp_path / "backups").exists()  # an explicit path keeps no automatic backups


def test_online_backup_while_another_connection_writes(tmp_path: Path) -> None:
    path = tmp_path / "data" / "biofeedback.sqlite"
    make_store(path)
    writer = Database(path)
    writer.create_session("P9", "demo", myoware_info())  # an open store, WAL in use
    result = backup_database(path, tmp_path / "copy.sqlite")
    writer.close()
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600
    copy = sqlite3.connect(result.path)
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert copy.execute("SELECT count(*) FROM sessions").fetchone()[0] == 2
    assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    copy.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.sqlite", "data"]
    for target in (path, Path(f"{path}-wal"), path.parent / "backups" / "b.sqlite"):
        with pytest.raises(StorageError, match="refusing to write"):
            backup_database(path, target)


def test_the_data_dir_store_takes_one_backup_a_day_in_the_background(
    _isolated_data_dir: Path,
) -> None:
    db = Database()
    folder = db.path.parent / "backups"
    db.create_session("P1", "demo", myoware_info())
    today = folder / backup_name(time.strftime("%Y-%m-%d"))
    deadline = time.monotonic() + 30.0
    while not today.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert today.exists()
    db.close()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(today.stat().st_mode) == 0o600
    with Database() as again:  # the same day: no second copy is started
        again.create_session("P1", "demo", myoware_info())
        assert integrity.start_daily_backup(again.path) is None
    assert list_backups(folder) == [today]


def test_rolling_backups_keep_the_newest_seven(tmp_path: Path) -> None:
    path = tmp_path / "biofeedback.sqlite"
    make_store(path, blocks=2)
    folder = tmp_path / "backups"
    folder.mkdir()
    for day in range(1, 10):
        (folder / backup_name(f"2026-11-{day:02d}")).write_bytes(b"old")
    (folder / "notes.txt").write_text("mine")
    result = take_daily_backup(path, folder, "2026-12-02")
    assert result is not None and result.path.name == backup_name("2026-12-02")
    kept = [p.name for p in list_backups(folder)]
    assert len(kept) == BACKUPS_KEPT and kept[-1] == backup_name("2026-12-02")
    assert kept[0] == backup_name("2026-11-04")
    assert (folder / "notes.txt").exists()
    assert take_daily_backup(path, folder, "2026-12-02") is None  # already there


def test_a_failed_automatic_backup_is_logged_not_raised(tmp_path: Path, logged: list[str]) -> None:
    path = tmp_path / "biofeedback.sqlite"
    make_store(path, blocks=2)
    (tmp_path / "backups").write_text("a file where the folder should be")
    thread = integrity.start_daily_backup(path, day="2026-12-02")
    assert thread is not None
    thread.join(30.0)
    assert any("automatic backup" in m for m in logged)
    assert os.path.isfile(tmp_path / "backups")
