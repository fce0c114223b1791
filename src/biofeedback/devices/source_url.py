"""``SourceURL``: a parsed source URL whose typed getters validate and consume its options.

Every device class builds itself from one (:meth:`biofeedback.devices.base.Device.from_url`);
:func:`biofeedback.devices.registry.parse_source_url` makes them from the text a user types.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from biofeedback.core.limits import check_number
from biofeedback.errors import SourceURLError


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
