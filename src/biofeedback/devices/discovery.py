"""Find boards: probe the ports :mod:`~biofeedback.devices.ports` lists for who answers.

``auto_device()`` (the ``auto`` source) returns a :class:`SerialDevice` for the first port whose
board answers with the biofeedback firmware, or raises a :class:`DeviceError` that says how to
connect one, how to use a stock sketch (text mode), or how to try the simulator.

A port silent to IDENTIFY is asked the Chords firmware's ``WHORU`` (a Chords board sends
nothing until started, and is never started by a probe); a port that already sends data is not
asked. ``auto`` takes a Chords board too when no port has the biofeedback firmware.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from biofeedback.devices.chords_protocol import CHORDS_BAUD, ChordsProtocol
from biofeedback.devices.ports import SIM_HINT, PortInfo, candidate_ports, list_ports
from biofeedback.devices.serial_device import SerialDevice
from biofeedback.devices.text_protocol import TEXT_BAUD
from biofeedback.devices.wire import InfoPacket
from biofeedback.errors import DeviceError

#: Baud rates the stock SparkFun/MyoWare example sketches use, most common first.
TEXT_BAUDS = (TEXT_BAUD, 9600)
#: Baud rates of the Chords firmware builds: current, then the 2024 UNO-R4 build.
CHORDS_BAUDS = (CHORDS_BAUD, 115_200)


@dataclass
class ProbeResult:
    """What answered on a port."""

    port: PortInfo
    answer: str  # "biofeedback", "chords", "text", "silent", "error"
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


def probe_port(
    port: PortInfo | str,
    timeout_s: float = 2.5,
    text_bauds: Iterable[int] = TEXT_BAUDS,
    chords_bauds: Iterable[int] = CHORDS_BAUDS,
) -> ProbeResult:
    """Ask a port who is there: our firmware (IDENTIFY), else (a silent port) the Chords
    firmware (WHORU), else a sketch printing numbers."""
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
        if "no data" in message:
            chords = probe_chords(info_port, timeout_s, chords_bauds)
            if chords is not None:
                return chords
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


def probe_chords(port: PortInfo, timeout_s: float, bauds: Iterable[int]) -> ProbeResult | None:
    """The Chords firmware's answer to WHORU at one of ``bauds``, or None."""
    for baud in bauds:
        device = SerialDevice(
            port.device,
            fmt=ChordsProtocol.name,
            baud=baud,
            open_timeout_s=timeout_s,
            reconnect=False,
        )
        try:
            stream = device.open()
        except DeviceError:
            continue
        finally:
            device.close()
        name = stream.extra.get("chords_board", "?")
        url = f"serial://{port.device}?format=chords" + (
            f"&baud={baud}" if baud != CHORDS_BAUD else ""
        )
        return ProbeResult(
            port,
            "chords",
            f"Chords firmware on {name} ({stream.adc_bits}-bit), {stream.fs_hz:g} Hz, "
            f"{stream.n_channels} inputs, {baud} baud",
            url=url,
            extra={"chords_board": name, "baud": baud, "fs_hz": stream.fs_hz},
        )
    return None


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
    """A SerialDevice (not opened) for the first candidate port that answers IDENTIFY, else
    for the first that answers the Chords firmware's WHORU."""
    candidates = candidate_ports()
    if not candidates:
        raise DeviceError(
            "no Arduino-class board found: plug it in with a data USB cable, flash "
            "firmware/biofeedback (firmware/README.md) and run `biofeedback devices`; " + SIM_HINT
        )
    problems = []
    chords: ProbeResult | None = None
    for port in candidates:
        result = probe_port(port, timeout_s, text_bauds=())
        if result.answer == "biofeedback":
            return SerialDevice(port.device, url=f"serial://{port.device}")
        if result.answer == "chords" and chords is None:
            chords = result
        problems.append(f"{port.label()}: {result.detail}")
    if chords is not None:
        baud = int(chords.extra["baud"])
        return SerialDevice(chords.port.device, fmt=ChordsProtocol.name, baud=baud, url=chords.url)
    raise DeviceError(
        "no board answered with the biofeedback firmware ("
        + "; ".join(problems)
        + "). For a stock example sketch use "
        + f'--source "serial://{candidates[0].device}?format=text"; '
        + SIM_HINT
    )


@dataclass
class StreamListing:
    """An LSL stream another program publishes, with the ``lsl://`` URL that reads it."""

    name: str
    type: str
    channels: int
    fs_hz: float
    host: str
    source_id: str
    url: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (``biofeedback devices --lsl --json``)."""
        return dict(self.__dict__)


def lsl_streams(timeout_s: float = 2.0) -> list[StreamListing]:
    """The LSL sample streams (a regular rate, numbers, not text) seen within ``timeout_s``.

    Resolving sends UDP multicast queries on the local network (docs/interop.md), so this runs
    only when asked (``biofeedback devices --lsl``)."""
    from biofeedback.devices import lsl_source

    found = []
    for info in lsl_source.list_streams(timeout_s, stream_type=None):
        if not info.nominal_srate() > 0 or info.channel_format() == lsl_source.CF_STRING:
            continue  # markers or text: not a source of samples
        found.append(
            StreamListing(
                name=info.name(),
                type=info.type(),
                channels=int(info.channel_count()),
                fs_hz=float(info.nominal_srate()),
                host=info.hostname(),
                source_id=info.source_id(),
                url=lsl_source.stream_url(info),
            )
        )
    return sorted(found, key=lambda s: (s.type != "EMG", s.name, s.source_id))


@dataclass
class BoardListing:
    """One of BrainFlow's boards, with the ``brainflow://`` URL that opens it."""

    name: str
    board_id: int
    fs_hz: float | None
    channels: int
    channel_kind: str  # "EMG", or "EXG" for a board that lists no EMG channels
    url: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (``biofeedback devices --brainflow --json``)."""
        return dict(self.__dict__)


def brainflow_boards() -> list[BoardListing]:
    """BrainFlow's boards by name and id (SourceURLError when BrainFlow is not installed)."""
    from biofeedback.devices import brainflow_source

    boards = []
    for name, number in brainflow_source.board_names().items():
        descr = brainflow_source.board_description(number)
        if descr is None:
            continue  # no presets of its own (BrainFlow's no-board placeholder)
        emg = len(descr.get("emg_channels", []))
        exg = len({r for key in brainflow_source.EXG_KEYS for r in descr.get(key, [])})
        if not exg:
            continue  # nothing to read (the playback and streaming boards, which wrap another)
        rate = descr.get("sampling_rate")
        boards.append(
            BoardListing(
                name=name,
                board_id=number,
                fs_hz=float(rate) if rate is not None else None,
                channels=emg or exg,
                channel_kind="EMG" if emg else "EXG",
                url=f"brainflow://{name}",
            )
        )
    return sorted(boards, key=lambda b: b.board_id)
