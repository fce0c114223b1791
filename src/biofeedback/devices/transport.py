"""SerialTransport: the byte link to a board, and the one place a lost board is reconnected.

The port is opened with pySerial's ``serial.serial_for_url``, so besides an OS port
(``/dev/ttyACM0``, ``COM3``) it may be any pySerial URL: ``socket://HOST:PORT`` (a board behind a
serial-to-network bridge, or ser2net), ``rfc2217://HOST:PORT``, ``loop://`` (tests),
``spy://PORT`` (a hex dump of the traffic on stderr). docs/hardware.md shows how a user types them.

What it owns, so the protocols (:mod:`biofeedback.devices.protocol`) never see pySerial:

- opening and closing, with the errors people meet turned into one clear sentence each (no such
  port, busy port, permission denied, network board unreachable);
- reading and writing: a port that fails or vanishes raises :class:`PortLost` with the reason;
- reconnecting (:meth:`SerialTransport.reconnect`): reopen until the board answers again or the
  reconnect window runs out, reporting ``RECONNECTING`` / ``CONNECTED`` on the way.
"""

from __future__ import annotations

import errno
import logging
import sys
import threading
from collections.abc import Callable

import serial

from biofeedback.core.clock import Clock, MonotonicClock
from biofeedback.devices.base import DeviceState, DeviceStats, check_reconnect_s
from biofeedback.devices.ports import describe_available_ports
from biofeedback.errors import DeviceError

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 0.05
WRITE_TIMEOUT_S = 1.0
RECONNECT_RETRY_S = 0.25
#: How long a lost board may stay away before the stream ends (``reconnect_s=``, --reconnect-s).
DEFAULT_RECONNECT_S = 30.0
DIALOUT_HINT = (
    "add yourself to the dialout group: sudo usermod -aG dialout $USER, then log out and in"
)
#: pySerial URL types a user may give instead of an OS port name.
URL_TYPES = "socket://HOST:PORT, rfc2217://HOST:PORT, loop://, spy://PORT"


class PortLost(DeviceError):
    """The port failed or vanished while in use; ``reason`` says how, for the status line."""

    def __init__(self, port: str, reason: str) -> None:
        super().__init__(f"{port}: {reason}")
        self.reason = reason


def is_url(port: str) -> bool:
    """True for a pySerial URL (``socket://...``), False for an OS port name or path."""
    return "://" in port


def describe_loss(exc: BaseException) -> str:
    """Why a port in use failed, in the words of the status line."""
    text = str(exc) or type(exc).__name__
    lower = text.lower()
    if (
        "returned no data" in lower
        or "input/output error" in lower
        or getattr(exc, "errno", None) in (errno.EIO, errno.ENODEV, errno.ENXIO)
    ):
        return "the port disappeared (cable unplugged or board reset)"
    if "socket disconnected" in lower or "connection reset" in lower:
        return "the network connection closed (board or bridge off, or out of reach)"
    return f"the port failed ({text})"


class SerialTransport:
    """Bytes to and from one port; see the module docstring.

    ``stats`` (the device's) counts ``bytes_received`` and ``reconnects``.
    """

    def __init__(
        self,
        port: str,
        baud: int,
        *,
        reconnect: bool = True,
        reconnect_s: float = DEFAULT_RECONNECT_S,
        clock: Clock | None = None,
        stats: DeviceStats | None = None,
    ) -> None:
        self.port = port
        self.baud = baud
        self.reconnect_enabled = reconnect
        #: Seconds a lost board may stay away before the stream ends with an error.
        self.reconnect_s = check_reconnect_s(reconnect_s, "reconnect_s")
        self.clock: Clock = clock or MonotonicClock()
        self.stats = stats if stats is not None else DeviceStats()
        self._ser: serial.Serial | None = None
        self._write_lock = threading.Lock()
        #: When the board was found gone (None while data flows): the reconnect window counts
        #: from here across reopenings that bring no data (a port that opens but stays silent).
        self._gone_since: float | None = None

    # ---- open / close ----------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """True between a successful :meth:`open` and :meth:`close`."""
        return self._ser is not None

    def open(self) -> None:
        """Open the port (an OS port or a pySerial URL); DeviceError says what to do if not."""
        # flock on an OS port: a second program on it is an error, not chaos (None: not asked)
        exclusive = True if sys.platform != "win32" and not is_url(self.port) else None
        try:
            self._ser = serial.serial_for_url(
                self.port,
                baudrate=self.baud,
                timeout=READ_TIMEOUT_S,
                write_timeout=WRITE_TIMEOUT_S,
                exclusive=exclusive,
            )
        except OSError as exc:  # serial.SerialException is an OSError
            raise self.open_error(exc) from None
        except ValueError as exc:  # unsupported baud rate, unknown URL type and the like
            if is_url(self.port) and "protocol" in str(exc):
                raise DeviceError(
                    f"cannot open {self.port}: {exc}; port URLs pySerial knows: {URL_TYPES}"
                ) from None
            raise DeviceError(f"cannot open {self.port} at {self.baud} baud: {exc}") from None

    def open_error(self, exc: BaseException) -> DeviceError:
        """The clear error for a port that would not open (``exc`` from pySerial or the OS)."""
        code = getattr(exc, "errno", None)
        text = str(exc)
        lower = text.lower()
        if is_url(self.port):
            return DeviceError(
                f"cannot reach {self.port}: {text}; is the board (or its serial bridge) on and "
                "listening at that address and port?"
            )
        if (
            code in (errno.ENOENT, errno.ENODEV, errno.ENXIO)
            or "no such file" in lower
            or ("filenotfounderror" in lower or "cannot find the file" in lower)
        ):
            return DeviceError(f"no such port {self.port}; {describe_available_ports()}")
        if code == errno.EBUSY or "exclusively lock" in lower or "busy" in lower:
            return DeviceError(
                f"port {self.port} is busy: another program has it open (the Arduino IDE's serial "
                "monitor or plotter, another biofeedback window); close it and try again"
            )
        if (
            code in (errno.EACCES, errno.EPERM)
            or "permission denied" in lower
            or "access is denied" in lower
        ):
            if sys.platform.startswith("linux"):
                return DeviceError(f"permission denied on {self.port}: {DIALOUT_HINT}")
            if sys.platform == "win32":
                return DeviceError(
                    f"access denied on {self.port}: another program probably has it open "
                    "(close the Arduino IDE's serial monitor)"
                )
            return DeviceError(f"permission denied on {self.port}: check the device's permissions")
        return DeviceError(f"cannot open {self.port}: {text}")

    def close(self) -> None:
        """Release the port. Safe to call twice and on a port that has vanished."""
        ser, self._ser = self._ser, None
        if ser is None:
            return
        try:
            ser.close()
        except OSError as exc:  # closing a vanished port may fail; it is released either way
            log.debug("closing %s: %s", self.port, exc)

    # ---- bytes -----------------------------------------------------------------------------

    def read(self) -> bytes:
        """What has arrived (waits up to READ_TIMEOUT_S for a first byte); PortLost if the port
        failed or is closed."""
        ser = self._ser
        if ser is None:
            raise PortLost(self.port, describe_loss(OSError(errno.ENODEV, "port closed")))
        try:
            waiting = ser.in_waiting
            data = ser.read(waiting if waiting else 1)
        except OSError as exc:
            raise PortLost(self.port, describe_loss(exc)) from exc
        if data:
            self.stats.bytes_received += len(data)
        return bytes(data)

    def write(self, data: bytes) -> None:
        """Send bytes (from any thread); PortLost if the port failed or is closed."""
        with self._write_lock:
            ser = self._ser
            if ser is None:
                raise PortLost(self.port, "the port is not open")
            try:
                ser.write(data)
            except OSError as exc:
                raise PortLost(self.port, describe_loss(exc)) from exc

    def discard_input(self) -> None:
        """Drop bytes that arrived before now (stale data from before we opened)."""
        ser = self._ser
        if ser is None:
            return
        try:
            ser.reset_input_buffer()
        except OSError as exc:  # a port that cannot flush fails the next read, which says so
            log.debug("flushing %s: %s", self.port, exc)

    # ---- reconnect -------------------------------------------------------------------------

    def data_flowing(self) -> None:
        """Data arrived: a later loss starts a new reconnect window."""
        self._gone_since = None

    def reconnect(
        self,
        reason: str,
        resume: Callable[[], None],
        stop: threading.Event,
        report: Callable[[DeviceState, str], None],
    ) -> bool:
        """Reopen the port and ``resume`` the protocol until both succeed: True then, False if
        ``stop`` was set meanwhile. DeviceError when reconnecting is off or the board stayed
        away longer than the reconnect window. ``report`` receives the state changes."""
        self.close()
        if not self.reconnect_enabled:
            raise DeviceError(f"{self.port}: {reason} (reconnect=off)")
        self.stats.reconnects += 1
        lost_at = self.clock.now()
        again = self._gone_since is not None  # reopened last time, but no data came
        if self._gone_since is None:
            self._gone_since = lost_at
        deadline = self._gone_since + self.reconnect_s
        report(
            DeviceState.RECONNECTING,
            f"{self.port}: {reason}; reconnecting for up to {self.reconnect_s:g} s "
            "(plug the board back in if it was unplugged)",
        )
        attempts = 0
        while not stop.is_set():
            if (attempts or again) and self.clock.now() >= deadline:
                raise DeviceError(self.gone_message())
            attempts += 1
            try:
                self.open()
                resume()
            except DeviceError as exc:  # not back yet, or back but not answering: keep trying
                self.close()
                log.debug("%s: reconnect attempt %d: %s", self.port, attempts, exc)
                if attempts % 20 == 1:
                    report(
                        DeviceState.RECONNECTING,
                        f"{self.port}: {reason}; still reconnecting ({exc})",
                    )
                if stop.wait(self._retry_wait(deadline)):
                    return False
                continue
            report(
                DeviceState.CONNECTED,
                f"{self.port}: reconnected after {self.clock.now() - lost_at:.1f} s; "
                "the gap is marked as missing samples",
            )
            return True
        return False

    def _retry_wait(self, deadline: float) -> float:
        """Seconds to wait before the next attempt (never past the reconnect window)."""
        return max(0.0, min(RECONNECT_RETRY_S, deadline - self.clock.now()))

    def gone_message(self) -> str:
        """The final error for a board that stayed away too long."""
        return (
            f"the board at {self.port} has been gone for {self.reconnect_s:g} s: check the cable, "
            "then start a new recording"
        )
