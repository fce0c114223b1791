"""GUI tests run offscreen with pytest-qt (no display needed)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest


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
