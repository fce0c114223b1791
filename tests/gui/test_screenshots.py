"""Screenshots of both views on a real X server (Xvfb), checked against what was on screen.

Skipped when Xvfb is not installed. Set BIOFEEDBACK_SCREENSHOT_DIR to keep the PNGs (the docs'
pictures in docs/screenshots/ are made this way).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

CHILD = Path(__file__).with_name("screenshot_child.py")


@pytest.fixture
def xvfb_display():
    """A private Xvfb server on a free display number; yields ":N"."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb not installed (apt install xvfb)")
    for n in range(120, 220):
        if Path(f"/tmp/.X{n}-lock").exists() or Path(f"/tmp/.X11-unix/X{n}").exists():
            continue
        proc = subprocess.Popen(
            ["Xvfb", f":{n}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30  # Xvfb starts slowly on a busy machine
        while time.monotonic() < deadline:
            if Path(f"/tmp/.X11-unix/X{n}").exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        if proc.poll() is None:
            try:
                yield f":{n}"
            finally:
                proc.terminate()
                proc.wait(timeout=10)
            return
    pytest.skip("no free X display number for Xvfb")


def test_screenshots_of_both_views(xvfb_display, tmp_path):
    out = Path(os.environ.get("BIOFEEDBACK_SCREENSHOT_DIR") or tmp_path)
    env = dict(os.environ, DISPLAY=xvfb_display, QT_QPA_PLATFORM="xcb")
    env["BIOFEEDBACK_HOME"] = str(tmp_path / "home")
    result = subprocess.run(
        [sys.executable, str(CHILD), str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    shown = json.loads(result.stdout.strip().splitlines()[-1])
    clinician, patient = shown["clinician"], shown["patient"]
    # after the contraction the muscle is back at rest: below the 6 uV target, calm colours
    assert clinician["banner"] == "connected"
    assert clinician["gauge_states"] == ["calm", "calm"], clinician
    assert clinician["captions"] == ["Below target", "Below target"], clinician
    assert all(r < 6.0 for r in clinician["readouts_uv"])
    assert clinician["quality"] == ["good", "good"]
    assert patient["orb_state"] == "calm" and patient["pacer_phase"] == "inhale"
    for name, size in (
        ("clinician-view.png", clinician["size"]),
        ("patient-view.png", patient["size"]),
    ):
        image = QImage(str(out / name))
        assert not image.isNull(), name
        assert [image.width(), image.height()] == size
        assert size[0] >= 1200 and size[1] >= 700
