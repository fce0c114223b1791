"""The window's source box offers another program's LSL stream and a BrainFlow board, and choosing
either there streams (tests/conftest.py keeps LSL on loopback)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from biofeedback.devices.base import DeviceState
from biofeedback.gui.device_panel import EXAMPLE_SOURCES
from biofeedback.gui.main_window import MainWindow

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "devices"))
from test_lsl_source import Outlet, unique  # the test outlet of the LSL tests


def open_window(qtbot) -> MainWindow:
    window = MainWindow(
        "sim://?scenario=steady&speed=4", safety_check=False, audio=False, remember=False
    )
    qtbot.addWidget(window)
    window.show()
    assert window.start(), window.banner.text
    return window


def choose(qtbot, window: MainWindow, url: str) -> None:
    """Pick ``url`` in the source box (typed when it is not offered) and press Connect."""
    box = window.device_panel.source
    index = box.findText(url)
    if index >= 0:
        box.setCurrentIndex(index)
    else:
        box.setEditText(url)
    assert box.currentText() == url
    window.device_panel.connect_button.click()


def streams(qtbot, window: MainWindow, fs_hz: float) -> None:
    qtbot.waitUntil(
        lambda: (
            window.engine is not None
            and window.engine.info is not None
            and window.engine.info.fs_hz == fs_hz
            and window.bridge is not None
            and window.bridge.first_index is not None
            and window.bridge.elapsed_s >= 1.0
        ),
        timeout=20000,
    )
    qtbot.waitUntil(lambda: window.banner.state == DeviceState.CONNECTED, timeout=15000)


def test_the_source_box_offers_lsl_and_brainflow_examples(qtbot):
    window = open_window(qtbot)
    box = window.device_panel.source
    offered = [box.itemText(i) for i in range(box.count())]
    assert "lsl://?type=EMG" in offered and "brainflow://synthetic" in offered
    assert {"lsl://?type=EMG", "brainflow://synthetic"} <= set(EXAMPLE_SOURCES)


def test_choosing_brainflow_synthetic_in_the_window_streams(qtbot):
    pytest.importorskip("brainflow", reason="brainflow is an optional extra")
    window = open_window(qtbot)
    choose(qtbot, window, "brainflow://synthetic")
    streams(qtbot, window, 250.0)
    assert window.engine.info.device == "BrainFlow Synthetic board"
    assert len(window.cards) == 16


def test_choosing_an_lsl_stream_in_the_window_streams(qtbot):
    name = unique()
    outlet = Outlet(name, channels=1)
    try:
        window = open_window(qtbot)
        choose(qtbot, window, f"lsl://?name={name}")
        streams(qtbot, window, 1000.0)
        assert [card.name for card in window.cards] == ["site1"]
        window.close()
    finally:
        outlet.close()
