"""Sane limits for what a user types, and the one validator every option goes through.

Command-line options and source-URL options share :func:`check_number`, so a NaN, an infinity
or an absurd value gets the same one-line answer (naming the option and the allowed range)
wherever it is typed.
"""

from __future__ import annotations

import math

from biofeedback.errors import BiofeedbackError, SourceURLError

#: Longest ``--duration`` accepted (a day; a session is minutes to hours).
MAX_DURATION_S = 24 * 3600.0
#: Longest per-port probe wait of ``biofeedback devices --timeout``.
MAX_PROBE_TIMEOUT_S = 60.0
#: Mains frequencies a notch is built for; 0 means none.
MAINS_HZ_CHOICES = (0.0, 50.0, 60.0)
#: Session ids are SQLite INTEGER primary keys: 1 .. 2**63 - 1.
MAX_SESSION_ID = 2**63 - 1


def _fmt(value: float) -> str:
    return f"{value:g}"


def _range_text(lo: float | None, hi: float | None, lo_open: bool) -> str:
    """``"number from 0 to 10"`` and the like, for the messages of :func:`check_number`."""
    if lo is not None and hi is not None:
        if lo_open:
            return f"number above {_fmt(lo)} and at most {_fmt(hi)}"
        return f"number from {_fmt(lo)} to {_fmt(hi)}"
    if lo is not None:
        return f"number {'above' if lo_open else 'at least'} {_fmt(lo)}"
    if hi is not None:
        return f"number at most {_fmt(hi)}"
    return "finite number"


def check_number(
    value: float,
    what: str,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    error: type[BiofeedbackError] = SourceURLError,
    hint: str = "",
    allowed: str = "",
) -> float:
    """``value`` as a finite float within ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``).

    ``what`` names the option in the message (``--duration``, ``sim://...: mains_hz``); ``hint``
    is appended to it (what to do); ``allowed`` replaces the wording of the range. Raises
    ``error`` (a user error: one line, exit 2).
    """
    number = float(value)
    low_bad = lo is not None and (number <= lo if lo_open else number < lo)
    if math.isfinite(number) and not low_bad and not (hi is not None and number > hi):
        return number
    allowed = allowed or _range_text(lo, hi, lo_open)
    if not math.isfinite(number):
        problem = "is not a finite number"
    elif lo is not None and hi is not None:
        problem = f"is out of range {'(' if lo_open else '['}{_fmt(lo)}, {_fmt(hi)}]"
    else:
        problem = "is out of range"
    message = f"{what}={_fmt(number)} {problem}: give a {allowed}"
    raise error(message + (f" ({hint})" if hint else ""))


def check_duration(value: float | None, what: str = "--duration") -> float | None:
    """A duration in seconds: finite, positive, at most :data:`MAX_DURATION_S` (None passes)."""
    if value is None:
        return None
    return check_number(
        value,
        what,
        0.0,
        MAX_DURATION_S,
        lo_open=True,
        allowed=f"positive number of seconds, at most {MAX_DURATION_S:g} (24 h)",
    )


def check_mains_hz(value: float, what: str = "mains_hz") -> float:
    """A mains frequency: 50, 60, or 0 for none."""
    number = float(value)
    if number not in MAINS_HZ_CHOICES:
        raise SourceURLError(
            f"{what} {_fmt(number)} is not a mains frequency: give 50 (Europe, Asia, Africa), "
            "60 (Americas) or 0 (none)"
        )
    return number


def parse_session_id(text: str | int, what: str = "session") -> int:
    """A session id from text: a whole number from 1 to :data:`MAX_SESSION_ID`."""
    raw = str(text).strip()
    if not (raw.isascii() and raw.isdigit()):
        raise SourceURLError(
            f"{what} {raw!r} is not a session id: give a number as listed by 'biofeedback sessions'"
        )
    digits = raw.lstrip("0") or "0"
    # 19 digits hold every id; int() of thousands of digits would itself fail
    if len(digits) > 19 or not 1 <= int(digits) <= MAX_SESSION_ID:
        shown = digits if len(digits) <= 24 else f"{digits[:20]}... ({len(digits)} digits)"
        raise SourceURLError(
            f"{what} {shown} is out of range: there is no session {shown} (ids run from 1 to "
            f"{MAX_SESSION_ID}; list them with 'biofeedback sessions')"
        )
    return int(digits)
