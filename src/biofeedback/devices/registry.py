"""``open_device(url)``: one entry point for every source.

URLs: ``sim://?scenario=relax&seed=1``, ``serial:///dev/ttyACM0?baud=500000``,
``replay://42`` or ``replay:///path/to/file.csv?fs=1000&units=mV``, and ``auto``.

Device classes are looked up by dotted path and imported on first use, so optional sources (replay
lives in ``biofeedback.storage``) do not become import-time dependencies of this package.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from biofeedback.core.limits import check_number
from biofeedback.devices.base import Device
from biofeedback.errors import SourceURLError

#: scheme -> "module:Class"
SCHEMES: dict[str, str] = {
    "sim": "biofeedback.devices.simulated:SimulatedDevice",
    "serial": "biofeedback.devices.serial_device:SerialDevice",
    "replay": "biofeedback.storage.replay:ReplayDevice",
}

EXAMPLES = "sim://?scenario=relax, serial:///dev/ttyACM0, replay://SESSION_ID, replay:///path/file.csv?fs=1000, auto"


@dataclass
class SourceURL:
    """A parsed source URL with typed, validated option getters.

    Every getter removes the option it reads; :meth:`check_consumed` then reports any option the
    device did not understand, so typos (``senario=relax``) are caught instead of ignored.
    """

    text: str
    scheme: str
    path: str
    params: dict[str, str] = field(default_factory=dict)

    def _take(self, key: str) -> str | None:
        return self.params.pop(key, None)

    def get_str(
        self, key: str, default: str | None = None, choices: list[str] | None = None
    ) -> str | None:
        """A string option, optionally restricted to ``choices``."""
        value = self._take(key)
        if value is None:
            return default
        if choices is not None and value not in choices:
            raise SourceURLError(
                f"{self.text}: {key}={value!r} is not allowed; choose one of: {', '.join(choices)}"
            )
        return value

    def get_float(
        self,
        key: str,
        default: float | None = None,
        lo: float | None = None,
        hi: float | None = None,
        *,
        allow_inf: bool = False,
    ) -> float | None:
        """A finite number option within ``[lo, hi]`` (NaN is always refused; ``inf`` only with
        ``allow_inf``, for options where it means "for ever")."""
        value = self._take(key)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise SourceURLError(f"{self.text}: {key}={value!r} is not a number") from None
        if allow_inf and number == math.inf:
            return number
        return check_number(number, f"{self.text}: {key}", lo, hi)

    def get_int(
        self, key: str, default: int | None = None, lo: int | None = None, hi: int | None = None
    ) -> int | None:
        """A whole-number option within ``[lo, hi]``."""
        value = self._take(key)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise SourceURLError(f"{self.text}: {key}={value!r} is not a whole number") from None
        if (lo is not None and number < lo) or (hi is not None and number > hi):
            shown = value if len(value) <= 24 else value[:20] + "..."
            bounds = f" [{lo}, {hi}]" if lo is not None and hi is not None else ""
            raise SourceURLError(
                f"{self.text}: {key}={shown} is out of range{bounds}: give a whole number"
                + (f" from {lo}" if lo is not None else "")
                + (f" up to {hi}" if hi is not None else "")
            )
        return number

    def get_list(
        self, key: str, default: list[str] | None = None, choices: list[str] | None = None
    ) -> list[str] | None:
        """A comma-separated list option."""
        value = self._take(key)
        if value is None:
            return default
        items = [v.strip() for v in value.split(",") if v.strip()]
        if choices is not None:
            bad = [v for v in items if v not in choices]
            if bad:
                raise SourceURLError(
                    f"{self.text}: {key} has {', '.join(bad)}; allowed: {', '.join(choices)}"
                )
        return items

    def check_consumed(self) -> None:
        """Raise if options remain that no getter read."""
        if self.params:
            raise SourceURLError(
                f"{self.text}: unknown option(s) {', '.join(sorted(self.params))} for {self.scheme}://"
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
            f"unknown source type {scheme + '://'!r}; use one of: sim://, serial://, replay://, auto"
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
    return getattr(module, class_name)


def open_device(url: str) -> Device:
    """Create (but do not open) the device a URL names. ``auto`` picks the first board that
    answers, or explains how to connect one."""
    parsed = parse_source_url(url)
    if parsed.scheme == "auto":
        discovery = importlib.import_module("biofeedback.devices.discovery")
        return discovery.auto_device()
    cls = device_class(parsed.scheme)
    device = cls.from_url(parsed)  # type: ignore[attr-defined]
    parsed.check_consumed()
    return device
