"""Project-wide test fixtures: every test gets its own data directory; ``wait_for`` waits for a
condition with a deadline (never sleep a fixed time and then assert)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

#: Lab Streaming Layer stays on loopback in tests (liblsl reads LSLAPICFG once, when first used).
os.environ["LSLAPICFG"] = str(Path(__file__).parent / "data" / "lsl_localhost.cfg")

#: tests/stress holds a script that runs the suite under load, not tests.
collect_ignore = ["stress"]

#: Poll interval of :func:`wait_until`.
POLL_S = 0.01


def wait_until(
    predicate: Callable[[], object], timeout: float = 10.0, what: str | Callable[[], str] = ""
) -> None:
    """Return as soon as ``predicate()`` is true; fail the test after ``timeout`` seconds.

    The deadline is generous on purpose (a loaded machine is slow, a correct one returns at
    once); ``what`` (text, or a function giving it) says what never happened.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            if predicate():  # the last chance, after the deadline
                return
            text = what() if callable(what) else what
            pytest.fail(f"not within {timeout:g} s: {text or predicate}")
        time.sleep(POLL_S)


@pytest.fixture
def wait_for() -> Callable[..., None]:
    """:func:`wait_until` as a fixture: ``wait_for(lambda: chunks, 10, "no chunk")``."""
    return wait_until


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Point BIOFEEDBACK_HOME at a fresh temp dir so no test touches the user's real data."""
    home = tmp_path_factory.mktemp("biofeedback-home")
    monkeypatch.setenv("BIOFEEDBACK_HOME", str(home))
    return home
