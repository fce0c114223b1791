"""``biofeedback bundle export|import|show`` end to end: a course recorded at home carried to the
clinic's data dir, bad input refused in one line with exit 2."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from biofeedback.cli import main

SIM = "sim://?scenario=learner&speed=max&seed=3"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own errors (exit 2, one line and a hint)
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def ok(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    return out


@pytest.fixture
def home(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> tuple[str, ...]:
    """A home data dir with a subject, a course, two recorded sessions and a questionnaire."""
    where = ("--data-dir", str(tmp_path / "home"))
    ok(capsys, *where, "subjects", "add", "P1", "--name", "Ann Example", "--notes", "neck")
    ok(capsys, *where, "course", "start", "--subject", "P1", "--sessions-per-week", "5",
       "--minutes", "12", "--protocol", "course-home-practice")  # fmt: skip
    ok(capsys, *where, "course", "station", "home")
    for _ in range(2):
        ok(capsys, *where, "record", "--source", SIM, "--duration", "3", "--subject", "P1")
    ok(capsys, *where, "outcomes", "record", "--subject", "P1", "--instrument", "pain-nrs",
       "--timepoint", "baseline", "--answers", "now=6", "average=7", "worst=9")  # fmt: skip
    return where


def test_export_show_import(capsys: pytest.CaptureFixture[str], home, tmp_path: Path) -> None:
    path = tmp_path / "P1.bfbundle"
    out = ok(capsys, *home, "bundle", "export", "--subject", "P1", "-o", str(path))
    assert out.startswith(f"Wrote {path} (P1: 2 session(s), 1 questionnaire(s), 1 course(s)")
    exported = json.loads(
        ok(capsys, *home, "bundle", "export", "--subject", "P1", "-o", str(path), "--json")
    )
    assert exported["counts"]["sessions"] == 2 and exported["path"] == str(path)
    shown = ok(capsys, "bundle", "show", str(path))
    assert shown.splitlines()[0].startswith("P1: 2 sessions, 1 questionnaire, course from")
    assert len(shown.splitlines()) == 3 and "home" in shown.splitlines()[1]
    info = json.loads(ok(capsys, "bundle", "show", str(path), "--json"))
    assert info["subject_id"] == "P1" and len(info["sessions"]) == 2

    clinic = ("--data-dir", str(tmp_path / "clinic"))
    dry = ok(capsys, *clinic, "bundle", "import", str(path), "--dry-run")
    assert dry.startswith("dry run, nothing changed: P1: 2 sessions added")
    assert json.loads(ok(capsys, *clinic, "sessions", "--json"))["sessions"] == []
    done = json.loads(ok(capsys, *clinic, "bundle", "import", str(path), "--json"))
    assert (done["sessions_added"], done["outcomes_added"], done["courses_added"]) == (2, 1, 1)
    assert done["text"].startswith("P1: 2 sessions added, 0 replaced, 0 already here")
    again = ok(capsys, *clinic, "bundle", "import", str(path))
    assert again == "P1: 0 sessions added, 0 replaced, 2 already here; 0 questionnaires added\n"
    course = ("course", "show", "--subject", "P1", "--json")
    here = json.loads(ok(capsys, *clinic, *course))
    there = json.loads(ok(capsys, *home, *course))
    assert [s["uid"] for s in here["sessions"]] == [s["uid"] for s in there["sessions"]]
    assert here["course"]["uid"] == there["course"]["uid"]
    assert here["adherence"]["this_week_text"] == there["adherence"]["this_week_text"]
    subject = json.loads(ok(capsys, *clinic, "subjects", "show", "P1", "--json"))
    assert subject["name"] is None and subject["notes"] == "neck"  # the name stayed home


def test_progress_on_a_terminal_only(
    capsys: pytest.CaptureFixture[str], home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path / "P1.bfbundle")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, _, err = run(capsys, *home, "bundle", "export", "--subject", "P1", "-o", path)
    assert code == 0 and "exporting P1: session 2 of 2" in err
    code, _, err = run(capsys, *home, "bundle", "export", "--subject", "P1", "-o", path, "--json")
    assert code == 0 and err == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["import", "{tmp}/missing.bfbundle"], "there is no bundle file"),
        (["import", "{tmp}/notes.txt"], "is not a biofeedback bundle"),
        (["show", "{tmp}/notes.txt"], "is not a biofeedback bundle"),
        (["export", "--subject", "P404", "-o", "{tmp}/x.bfbundle"], "there is no subject P404"),
        (["export", "--subject", "P1", "-o", "{home}/biofeedback.sqlite"], "refusing to write"),
        (["export", "--subject", "P1", "-o", "{tmp}/no/such/x.bfbundle"], "does not exist"),
        (["export", "-o", "{tmp}/x.bfbundle"], "--subject"),
        (["import"], "FILE"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], home, tmp_path: Path, argv: list[str], message: str
) -> None:
    (tmp_path / "notes.txt").write_text("not a bundle")
    where = {"tmp": str(tmp_path), "home": home[1]}
    code, out, err = run(capsys, *home, "bundle", *(a.format(**where) for a in argv))
    assert code == 2 and out == "" and message in err and "Traceback" not in err
    assert err.startswith("biofeedback: ") and err.count("\n") <= 2  # argparse adds a hint line


def test_a_file_name_that_is_not_utf8_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    name = os.fsdecode(os.fsencode(str(tmp_path)) + b"/\xff.bfbundle")
    code, _, err = run(capsys, "bundle", "import", name)
    assert code == 2 and "is not UTF-8 text" in err and err.count("\n") == 1


def test_a_conflict_is_reported_with_both_sessions(
    capsys: pytest.CaptureFixture[str], home, tmp_path: Path
) -> None:
    from biofeedback.storage.database import Database

    path, back = str(tmp_path / "P1.bfbundle"), str(tmp_path / "back.bfbundle")
    clinic = ("--data-dir", str(tmp_path / "clinic"))
    ok(capsys, *home, "bundle", "export", "--subject", "P1", "-o", path)
    ok(capsys, *clinic, "bundle", "import", path)
    with Database(tmp_path / "home" / "biofeedback.sqlite") as db:
        session = db.list_sessions("P1")[0]
        db.update_session(session.id, notes="at home")
    with Database(tmp_path / "clinic" / "biofeedback.sqlite") as db:
        db.update_session(db.session_id_for_uid(session.uid), notes="at the clinic")
    ok(capsys, *home, "bundle", "export", "--subject", "P1", "-o", back)
    lines = ok(capsys, *clinic, "bundle", "import", back).splitlines()
    assert lines[0].endswith(
        "1 already here, 1 changed on both sides (both copies kept); 0 questionnaires added"
    )
    assert len(lines) == 2 and f"({session.uid}) was changed here and there" in lines[1]
    assert "the bundle's copy is session 3; delete the one you do not want" in lines[1]
