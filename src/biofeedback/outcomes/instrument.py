"""Outcome-measure instruments as data: the TOML format, its validation and the library.

An instrument file holds what a questionnaire asks (items with their response scale, in order)
and how its answers are scored (sum, mean or percent of the maximum, reverse-scored items,
missing-item rules, subscales), with the change thresholds (minimal clinically important
difference, minimal detectable change) and the sources they come from. The format is described
in docs/outcomes.md. Files are read with the same rules and messages as protocol files
(:mod:`biofeedback.core.tomlfile`): every mistake raises
:class:`~biofeedback.errors.InstrumentFileError` naming the file, the entry and what is allowed.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from biofeedback.core.tomlfile import (
    TomlChecker,
    TomlKind,
    as_file,
    fmt_number,
    parse_toml_text,
    read_limited,
    show_value,
    type_name,
)
from biofeedback.errors import InstrumentFileError

FORMAT_VERSION = 1
#: Largest instrument file read (a long questionnaire is a few KiB).
MAX_INSTRUMENT_FILE_BYTES = 128 * 1024
#: Tables and lists nest at most this deep (items > choices > one choice).
MAX_NESTING_DEPTH = 6
#: Most items in one instrument.
MAX_ITEMS = 200
#: Most scores (total and subscales) in one instrument.
MAX_SCORES = 50
#: Most choices of one item.
MAX_CHOICES = 21
#: Longest item text, instruction or citation, in characters.
MAX_TEXT_CHARS = 4000
#: Longest free-text answer (an activity's name), in characters.
MAX_ANSWER_CHARS = 200
#: Widest numeric scale (max - min) and largest absolute value.
MAX_SCALE_VALUE = 1000.0
LIBRARY_PACKAGE = "biofeedback.outcomes"  # instruments in its library/ folder

log = logging.getLogger(__name__)

INSTRUMENT_FILE = TomlKind(
    what="instrument",
    error=InstrumentFileError,
    max_bytes=MAX_INSTRUMENT_FILE_BYTES,
    max_depth=MAX_NESTING_DEPTH,
    size_hint="An instrument is a few KiB of text",
    syntax_hint='(text needs quotes, e.g. text = "How strong is your pain?")',
    depth_hint="items hold plain values and lists of choices (see docs/outcomes.md)",
)

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_PLACEHOLDER_RE = re.compile(r"\{([a-z0-9_-]+)\}")
_TOP_KEYS = (
    "format",
    "id",
    "name",
    "version",
    "language",
    "licence",
    "source",
    "instructions",
    "recall_period",
    "items",
    "scores",
)
_ITEM_KEYS = (
    "id",
    "text",
    "response",
    "min",
    "max",
    "step",
    "anchors",
    "choices",
    "reverse",
    "subscale",
    "ask_if",
    "help",
)
_CHOICE_KEYS = ("value", "label")
_SCORE_KEYS = (
    "id",
    "name",
    "method",
    "items",
    "subscale",
    "missing",
    "max_missing",
    "min_answered",
    "decimals",
    "change",
)
_CHANGE_KEYS = ("direction", "mcid", "mcid_percent", "mdc", "responder_value", "source")


class Response(enum.StrEnum):
    """How an item is answered."""

    NUMERIC = "numeric"  # a number on a scale from min to max in steps (pain 0-10)
    CHOICE = "choice"  # one of labelled choices, each with its value
    TEXT = "text"  # free text (the name of an activity); not scored


class Method(enum.StrEnum):
    """How a score combines its items' values."""

    SUM = "sum"
    MEAN = "mean"
    PERCENT = "percent"  # (sum - least possible) / (most possible - least possible) x 100


class Missing(enum.StrEnum):
    """What a score does with unanswered items (within ``max_missing`` / ``min_answered``)."""

    #: sum: answered sum x items / answered (mean and percent are unchanged by it).
    PRORATE = "prorate"
    #: Score the answered items only: a sum of what was answered; percent of the maximum of
    #: the answered items (the Oswestry rule); the mean of the answered items.
    ANSWERED = "answered"


class Direction(enum.StrEnum):
    LOWER_IS_BETTER = "lower is better"
    HIGHER_IS_BETTER = "higher is better"


@dataclass(frozen=True)
class Choice:
    value: float
    label: str


@dataclass(frozen=True)
class Item:
    """One question, in the order asked. A window asks one item per screen."""

    id: str
    text: str
    response: Response
    minimum: float = 0.0
    maximum: float = 0.0
    step: float = 1.0
    #: Numeric scale labels at some values ({0: "no pain", 10: "worst pain imaginable"}).
    anchors: tuple[tuple[float, str], ...] = ()
    choices: tuple[Choice, ...] = ()
    reverse: bool = False
    subscales: tuple[str, ...] = ()
    #: Ask (and score) this item only when that text item was answered (PSFS activity 4-5).
    ask_if: str = ""
    help: str = ""

    @property
    def scored(self) -> bool:
        return self.response != Response.TEXT

    def value_range(self) -> tuple[float, float]:
        """Least and most value an answer can have."""
        if self.response == Response.CHOICE:
            values = [c.value for c in self.choices]
            return min(values), max(values)
        return self.minimum, self.maximum

    def label_of(self, value: float) -> str:
        """The choice label or anchor at ``value`` ("" when it has none)."""
        pairs = [(c.value, c.label) for c in self.choices] or list(self.anchors)
        return next((label for v, label in pairs if v == value), "")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "text": self.text, "response": str(self.response)}
        if self.response == Response.NUMERIC:
            out.update(min=self.minimum, max=self.maximum, step=self.step)
            out["anchors"] = {fmt_number(v): label for v, label in self.anchors}
        if self.response == Response.CHOICE:
            out["choices"] = [{"value": c.value, "label": c.label} for c in self.choices]
        out.update(reverse=self.reverse, subscales=list(self.subscales), ask_if=self.ask_if)
        return out


@dataclass(frozen=True)
class ChangeRule:
    """When a change from baseline matters, and the literature it comes from."""

    direction: Direction
    mcid: float | None = None
    mcid_percent: float | None = None
    mdc: float | None = None
    #: For a rating of change itself (global impression): a value this good or better counts.
    responder_value: float | None = None
    source: str = ""


@dataclass(frozen=True)
class Score:
    id: str
    name: str
    method: Method
    items: tuple[str, ...]
    missing: Missing = Missing.PRORATE
    max_missing: int = 0
    min_answered: int = 1
    decimals: int = 1
    change: ChangeRule | None = None


@dataclass(frozen=True)
class Instrument:
    id: str
    name: str
    version: str
    items: tuple[Item, ...]
    scores: tuple[Score, ...]
    language: str = "en"
    licence: str = ""
    source: str = ""
    instructions: str = ""
    recall_period: str = ""
    #: "builtin:<id>" or the file's path.
    origin: str = ""
    #: SHA-256 of the file's bytes: stored with every answer set.
    sha256: str = ""
    warnings: tuple[str, ...] = field(default=())

    @property
    def builtin(self) -> bool:
        return self.origin.startswith("builtin:")

    def item(self, item_id: str) -> Item:
        return next(i for i in self.items if i.id == item_id)

    @property
    def item_ids(self) -> tuple[str, ...]:
        return tuple(i.id for i in self.items)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "language": self.language,
            "licence": self.licence,
            "source": self.source,
            "instructions": self.instructions,
            "recall_period": self.recall_period,
            "origin": self.origin,
            "sha256": self.sha256,
            "items": [i.to_dict() for i in self.items],
            "scores": [_score_dict(s) for s in self.scores],
        }


def _score_dict(score: Score) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": score.id,
        "name": score.name,
        "method": str(score.method),
        "items": list(score.items),
        "missing": str(score.missing),
        "max_missing": score.max_missing,
        "min_answered": score.min_answered,
    }
    if score.change is not None:
        c = score.change
        out["change"] = {
            "direction": str(c.direction),
            "mcid": c.mcid,
            "mcid_percent": c.mcid_percent,
            "mdc": c.mdc,
            "responder_value": c.responder_value,
            "source": c.source,
        }
    return out


# --------------------------------------------------------------------------- loading


def library_ids() -> list[str]:
    """Ids of the built-in instruments, sorted."""
    folder = resources.files(LIBRARY_PACKAGE).joinpath("library")
    return sorted(e.name[: -len(".toml")] for e in folder.iterdir() if e.name.endswith(".toml"))


def user_instrument_dir() -> Path:
    """Where a clinic's own instruments are looked up by id (``<data dir>/instruments``)."""
    from biofeedback.config import data_dir  # late: only needed when looking up by id

    return data_dir(create=False) / "instruments"


def list_instruments(errors: list[InstrumentFileError] | None = None) -> list[Instrument]:
    """The built-in instruments, then the user's own (``<data dir>/instruments/*.toml``).

    A broken user file raises, or when ``errors`` is a list is left out and its error appended.
    """
    found = [load_instrument(name) for name in library_ids()]
    folder = user_instrument_dir()
    if folder.is_dir():
        for path in sorted(folder.glob("*.toml")):
            try:
                instrument = load_instrument_file(path)
                if any(i.id == instrument.id for i in found):
                    raise InstrumentFileError(
                        f"{path}: id '{instrument.id}' is already taken by "
                        f"{next(i.origin for i in found if i.id == instrument.id)}: give the "
                        "file its own id"
                    )
            except InstrumentFileError as exc:
                if errors is None:
                    raise
                errors.append(exc)
                continue
            found.append(instrument)
    return found


def load_instrument(id_or_path: str | Path) -> Instrument:
    """An instrument by built-in id, by id in the user's folder, or by file path."""
    path = as_file(id_or_path)
    if path is not None:
        return load_instrument_file(path)
    text = str(id_or_path)
    if text in library_ids():
        data = resources.files(LIBRARY_PACKAGE).joinpath("library", f"{text}.toml").read_bytes()
        return parse_instrument(data, f"{text}.toml", origin=f"builtin:{text}")
    found = _find_user_instrument(text)
    if found is not None:
        return found
    raise InstrumentFileError(
        f"unknown instrument {text!r}: choose one of {', '.join(library_ids())} "
        "(see: biofeedback instruments list), or give the path of a .toml file"
    )


def _find_user_instrument(ident: str) -> Instrument | None:
    """The user's instrument ``<ident>.toml``, else the one whose ``id`` is ``ident`` (a file
    named otherwise); broken files are passed over here (``instruments list`` reports them)."""
    folder = user_instrument_dir()
    named = folder / f"{ident}.toml"
    if named.is_file():
        return load_instrument_file(named)
    if not folder.is_dir():
        return None
    for path in sorted(folder.glob("*.toml")):
        try:
            instrument = load_instrument_file(path)
        except InstrumentFileError as exc:
            log.debug("passed over %s: %s", path, exc)
            continue
        if instrument.id == ident:
            return instrument
    return None


def load_instrument_file(path: str | Path) -> Instrument:
    """Read and validate one instrument file (at most ``MAX_INSTRUMENT_FILE_BYTES``)."""
    data, path = read_limited(path, INSTRUMENT_FILE)
    return parse_instrument(data, path.name, origin=str(path))


def parse_instrument(data: bytes | str, filename: str, origin: str = "") -> Instrument:
    """Parse and validate TOML text; ``filename`` starts every error message."""
    raw = parse_toml_text(data, filename, INSTRUMENT_FILE)
    blob = data.encode("utf-8") if isinstance(data, str) else data
    parser = _Parser(filename)
    instrument = parser.instrument(raw)
    return _with(instrument, origin or filename, hashlib.sha256(blob).hexdigest(), parser.warnings)


def _with(instrument: Instrument, origin: str, sha256: str, warnings: list[str]) -> Instrument:
    return replace(instrument, origin=origin, sha256=sha256, warnings=tuple(warnings))


# --------------------------------------------------------------------------- validation


def _number_or_none(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Parser(TomlChecker):
    def __init__(self, filename: str) -> None:
        super().__init__(filename, InstrumentFileError)
        self.warnings: list[str] = []

    def required_text(self, table: Mapping[str, Any], key: str, where: str, example: str) -> str:
        if key not in table:
            raise self.fail(where, f"missing required key '{key}' (e.g. {key} = {example})")
        value = self.text(table, key, where)
        if not value:
            raise self.fail(where, f"{key} is empty: write it (e.g. {key} = {example})")
        return self.limited(value, key, where)

    def limited(self, value: str, key: str, where: str) -> str:
        if len(value) > MAX_TEXT_CHARS:
            raise self.fail(where, f"{key} is longer than {MAX_TEXT_CHARS} characters")
        return value

    def ident(self, table: Mapping[str, Any], where: str, example: str) -> str:
        if "id" not in table:
            raise self.fail(where, f"missing required key 'id' (e.g. id = {example})")
        value = table["id"]
        if not isinstance(value, str) or not _ID_RE.match(value):
            raise self.fail(
                where,
                f"id {show_value(value)} must be 1-64 lower-case letters, digits, '-' or '_' "
                f"(e.g. id = {example})",
            )
        return value

    def instrument(self, raw: Mapping[str, Any]) -> Instrument:
        self.check_keys(raw, _TOP_KEYS, "")
        if "format" in raw and (isinstance(raw["format"], bool) or raw["format"] != FORMAT_VERSION):
            raise self.fail(
                "", f"format {raw['format']!r} is not supported: this version reads format = 1"
            )
        ident = self.ident(raw, "", '"pain-nrs"')
        name = self.required_text(raw, "name", "", '"Pain intensity 0-10"')
        version = raw.get("version", "1")
        if isinstance(version, int) and not isinstance(version, bool):
            version = str(version)
        if not isinstance(version, str) or not version.strip():
            raise self.fail("", f'version must be text such as "1" or "2.0" (got {version!r})')
        source = self.limited(self.text(raw, "source", ""), "source", "")
        licence = self.limited(self.text(raw, "licence", ""), "licence", "")
        if not source or not licence:
            self.warnings.append(
                f"{self.filename}: say where the instrument comes from (source = ...) and under "
                "what licence it may be used (licence = ...)"
            )
        items = self.items(raw.get("items"))
        scores = self.scores(raw.get("scores"), items)
        return Instrument(
            id=ident,
            name=name,
            version=version.strip(),
            items=tuple(items),
            scores=tuple(scores),
            language=self.text(raw, "language", "", "en") or "en",
            licence=licence,
            source=source,
            instructions=self.limited(self.text(raw, "instructions", ""), "instructions", ""),
            recall_period=self.limited(self.text(raw, "recall_period", ""), "recall_period", ""),
        )

    # -- items

    def items(self, value: object) -> list[Item]:
        if value is None:
            raise self.fail("", "missing required key 'items': add at least one [[items]] table")
        if not isinstance(value, list) or not value:
            raise self.fail("", "items must be a non-empty list of tables: write [[items]]")
        if len(value) > MAX_ITEMS:
            raise self.fail(
                "", f"{len(value)} items; the limit for an instrument is {MAX_ITEMS} items"
            )
        out: list[Item] = []
        for number, entry in enumerate(value, start=1):
            where = f"item {number}"
            table = self.table(entry, where)
            if isinstance(table.get("id"), str):
                where = f"item {number} '{table['id']}'"
            item = self.item(table, where, out)
            out.append(item)
        return out

    def item(self, table: Mapping[str, Any], where: str, before: list[Item]) -> Item:
        self.check_keys(table, _ITEM_KEYS, where)
        ident = self.ident(table, where, '"now"')
        if any(i.id == ident for i in before):
            raise self.fail(where, f"id '{ident}' is used by an earlier item: ids must be unique")
        text = self.required_text(table, "text", where, '"How strong is your pain right now?"')
        texts = {i.id for i in before if i.response == Response.TEXT}
        for name in _PLACEHOLDER_RE.findall(text):
            if name not in texts:
                raise self.fail(
                    where, f"text refers to {{{name}}}, which is not an earlier free-text item"
                )
        ask_if = self.text(table, "ask_if", where)
        if ask_if and ask_if not in texts:
            raise self.fail(where, f"ask_if '{ask_if}' must name an earlier free-text item")
        raw_kind = table.get("response", "choice" if "choices" in table else "numeric")
        try:
            response = Response(raw_kind)
        except ValueError:
            raise self.fail(
                where,
                f"response {show_value(raw_kind)} is not allowed: use numeric, choice or text",
            ) from None
        subscale = table.get("subscale", [])
        if isinstance(subscale, str):
            subscale = [subscale]
        if not isinstance(subscale, list) or not all(
            isinstance(s, str) and _ID_RE.match(s) for s in subscale
        ):
            raise self.fail(where, 'subscale must be an id or a list of ids (e.g. "physical")')
        common: dict[str, Any] = {
            "id": ident,
            "text": text,
            "response": response,
            "reverse": self.flag(table, "reverse", where, False),
            "subscales": tuple(subscale),
            "ask_if": ask_if,
            "help": self.limited(self.text(table, "help", where), "help", where),
        }
        if response == Response.TEXT:
            for key in ("min", "max", "step", "anchors", "choices", "reverse", "subscale"):
                if key in table:
                    raise self.fail(where, f"{key} does not apply to a free-text item")
            return Item(**common)
        if response == Response.CHOICE:
            for key in ("min", "max", "step", "anchors"):
                if key in table:
                    raise self.fail(where, f"{key} does not apply to a choice item: use choices")
            return Item(**common, choices=self.choices(table.get("choices"), where))
        if "choices" in table:
            raise self.fail(where, 'choices need response = "choice"')
        return self.numeric(table, where, common)

    def numeric(self, table: Mapping[str, Any], where: str, common: dict[str, Any]) -> Item:
        for key in ("min", "max"):
            if key not in table:
                raise self.fail(where, "a numeric item needs min and max (e.g. min = 0, max = 10)")
        lo = self.number(table, "min", where, 0, -MAX_SCALE_VALUE, MAX_SCALE_VALUE)
        hi = self.number(table, "max", where, 0, -MAX_SCALE_VALUE, MAX_SCALE_VALUE)
        if hi <= lo:
            raise self.fail(where, f"max {fmt_number(hi)} must be above min {fmt_number(lo)}")
        step = self.number(table, "step", where, 1.0, 0, hi - lo, low_open=True)
        steps = (hi - lo) / step
        if abs(steps - round(steps)) > 1e-9:
            raise self.fail(
                where, f"step {fmt_number(step)} must divide max - min ({fmt_number(hi - lo)})"
            )
        anchors_raw = table.get("anchors", {})
        if not isinstance(anchors_raw, Mapping):
            raise self.fail(where, 'anchors must be a table such as { 0 = "none", 10 = "worst" }')
        anchors: list[tuple[float, str]] = []
        for key, label in anchors_raw.items():
            try:
                at = float(key)
            except ValueError:
                raise self.fail(where, f"anchor {key!r} is not a number on the scale") from None
            if not lo <= at <= hi:
                raise self.fail(
                    where,
                    f"anchor {key} is outside the scale {fmt_number(lo)}-{fmt_number(hi)}",
                )
            if not isinstance(label, str) or not label.strip():
                raise self.fail(where, f"anchor {key} needs a label in quotes")
            anchors.append((at, label.strip()))
        return Item(**common, minimum=lo, maximum=hi, step=step, anchors=tuple(sorted(anchors)))

    def choices(self, value: object, where: str) -> tuple[Choice, ...]:
        hint = 'choices = [{ value = 0, label = "not at all" }, ...]'
        if not isinstance(value, list) or len(value) < 2:
            raise self.fail(where, f"a choice item needs at least 2 choices: {hint}")
        if len(value) > MAX_CHOICES:
            raise self.fail(where, f"{len(value)} choices; the limit is {MAX_CHOICES}")
        out: list[Choice] = []
        for number, entry in enumerate(value, start=1):
            here = f"{where}: choice {number}"
            table = self.table(entry, here)
            self.check_keys(table, _CHOICE_KEYS, here)
            if "value" not in table or "label" not in table:
                raise self.fail(here, f"needs value and label: {hint}")
            number_value = self.number(table, "value", here, 0, -MAX_SCALE_VALUE, MAX_SCALE_VALUE)
            label = self.text(table, "label", here)
            if not label:
                raise self.fail(here, "label is empty")
            if any(c.value == number_value for c in out):
                raise self.fail(here, f"value {fmt_number(number_value)} is used twice")
            out.append(Choice(number_value, label))
        return tuple(out)

    # -- scores

    def scores(self, value: object, items: list[Item]) -> list[Score]:
        if value is None:
            raise self.fail("", "missing required key 'scores': add at least one [[scores]] table")
        if not isinstance(value, list) or not value:
            raise self.fail("", "scores must be a non-empty list of tables: write [[scores]]")
        if len(value) > MAX_SCORES:
            raise self.fail("", f"{len(value)} scores; the limit is {MAX_SCORES}")
        out: list[Score] = []
        for number, entry in enumerate(value, start=1):
            where = f"score {number}"
            table = self.table(entry, where)
            if isinstance(table.get("id"), str):
                where = f"score {number} '{table['id']}'"
            score = self.score(table, where, items)
            if any(s.id == score.id for s in out):
                raise self.fail(where, f"id '{score.id}' is used by an earlier score")
            out.append(score)
        return out

    def score(self, table: Mapping[str, Any], where: str, items: list[Item]) -> Score:
        self.check_keys(table, _SCORE_KEYS, where)
        ident = self.ident(table, where, '"total"')
        raw_method = table.get("method", "")
        try:
            method = Method(raw_method)
        except ValueError:
            raise self.fail(
                where, f"method {show_value(raw_method)} is not allowed: use sum, mean or percent"
            ) from None
        members = self.members(table, where, items)
        raw_missing = table.get("missing", "prorate")
        try:
            missing = Missing(raw_missing)
        except ValueError:
            raise self.fail(
                where, f"missing {show_value(raw_missing)} is not allowed: use prorate or answered"
            ) from None
        n = len(members)
        max_missing = self.integer(table, "max_missing", where, 0, 0, n - 1)
        min_answered = self.integer(table, "min_answered", where, n - max_missing, 1, n)
        if "max_missing" in table and "min_answered" in table:
            raise self.fail(where, "give max_missing or min_answered, not both")
        return Score(
            id=ident,
            name=self.text(table, "name", where) or ident,
            method=method,
            items=members,
            missing=missing,
            max_missing=n - min_answered,
            min_answered=min_answered,
            decimals=self.integer(table, "decimals", where, 1, 0, 4),
            change=self.change(table.get("change"), f"{where}: change", items, members),
        )

    def members(self, table: Mapping[str, Any], where: str, items: list[Item]) -> tuple[str, ...]:
        scored = [i for i in items if i.scored]
        if "items" in table and "subscale" in table:
            raise self.fail(where, "give items or subscale, not both")
        if "subscale" in table:
            name = table["subscale"]
            members = tuple(i.id for i in scored if name in i.subscales)
            if not members:
                raise self.fail(where, f"no scored item belongs to subscale {show_value(name)}")
            return members
        if "items" not in table:
            if not scored:
                raise self.fail(where, "the instrument has no numeric or choice item to score")
            return tuple(i.id for i in scored)
        value = table["items"]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise self.fail(where, 'items must be a list of item ids (e.g. ["q1", "q2"])')
        by_id = {i.id: i for i in items}
        for ident in value:
            if ident not in by_id:
                raise self.fail(where, f"items names '{ident}', which is not an item id")
            if not by_id[ident].scored:
                raise self.fail(where, f"item '{ident}' is free text and cannot be scored")
        if len(set(value)) != len(value):
            raise self.fail(where, "items lists an item twice")
        return tuple(value)

    def change(
        self, value: object, where: str, items: list[Item], members: tuple[str, ...]
    ) -> ChangeRule | None:
        if value is None:
            return None
        table = self.table(value, where)
        self.check_keys(table, _CHANGE_KEYS, where)
        raw = table.get("direction", "")
        try:
            direction = Direction(raw)
        except ValueError:
            raise self.fail(
                where,
                f'direction {show_value(raw)} is not allowed: use "lower is better" or '
                '"higher is better"',
            ) from None
        out = ChangeRule(
            direction=direction,
            mcid=self.optional(table, "mcid", where, MAX_SCALE_VALUE),
            mcid_percent=self.optional(table, "mcid_percent", where, 100.0),
            mdc=self.optional(table, "mdc", where, MAX_SCALE_VALUE),
            responder_value=self.optional(table, "responder_value", where, MAX_SCALE_VALUE, True),
            source=self.limited(self.text(table, "source", where), "source", where),
        )
        thresholds = (out.mcid, out.mcid_percent, out.mdc, out.responder_value)
        if all(t is None for t in thresholds):
            raise self.fail(where, "give at least one of mcid, mcid_percent, mdc, responder_value")
        if not out.source:
            raise self.fail(where, "source is missing: cite where the thresholds come from")
        return out

    def optional(
        self, table: Mapping[str, Any], key: str, where: str, high: float, signed: bool = False
    ) -> float | None:
        if key not in table:
            return None
        if not _number_or_none(table[key]):
            raise self.fail(where, f"{key} must be a number (got {type_name(table[key])})")
        low = -high if signed else 0.0
        return self.number(table, key, where, 0, low, high, low_open=not signed)
