"""``biofeedback sessions``: the protocol column fits the names it lists (course-6-relapse-
prevention whole), a name longer than the column ends in "...", and --json has it whole."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "storage"))
from storage_helpers import myoware_info

from biofeedback.cli import main
from biofeedback.cli.sessions import MAX_PROTOCOL_COLUMN
from biofeedback.storage.database import Database

LONG = "a-clinic-protocol-with-a-very-long-name-indeed"


def _store(path: Path, protocol: str) -> int:
    with Database(path) as db:
        sid = db.create_session("P001", protocol, myoware_info())
        db.finish_session(sid, "complete")
        return sid


def test_protocol_names_are_shown_whole_or_elided(
    capsys: pytest.CaptureFixture[str], _isolated_data_dir: Path
) -> None:
    store = _isolated_data_dir / "biofeedback.sqlite"
    _store(store, "course-6-relapse-prevention")
    _store(store, "course-1-assessment")
    assert main(["sessions"]) == 0
    out = capsys.readouterr().out
    assert " course-6-relapse-prevention " in out and " course-1-assessment " in out
    _store(store, LONG)
    assert main(["sessions"]) == 0
    lines = capsys.readouterr().out.splitlines()
    shown = LONG[: MAX_PROTOCOL_COLUMN - 3] + "..."
    assert any(f" {shown} " in line for line in lines) and LONG not in "\n".join(lines)
    # the columns after the protocol line up with the header
    at = lines[0].index("length") + len("length")
    assert all(line[at - 1] != " " for line in lines[1:4])
    assert main(["sessions", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["sessions"]
    assert [r["protocol"] for r in rows][-1] == LONG
