"""Protocol files: the built-in library, parsing, defaults, repeat blocks, lookup by name/path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from biofeedback.errors import ProtocolFileError
from biofeedback.training import (
    Feedback,
    PhaseKind,
    TargetKind,
    library_names,
    list_protocols,
    load_protocol,
    parse_protocol,
    validate_protocol_file,
)
from biofeedback.training.protocol import parse_duration, parse_target

LIBRARY = Path(__file__).parents[2] / "src" / "biofeedback" / "training" / "library"


def test_library_has_the_issue_names() -> None:
    assert set(library_names()) == {
        "clinical-session",
        "desk-10min",
        "pmr",
        "breathing",
        "reactivity",
        "desk-breaks",
        # the six-session course template and its home practice (issue 12)
        "course-1-assessment",
        "course-2-down-training",
        "course-3-stress-recovery",
        "course-4-generalisation",
        "course-5-desk-transfer",
        "course-6-relapse-prevention",
        "course-home-practice",
    }


@pytest.mark.parametrize("name", library_names())
def test_every_builtin_protocol_validates_by_name_and_file(name: str) -> None:
    by_name = load_protocol(name)
    by_file = validate_protocol_file(LIBRARY / f"{name}.toml")
    assert by_name.name == by_file.name == name
    assert by_name.phases == by_file.phases
    assert by_name.builtin and not by_file.builtin
    assert by_name.warnings == ()
    json.dumps(by_name.to_dict())  # JSON-ready


def test_clinical_session_follows_the_spec_template() -> None:
    p = load_protocol("clinical-session")
    kinds = [ph.kind for ph in p.phases]
    assert kinds[:5] == [
        PhaseKind.SIGNAL_CHECK,
        PhaseKind.NOISE_FLOOR,
        PhaseKind.BASELINE,
        PhaseKind.REFERENCE,
        PhaseKind.RECOVERY,
    ]
    durations = {ph.name: ph.duration_s for ph in p.phases}
    assert durations["signal-check"] == 300
    assert durations["baseline"] == 180
    assert durations["reactivity contraction"] == 10
    assert durations["reactivity recovery"] == 120
    trials = [ph for ph in p.phases if ph.kind == PhaseKind.TRAIN]
    assert [t.name for t in trials] == [f"trial {i}" for i in range(1, 6)]
    assert all(t.duration_s == 240 and t.feedback == Feedback.BOTH for t in trials)
    assert all(t.shaping and t.shaping.step_pct == 5 and t.shaping.interval_s == 60 for t in trials)
    assert all(t.target.kind == TargetKind.PCT_BASELINE and t.target.value == 90 for t in trials)
    rests = [ph for ph in p.phases if ph.kind == PhaseKind.REST]
    assert len(rests) == 5 and all(r.duration_s == 60 for r in rests)
    transfer = [ph for ph in p.phases if ph.kind == PhaseKind.TRANSFER]
    assert len(transfer) == 1 and transfer[0].duration_s == 180
    assert transfer[0].feedback == Feedback.NONE
    assert p.phases[-1].name == "post-baseline" and p.phases[-1].duration_s == 120
    assert 35 * 60 <= p.duration_s <= 45 * 60  # SPEC: 35-45 min total


def test_pmr_cycles_are_in_the_spec_ranges() -> None:
    p = load_protocol("pmr")
    tense = [ph for ph in p.phases if ph.kind == PhaseKind.TENSE]
    release = [ph for ph in p.phases if ph.kind == PhaseKind.RELEASE]
    assert len(tense) == len(release) >= 3
    assert all(5 <= ph.duration_s <= 7 for ph in tense)
    assert all(30 <= ph.duration_s <= 40 for ph in release)
    # each tense is directly followed by its release
    for i, ph in enumerate(p.phases):
        if ph.kind == PhaseKind.TENSE:
            assert p.phases[i + 1].kind == PhaseKind.RELEASE


def test_breathing_and_desk_breaks() -> None:
    breathing = load_protocol("breathing")
    rates = [ph.pacer_bpm for ph in breathing.phases if ph.pacer_bpm]
    assert rates and all(4.5 <= r <= 7 for r in rates)
    desk = load_protocol("desk-breaks")
    work = [ph for ph in desk.phases if ph.kind == PhaseKind.TRAIN]
    assert work and all(ph.micro_break_after_s == 60 for ph in work)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (240, 240.0),
        (0.5, 0.5),
        ("4 min", 240.0),
        ("30 s", 30.0),
        ("30s", 30.0),
        ("1 min 30 s", 90.0),
        ("1.5 minutes", 90.0),
        ("10 seconds", 10.0),
    ],
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "four minutes", "4 hours", "-3 s", True, [1], 0, -1.0])
def test_parse_duration_rejects(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("90% of baseline", TargetKind.PCT_BASELINE, 90.0),
        ("90 % baseline", TargetKind.PCT_BASELINE, 90.0),
        ("3 uV", TargetKind.UV, 3.0),
        ("2.5 µV", TargetKind.UV, 2.5),
        ("5% of reference", TargetKind.PCT_REFERENCE, 5.0),
        ({"pct_baseline": 80}, TargetKind.PCT_BASELINE, 80.0),
        ({"uv": 4}, TargetKind.UV, 4.0),
    ],
)
def test_parse_target(text: object, kind: TargetKind, value: float) -> None:
    target = parse_target(text)
    assert (target.kind, target.value) == (kind, value)
    assert parse_target(target.describe()) == target


def test_defaults_and_repeat_expansion() -> None:
    p = parse_protocol(
        """
name = "mini"
[[phases]]
kind = "baseline"
duration = "1 min"
[[phases]]
name = "trial"
repeat = 3
  [[phases.block]]
  name = "trial"
  kind = "train"
  duration = "2 min"
  shaping = { step_pct = 3 }
  [[phases.block]]
  kind = "rest"
  duration = 30
[[phases]]
kind = "tense"
duration = "6 s"
repeat = 2
""",
        "mini.toml",
    )
    names = [ph.name for ph in p.phases]
    assert names == [
        "baseline",
        "trial 1",
        "rest 1",
        "trial 2",
        "rest 2",
        "trial 3",
        "rest 3",
        "tense 1",
        "tense 2",
    ]
    trial = p.phases[1]
    assert trial.repeat_index == 1 and trial.repeat_count == 3
    assert trial.shaping.step_pct == 3 and trial.shaping.interval_s == 60  # others inherited
    assert trial.feedback == Feedback.BOTH  # default for train
    assert p.phases[0].feedback == Feedback.NONE  # baseline default
    assert trial.instruction  # default instruction per kind
    assert p.duration_s == 60 + 3 * 150 + 12
    assert p.scored_channel == 0


def test_shaping_off_per_phase() -> None:
    p = parse_protocol(
        'name = "x"\n[[phases]]\nkind = "baseline"\nduration = 60\n'
        '[[phases]]\nkind = "train"\nduration = 60\nshaping = false\n',
        "x.toml",
    )
    assert p.phases[1].shaping is None


def test_warnings_for_values_outside_practice() -> None:
    p = parse_protocol(
        'name = "x"\n[[phases]]\nkind = "baseline"\nduration = 10\n'
        '[[phases]]\nkind = "tense"\nduration = 20\n',
        "x.toml",
    )
    assert len(p.warnings) == 2
    assert (
        "phase 2 'tense': tense for 20 s; progressive muscle relaxation uses 5-7 s"
        in (p.warnings[1])
    )


def test_unknown_name_lists_the_library() -> None:
    with pytest.raises(ProtocolFileError, match="unknown protocol 'nope': choose one of breathing"):
        load_protocol("nope")


def test_missing_file() -> None:
    with pytest.raises(ProtocolFileError, match="file not found: check the path"):
        load_protocol("/no/such/file.toml")


def test_user_protocol_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIOFEEDBACK_HOME", str(tmp_path))
    folder = tmp_path / "protocols"
    folder.mkdir()
    (folder / "my-neck.toml").write_text(
        'name = "my-neck"\ndescription = "mine"\n'
        '[[phases]]\nkind = "baseline"\nduration = "2 min"\n'
        '[[phases]]\nkind = "train"\nduration = "3 min"\n',
        encoding="utf-8",
    )
    assert load_protocol("my-neck").name == "my-neck"
    names = [p.name for p in list_protocols()]
    assert names[-1] == "my-neck" and "clinical-session" in names
