"""The engine scores the published structures of instruments we do not ship (Oswestry, NDI, TSK,
FABQ, PCS): made-up instruments of the same shape, never their wording."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from biofeedback.outcomes import Instrument, check_answers, compare, parse_instrument, score_answers


def made_up(text: str) -> Instrument:
    """A made-up instrument from TOML text (never a copyrighted wording)."""
    return parse_instrument(text, "made-up.toml")


def _items(
    prefix: str, count: int, lo: int, hi: int, extra: Callable[[int], str] = lambda n: ""
) -> str:
    return "".join(
        f'\n[[items]]\nid = "{prefix}{n}"\ntext = "Made-up question {n}"\nmin = {lo}\nmax = {hi}\n'
        + extra(n)
        for n in range(1, count + 1)
    )


# 10 items scored 0-5; percent of the maximum of the answered items (the Oswestry rule: the
# total over 5 x answered items, x 100), scored with up to 2 items missing.
DISABILITY_10 = f"""
id = "made-up-disability"
name = "Made-up disability index"
source = "test"
licence = "test"
{_items("q", 10, 0, 5)}
[[scores]]
id = "percent"
method = "percent"
missing = "answered"
max_missing = 2
[scores.change]
direction = "lower is better"
mcid = 10
mdc = 8
source = "made-up thresholds for the test"
"""


def _score(text: str, answers: dict[str, object]) -> dict[str, object]:
    instrument = made_up(text)
    return {s.id: s.value for s in score_answers(instrument, check_answers(instrument, answers))}


def test_percent_of_maximum_with_missing_items_follows_the_oswestry_rule() -> None:
    all_ten = {f"q{n}": v for n, v in enumerate([1, 2, 3, 0, 5, 4, 2, 1, 0, 2], start=1)}
    assert _score(DISABILITY_10, all_ten) == {"percent": 40.0}  # 20 / 50
    nine = {**all_ten, "q10": None}
    assert _score(DISABILITY_10, nine) == {"percent": pytest.approx(18 / 45 * 100)}
    eight = {**nine, "q9": None}
    assert _score(DISABILITY_10, eight) == {"percent": pytest.approx(18 / 40 * 100)}
    seven = {**eight, "q8": None}
    assert _score(DISABILITY_10, seven) == {"percent": None}  # 3 missing: not scored
    instrument = made_up(DISABILITY_10)
    result = score_answers(instrument, check_answers(instrument, nine))[0]
    assert result.answered == 9 and "answered items" in result.note
    result = score_answers(instrument, check_answers(instrument, seven))[0]
    assert result.note == "not scored: 3 of 10 items missing, at most 2 may be"


def test_change_thresholds_mcid_and_mdc() -> None:
    rule = made_up(DISABILITY_10).scores[0].change
    assert rule is not None
    big = compare(rule, 40, 26)
    assert big.important_improvement and big.beyond_mdc and big.verdict == "important improvement"
    small = compare(rule, 40, 35)
    assert not small.important_improvement and small.beyond_mdc is False
    assert small.verdict == "no important change"


def _reversed(n: int) -> str:
    return "reverse = true\n" if n in (4, 8, 12, 16) else ""


def _member(n: int) -> str:
    if n in (2, 3, 4, 5):
        return 'subscale = "activity"\n'
    return 'subscale = "work"\n' if n in (6, 7, 9, 10, 11, 12, 15) else ""


# Reverse-scored items, sum with proration (a Tampa-like 1-4 scale, items 4, 8, 12, 16 reversed).
REVERSED = f"""
id = "made-up-fear"
name = "Made-up fear scale"
source = "test"
licence = "test"
{_items("f", 17, 1, 4, _reversed)}
[[scores]]
id = "total"
method = "sum"
missing = "prorate"
max_missing = 3
[scores.change]
direction = "lower is better"
mcid = 5
source = "made-up"
"""


def test_reverse_scored_items_count_min_plus_max_minus_the_answer() -> None:
    ones = {f"f{n}": 1 for n in range(1, 18)}
    # 13 items at 1, four reversed items answered 1 count as 4
    assert _score(REVERSED, ones) == {"total": 13 + 16}
    fours = {f"f{n}": 4 for n in range(1, 18)}
    assert _score(REVERSED, fours) == {"total": 13 * 4 + 4}
    prorated = {**ones, "f1": None}  # 28 from 16 items, x 17 / 16
    assert _score(REVERSED, prorated) == {"total": pytest.approx(28 * 17 / 16)}


def test_a_sum_that_scores_what_was_answered_does_not_prorate() -> None:
    text = REVERSED.replace('missing = "prorate"', 'missing = "answered"')
    assert _score(text, {**{f"f{n}": 1 for n in range(1, 18)}, "f1": None}) == {"total": 28}


# Subscales by membership (a FABQ-like two-subscale questionnaire 0-6, with items that are in
# no subscale; a PCS-like one with three subscales and a total).
SUBSCALES = f"""
id = "made-up-beliefs"
name = "Made-up beliefs"
source = "test"
licence = "test"
{_items("b", 16, 0, 6, _member)}
[[scores]]
id = "activity"
name = "Physical activity beliefs"
method = "sum"
subscale = "activity"
[[scores]]
id = "work"
name = "Work beliefs"
method = "sum"
subscale = "work"
[[scores]]
id = "all"
method = "mean"
items = ["b1", "b2", "b3"]
"""


def test_subscales_score_only_their_members() -> None:
    instrument = made_up(SUBSCALES)
    assert instrument.scores[0].items == ("b2", "b3", "b4", "b5")
    assert instrument.scores[1].items == ("b6", "b7", "b9", "b10", "b11", "b12", "b15")
    answers = {f"b{n}": n % 7 for n in range(1, 17)}
    result = _score(SUBSCALES, answers)
    assert result["activity"] == 2 + 3 + 4 + 5
    assert result["work"] == 6 + 0 + 2 + 3 + 4 + 5 + 1
    assert result["all"] == pytest.approx(2.0)
    # an item in no subscale may be skipped without touching the subscale scores
    assert _score(SUBSCALES, {**answers, "b1": None})["work"] == result["work"]


def test_items_in_several_subscales_and_choice_values() -> None:
    text = """
id = "two-ways"
name = "Two ways"
source = "t"
licence = "t"
[[items]]
id = "a"
text = "A"
response = "choice"
subscale = ["x", "y"]
choices = [{ value = 0, label = "never" }, { value = 2, label = "often" }, { value = 4, label = "always" }]
reverse = true
[[items]]
id = "b"
text = "B"
min = 0
max = 4
step = 2
subscale = "y"
[[scores]]
id = "x"
method = "sum"
subscale = "x"
[[scores]]
id = "y"
method = "percent"
subscale = "y"
"""
    # a is reversed on its choice values: 0 -> 4; b = 2
    assert _score(text, {"a": 0, "b": 2}) == {"x": 4, "y": 75.0}
    with pytest.raises(Exception, match="b: 3 is outside the scale: answer 0 to 4 in steps of 2"):
        _score(text, {"a": 0, "b": 3})
