"""The facts a Device class gives about a source (:class:`SourceFacts`) and the boards offered.

A leaf module: the device classes import it to answer :meth:`Device.facts`; the questions the
window asks (:func:`~biofeedback.devices.facts.source_facts`, ``with_setup``) are in
:mod:`biofeedback.devices.facts`, which looks the class up in the registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from biofeedback.core.hardware import BOARDS

if TYPE_CHECKING:
    from biofeedback.devices.source_url import SourceURL

#: Labels short enough for the side panel's Board combo, whose ADC row shows the resolution
#: (the full names are in core.hardware).
_BOARD_SHORT_LABELS = {
    "uno": "Uno R3 / Nano",
    "12bit": "12-bit, 3.3 V",
    "uno-r4": "Uno R4",
}


@dataclass(frozen=True)
class SourceFacts:
    """What one source is, as far as the app needs to know.

    ``on_body``: its samples may come from electrodes on a person (checklist first).
    ``options``: the URL options its class reads. ``takes_setup``: the app's Board/ADC choice
    applies (``board=``/``bits=`` in its URL); otherwise the source reports its own ADC.
    ``board``/``adc_bits``: what the URL means (the class's default board when it names none),
    None when the source reports them only once open.
    """

    url: str
    scheme: str
    kind: str
    label: str
    on_body: bool
    options: tuple[str, ...] = ()
    takes_setup: bool = False
    board: str | None = None
    adc_bits: int | None = None

    @property
    def board_label(self) -> str:
        """The board's full name, or "" when the source reports its own."""
        return BOARDS[self.board].label if self.board in BOARDS else ""


@dataclass(frozen=True)
class BoardChoice:
    """A board the app offers: ``short_label`` fits the side panel, ``label`` is the full name."""

    key: str
    short_label: str
    label: str
    adc_bits: int


def board_choices() -> tuple[BoardChoice, ...]:
    """Every board in :data:`biofeedback.core.hardware.BOARDS`, in order."""
    return tuple(
        BoardChoice(key, _BOARD_SHORT_LABELS.get(key, board.label), board.label, board.adc_bits)
        for key, board in BOARDS.items()
    )


def board_adc_bits(board: str) -> int | None:
    """The board's own ADC resolution (None for a board the app does not know)."""
    return BOARDS[board].adc_bits if board in BOARDS else None


def setup_from_url(parsed: SourceURL, default_board: str | None) -> tuple[str | None, int | None]:
    """The board and ADC resolution a URL's ``board=``/``bits=`` mean, without consuming them.

    An unknown board gives ``(None, None)``; a missing or malformed ``bits=`` the board's own.
    """
    board = parsed.params.get("board", default_board)
    if board is None or board not in BOARDS:
        return None, None
    bits_text = parsed.params.get("bits")
    if bits_text is None:
        return board, BOARDS[board].adc_bits
    try:
        return board, int(bits_text)
    except ValueError:
        return board, None
