"""A tiny observer: the model's change events, without Qt.

``Signal`` keeps a list of callbacks; :meth:`Signal.emit` calls each in the order they connected.
A subscriber that raises is a bug in the subscriber: it is logged with its traceback and the
exception propagates to the code that emitted, so it cannot go unnoticed. Callbacks run on the
emitting thread; the window emits from the GUI thread only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Callback = Callable[..., Any]


class Signal:
    """A change event: ``connect(callback)``, ``disconnect(callback)``, ``emit(*args)``."""

    def __init__(self, name: str = "signal") -> None:
        self.name = name
        self._callbacks: list[Callback] = []

    def connect(self, callback: Callback) -> Callback:
        """Call ``callback(*args)`` on every emit; returns it (usable as a decorator)."""
        if callback not in self._callbacks:
            self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callback) -> None:
        """Stop calling ``callback``; disconnecting one never connected is a no-op."""
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        """Call every subscriber with ``args``; a failing subscriber is logged and re-raised."""
        for callback in list(self._callbacks):
            try:
                callback(*args)
            except Exception:
                log.exception("subscriber %r of %s failed", callback, self.name)
                raise

    def __len__(self) -> int:
        return len(self._callbacks)

    def __repr__(self) -> str:
        return f"Signal({self.name!r}, {len(self._callbacks)} subscribers)"
