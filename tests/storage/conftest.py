"""Fixtures for storage tests: a fresh database file."""

from __future__ import annotations

from pathlib import Path

import pytest

from biofeedback.storage.database import Database


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "sessions.sqlite"


@pytest.fixture
def db(db_path: Path):
    database = Database(db_path)
    yield database
    database.close()
