"""Markers from another program's LSL marker stream become session markers (``--lsl-markers``).

PsychoPy, OpenSignals, Presentation, OpenBCI GUI and many task scripts send events as an LSL
stream of strings (type ``Markers``). :class:`LslMarkerInlet` looks for the stream by its name on
a background thread, receives its samples, maps each timestamp (corrected to this machine's LSL
clock) to our sample index with the :class:`~biofeedback.interop.clock.SampleClock`, and hands
``(index, label, note)`` to a callback: the recording session stores it as a marker whose label
is the marker's text and whose note names the stream.

If the stream is not found within ``deadline_s`` the user is told once (and the search goes on:
the other program may start later); if it goes away, the user is told and the search starts
again (liblsl also reconnects by itself to streams that have a ``source_id``).

Looking for a stream sends LSL discovery queries (UDP 16571 by default) and receiving opens a TCP
connection to the other program's outlet; nothing of this happens without ``--lsl-markers``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from biofeedback.interop.clock import SampleClock

log = logging.getLogger(__name__)

#: Seconds to find the stream before the user is told it is not there (the search goes on).
DEFAULT_DEADLINE_S = 10.0
#: One resolve attempt; also how quickly :meth:`LslMarkerInlet.stop` is noticed.
_RESOLVE_STEP_S = 0.5
_PULL_TIMEOUT_S = 0.2

AddMarker = Callable[[int, str, str], None]
Message = Callable[[str], None]


class LslMarkerInlet:
    """Receives markers from the LSL stream named ``name`` until :meth:`stop`.

    ``add_marker(index, label, note)`` is called on the inlet's thread for every marker;
    ``on_message(text)`` for what the user should know (not found, connected, lost).
    """

    def __init__(
        self,
        name: str,
        clock: SampleClock,
        add_marker: AddMarker,
        *,
        on_message: Message | None = None,
        deadline_s: float = DEFAULT_DEADLINE_S,
    ) -> None:
        self.name = name
        self.clock = clock
        self.add_marker = add_marker
        self.on_message = on_message or (lambda text: log.info("%s", text))
        self.deadline_s = float(deadline_s)
        self.received = 0
        self.dropped = 0
        self.state = "idle"
        self._said_missing = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start looking for the stream on a background thread."""
        if self._thread is not None:
            return
        self.state = "resolving"
        self._thread = threading.Thread(target=self._run, name="lsl-markers", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop receiving (idempotent); waits for the thread up to ``timeout`` seconds."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self.state = "stopped"

    def _say(self, text: str) -> None:
        try:
            self.on_message(text)
        except Exception:  # the message is in the log; receiving markers goes on
            log.exception("LSL markers: message listener failed on: %s", text)

    def _run(self) -> None:
        while not self._stop.is_set():
            info = self._resolve()
            if info is None:
                return
            try:
                self._receive(info)
            except RuntimeError as exc:  # pylsl's LostError and TimeoutError are RuntimeErrors
                if self._stop.is_set():
                    return
                log.warning("LSL marker stream %r lost: %s", self.name, exc)
                if self.state == "connected":  # said once; not again for a stale discovery
                    self._said_missing = True
                    self._say(
                        f"LSL marker stream {self.name!r} was lost ({exc}); looking for it again"
                    )
                self.state = "resolving"
            except Exception as exc:  # a bug here must not pass silently: logged and said once
                log.exception("LSL markers from %r stopped", self.name)
                self.state = "stopped"
                self._say(f"LSL markers from {self.name!r} stopped ({type(exc).__name__}: {exc})")
                return

    def _resolve(self) -> Any:
        """The stream's info once found; None when stopped first."""
        import pylsl

        started = time.monotonic()
        told = self._said_missing  # after "was lost", not again "not found"
        while not self._stop.is_set():
            found = pylsl.resolve_byprop("name", self.name, 1, _RESOLVE_STEP_S)
            if found:
                return found[0]
            if not told and time.monotonic() - started >= self.deadline_s:
                told = self._said_missing = True
                self.state = "not found"
                self._say(
                    f"no LSL marker stream named {self.name!r} found within "
                    f"{self.deadline_s:g} s; still looking (is the other program sending, on "
                    "this network? see docs/interop.md)"
                )
        return None

    def _receive(self, info: Any) -> None:
        import pylsl

        inlet = pylsl.StreamInlet(info, recover=True, processing_flags=pylsl.proc_clocksync)
        try:
            inlet.open_stream(timeout=5.0)
            if self._stop.is_set():
                return
            self.state = "connected"
            host = info.hostname()
            self._say(f"receiving LSL markers from {self.name!r} on {host}")
            log.info("LSL markers: connected to %r (%s, %s)", self.name, info.type(), host)
            while not self._stop.is_set():
                sample, stamp = inlet.pull_sample(timeout=_PULL_TIMEOUT_S)
                if sample is not None:
                    self._take(sample, float(stamp))
        finally:
            inlet.close_stream()

    def _take(self, sample: list[Any], stamp: float) -> None:
        text = " ".join(str(v) for v in sample).strip()
        index = self.clock.index_of(stamp)
        if index is None or not text:
            self.dropped += 1
            log.info("LSL marker %r dropped: %s", text, "no sample yet" if text else "empty")
            return
        try:
            self.add_marker(index, text, f"LSL {self.name}")
        except Exception:  # logged with the marker; the next markers are still taken
            self.dropped += 1
            log.exception("LSL marker %r could not be stored", text)
            return
        self.received += 1
