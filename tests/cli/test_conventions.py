"""CLI conventions: global options before or after the command, one name per option, read-only
commands that create nothing, and a ``--help`` that imports none of the heavy libraries."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import biofeedback.cli as cli
from biofeedback.cli import main, requested_command

SIM = "sim://?scenario=relax&seed=2&speed=max"
#: Modules ``biofeedback --help`` must not load: each costs tenths of a second.
HEAVY = ("numpy", "scipy", "PySide6", "pyqtgraph", "serial", "biofeedback.storage")


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- global options ---------------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["before", "after"])
def test_data_dir_is_taken_before_or_after_the_command(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, where: str
) -> None:
    folder = tmp_path / "elsewhere"
    code, _, _ = run_cli(
        capsys, "--data-dir", str(folder), "record", "--source", SIM, "--duration", "1"
    )
    assert code == 0 and (folder / "biofeedback.sqlite").is_file()
    argv = ["--data-dir", str(folder), "sessions", "--json"]
    if where == "after":
        argv = ["sessions", "--json", "--data-dir", str(folder)]
    code, out, _ = run_cli(capsys, *argv)
    data = json.loads(out)
    assert code == 0 and data["database"] == str(folder / "biofeedback.sqlite")
    assert len(data["sessions"]) == 1


def test_the_value_after_the_command_wins(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    code, out, _ = run_cli(
        capsys, "--data-dir", str(first), "sessions", "--json", "--data-dir", str(second)
    )
    assert code == 0 and json.loads(out)["database"] == str(second / "biofeedback.sqlite")


def test_log_options_after_the_command_and_nested_actions(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    log = tmp_path / "run.log"
    code, _, err = run_cli(capsys, "protocols", "list", "-vv", "--log-file", str(log))
    assert code == 0 and log.is_file()
    code, _, err = run_cli(capsys, "db", "check", "--data-dir", str(tmp_path / "none"))
    assert code == 2 and "no session database at " + str(tmp_path / "none") in err


def test_verbose_counts_on_both_sides(monkeypatch: pytest.MonkeyPatch) -> None:
    _, args = cli.parse_arguments(["-v", "sessions", "-v"])
    assert args.verbose == 2 and args.command == "sessions"
    _, args = cli.parse_arguments(["sessions"])
    assert args.verbose == 0 and args.data_dir is None and args.log_file is None


def test_version_after_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["sessions", "--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.startswith("biofeedback ")


@pytest.mark.parametrize(
    "argv, command",
    [
        (["sessions", "--json"], "sessions"),
        (["--data-dir", "sessions", "export", "1"], "export"),  # a folder named like a command
        (["--data-dir=x", "-vv", "db", "check"], "db"),
        (["-v", "--log-file", "f.log", "stream", "--source", SIM], "stream"),
        (["--help"], None),
        ([], None),
        (["no-such-command"], None),
        (["--data-dir"], None),  # missing value: the real parser says so
    ],
)
def test_the_command_is_found_without_importing_the_commands(
    argv: list[str], command: str | None
) -> None:
    assert requested_command(argv) == command


def test_an_abbreviated_global_option_still_parses(tmp_path: Path) -> None:
    _, args = cli.parse_arguments(["--data", str(tmp_path), "sessions"])
    assert args.command == "sessions" and args.data_dir == str(tmp_path)
    assert args.handler.__module__ == "biofeedback.cli.sessions"


def test_an_unknown_command_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["sesions"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "invalid choice: 'sesions'" in err and "Traceback" not in err


# -- option names -----------------------------------------------------------------------------------
def _options(parser: argparse.ArgumentParser, command: str = "") -> list[tuple[str, str, str]]:
    """(command, option string, dest) for every option of every command and action."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _options(sub, f"{command} {name}".strip())
        for option in action.option_strings:
            found.append((command, option, action.dest))
    return found


def test_one_name_per_option_across_commands() -> None:
    options = _options(cli.build_parser())
    dests: dict[str, set[str]] = {}
    for _, option, dest in options:
        if option.startswith("--") and dest not in ("help", "version", cli._LATE_VERBOSE):
            dests.setdefault(dest, set()).add(option)
    several = {dest: names for dest, names in dests.items() if len(names) > 1}
    assert not several, f"one setting, several option names: {several}"
    names = {option for _, option, _ in options if option.startswith("--")}
    # a name and the same name with a unit (--pot, --pot-kohm) would be one setting twice; a
    # name that goes on with another word names another setting (--osc, --osc-rate)
    units = ("s", "ms", "hz", "khz", "uv", "mv", "v", "ohm", "kohm", "bits", "pct", "percent")
    with_unit = {
        (a, b) for a in names for b in names if b.startswith(a + "-") and b[len(a) + 1 :] in units
    }
    assert not with_unit, with_unit
    assert "--pot-kohm" in names


def test_every_command_has_its_summary_and_the_global_options() -> None:
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    listed = {a.dest: a.help for a in commands._choices_actions}
    assert listed == cli.COMMAND_HELP and list(listed) == cli.COMMAND_MODULES
    for name, sub in commands.choices.items():
        strings = {o for a in sub._actions for o in a.option_strings}
        assert {"--data-dir", "--log-file", "-v", "--verbose", "--version"} <= strings, name


def test_record_offers_every_session_detail_of_the_store() -> None:
    from biofeedback.cli.record import DETAIL_FIELDS
    from biofeedback.storage.database import TEXT_FIELDS

    assert DETAIL_FIELDS == TEXT_FIELDS


def test_replay_passes_pot_kohm_to_a_recording_file(tmp_path: Path) -> None:
    from biofeedback.cli.replay import replay_url

    path = tmp_path / "rec.csv"
    path.write_text("1\n2\n")
    _, args = cli.parse_arguments(["replay", str(path), "--pot-kohm", "20", "--units", "counts"])
    assert "pot=20.0" in replay_url(args) and "units=counts" in replay_url(args)


def test_a_file_option_for_a_stored_session_names_the_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run_cli(capsys, "replay", "1", "--adc-bits", "12", "--headless")
    assert code == 2 and "--adc-bits is for recording files" in err


def test_an_unknown_export_format_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "export", "1", "--format", "xls", "-o", "x.xls")
    assert code == 2 and "--format edf" in err and err.count("\n") == 1


# -- read-only commands create nothing --------------------------------------------------------------
@pytest.mark.parametrize(
    "argv",
    [
        ["export", "99", "-o", "OUT/x.csv"],
        ["report", "99", "-o", "OUT/x.html"],
        ["replay", "99", "--headless"],
        ["db", "check"],
        ["db", "backup", "-o", "OUT/copy.sqlite"],
        ["stream", "--source", "replay://99", "--duration", "1"],
    ],
)
def test_reading_commands_on_a_fresh_machine_say_there_is_no_data_and_create_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str]
) -> None:
    home = tmp_path / "fresh"
    argv = [a.replace("OUT", str(tmp_path)) for a in argv]
    code, _, err = run_cli(capsys, "--data-dir", str(home), *argv)
    assert code == 2 and err.count("\n") == 1
    assert f"there is no session database at {home / 'biofeedback.sqlite'}" in err
    assert not home.exists() and sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "argv", [["sessions"], ["sessions", "--json", "--subject", "P1", "--progress"], ["protocols"]]
)
def test_listing_on_a_fresh_machine_creates_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str]
) -> None:
    home = tmp_path / "fresh"
    code, out, _ = run_cli(capsys, *argv, "--data-dir", str(home))
    assert code == 0 and not home.exists()
    if argv == ["sessions"]:
        assert out.startswith(f"No sessions in {home / 'biofeedback.sqlite'}")
    elif "--json" in argv:
        data = json.loads(out)
        assert data["sessions"] == [] and data["progress"]["points"] == []


# -- start-up ---------------------------------------------------------------------------------------
CHECK = """
import json, sys
from biofeedback.cli import main
try:
    main(%r)
except SystemExit:
    pass
print(json.dumps({name: name in sys.modules for name in %r}))
"""


def _imported(argv: list[str]) -> dict[str, bool]:
    out = subprocess.run(
        [sys.executable, "-c", CHECK % (argv, HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_help_imports_no_heavy_library() -> None:
    assert _imported(["--help"]) == dict.fromkeys(HEAVY, False)


@pytest.mark.parametrize("command", cli.COMMAND_MODULES)
def test_a_command_s_help_imports_no_heavy_library(command: str) -> None:
    assert _imported([command, "--help"]) == dict.fromkeys(HEAVY, False)
