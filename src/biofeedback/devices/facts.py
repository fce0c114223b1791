"""What the app knows about a source before (and after) opening it, answered by its Device class.

The window asks these questions; it never takes a source URL apart itself:

- :func:`source_facts` -- is it on a body (electrodes on a person: the electrical-safety checklist
  comes first), which URL options its class takes, whether the app's Board/ADC choice applies to
  it, the board and ADC resolution the URL means, and a short human label ("simulated sensor
  (relax)", "/dev/ttyACM0", "replay 12", "LSL stream Chords", "BrainFlow cyton").
- :func:`with_setup` -- the URL for the same source on another board or ADC resolution, or None
  when the source reports its own (our firmware, a recording, an LSL stream, a BrainFlow board).
- :func:`board_choices` -- the boards the app offers, each with a short label that fits the side
  panel and the full one.

Each class registered in :data:`biofeedback.devices.registry.SCHEMES` answers through its
``facts`` classmethod and its class attributes (``on_body``, ``kind_label``, ``url_options``);
``auto`` is not a class: it finds a board with our firmware on a serial port, so it is on a body
and reports its own ADC. Nothing here opens a port, imports an optional library (pyserial aside,
which the serial class needs) or raises: a URL that cannot be parsed gets the cautious answer
(on a body, no setup, the text itself as label), and opening it reports what is wrong.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit

from biofeedback.core.hardware import BOARDS
from biofeedback.devices.facts_types import (
    BoardChoice,
    SourceFacts,
    board_adc_bits,
    board_choices,
    setup_from_url,
)
from biofeedback.devices.registry import device_class, parse_source_url
from biofeedback.errors import SourceURLError

if TYPE_CHECKING:
    from biofeedback.devices.base import Device

__all__ = [
    "AUTO_FACTS",
    "DEFAULT_SIM_SOURCE",
    "EXAMPLE_SOURCES",
    "SOURCE_HINT",
    "BoardChoice",
    "SourceFacts",
    "board_adc_bits",
    "board_choices",
    "describe_source",
    "needs_checklist",
    "setup_from_url",
    "source_facts",
    "with_setup",
]

log = logging.getLogger(__name__)

#: The simulated sensor on a 12-bit board, whose RAW output resolves a relaxed muscle.
DEFAULT_SIM_SOURCE = "sim://?scenario=relax&board=12bit"
#: Sources offered in the window's source picker besides the recent ones.
EXAMPLE_SOURCES = (
    "sim://?scenario=relax",
    "sim://?scenario=tense-release",
    "sim://?scenario=noisy",
    "sim://?scenario=dropout",
    "auto",
    "lsl://?type=EMG",  # another program's LSL stream (docs/interop.md)
    "brainflow://synthetic",  # BrainFlow's synthetic board (brainflow://cyton?serial_port=...)
)
#: How to type a source, for tooltips and help.
SOURCE_HINT = (
    "sim://?scenario=relax, serial:///dev/ttyACM0, replay://SESSION, lsl://?type=EMG, auto"
)
#: Longest label shown for a source the registry does not know (longer ones end in "…").
MAX_UNKNOWN_LABEL = 40
#: The options the app's Board and ADC choice writes into a URL that takes them.
SETUP_OPTIONS = ("board", "bits")

AUTO_FACTS = SourceFacts(
    url="auto",
    scheme="auto",
    kind="first board found",
    label="first board found (auto)",
    on_body=True,
)


def source_facts(source: str | Device) -> SourceFacts:
    """The facts about a source URL or a Device (an open device adds the board it reported)."""
    if isinstance(source, str):
        return _url_facts(source)
    facts = _url_facts(source.url) if source.url else None
    if facts is None or facts.scheme != source.scheme:
        facts = type(source).class_facts(source.url or type(source).__name__)
    info = source.info
    if info is not None:
        facts = replace(facts, board=info.board or facts.board, adc_bits=info.adc_bits)
    return facts


def _url_facts(url: str) -> SourceFacts:
    text = url.strip()
    try:
        parsed = parse_source_url(text)
    except SourceURLError as exc:
        log.debug("no facts for %r: %s", text, exc)
        return _unknown(text)
    if parsed.scheme == "auto":
        return AUTO_FACTS
    try:
        cls = device_class(parsed.scheme)
    except ImportError as exc:  # an optional module of the source (storage) cannot load
        log.info("cannot load the %s:// source: %s", parsed.scheme, exc)
        return _unknown(text)
    return cls.facts(parsed)


def _unknown(text: str) -> SourceFacts:
    label = text if len(text) <= MAX_UNKNOWN_LABEL else text[: MAX_UNKNOWN_LABEL - 3] + "…"
    return SourceFacts(url=text, scheme="", kind="unknown source", label=label, on_body=True)


def needs_checklist(url: str) -> bool:
    """True when the source may have electrodes on a person (the safety checklist comes first)."""
    return source_facts(url).on_body


def describe_source(url: str) -> str:
    """A short human name for a source URL."""
    return source_facts(url).label


def with_setup(url: str, board: str, adc_bits: int = 0) -> str | None:
    """``url`` on ``board`` read at ``adc_bits`` (0: the board's own), for sources that take it.

    Returns ``url`` itself when it already means that board and resolution, and None for
    sources that report their own ADC. ``bits=`` is written only when it differs from the
    board's own resolution; a malformed ``bits=`` is replaced. ValueError for an unknown board.
    """
    own = board_adc_bits(board)
    if own is None:
        raise ValueError(f"unknown board {board!r}: choose one of {', '.join(BOARDS)}")
    facts = source_facts(url)
    if not facts.takes_setup:
        return None
    want_bits = adc_bits or own
    if facts.board == board and facts.adc_bits == want_bits:
        return url
    parts = urlsplit(url.strip())
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in SETUP_OPTIONS
    ]
    query.append(("board", board))
    if want_bits != own:
        query.append(("bits", str(want_bits)))
    return f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(query, safe=',')}"
