"""Helpers for the outcome-measure tests: made-up instruments written as TOML text."""

from __future__ import annotations

from pathlib import Path

import pytest

from biofeedback.outcomes import Instrument, parse_instrument

HERE = Path(__file__).parent


def made_up(text: str, name: str = "made-up.toml") -> Instrument:
    """Parse an instrument from TOML text (a made-up one: never a copyrighted wording)."""
    return parse_instrument(text, name)


@pytest.fixture
def broken_dir() -> Path:
    return HERE / "broken"
