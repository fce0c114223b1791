"""GUI tests run offscreen with pytest-qt (no display needed)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from biofeedback.gui import preload


@pytest.fixture(scope="session", autouse=True)
def _libraries_loaded() -> None:
    """Load what the app loads in the background after showing its window (gui.preload), so
    ``MainWindow.start`` opens its source at once; tests of the deferred start patch ``loaded``."""
    preloader = preload.Preloader()
    preloader.start()
    assert preloader.wait(120) and preloader.error == "", preloader.error


@pytest.fixture(scope="session")
def qapp_args() -> list[str]:
    """Arguments for pytest-qt's QApplication."""
    return ["biofeedback-tests"]


@pytest.fixture(autouse=True)
def _themed(qapp):
    """Every GUI test runs with the application theme, as the real app does."""
    from biofeedback.gui.theme import apply_theme

    apply_theme(qapp)
    return qapp


@pytest.fixture
def two_screens(monkeypatch):
    """The screen rules see a second screen and the patient window opens on the one offscreen
    screen: only the moves are tested with it (the real two-monitor desk runs on Xvfb in
    test_patient_window.py). Returns the screens the rules see (a test may unplug one)."""
    from PySide6.QtGui import QGuiApplication

    from biofeedback.appmodel.screens import ScreenInfo
    from biofeedback.gui import patient_window

    screen = QGuiApplication.primaryScreen()
    infos = [
        ScreenInfo(screen.name(), (0, 0, 1366, 768), True),
        ScreenInfo("second", (1366, 0, 1920, 1080)),
    ]
    monkeypatch.setattr(patient_window, "screen_infos", lambda: infos)
    monkeypatch.setattr(patient_window, "_screen_named", lambda _name: screen)
    return infos
