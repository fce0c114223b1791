"""Outputs the user names (-o) never destroy the store and are written safely (0600, atomic)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from storage_helpers import myoware_info, synthetic_counts

from biofeedback.errors import StorageError
from biofeedback.storage.database import Database
from biofeedback.storage.export import export_session
from biofeedback.storage.safe_output import (
    check_output_path,
    open_output,
    refuse_store_target,
    store_files,
)


def _store(folder: Path) -> tuple[Database, int]:
    folder.mkdir(mode=0o700, exist_ok=True)
    db = Database(folder / "biofeedback.sqlite")
    sid = db.create_session("P1", "demo", myoware_info())
    samples = synthetic_counts(3000)
    with db.transaction() as conn:
        for a in range(0, 3000, 1000):
            db.write_block(conn, sid, a, samples[a : a + 1000], samples[a : a + 1000, 0] * 0)
    db.finish_session(sid, "complete")
    return db, sid


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("suffix", ["", "-wal", "-shm", "-journal"])
def test_export_onto_the_database_or_its_files_is_refused(tmp_path: Path, suffix: str) -> None:
    db, sid = _store(tmp_path / "data")
    target = Path(f"{db.path}{suffix}")
    before = db.path.read_bytes()
    with pytest.raises(StorageError, match=r"refusing to write .* session database"):
        export_session(db, sid, "csv", target)
    assert db.path.read_bytes() == before
    assert not target.exists() or not target.read_bytes().startswith(b"# biofeedback")
    assert db.get_session(sid).n_samples == 3000
    assert db.integrity_check() == "ok"
    db.close()


def test_links_and_dot_dot_to_the_database_are_refused(tmp_path: Path) -> None:
    db, sid = _store(tmp_path / "data")
    (tmp_path / "data" / "backups").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "db.csv").symlink_to(db.path)
    (tmp_path / "out" / "into").symlink_to(tmp_path / "data" / "backups")
    for target in (
        tmp_path / "out" / "db.csv",  # a link to the database
        tmp_path / "data" / "nowhere" / ".." / "biofeedback.sqlite",
        tmp_path / "out" / "into" / ".." / "biofeedback.sqlite",  # ".." after a link
        tmp_path / "data" / "backups" / "mine.edf",
        tmp_path / "data" / "settings.json",
    ):
        with pytest.raises(StorageError, match="refusing to write"):
            export_session(db, sid, "edf", target)
    assert db.integrity_check() == "ok"
    db.close()


def test_the_configured_data_dir_is_protected_whatever_database_is_exported(
    tmp_path: Path, _isolated_data_dir: Path
) -> None:
    live = Database()  # the data dir's store
    live.close()
    db, sid = _store(tmp_path / "other")
    with pytest.raises(StorageError, match="session database"):
        export_session(db, sid, "csv", _isolated_data_dir / "biofeedback.sqlite")
    db.close()


def test_exports_are_0600_even_over_a_0644_file(tmp_path: Path) -> None:
    db, sid = _store(tmp_path / "data")
    old = os.umask(0o022)
    try:
        target = tmp_path / "s.csv"
        target.write_text("old")
        target.chmod(0o644)
        export_session(db, sid, "csv", target)
        new = export_session(db, sid, "edf", tmp_path / "s.edf")
    finally:
        os.umask(old)
    assert _mode(target) == 0o600 and target.read_text().startswith("# biofeedback-csv")
    assert _mode(new.path) == 0o600
    db.close()


def test_a_planted_link_at_the_old_predictable_temp_name_is_not_followed(tmp_path: Path) -> None:
    db, sid = _store(tmp_path / "data")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / ".s.csv.part").symlink_to(victim)  # what the old exporter wrote through
    export_session(db, sid, "csv", out / "s.csv")
    assert victim.read_text() == "precious"
    assert (out / "s.csv").read_text().startswith("# biofeedback-csv")
    db.close()


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_an_interrupted_export_leaves_no_file(tmp_path: Path, error: type) -> None:
    db, sid = _store(tmp_path / "data")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.csv").write_text("old export")

    def progress(fraction: float) -> None:
        raise error("stop")

    for name in ("new.csv", "keep.csv"):
        with pytest.raises(error):
            export_session(db, sid, "csv", out / name, progress=progress)
    assert sorted(p.name for p in out.iterdir()) == ["keep.csv"]
    assert (out / "keep.csv").read_text() == "old export"
    db.close()


def test_open_output_renames_only_at_the_end_with_a_random_exclusive_temp(tmp_path: Path) -> None:
    target = tmp_path / "r.html"
    names = set()
    for _ in range(2):
        with open_output(target) as out:
            out.file.write(b"<p>x</p>")
            assert not target.exists() or target.read_bytes() == b"<p>x</p>"
            assert out.tmp.parent == tmp_path and out.tmp.name.startswith(".r.html.")
            assert _mode(out.tmp) == 0o600
            names.add(out.tmp.name)
        target.unlink()
    assert len(names) == 2  # not a predictable name
    assert list(tmp_path.iterdir()) == []


def test_too_long_names_and_missing_folders_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="too long") as info:
        check_output_path(tmp_path / ("a" * 300 + ".edf"))
    assert "\n" not in str(info.value)
    with pytest.raises(StorageError, match="too long"):
        check_output_path(tmp_path / ("é" * 200 + ".csv"))  # 400 bytes in UTF-8
    with pytest.raises(StorageError, match="does not exist"):
        check_output_path(tmp_path / "nope" / "x.csv")
    with pytest.raises(StorageError, match="needs a file name"):
        check_output_path("")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_folder_that_may_not_be_written_is_one_line(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(StorageError, match="permission denied"):
        check_output_path(locked / "x.csv")


def test_store_files_name_the_database_and_its_neighbours(tmp_path: Path) -> None:
    names = {p.path.name for p in store_files(tmp_path / "biofeedback.sqlite")}
    assert {"biofeedback.sqlite", "biofeedback.sqlite-wal", "backups", "settings.json"} <= names


def test_report_onto_the_database_is_refused(tmp_path: Path) -> None:
    from biofeedback.reports.clinician import write_report

    db, sid = _store(tmp_path / "data")
    link = tmp_path / "report.html"
    link.symlink_to(db.path)
    with pytest.raises(StorageError, match="refusing to write"):
        write_report(db, sid, link)
    out = write_report(db, sid, tmp_path / "r.html")
    assert _mode(out) == 0o600
    assert db.integrity_check() == "ok"
    db.close()


def test_appending_writers_can_refuse_the_store(_isolated_data_dir: Path, tmp_path: Path) -> None:
    Database().close()
    with pytest.raises(StorageError, match="--log-file"):
        refuse_store_target(_isolated_data_dir / "biofeedback.sqlite")
    refuse_store_target(tmp_path / "run.log")  # anything else is fine


def test_permission_denied_and_full_disk_while_writing_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from biofeedback.storage import safe_output

    real_open = os.open

    def denied(path, flags, mode=0o777):
        if str(path).endswith(".part"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, mode)

    monkeypatch.setattr(safe_output.os, "open", denied)
    with (
        pytest.raises(StorageError, match="permission denied") as info,
        open_output(tmp_path / "x.csv") as out,
    ):
        out.file.write(b"x")
    assert "\n" not in str(info.value)
    monkeypatch.undo()
    with pytest.raises(StorageError, match="disk is full"), open_output(tmp_path / "y.csv"):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []
