"""The serial ports the OS lists, and which of them look like an Arduino-class board.

Only this module asks pyserial for the listing (:data:`comports`, which tests replace with fake
ports). Probing what answers on a port is :mod:`biofeedback.devices.discovery`'s job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

#: USB vendor ids of Arduino-class boards and the USB-serial bridges found on their clones.
KNOWN_VIDS: dict[int, str] = {
    0x2341: "Arduino",
    0x2A03: "Arduino (arduino.org)",
    0x1B4F: "SparkFun",
    0x239A: "Adafruit",
    0x2E8A: "Raspberry Pi (RP2040)",
    0x1A86: "WCH CH340 USB-serial",
    0x0403: "FTDI USB-serial",
    0x10C4: "Silicon Labs CP210x USB-serial",
    0x303A: "Espressif",
}

SIM_HINT = 'or try the simulator: --source "sim://?scenario=relax"'


@dataclass(frozen=True)
class PortInfo:
    """One serial port as the OS lists it."""

    device: str
    description: str = ""
    vid: int | None = None
    pid: int | None = None
    manufacturer: str = ""
    serial_number: str = ""

    @property
    def vendor(self) -> str:
        """Vendor name from the USB vendor id ('' if unknown)."""
        return KNOWN_VIDS.get(self.vid, "") if self.vid is not None else ""

    @property
    def candidate(self) -> bool:
        """True for USB ports of Arduino-class vendors and bridges."""
        return self.vid in KNOWN_VIDS

    @property
    def usb_id(self) -> str:
        """``vvvv:pppp`` or '' for non-USB ports."""
        if self.vid is None:
            return ""
        return f"{self.vid:04x}:{(self.pid or 0):04x}"

    def label(self) -> str:
        """Human-readable one-liner."""
        what = self.vendor or self.manufacturer or self.description or "serial port"
        usb = f" [{self.usb_id}]" if self.usb_id else ""
        return f"{self.device} ({what}{usb})"


def _pyserial_comports() -> list[Any]:
    from serial.tools import list_ports

    return list(list_ports.comports())


#: Where port listings come from; tests replace it with fake ports on ptys.
comports: Callable[[], Iterable[Any]] = _pyserial_comports


def list_ports() -> list[PortInfo]:
    """Every serial port the OS lists, Arduino-class candidates first."""
    ports = []
    for p in comports():
        ports.append(
            PortInfo(
                device=str(p.device),
                description=str(getattr(p, "description", "") or ""),
                vid=getattr(p, "vid", None),
                pid=getattr(p, "pid", None),
                manufacturer=str(getattr(p, "manufacturer", "") or ""),
                serial_number=str(getattr(p, "serial_number", "") or ""),
            )
        )
    return sorted(ports, key=lambda p: (not p.candidate, p.device))


def candidate_ports() -> list[PortInfo]:
    """Ports whose USB vendor id is an Arduino-class board or bridge."""
    return [p for p in list_ports() if p.candidate]


def describe_available_ports() -> str:
    """One sentence listing the ports, for error messages."""
    try:
        ports = list_ports()
    except Exception as exc:  # handled: a listing failure must not hide the error being reported
        log.warning("could not list serial ports", exc_info=True)
        return f"could not list serial ports ({exc})"
    if not ports:
        return (
            "no serial ports found: is the board plugged in? (a charge-only USB cable shows no "
            f"port) {SIM_HINT}"
        )
    return "available ports: " + ", ".join(p.label() for p in ports)
