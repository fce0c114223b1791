"""The model's observer: order, disconnect, a failing subscriber is loud."""

from __future__ import annotations

import logging

import pytest

from biofeedback.appmodel.events import Signal


def test_subscribers_called_in_order_with_args() -> None:
    signal = Signal("changed")
    calls: list[tuple[str, int]] = []
    signal.connect(lambda value: calls.append(("a", value)))
    signal.connect(lambda value: calls.append(("b", value)))
    signal.emit(3)
    assert calls == [("a", 3), ("b", 3)]


def test_disconnect_and_double_connect() -> None:
    signal = Signal()
    calls: list[int] = []
    signal.connect(calls.append)
    signal.connect(calls.append)
    assert len(signal) == 1
    signal.emit(1)
    signal.disconnect(calls.append)
    signal.disconnect(calls.append)
    signal.emit(2)
    assert calls == [1]


def test_failing_subscriber_is_logged_and_raised(caplog: pytest.LogCaptureFixture) -> None:
    signal = Signal("broken")

    def bad(_value: int) -> None:
        raise ValueError("subscriber bug")

    signal.connect(bad)
    with caplog.at_level(logging.ERROR), pytest.raises(ValueError, match="subscriber bug"):
        signal.emit(1)
    assert "broken" in caplog.text
