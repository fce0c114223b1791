"""CLI: ``biofeedback export --csv-rate HZ`` writes the compact CSV; bad rates are one line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "storage"))
from storage_helpers import record_sim_session

from biofeedback.cli import main

SIM = "sim://?scenario=relax&seed=4&board=12bit&channels=raw,env,ref&speed=max&chunk_ms=100"


@pytest.fixture
def session(_isolated_data_dir: Path) -> int:
    return record_sim_session(_isolated_data_dir / "biofeedback.sqlite", SIM, 3.0)


def test_export_csv_rate(capsys: pytest.CaptureFixture[str], session: int, tmp_path: Path) -> None:
    out_path = tmp_path / "s.csv"
    code = main(["export", str(session), "-o", str(out_path), "--csv-rate", "100"])
    out, _ = capsys.readouterr()
    assert code == 0 and "compact CSV at 100 Hz" in out
    lines = out_path.read_text().splitlines()
    assert lines[0] == "# biofeedback-envelope-csv: 1"
    body = [line for line in lines if not line.startswith("#")]
    assert body[0] == "time_s,raw_envelope_uv,raw_flags,env_envelope_uv,env_flags"
    assert len(body) == 1 + 300 and body[2].startswith("0.010000,")
    code = main(["export", str(session), "-o", str(out_path), "--csv-rate", "10", "--json"])
    data = json.loads(capsys.readouterr()[0])
    assert code == 0 and data["csv_rate_hz"] == 10.0 and data["format"] == "csv"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-o", "x.edf", "--csv-rate", "100"], "CSV exports only"),
        (["-o", "x.csv", "--csv-rate", "0"], "below the session's 1000 Hz"),
        (["-o", "x.csv", "--csv-rate", "2000"], "below the session's 1000 Hz"),
    ],
)
def test_bad_csv_rate_is_one_line(
    capsys: pytest.CaptureFixture[str],
    session: int,
    tmp_path: Path,
    argv: list[str],
    message: str,
) -> None:
    argv = [a if not a.startswith("x.") else str(tmp_path / a) for a in argv]
    code = main(["export", str(session), *argv])
    _, err = capsys.readouterr()
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err
