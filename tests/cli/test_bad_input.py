"""Bad input is one line on stderr and exit 2, never a traceback, for every command and option."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from biofeedback.cli import main
from biofeedback.core.limits import MAX_DURATION_S, MAX_SESSION_ID
from biofeedback.devices.registry import open_device
from biofeedback.errors import SourceURLError

SIM = "sim://?scenario=relax&speed=max"
NOT_UTF8 = b"\xff\xfe".decode("utf-8", "surrogateescape")  # how Linux hands such bytes to Python


def fails_in_one_line(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run the CLI; assert exit 2 with one line on stderr (no traceback); return that line."""
    code = main(list(argv))
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("biofeedback: "), err
    return lines[0]


# -- text that is not UTF-8 -------------------------------------------------------------------------
def test_notes_that_are_not_utf8_are_refused_naming_the_option(capsys):
    line = fails_in_one_line(
        capsys, "record", "--source", SIM, "--duration", "1", "--notes", NOT_UTF8
    )
    assert "--notes" in line and "UTF-8" in line


@pytest.mark.parametrize(
    "argv",
    [
        ["record", "--source", SIM, "--duration", "1", "--subject", NOT_UTF8],
        ["stream", "--source", f"{SIM}&seed={NOT_UTF8}", "--duration", "1"],
        ["replay", f"/tmp/{NOT_UTF8}.csv", "--headless"],
    ],
)
def test_free_text_and_sources_that_are_not_utf8_are_refused(capsys, argv):
    assert "UTF-8" in fails_in_one_line(capsys, *argv)


@pytest.mark.parametrize("command", [["protocols", "validate"], ["--data-dir"], ["--log-file"]])
def test_file_names_that_are_not_utf8_are_let_through_and_printed_as_given(tmp_path, command):
    """File names on Linux may hold any bytes: those only opened here work, even when stdout is
    strict UTF-8 (the name is printed as its own bytes, as ls does)."""
    name = os.fsencode(tmp_path) + b"/mine\xff\xfe"
    if command[0] == "protocols":
        path = name + b".toml"
        with open(path, "wb") as fh:
            fh.write(b'name = "mine"\n[[phases]]\nkind = "rest"\nduration = "1 min"\n')
        argv = [b"protocols", b"validate", path]
    elif command[0] == "--data-dir":
        argv = [b"--data-dir", name, b"sessions"]
    else:
        argv = [b"--log-file", name + b".log", b"-v", b"--data-dir", name, b"sessions"]
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}
    result = subprocess.run(
        [sys.executable.encode(), b"-m", b"biofeedback", *argv],
        capture_output=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert b"Traceback" not in result.stderr
    assert b"mine\xff\xfe" in result.stdout
    if command[0] == "--log-file":
        assert os.path.exists(name + b".log")


def test_real_non_utf8_bytes_on_the_command_line_give_one_line(tmp_path):
    env_home = tmp_path / "home"
    argv = [sys.executable, "-m", "biofeedback", "--data-dir", str(env_home), "record"]
    argv += ["--source", SIM, "--duration", "1", "--notes"]
    result = subprocess.run(
        [a.encode() for a in argv] + [b"\xff\xfe"], capture_output=True, timeout=120
    )
    err = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 2, err
    assert "Traceback" not in err and "--notes" in err
    assert len(err.strip().splitlines()) == 1


# -- session ids ------------------------------------------------------------------------------------
@pytest.mark.parametrize("target", ["99999999999999999999999", str(MAX_SESSION_ID + 1), "0"])
def test_replay_of_an_out_of_range_session_id_is_one_line(capsys, target):
    assert "session" in fails_in_one_line(capsys, "replay", target, "--headless")


def test_a_replay_url_with_an_out_of_range_session_id_is_one_line(capsys):
    line = fails_in_one_line(
        capsys, "stream", "--source", "replay://99999999999999999999999", "--duration", "1"
    )
    assert "out of range" in line


# -- durations, timeouts --------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["1e300", "nan", "inf", "-1", "0", str(MAX_DURATION_S + 1)])
@pytest.mark.parametrize(
    "command",
    [
        ["stream", "--source", SIM, "--duration"],
        ["record", "--source", SIM, "--duration"],
        ["replay", "1", "--headless", "--duration"],
        ["doctor", "--source", SIM, "--duration"],
    ],
)
def test_durations_must_be_finite_positive_and_at_most_a_day(capsys, command, value):
    line = fails_in_one_line(capsys, *command, value)
    assert command[-1] in line


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "0", "1e9"])
def test_devices_timeout_must_be_a_sane_number_of_seconds(capsys, value):
    assert "--timeout" in fails_in_one_line(capsys, "devices", "--timeout", value)


# -- numbers in options and source URLs -----------------------------------------------------------
@pytest.mark.parametrize(
    "option, value",
    [("--rms-window-ms", "nan"), ("--rms-window-ms", "1e9"), ("--pot-kohm", "inf")],
)
def test_pipeline_options_refuse_non_finite_and_absurd_values(capsys, option, value):
    line = fails_in_one_line(capsys, "stream", "--source", SIM, "--duration", "1", option, value)
    assert option in line


@pytest.mark.parametrize("mains", ["55", "45", "nan", "inf"])
def test_sim_mains_hz_is_50_60_or_0(capsys, mains):
    line = fails_in_one_line(
        capsys, "stream", "--source", f"{SIM}&mains_hz={mains}", "--duration", "1"
    )
    assert "mains_hz" in line


@pytest.mark.parametrize("mains", ["0", "50", "60"])
def test_sim_mains_hz_accepts_the_real_frequencies(mains):
    open_device(f"{SIM}&mains_hz={mains}")


def test_cli_mains_refuses_other_frequencies(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["stream", "--source", SIM, "--duration", "1", "--mains", "55"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--mains" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "url",
    [
        "replay:///tmp/x.csv?fs=nan",
        "replay:///tmp/x.csv?gain=nan",
        "replay:///tmp/x.csv?vref=inf",
        "serial:///dev/null?timeout=nan",
        "serial:///dev/null?fs=nan",
        "sim://?level_uv=nan",
        "sim://?duration_s=nan",
        "sim://?duration_s=1e300",
        "sim://?seed=99999999999999999999999999",
    ],
)
def test_url_numbers_refuse_nan_inf_and_out_of_range(url):
    with pytest.raises(SourceURLError):
        open_device(url)


def test_sim_duration_inf_still_means_for_ever():
    device = open_device("sim://?duration_s=inf")
    assert device.config.duration_s is None  # type: ignore[attr-defined]
