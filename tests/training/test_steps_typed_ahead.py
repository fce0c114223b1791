"""Lines typed on a terminal during the recording are not taken as a step's answers: the step
discards pending terminal input before it asks (tested on a pseudo-terminal)."""

from __future__ import annotations

import io
import os
import select
import sys
from collections.abc import Iterator
from typing import TextIO

import pytest

from biofeedback.cli.steps import ask_step, discard_typed_ahead

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX terminal")


@pytest.fixture
def terminal() -> Iterator[tuple[int, TextIO]]:
    """(the keyboard's end of a pseudo-terminal, the program's stdin on it)."""
    master, slave = os.openpty()
    stdin = open(slave, encoding="utf-8", closefd=True)  # noqa: SIM115  # closed below
    yield master, stdin
    stdin.close()
    os.close(master)


def type_ahead(master: int, slave: TextIO, text: str) -> None:
    """Type ``text`` and wait (up to 5 s) until the terminal holds a line to read."""
    os.write(master, text.encode())
    readable, _, _ = select.select([slave.fileno()], [], [], 5.0)
    assert readable, "the typed line never reached the terminal"


class AnswerWhenAsked(io.StringIO):
    """The screen: when a prompt is flushed, the user types the next answer."""

    def __init__(self, master: int, answers: list[str]) -> None:
        super().__init__()
        self.master, self.answers = master, answers

    def flush(self) -> None:
        if self.answers:
            os.write(self.master, (self.answers.pop(0) + "\n").encode())


def test_a_line_typed_during_the_recording_does_not_continue_the_page(
    terminal: tuple[int, TextIO],
) -> None:
    master, stdin = terminal
    type_ahead(master, stdin, "relax relax\n")
    # without the flush the typed line would continue the page ({}); the answer given after
    # the prompt is "s": skipped
    page = {"title": "T", "text": "Body"}
    assert ask_step("education", page, "", stdin, AnswerWhenAsked(master, ["s"])) is None


def test_the_thought_record_gets_only_what_is_typed_after_it_asks(
    terminal: tuple[int, TextIO],
) -> None:
    master, stdin = terminal
    type_ahead(master, stdin, "oops\n")
    typed = ["At my desk", "It will get worse", "80", "It did before", "It eased", "Calm", "40"]
    answers = ask_step("thought-record", {}, "Write it down", stdin, AnswerWhenAsked(master, typed))
    assert answers is not None and answers["situation"] == "At my desk"
    assert answers["belief_before"] == 80.0 and answers["belief_after"] == 40.0


def test_nothing_is_discarded_from_a_pipe_or_a_string() -> None:
    assert not discard_typed_ahead(io.StringIO("kept\n"))
    read, write = os.pipe()
    with open(read, encoding="utf-8") as pipe:
        os.close(write)
        assert not discard_typed_ahead(pipe)


def test_without_termios_nothing_is_flushed(
    terminal: tuple[int, TextIO], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "termios", None)  # as on Windows: the import fails
    assert not discard_typed_ahead(terminal[1])
