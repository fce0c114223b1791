"""``biofeedback protocols [list | show NAME | validate FILE]``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import biofeedback.cli as cli

BROKEN = Path(__file__).parent / "broken"


@pytest.fixture(autouse=True)
def _only_protocols(monkeypatch: pytest.MonkeyPatch) -> None:
    # Test this command through the real main() without depending on the other commands.
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["protocols"])


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["protocols", "list"]) == 0
    out = capsys.readouterr().out
    assert "clinical-session" in out and "40.7 min" in out and "desk-breaks" in out
    assert cli.main(["protocols"]) == 0  # list is the default
    assert capsys.readouterr().out == out


def test_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["protocols", "list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    names = [p["name"] for p in data["protocols"]]
    assert {"clinical-session", "desk-10min", "pmr", "breathing", "reactivity"} <= set(names)
    clinical = next(p for p in data["protocols"] if p["name"] == "clinical-session")
    assert clinical["duration_s"] == 2440 and clinical["builtin"]


def test_show(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["protocols", "show", "clinical-session"]) == 0
    out = capsys.readouterr().out
    assert "trial 5" in out and "target 90% of baseline" in out and "shaping every 60 s" in out
    assert cli.main(["protocols", "show", "pmr", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["name"] == "pmr" and data["phases"][1]["kind"] == "tense"


def test_validate_ok_and_broken(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    good = tmp_path / "mine.toml"
    good.write_text(
        'name = "mine"\n[[phases]]\nkind = "baseline"\nduration = "2 min"\n', encoding="utf-8"
    )
    assert cli.main(["protocols", "validate", str(good)]) == 0
    assert "ok: " in capsys.readouterr().out
    bad = BROKEN / "negative_duration.toml"
    assert cli.main(["protocols", "validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err == (
        "biofeedback: negative_duration.toml: phase 3 'train': duration -5 must be > 0 seconds\n"
    )
    assert "Traceback" not in err
    assert cli.main(["protocols", "validate", str(good), str(bad), "--json"]) == 2
    data = json.loads(capsys.readouterr().out)
    assert [f["valid"] for f in data["files"]] == [True, False]


def test_unknown_name_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["protocols", "show", "nope"]) == 2
    assert "unknown protocol 'nope'" in capsys.readouterr().err


def test_list_skips_a_broken_user_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BIOFEEDBACK_HOME", str(tmp_path))
    (tmp_path / "protocols").mkdir()
    (tmp_path / "protocols" / "bad.toml").write_text('name = "bad"\n', encoding="utf-8")
    assert cli.main(["protocols", "list"]) == 0
    captured = capsys.readouterr()
    assert "clinical-session" in captured.out
    assert captured.err == (
        "biofeedback: skipped bad.toml: missing required key 'phases': add at least one "
        "[[phases]] table\n"
    )
