"""CLI: sessions, export, report, replay (in-process through biofeedback.cli.main)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pyedflib
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "storage"))
from storage_helpers import record_sim_session

from biofeedback.cli import main
from biofeedback.storage.database import Database

SIM = "sim://?scenario=relax&seed=4&board=12bit&channels=raw,env,ref&speed=max&chunk_ms=100"


@pytest.fixture
def session(_isolated_data_dir: Path) -> int:
    return record_sim_session(
        _isolated_data_dir / "biofeedback.sqlite", SIM, 4.0, subject="P007", muscle="trapezius"
    )


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_sessions_empty_then_listed(
    capsys: pytest.CaptureFixture[str], _isolated_data_dir: Path
) -> None:
    code, out, _ = run_cli(capsys, "sessions")
    assert code == 0 and out.startswith("No sessions")
    sid = record_sim_session(_isolated_data_dir / "biofeedback.sqlite", SIM, 2.0, subject="P007")
    code, out, _ = run_cli(capsys, "sessions")
    assert code == 0
    line = next(x for x in out.splitlines() if x.strip().startswith(str(sid)))
    assert "P007" in line and "complete" in line and "0:00:02" in line
    code, out, _ = run_cli(capsys, "sessions", "--subject", "P007", "--json")
    data = json.loads(out)
    assert [s["id"] for s in data["sessions"]] == [sid]
    assert data["sessions"][0]["samples"] == 2000 and data["sessions"][0]["fs_hz"] == 1000.0
    code, out, _ = run_cli(capsys, "sessions", "--subject", "nobody", "--json")
    assert json.loads(out)["sessions"] == []


def test_sessions_closes_crashed_sessions(
    capsys: pytest.CaptureFixture[str], _isolated_data_dir: Path
) -> None:
    from storage_helpers import myoware_info

    with Database() as db:
        sid = db.create_session("P1", "x", myoware_info())
        with db.transaction() as conn:
            conn.execute("UPDATE sessions SET writer_pid = 999999999 WHERE id = ?", (sid,))
    code, out, err = run_cli(capsys, "sessions")
    assert code == 0 and f"Closed session(s) {sid} as interrupted" in err
    assert "interrupted" in out


def test_sessions_progress(capsys: pytest.CaptureFixture[str], session: int) -> None:
    with Database() as db:
        db.set_weekly_goal("P007", 3)
    code, out, _ = run_cli(capsys, "sessions", "--subject", "P007", "--progress", "--json")
    progress = json.loads(out)["progress"]
    assert progress["this_week"]["goal"] == 3 and progress["subject_id"] == "P007"
    code, _, err = run_cli(capsys, "sessions", "--progress")
    assert code == 2 and "needs --subject" in err


def test_export_edf_and_csv(
    capsys: pytest.CaptureFixture[str], session: int, tmp_path: Path
) -> None:
    code, out, err = run_cli(
        capsys, "export", str(session), "-o", str(tmp_path / "s.edf"), "--json"
    )
    assert code == 0 and err == ""
    info = json.loads(out)
    assert info["format"] == "edf" and info["samples"] == 4000 and info["channels"] == 3
    with pyedflib.EdfReader(info["path"]) as reader:
        assert reader.signals_in_file == 3 and reader.getSampleFrequency(0) == 1000.0
    code, out, _ = run_cli(
        capsys, "export", str(session), "--format", "csv", "-o", str(tmp_path / "s.txt")
    )
    assert code == 0 and out.startswith(
        f"Wrote {tmp_path / 's.txt'} (CSV, 3 channels, 4000 samples"
    )
    text = (tmp_path / "s.txt").read_text().splitlines()
    header = sum(1 for line in text if line.startswith("#")) + 1  # comments + column names
    rows = np.loadtxt(text[header:], delimiter=",")
    assert rows.shape == (4000, 10)


def test_export_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], session: int, tmp_path: Path
) -> None:
    code, _, err = run_cli(capsys, "export", "99", "-o", str(tmp_path / "x.edf"))
    assert code == 2 and "no session 99" in err and "Traceback" not in err and err.count("\n") == 1
    code, _, err = run_cli(capsys, "export", str(session), "-o", str(tmp_path / "x.xls"))
    assert code == 2 and "--format edf" in err
    code, _, err = run_cli(capsys, "export", "abc", "-o", str(tmp_path / "x.edf"))
    assert code == 2 and "not a session id" in err


def test_report_pdf_and_html(
    capsys: pytest.CaptureFixture[str], session: int, tmp_path: Path
) -> None:
    code, out, _ = run_cli(capsys, "report", str(session), "-o", str(tmp_path / "r.pdf"), "--json")
    data = json.loads(out)
    assert code == 0 and data["bytes"] > 10_000
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
    code, out, _ = run_cli(capsys, "report", str(session), "-o", str(tmp_path / "r.html"))
    assert (
        code == 0 and "<h1>EMG biofeedback session report</h1>" in (tmp_path / "r.html").read_text()
    )
    code, _, err = run_cli(capsys, "report", str(session), "-o", str(tmp_path / "r.doc"))
    assert code == 2 and ".pdf or .html" in err


def test_replay_headless_session_and_file(
    capsys: pytest.CaptureFixture[str], session: int, tmp_path: Path
) -> None:
    code, out, _ = run_cli(capsys, "replay", str(session), "--headless", "--json", "--speed", "max")
    summary = json.loads(out)
    assert code == 0 and summary["samples"] == 4000 and summary["fs_hz"] == 1000.0
    assert summary["source"].startswith(f"replay://{session}")
    # A file with spaces in its name, needing --fs and --units.
    path = tmp_path / "my emg.csv"
    rng = np.random.default_rng(0)
    path.write_text("\n".join(f"{v:.5f}" for v in rng.normal(0, 0.02, 3000)) + "\n")
    code, _, err = run_cli(capsys, "replay", str(path), "--headless", "--json", "--speed", "max")
    assert code == 2 and "fs=1000" in err
    code, out, _ = run_cli(
        capsys,
        "replay",
        str(path),
        "--fs",
        "1000",
        "--units",
        "mV",
        "--headless",
        "--json",
        "--speed",
        "max",
    )
    assert code == 0 and json.loads(out)["samples"] == 3000
    code, _, err = run_cli(capsys, "replay", "42", "--headless")
    assert code == 2 and "no session 42" in err
    code, _, err = run_cli(capsys, "replay", "nothing-here.csv", "--headless")
    assert code == 2 and "neither a session id nor a file" in err


def test_replay_opens_the_window_on_the_replay_url(
    capsys: pytest.CaptureFixture[str], session: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from biofeedback.cli import gui

    seen = {}

    def fake_run(args) -> int:
        seen["source"] = args.source
        return 0

    monkeypatch.setattr(gui, "run", fake_run)
    code, _, _ = run_cli(capsys, "replay", str(session), "--speed", "2", "--live")
    assert code == 0 and seen["source"] == f"replay://{session}?speed=2"


def test_practice_wording() -> None:
    from biofeedback.cli.sessions import practice_text

    assert practice_text(2, None) == "2 sessions this week (no weekly goal set)"
    assert practice_text(1, None) == "1 session this week (no weekly goal set)"
    assert practice_text(2, 3) == "2 of 3 sessions this week"
