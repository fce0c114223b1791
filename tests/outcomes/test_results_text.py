"""Scores and changes as the CLI, the window and the reports write them (one formatter)."""

from __future__ import annotations

from biofeedback.outcomes.results import change_text, number_text


def test_numbers_have_at_most_two_decimals_and_no_trailing_zeros() -> None:
    assert [number_text(v) for v in (6.333333, 7.0, 4.5, 0.0, -3.666667, 10)] == [
        "6.33", "7", "4.5", "0", "-3.67", "10",
    ]  # fmt: skip
    assert [number_text(v, sign=True) for v in (4.0, -3.666667, 0.001, -0.004)] == [
        "+4", "-3.67", "0", "0",
    ]  # fmt: skip


def test_change_text() -> None:
    assert change_text({"change": -3.0, "change_percent": 42.857}) == "-3 (43 % better)"
    assert change_text({"change": 1.5, "change_percent": -25.0}) == "+1.5 (25 % worse)"
    assert change_text({"change": -3.666667, "change_percent": None}) == "-3.67"
    assert change_text({"change": None}) == change_text(None) == "-"
