"""A stored session's notes and pain-after rating, changed after the session (History's
"Notes and pain…" and ``biofeedback sessions annotate``).

The change is one ``UPDATE`` of the session's row through :meth:`Database.update_session`; the
store's revision trigger bumps the session's ``revision`` and ``updated_at``, so bundles and the
clinic sync carry the new text as the newer copy. Nothing is written when nothing changes. A
session still being recorded is refused (its recorder writes the pain-after rating when it ends).
"""

from __future__ import annotations

import enum
import math
import unicodedata

from biofeedback.errors import StorageError
from biofeedback.storage.database import Database, SessionRecord

#: The longest session note, in characters (about two pages of text).
NOTES_MAX_CHARS = 4000
#: Characters a note may hold besides printable text.
_ALLOWED_CONTROLS = "\n\t"


class Keep(enum.Enum):
    """Leave a detail as it is stored."""

    KEEP = "keep"


KEEP = Keep.KEEP


def check_notes(notes: str) -> str:
    """``notes`` as stored (trailing blanks removed), or StorageError saying what to fix: longer
    than :data:`NOTES_MAX_CHARS`, not UTF-8 text, or holding control characters."""
    try:
        notes.encode("utf-8")
    except UnicodeEncodeError:
        raise StorageError(
            "the notes are not UTF-8 text: write them again in a UTF-8 terminal or editor"
        ) from None
    text = notes.replace("\r\n", "\n").rstrip()
    if len(text) > NOTES_MAX_CHARS:
        raise StorageError(
            f"the notes are {len(text)} characters: at most {NOTES_MAX_CHARS}; shorten them"
        )
    bad = [c for c in text if unicodedata.category(c) == "Cc" and c not in _ALLOWED_CONTROLS]
    if bad:
        raise StorageError(
            f"the notes hold a control character (U+{ord(bad[0]):04X}): "
            "use plain text, line breaks and tabs"
        )
    return text


def check_pain(value: float | str | None) -> float | None:
    """A pain rating from 0 to 10 (a number or its text; None: not asked), or StorageError."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise StorageError(f"pain after {value!r}: give a number from 0 to 10") from None
    if not math.isfinite(number) or not 0 <= number <= 10:
        raise StorageError(f"pain after {value}: give a number from 0 to 10")
    return number


def annotate_session(
    db: Database,
    session_id: int,
    notes: str | Keep = KEEP,
    pain_after: float | Keep | None = KEEP,
) -> SessionRecord:
    """Store new ``notes`` and/or ``pain_after`` (None: not asked) of a session; the session as
    stored afterwards. StorageError (one line) for a missing or still-recording session or a
    bad value; nothing is written then."""
    record = db.get_session(session_id)
    if record.status == "recording":
        db.recover_interrupted()  # a writer that is gone no longer holds its session
        record = db.get_session(record.id)
    if record.status == "recording":
        raise StorageError(
            f"session {record.id} is still being recorded: add its notes after it ends"
        )
    changes: dict[str, object] = {}
    if not isinstance(notes, Keep):
        text = check_notes(notes)
        if text != record.notes:
            changes["notes"] = text
    if not isinstance(pain_after, Keep):
        rating = check_pain(pain_after)
        if rating != record.pain_after:
            changes["pain_after"] = rating
    if changes:
        db.update_session(record.id, **changes)
    return db.get_session(record.id)
