"""The text of the markers biofeedback sends (LSL ``biofeedback-markers``, OSC ``/biofeedback/marker``).

One short line per marker, easy to read in an XDF file and easy to split by a script: a kind,
then ``: `` and the detail (docs/interop.md lists them):

- ``phase start: <phase name>``, ``phase end: <phase name>`` (``phase skipped: ...``),
- ``threshold: <uV> uV (<reason>)`` for every change of the target, from the protocol or the user
  (``threshold ch<k>: ...`` when one of several channels changed in the window),
- ``marker`` or ``marker: <note>`` for a marker the user set (key M in the window),
- ``prompt: <kind>`` (micro-break, tense, release, contract), ``paused``, ``resumed``,
  ``session end`` (``session end: aborted (<reason>)``).
"""

from __future__ import annotations

from biofeedback.training.runner import EventType, RunnerEvent


def threshold_text(new_uv: float, reason: str = "", channel: int | None = None) -> str:
    """``threshold: 4.20 uV (shaping)``; ``threshold ch1: ...`` for one channel of several."""
    where = "" if channel is None else f" ch{channel}"
    why = f" ({reason})" if reason else ""
    return f"threshold{where}: {new_uv:.2f} uV{why}"


def user_marker_text(note: str = "") -> str:
    """``marker`` or ``marker: <note>`` (a note on one line)."""
    note = " ".join(note.split())
    return f"marker: {note}" if note else "marker"


def event_marker(event: RunnerEvent) -> str | None:
    """The marker text of a session event, or None for events that are not sent as markers
    (calibration values, warnings: they are in the stored session)."""
    data = event.data
    kind = event.type
    if kind == EventType.PHASE_STARTED:
        return f"phase start: {data.get('name', '')}"
    if kind == EventType.PHASE_ENDED:
        word = "phase skipped" if data.get("skipped") else "phase end"
        return f"{word}: {data.get('name', '')}"
    if kind == EventType.THRESHOLD_CHANGED:
        new_uv = data.get("new_uv")
        if not isinstance(new_uv, int | float):
            return None
        return threshold_text(float(new_uv), str(data.get("source") or data.get("reason") or ""))
    if kind == EventType.PROMPT:
        return f"prompt: {data.get('prompt', '')}"
    if kind == EventType.PAUSED:
        return "paused"
    if kind == EventType.RESUMED:
        return "resumed"
    if kind == EventType.SESSION_ENDED:
        if data.get("aborted"):
            return f"session end: aborted ({data.get('reason', '')})"
        return "session end"
    return None
