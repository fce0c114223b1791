"""``biofeedback gui``: one clear line, exit 2, when there is no display (never a Qt abort)."""

from __future__ import annotations

import os
import subprocess
import sys

from biofeedback.cli.gui import display_problem


def test_display_problem_cases(tmp_path):
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") == ""
    assert "DISPLAY is not set" in display_problem({}, "linux")
    assert "cannot connect" in display_problem({"DISPLAY": ":987"}, "linux")
    (tmp_path / "wayland-0").touch()
    assert (
        display_problem({"WAYLAND_DISPLAY": "wayland-0", "XDG_RUNTIME_DIR": str(tmp_path)}, "linux")
        == ""
    )
    assert display_problem({}, "win32") == ""


def test_bare_command_without_display_fails_with_one_line(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    env["BIOFEEDBACK_HOME"] = str(tmp_path)
    for argv in ([], ["gui", "--source", "sim://?scenario=relax"]):
        result = subprocess.run(
            [sys.executable, "-m", "biofeedback", *argv],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "no display" in lines[0], result.stderr
        assert "Traceback" not in result.stderr
