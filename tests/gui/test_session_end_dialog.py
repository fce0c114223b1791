"""The end-of-session dialog: the summary, Open report (the report written and its URL handed to
the viewer, as History does), History and Close; a session that cannot be read is said."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QUrl
from PySide6.QtWidgets import QWidget

from biofeedback import cli
from biofeedback.gui.session_end_dialog import end_summary, show_session_end
from biofeedback.gui.session_files import REPORTS_FOLDER
from biofeedback.session import SessionResult
from biofeedback.storage.database import Database

SOURCE = "sim://?scenario=relax&board=12bit&channels=raw,ref&speed=max&seed=5"


@pytest.fixture
def finished(capsys: pytest.CaptureFixture[str]) -> SessionResult:
    assert cli.main(["record", "--subject", "P22", "--duration", "6", "--source", SOURCE]) == 0
    capsys.readouterr()
    with Database() as db:
        record = db.list_sessions("P22")[-1]
    return SessionResult(
        record.id, record.status, {"duration_s": 6.0}, patient_text="Well done: 6 s of calm."
    )


@pytest.fixture
def parent(qtbot) -> QWidget:
    """The window the dialog belongs to (kept alive for the whole test)."""
    widget = QWidget()
    qtbot.addWidget(widget)
    widget.show()
    return widget


def test_open_report_writes_it_and_hands_its_url_to_the_viewer(qtbot, parent, finished) -> None:
    urls: list[QUrl] = []
    dialog = show_session_end(parent, finished, None, opener=lambda url: urls.append(url) or True)
    assert dialog.isVisible() and dialog.windowTitle() == "Session finished"
    text = dialog.summary.text()
    assert text == f"Well done: 6 s of calm.\n\nSaved as session {finished.session_id} (complete)."
    assert "biofeedback report" not in text  # a button, not a terminal command
    assert not dialog.history_button.isVisible()  # no on_history given
    qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.status.text().startswith("Opened the report "), timeout=90000)
    assert len(urls) == 1 and dialog.open_button.isEnabled()
    pdf = Path(urls[0].toLocalFile())
    with Database() as db:
        assert pdf.parent == Path(db.path).parent / REPORTS_FOLDER
    assert pdf.read_bytes()[:5] == b"%PDF-" and f"session-{finished.session_id}-" in pdf.name
    qtbot.mouseClick(dialog.close_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()


def test_a_viewer_that_does_not_open_it_is_said(qtbot, parent, finished) -> None:
    dialog = show_session_end(parent, finished, None, opener=lambda url: False)
    dialog.open_report()
    qtbot.waitUntil(lambda: dialog.status.text().startswith("No viewer"), timeout=90000)
    assert dialog.status.text().endswith("yourself (it is written)")
    dialog.close()


def test_history_closes_the_dialog_and_opens_the_history(qtbot, parent, finished) -> None:
    asked: list[bool] = []
    dialog = show_session_end(parent, finished, None, on_history=lambda: asked.append(True))
    assert dialog.history_button.isVisible()
    qtbot.mouseClick(dialog.history_button, Qt.MouseButton.LeftButton)
    assert asked == [True] and not dialog.isVisible()


def test_a_session_that_cannot_be_read_is_said(qtbot, parent) -> None:
    with Database() as db:
        path = db.path
    gone = SessionResult(41, "interrupted", {})
    dialog = show_session_end(parent, gone, path, opener=lambda url: True)
    assert dialog.summary.text() == "Saved as session 41 (interrupted)."
    assert dialog.open_report() is None
    assert dialog.status.text().startswith("No report: there is no session 41 in ")
    dialog.close()


def test_the_summary_without_a_patient_text_says_how_long() -> None:
    result = SessionResult(3, "complete", {"duration_s": 125.0})
    assert end_summary(result).startswith("Recorded ")
    assert end_summary(result).endswith("\n\nSaved as session 3 (complete).")
