"""Asking a questionnaire one item at a time, forwards and back: what a screen shows.

:class:`Questionnaire` holds the answers so far and the item being asked; a terminal prompt
(``biofeedback outcomes record``) or a window (one large item per screen, keyboard and mouse)
drives it with :meth:`~Questionnaire.answer`, :meth:`~Questionnaire.skip` and
:meth:`~Questionnaire.back`, and shows :meth:`~Questionnaire.screen`. Items whose ``ask_if``
item is empty are not asked; going back and emptying that item drops their answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from biofeedback.outcomes.instrument import Instrument, Item
from biofeedback.outcomes.scoring import (
    Answer,
    ScoreResult,
    applies,
    check_answers,
    item_text,
    parse_answer,
    questions,
    score_answers,
)


@dataclass(frozen=True)
class Screen:
    """What one screen shows: the item, its text (references filled in), where we are."""

    item: Item
    text: str
    #: 1-based position among the items asked so far and the (current) number to ask.
    position: int
    total: int
    #: The answer already given to this item (when the patient went back), else None.
    answer: Answer

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.item.to_dict(),
            "text": self.text,
            "position": self.position,
            "total": self.total,
            "answer": self.answer,
        }


class Questionnaire:
    """One sitting of one instrument."""

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.answers: dict[str, Answer] = {}
        self._index = 0

    def _asked(self) -> list[Item]:
        return questions(self.instrument, self.answers)

    @property
    def finished(self) -> bool:
        return self._index >= len(self._asked())

    def screen(self) -> Screen | None:
        """The item to show now (None when every item has been answered or skipped)."""
        asked = self._asked()
        if self._index >= len(asked):
            return None
        item = asked[self._index]
        return Screen(
            item=item,
            text=item_text(item, self.answers),
            position=self._index + 1,
            total=len(asked),
            answer=self.answers.get(item.id),
        )

    def answer(self, raw: object) -> None:
        """Answer the current item and move on; raises AnswerError (and stays) when invalid."""
        screen = self.screen()
        if screen is None:
            return
        self.answers[screen.item.id] = parse_answer(screen.item, raw)
        self._drop_unasked()
        self._index += 1

    def skip(self) -> None:
        """Leave the current item unanswered and move on."""
        self.answer(None)

    def back(self) -> None:
        """Go to the previous item (its answer is kept until changed)."""
        self._index = max(0, self._index - 1)

    def _drop_unasked(self) -> None:
        for item in self.instrument.items:
            if not applies(item, self.answers):
                self.answers.pop(item.id, None)

    def result(self) -> tuple[dict[str, Answer], list[ScoreResult]]:
        """The checked answers (every item, None when not answered) and the scores."""
        checked = check_answers(self.instrument, self.answers)
        return checked, score_answers(self.instrument, checked)
