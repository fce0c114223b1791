"""Outcome measures as data: questionnaire instruments (TOML files), their scoring and the
judgement of change against published thresholds.

Pure logic (no Qt, no storage): the CLI and the window ask the items (:func:`questions` gives
them in order, one per screen), :func:`check_answers` checks what the patient answered and
:func:`score_answers` scores it (:class:`Questionnaire` drives one sitting, forwards and back); the store keeps the answers and scores. See docs/outcomes.md.
"""

from biofeedback.outcomes.asking import Questionnaire, Screen
from biofeedback.outcomes.instrument import (
    Choice,
    Direction,
    Instrument,
    Item,
    Method,
    Missing,
    Response,
    Score,
    library_ids,
    list_instruments,
    load_instrument,
    load_instrument_file,
    parse_instrument,
    user_instrument_dir,
)
from biofeedback.outcomes.scoring import (
    Change,
    ScoreResult,
    check_answers,
    compare,
    item_text,
    judge_value,
    questions,
    score_answers,
)

__all__ = [
    "Change",
    "Choice",
    "Direction",
    "Instrument",
    "Item",
    "Method",
    "Missing",
    "Questionnaire",
    "Response",
    "Score",
    "ScoreResult",
    "Screen",
    "check_answers",
    "compare",
    "item_text",
    "judge_value",
    "library_ids",
    "list_instruments",
    "load_instrument",
    "load_instrument_file",
    "parse_instrument",
    "questions",
    "score_answers",
    "user_instrument_dir",
]
