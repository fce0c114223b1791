"""CBT and education steps: the format (education, thought-record, reflection), their validation
messages, the runner waiting for Continue (with a time limit), metrics that leave reading and
writing time out, the answers kept with the session, the built-in pages and the course template."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from biofeedback.errors import ProtocolFileError
from biofeedback.training import EventType, SessionRunner, load_protocol, parse_protocol, steps
from biofeedback.training.course_template import load_template, template_names
from biofeedback.training.protocol import STEP_KINDS, PhaseKind, library_names

FS = 100.0
HEAD = 'name = "t"\n'

PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0000003010100c9fe92ef0000000049454e44ae426082"
)


def proto(body: str):
    return parse_protocol(HEAD + body, "t.toml")


def message(body: str, tmp_path: Path | None = None) -> str:
    with pytest.raises(ProtocolFileError) as info:
        if tmp_path is None:
            proto(body)
        else:
            path = tmp_path / "p.toml"
            path.write_text(HEAD + body)
            load_protocol(path)
    return str(info.value)


# --------------------------------------------------------------------------- format


def test_education_page_by_id_has_title_and_text_and_no_length():
    p = proto('[[phases]]\nkind = "education"\npage = "tension-pain-cycle"\n')
    phase = p.phases[0]
    assert phase.kind == PhaseKind.EDUCATION and phase.is_step
    assert phase.title == "The tension-pain cycle"
    assert "muscles" in phase.text and not phase.text.startswith("#")
    assert phase.duration_s == 0 and phase.time_limit_s is None
    assert p.duration_s == 0  # reading time is the patient's, not scheduled
    d = phase.to_dict()
    assert d["step"]["page"] == "tension-pain-cycle" and d["feedback"] == "none"


def test_inline_text_title_time_limit_and_image_next_to_the_file(tmp_path):
    (tmp_path / "pic.png").write_bytes(PNG_1PX)
    (tmp_path / "own.md").write_text("# Own page\n\nSome words.\n")
    path = tmp_path / "p.toml"
    path.write_text(
        HEAD + '[[phases]]\nkind = "education"\ntitle = "Hello"\ntext = "Read me."\n'
        'image = "pic.png"\nduration = "2 min"\n'
        '[[phases]]\nkind = "education"\npage = "own.md"\n'
    )
    p = load_protocol(path)
    first, second = p.phases
    assert first.title == "Hello" and first.text == "Read me." and first.time_limit_s == 120
    assert first.image == str((tmp_path / "pic.png").resolve())
    assert second.title == "Own page" and second.text == "Some words."


def test_thought_record_and_reflection_defaults():
    p = proto('[[phases]]\nkind = "thought-record"\n[[phases]]\nkind = "reflection"\n')
    assert p.phases[0].kind == PhaseKind.THOUGHT_RECORD
    assert p.phases[1].prompt == steps.DEFAULT_REFLECTION_PROMPT
    assert [f.key for f in steps.fields_for("thought-record")] == [
        "situation",
        "thought",
        "belief_before",
        "evidence_for",
        "evidence_against",
        "balanced",
        "belief_after",
    ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            '[[phases]]\nkind = "education"\n',
            "t.toml: phase 1 'education': an education phase needs exactly one of page",
        ),
        (
            '[[phases]]\nkind = "education"\npage = "tension-pain-cycle"\ntext = "x"\n',
            "needs exactly one of page",
        ),
        (
            '[[phases]]\nkind = "education"\npage = "no-such-page"\n',
            "page 'no-such-page' is not a built-in page: choose one of flare-up-plan, "
            "pacing-and-graded-activity, relaxation-is-a-skill, tension-pain-cycle",
        ),
        (
            '[[phases]]\nkind = "education"\ntext = "x"\nfeedback = "visual"\n',
            "phase 1 'education': feedback is not allowed on a education phase: it has no EMG "
            "target (the signal keeps recording but is not scored)",
        ),
        (
            '[[phases]]\nkind = "reflection"\ntarget = "3 uV"\n',
            "target is not allowed on a reflection phase (only on train phases)",
        ),
        (
            '[[phases]]\nkind = "education"\ntext = "x"\nprompt = "why?"\n',
            "prompt is not allowed on a education phase (only on reflection phases)",
        ),
        (
            '[[phases]]\nkind = "baseline"\nduration = 60\npage = "flare-up-plan"\n',
            "phase 1 'baseline': unknown key 'page'",
        ),
        (
            '[[phases]]\nkind = "thought-record"\nduration = "0 s"\n',
            "phase 1 'thought-record': duration (the time limit) '0 s' must be > 0 seconds",
        ),
        (
            '[[phases]]\nkind = "thought_record"\n',
            "kind 'thought_record' is not allowed (did you mean 'thought-record'?)",
        ),
    ],
)
def test_precise_messages(body, expected):
    assert expected in message(body)


def test_file_messages_for_missing_or_wrong_images_and_pages(tmp_path):
    (tmp_path / "fake.png").write_text("not a picture")
    (tmp_path / "pic.gif").write_bytes(b"GIF89a")
    edu = '[[phases]]\nkind = "education"\ntext = "x"\n'
    assert "image 'fake.png' is not a PNG file" in message(edu + 'image = "fake.png"\n', tmp_path)
    assert "image 'pic.gif' must be a .png or .jpg or .jpeg file" in message(
        edu + 'image = "pic.gif"\n', tmp_path
    )
    msg = message(edu + 'image = "gone.png"\n', tmp_path)
    assert "gone.png' does not exist (paths are relative to the protocol file)" in msg
    msg = message('[[phases]]\nkind = "education"\npage = "gone.md"\n', tmp_path)
    assert "page file" in msg and "does not exist" in msg
    (tmp_path / "empty.md").write_text("# Only a title\n")
    msg = message('[[phases]]\nkind = "education"\npage = "empty.md"\n', tmp_path)
    assert "page 'empty.md' has no text" in msg


def test_builtin_protocol_cannot_reach_files():
    with pytest.raises(ValueError, match="a built-in protocol can only use built-in pages"):
        steps.load_page("notes.md", None)


# --------------------------------------------------------------------------- answers


def test_answers_are_checked_and_cleaned():
    clean = steps.check_answers(
        "thought-record",
        {"situation": "  at work ", "belief_before": "80 %", "belief_after": 40},
    )
    assert clean["situation"] == "at work" and clean["belief_before"] == 80.0
    assert clean["belief_after"] == 40.0 and clean["balanced"] == ""
    with pytest.raises(ValueError, match=r"How strongly do you believe it.*0 to 100"):
        steps.check_answers("thought-record", {"belief_before": 130})
    with pytest.raises(ValueError, match=r"unknown answer.*mood"):
        steps.check_answers("reflection", {"mood": "ok"})


# --------------------------------------------------------------------------- runner


STEP_PROTOCOL = """
[threshold]
target = "3 uV"
[[phases]]
kind = "train"
duration = "10 s"
[[phases]]
kind = "education"
page = "relaxation-is-a-skill"
[[phases]]
kind = "thought-record"
duration = "5 s"
[[phases]]
kind = "reflection"
[[phases]]
kind = "train"
duration = "10 s"
"""


def tick_seconds(runner: SessionRunner, seconds: float, level: float) -> list:
    n = round(seconds * FS)
    start = runner.next_index
    events = runner.tick(start, np.full(n, level))
    return events + runner.flush()


def test_runner_waits_for_continue_and_excludes_reading_time():
    runner = SessionRunner(proto(STEP_PROTOCOL), FS, coalesce_s=0)
    tick_seconds(runner, 10, 1.0)  # first trial, all below 3 uV
    state = runner.state()
    assert state.phase_kind == "education" and state.awaiting_continue
    assert state.step is not None and state.step["title"] == "Why relaxation is a skill"
    # a long read, with high tension: it must not count against % below target
    tick_seconds(runner, 120, 9.0)
    assert runner.state().phase_index == 1
    assert runner.continue_phase() != []
    state = runner.state()
    assert state.phase_kind == "thought-record" and state.awaiting_continue
    # the time limit ends the thought record (recorded as timed out)
    events = tick_seconds(runner, 6, 9.0)
    assert any(e.type == EventType.STEP_SAVED and e.data["status"] == "timed-out" for e in events)
    assert runner.state().phase_kind == "reflection"
    # Continue with the answer of another phase (a late click) does nothing
    assert runner.continue_phase({"reflection": "x"}, phase_index=2) == []
    runner.continue_phase({"reflection": " Breathing out slowly. "}, phase_index=3)
    tick_seconds(runner, 10, 1.0)
    assert runner.finished
    summary = runner.summary()
    assert summary.training_pct_below == pytest.approx(100.0)
    assert summary.pct_excluded == 0.0
    edu = summary.phases[1]
    assert edu.kind == "education" and edu.step_status == "continued"
    assert edu.duration_s == pytest.approx(120.0) and edu.n_samples == 0 and edu.pct_below is None
    assert summary.step_s == pytest.approx(120.0 + 5.0 + 1.0)
    statuses = [(r["kind"], r["status"]) for r in summary.responses]
    assert statuses == [
        ("education", "continued"),
        ("thought-record", "timed-out"),
        ("reflection", "answered"),
    ]
    assert summary.responses[2]["answers"] == {"reflection": "Breathing out slowly."}
    assert all(r["private"] for r in summary.responses)
    assert summary.to_dict()["responses"][2]["answers"]["reflection"] == "Breathing out slowly."


def test_continue_never_ends_a_training_phase_and_skip_records_skipped():
    runner = SessionRunner(proto(STEP_PROTOCOL), FS, coalesce_s=0)
    tick_seconds(runner, 5, 1.0)
    assert runner.continue_phase() == []
    assert runner.state().phase_index == 0
    tick_seconds(runner, 5, 1.0)
    runner.skip()  # the clinician skips the page
    assert runner.summary().responses[0]["status"] == "skipped"
    answers = {
        "situation": "Meeting ran late",
        "thought": "My neck will seize up",
        "belief_before": 70,
    }
    runner.continue_phase({**answers, "belief_after": 30})
    record = runner.summary().responses[1]
    assert record["status"] == "answered" and record["answers"]["belief_before"] == 70.0
    with pytest.raises(ValueError):
        runner.continue_phase({"reflection": "x" * (steps.MAX_ANSWER_CHARS + 1)})
    runner.abort("stopped")
    assert runner.summary().responses[-1]["status"] == "aborted"


def test_pause_during_a_page_is_kept_apart():
    runner = SessionRunner(proto(STEP_PROTOCOL), FS, coalesce_s=0)
    tick_seconds(runner, 10, 1.0)
    tick_seconds(runner, 3, 1.0)
    runner.pause()
    tick_seconds(runner, 4, 1.0)
    runner.resume()
    runner.continue_phase()
    edu = runner.phase_metrics[1]
    assert edu.duration_s == pytest.approx(3.0) and edu.paused_s == pytest.approx(4.0)


def test_same_events_whatever_the_block_size():
    def run(block: int):
        runner = SessionRunner(proto(STEP_PROTOCOL), FS, coalesce_s=0.1)
        env = np.full(3000, 2.0)
        for a in range(0, 3000, block):
            runner.tick(a, env[a : a + block])
        return [(e.type, e.sample_index) for e in runner.events]

    assert run(7) == run(1000)


# --------------------------------------------------------------------------- library


def test_builtin_pages_are_plain_and_short():
    ids = steps.builtin_page_ids()
    assert ids == [
        "flare-up-plan",
        "pacing-and-graded-activity",
        "relaxation-is-a-skill",
        "tension-pain-cycle",
    ]
    for page_id in ids:
        page = steps.load_page(page_id, None)
        assert page.title
        words = page.body.split()
        assert 100 < len(words) < 400
        sentences = max(1, page.body.count(".") + page.body.count("?"))
        assert len(words) / sentences < 20  # short sentences (grade-8 reading level)
        assert "cure" not in page.body.lower()
        html = steps.page_html(page.title, page.body)
        assert html.startswith("<h1>") and "<li>" in html
        assert "**" not in steps.page_text(page.title, page.body)


def test_every_builtin_protocol_validates_and_uses_steps():
    kinds = set()
    for name in library_names():
        protocol = load_protocol(name)
        kinds |= {p.kind for p in protocol.phases}
    assert kinds >= STEP_KINDS


def test_six_session_course_template():
    assert "six-session-back-neck" in template_names()
    t = load_template("six-session-back-neck")
    assert [s.number for s in t.sessions] == [1, 2, 3, 4, 5, 6]
    kinds = [{p.kind for p in s.protocol.phases} for s in t.sessions]
    assert PhaseKind.EDUCATION in kinds[0] and PhaseKind.BASELINE in kinds[0]
    assert PhaseKind.TRAIN in kinds[1]
    assert PhaseKind.REFLECTION in kinds[2] and PhaseKind.RECOVERY in kinds[2]
    assert PhaseKind.TRANSFER in kinds[3]
    assert any(p.micro_break_after_s for p in t.sessions[4].protocol.phases)
    six = t.sessions[5].protocol.phases
    assert PhaseKind.THOUGHT_RECORD in kinds[5]
    assert any(p.page == "flare-up-plan" for p in six)
    # a reflection follows the stress step of session 3
    three = [p.kind for p in t.sessions[2].protocol.phases]
    assert three.index(PhaseKind.REFLECTION) > three.index(PhaseKind.RECOVERY)
    home = t.home_practice
    assert home is not None and 10 * 60 <= home.protocol.duration_s <= 15 * 60
    assert home.sessions_per_week == 5 and home.minutes == 12
    assert t.to_dict()["sessions"][0]["step_phases"] == 2


def test_course_template_messages(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('name = "c"\n[[sessions]]\nnumber = 1\nprotocol = "no-such"\n')
    with pytest.raises(ProtocolFileError, match=r"c.toml: session 1: protocol 'no-such': unknown"):
        load_template(path)
    path.write_text('name = "c"\n[[sessions]]\nnumber = 2\nprotocol = "desk-10min"\n')
    with pytest.raises(ProtocolFileError, match="number 2 must be 1: list the sessions in order"):
        load_template(path)
    path.write_text('name = "c"\n[[sessions]]\nprotocol = "desk-10min"\nwhen = 1\n')
    with pytest.raises(ProtocolFileError, match="unknown key 'when'"):
        load_template(path)
    with pytest.raises(ProtocolFileError, match="unknown course template 'nope'"):
        load_template("nope")


def test_offline_runs_skip_the_steps():
    from biofeedback.training import run_session

    protocol = load_protocol("course-6-relapse-prevention")
    n = round(protocol.duration_s * FS)
    runner = run_session(protocol, FS, np.full(n, 2.0), block=997)
    assert runner.finished
    summary = runner.summary()
    assert [r["status"] for r in summary.responses] == ["skipped"] * 3
    assert summary.step_s == 0.0 and summary.duration_s == pytest.approx(protocol.duration_s)
    waiting = run_session(protocol, FS, np.full(n, 2.0), skip_steps=False)
    assert not waiting.finished and waiting.state().phase_kind == "education"


def test_builtin_picture_and_a_local_file_of_the_same_name(tmp_path):
    assert steps.builtin_image_names() == ["tension-pain-cycle.png"]
    builtin = load_protocol("course-1-assessment")
    cycle = next(p for p in builtin.phases if p.page == "tension-pain-cycle")
    assert cycle.image is not None and Path(cycle.image).read_bytes().startswith(b"\x89PNG")
    body = '[[phases]]\nkind = "education"\ntext = "x"\nimage = "tension-pain-cycle.png"\n'
    path = tmp_path / "p.toml"
    path.write_text(HEAD + body)
    assert load_protocol(path).phases[0].image == cycle.image  # the built-in one
    (tmp_path / "tension-pain-cycle.png").write_bytes(PNG_1PX)
    own = load_protocol(path).phases[0].image
    assert own == str((tmp_path / "tension-pain-cycle.png").resolve())  # the file next to it wins
    with pytest.raises(ValueError, match=r"pictures \(tension-pain-cycle.png\)"):
        steps.check_image("other.png", None)
