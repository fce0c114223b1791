"""CLI: ``biofeedback sessions delete ID [--yes]`` (one copy of a bundle conflict is deleted this
way) and the conflict-copy marker of ``biofeedback sessions``."""

from __future__ import annotations

import datetime as dt
import io
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "storage"))
from storage_helpers import myoware_info

from biofeedback.cli import main
from biofeedback.storage.database import Database
from biofeedback.storage.outcomes import add_outcome, list_outcomes

WHEN = dt.datetime(2026, 12, 2, 10, 31)


class _Terminal(io.StringIO):
    """Standard input on a terminal, with the answer already typed."""

    def isatty(self) -> bool:
        return True


def _session(db: Database, summary: dict | None = None, finish: bool = True) -> int:
    sid = db.create_session(
        "P001", "relax", myoware_info(), started_at=WHEN.timestamp(), setting="clinic"
    )
    if finish:
        db.finish_session(sid, "complete", summary)
        with db.transaction() as conn:  # 20 minutes long
            conn.execute(
                "UPDATE sessions SET first_index = 0, end_index = 1200000 WHERE id = ?", (sid,)
            )
    return sid


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _ids() -> list[int]:
    with Database() as db:
        return [r.id for r in db.list_sessions()]


def test_delete_with_yes_keeps_linked_questionnaires(capsys) -> None:
    with Database() as db:
        keep, sid = _session(db), _session(db)
        add_outcome(
            db, "P001", "pain-nrs", "1", "ab" * 32, {"now": 3.0}, {"now": {"value": 3.0}},
            session_id=sid, taken_at=WHEN.timestamp(),
        )  # fmt: skip
    code, out, err = _run(capsys, "sessions", "delete", str(sid), "--yes")
    assert code == 0, err
    assert out.strip() == f"Deleted session {sid} (P001, 2026-12-02 10:31, 20 min, clinic)."
    assert _ids() == [keep]
    with Database() as db:
        (outcome,) = list_outcomes(db, "P001")  # kept, no longer linked
        assert outcome.session_id is None


def test_terminal_asks_and_only_yes_deletes(capsys, monkeypatch) -> None:
    with Database() as db:
        sid = _session(db)
    monkeypatch.setattr(sys, "stdin", _Terminal("n\n"))
    code, out, err = _run(capsys, "sessions", "delete", str(sid))
    assert err == f"Delete session {sid} (P001, 2026-12-02 10:31, 20 min, clinic)? [y/N] "
    assert code == 1 and out.strip() == "Nothing deleted." and _ids() == [sid]
    monkeypatch.setattr(sys, "stdin", _Terminal("y\n"))
    code, out, _ = _run(capsys, "sessions", "delete", str(sid))
    assert code == 0 and out.startswith(f"Deleted session {sid} ") and _ids() == []


def test_without_terminal_or_unknown_id_one_line_exit_2(capsys, monkeypatch) -> None:
    with Database() as db:
        sid = _session(db)
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))  # piped: not a terminal
    code, out, err = _run(capsys, "sessions", "delete", str(sid))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "add --yes" in err and _ids() == [sid]
    for bad in ("999", "abc"):
        code, out, err = _run(capsys, "sessions", "delete", bad, "--yes")
        assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert "biofeedback sessions" in err
    assert _ids() == [sid]


def test_a_session_still_recording_is_refused(capsys) -> None:
    with Database() as db:
        live = _session(db, finish=False)  # this process is its writer: alive
    code, _, err = _run(capsys, "sessions", "delete", str(live), "--yes")
    assert code == 2 and "still being recorded" in err and len(err.strip().splitlines()) == 1
    assert _ids() == [live]
    with Database() as db, db.transaction() as conn:  # its writer is gone
        conn.execute("UPDATE sessions SET heartbeat_at = 1.0 WHERE id = ?", (live,))
    code, _, err = _run(capsys, "sessions", "delete", str(live), "--yes")
    assert code == 0, err
    assert _ids() == []


def test_the_list_marks_a_conflict_copy(capsys) -> None:
    with Database() as db:
        plain = _session(db)
        copy = _session(db, {"conflict_copy_of": "ab" * 16})
    code, out, _ = _run(capsys, "sessions")
    assert code == 0
    lines = {int(x.split()[0]): x for x in out.splitlines() if x.strip()[:1].isdigit()}
    assert lines[copy].endswith("CONFLICT COPY") and "CONFLICT" not in lines[plain]
    assert "biofeedback sessions delete ID" in out
    code, out, _ = _run(capsys, "sessions", "--json")
    rows = {r["id"]: r for r in json.loads(out)["sessions"]}
    assert rows[copy]["conflict_copy_of"] == "ab" * 16 and rows[plain]["conflict_copy_of"] is None
    assert rows[copy]["setting"] == "clinic"


def test_progress_with_an_open_course_says_the_course_count(capsys) -> None:
    from biofeedback.storage.courses import adherence, open_course, start_course
    from biofeedback.training.adherence import Prescription

    today = dt.date.today()
    monday = today - dt.timedelta(days=today.weekday())
    with Database() as db:
        db.add_subject("P001")
        db.set_weekly_goal("P001", 3)
        _session(db)  # outside the course: counted against the subject's own goal only
        course = start_course(db, "P001", monday, Prescription(monday, 5, 12, None, ()))
        week_start = dt.datetime.combine(monday, dt.time(0, 0, 1)).timestamp()
        started = max(dt.datetime.now().timestamp() - 1800, week_start)  # this week, today
        sid = db.create_session(
            "P001", "relax", myoware_info(), started_at=started, course_id=course,
            setting="home",
        )  # fmt: skip
        db.finish_session(sid)
        with db.transaction() as conn:
            conn.execute(
                "UPDATE sessions SET first_index = 0, end_index = 720000 WHERE id = ?", (sid,)
            )
        expected = adherence(db, open_course(db, "P001")).this_week_text()
    code, out, _ = _run(capsys, "sessions", "--subject", "P001", "--progress")
    assert code == 0 and expected == "1 of 5 this week"
    assert f"Practice: home practice {expected} (the course's prescription); streak" in out
