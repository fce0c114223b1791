"""One sitting, one item per screen: forwards, back, skip, and items that depend on others."""

from __future__ import annotations

import pytest

from biofeedback.errors import AnswerError
from biofeedback.outcomes import Questionnaire, load_instrument


def test_forwards_with_positions_scale_labels_and_scores() -> None:
    sitting = Questionnaire(load_instrument("pain-nrs"))
    screen = sitting.screen()
    assert screen is not None and (screen.position, screen.total) == (1, 3)
    assert screen.text == "How strong is your pain right now?"
    assert screen.item.anchors == ((0.0, "no pain"), (10.0, "pain as bad as you can imagine"))
    assert screen.to_dict()["anchors"] == {"0": "no pain", "10": "pain as bad as you can imagine"}
    with pytest.raises(AnswerError, match="outside the scale"):
        sitting.answer("11")
    assert sitting.screen() == screen  # a refused answer stays on the item
    sitting.answer("4")
    sitting.skip()
    sitting.answer(8)
    assert sitting.finished and sitting.screen() is None
    answers, scores = sitting.result()
    assert answers == {"now": 4.0, "average": None, "worst": 8.0}
    assert {s.id: s.value for s in scores} == {"average": None, "now": 4.0, "worst": 8.0}


def test_back_keeps_the_answer_and_emptying_an_activity_drops_its_rating() -> None:
    sitting = Questionnaire(load_instrument("psfs"))
    for name in ("lifting", "sitting", "walking", "gardening", ""):
        sitting.answer(name)
    screen = sitting.screen()
    assert screen is not None and screen.total == 9 and screen.position == 6
    assert screen.text == "How able are you today to do: lifting?"
    for value in (2, 4, 6, 8):
        sitting.answer(value)
    assert sitting.finished
    for _ in range(5):
        sitting.back()
    screen = sitting.screen()
    assert screen is not None and screen.item.id == "activity5" and screen.answer is None
    sitting.back()
    assert sitting.screen().answer == "gardening"  # type: ignore[union-attr]  # not None here
    sitting.skip()  # activity 4 emptied: its rating is dropped and no longer asked
    assert "rating4" not in sitting.answers and sitting.screen().total == 8  # type: ignore[union-attr]  # not None here
    while not sitting.finished:
        sitting.answer(sitting.screen().answer)  # type: ignore[union-attr]  # keep the answers
    answers, scores = sitting.result()
    assert answers["rating4"] is None and scores[0].value == 4.0  # mean of 2, 4, 6
