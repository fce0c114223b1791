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
from biofeedback.storage.database import Database

SIM = "sim://?scenario=learner&speed=max"


@pytest.fixture(autouse=True)
def _themed(qapp):
    """With the application theme, as the real window runs."""
    from biofeedback.gui.theme import apply_theme

    apply_theme(qapp)
    return qapp


def record(capsys: pytest.CaptureFixture[str], data_dir: Path, *how: str) -> None:
    """A session of P1 in ``data_dir``: 20 s plain, or ``how`` (e.g. a protocol)."""
    argv = ["--data-dir", str(data_dir), "record", "--source", SIM, "--subject", "P1"]
    code = main([*argv, *(how or ("--duration", "20"))])
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
def station_rows(
    capsys, tmp_path: Path, clinic_url: str, monkeypatch: pytest.MonkeyPatch, qtbot
) -> list[list[str]]:
    """Two sessions of P1 recorded on a station and synced; the station's own History rows."""
    init_clinic(clinic_url)
    station = tmp_path / "station"
    for _ in range(2):  # guided: baseline, % below and recovery to compare
        record(capsys, station, "--protocol", "course-home-practice")
    monkeypatch.setenv("BIOFEEDBACK_HOME", str(station))
    with Database() as db:
        result = sync(db, clinic_url)
    assert result.pushed_sessions == 2 and not result.errors, result.text()
    dialog = HistoryDialog("P1")
    qtbot.addWidget(dialog)
    assert dialog.clinic is None  # this station has no clinic configured: no choice
    shown = rows(dialog)
    dialog.close()
    assert len(shown) == 2 and {r[1] for r in shown} == {"course-home-practice"}
    assert all(r[5] != "–" and r[6] != "–" for r in shown)  # baseline and % below
    return shown


def test_history_from_the_clinic_equals_the_station_s_own(
    capsys, tmp_path: Path, clinic_url: str, pg_cluster, station_rows, monkeypatch, qtbot
) -> None:
    desk = tmp_path / "desk"
    record(capsys, desk)  # the second station has one session of P1 of its own
    monkeypatch.setenv("BIOFEEDBACK_HOME", str(desk))
    save_clinic(clinic_url)
    dialog = HistoryDialog("P1")
    qtbot.addWidget(dialog)
    assert dialog.clinic is not None
    assert dialog.clinic.source.itemText(1) == f"Clinic ({clinic_place(clinic_url)})"
    here = rows(dialog)
    assert len(here) == 1 and here[0] not in station_rows
    choose(dialog, CLINIC)
    assert dialog.message.text().startswith("Reading from the clinic")
    qtbot.waitUntil(lambda: dialog.from_clinic, timeout=60000)
    assert rows(dialog) == station_rows  # protocol, setting, baseline, % below: all the same
    assert [dialog.subject.itemText(i) for i in range(dialog.subject.count())] == ["P1"]
    assert dialog.headline.text().startswith("P1: 2 sessions")
    dialog.table.selectRow(0)
    assert dialog.report_button.isEnabled() and dialog.export_button.isEnabled()
    assert not dialog.delete_button.isEnabled()
    assert dialog.delete_button.toolTip() == DELETE_AT_CLINIC
    assert not dialog.save_goal.isEnabled() and not dialog.reminder.isEnabled()
    report = tmp_path / "from-clinic.html"
    dialog.write_report(lambda *a: str(report))
    qtbot.waitUntil(lambda: dialog.message.text() == f"Saved {report}", timeout=60000)
    assert "P1" in report.read_text(encoding="utf-8")
    choose(dialog, LOCAL)  # back to this computer: its own session, Delete… again
    assert not dialog.from_clinic and rows(dialog) == here
    dialog.table.selectRow(0)
    assert dialog.delete_button.isEnabled()
    try:
        pg_cluster.stop()
        choose(dialog, CLINIC)
        qtbot.waitUntil(lambda: dialog.clinic.source.isEnabled(), timeout=60000)
        text = dialog.message.text()
        assert text.startswith("cannot reach the clinic") and "\n" not in text, text
        assert dialog.clinic.source.currentData() == LOCAL and not dialog.from_clinic
        assert rows(dialog) == here and dialog.subject.isEnabled()
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
