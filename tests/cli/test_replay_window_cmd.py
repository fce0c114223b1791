"""``biofeedback replay SESSION`` opens the replay window on the stored session (its own phases
and targets); ``--live`` keeps the main window; a bad id or speed is one line and exit 2."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "storage"))
from storage_helpers import record_sim_session

from biofeedback.cli import main

SIM = "sim://?scenario=relax&seed=4&board=12bit&speed=max&chunk_ms=100"


@pytest.fixture
def session(_isolated_data_dir: Path) -> int:
    return record_sim_session(_isolated_data_dir / "biofeedback.sqlite", SIM, 2.0, subject="P9")


def test_replay_of_a_session_opens_the_replay_window(
    capsys: pytest.CaptureFixture[str], session: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from biofeedback.cli import gui
    from biofeedback.gui import replay_window

    shown = {}

    def fake_app(model) -> int:
        shown["model"] = model
        return 0

    monkeypatch.setattr(replay_window, "run_replay_app", fake_app)
    monkeypatch.setattr(gui, "display_problem", lambda: "")
    monkeypatch.setattr(gui, "run", lambda args: pytest.fail("the main window opened"))
    assert main(["replay", str(session), "--speed", "4"]) == 0
    model = shown["model"]
    assert model.data.session_id == session and model.speed == 4.0
    assert model.duration_s == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["replay", "42"], "no session 42"),
        (["replay", "0"], "out of range"),
        (["replay", "SESSION", "--speed", "3"], "the replay window plays at 0.5, 1, 2, 4, 8"),
        (["replay", "SESSION", "--speed", "max"], "use --live or --headless"),
    ],
)
def test_bad_id_or_speed_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], session: int, argv: list[str], expected: str
) -> None:
    argv = [str(session) if a == "SESSION" else a for a in argv]
    assert main(argv) == 2
    _, err = capsys.readouterr()
    assert expected in err and err.count("\n") == 1 and "Traceback" not in err
