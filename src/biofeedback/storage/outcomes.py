"""Outcome measures in the session store: one row per completed questionnaire.

A row keeps who answered (the subject), what (the instrument's id, version and the SHA-256 of
its file, so a score can always be traced to the exact wording and rules), when, at which point
of the course (baseline, session N, end, follow-up or a free label), the raw answers and the
computed scores (JSON), and optionally the session it belongs to. ``uid`` is a random stable id
so that a copy moved to another data dir is recognised. Scoring itself is
:mod:`biofeedback.outcomes`; this module stores (:func:`record_answers` checks and scores with
it first, for the CLI and the window alike). See docs/outcomes.md and docs/storage.md.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from biofeedback.core.limits import MAX_SESSION_ID
from biofeedback.errors import AnswerError, StorageError
from biofeedback.outcomes.instrument import Instrument
from biofeedback.outcomes.scoring import Answer, check_answers, score_answers, unscored_reason
from biofeedback.storage.database import Database

#: Longest timepoint label.
MAX_TIMEPOINT_CHARS = 40
#: Largest answers or scores JSON kept for one questionnaire.
MAX_JSON_BYTES = 64 * 1024


@dataclass(frozen=True)
class OutcomeRecord:
    id: int
    uid: str
    subject_id: str
    instrument: str
    instrument_version: str
    instrument_sha256: str
    taken_at: float
    timepoint: str
    session_id: int | None
    answers: dict[str, Any]
    scores: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "uid": self.uid,
            "subject_id": self.subject_id,
            "instrument": self.instrument,
            "instrument_version": self.instrument_version,
            "instrument_sha256": self.instrument_sha256,
            "taken_at": self.taken_at,
            "timepoint": self.timepoint,
            "session_id": self.session_id,
            "answers": self.answers,
            "scores": self.scores,
        }


def _json(value: Mapping[str, Any], what: str) -> str:
    text = json.dumps(dict(value), ensure_ascii=False, allow_nan=False)
    if len(text.encode("utf-8")) > MAX_JSON_BYTES:
        raise StorageError(f"the {what} are larger than {MAX_JSON_BYTES // 1024} KiB")
    return text


def _in_id_range(number: int) -> bool:
    """Whether ``number`` can be a row id at all (SQLite INTEGER keys run from 1 to 2**63 - 1)."""
    return 1 <= number <= MAX_SESSION_ID


def add_outcome(
    db: Database,
    subject_id: str,
    instrument: str,
    version: str,
    sha256: str,
    answers: Mapping[str, Any],
    scores: Mapping[str, Any],
    *,
    timepoint: str = "",
    taken_at: float | None = None,
    session_id: int | None = None,
    uid: str | None = None,
) -> int:
    """Store one completed questionnaire; returns its row id. The subject is created if new."""
    subject_id = db.ensure_subject(subject_id)
    timepoint = timepoint.strip()
    if len(timepoint) > MAX_TIMEPOINT_CHARS:
        raise StorageError(f"timepoint {timepoint[:20]!r}...: at most {MAX_TIMEPOINT_CHARS} chars")
    when = time.time() if taken_at is None else float(taken_at)
    if not math.isfinite(when):
        raise StorageError("the time the questionnaire was taken is not a finite number")
    row = (
        uid or uuid.uuid4().hex,
        subject_id,
        instrument,
        version,
        sha256,
        when,
        timepoint,
        session_id,
        _json(answers, "answers"),
        _json(scores, "scores"),
        time.time(),
    )
    if session_id is not None and not _in_id_range(session_id):
        raise StorageError(f"there is no session {session_id}: see biofeedback sessions")
    with db.transaction() as conn:
        if (
            session_id is not None
            and not conn.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone()
        ):
            raise StorageError(f"there is no session {session_id}: see biofeedback sessions")
        cur = conn.execute(
            "INSERT INTO outcomes (uid, subject_id, instrument, instrument_version, "
            "instrument_sha256, taken_at, timepoint, session_id, answers_json, scores_json, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            row,
        )
        return int(cur.lastrowid or 0)


def record_answers(
    db: Database,
    subject_id: str,
    instrument: Instrument,
    given: Mapping[str, object],
    *,
    timepoint: str = "",
    session_id: int | None = None,
    taken_at: float | None = None,
    require_scores: bool = False,
) -> tuple[int, dict[str, Answer], dict[str, Any]]:
    """Check a questionnaire's answers, score them and store both with the instrument's id,
    version and SHA-256 (``outcomes record`` and the window alike): (row id, answers, scores).
    With ``require_scores`` a questionnaire some score of which cannot be computed (too many
    items missing) is refused; without, it is stored with those scores "not scored" (and does
    not count as answered for the course's schedule unless some score was computed).
    Raises AnswerError for answers off the instrument, StorageError when it cannot be stored."""
    answers = check_answers(instrument, given)
    reason = unscored_reason(instrument, answers) if require_scores else None
    if reason is not None:
        raise AnswerError(f"{instrument.id}: not stored: {reason}")
    scores = {s.id: s.to_dict() for s in score_answers(instrument, answers)}
    record_id = add_outcome(
        db,
        subject_id,
        instrument.id,
        instrument.version,
        instrument.sha256,
        answers,
        scores,
        timepoint=timepoint,
        session_id=session_id,
        taken_at=taken_at,
    )
    return record_id, answers, scores


def list_outcomes(
    db: Database, subject_id: str, instrument: str | None = None
) -> list[OutcomeRecord]:
    """A subject's questionnaires, oldest first (only one instrument's when given)."""
    sql = "SELECT * FROM outcomes WHERE subject_id = ?"
    params: list[Any] = [subject_id]
    if instrument is not None:
        sql += " AND instrument = ?"
        params.append(instrument)
    rows = db._query(sql + " ORDER BY taken_at, id", params)
    return [
        OutcomeRecord(
            id=row["id"],
            uid=row["uid"],
            subject_id=row["subject_id"],
            instrument=row["instrument"],
            instrument_version=row["instrument_version"],
            instrument_sha256=row["instrument_sha256"],
            taken_at=row["taken_at"],
            timepoint=row["timepoint"],
            session_id=row["session_id"],
            answers=json.loads(row["answers_json"]),
            scores=json.loads(row["scores_json"]),
        )
        for row in rows
    ]


def delete_outcome(db: Database, outcome_id: int) -> None:
    """Remove one questionnaire (entered by mistake). Raises StorageError when there is none."""
    if not _in_id_range(outcome_id):
        raise StorageError(f"no outcome record {outcome_id}: see biofeedback outcomes show")
    with db.transaction() as conn:
        cur = conn.execute("DELETE FROM outcomes WHERE id = ?", (outcome_id,))
        if cur.rowcount == 0:
            raise StorageError(f"no outcome record {outcome_id}: see biofeedback outcomes show")
