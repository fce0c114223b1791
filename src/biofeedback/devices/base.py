"""The Device interface shared by simulated, serial and replayed sources (docs/architecture.md).

A device is opened (which fills in :attr:`Device.info`), then started with a chunk callback and a
status callback. Both callbacks run on the device's own thread; they must be quick and must not
block on the GUI. Simulated, serial and replay devices all derive from :class:`ThreadedDevice`.

Every real-time :class:`ThreadedDevice` checks that it delivers samples at the rate it declares
(:mod:`biofeedback.devices.rate_check`); a source more than 5 % off for 2 s is reported once, as
a :class:`DeviceStatus` with ``warning=True`` (the state is unchanged), kept in
:attr:`Device.warnings` and logged.
"""

from __future__ import annotations

import enum
import logging
import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, Self

from biofeedback.core.limits import check_number
from biofeedback.core.types import Chunk, StreamInfo
from biofeedback.devices.facts_types import SourceFacts
from biofeedback.devices.rate_check import RateCheck, RateVerdict
from biofeedback.devices.source_url import SourceURL
from biofeedback.errors import BiofeedbackError, DeviceError, SourceURLError

log = logging.getLogger(__name__)

#: Longest reconnect window a user may ask for (``--reconnect-s``, ``reconnect_s=``), seconds.
MAX_RECONNECT_S = 600.0


def check_reconnect_s(value: float, what: str = "--reconnect-s") -> float:
    """A reconnect window in seconds: finite, 0 to :data:`MAX_RECONNECT_S` (SourceURLError)."""
    return check_number(
        value,
        what,
        0.0,
        MAX_RECONNECT_S,
        allowed=f"number of seconds to wait for a lost board to come back, 0 to {MAX_RECONNECT_S:g}",
    )


class DeviceState(enum.StrEnum):
    """Connection states reported through the status callback."""

    IDLE = "idle"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    LOST = "lost"
    FINISHED = "finished"  # a finite source (replay, sim with duration) reached its end
    STOPPED = "stopped"
    ERROR = "error"


@dataclass
class DeviceStatus:
    """A state change with a human-readable reason (``message``).

    ``warning=True``: not a state change (``state`` is the current one) but something the user
    should know while streaming goes on, e.g. a board sending faster than it declares.
    """

    state: DeviceState
    message: str = ""
    warning: bool = False


@dataclass
class DeviceStats:
    """Link counters. ``missing_samples`` were never received (gaps filled with NaN)."""

    samples: int = 0
    chunks: int = 0
    missing_samples: int = 0
    frame_errors: int = 0
    overruns: int = 0
    reconnects: int = 0
    bytes_received: int = 0
    extra: dict[str, float] = field(default_factory=dict)


ChunkCallback = Callable[[Chunk], None]
StatusCallback = Callable[[DeviceStatus], None]


class Device(ABC):
    """A source of :class:`Chunk` s.

    Lifecycle: ``open()`` -> ``start(on_chunk, on_status)`` -> ``stop()`` -> ``close()``.
    Use as a context manager to guarantee ``close()``.
    """

    #: URL scheme handled by this class (``sim``, ``serial``, ``replay``).
    scheme: ClassVar[str] = ""
    #: Its samples may come from electrodes on a person: the electrical-safety checklist comes
    #: first. True unless the class knows better (a simulator, a recording).
    on_body: ClassVar[bool] = True
    #: What kind of source this is, in words ("simulated sensor").
    kind_label: ClassVar[str] = "source"
    #: The URL options :meth:`from_url` reads (``tests/devices/test_facts.py`` checks the list).
    url_options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, url: str = "") -> None:
        self.url = url
        self.info: StreamInfo | None = None
        self.stats = DeviceStats()
        self.state = DeviceState.IDLE
        self.last_message = ""
        #: Warnings reported while streaming (each once), for summaries and the doctor.
        self.warnings: list[str] = []

    @classmethod
    def from_url(cls, url: SourceURL) -> Self:
        """Build (but do not open) the device a parsed URL names, reading its options with the
        :class:`SourceURL` getters (``open_device`` then rejects any option left unread).

        Every class registered in :data:`biofeedback.devices.registry.SCHEMES` overrides this;
        a device made only in code (a test double, a benchmark source) keeps this refusal."""
        raise SourceURLError(f"{url.text}: {cls.__name__} cannot be opened from a URL")

    @classmethod
    def class_facts(cls, url: str = "") -> SourceFacts:
        """What every source of this class has in common (see :mod:`biofeedback.devices.facts`)."""
        return SourceFacts(
            url=url,
            scheme=cls.scheme,
            kind=cls.kind_label,
            label=cls.kind_label,
            on_body=cls.on_body,
            options=cls.url_options,
        )

    @classmethod
    def facts(cls, url: SourceURL) -> SourceFacts:
        """The facts about the source a parsed URL names, without opening it or consuming its
        options, and without raising for bad values (opening reports those). Classes whose
        URL says more (a label, the board) override this."""
        return cls.class_facts(url.text)

    def set_reconnect_window(self, seconds: float | None) -> None:
        """How long a lost source may stay away before the stream ends with an error (None:
        keep the default). Sources that never reconnect ignore it, after validating it."""
        if seconds is not None:
            check_reconnect_s(seconds)

    @abstractmethod
    def open(self) -> StreamInfo:
        """Connect and learn the stream format. Raises :class:`DeviceError` with a fix."""

    @abstractmethod
    def start(self, on_chunk: ChunkCallback, on_status: StatusCallback | None = None) -> None:
        """Begin streaming on the device's own thread."""

    @abstractmethod
    def stop(self) -> None:
        """Stop streaming and join the thread. Safe to call twice."""

    def close(self) -> None:
        """Release the port or file. Safe to call twice."""
        self.stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until a finite source has finished (or the device stopped); True if it has."""
        return True

    @property
    def finite(self) -> bool:
        """True for sources that end by themselves (a replayed file, a sim with duration_s)."""
        return False

    def __enter__(self) -> Device:
        if self.info is None:
            self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ThreadedDevice(Device):
    """A device whose samples come from a loop on one background thread.

    Subclasses implement :meth:`_run`, calling :meth:`_emit` for each chunk and
    :meth:`_set_state` for state changes, and returning when ``self._stop_event`` is set or the
    source is exhausted. An exception escaping ``_run`` becomes an ``ERROR`` status with its text.
    """

    def __init__(self, url: str = "") -> None:
        super().__init__(url)
        self._on_chunk: ChunkCallback | None = None
        self._on_status: StatusCallback | None = None
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._done = threading.Event()
        self._next_index = 0
        #: The rate monitor of a real-time stream (None for ``speed=max`` sources).
        self.rate_check: RateCheck | None = None

    @property
    def paced_rate_hz(self) -> float | None:
        """Samples per second of wall time this source should deliver: the declared rate for a
        real-time source (times its ``speed`` for a sped-up simulation or replay); None when it
        runs as fast as the consumer allows."""
        info = self.info
        if info is None or not info.realtime:
            return None
        speed = getattr(self, "speed", 1.0)
        if speed is None or not (math.isfinite(speed) and speed > 0):
            return None
        rate = info.fs_hz * float(speed)
        return rate if rate > 0 and math.isfinite(rate) else None

    def _now(self) -> float:
        """Monotonic time for the rate check (a device's own clock when it has one)."""
        clock = getattr(self, "clock", None)
        return clock.now() if clock is not None else time.monotonic()

    def rate_advice(self, verdict: RateVerdict) -> str:
        """What to do about a source off its declared rate (subclasses know their hardware)."""
        return "the source is not paced as it declares: check its rate setting"

    def rate_problem(self, verdict: RateVerdict) -> str:
        """What was measured, naming the source."""
        return verdict.describe(self.url or "the source")

    def _rate_message(self, verdict: RateVerdict) -> str:
        """The one-line warning for a source off its rate: what, and what to do."""
        return f"{self.rate_problem(verdict)}; {self.rate_advice(verdict)}"

    def start(self, on_chunk: ChunkCallback, on_status: StatusCallback | None = None) -> None:
        """Start the background thread (opens the device first if needed)."""
        if self.info is None:
            self.open()
        if self._thread is not None and self._thread.is_alive():
            raise DeviceError("device is already streaming")
        self._on_chunk = on_chunk
        self._on_status = on_status
        self._stop_event.clear()
        self._done.clear()
        rate = self.paced_rate_hz
        self.rate_check = RateCheck(rate) if rate is not None else None
        self._thread = threading.Thread(
            target=self._thread_main, name=f"device-{self.scheme or 'source'}", daemon=True
        )
        self._thread.start()

    def _thread_main(self) -> None:
        try:
            self._set_state(DeviceState.CONNECTED, "streaming")
            finished = self._run()
            if self._stop_event.is_set():
                self._set_state(DeviceState.STOPPED, "stopped")
            elif finished is not False:
                self._set_state(DeviceState.FINISHED, "end of recording")
        except BiofeedbackError as exc:
            self._set_state(DeviceState.ERROR, str(exc))
        except Exception as exc:  # a bug, not a board problem: keep the traceback in the log
            log.exception("%s: the device thread failed", self.url or self.scheme)
            self._set_state(DeviceState.ERROR, f"{type(exc).__name__}: {exc}")
        finally:
            self._done.set()

    @abstractmethod
    def _run(self) -> bool | None:
        """Produce chunks until stopped or exhausted. Return False if stopped early."""

    def _emit(self, chunk: Chunk) -> None:
        self.stats.samples += len(chunk)
        self.stats.chunks += 1
        self._next_index = chunk.end_index
        check = self.rate_check
        if check is not None and len(chunk):
            verdict = check.add(chunk.end_index, self._now())
            if check.measured_hz is not None:
                self.stats.extra["rate_measured_hz"] = round(check.measured_hz, 2)
            if verdict is not None:
                self._warn(self._rate_message(verdict))
        if self._on_chunk is not None:
            self._on_chunk(chunk)

    def _warn(self, message: str) -> None:
        """Report something the user should know while streaming goes on (once per call)."""
        self.warnings.append(message)
        log.warning("%s", message)
        if self._on_status is not None:
            self._on_status(DeviceStatus(self.state, message, warning=True))

    def _set_state(self, state: DeviceState, message: str = "") -> None:
        self.state = state
        self.last_message = message
        if state in (DeviceState.RECONNECTING, DeviceState.CONNECTED) and self.rate_check:
            self.rate_check.restart()  # a new connection: its start-up burst is not a rate
        if self._on_status is not None:
            self._on_status(DeviceStatus(state, message))

    def stop(self) -> None:
        """Ask the thread to finish and join it."""
        self._stop_event.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)
        self._thread = None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the source to end (finite sources) or be stopped."""
        if self._thread is None:
            return True
        return self._done.wait(timeout)

    @property
    def running(self) -> bool:
        """True while the background thread is alive."""
        return self._thread is not None and self._thread.is_alive()
