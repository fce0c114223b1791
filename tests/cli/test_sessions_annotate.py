"""``biofeedback sessions annotate ID [--notes TEXT] [--pain-after N | --clear-pain-after]``
and :func:`biofeedback.storage.annotations.annotate_session`: the change is stored with a higher
revision (bundles and sync see it); bad input is one line and exit 2, nothing written."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "storage"))
from storage_helpers import myoware_info

from biofeedback.cli import main
from biofeedback.errors import StorageError
from biofeedback.storage.annotations import NOTES_MAX_CHARS, annotate_session
from biofeedback.storage.database import Database


def _session(finish: bool = True) -> int:
    with Database() as db:
        sid = db.create_session("P001", "relax", myoware_info(), pain_before=4, notes="first")
        if finish:
            db.finish_session(sid, "complete")
        return sid


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_notes_and_pain_after_are_stored_with_a_higher_revision(capsys) -> None:
    sid = _session()
    with Database() as db:
        before = db.get_session(sid)
    code, out, err = _run(
        capsys, "sessions", "annotate", str(sid), "--notes", "Calm.\nNeck better.",
        "--pain-after", "2.5",
    )  # fmt: skip
    assert (code, err) == (0, "")
    with Database() as db:
        after = db.get_session(sid)
    assert after.notes == "Calm.\nNeck better." and after.pain_after == 2.5
    assert after.pain_before == 4  # untouched
    assert after.revision > before.revision and after.updated_at >= before.updated_at
    assert (
        out == f"Session {sid}: notes 18 characters, pain after 2.5 (revision {after.revision}).\n"
    )
    code, out, _ = _run(capsys, "sessions", "annotate", str(sid), "--clear-pain-after")
    with Database() as db:
        cleared = db.get_session(sid)
    assert code == 0 and "pain after not asked" in out
    assert cleared.pain_after is None and cleared.notes == "Calm.\nNeck better."
    assert cleared.revision == after.revision + 1


def test_the_same_values_write_nothing(capsys) -> None:
    sid = _session()
    with Database() as db:
        revision = db.get_session(sid).revision
        record = annotate_session(db, sid, notes="first  ")  # stored without trailing blanks
    assert record.revision == revision and record.notes == "first"


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--pain-after", "11"], "pain after 11: give a number from 0 to 10"),
        (["--pain-after", "nan"], "pain after nan: give a number from 0 to 10"),
        (["--pain-after", "-1"], "pain after -1: give a number from 0 to 10"),
        (["--pain-after", "lots"], "pain after 'lots': give a number from 0 to 10"),
        (["--notes", "x" * (NOTES_MAX_CHARS + 1)], f"at most {NOTES_MAX_CHARS}; shorten them"),
        (["--notes", "bell\x07"], "control character (U+0007)"),
        (["--notes", "a\udcffb"], "not UTF-8"),
        ([], "nothing to change: give --notes TEXT, --pain-after N or --clear-pain-after"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv: list[str], says: str) -> None:
    sid = _session()
    with Database() as db:
        before = db.get_session(sid)
    code, out, err = _run(capsys, "sessions", "annotate", str(sid), *argv)
    assert code == 2 and out == "" and err.count("\n") == 1 and says in err, err
    with Database() as db:
        after = db.get_session(sid)
    assert (after.notes, after.pain_after, after.revision) == ("first", None, before.revision)


def test_missing_or_recording_session_is_refused(capsys) -> None:
    sid = _session()
    code, _, err = _run(capsys, "sessions", "annotate", str(sid + 5), "--notes", "x")
    assert code == 2 and err.count("\n") == 1 and f"there is no session {sid + 5}" in err
    live = _session(finish=False)
    with Database() as db, db.transaction() as conn:  # its recorder is alive (this process)
        conn.execute(
            "UPDATE sessions SET writer_pid = ?, heartbeat_at = ? WHERE id = ?",
            (os.getpid(), time.time(), live),
        )
    code, _, err = _run(capsys, "sessions", "annotate", str(live), "--pain-after", "3")
    assert code == 2 and err == (
        f"biofeedback: session {live} is still being recorded: add its notes after it ends\n"
    )
    with Database() as db, pytest.raises(StorageError, match="still being recorded"):
        annotate_session(db, live, notes="x")
