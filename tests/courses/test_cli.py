"""CLI end to end: subjects, a course with a prescription, sessions recorded into it (clinic and
home), adherence shown, and bad input refused in one line with exit 2."""

from __future__ import annotations

import datetime as dt
import json

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


def test_subjects_add_list_show_edit(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "subjects", "list")
    assert code == 0 and out.startswith("No subjects")
    assert "added subject P001" in ok(capsys, "subjects", "add", "P001", "--notes", "neck pain")
    ok(capsys, "subjects", "add", "P002", "--name", "Ann Example")
    listed = json.loads(ok(capsys, "subjects", "list", "--json"))["subjects"]
    assert [s["id"] for s in listed] == ["P001", "P002"] and listed[1]["name"] == "Ann Example"
    ok(capsys, "subjects", "edit", "P002", "--name", "", "--notes", "prefers mornings")
    shown = json.loads(ok(capsys, "subjects", "show", "P002", "--json"))
    assert shown["name"] is None and shown["notes"] == "prefers mornings"
    assert shown["courses"] == [] and shown["n_sessions"] == 0
    text = ok(capsys, "subjects", "show", "P001")
    assert "Subject P001" in text and "neck pain" in text and "no course" in text
    assert "weekly goal" not in text
    code, _, err = run(capsys, "subjects", "show", "P404")
    assert code == 2 and "no subject P404" in err


def test_a_course_with_clinic_and_home_sessions(capsys: pytest.CaptureFixture[str]) -> None:
    today = dt.date.today()
    monday = today - dt.timedelta(days=today.weekday())
    ok(capsys, "subjects", "add", "P1")
    out = ok(
        capsys, "course", "start", "--subject", "P1", "--start", monday.isoformat(),
        "--clinician", "Dr K", "--muscle", "upper trapezius", "--electrode-site", "C7 left",
        "--clinic-sessions", "6", "--sessions-per-week", "2", "--minutes", "1",
        "--protocol", "course-home-practice",
    )  # fmt: skip
    assert "started course" in out and "clinic sessions by default" in out
    record = ["record", "--source", SIM, "--duration", "65", "--subject", "P1", "--json"]
    # the station role: clinic; a clinic session is at least 5 minutes (a signal check is not)
    check = json.loads(ok(capsys, *record))["session_id"]
    clinic = json.loads(ok(capsys, *record[:4], "300", *record[5:]))["session_id"]
    home = json.loads(ok(capsys, *record, "--setting", "home"))["session_id"]
    assert "records home sessions" in ok(capsys, "course", "station", "home")
    home2 = json.loads(ok(capsys, *record))["session_id"]
    data = json.loads(ok(capsys, "course", "show", "--subject", "P1", "--json"))
    settings = {s["id"]: s["setting"] for s in data["sessions"]}
    assert settings == {check: "clinic", clinic: "clinic", home: "home", home2: "home"}
    assert all(len(s["uid"]) == 32 for s in data["sessions"])
    assert data["course"]["electrode_site"] == "C7 left" and data["clinic_sessions_done"] == 1
    assert data["course"]["prescriptions"][0]["protocols"] == ["course-home-practice"]
    week = data["adherence"]["weeks"][-1]
    assert (week["sessions_done"], week["clinic_sessions"], week["met"]) == (2, 1, True)
    assert data["adherence"]["this_week_text"] == "2 of 2 this week"
    text = ok(capsys, "course", "show", "--subject", "P1")
    assert "Home practice: 2 of 2 this week" in text and "1 of 6 planned" in text
    assert "upper trapezius" in text

    ok(capsys, "course", "edit", "--subject", "P1", "--sessions-per-week", "4", "--from",
       (monday + dt.timedelta(days=7)).isoformat())  # fmt: skip
    ok(capsys, "course", "edit", "--subject", "P1", "--notes", "flare-up in week 2")
    data = json.loads(ok(capsys, "course", "show", "--subject", "P1", "--json"))
    assert [p["sessions_per_week"] for p in data["course"]["prescriptions"]] == [2, 4]
    assert data["course"]["notes"] == "flare-up in week 2"
    assert data["adherence"]["weeks"][-1]["prescribed_sessions"] == 2  # this week: the old one

    ok(capsys, "course", "end", "--subject", "P1")
    outside = json.loads(ok(capsys, *record))["session_id"]
    sessions = json.loads(ok(capsys, "course", "show", "--subject", "P1", "--json"))["sessions"]
    assert outside not in {s["id"] for s in sessions}  # recorded after the course ended
    shown = json.loads(ok(capsys, "subjects", "show", "P1", "--json"))
    assert shown["courses"][0]["open"] is False and shown["n_home_sessions"] == 3


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["course", "start", "--subject", "NOPE", "--sessions-per-week", "3", "--minutes", "10"],
         "no subject NOPE"),
        (["course", "show", "--subject", "NOPE"], "no subject NOPE"),
        (["course", "show", "--subject", "P1"], "has no course"),
        (["course", "end", "--subject", "P1"], "no open course"),
        (["course", "start", "--subject", "P1", "--start", "05/11/2026",
          "--sessions-per-week", "3", "--minutes", "10"], "YYYY-MM-DD"),
        (["course", "start", "--subject", "P1", "--start", "2026-13-01",
          "--sessions-per-week", "3", "--minutes", "10"], "YYYY-MM-DD"),
        (["course", "start", "--subject", "P1", "--start", "1850-01-01",
          "--sessions-per-week", "3", "--minutes", "10"], "from 2000 to 2100"),
        (["course", "start", "--subject", "P1", "--sessions-per-week", "50", "--minutes", "10"],
         "from 0 to 21"),
        (["course", "start", "--subject", "P1", "--sessions-per-week", "3", "--minutes", "0"],
         "from 1 to 180"),
        (["course", "start", "--subject", "P1", "--sessions-per-week", "3", "--minutes", "600"],
         "from 1 to 180"),
        (["course", "start", "--subject", "P1", "--sessions-per-week", "3", "--minutes", "10",
          "--clinic-sessions", "1000"], "from 0 to 100"),
        (["course", "start", "--subject", "P1", "--sessions-per-week", "3", "--minutes", "10",
          "--start", "2026-03-10", "--until", "2026-03-01"], "ends before it starts"),
        (["course", "start", "--subject", "P1", "--sessions-per-week", "3", "--minutes", "10",
          "--protocol", "no-such-protocol"], "no-such-protocol"),
        (["course", "start", "--subject", "P1", "--minutes", "10"], "--sessions-per-week"),
        (["subjects", "add", "Jane Doe"], "not allowed"),
        (["subjects", "add", "P1"], "exists already"),
        (["subjects", "edit", "P9", "--notes", "x"], "no subject P9"),
        (["subjects", "edit", "P1"], "say what to change"),
        (["record", "--source", SIM, "--duration", "1", "--setting", "office"], "invalid choice"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    ok(capsys, "subjects", "add", "P1")
    code, out, err = run(capsys, *argv)
    assert code == 2, (out, err)
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2  # argparse adds its "(see: ... --help)" hint


def test_a_second_open_course_and_editing_an_ended_one(capsys: pytest.CaptureFixture[str]) -> None:
    ok(capsys, "subjects", "add", "P1")
    start = ["course", "start", "--subject", "P1", "--sessions-per-week", "3", "--minutes", "10"]
    ok(capsys, *start)
    code, _, err = run(capsys, *start)
    assert code == 2 and "has an open course" in err and len(err.splitlines()) == 1
    ok(capsys, "course", "end", "--subject", "P1")
    code, _, err = run(capsys, "course", "edit", "--subject", "P1", "--minutes", "5")
    assert code == 2 and "no open course" in err
    code, _, err = run(capsys, "course", "edit", "--subject", "P1", "--from", "2026-01-01")
    assert code == 2 and "say what to change" in err


def test_show_as_of_a_day(capsys: pytest.CaptureFixture[str]) -> None:
    ok(capsys, "subjects", "add", "P1")
    ok(capsys, "course", "start", "--subject", "P1", "--start", "2026-11-04",
       "--sessions-per-week", "7", "--minutes", "10", "--until", "2026-11-12")  # fmt: skip
    data = json.loads(ok(capsys, "course", "show", "--subject", "P1", "--as-of", "2026-11-18",
                         "--json"))  # fmt: skip
    weeks = data["adherence"]["weeks"]
    assert [w["iso_week"] for w in weeks] == ["2026-W45", "2026-W46", "2026-W47"]
    assert [w["prescribed_sessions"] for w in weeks] == [5, 4, 0]  # Wed-Sun, Mon-Thu, over
    assert data["adherence"]["this_week_text"] == "0 this week"
    text = ok(capsys, "course", "show", "--subject", "P1", "--as-of", "2026-11-18")
    assert "2026-W47" in text and "0/5" in text
    code, _, err = run(capsys, "course", "show", "--subject", "P1", "--as-of", "yesterday")
    assert code == 2 and "YYYY-MM-DD" in err
