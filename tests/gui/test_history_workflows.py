"""History's row actions driven from the dialog: Open report (the report written beside the store,
its URL handed to the viewer), Export…, Notes and pain… (stored, shown in the row), and Delete…
with Undo delete (the store changes only when the undo time ends or the dialog closes)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QUrl

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "storage"))
from storage_helpers import myoware_info

from biofeedback import cli
from biofeedback.gui import history_panel
from biofeedback.gui.history_panel import COLUMNS, HistoryDialog
from biofeedback.gui.session_files import EXPORT_CHOICES, REPORTS_FOLDER
from biofeedback.storage.annotations import NOTES_MAX_CHARS
from biofeedback.storage.database import Database

SOURCE = "sim://?scenario=relax&board=12bit&channels=raw,ref&speed=max&seed=5"


@pytest.fixture
def recorded(capsys: pytest.CaptureFixture[str]) -> int:
    assert cli.main(["record", "--subject", "P21", "--duration", "8", "--source", SOURCE]) == 0
    capsys.readouterr()
    with Database() as db:
        return db.list_sessions("P21")[-1].id


def _stored_sessions(count: int) -> list[int]:
    """``count`` finished sessions of P001 on consecutive days (no samples: quick)."""
    ids = []
    with Database() as db:
        for day in range(count):
            when = dt.datetime(2026, 12, 1, 9) + dt.timedelta(days=day)
            sid = db.create_session("P001", "relax", myoware_info(), started_at=when.timestamp())
            db.finish_session(sid, "complete")
            ids.append(sid)
    return ids


def _history(qtbot, subject: str) -> HistoryDialog:
    dialog = HistoryDialog(subject)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def _row_of(dialog: HistoryDialog, session_id: int) -> int:
    newest_first = list(reversed(dialog.points))
    return next(i for i, p in enumerate(newest_first) if p.session_id == session_id)


def _ids_in_store() -> list[int]:
    with Database() as db:
        return [s.id for s in db.list_sessions()]


def test_open_report_writes_the_pdf_and_hands_its_url_to_the_viewer(qtbot, recorded) -> None:
    dialog = _history(qtbot, "P21")
    assert not dialog.open_button.isEnabled()  # nothing chosen
    dialog.table.selectRow(0)
    urls: list[QUrl] = []
    dialog.opener = lambda url: urls.append(url) or True
    qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.message.text().startswith("Opened the report "), timeout=90000)
    assert len(urls) == 1 and urls[0].isLocalFile()
    pdf = Path(urls[0].toLocalFile())
    with Database() as db:
        assert pdf.parent == Path(db.path).parent / REPORTS_FOLDER
    assert pdf.name.startswith("P21-") and pdf.name.endswith(f"-session-{recorded}-report.pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-" and dialog.message.text().endswith(str(pdf))
    # no viewer for PDFs: the dialog says where the file is
    dialog.opener = lambda url: False
    dialog.message.clear()
    qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(dialog.message.text()), timeout=90000)
    assert dialog.message.text() == (
        f"No viewer opened the report: open {pdf} yourself (it is written)"
    )
    dialog.close()


def test_export_from_a_row_writes_edf(qtbot, tmp_path: Path, recorded) -> None:
    dialog = _history(qtbot, "P21")
    dialog.table.selectRow(0)
    edf = tmp_path / "row.edf"
    dialog.export(EXPORT_CHOICES[2], lambda *a: str(edf))
    qtbot.waitUntil(lambda: dialog.message.text() == f"Saved {edf}", timeout=30000)
    assert edf.read_bytes()[:8] == b"0       " and edf.stat().st_size > 10000
    dialog.close()


def test_notes_and_pain_after_are_stored_and_shown_in_the_row(qtbot) -> None:
    first, second = _stored_sessions(2)
    with Database() as db:
        revision = db.get_session(first).revision
    dialog = _history(qtbot, "P001")
    dialog.table.selectRow(_row_of(dialog, first))
    qtbot.mouseClick(dialog.annotate_button, Qt.MouseButton.LeftButton)
    form = dialog.annotate_form
    assert form is not None and form.isVisible() and form.pain.text() == "not asked"
    form.notes.setPlainText("x" * (NOTES_MAX_CHARS + 1))  # refused: the form stays open
    form.accept()
    assert form.isVisible() and f"at most {NOTES_MAX_CHARS}" in form.error.text()
    form.notes.setPlainText("Shoulders dropped in trial 3.\nTry 5.5 breaths/min next.")
    form.pain.setValue(3)
    form.accept()
    qtbot.waitUntil(lambda: not form.isVisible())
    row = _row_of(dialog, first)
    notes = dialog.table.item(row, COLUMNS.index("notes")).text()
    assert notes == "Shoulders dropped in trial 3.…"
    assert dialog.table.item(row, COLUMNS.index("pain before → after")).text() == "– → 3"
    assert dialog.message.text().startswith(
        f"Saved the notes and pain-after rating of session {first}"
    )
    with Database() as db:
        stored = db.get_session(first)
        assert db.get_session(second).notes == ""
    assert stored.notes.endswith("5.5 breaths/min next.") and stored.pain_after == 3
    assert stored.revision > revision  # bundles and sync see the newer copy
    dialog.annotate().pain.setValue(history_panel.AnnotateForm.NOT_ASKED)  # row still chosen
    dialog.annotate_form.accept()
    qtbot.waitUntil(lambda: dialog.message.text().startswith("Saved"))
    with Database() as db:
        assert db.get_session(first).pain_after is None
    dialog.close()


def test_delete_then_undo_brings_it_back_and_nothing_was_written(qtbot, monkeypatch) -> None:
    keep, target = _stored_sessions(2)
    monkeypatch.setattr(history_panel, "ask_delete", lambda _parent, _label: True)
    dialog = _history(qtbot, "P001")
    dialog.table.selectRow(_row_of(dialog, target))
    assert not dialog.undo_button.isVisible()
    qtbot.mouseClick(dialog.delete_button, Qt.MouseButton.LeftButton)
    assert dialog.table.rowCount() == 1 and [p.session_id for p in dialog.points] == [keep]
    assert dialog.undo_button.isVisible() and "Undo delete brings it back" in dialog.message.text()
    assert _ids_in_store() == [keep, target]  # only hidden until the undo time ends
    qtbot.mouseClick(dialog.undo_button, Qt.MouseButton.LeftButton)
    assert dialog.table.rowCount() == 2 and not dialog.undo_button.isVisible()
    assert dialog.message.text().startswith(f"Kept session {target} ")
    dialog.close()
    assert _ids_in_store() == [keep, target]


def test_delete_then_close_or_the_undo_time_ending_removes_it(qtbot, monkeypatch) -> None:
    keep, first, second = _stored_sessions(3)
    monkeypatch.setattr(history_panel, "ask_delete", lambda _parent, _label: True)
    dialog = _history(qtbot, "P001")
    dialog.undo_timer.setInterval(200)  # the undo time (30 s in use), short for the test
    dialog.table.selectRow(_row_of(dialog, first))
    qtbot.mouseClick(dialog.delete_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: first not in _ids_in_store(), timeout=10000)
    assert not dialog.undo_button.isVisible() and dialog.table.rowCount() == 2
    assert dialog.message.text().endswith("(no longer undoable).")
    assert not dialog.undo_delete()
    dialog.undo_timer.setInterval(history_panel.UNDO_SECONDS * 1000)
    dialog.table.selectRow(_row_of(dialog, second))
    qtbot.mouseClick(dialog.delete_button, Qt.MouseButton.LeftButton)
    assert _ids_in_store() == [keep, second]
    dialog.close()
    assert _ids_in_store() == [keep]


#: A window process that deletes a session and dies within the undo time (no close, no purge).
CRASH_CHILD = """
import os
from PySide6.QtWidgets import QApplication
app = QApplication(["crash-child"])
from biofeedback.gui.history_panel import HistoryDialog
dialog = HistoryDialog("P001")
dialog.show()
dialog.table.selectRow(0)
assert dialog.delete(lambda *a: True) and dialog.pending_delete is not None
assert dialog.table.rowCount() == 1
os._exit(3)
"""


def test_a_crash_within_the_undo_time_keeps_the_session() -> None:
    ids = _stored_sessions(2)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    run = subprocess.run(
        [sys.executable, "-c", CRASH_CHILD], env=env, capture_output=True, text=True, timeout=180
    )
    assert run.returncode == 3, run.stderr
    assert _ids_in_store() == ids  # nothing was removed: delete it again after the restart
