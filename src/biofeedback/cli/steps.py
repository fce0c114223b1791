"""Step phases on the command line: show an education page, ask a thought record or reflection.

``biofeedback record --protocol ...`` calls :func:`handle_step` whenever the runner waits for a
Continue. On a terminal the page is printed (wrapped, on stderr: stdout keeps the result) and the
answers are read line by line; with ``--json`` or when stdin is not a terminal nothing is asked
and the step is recorded as skipped, so a script never hangs on a page.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, TextIO

TYPE_CHECKING = False
if TYPE_CHECKING:
    from biofeedback.training.runner import RunnerEvent, SessionRunner

SKIP_WORD = "s"
log = logging.getLogger(__name__)


def discard_typed_ahead(stdin: TextIO) -> bool:
    """Throw away what was typed on the terminal before a step asks (keys pressed during the
    recording must not become its answers); True when pending input was flushed. Does nothing
    when stdin is not a terminal, or on a system without termios (Windows)."""
    try:
        import termios
    except ImportError:
        return False
    try:
        fd = stdin.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation: a StringIO
        return False
    if not os.isatty(fd):
        return False
    try:
        termios.tcflush(fd, termios.TCIFLUSH)
    except termios.error as exc:
        log.debug("could not discard typed-ahead input: %s", exc)
        return False
    return True


def ask_step(
    kind: str, step: dict[str, Any], instruction: str, stdin: TextIO, out: TextIO
) -> dict[str, Any] | None:
    """Show a step and read its answers; None when the user typed ``s`` to skip. Lines typed
    on the terminal before the step was shown are discarded first.

    Raises EOFError when the input ends (the caller records the step as skipped).
    """
    from biofeedback.training import steps

    discard_typed_ahead(stdin)
    out.write("\n")
    if kind == "education":
        out.write(steps.page_text(step.get("title", ""), step.get("text", "")) + "\n\n")
        out.write(f"Press Enter to continue ({SKIP_WORD} + Enter to skip): ")
        out.flush()
        line = _read(stdin)
        return None if line.strip().lower() == SKIP_WORD else {}
    out.write(f"{instruction}\n(Enter leaves a field empty; {SKIP_WORD} alone skips the step.)\n")
    answers: dict[str, Any] = {}
    for field in steps.fields_for(kind, step.get("prompt", "")):
        while True:
            hint = f" ({field.help})" if field.help else ""
            out.write(f"\n{field.label}{hint}\n> ")
            out.flush()
            line = _read(stdin).strip()
            if line.lower() == SKIP_WORD and not answers:
                return None
            if field.kind == "percent":
                try:
                    answers[field.key] = steps.parse_percent(line, field.label)
                except ValueError as exc:
                    out.write(f"{exc}\n")
                    continue
            else:
                answers[field.key] = line
            break
    out.write("Saved.\n")
    return answers


def _read(stdin: TextIO) -> str:
    line = stdin.readline()
    if not line:
        raise EOFError("input ended")
    return line.rstrip("\n")


def handle_step(
    runner: SessionRunner, interactive: bool, stdin: TextIO | None = None, out: TextIO | None = None
) -> list[RunnerEvent]:
    """If the runner waits for a Continue: ask (interactive) or skip; returns the runner's
    events for the session to apply ([] when no step is waiting)."""
    state = runner.state()
    if not state.awaiting_continue or state.step is None:
        return []
    index = state.phase_index
    if not interactive:
        return runner.continue_phase(skipped=True, phase_index=index)
    stdin = stdin or sys.stdin
    out = out or sys.stderr
    try:
        answers = ask_step(state.phase_kind, state.step, state.instruction, stdin, out)
    except EOFError:
        answers = None
    if answers is None:
        return runner.continue_phase(skipped=True, phase_index=index)
    events = runner.continue_phase(answers, phase_index=index)
    if not events:
        out.write("The time for this step ran out before you finished; it was not saved.\n")
    return events
