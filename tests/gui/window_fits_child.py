"""Child process of test_window_fits.py: open the main window on a real X display (Xvfb) of the
size under test, stream 1, 2 and 4 channels into it in turn, then start a wrong port and an
unknown scenario, and print one JSON line: after each step the window's frame, its minimum size
and the screen's available area.

    python tests/gui/window_fits_child.py [PNG_DIR]

With PNG_DIR, a picture of the window after each step is saved there (``channels_4.png``, ...).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from child_loop import rect, run_for, wait_until
from PySide6.QtWidgets import QApplication

from biofeedback.core.types import (
    ChannelInfo,
    ChannelKind,
    Chunk,
    StreamInfo,
    counts_to_uv_scale,
)
from biofeedback.devices.base import ThreadedDevice
from biofeedback.gui.clinician_view import ChannelArea
from biofeedback.gui.main_window import MainWindow
from biofeedback.gui.theme import apply_theme

#: the channel counts opened in turn
CHANNELS = (1, 2, 4)
#: sources that fail: a serial port that is not there, a scenario the simulator does not know
FAILING = {
    "wrong_port": "serial:///dev/ttyBIOFEEDBACK_NONE_" + "x" * 300,
    "unknown_scenario": "sim://?scenario=no-such-scenario-" + "y" * 300,
}


#: a 12-bit board at 3.3 V behind an amplifier of gain 2000: 0.4 uV per count
VREF_V, BITS, GAIN = 3.3, 12, 2000.0
UV_PER_COUNT = counts_to_uv_scale(VREF_V, BITS, GAIN)


class Muscles(ThreadedDevice):
    """``n`` RAW channels of ADC counts (mid-scale offset): 5 uV RMS at the electrodes, 1 kHz,
    paced in real time."""

    scheme = "muscles"
    on_body = False

    def __init__(self, n: int) -> None:
        super().__init__(f"muscles://{n}")
        self.n = n

    def open(self) -> StreamInfo:
        channels = tuple(
            ChannelInfo(f"muscle {i + 1}", ChannelKind.RAW, gain=GAIN, scale_uv=UV_PER_COUNT)
            for i in range(self.n)
        )
        self.info = StreamInfo(
            1000.0, channels, adc_bits=BITS, vref_v=VREF_V, board="12bit", device="muscles"
        )
        return self.info

    def _run(self) -> bool:
        rng = np.random.default_rng(self.n)
        start, index = time.monotonic(), 0
        while not self._stop_event.wait(0.02):
            due = int((time.monotonic() - start) * 1000)
            if due > index:
                uv = rng.normal(0.0, 5.0, (due - index, self.n))
                self._emit(Chunk(index, np.round(uv / UV_PER_COUNT) + 2 ** (BITS - 1)))
                index = due
        return False


def geometry(window: MainWindow) -> dict[str, Any]:
    """The window's frame and minimum size against its screen's available area."""
    run_for(0.3)  # layouts settle, a resize the window asked for arrives
    hint = window.minimumSizeHint()
    available = window.screen().availableGeometry()
    frame = window.frameGeometry()
    area = window.findChild(ChannelArea)
    return {
        "frame": rect(frame),
        "minimum": [max(hint.width(), window.minimumWidth()), hint.height()],
        "available": rect(available),
        "inside": available.contains(frame),
        "cards": len(window.cards),
        "banner": window.banner.state.value,
        "channels_scroll": area.verticalScrollBar().isVisible(),
        "card_heights": [card.height() for card in window.cards],
    }


def main() -> int:
    pictures = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    app = QApplication(["biofeedback"])
    apply_theme(app)
    window = MainWindow(Muscles(1), safety_check=False, audio=False, remember=False)
    window.show()
    wait_until(lambda: window.isVisible() and window.windowHandle().isExposed())
    shown: dict[str, Any] = {"start": geometry(window)}
    for n in CHANNELS:
        window.start_source(Muscles(n))
        wait_until(lambda n=n: len(window.cards) == n and window.pending_source is None, 60)
        shown[f"channels_{n}"] = geometry(window)
        if pictures is not None:
            window.grab().save(str(pictures / f"channels_{n}.png"))
    for name, url in FAILING.items():
        window.start_source(url)
        wait_until(lambda: window.banner.alarming or window.banner.state.value == "idle")
        shown[name] = geometry(window)
    window.close()
    print(json.dumps(shown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
