"""Scoring of every built-in instrument, and the thresholds they cite."""

from __future__ import annotations

import pytest

from biofeedback.errors import AnswerError
from biofeedback.outcomes import (
    check_answers,
    compare,
    item_text,
    judge_value,
    library_ids,
    load_instrument,
    questions,
    score_answers,
)


def scores(instrument_id: str, answers: dict[str, object]) -> dict[str, float | None]:
    instrument = load_instrument(instrument_id)
    return {s.id: s.value for s in score_answers(instrument, check_answers(instrument, answers))}


def test_the_library_holds_the_four_instruments_each_citing_its_sources() -> None:
    assert library_ids() == ["pain-interference", "pain-nrs", "pgic", "psfs"]
    for ident in library_ids():
        instrument = load_instrument(ident)
        assert instrument.builtin and not instrument.warnings
        assert instrument.licence.startswith("MIT") and instrument.source
        assert len(instrument.sha256) == 64
        for score in instrument.scores:
            if score.change is not None:
                assert score.change.source


def test_pain_nrs_scores_each_item_and_judges_2_points_or_30_percent() -> None:
    assert scores("pain-nrs", {"now": 6, "average": "7", "worst": 9}) == {
        "average": 7,
        "now": 6,
        "worst": 9,
    }
    rule = next(s for s in load_instrument("pain-nrs").scores if s.id == "average").change
    assert rule is not None and rule.mcid == 2 and rule.mcid_percent == 30
    assert "Farrar" in rule.source and "Dworkin" in rule.source
    assert compare(rule, 7, 5).important_improvement  # 2 points
    assert compare(rule, 3, 2).important_improvement  # 1 point, but 33 %
    assert not compare(rule, 9, 8).important_improvement  # 1 point, 11 %
    worse = compare(rule, 4, 6)
    assert worse.important_worsening and worse.verdict == "important worsening"
    assert compare(rule, 7, 5).change == -2 and compare(rule, 8, 6).change_percent == 25.0
    # a skipped item: that score is not scored, the others are
    assert scores("pain-nrs", {"now": 3, "average": "-"})["average"] is None


def test_psfs_is_the_mean_of_the_rated_activities_needing_three() -> None:
    three = {
        "activity1": "lifting a box",
        "activity2": "sitting an hour",
        "activity3": "walking",
        "rating1": 2,
        "rating2": 3,
        "rating3": 7,
    }
    assert scores("psfs", three) == {"mean": 4.0}
    five = {**three, "activity4": "gardening", "activity5": "driving", "rating4": 0, "rating5": 8}
    assert scores("psfs", five) == {"mean": 4.0}
    assert scores("psfs", {**three, "rating3": None}) == {"mean": None}  # only 2 rated
    psfs = load_instrument("psfs")
    # an activity not named is not asked, and may not be rated
    asked = [i.id for i in questions(psfs, three)]
    assert "rating3" in asked and "rating4" not in asked and "activity4" in asked
    assert item_text(psfs.item("rating1"), three) == "How able are you today to do: lifting a box?"
    with pytest.raises(AnswerError, match="only asked when activity4 is answered"):
        check_answers(psfs, {**three, "rating4": 5})
    rule = psfs.scores[0].change
    assert rule is not None and rule.mcid == 2 and str(rule.direction) == "higher is better"
    assert "Stratford" in rule.source and "Horn" in rule.source
    assert compare(rule, 4.0, 6.0).important_improvement
    assert not compare(rule, 4.0, 5.5).important_improvement


def test_pgic_counts_much_better_or_very_much_better_as_important() -> None:
    pgic = load_instrument("pgic")
    assert [c.label for c in pgic.item("change").choices][:2] == ["Very much better", "Much better"]
    assert scores("pgic", {"change": 2}) == {"rating": 2}
    assert scores("pgic", {"change": "much better"}) == {"rating": 2}  # a label is accepted too
    rule = pgic.scores[0].change
    assert rule is not None
    assert judge_value(rule, 1).important_improvement and judge_value(rule, 2).important_improvement
    assert not judge_value(rule, 3).important_improvement
    with pytest.raises(AnswerError, match="not one of 1 \\(Very much better\\)"):
        check_answers(pgic, {"change": 8})


def test_pain_interference_mean_allows_one_missing_and_has_no_invented_threshold() -> None:
    assert scores("pain-interference", {"activity": 4, "sleep": 6, "mood": 8}) == {"mean": 6.0}
    assert scores("pain-interference", {"activity": 4, "sleep": 6}) == {"mean": 5.0}
    assert scores("pain-interference", {"activity": 4}) == {"mean": None}
    assert load_instrument("pain-interference").scores[0].change is None


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"now": 11}, "now: 11 is outside the scale: answer 0 to 10"),
        ({"now": -1}, "outside the scale"),
        ({"now": 2.5}, "outside the scale"),
        ({"now": "nan"}, "not a finite number"),
        ({"now": "lots"}, "'lots' is not a number"),
        ({"now": True}, "answer with a number"),
        ({"nowx": 1}, "pain-nrs has no item 'nowx': its items are now, average, worst"),
    ],
)
def test_bad_answers_are_refused_with_the_reason(answers: dict[str, object], message: str) -> None:
    with pytest.raises(AnswerError, match=message.replace("(", "\\(")):
        check_answers(load_instrument("pain-nrs"), answers)


def test_free_text_answers_are_limited() -> None:
    psfs = load_instrument("psfs")
    with pytest.raises(AnswerError, match="longer than 200"):
        check_answers(psfs, {"activity1": "x" * 201})
    with pytest.raises(AnswerError, match="control characters"):
        check_answers(psfs, {"activity1": "lift\x1b[2J"})
