"""A whole simulated course, headless, through the command line (issue 12's acceptance test).

The clinic's data dir: a subject, a course from the six-session template with its home-practice
prescription, the baseline questionnaires it asks, six clinic sessions from the template's
protocols (simulated MyoWare, ``learner`` scenario, speed=max) with the pain rating each one asks.
The course goes to the patient's laptop as a bundle; three home sessions are recorded there; the
patient's bundle comes back to the clinic (imported twice: nothing is added the second time).
Then the end questionnaires, the end of the course, and the course report, whose PDF text is
checked against the stored values.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from biofeedback import cli
from biofeedback.outcomes.instrument import load_instrument
from biofeedback.outcomes.results import Measurement, change_table
from biofeedback.storage.courses import adherence, current_course
from biofeedback.storage.database import Database
from biofeedback.storage.outcomes import list_outcomes

SUBJECT = "P001"
NAME = "Ann Example"  # stays in the clinic's data dir: never in a bundle or a report
TEMPLATE = "six-session-back-neck"
SIM = "sim://?scenario=learner&seed={seed}&board=12bit&speed=max"
#: answers per instrument at the baseline and at the end (the end is better: a course that helps)
BASELINE = {
    "pain-nrs": ["now=6", "average=7", "worst=9"],
    "psfs": [
        "activity1=sitting at my desk", "rating1=3", "activity2=driving", "rating2=4",
        "activity3=lifting my grandchild", "rating3=2",
    ],
    "pain-interference": ["activity=7", "sleep=6", "mood=6"],
}  # fmt: skip
END = {
    "pain-nrs": ["now=2", "average=3", "worst=6"],
    "psfs": [
        "activity1=sitting at my desk",
        "rating1=7",
        "activity2=driving",
        "rating2=8",
        "activity3=lifting my grandchild",
        "rating3=6",
    ],
    "pain-interference": ["activity=3", "sleep=2", "mood=3"],
    "pgic": ["change=much better"],
}

pytestmark = pytest.mark.skipif(
    not (shutil.which("pdftotext")), reason="poppler-utils (pdftotext) not installed"
)


def run(data_dir: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> str:
    """One command on ``data_dir``; its stdout (it must succeed)."""
    capsys.readouterr()
    code = cli.main(["--data-dir", str(data_dir), *args])
    out, err = capsys.readouterr()
    assert code == 0, f"biofeedback {' '.join(args)} -> {code}: {err}"
    return out


def due(data_dir: Path, moment: str, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    out = run(
        data_dir, "outcomes", "due", "--subject", SUBJECT, "--at", moment, "--json", capsys=capsys
    )
    return list(json.loads(out)["due"])


def answer_due(
    data_dir: Path,
    moment: str,
    answers: dict[str, list[str]],
    capsys: pytest.CaptureFixture[str],
) -> list[tuple[str, str]]:
    """Answer every questionnaire the course asks now; the (instrument, timepoint) answered."""
    asked = []
    for item in due(data_dir, moment, capsys):
        instrument, timepoint = item["instrument"], item["timepoint"]
        run(
            data_dir, "outcomes", "record", "--subject", SUBJECT, "--instrument", instrument,
            "--timepoint", timepoint, "--answers", *answers[instrument], capsys=capsys,
        )  # fmt: skip
        asked.append((instrument, timepoint))
    return asked


def record(
    data_dir: Path, protocol: str, seed: int, setting: str, capsys: pytest.CaptureFixture[str]
) -> dict[str, Any]:
    out = run(
        data_dir, "record", "--subject", SUBJECT, "--protocol", protocol,
        "--source", SIM.format(seed=seed), "--setting", setting, "--json", capsys=capsys,
    )  # fmt: skip
    result = json.loads(out.strip().splitlines()[-1])
    assert result["status"] == "complete", result
    return result


def template_protocols(capsys: pytest.CaptureFixture[str]) -> tuple[list[str], str]:
    capsys.readouterr()
    assert cli.main(["protocols", "courses", TEMPLATE, "--json"]) == 0
    template = json.loads(capsys.readouterr().out)
    return [s["protocol"] for s in template["sessions"]], template["home_practice"]["protocol"]


def test_a_whole_course_clinic_home_and_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clinic, home = tmp_path / "clinic", tmp_path / "laptop"
    sessions, home_protocol = template_protocols(capsys)
    run(clinic, "subjects", "add", SUBJECT, "--name", NAME, "--notes", "neck pain", capsys=capsys)
    run(
        clinic, "course", "start", "--subject", SUBJECT, "--template", TEMPLATE,
        "--clinician", "Dr K", "--muscle", "upper trapezius",
        "--electrode-site", "C7 left, 2 cm lateral", capsys=capsys,
    )  # fmt: skip

    # the clinic sessions, each with the questionnaires the schedule asks before and after it
    asked: list[tuple[str, str]] = []
    for number, protocol in enumerate(sessions, start=1):
        answers = {**BASELINE, "pain-nrs": BASELINE["pain-nrs"] if number == 1 else
                   [f"now={6 - number // 2}", f"average={7 - number // 2}", "worst=8"]}  # fmt: skip
        asked += answer_due(clinic, "session-start", answers, capsys)
        record(clinic, protocol, seed=number, setting="clinic", capsys=capsys)
        asked += answer_due(clinic, "session-end", END, capsys)
        if number == 2:  # the course goes home after the second session
            run(clinic, "bundle", "export", "--subject", SUBJECT, "-o", str(tmp_path / "to-home.bfbundle"), capsys=capsys)  # fmt: skip
    assert asked[:3] == [(i, "baseline") for i in ("pain-nrs", "psfs", "pain-interference")]
    assert [t for i, t in asked if i == "pain-nrs"] == [
        "baseline",
        "session 2",
        "session 3",
        "session 4",
        "session 5",
        "session 6",
        "end",
    ]
    assert {i for i, t in asked if t == "end"} == set(END)

    # home practice on the patient's laptop: the course arrives as a bundle
    run(home, "bundle", "import", str(tmp_path / "to-home.bfbundle"), capsys=capsys)
    run(home, "course", "station", "home", capsys=capsys)
    for seed in (11, 12, 13):
        record(home, home_protocol, seed=seed, setting="home", capsys=capsys)
    back = tmp_path / "from-home.bfbundle"
    run(home, "bundle", "export", "--subject", SUBJECT, "-o", str(back), capsys=capsys)

    first = json.loads(run(clinic, "bundle", "import", str(back), "--json", capsys=capsys))
    again = json.loads(run(clinic, "bundle", "import", str(back), "--json", capsys=capsys))
    check_imports(first, again)
    run(clinic, "course", "end", "--subject", SUBJECT, capsys=capsys)

    with Database(clinic / "biofeedback.sqlite") as db:
        stored = stored_course(db)
    assert stored["clinic"] == 6 and stored["home"] == 3
    report = tmp_path / "course.pdf"
    run(clinic, "course", "report", "--subject", SUBJECT, "-o", str(report), capsys=capsys)
    check_report_text(report, stored)


def check_imports(first: dict[str, Any], again: dict[str, Any]) -> None:
    """The first import adds the three home sessions; the second adds and replaces nothing."""
    assert (first["sessions_added"], first["sessions_already"]) == (3, 2), first["text"]
    assert first["conflicts"] == [] and first["sessions_replaced"] == 0
    assert again["sessions_added"] == again["sessions_replaced"] == 0, again["text"]
    assert again["sessions_already"] == 5 and again["outcomes_added"] == 0
    assert again["courses_added"] == again["prescriptions_added"] == 0


def stored_course(db: Database) -> dict[str, Any]:
    """What the clinic's store holds about the course, as the report must show it."""
    course = current_course(db, SUBJECT)
    records = [r for r in db.list_sessions(SUBJECT) if r.course_id == course.id]
    table = change_table(
        load_instrument("pain-nrs"),
        [
            Measurement(o.taken_at, o.timepoint, o.scores, o.id)
            for o in list_outcomes(db, SUBJECT)
            if o.instrument == "pain-nrs"
        ],
    )
    return {
        "clinic": sum(r.setting == "clinic" for r in records),
        "home": sum(r.setting == "home" for r in records),
        "pain_rows": table,
        "adherence": adherence(db, course),
        "course": course,
    }


def pdf_text(path: Path) -> str:
    done = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    )
    return " ".join(done.stdout.split())


def check_report_text(path: Path, stored: dict[str, Any]) -> None:
    """The PDF says what the store holds: the course, the sessions, the pain change, adherence."""
    text = pdf_text(path)
    assert SUBJECT in text and "Dr K" in text and "C7 left, 2 cm lateral" in text
    assert NAME not in text and "Ann" not in text  # never a name
    assert "Sessions 9: 6 clinic of 6 planned, 3 home, 0 interrupted" in text
    end_row = stored["pain_rows"][-1]
    average = end_row.cells["average"]
    assert end_row.measurement.timepoint == "end" and average["value"] == 3
    assert average["change"]["change"] == -4
    assert "-4 (57 % better) yes, better" in text  # average pain 7 -> 3 passes the MCID
    assert "-1 (14 % better) no" in text  # session 2: 7 -> 6 does not
    week = stored["adherence"].weeks[-1]
    assert f"{week.sessions_done} of {week.prescribed_sessions}" in text
    assert "Thought records: not included" in text
    assert "not scored" not in text  # every questionnaire was answered enough to score
