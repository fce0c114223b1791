"""``open_device(url)``: one entry point for every source.

URLs: ``sim://?scenario=relax&seed=1``, ``serial:///dev/ttyACM0?baud=500000`` (or a networked
board, ``serial://socket://192.168.4.1:23``: see docs/hardware.md), ``replay://42`` or
``replay:///path/to/file.csv?fs=1000&units=mV``, ``lsl://?type=EMG`` (another program's LSL
stream), ``brainflow://synthetic`` (a BrainFlow board; see docs/interop.md), and ``auto``.

Device classes are looked up by dotted path and imported on first use, so optional sources (replay
lives in ``biofeedback.storage``, serial needs pyserial) do not become import-time dependencies of
this package. Each class builds itself with :meth:`Device.from_url`.
"""

from __future__ import annotations

import importlib
from urllib.parse import parse_qsl, unquote, urlsplit

from biofeedback.devices.base import Device
from biofeedback.devices.source_url import SourceURL
from biofeedback.errors import SourceURLError

#: scheme -> "module:Class"
SCHEMES: dict[str, str] = {
    "sim": "biofeedback.devices.simulated:SimulatedDevice",
    "serial": "biofeedback.devices.serial_device:SerialDevice",
    "replay": "biofeedback.storage.replay:ReplayDevice",
    "lsl": "biofeedback.devices.lsl_source:LSLDevice",
    "brainflow": "biofeedback.devices.brainflow_source:BrainFlowDevice",
}

EXAMPLES = (
    "sim://?scenario=relax, serial:///dev/ttyACM0, replay://SESSION_ID, "
    "replay:///path/file.csv?fs=1000, lsl://?type=EMG, brainflow://synthetic, auto"
)


def parse_source_url(url: str) -> SourceURL:
    """Split a source URL into scheme, path and options; SourceURLError if it is malformed."""
    text = url.strip()
    if text == "auto":
        return SourceURL(text, "auto", "")
    if "://" not in text:
        raise SourceURLError(f"{text!r} is not a source URL; examples: {EXAMPLES}")
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise SourceURLError(
            f"unknown source type {scheme + '://'!r}; use one of: "
            + ", ".join(f"{name}://" for name in SCHEMES)
            + ", auto"
        )
    path = unquote(parts.netloc + parts.path)
    params: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in params:
            raise SourceURLError(f"{text}: option {key!r} given twice")
        params[key] = value
    return SourceURL(text, scheme, path, params)


def device_class(scheme: str) -> type[Device]:
    """The Device class for a scheme."""
    module_name, _, class_name = SCHEMES[scheme].partition(":")
    module = importlib.import_module(module_name)
    cls: type[Device] = getattr(module, class_name)
    return cls


def open_device(url: str) -> Device:
    """Create (but do not open) the device a URL names. ``auto`` picks the first board that
    answers, or explains how to connect one."""
    parsed = parse_source_url(url)
    if parsed.scheme == "auto":
        from biofeedback.devices import discovery  # imports pyserial: only when asked for

        return discovery.auto_device()
    device = device_class(parsed.scheme).from_url(parsed)
    parsed.check_consumed()
    return device
