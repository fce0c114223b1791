"""Ending long commands cleanly on SIGTERM and SIGHUP, as on Ctrl-C.

A recording stopped by a service manager (SIGTERM), a closed terminal (SIGHUP) or Ctrl-C (SIGINT)
must end the same way: the session is closed as interrupted with everything recorded so far, and
the summary is printed. Python turns SIGINT into KeyboardInterrupt; :func:`stop_signals_interrupt`
does the same for SIGTERM and SIGHUP while a command runs, then restores the previous handlers.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType


class StopSignal(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived: handled like Ctrl-C, and says which signal it was."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def reason(self) -> str:
        """Why the command stopped, for the session's record."""
        return f"stopped by {signal.Signals(self.signum).name}"


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise StopSignal(signum)


@contextlib.contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """While the block runs (main thread only), SIGTERM and SIGHUP raise :class:`StopSignal`."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wanted = [s for s in (signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None]
    previous = {s: signal.signal(s, _raise_stop) for s in wanted}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def interrupt_reason(exc: KeyboardInterrupt) -> str:
    """The session's stop reason for Ctrl-C, SIGTERM or SIGHUP."""
    if isinstance(exc, StopSignal):
        return exc.reason
    return "stopped by the user (Ctrl-C)"
