"""OSC out: the envelope, the target and below/above to a game, a VR scene or a Max/Pd patch.

Switched on with ``--osc HOST:PORT`` (or Streaming > Send OSC... in the window). Messages go one
way, as UDP datagrams to that host and port; nothing listens. At ``rate_hz`` (default 20 Hz,
:data:`RATE_RANGE_HZ`) per wall-clock second, on the newest sample:

- ``/biofeedback/envelope`` one float per output channel: uV RMS at the electrodes;
- ``/biofeedback/threshold`` one float per output channel: the target in uV RMS (sent once every
  channel has one: in the window always, in ``record`` once the protocol has set it);
- ``/biofeedback/below`` one int per output channel: 1 while the envelope is below the target,
  else 0 (sent with the threshold);

and at once, for every marker (the same text as the LSL markers stream):
``/biofeedback/marker`` one string.

A sample without a valid envelope (a gap, the filters settling) skips that tick.
"""

from __future__ import annotations

import logging
import math
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from biofeedback.core.limits import check_number
from biofeedback.core.types import Chunk, ProcessedChunk
from biofeedback.errors import BiofeedbackError, SourceURLError

log = logging.getLogger(__name__)

DEFAULT_RATE_HZ = 20.0
RATE_RANGE_HZ = (1.0, 200.0)
PREFIX = "/biofeedback"


@dataclass(frozen=True)
class OscTarget:
    """Where OSC goes: ``host`` as given, ``address`` the resolved IP, ``port``."""

    host: str
    address: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_target(text: str, option: str = "--osc") -> OscTarget:
    """``HOST:PORT`` (``[v6addr]:PORT`` for IPv6) checked and resolved once, so sending never
    waits for a name lookup. Raises SourceURLError (one line, exit 2) on bad input."""
    value = (text or "").strip()
    hint = "give HOST:PORT, e.g. 127.0.0.1:9000"
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
        ok = bool(sep) and rest.startswith(":")
    else:
        host, sep, port_text = value.rpartition(":")
        ok = bool(sep) and ":" not in host
    if not ok or not host or not port_text:
        raise SourceURLError(f"{option} {text!r}: {hint}")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise SourceURLError(f"{option} {text!r}: the port must be a number from 1 to 65535")
    port = int(port_text)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except (OSError, UnicodeError) as exc:
        raise SourceURLError(f"{option} {text!r}: cannot find the host {host!r} ({exc})") from exc
    address = str(found[0][4][0])
    return OscTarget(host, address, port)


def check_rate(value: float, option: str = "--osc-rate") -> float:
    """An OSC rate in Hz within :data:`RATE_RANGE_HZ` (SourceURLError otherwise)."""
    lo, hi = RATE_RANGE_HZ
    return check_number(value, option, lo, hi, hint="messages per second")


class OscSender:
    """Sends the envelope, target and below/above at ``rate_hz`` (an engine sink) and markers.

    ``thresholds`` gives the current target per output channel (None where unknown); it is read
    on the device thread, so it must be cheap.
    """

    def __init__(
        self,
        target: OscTarget,
        n_outputs: int,
        *,
        rate_hz: float = DEFAULT_RATE_HZ,
        thresholds: Callable[[], list[float | None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from pythonosc.udp_client import SimpleUDPClient

        self.target = target
        self.n_outputs = n_outputs
        self.period_s = 1.0 / check_rate(rate_hz)
        self._thresholds = thresholds or (lambda: [None] * n_outputs)
        self._clock = clock
        self._next_due = -math.inf
        self._lock = threading.Lock()
        self.messages_sent = 0
        self.messages_dropped = 0
        self.closed = False
        try:
            self._client = SimpleUDPClient(target.address, target.port)
        except OSError as exc:
            raise BiofeedbackError(f"OSC to {target} cannot start: {exc}") from exc
        log.info("sending OSC to %s at %g Hz", target, rate_hz)

    def _send(self, address: str, values: list[float] | list[int] | str) -> None:
        try:
            self._client.send_message(address, values)
        except BlockingIOError:  # the socket's buffer is full for now: this message is dropped
            self.messages_dropped += 1
            return
        except OSError as exc:
            raise BiofeedbackError(
                f"OSC to {self.target} stopped ({exc}); the recording goes on without it"
            ) from exc
        self.messages_sent += 1

    def sink(self, chunk: Chunk, processed: ProcessedChunk) -> None:
        """Engine sink: when a tick is due, send the newest envelope (and target, below)."""
        if self.closed or len(processed) == 0:
            return
        now = self._clock()
        if now < self._next_due:
            return
        env = processed.envelope_uv[-1]
        if not np.all(np.isfinite(env)):
            return
        # one period after the tick that was due; after a stall, one period from now (no burst)
        due = self._next_due + self.period_s
        self._next_due = due if due > now else now + self.period_s
        with self._lock:
            self._send(f"{PREFIX}/envelope", [float(v) for v in env])
            thresholds = self._thresholds()
            if len(thresholds) == len(env) and all(t is not None for t in thresholds):
                values = [float(t) for t in thresholds if t is not None]
                self._send(f"{PREFIX}/threshold", values)
                below = [int(e < t) for e, t in zip(env.tolist(), values, strict=True)]
                self._send(f"{PREFIX}/below", below)

    def send_marker(self, text: str) -> None:
        """Send ``/biofeedback/marker`` with ``text`` (any thread); a failure is logged."""
        if self.closed:
            return
        with self._lock:
            try:
                self._send(f"{PREFIX}/marker", text)
            except BiofeedbackError as exc:
                log.error("OSC marker %r not sent: %s", text, exc)

    def close(self) -> None:
        """Stop sending and close the socket."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            self._client.close()
        log.info("OSC to %s closed (%d messages sent)", self.target, self.messages_sent)
