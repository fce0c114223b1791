"""Step phases on the command line: pages printed and answers read from piped input,
``protocols show`` / ``protocols courses``, and ``record`` skipping the steps without a terminal."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

import biofeedback.cli as cli
from biofeedback.cli.steps import ask_step, handle_step
from biofeedback.storage.database import Database
from biofeedback.training import SessionRunner, parse_protocol

SIM = "sim://?scenario=relax&seed=3&speed=max"
STEPS = """name = "steps"
[threshold]
target = "3 uV"
[[phases]]
kind = "baseline"
duration = "5 s"
[[phases]]
kind = "education"
page = "tension-pain-cycle"
[[phases]]
kind = "thought-record"
[[phases]]
kind = "reflection"
prompt = "What helped?"
[[phases]]
kind = "train"
duration = "5 s"
"""


def runner_at_first_step() -> SessionRunner:
    runner = SessionRunner(parse_protocol(STEPS, "steps.toml"), 100.0, coalesce_s=0)
    runner.tick(0, np.full(600, 2.0))
    assert runner.state().awaiting_continue
    return runner


def test_piped_answers_fill_the_thought_record_and_reflection():
    runner = runner_at_first_step()
    out = io.StringIO()
    assert handle_step(runner, True, io.StringIO("\n"), out)  # the page: Enter
    assert "The tension-pain cycle" in out.getvalue() and "**" not in out.getvalue()
    answers = "At my desk\nIt will get worse\n150\n80\nIt did before\nIt eased last time\n"
    answers += "Tension comes and goes\n40 %\n"
    out = io.StringIO()
    handle_step(runner, True, io.StringIO(answers), out)
    assert "give a number from 0 to 100 (got 150)" in out.getvalue()  # asked again
    handle_step(runner, True, io.StringIO("Slow breathing out\n"), io.StringIO())
    responses = runner.summary().responses
    assert [r["status"] for r in responses] == ["continued", "answered", "answered"]
    record = responses[1]["answers"]
    assert record["situation"] == "At my desk" and record["belief_before"] == 80.0
    assert record["balanced"] == "Tension comes and goes" and record["belief_after"] == 40.0
    assert responses[2]["answers"] == {"reflection": "Slow breathing out"}
    assert handle_step(runner, True, io.StringIO("")) == []  # a training phase: nothing asked


def test_skip_word_end_of_input_and_non_interactive():
    runner = runner_at_first_step()
    handle_step(runner, True, io.StringIO("s\n"), io.StringIO())  # page skipped
    handle_step(runner, True, io.StringIO("At work\n"), io.StringIO())  # input ends mid-form
    handle_step(runner, False)  # no terminal: skipped without asking
    assert [r["status"] for r in runner.summary().responses] == ["skipped"] * 3


def test_ask_step_reads_one_line_per_field():
    out = io.StringIO()
    got = ask_step("reflection", {"prompt": "Why?"}, "Look back.", io.StringIO("Because\n"), out)
    assert got == {"reflection": "Because"} and "Why?" in out.getvalue()


@pytest.fixture
def only(monkeypatch: pytest.MonkeyPatch):
    def set_commands(*names: str) -> None:
        monkeypatch.setattr(cli, "COMMAND_MODULES", list(names))

    return set_commands


def test_protocols_show_and_courses(only, capsys: pytest.CaptureFixture[str]) -> None:
    only("protocols")
    assert cli.main(["protocols", "show", "course-6-relapse-prevention"]) == 0
    out = capsys.readouterr().out
    assert "thought-record" in out and "waits for Continue (no time limit); not scored" in out
    assert "page flare-up-plan: Your flare-up plan" in out
    assert cli.main(["protocols", "courses"]) == 0
    assert "six-session-back-neck" in capsys.readouterr().out
    assert cli.main(["protocols", "courses", "six-session-back-neck", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [s["protocol"] for s in data["sessions"]][-1] == "course-6-relapse-prevention"
    assert data["home_practice"]["protocol"] == "course-home-practice"
    assert cli.main(["protocols", "courses", "nope"]) == 2
    assert "unknown course template 'nope'" in capsys.readouterr().err


def test_record_skips_steps_without_a_terminal(only, tmp_path, capsys) -> None:
    only("record")
    path = tmp_path / "steps.toml"
    path.write_text(STEPS)
    assert cli.main(["record", "--source", SIM, "--protocol", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "complete"
    kinds = [(p["kind"], p["step_status"]) for p in out["phases"]]
    assert kinds[1:4] == [
        ("education", "skipped"),
        ("thought-record", "skipped"),
        ("reflection", "skipped"),
    ]
    assert [r["status"] for r in out["summary"]["responses"]] == ["skipped"] * 3
    db = Database()
    stored = db.get_session(out["session_id"]).summary
    assert [r["kind"] for r in stored["responses"]] == ["education", "thought-record", "reflection"]
    db.close()


def test_answers_stay_out_of_the_default_report(only, tmp_path, capsys) -> None:
    only("record")
    path = tmp_path / "steps.toml"
    path.write_text(STEPS)
    assert cli.main(["record", "--source", SIM, "--protocol", str(path), "--json"]) == 0
    session_id = json.loads(capsys.readouterr().out)["session_id"]
    db = Database()
    secret = {"phase": "thought-record", "kind": "thought-record", "status": "answered"}
    secret |= {"private": True, "answers": {"thought": "PRIVATE-THOUGHT-42"}}
    db.finish_session(session_id, "complete", {"responses": [secret]})
    from biofeedback.reports.clinician import write_report

    html = write_report(db, session_id, tmp_path / "report.html").read_text()
    db.close()
    assert "PRIVATE-THOUGHT-42" not in html
    assert "thought-record" in html  # the phase itself is listed (time spent, no values)
