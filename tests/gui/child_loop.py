"""The event-loop helpers of the GUI child processes (screenshot_child.py, window_fits_child.py,
patient_window_child.py): they run as scripts, so this folder is on their import path."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QEventLoop, QRect, QTimer


def run_for(seconds: float) -> None:
    """Run the event loop for ``seconds``."""
    loop = QEventLoop()
    QTimer.singleShot(round(seconds * 1000), loop.quit)
    loop.exec()


def wait_until(condition: Callable[[], bool], seconds: float = 30.0) -> bool:
    """Run the event loop until ``condition()`` or the deadline; returns the condition."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        run_for(0.05)
    return condition()


def rect(r: QRect) -> list[int]:
    """A rectangle as [x, y, width, height] (JSON)."""
    return [r.x(), r.y(), r.width(), r.height()]
