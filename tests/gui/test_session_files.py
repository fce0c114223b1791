"""History > Report… and Export…: the chosen session's report and exports from the window, on a
worker thread, with the same files as ``biofeedback report`` / ``export``."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from biofeedback import cli
from biofeedback.gui import session_files
from biofeedback.gui.history_panel import HistoryDialog
from biofeedback.gui.session_files import EXPORT_CHOICES, suggested_name

SOURCE = "sim://?scenario=relax&board=12bit&channels=raw,ref&speed=max&seed=5"


@pytest.fixture
def recorded(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["record", "--subject", "P20", "--duration", "20", "--source", SOURCE]) == 0
    capsys.readouterr()


def test_report_and_exports_of_the_chosen_session(qtbot, tmp_path: Path, recorded) -> None:
    dialog = HistoryDialog("P20")
    qtbot.addWidget(dialog)
    assert not dialog.report_button.isEnabled() and dialog.export() is None  # nothing chosen
    dialog.table.selectRow(0)
    assert dialog.report_button.isEnabled() and dialog.export_button.isEnabled()
    record = dialog.selected_session()
    assert record is not None and record.subject_id == "P20"
    assert suggested_name(record, "report", ".pdf").startswith("P20-")

    asked: list[str] = []

    def to(path: Path):
        def ask(title: str, name: str, file_filter: str) -> str:
            asked.append(name)
            return str(path)

        return ask

    compact = tmp_path / "compact.csv"
    dialog.export(EXPORT_CHOICES[0], to(compact))
    qtbot.waitUntil(lambda: dialog.message.text() == f"Saved {compact}", timeout=30000)
    with compact.open() as f:
        rows = [r for r in csv.reader(f) if r and not r[0].startswith("#")]
    assert 1900 <= len(rows) - 1 <= 2100  # 20 s at 100 rows a second, plus the header
    edf = tmp_path / "s.edf"
    dialog.export(EXPORT_CHOICES[2], to(edf))
    qtbot.waitUntil(lambda: dialog.message.text() == f"Saved {edf}", timeout=30000)
    assert edf.read_bytes()[:8] == b"0       "
    report = tmp_path / "r.html"
    dialog.write_report(to(report))
    qtbot.waitUntil(lambda: dialog.message.text() == f"Saved {report}", timeout=60000)
    assert "P20" in report.read_text(encoding="utf-8")
    assert asked[0].endswith("-compact.csv") and asked[-1].endswith("-report.pdf")
    assert dialog.write_report(lambda *a: "") is None  # cancelled in the file dialog
    dialog.close()


def test_a_failure_is_one_line_and_nothing_is_written(
    qtbot, tmp_path: Path, recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown: list[str] = []
    monkeypatch.setattr(
        session_files.QMessageBox, "warning", lambda _p, _t, text: shown.append(text)
    )
    dialog = HistoryDialog("P20")
    qtbot.addWidget(dialog)
    dialog.table.selectRow(0)
    target = tmp_path / "missing-folder" / "x.txt"
    dialog.export(EXPORT_CHOICES[1], lambda *a: str(target))
    qtbot.waitUntil(lambda: bool(shown), timeout=30000)
    assert len(shown) == 1 and "\n" not in shown[0] and not target.exists()
    assert "Saved" not in dialog.message.text()
    dialog.close()
