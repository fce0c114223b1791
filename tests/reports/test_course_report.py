"""Course report: the PDF's and the HTML's words and numbers equal what the store holds (outcome
changes as ``outcomes show`` computes them, adherence per week, sessions, electrode-site
changes), thought records only on request, a self-contained HTML page, one-line errors."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "storage"))
from storage_helpers import myoware_info

from biofeedback.errors import StorageError
from biofeedback.outcomes.instrument import load_instrument
from biofeedback.outcomes.results import Measurement, change_table
from biofeedback.outcomes.scoring import check_answers, score_answers
from biofeedback.reports.course import NO_THOUGHT_RECORDS, write_course_report
from biofeedback.reports.course_data import collect_course
from biofeedback.storage.courses import (
    change_prescription,
    current_course,
    end_course,
    start_course,
)
from biofeedback.storage.database import Database
from biofeedback.storage.outcomes import add_outcome, list_outcomes
from biofeedback.training.adherence import Prescription

SUBJECT = "P001"
SITE = "C7 left, 2 cm lateral"
NEW_SITE = "C7 left, 3 cm lateral"
THOUGHT = "If it hurts I must be doing damage"
REFLECTION = "Breathing out slowly let my shoulder drop"
#: (day of November 2026, setting, minutes, status, electrode site ('' = the course's))
SESSIONS = [
    (2, "clinic", 30, "complete", ""),
    (3, "home", 12, "complete", ""),
    (4, "home", 12, "complete", ""),
    (6, "home", 12, "complete", ""),
    (9, "clinic", 30, "complete", NEW_SITE),  # the site moved
    (10, "home", 8, "interrupted", NEW_SITE),
    (11, "home", 12, "complete", NEW_SITE),
    (16, "clinic", 30, "complete", NEW_SITE),
    (17, "home", 12, "complete", NEW_SITE),
    (18, "home", 12, "complete", NEW_SITE),
    (19, "home", 12, "complete", NEW_SITE),
    (20, "home", 12, "complete", NEW_SITE),
    (24, "home", 12, "complete", NEW_SITE),
]


def _store_session(db: Database, course_id: int, n: int, spec: tuple) -> int:
    """One session stored as rows (no samples): summary and phases as the runner writes them."""
    day, setting, minutes, status, site = spec
    start = dt.datetime(2026, 11, day, 10, 0).timestamp()
    sid = db.create_session(
        SUBJECT, f"course-{setting}", myoware_info(), started_at=start, course_id=course_id,
        setting=setting, electrode_site=site,
        hardware={"imported": {"format": "EDF+"}} if n == 12 else {},
    )  # fmt: skip
    responses = []
    if n == 7:
        responses.append({"phase": "what helped", "kind": "reflection", "prompt": "What helped?",
                          "status": "answered", "answers": {"reflection": REFLECTION}})  # fmt: skip
    if n == 4:
        answers = {"situation": "carrying shopping", "thought": THOUGHT, "belief_before": 80}
        responses.append({"phase": "thought record", "kind": "thought-record", "prompt": "",
                          "status": "answered", "answers": answers, "private": True})  # fmt: skip
    summary = {
        "baseline_uv": 10.0 - 0.5 * n,
        "training_pct_below": 40.0 + 3 * n,
        "recovery_s": 8.0 - 0.3 * n,
        "pct_excluded": 1.0 + (n % 3),
        "responses": responses,
    }
    db.finish_session(sid, status, summary)
    train_s = minutes * 60 - 60
    db.save_phases(
        sid,
        [
            {
                "name": "baseline",
                "kind": "baseline",
                "start_s": 0,
                "duration_s": 60,
                "median_uv": summary["baseline_uv"],
            },
            {
                "name": "train",
                "kind": "train",
                "start_s": 60,
                "duration_s": train_s,
                "pct_below": summary["training_pct_below"],
                "gaps_per_min": 5.0 + n,
                "rest_time_pct": 20.0 + n,
            },
        ],
        origin_index=0,
    )
    with db.transaction() as conn:  # the recorded extent (no samples are stored here)
        conn.execute(
            "UPDATE sessions SET first_index = 0, end_index = ? WHERE id = ?",
            (minutes * 60 * 1000, sid),
        )
    return sid


def _outcome(db: Database, timepoint: str, day: int, **answers: int) -> None:
    instrument = load_instrument("pain-nrs")
    checked = check_answers(instrument, answers)
    scores = {s.id: s.to_dict() for s in score_answers(instrument, checked)}
    add_outcome(
        db, SUBJECT, instrument.id, instrument.version, instrument.sha256, checked, scores,
        timepoint=timepoint, taken_at=dt.datetime(2026, 11, day, 9, 0).timestamp(),
    )  # fmt: skip


@pytest.fixture(scope="module")
def course_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("course") / "db.sqlite"
    with Database(path) as db:
        db.add_subject(SUBJECT, name="Ann Example")
        rx = Prescription(dt.date(2026, 11, 2), 5, 12, protocols=("course-home-practice",))
        course_id = start_course(
            db, SUBJECT, dt.date(2026, 11, 2), rx, clinician="Dr K", muscle="upper trapezius",
            electrode_site=SITE, planned_clinic_sessions=6,
        )  # fmt: skip
        course = current_course(db, SUBJECT)
        change_prescription(db, course, dt.date(2026, 11, 16), {"sessions_per_week": 4})
        for n, spec in enumerate(SESSIONS):
            _store_session(db, course_id, n, spec)
        _outcome(db, "baseline", 2, now=6, average=7, worst=9)
        _outcome(db, "session 3", 16, now=5, average=5, worst=8)
        _outcome(db, "end", 27, now=3, average=4, worst=8)
        end_course(db, SUBJECT, dt.date(2026, 11, 29))
    return path


def pdf_text(data: bytes) -> str:
    """The text matplotlib wrote into a PDF, one line per text item (its Type 3 fonts keep
    Latin-1 character codes; kerning splits a string into pieces of one TJ array; a ligature
    such as "fl" is one glyph of another subset and reads as one control character)."""
    lines = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            content = zlib.decompress(match.group(1))
        except zlib.error:
            continue
        for block in re.findall(rb"BT(.*?)ET", content, re.S):
            pieces = re.findall(rb"\(((?:\\.|[^\\)])*)\)", block)
            text = b"".join(re.sub(rb"\\([()\\])", rb"\1", p) for p in pieces)
            if text:
                lines.append(text.decode("latin-1"))
    return "\n".join(lines)


def _expected_outcome_cells(db: Database) -> list[tuple[str, str, str]]:
    """(timepoint, score name, change text) as ``outcomes show`` computes them."""
    records = list_outcomes(db, SUBJECT, "pain-nrs")
    table = change_table(
        load_instrument("pain-nrs"),
        [Measurement(r.taken_at, r.timepoint, r.scores, r.id) for r in records],
    )
    out = []
    for row in table[1:]:
        for score_id, cell in row.cells.items():
            name = row.measurement.scores[score_id]["name"]
            change, percent = cell["change"]["change"], cell["change"]["change_percent"]
            side = "better" if percent >= 0 else "worse"
            text = f"{change:+g} ({abs(percent):.0f} % {side})"  # as outcomes show prints it
            out.append((row.measurement.timepoint, name, text))
    return out


def test_pdf_text_matches_the_store(course_db: Path, tmp_path: Path) -> None:
    with Database(course_db) as db:
        out = write_course_report(db, SUBJECT, tmp_path / "course.pdf")
        expected = _expected_outcome_cells(db)
    assert out.stat().st_mode & 0o777 == 0o600
    text = pdf_text(out.read_bytes())
    lines = text.splitlines()
    assert "Subject P001" in text and "Ann Example" not in text  # the id, never the name
    assert "Clinician Dr K" in text and "upper trapezius" in text
    assert "13: 3 clinic of 6 planned, 10 home, 1 interrupted" in text
    assert "from 2026-11-16: 4 sessions a week of 12 min" in text
    # outcomes: every later questionnaire's change from baseline, as outcomes show has it
    assert len(expected) == 6
    for timepoint, name, change in expected:
        assert timepoint in lines and name in lines and change in lines, (timepoint, name, change)
    assert "-3 (43 % better)" in lines and "yes, better" in lines
    assert "important improvement" in lines and "no" in lines
    # adherence per week: 3 of the 5 prescribed home sessions in the first week
    assert "2026-W45" in lines and "3 of 5" in lines and "4 of 4" in lines
    # the electrode site change is flagged where it happened, in words
    assert f"CHANGED (was: {SITE})" in lines and lines.count(NEW_SITE) >= 9
    assert "interrupted" in lines and "stopped after 8.0 min" in text
    assert lines.count("imported EDF+") == 1 and lines.count("recorded") == 12
    assert "EMG gaps per min in training" in text and "clinic session" in text
    assert NO_THOUGHT_RECORDS in text and THOUGHT not in text and REFLECTION not in text
    assert "not a medical device" in text


def test_thought_records_only_on_request(course_db: Path, tmp_path: Path) -> None:
    with Database(course_db) as db:
        pdf = write_course_report(db, SUBJECT, tmp_path / "c.pdf", thought_records=True)
        page = write_course_report(db, SUBJECT, tmp_path / "c.html", thought_records=True)
        plain = write_course_report(db, SUBJECT, tmp_path / "plain.html")
    text = pdf_text(pdf.read_bytes())
    assert (
        f"Automatic thought: {THOUGHT}" in text and "How strongly do you believe it? 80 %" in text
    )
    assert re.search(r"Session 8 \(2026-11-16\): re.{1,2}ection 'what helped'", text)  # fl: 1 glyph
    assert f"What helped? {REFLECTION}" in text and NO_THOUGHT_RECORDS not in text
    assert THOUGHT in page.read_text(encoding="utf-8")
    plain_text = plain.read_text(encoding="utf-8")
    assert THOUGHT not in plain_text and NO_THOUGHT_RECORDS in plain_text


def test_html_is_self_contained_and_says_the_same(course_db: Path, tmp_path: Path) -> None:
    with Database(course_db) as db:
        page = write_course_report(db, SUBJECT, tmp_path / "course.html").read_text("utf-8")
        expected = _expected_outcome_cells(db)
    assert "<svg" in page and "Ann Example" not in page
    # nothing is fetched: links only to the page's own SVG glyphs (http URIs name namespaces)
    assert all(v.startswith("#") for v in re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', page))
    assert not re.search(r"<(link|script|img|iframe)\b|url\((?!#)|@import", page)
    for _, name, change in expected:
        assert f"<td>{name}</td>" in page and f"<td>{change}</td>" in page
    assert "<td>3 of 5</td>" in page and f"CHANGED (was: {SITE})" in page


def test_report_data_reads_the_stored_measures(course_db: Path) -> None:
    with Database(course_db) as db:
        data = collect_course(db, SUBJECT)
    assert [s.number for s in data.sessions] == list(range(1, 14))
    first, moved = data.sessions[0], data.sessions[4]
    assert first.baseline_uv == 10.0 and first.pct_below == 40.0 and first.gaps_per_min == 5.0
    assert first.site == SITE and not first.site_changed
    assert moved.site_changed and moved.previous_site == SITE
    assert not data.sessions[5].site_changed  # the same new site again: no second flag
    assert [s.session_id for s in data.interrupted] == [data.sessions[5].session_id]
    assert [w.sessions_done for w in data.adherence.weeks] == [3, 2, 4, 1]
    assert data.thought_records is None
    assert data.outcomes[0].rules == [
        "Every score: important change (MCID) 2 points or 30 % of baseline; lower is better"
    ]


def test_a_course_with_nothing_recorded_yet_still_renders(tmp_path: Path) -> None:
    with Database(tmp_path / "db.sqlite") as db:
        db.add_subject("P003")
        start_course(db, "P003", dt.date(2026, 11, 30), Prescription(dt.date(2026, 11, 30), 3, 10))
        pdf = write_course_report(db, "P003", tmp_path / "new.pdf")
        page = write_course_report(db, "P003", tmp_path / "new.html").read_text("utf-8")
    text = pdf_text(pdf.read_bytes())
    assert "0: 0 clinic, 0 home, 0 interrupted" in text and "no data" in text
    assert "No questionnaires were recorded in this course." in page
    assert "from 2026-11-30: 3 sessions a week of 10 min" in page


def test_errors_say_what_to_do(course_db: Path, tmp_path: Path) -> None:
    with Database(course_db) as db:
        with pytest.raises(StorageError, match=r"no subject P404.*subjects add"):
            write_course_report(db, "P404", tmp_path / "x.pdf")
        db.add_subject("P002")
        with pytest.raises(StorageError, match=r"P002 has no course.*course start"):
            write_course_report(db, "P002", tmp_path / "x.pdf")
        with pytest.raises(StorageError, match=r"\.pdf or \.html"):
            write_course_report(db, SUBJECT, tmp_path / "x.docx")
        with pytest.raises(StorageError, match="has no course ffff"):
            write_course_report(db, SUBJECT, tmp_path / "x.pdf", course_uid="ffff")
    assert not list(tmp_path.iterdir())


def test_cli_writes_the_report_and_refuses_bad_input(course_db: Path, tmp_path: Path) -> None:
    base = [sys.executable, "-m", "biofeedback", "--data-dir", str(tmp_path / "data")]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "biofeedback.sqlite").write_bytes(course_db.read_bytes())
    target = tmp_path / "out.pdf"
    done = subprocess.run(
        [*base, "course", "report", "--subject", SUBJECT, "-o", str(target), "--thought-records"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(target) and THOUGHT in pdf_text(target.read_bytes())
    bad = subprocess.run(
        [*base, "course", "report", "--subject", "P404", "-o", str(tmp_path / "y.pdf")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "no subject P404" in bad.stderr


def test_an_open_course_says_from_and_open_in_the_heading_and_the_body(tmp_path: Path) -> None:
    start = dt.date.today() - dt.timedelta(days=3)
    with Database(tmp_path / "db.sqlite") as db:
        db.add_subject("P004")
        start_course(db, "P004", start, Prescription(start, 3, 10))
        pdf = write_course_report(db, "P004", tmp_path / "open.pdf")
        page = write_course_report(db, "P004", tmp_path / "open.html").read_text("utf-8")
    for text in (pdf_text(pdf.read_bytes()), page):
        assert text.count(f"from {start} (open)") >= 2, text  # the heading and the course row
        assert "to open" not in text and "today (open)" not in text
        assert "Home practice: 0 of 3 this week." in text and "This week:" not in text
