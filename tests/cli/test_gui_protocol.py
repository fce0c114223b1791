"""``biofeedback gui --protocol``: checked before any window opens; a valid file reaches it."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import pytest

from biofeedback.cli import main

GOOD = """
name = "my-own"
[[phases]]
kind = "baseline"
duration = "30 s"
[[phases]]
kind = "train"
duration = "1 min"
"""


@pytest.fixture
def window_opened(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Replace the window by a recorder of what it would be given (no display, no app log)."""
    from biofeedback.cli import logs
    from biofeedback.gui import main_window

    opened: list[dict] = []

    def run_app(**kwargs) -> int:
        opened.append(kwargs)
        return 0

    monkeypatch.setattr(main_window, "run_app", run_app)
    monkeypatch.setattr(logs, "add_app_log", lambda _folder: None)
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    return opened


def one_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip()


def test_an_invalid_protocol_file_is_one_line_and_exit_2_without_a_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], window_opened: list[dict]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD.replace('"1 min"', '"-5 s"'), encoding="utf-8")
    line = one_line(capsys, ["gui", "--protocol", str(bad)])
    # the same message as `protocols validate`
    assert line == one_line(capsys, ["protocols", "validate", str(bad)])
    assert line.startswith("biofeedback: bad.toml: phase 2 'train': duration")
    assert window_opened == []


def test_an_unknown_name_or_a_missing_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], window_opened: list[dict]
) -> None:
    line = one_line(capsys, ["gui", "--protocol", "no-such-protocol"])
    assert "unknown protocol 'no-such-protocol'" in line and "protocols list" in line
    line = one_line(capsys, ["gui", "--protocol", str(tmp_path / "gone.toml")])
    assert "gone.toml: file not found" in line
    assert window_opened == []


def test_the_protocol_is_checked_before_the_display(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    line = one_line(capsys, ["gui", "--protocol", "no-such-protocol"])
    assert "unknown protocol" in line  # not "no display found"


def test_a_valid_file_reaches_the_window_and_is_selected(
    qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, window_opened: list[dict]
) -> None:
    (tmp_path / "mine.toml").write_text(GOOD, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["gui", "--protocol", "mine.toml", "--source", "sim://?scenario=steady"]) == 0
    given = window_opened[0]["protocol"]
    assert given == str((tmp_path / "mine.toml").resolve())  # absolute: it can be remembered
    from biofeedback.gui.main_window import MainWindow

    window = MainWindow(
        "sim://?scenario=steady", safety_check=False, audio=False, remember=False, protocol=given
    )
    qtbot.addWidget(window)
    assert window.session_panel.protocol.currentData() == given
    assert window.session_panel.protocol.currentText().startswith("my-own")


def test_a_library_name_is_passed_on_as_given(window_opened: list[dict]) -> None:
    assert main(["gui", "--protocol", "pmr"]) == 0
    assert window_opened[0]["protocol"] == "pmr"
