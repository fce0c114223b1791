"""`biofeedback record`: a guided session headless, stored, with per-phase measures."""

from __future__ import annotations

import json

import pytest

from biofeedback.cli import main
from biofeedback.storage.database import Database


def record_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    code = main(["record", *args, "--json"])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, json.loads(out.out)


def test_guided_session_is_stored_with_the_documented_json(capsys):
    code, data = record_json(
        capsys,
        "--source",
        "sim://?scenario=relax&board=12bit&seed=2&speed=max",
        "--protocol",
        "desk-10min",
        "--subject",
        "P007",
        "--pain-before",
        "6",
        "--pain-after",
        "4",
    )
    assert code == 0
    assert data["protocol"] == "desk-10min" and data["status"] == "complete"
    for phase in data["phases"]:
        for key in ("name", "kind", "start_s", "duration_s", "mean_uv", "median_uv", "pct_below"):
            assert key in phase
        assert "threshold_uv" in phase
    starts = [p["start_s"] for p in data["phases"]]
    assert starts == sorted(starts)

    db = Database()
    record = db.get_session(data["session_id"])
    assert record.status == "complete"
    assert record.subject_id == "P007"
    assert record.pain_before == 6 and record.pain_after == 4
    stored = db.phases(data["session_id"])
    assert [p["name"] for p in stored] == [p["name"] for p in data["phases"]]
    for mine, theirs in zip(data["phases"], stored, strict=True):
        assert theirs["mean_uv"] == pytest.approx(mine["mean_uv"], rel=1e-12)
    _first, samples, _flags = db.read_samples(data["session_id"])
    assert len(samples) == round(data["duration_s"] * 1000)
    db.close()


def test_on_a_10bit_board_the_session_scores_env_and_says_why(capsys):
    code, data = record_json(
        capsys, "--source", "sim://?scenario=relax&board=uno&speed=max", "--protocol", "desk-10min"
    )
    assert code == 0
    notes = " ".join(data["summary"].get("notes", []))
    assert "Scoring env instead of raw" in notes


def test_plain_recording_for_a_duration(capsys):
    code, data = record_json(
        capsys, "--source", "sim://?scenario=steady&speed=max", "--duration", "12"
    )
    assert code == 0 and data["status"] == "complete" and data["phases"] == []
    db = Database()
    _, samples, _ = db.read_samples(data["session_id"])
    assert len(samples) == 12_000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "sim://?speed=max"], "--protocol NAME"),
        (["--source", "sim://?speed=max", "--protocol", "no-such-protocol"], "no-such-protocol"),
        (["--source", "sim://?speed=max", "--duration", "5", "--pain-before", "12"], "0 and 10"),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, args, message):
    code = main(["record", *args])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err
