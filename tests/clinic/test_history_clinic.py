"""History in the window reading from the clinic (gui/clinic_history.py) against a real server:
a station's sessions synced to the clinic show on a second station exactly as on the first,
Report… works on them, Delete… does not; with the server stopped the choice is one line and
the dialog goes on with this computer's sessions. Without a clinic nothing changes."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import pytest

from biofeedback.cli import main
from biofeedback.clinic.connect import save_clinic
from biofeedback.clinic.migrate import init_clinic
from biofeedback.clinic.sync import sync
from biofeedback.gui.clinic_history import CLINIC, LOCAL, clinic_place
from biofeedback.gui.history_panel import DELETE_AT_CLINIC, HistoryDialog
from biofeedback.gui.session_files import EXPORT_CHOICES
from biofeedback.storage.database import Database

SIM = "sim://?scenario=learner&speed=max"


@pytest.fixture(autouse=True)
def _themed(qapp):
    """With the application theme, as the real window runs."""
    from biofeedback.gui.theme import apply_theme

    apply_theme(qapp)
    return qapp


def record(capsys: pytest.CaptureFixture[str], data_dir: Path, *how: str) -> None:
    """A session in ``data_dir``: ``how`` (a protocol, a subject), by default 20 s of P1."""
    how = how or ("--duration", "20")
    subject = () if "--subject" in how else ("--subject", "P1")
    code = main(["--data-dir", str(data_dir), "record", "--source", SIM, *subject, *how])
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()


def rows(dialog: HistoryDialog) -> list[list[str]]:
    table = dialog.table
    return [
        [table.item(r, c).text() for c in range(table.columnCount())]
        for r in range(table.rowCount())
    ]


def choose(dialog: HistoryDialog, source: str) -> None:
    assert dialog.clinic is not None
    dialog.clinic.source.setCurrentIndex(dialog.clinic.source.findData(source))


@pytest.fixture
def station(
    capsys, tmp_path: Path, clinic_url: str, monkeypatch: pytest.MonkeyPatch, qtbot
) -> dict[str, list[list[str]]]:
    """Two guided sessions of P1 and a plain one of P2 recorded on a station and synced; the
    station's own History rows per subject."""
    init_clinic(clinic_url)
    where = tmp_path / "station"
    for _ in range(2):  # guided: baseline, % below and recovery to compare
        record(capsys, where, "--protocol", "course-home-practice")
    record(capsys, where, "--subject", "P2", "--duration", "20")
    monkeypatch.setenv("BIOFEEDBACK_HOME", str(where))
    with Database() as db:
        result = sync(db, clinic_url)
    assert result.pushed_sessions == 3 and not result.errors, result.text()
    dialog = HistoryDialog("P1")
    qtbot.addWidget(dialog)
    assert dialog.clinic is None  # this station has no clinic configured: no choice
    shown = {"P1": rows(dialog)}
    dialog.subject.setCurrentIndex(dialog.subject.findData("P2"))
    shown["P2"] = rows(dialog)
    dialog.close()
    assert len(shown["P1"]) == 2 and {r[1] for r in shown["P1"]} == {"course-home-practice"}
    assert all(r[5] != "–" and r[6] != "–" for r in shown["P1"])  # baseline and % below
    assert len(shown["P2"]) == 1
    return shown


def desk_dialog(capsys, tmp_path: Path, clinic_url: str, monkeypatch, qtbot) -> HistoryDialog:
    """History on a second station with the clinic configured and one session of P1 of its own."""
    desk = tmp_path / "desk"
    record(capsys, desk)
    monkeypatch.setenv("BIOFEEDBACK_HOME", str(desk))
    save_clinic(clinic_url)
    dialog = HistoryDialog("P1")
    qtbot.addWidget(dialog)
    assert dialog.clinic is not None
    assert dialog.clinic.source.itemText(1) == f"Clinic ({clinic_place(clinic_url)})"
    return dialog


def without_id(path: Path) -> list[str]:
    """An export's lines but its session id (the clinic numbers sessions its own way)."""
    return [x for x in path.read_text().splitlines() if not x.startswith("# session:")]


def test_history_from_the_clinic_equals_the_station_s_own(
    capsys, tmp_path: Path, clinic_url: str, station, monkeypatch, qtbot
) -> None:
    dialog = desk_dialog(capsys, tmp_path, clinic_url, monkeypatch, qtbot)
    here = rows(dialog)
    assert len(here) == 1 and here[0] not in station["P1"]
    choose(dialog, CLINIC)
    assert dialog.message.text().startswith("Reading from the clinic")
    assert not dialog.from_clinic and not dialog.subject.isEnabled()  # on the worker thread
    qtbot.waitUntil(lambda: dialog.from_clinic, timeout=60000)
    assert rows(dialog) == station["P1"]  # protocol, setting, baseline, % below: all the same
    assert [dialog.subject.itemText(i) for i in range(dialog.subject.count())] == ["P1", "P2"]
    assert dialog.headline.text().startswith("P1: 2 sessions")
    dialog.table.selectRow(0)
    assert dialog.report_button.isEnabled() and dialog.export_button.isEnabled()
    assert not dialog.delete_button.isEnabled()
    assert dialog.delete_button.toolTip() == DELETE_AT_CLINIC
    assert not dialog.save_goal.isEnabled() and not dialog.reminder.isEnabled()
    report, csv = tmp_path / "from-clinic.html", tmp_path / "from-clinic.csv"
    dialog.write_report(lambda *a: str(report))
    qtbot.waitUntil(lambda: dialog.message.text() == f"Saved {report}", timeout=60000)
    assert "P1" in report.read_text(encoding="utf-8")
    chosen = dialog.selected_session()
    dialog.export(EXPORT_CHOICES[0], lambda *a: str(csv))
    qtbot.waitUntil(lambda: dialog.message.text() == f"Saved {csv}", timeout=60000)
    with Database(tmp_path / "station" / "biofeedback.sqlite") as db:
        mine = next(r.id for r in db.list_sessions("P1") if r.uid == chosen.uid)
    argv = ["--data-dir", str(tmp_path / "station"), "export", str(mine), "--format", "csv"]
    assert main([*argv, "--csv-rate", "100", "-o", str(tmp_path / "mine.csv")]) == 0
    assert without_id(csv) == without_id(tmp_path / "mine.csv")
    dialog.subject.setCurrentIndex(dialog.subject.findData("P2"))  # read from the clinic too
    qtbot.waitUntil(lambda: rows(dialog) == station["P2"], timeout=60000)
    choose(dialog, LOCAL)  # back to this computer: its own session, Delete… again
    dialog.subject.setCurrentIndex(dialog.subject.findData("P1"))
    assert not dialog.from_clinic and rows(dialog) == here
    dialog.table.selectRow(0)
    assert dialog.delete_button.isEnabled() and dialog.save_goal.isEnabled()
    dialog.close()


def test_a_clinic_out_of_reach_is_one_line_and_history_goes_on_here(
    capsys, tmp_path: Path, clinic_url: str, pg_cluster, station, monkeypatch, qtbot
) -> None:
    dialog = desk_dialog(capsys, tmp_path, clinic_url, monkeypatch, qtbot)
    here = rows(dialog)
    choose(dialog, CLINIC)
    qtbot.waitUntil(lambda: dialog.from_clinic, timeout=60000)
    assert dialog.clinic is not None
    try:
        pg_cluster.stop()
        dialog.subject.setCurrentIndex(dialog.subject.findData("P2"))  # gone while shown
        qtbot.waitUntil(lambda: dialog.clinic.source.isEnabled(), timeout=60000)
        text = dialog.message.text()
        assert text.startswith("cannot reach the clinic") and "\n" not in text, text
        assert dialog.clinic.source.currentData() == LOCAL and not dialog.from_clinic
        assert dialog.current_subject() == "P2" and rows(dialog) == []
        dialog.subject.setCurrentIndex(dialog.subject.findData("P1"))
        assert rows(dialog) == here
        choose(dialog, CLINIC)  # gone before the choice
        qtbot.waitUntil(lambda: dialog.clinic.source.isEnabled(), timeout=60000)
        text = dialog.message.text()
        assert text.startswith("cannot reach the clinic") and "\n" not in text, text
        assert dialog.clinic.source.currentData() == LOCAL and not dialog.from_clinic
        assert rows(dialog) == here and dialog.subject.isEnabled()
        dialog.table.selectRow(0)
        assert dialog.delete_button.isEnabled()
    finally:
        pg_cluster.start()
    dialog.close()


def test_without_a_clinic_history_has_no_source_choice(capsys, tmp_path: Path, qtbot) -> None:
    record(capsys, tmp_path / "alone")
    dialog = HistoryDialog("P1")
    qtbot.addWidget(dialog)
    assert dialog.clinic is None and not dialog.from_clinic
    assert len(rows(dialog)) == 1
    dialog.table.selectRow(0)
    assert dialog.delete_button.isEnabled()
    dialog.close()


@pytest.mark.parametrize(
    ("conninfo", "place"),
    [
        (
            "postgresql://desk1@db.clinic.example:5432/emg?sslmode=verify-full",
            "db.clinic.example/emg",
        ),
        ("postgresql://desk1:secret@db.clinic.example/emg", "db.clinic.example/emg"),
        ("service=clinic", "service clinic"),
        ("postgresql://desk1@/emg?host=/run/postgresql", "emg on this computer"),
    ],
)
def test_the_choice_names_the_clinic_without_user_or_password(conninfo: str, place: str) -> None:
    pytest.importorskip("psycopg")
    assert clinic_place(conninfo) == place
