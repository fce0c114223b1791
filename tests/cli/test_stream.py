"""`biofeedback stream`: the headless live path end to end (sim -> engine -> pipeline -> summary)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from biofeedback.cli import main


def stream_json(capsys: pytest.CaptureFixture[str], source: str, duration_s: float) -> dict:
    code = main(["stream", "--source", source, "--duration", str(duration_s), "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


def test_acceptance_command_prints_the_documented_json():
    # The exact command from the issue, as a user runs it (subprocess: real entry point).
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "biofeedback",
            "stream",
            "--source",
            "sim://?scenario=relax&seed=1&speed=max",
            "--duration",
            "30",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    for key in ("fs_hz", "samples", "dropped", "channels", "quality"):
        assert key in data
    assert data["samples"] == 30 * 1000
    assert data["dropped"] == 0
    for ch in data["channels"]:
        for key in ("name", "kind", "rms_uv_mean", "rms_uv_median", "noise_floor_uv"):
            assert key in ch
    assert result.stderr == ""  # --json is quiet


@pytest.mark.parametrize("level_uv", [2.0, 5.0, 20.0, 100.0, 500.0])
def test_steady_level_is_measured_within_3_percent_on_a_12bit_board(capsys, level_uv):
    source = f"sim://?scenario=steady&board=12bit&level_uv={level_uv}&seed=3&speed=max"
    data = stream_json(capsys, source, 20)
    raw = next(ch for ch in data["channels"] if ch["kind"] == "raw")
    assert raw["rms_uv_mean"] == pytest.approx(level_uv, rel=0.03)
    assert raw["resolves_rest"] is True


def test_10bit_board_reports_raw_floor_honestly_and_env_still_resolves_rest(capsys):
    level_uv = 3.0
    source = f"sim://?scenario=steady&board=uno&level_uv={level_uv}&seed=5&speed=max"
    data = stream_json(capsys, source, 20)
    raw = next(ch for ch in data["channels"] if ch["kind"] == "raw")
    env = next(ch for ch in data["channels"] if ch["kind"] == "env")
    # 24.4 uV steps: quantisation noise step / sqrt(12) ~ 7 uV RMS (docs/signal-processing.md,
    # "Noise floor and what a board can resolve"), most of it inside 20-450 Hz
    assert 6.0 <= raw["noise_floor_uv"] <= 7.5
    assert raw["resolves_rest"] is False
    assert any("cannot resolve rest" in w for w in data["warnings"])
    assert env["rms_uv_mean"] == pytest.approx(level_uv, rel=0.10)


def test_human_summary_says_raw_cannot_resolve_rest_on_uno(capsys):
    code = main(
        ["stream", "--source", "sim://?scenario=relax&board=uno&speed=max", "--duration", "5"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "cannot resolve rest" in out
    assert "noise floor" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "sim://?scenario=zen"], "scenario"),
        (["--source", "nonsense"], "not a source URL"),
        (["--source", "sim://?senario=relax"], "unknown option"),
        (["--duration", "-1"], "--duration"),
        (["--rms-window-ms", "5"], "window"),
    ],
)
def test_bad_input_gives_one_clear_line_and_exit_2(capsys, args, message):
    code = main(["stream", *args, "--json"])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_unknown_option_exits_2_with_hint(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["stream", "--bogus"])
    assert exc.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["stream", "--source", "sim://?speed=max", "--duration", "inf"], "positive number"),
        (["stream", "--source", "sim://?speed=max"], "give --duration"),
        (["record", "--source", "sim://?speed=max", "--duration", "nan"], "positive number"),
        (
            ["record", "--source", "sim://?speed=max", "--protocol", "pmr", "--duration", "5"],
            "not both",
        ),
        (["doctor", "--source", "sim://?speed=max", "--duration", "inf"], "positive number"),
    ],
)
def test_impossible_durations_are_refused(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_file_as_data_dir_is_a_clear_error(capsys, tmp_path):
    afile = tmp_path / "not-a-folder"
    afile.write_text("x")
    assert main(["--data-dir", str(afile), "sessions"]) == 2
    assert "is a file" in capsys.readouterr().err


def test_source_ending_before_duration_is_reported(capsys):
    code = main(
        ["stream", "--source", "sim://?duration_s=1&speed=max", "--duration", "5", "--json"]
    )
    data = json.loads(capsys.readouterr().out)
    assert code == 1
    assert data["samples"] == 1000
    assert any("before --duration" in w for w in data["warnings"])


def test_output_piped_into_a_closed_reader_is_not_a_traceback():
    result = subprocess.run(
        f"{sys.executable} -m biofeedback protocols show clinical-session | head -1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr
