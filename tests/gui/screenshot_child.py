"""Child process of test_screenshots.py: open the window on a real X display (Xvfb), let a
tense-release session run through one contraction, and save PNGs of both views.

    python tests/gui/screenshot_child.py OUTDIR

Prints one JSON line with what was on screen when each picture was taken.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from biofeedback.gui.main_window import MainWindow
from biofeedback.gui.theme import apply_theme

#: One muscle (RAW and the MyoWare's ENV) on a 12-bit board; one contraction 4 s in, then rest.
SOURCE = (
    "sim://?scenario=tense-release&board=12bit&seed=4&lead_s=4&tense_s=3&release_s=60"
    "&tau_s=1&speed=3"
)


class SilentStream:
    """An output stream that accepts the tone and plays nothing (no sound card on Xvfb)."""

    def __init__(self, **kwargs: object) -> None:
        pass

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def close(self) -> None:
        pass


class SilentAudio:
    """sounddevice stand-in."""

    OutputStream = SilentStream


def run_for(seconds: float) -> None:
    loop = QEventLoop()
    QTimer.singleShot(round(seconds * 1000), loop.quit)
    loop.exec()


def main() -> int:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication(["biofeedback"])
    apply_theme(app)
    window = MainWindow(
        SOURCE, safety_check=False, audio=True, audio_backend=SilentAudio(), remember=False
    )
    window.resize(1280, 800)
    window.show()
    started = window.start()
    deadline = time.monotonic() + 60
    # a fresh process: the source opens once scipy.signal and pyqtgraph have loaded (gui.preload)
    while window.pending_source is not None and time.monotonic() < deadline:
        run_for(0.05)
    if not started or window.bridge is None:
        print(json.dumps({"error": window.banner.text}))
        return 1
    for c in range(len(window.cards)):
        window.set_threshold(c, 6.0, "screenshot")
    bridge = window.bridge
    deadline = time.monotonic() + 30
    while bridge.elapsed_s < 4.5 and time.monotonic() < deadline:
        run_for(0.05)
    window.add_marker("shoulders up")
    while bridge.elapsed_s < 13.5 and time.monotonic() < deadline:
        run_for(0.05)
    clinician = {
        "gauge_states": window.gauge_states,
        "captions": [card.gauge.caption for card in window.cards],
        "readouts_uv": [round(card.gauge.readout_uv, 2) for card in window.cards],
        "thresholds_uv": window.thresholds_uv,
        "banner": window.banner.state.value,
        "quality": [card.quality.level for card in window.cards],
        "size": [window.width(), window.height()],
        "banner_text": window.banner.text,
    }
    window.grab().save(str(out / "clinician-view.png"))
    window.set_view("patient")
    # mid-inhale of the pacer (about 2.3 s in); a late frame on a busy machine waits for the next
    deadline = time.monotonic() + 30
    pacer = window.patient.pacer
    while time.monotonic() < deadline and not (
        pacer.phase.name == "inhale" and 0.5 <= pacer.phase.progress <= 0.7
    ):
        run_for(0.05)
    patient = {
        "orb_state": window.patient.orb.state,
        "pacer_phase": window.patient.pacer.phase.name,
        "instruction": window.patient.instruction.text(),
        "size": [window.width(), window.height()],
    }
    window.grab().save(str(out / "patient-view.png"))
    window.close()
    print(json.dumps({"clinician": clinician, "patient": patient}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
