"""Project-wide test fixtures: every test gets its own data directory."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Point BIOFEEDBACK_HOME at a fresh temp dir so no test touches the user's real data."""
    home = tmp_path_factory.mktemp("biofeedback-home")
    monkeypatch.setenv("BIOFEEDBACK_HOME", str(home))
    return home
