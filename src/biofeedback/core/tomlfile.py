"""Reading and checking the TOML files users write (training protocols, outcome instruments).

One set of rules, one set of messages, whatever the file describes: a file is read only up to its
size limit, must be UTF-8 and valid TOML, may not nest tables and lists deeper than a limit, and
every mistake raises the caller's error class (a :class:`~biofeedback.errors.BiofeedbackError`)
with a message that starts with the file name, names the field and says what is allowed.
:class:`TomlChecker` holds the field checks both formats share (unknown keys with a "did you
mean", numbers in a range, text, tables).
"""

from __future__ import annotations

import difflib
import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from biofeedback.errors import BiofeedbackError


@dataclass(frozen=True)
class TomlKind:
    """What kind of file is being read, for the limits and the wording of the messages."""

    #: "protocol", "instrument": used in "the limit for a protocol".
    what: str
    #: Raised for every problem; must accept one message argument.
    error: type[BiofeedbackError]
    max_bytes: int
    max_depth: int
    #: Appended to the too-large message (what to do instead).
    size_hint: str
    #: Appended to the TOML syntax message (a common mistake), with its parentheses.
    syntax_hint: str
    #: Appended to the nested-too-deep message.
    depth_hint: str

    @property
    def a_what(self) -> str:
        """``"a protocol"``, ``"an instrument"``."""
        return f"{'an' if self.what[:1] in 'aeiou' else 'a'} {self.what}"


def as_file(name_or_path: str | Path) -> Path | None:
    """The file a library name-or-path argument names (a Path, a ``.toml`` name, a name with a
    ``/``, or an existing file), or None when it is a name to look up in a library."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    if isinstance(name_or_path, Path) or text.endswith(".toml") or "/" in text or path.is_file():
        return path
    return None


def read_limited(path: str | Path, kind: TomlKind) -> tuple[bytes, Path]:
    """The bytes of a file (at most ``kind.max_bytes + 1``, so that a larger one is caught)."""
    path = Path(path).expanduser()
    try:
        with path.open("rb") as fh:
            return fh.read(kind.max_bytes + 1), path
    except FileNotFoundError:
        raise kind.error(f"{path}: file not found: check the path") from None
    except IsADirectoryError:
        raise kind.error(f"{path}: is a folder, not {kind.a_what} file (.toml)") from None
    except OSError as exc:
        raise kind.error(f"{path}: cannot read the file ({exc.strerror})") from None


def read_toml_file(path: str | Path, kind: TomlKind) -> tuple[Any, str, str]:
    """Read and decode a file: (parsed table, file name for messages, full path as text)."""
    data, path = read_limited(path, kind)
    return parse_toml_text(data, path.name, kind), path.name, str(path)


def parse_toml_text(data: bytes | str, filename: str, kind: TomlKind) -> dict[str, Any]:
    """Size limit, UTF-8 and TOML syntax checks; the parsed table. ``filename`` starts messages."""
    if len(data) > kind.max_bytes:
        raise kind.error(
            f"{filename}: the file is larger than {kind.max_bytes // 1024} KiB, the "
            f"limit for {kind.a_what}: is it the right file? {kind.size_hint}".rstrip()
        )
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise kind.error(f"{filename}: not UTF-8 text: save the file as UTF-8") from None
    try:
        raw = tomllib.loads(data)
    except tomllib.TOMLDecodeError as exc:
        raise kind.error(
            f"{filename}: not valid TOML: {exc}: fix the syntax there {kind.syntax_hint}".rstrip()
        ) from None
    except RecursionError:
        raise too_deep(filename, kind) from None
    if nesting_depth(raw, kind.max_depth) > kind.max_depth:
        raise too_deep(filename, kind)
    return raw


def too_deep(filename: str, kind: TomlKind) -> BiofeedbackError:
    """The error for tables or lists nested deeper than ``kind.max_depth``."""
    return kind.error(
        f"{filename}: tables or lists are nested more than {kind.max_depth} levels deep, the "
        f"limit for {kind.a_what}: {kind.depth_hint}"
    )


def nesting_depth(value: object, stop_above: int = 1000) -> int:
    """How deeply tables and lists nest in parsed TOML (a plain value is 0), without recursion;
    the walk stops once the depth passes ``stop_above``."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children: Iterable[object]
        if isinstance(item, Mapping):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > stop_above:
            break
        stack.extend((child, depth + 1) for child in children)
    return deepest


def fmt_number(value: float) -> str:
    """A number as a person writes it (``3``, ``0.5``)."""
    return f"{value:g}"


def show_value(value: object) -> str:
    """A value for a message: numbers plain, text quoted."""
    if isinstance(value, float):
        return fmt_number(value)
    if isinstance(value, str):
        return repr(value)
    return str(value)


def type_name(value: object) -> str:
    """What a TOML value is, in the words of the messages ("a number", "text", "a table")."""
    return {
        bool: "true/false",
        int: "a number",
        float: "a number",
        str: "text",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


class TomlChecker:
    """Field checks on decoded TOML. Every message is ``"<file>: <where>: <what is wrong>"``."""

    def __init__(self, filename: str, error: type[BiofeedbackError]) -> None:
        self.filename = filename
        self.error = error

    def fail(self, where: str, message: str) -> BiofeedbackError:
        """The error to raise (``where`` names the table or entry; empty at the top level)."""
        prefix = f"{self.filename}: {where}: " if where else f"{self.filename}: "
        return self.error(prefix + message)

    def check_keys(self, table: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
        """Fail on the first key not in ``allowed``, suggesting the closest allowed one."""
        allowed = tuple(allowed)
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise self.fail(
                    where, f"unknown key '{key}'{hint}; allowed keys: {', '.join(allowed)}"
                )

    def number(
        self,
        table: Mapping[str, Any],
        key: str,
        where: str,
        default: float,
        low: float,
        high: float,
        *,
        low_open: bool = False,
        unit: str = "",
    ) -> float:
        """``table[key]`` as a finite number within the range (``default`` when absent)."""
        if key not in table:
            return default
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(where, f"{key} must be a number (got {type_name(value)} {value!r})")
        value = float(value)
        ok = (value > low if low_open else value >= low) and value <= high
        if not math.isfinite(value) or not ok:
            rng = (
                f"> {fmt_number(low)} and <= {fmt_number(high)}"
                if low_open
                else f"between {fmt_number(low)} and {fmt_number(high)}"
            )
            raise self.fail(where, f"{key} {fmt_number(value)} must be {rng}{unit}")
        return value

    def integer(
        self, table: Mapping[str, Any], key: str, where: str, default: int, low: int, high: int
    ) -> int:
        """``table[key]`` as a whole number from ``low`` to ``high`` (``default`` when absent)."""
        if key not in table:
            return default
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(
                where, f"{key} {show_value(value)} must be a whole number from {low} to {high}"
            )
        return value

    def text(self, table: Mapping[str, Any], key: str, where: str, default: str = "") -> str:
        """``table[key]`` as stripped text (``default`` when absent)."""
        if key not in table:
            return default
        value = table[key]
        if not isinstance(value, str):
            raise self.fail(where, f"{key} must be text in quotes (got {type_name(value)})")
        return value.strip()

    def flag(self, table: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
        """``table[key]`` as true/false (``default`` when absent)."""
        value = table.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(where, f"{key} must be true or false (got {value!r})")
        return value

    def table(self, value: object, where: str) -> Mapping[str, Any]:
        """``value`` when it is a table."""
        if not isinstance(value, Mapping):
            raise self.fail(where, f"must be a table (got {type_name(value)})")
        return value
