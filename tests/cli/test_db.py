"""CLI: the store cannot be destroyed by a command; `db check`, `db backup`; bad paths and ids."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "storage"))
from storage_helpers import record_sim_session
from test_integrity import corrupt, make_store

from biofeedback.cli import main

SIM = "sim://?scenario=relax&seed=4&board=12bit&channels=raw,env,ref&speed=max&chunk_ms=100"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "dd"
    folder.mkdir(mode=0o700)
    return folder


def test_export_onto_the_database_exits_2_and_every_session_stays(
    capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    dd = str(data_dir)
    code, _, _ = run_cli(capsys, "--data-dir", dd, "record", "--source", SIM, "--duration", "2")
    assert code == 0
    for target in ("biofeedback.sqlite", "biofeedback.sqlite-wal", "backups/x.csv"):
        code, out, err = run_cli(
            capsys, "--data-dir", dd, "export", "1", "--format", "csv", "-o", str(data_dir / target)
        )
        assert code == 2 and "refusing to write" in one_line(err), (target, out, err)
    link = data_dir.parent / "report.html"
    link.symlink_to(data_dir / "biofeedback.sqlite")
    code, out, err = run_cli(capsys, "--data-dir", dd, "report", "1", "-o", str(link))
    assert code == 2 and "refusing to write" in one_line(err)
    code, out, _ = run_cli(capsys, "--data-dir", dd, "sessions", "--json")
    assert code == 0 and [s["id"] for s in json.loads(out)["sessions"]] == [1]
    assert run_cli(capsys, "--data-dir", dd, "db", "check")[0] == 0


def test_out_of_range_session_ids_long_names_and_an_empty_data_dir(
    capsys: pytest.CaptureFixture[str], _isolated_data_dir: Path, tmp_path: Path
) -> None:
    record_sim_session(_isolated_data_dir / "biofeedback.sqlite", SIM, 1.0)
    for sid in ("99999999999999999999999", "9223372036854775808", "0" * 30 + "9" * 25):
        code, _, err = run_cli(capsys, "export", sid, "-o", str(tmp_path / "x.csv"))
        assert code == 2 and "no session" in one_line(err)
        code, _, err = run_cli(capsys, "report", sid, "-o", str(tmp_path / "x.html"))
        assert code == 2 and "no session" in one_line(err)
    long = tmp_path / ("a" * 300 + ".edf")
    code, _, err = run_cli(capsys, "export", "1", "-o", str(long))
    assert code == 2 and "too long" in one_line(err)
    code, _, err = run_cli(capsys, "--data-dir", "", "sessions")
    assert code == 2 and "--data-dir" in one_line(err)


def test_db_check_ok_and_damaged(
    capsys: pytest.CaptureFixture[str], data_dir: Path, tmp_path: Path
) -> None:
    dd = str(data_dir)
    code, _, err = run_cli(capsys, "--data-dir", dd, "db", "check")
    assert code == 2 and "no session database" in one_line(err)
    path = data_dir / "biofeedback.sqlite"
    make_store(path)
    code, out, _ = run_cli(capsys, "--data-dir", dd, "db", "check")
    assert code == 0 and out.strip().endswith("s)") and ": ok" in out
    corrupt(path)
    code, out, _ = run_cli(capsys, "--data-dir", dd, "db", "check")
    assert code == 1 and "DAMAGED" in out and "backups" in out
    code, out, _ = run_cli(capsys, "--data-dir", dd, "db", "check", "--json")
    report = json.loads(out)
    assert code == 1 and report["ok"] is False and report["problems"]
    code, _, err = run_cli(capsys, "db", "check", str(tmp_path / "missing.sqlite"))
    assert code == 2 and "not a file" in one_line(err)


def test_recording_into_a_damaged_database_is_refused_reading_still_works(
    capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    dd = str(data_dir)
    path = data_dir / "biofeedback.sqlite"
    make_store(path)
    corrupt(path)
    before = path.read_bytes()
    code, _, err = run_cli(capsys, "--data-dir", dd, "record", "--source", SIM, "--duration", "1")
    assert code == 2
    assert "damaged" in err and "biofeedback db check" in err and "Traceback" not in err
    code, out, _ = run_cli(capsys, "--data-dir", dd, "sessions", "--json")
    assert code == 0 and len(json.loads(out)["sessions"]) == 1
    assert path.read_bytes() == before


def test_db_backup_is_a_sound_0600_copy_and_refuses_the_live_database(
    capsys: pytest.CaptureFixture[str], data_dir: Path, tmp_path: Path
) -> None:
    dd = str(data_dir)
    make_store(data_dir / "biofeedback.sqlite")
    target = tmp_path / "copy.sqlite"
    code, out, _ = run_cli(capsys, "--data-dir", dd, "db", "backup", "-o", str(target), "--json")
    result = json.loads(out)
    assert code == 0 and result["ok"] is True and result["path"] == str(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert run_cli(capsys, "db", "check", str(target))[0] == 0
    code, _, err = run_cli(
        capsys, "--data-dir", dd, "db", "backup", "-o", str(data_dir / "biofeedback.sqlite")
    )
    assert code == 2 and "refusing to write" in one_line(err)
