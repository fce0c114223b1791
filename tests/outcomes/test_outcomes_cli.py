"""``biofeedback instruments ...`` and ``biofeedback outcomes ...`` end to end through main()."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

import biofeedback.cli as cli
from biofeedback.cli import outcomes as outcomes_cli
from biofeedback.outcomes import load_instrument

BROKEN = Path(__file__).parent / "broken"


@pytest.fixture(autouse=True)
def _only_these(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["instruments", "outcomes"])


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_instruments_list_show_validate(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "instruments")
    assert code == 0 and "pain-nrs" in out and "psfs" in out and "pgic" in out
    code, out, _ = run(capsys, "instruments", "list", "--json")
    assert [i["id"] for i in json.loads(out)["instruments"]] == [
        "pain-interference",
        "pain-nrs",
        "pgic",
        "psfs",
    ]
    code, out, _ = run(capsys, "instruments", "show", "pain-nrs")
    assert code == 0 and "0-10: 0 = no pain, 10 = pain as bad as you can imagine" in out
    assert "MCID 2, MCID 30 %" in out and "Farrar" in out
    code, out, _ = run(capsys, "instruments", "show", "pgic", "--json")
    assert json.loads(out)["items"][0]["choices"][6]["label"] == "Very much worse"
    code, out, err = run(capsys, "instruments", "validate", str(BROKEN / "unknown_method.toml"))
    assert (
        code == 2
        and out == ""
        and err
        == (
            "biofeedback: unknown_method.toml: score 1 't': method 'median' is not allowed: use sum, "
            "mean or percent\n"
        )
    )


def test_validate_a_clinic_file_and_use_it_by_path(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "clinic.toml"
    path.write_text(
        'id = "clinic-q"\nname = "Clinic questionnaire"\nsource = "licensed"\nlicence = "ours"\n'
        '[[items]]\nid = "q1"\ntext = "Q1"\nmin = 0\nmax = 5\n'
        '[[items]]\nid = "q2"\ntext = "Q2"\nmin = 0\nmax = 5\n'
        '[[scores]]\nid = "pct"\nmethod = "percent"\nmissing = "answered"\nmax_missing = 1\n',
        encoding="utf-8",
    )
    code, out, _ = run(capsys, "instruments", "validate", str(path))
    assert code == 0 and out.startswith(f"ok: {path}: instrument 'clinic-q' v1, 2 items")
    code, out, _ = run(
        capsys, "outcomes", "record", "--subject", "P9", "--instrument", str(path),
        "--answers", "q1=2", "q2=-", "--json",
    )  # fmt: skip
    assert code == 0 and json.loads(out)["scores"]["pct"]["value"] == 40.0


def test_record_and_show_with_change_from_baseline(capsys: pytest.CaptureFixture[str]) -> None:
    base = ("outcomes", "record", "--subject", "P1", "--instrument", "pain-nrs")
    code, out, _ = run(capsys, *base, "--timepoint", "Baseline", "--answers", "now=6", "average=7",
                       "worst=9")  # fmt: skip
    assert code == 0 and "stored questionnaire 1: pain-nrs for P1 baseline" in out
    code, out, _ = run(capsys, *base, "--timepoint", "end", "--answers", "now=3", "average=4",
                       "worst=8")  # fmt: skip
    assert code == 0
    code, out, _ = run(capsys, "outcomes", "show", "--subject", "P1")
    assert code == 0
    assert "Average pain, last 7 days: 4  change -3 (43 % better)  -> important improvement" in out
    assert "Worst pain, last 7 days: 8  change -1 (11 % better)  -> no important change" in out
    code, out, _ = run(capsys, "outcomes", "show", "--subject", "P1", "--json")
    data = json.loads(out)
    (block,) = data["instruments"]
    first, last = block["records"]
    assert first["baseline"] and first["answers"] == {"now": 6.0, "average": 7.0, "worst": 9.0}
    assert first["scores"]["average"]["value"] == 7.0
    change = last["results"]["average"]["change"]
    assert change["change"] == -3 and change["important_improvement"] is True
    assert last["timepoint"] == "end" and not last["instrument_file_changed"]
    code, out, _ = run(capsys, "outcomes", "delete", "2")
    assert code == 0 and "deleted questionnaire 2" in out
    code, out, _ = run(capsys, "outcomes", "show", "--subject", "P1", "--json")
    assert len(json.loads(out)["instruments"][0]["records"]) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--answers", "now=11"], "now: 11 is outside the scale: answer 0 to 10"),
        (["--answers", "pain=3"], "pain-nrs has no item 'pain'"),
        (["--answers", "now"], "--answers 'now': write ITEM=VALUE, e.g. now=3"),
        (["--answers", "now=1", "now=2"], "--answers: now is given twice"),
        (["--timepoint", "x" * 41, "--answers", "now=1"], "timepoint 'xxxxxxxxxxxxxxxxxxxx'"),
        (["--session", "5", "--answers", "now=1", "average=1", "worst=1"], "no session 5"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    base = ["outcomes", "record", "--subject", "P1", "--instrument", "pain-nrs"]
    code, _, err = run(capsys, *base, *argv)
    assert code == 2 and err.startswith("biofeedback: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_bad_instrument_files_are_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    huge = tmp_path / "huge.toml"
    huge.write_bytes(b"#" * (200 * 1024))
    for path, message in (
        (BROKEN / "latin1.toml", "latin1.toml: not UTF-8 text"),
        (huge, "huge.toml: the file is larger than 128 KiB"),
    ):
        code, _, err = run(
            capsys, "outcomes", "record", "--subject", "P1", "--instrument", str(path),
            "--answers", "q=1",
        )  # fmt: skip
        assert code == 2 and message in err and err.count("\n") == 1
    code, _, err = run(capsys, "outcomes", "show", "--subject", "P1")
    assert code == 2 and "there is no session database" in err  # show creates nothing


def test_without_answers_and_without_a_terminal_says_how(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, _, err = run(capsys, "outcomes", "record", "--subject", "P1", "--instrument", "pgic")
    assert code == 2 and "give the answers with --answers ITEM=VALUE" in err


def test_interactive_asks_one_item_at_a_time_and_asks_again_after_a_mistake(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    typed = iter(["lifting", "sitting", "walking", "", "", "12", "4", "6", "8"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(typed))

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Tty())
    code, out, _ = run(
        capsys, "outcomes", "record", "--subject", "P3", "--instrument", "psfs", "--timepoint",
        "baseline",
    )  # fmt: skip
    assert code == 0, out
    assert "How able are you today to do: lifting?" in out
    assert "0-10: 0 = unable to do it, 10 = able to do it as well as before" in out
    assert "rating1: 12 is outside the scale: answer 0 to 10: try again" in out
    # activities 4 and 5 were left empty: only the three named ones are rated
    assert "Activity 5: name" in out and out.count("How able are you today to do:") == 3
    assert "Mean activity rating: 6" in out


def test_input_ending_early_stores_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    from biofeedback.errors import AnswerError

    def ended(prompt: str = "") -> str:
        raise EOFError

    with pytest.raises(AnswerError, match="nothing was stored"):
        outcomes_cli.ask_interactively(load_instrument("pgic"), read=ended)


def _clinic_file(folder: Path, question: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "clinic-q.toml"
    path.write_text(
        f'id = "clinic-q"\nname = "Clinic q"\nsource = "s"\nlicence = "l"\n'
        f'[[items]]\nid = "q"\ntext = "{question}"\nmin = 0\nmax = 10\n'
        '[[scores]]\nid = "t"\nmethod = "sum"\n[scores.change]\ndirection = "lower is better"\n'
        'mcid = 3\nsource = "made up"\n',
        encoding="utf-8",
    )
    return path


def test_show_notes_a_changed_instrument_file_and_a_missing_one(
    capsys: pytest.CaptureFixture[str], _isolated_data_dir: Path
) -> None:
    folder = _isolated_data_dir / "instruments"
    path = _clinic_file(folder, "Q?")
    record = ("outcomes", "record", "--subject", "P5", "--instrument", "clinic-q", "--answers")
    assert run(capsys, *record, "q=8")[0] == 0
    _clinic_file(folder, "Q, reworded?")
    assert run(capsys, *record, "q=4")[0] == 0
    code, out, _ = run(capsys, "outcomes", "show", "--subject", "P5")
    assert code == 0 and out.count("answered with an earlier version") == 1
    assert "t: 4  change -4 (50 % better)  -> important improvement" in out
    path.unlink()
    code, out, err = run(capsys, "outcomes", "show", "--subject", "P5")
    assert code == 0 and "clinic-q: thresholds not judged: unknown instrument" in err
    assert "t: 4  change -4  -> no threshold" in out


def test_a_paper_questionnaire_is_entered_with_its_date_and_record_prints_the_change(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import datetime as dt

    base = ("outcomes", "record", "--subject", "P6", "--instrument", "pain-nrs", "--answers")
    code, out, _ = run(capsys, *base, "now=2", "average=3", "worst=5", "--timepoint", "end")
    assert code == 0 and "Average pain, last 7 days: 3\n" in out  # nothing to compare with yet
    code, out, _ = run(capsys, *base, "now=6", "average=6", "worst=8", "--timepoint", "baseline",
                       "--taken", "2026-01-05T09:30", "--json")  # fmt: skip
    assert code == 0
    code, out, _ = run(capsys, "outcomes", "show", "--subject", "P6", "--json")
    first = json.loads(out)["instruments"][0]["records"][0]
    assert first["timepoint"] == "baseline"
    assert first["taken_at"] == dt.datetime(2026, 1, 5, 9, 30).timestamp()
    code, out, _ = run(capsys, *base, "now=3", "average=3", "worst=6", "--timepoint", "follow-up")
    assert "Average pain, last 7 days: 3  change -3 (50 % better)  -> important improvement" in out
    for bad, message in (
        ("yesterday", "--taken 'yesterday': write a date"),
        ("2999-01-01", "is in the future"),
    ):
        code, _, err = run(capsys, *base, "now=1", "--taken", bad)
        assert code == 2 and message in err and err.count("\n") == 1


def test_interactive_less_than_goes_back(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    typed = iter(["5", "<", "2", "3", "4"])
    answers = outcomes_cli.ask_interactively(
        load_instrument("pain-nrs"), read=lambda prompt: next(typed)
    )
    assert answers == {"now": 2.0, "average": 3.0, "worst": 4.0}
    out = capsys.readouterr().out
    assert out.count("[1/3] How strong is your pain right now?") == 2
