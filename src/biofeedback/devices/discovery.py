"""Find boards: list serial ports, pick the Arduino-class ones by USB vendor id, probe them.

``auto_device()`` (the ``auto`` source) returns a :class:`SerialDevice` for the first port whose
board answers with the biofeedback firmware, or raises a :class:`DeviceError` that says how to
connect one, how to use a stock sketch (text mode), or how to try the simulator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from biofeedback.devices.serial_device import TEXT_BAUD, SerialDevice
from biofeedback.devices.wire import InfoPacket
from biofeedback.errors import DeviceError

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
#: Baud rates the stock SparkFun/MyoWare example sketches use, most common first.
TEXT_BAUDS = (TEXT_BAUD, 9600)

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


@dataclass
class ProbeResult:
    """What answered on a port."""

    port: PortInfo
    answer: str  # "biofeedback", "text", "silent", "error"
    detail: str = ""
    url: str = ""
    info: InfoPacket | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (``biofeedback devices --json``)."""
        out: dict[str, Any] = {
            "port": self.port.device,
            "usb_id": self.port.usb_id,
            "vendor": self.port.vendor,
            "description": self.port.description,
            "candidate": self.port.candidate,
            "answer": self.answer,
            "detail": self.detail,
            "url": self.url,
        }
        if self.info is not None:
            out["firmware"] = self.info.firmware
            out["board"] = self.info.board
            out["adc_bits"] = self.info.adc_bits
            out["fs_hz"] = self.info.fs_hz
            out["channels"] = [
                f"{k.value}@A{p}" for k, p in zip(self.info.kinds, self.info.pins, strict=True)
            ]
        out.update(self.extra)
        return out


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
    except Exception as exc:  # a listing failure must not hide the real error
        return f"could not list serial ports ({exc})"
    if not ports:
        return (
            "no serial ports found: is the board plugged in? (a charge-only USB cable shows no "
            f"port) {SIM_HINT}"
        )
    return "available ports: " + ", ".join(p.label() for p in ports)


def probe_port(
    port: PortInfo | str,
    timeout_s: float = 2.5,
    text_bauds: Iterable[int] = TEXT_BAUDS,
) -> ProbeResult:
    """Ask a port who is there: our firmware (IDENTIFY), else a sketch printing numbers."""
    info_port = port if isinstance(port, PortInfo) else PortInfo(device=port)
    device = SerialDevice(info_port.device, open_timeout_s=timeout_s, reconnect=False)
    try:
        device.open()
    except DeviceError as exc:
        message = str(exc)
        if not (
            "no data" in message or "no valid frame" in message or "does not answer" in message
        ):
            return ProbeResult(info_port, "error", message)
        binary_failure = message
    else:
        info = device.device_info
        device.close()
        assert info is not None
        return ProbeResult(
            info_port,
            "biofeedback",
            f"biofeedback firmware {info.firmware} on {info.board} ({info.adc_bits}-bit), "
            f"{info.fs_hz:g} Hz, "
            + " ".join(f"{k.value}@A{p}" for k, p in zip(info.kinds, info.pins, strict=True)),
            url=f"serial://{info_port.device}",
            info=info,
        )
    for baud in text_bauds:
        text = SerialDevice(
            info_port.device,
            text=True,
            baud=baud,
            open_timeout_s=timeout_s,
            calibrate_s=min(timeout_s, 1.5),
            reconnect=False,
        )
        try:
            stream = text.open()
        except DeviceError:
            continue
        finally:
            text.close()
        kinds = ",".join(ch.kind.value for ch in stream.channels)
        return ProbeResult(
            info_port,
            "text",
            f"a sketch printing {stream.n_channels} number(s) per line at ~{stream.fs_hz:.0f} "
            f"lines/s, {baud} baud (stock example?)",
            url=f"serial://{info_port.device}?format=text&baud={baud}&channels={kinds}",
            extra={"text_baud": baud, "fs_estimate_hz": round(stream.fs_hz, 2)},
        )
    return ProbeResult(info_port, "silent", binary_failure)


def probe_all(
    ports: list[PortInfo] | None = None,
    timeout_s: float = 2.5,
    include_all: bool = False,
    text_bauds: Iterable[int] = TEXT_BAUDS,
) -> list[ProbeResult]:
    """Probe the candidate ports (or every port with ``include_all``)."""
    if ports is None:
        ports = list_ports()
    results = []
    for p in ports:
        if p.candidate or include_all:
            results.append(probe_port(p, timeout_s, text_bauds))
        else:
            results.append(ProbeResult(p, "skipped", "not an Arduino-class USB device (use --all)"))
    return results


def auto_device(timeout_s: float = 3.0) -> SerialDevice:
    """A SerialDevice (not opened) for the first candidate port that answers IDENTIFY."""
    candidates = candidate_ports()
    if not candidates:
        raise DeviceError(
            "no Arduino-class board found: plug it in with a data USB cable, flash "
            "firmware/biofeedback (firmware/README.md) and run `biofeedback devices`; " + SIM_HINT
        )
    problems = []
    for port in candidates:
        result = probe_port(port, timeout_s, text_bauds=())
        if result.answer == "biofeedback":
            return SerialDevice(port.device, url=f"serial://{port.device}")
        problems.append(f"{port.label()}: {result.detail}")
    raise DeviceError(
        "no board answered with the biofeedback firmware ("
        + "; ".join(problems)
        + "). For a stock example sketch use "
        + f'--source "serial://{candidates[0].device}?format=text"; '
        + SIM_HINT
    )
