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
