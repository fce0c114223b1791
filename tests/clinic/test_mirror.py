"""Reading from the clinic (``--clinic``): a station's data synced to the clinic and read back
through the clinic gives the same session list, CSV export, session and course reports and
questionnaire table as the station's own store."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest

from biofeedback.cli import main
from biofeedback.clinic.migrate import init_clinic
from biofeedback.clinic.mirror import cache_path, clinic_database
from biofeedback.errors import ClinicError

SIM = "sim://?scenario=learner&speed=max"


def ok(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


@pytest.fixture
def synced(capsys, tmp_path: Path, clinic_url: str) -> tuple[tuple[str, ...], str]:
    """A station with a subject, a course, two sessions and a questionnaire, synced."""
    init_clinic(clinic_url)
    where = ("--data-dir", str(tmp_path / "station"))
    ok(capsys, *where, "subjects", "add", "P1", "--name", "Ann Example")
    ok(capsys, *where, "course", "start", "--subject", "P1", "--sessions-per-week", "5",
       "--minutes", "12", "--protocol", "course-home-practice")  # fmt: skip
    for _ in range(2):
        ok(capsys, *where, "record", "--duration", "20", "--source", SIM, "--subject", "P1")
    ok(capsys, *where, "outcomes", "record", "--subject", "P1", "--instrument", "pain-nrs",
       "--timepoint", "baseline", "--answers", "now=6", "average=7", "worst=9")  # fmt: skip
    ok(capsys, *where, "sync", "--clinic", clinic_url)
    return where, clinic_url


def _without_time(text: str) -> str:
    """A report without the time it was made (the foot and the figures' SVG metadata)."""
    text = re.sub(r"<dc:date>[^<]*</dc:date>", "", text)
    return re.sub(r"generated [^<]*<", "generated <", text)


def test_reading_from_the_clinic_equals_the_local_store(
    capsys, tmp_path: Path, synced, monkeypatch: pytest.MonkeyPatch
) -> None:
    import matplotlib

    monkeypatch.setitem(matplotlib.rcParams, "svg.hashsalt", "same ids in both reports")
    where, url = synced
    # another machine with no store of its own reads the clinic (the cache is its only file)
    desk = ("--data-dir", str(tmp_path / "desk"))
    clinic = ("--clinic", url)
    here = json.loads(ok(capsys, *where, "sessions", "--json"))
    there = json.loads(ok(capsys, *desk, "sessions", "--json", *clinic))
    assert len(here["sessions"]) == 2
    assert here["sessions"] == there["sessions"]
    assert Path(there["database"]) == cache_path_in(tmp_path / "desk", url)
    progress = ("sessions", "--subject", "P1", "--progress")
    assert ok(capsys, *where, *progress).replace(str(Path(here["database"])), "") == ok(
        capsys, *desk, *progress, *clinic
    ).replace(there["database"], "")
    sid = str(here["sessions"][-1]["id"])
    for name, args in (
        ("csv", ("export", sid, "--format", "csv")),
        ("html", ("report", sid)),
    ):
        mine, theirs = tmp_path / f"mine.{name}", tmp_path / f"theirs.{name}"
        ok(capsys, *where, *args, "-o", str(mine))
        ok(capsys, *desk, *args, "-o", str(theirs), *clinic)
        assert _without_time(mine.read_text()) == _without_time(theirs.read_text()), name
    course = ("course", "report", "--subject", "P1")
    ok(capsys, *where, *course, "-o", str(tmp_path / "c1.html"))
    ok(capsys, *desk, *course, "-o", str(tmp_path / "c2.html"), *clinic)
    assert _without_time((tmp_path / "c1.html").read_text()) == _without_time(
        (tmp_path / "c2.html").read_text()
    )
    shown = ("outcomes", "show", "--subject", "P1", "--json")
    assert json.loads(ok(capsys, *where, *shown)) == json.loads(ok(capsys, *desk, *shown, *clinic))
    # the configured clinic is used by --clinic without a URL
    ok(capsys, *desk, "clinic", "set", url)
    assert (
        json.loads(ok(capsys, *desk, "sessions", "--json", "--clinic"))["sessions"]
        == (here["sessions"])
    )


def cache_path_in(data_dir: Path, url: str) -> Path:
    old = os.environ.get("BIOFEEDBACK_HOME")
    os.environ["BIOFEEDBACK_HOME"] = str(data_dir)
    try:
        return cache_path(url)
    finally:
        if old is not None:
            os.environ["BIOFEEDBACK_HOME"] = old


def test_the_cache_is_private_and_follows_the_clinic(synced) -> None:
    _, url = synced
    with clinic_database(url) as db:
        assert len(db.list_sessions("P1")) == 2
        path = db.path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    from biofeedback.clinic.connect import connect

    with connect(url, autocommit=True) as conn:
        conn.execute("UPDATE sessions SET notes = 'seen' WHERE id = 1")
    with clinic_database(url, session_id=1) as db:
        assert db.get_session(1).notes == "seen"
        assert db.get_subject("P1")["name"] is None
    with connect(url, autocommit=True) as conn:  # the clinic's owner deletes one
        conn.execute("DELETE FROM sessions WHERE id = 2")
    with clinic_database(url) as db:
        assert [s.id for s in db.list_sessions()] == [1]
    with pytest.raises(ClinicError, match="has no session 99"):
        clinic_database(url, session_id=99)
    with pytest.raises(ClinicError, match="has no subject NOPE"):
        clinic_database(url, subject="NOPE")
