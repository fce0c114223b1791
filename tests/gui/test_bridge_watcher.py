"""The bridge's watcher is woken by new rows (no polling timer), at most once per
WATCH_MIN_GAP_S, and leaves the engine's sinks when the bridge stops."""

from __future__ import annotations

import itertools
import time

from PySide6.QtCore import QEventLoop, QTimer

from biofeedback.engine import Engine
from biofeedback.gui.bridge import WATCH_MIN_GAP_S, EngineBridge

URL = "sim://?scenario=relax&board=12bit&seed=1"


def watched_bridge(qtbot, url: str) -> tuple[EngineBridge, list[tuple[float, int]]]:
    bridge = EngineBridge(Engine(url))
    peeks: list[tuple[float, int]] = []
    bridge.newest_changed.connect(lambda: peeks.append((time.monotonic(), bridge._watched_index)))
    bridge.start()
    bridge.fast_timer.stop()  # no frames: only the watcher can see the rows
    bridge._ticking = True
    return bridge, peeks


def test_new_rows_wake_the_watcher_without_a_polling_timer(qtbot) -> None:
    bridge, peeks = watched_bridge(qtbot, URL)
    try:
        assert not bridge.watch_timer.isActive()  # nothing polls
        bridge.first_index = 0  # the watcher waits for the first frame's rows otherwise
        qtbot.waitUntil(lambda: len(peeks) >= 5, timeout=20000)
        assert all(b[1] > a[1] for a, b in itertools.pairwise(peeks))
        assert bridge.newest_envelope_uv.shape == (bridge.n_outputs,)
    finally:
        bridge.close()
    assert bridge._wake_watcher not in [e.sink for e in bridge.engine._sinks]


def test_tiny_chunks_do_not_wake_the_gui_thread_more_often_than_the_gap(qtbot) -> None:
    bridge, peeks = watched_bridge(qtbot, URL + "&chunk_ms=0.5")
    try:
        bridge.first_index = 0
        # a plain event loop (qtbot.waitUntil would let the wake-ups pile up between its waits)
        loop = QEventLoop()
        bridge.newest_changed.connect(lambda: len(peeks) >= 100 and loop.quit())
        QTimer.singleShot(30000, loop.quit)
        loop.exec()
        assert len(peeks) >= 100
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(peeks)]
        # 2000 chunks a second arrive; the peeks stay at least the gap apart (1 ms slack for
        # the timer's whole milliseconds)
        assert min(gaps) >= WATCH_MIN_GAP_S - 0.001
    finally:
        bridge.stop()
    assert bridge._wake_watcher not in [e.sink for e in bridge.engine._sinks]
