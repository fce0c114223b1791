"""Session > Import recording…: the file chosen (injected here instead of a real file dialog) is
stored through the same code as ``biofeedback import`` and appears in the subject's history."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import edfio
import numpy as np
import pytest
from PySide6.QtWidgets import QDialogButtonBox, QFileDialog, QMessageBox, QPushButton

from biofeedback.gui import import_dialog
from biofeedback.gui.main_window import MainWindow
from biofeedback.storage.database import Database

SOURCE = "sim://?scenario=steady&level_uv=20&board=12bit&channels=raw&speed=4&seed=1"


def write_edf(path: Path) -> None:
    fs = 500
    t = np.arange(6 * fs) / fs
    signal = edfio.EdfSignal(
        40.0 * np.sin(2 * np.pi * 90 * t),
        sampling_frequency=fs,
        label="EMG forearm",
        physical_dimension="uV",
        physical_range=(-100.0, 100.0),
    )
    edfio.Edf(
        [signal],
        recording=edfio.Recording(startdate=dt.date(2022, 6, 1)),
        starttime=dt.time(8, 15, 0),
        annotations=[edfio.EdfAnnotation(1.0, None, "rest")],
    ).write(path)


@pytest.fixture
def window(qtbot, tmp_path: Path) -> MainWindow:
    win = MainWindow(
        SOURCE,
        safety_check=False,
        audio=False,
        remember=False,
        db_path=str(tmp_path / "store.sqlite"),
    )
    qtbot.addWidget(win)
    win.session_panel.subject.setText("P031")
    return win


def press_import(dialog: import_dialog.ImportDialog) -> None:
    buttons = dialog.findChild(QDialogButtonBox)
    buttons.button(QDialogButtonBox.StandardButton.Ok).click()


def test_the_menu_action_imports_the_chosen_file_into_the_history(
    qtbot, window: MainWindow, tmp_path: Path, monkeypatch
) -> None:
    path = tmp_path / "from the clinic.edf"
    write_edf(path)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args, **kwargs: (str(path), ""))
    session_menu = next(
        a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == "Session"
    )
    assert window.import_action in session_menu.actions()
    window.import_action.trigger()
    dialog = window.import_dialog
    assert dialog is not None and dialog.file_label.text() == path.name
    assert dialog.subject.text() == "P031"
    press_import(dialog)
    qtbot.waitUntil(lambda: dialog.result_ is not None, timeout=20000)
    with Database(tmp_path / "store.sqlite") as db:
        record = db.get_session(dialog.result_.session_id)
        markers = db.markers(record.id)
    assert record.subject_id == "P031" and record.n_samples == 3000
    assert record.started_at == dt.datetime(2022, 6, 1, 8, 15).timestamp()
    assert [(m["sample_index"], m["label"]) for m in markers] == [(500, "rest")]
    history = window.history_dialog
    qtbot.waitUntil(lambda: history.isVisible(), timeout=5000)
    assert history.current_subject() == "P031"
    assert history.table.rowCount() == 1 and history.table.item(0, 0).text() == "2022-06-01"
    history.close()


def test_a_file_that_cannot_be_read_is_one_line_in_a_message_box(
    qtbot, window: MainWindow, tmp_path: Path, monkeypatch
) -> None:
    path = tmp_path / "samples.csv"
    path.write_text("1\n2\n3\n")
    shown: list[str] = []
    monkeypatch.setattr(
        QMessageBox, "warning", lambda _parent, _title, text, *a, **k: shown.append(text)
    )
    window.import_recording(str(path))
    dialog = window.import_dialog
    assert dialog is not None
    press_import(dialog)
    qtbot.waitUntil(lambda: len(shown) == 1, timeout=20000)
    assert "\n" not in shown[0] and "fs=" in shown[0]
    assert dialog.isVisible() and dialog.error.text() == shown[0]
    dialog.fs.setText("100")
    dialog.units.setCurrentIndex(dialog.units.findData("mV"))
    press_import(dialog)
    qtbot.waitUntil(lambda: dialog.result_ is not None, timeout=20000)
    assert dialog.result_.fs_hz == 100.0
    assert len(shown) == 1
    window.history_dialog.close()


def test_cancelling_the_file_dialog_opens_nothing(qtbot, window: MainWindow, monkeypatch) -> None:
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args, **kwargs: ("", ""))
    window.import_action.trigger()
    assert window.import_dialog is None


def test_a_rate_that_is_not_a_number_is_one_line(qtbot, window: MainWindow, tmp_path, monkeypatch):
    shown: list[str] = []
    monkeypatch.setattr(
        QMessageBox, "warning", lambda _parent, _title, text, *a, **k: shown.append(text)
    )
    path = tmp_path / "x.csv"
    path.write_text("1\n2\n")
    window.import_recording(str(path))
    window.import_dialog.fs.setText("fast")
    press_import(window.import_dialog)
    assert shown == ["sampling rate 'fast': give a number of samples per second, e.g. 1000"]


def test_cancel_stops_the_import_and_stores_nothing(
    qtbot, window: MainWindow, tmp_path: Path, monkeypatch
) -> None:
    import time

    from biofeedback.storage import import_session

    path = tmp_path / "long.edf"
    write_edf(path)
    started = []

    def slow_write(db, session_id, recording, progress):
        started.append(session_id)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            progress(0.5, "storing the samples")  # raises once cancelled
            time.sleep(0.01)
        raise AssertionError("the import was not cancelled")

    monkeypatch.setattr(import_session, "_write_samples", slow_write)
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: shown.append(a[2]))
    window.import_recording(str(path))
    dialog = window.import_dialog
    press_import(dialog)
    qtbot.waitUntil(lambda: bool(started) and dialog.progress is not None, timeout=20000)
    dialog.progress.findChild(QPushButton).click()  # the progress dialog's Cancel
    qtbot.waitUntil(lambda: not dialog.running, timeout=20000)
    qtbot.waitUntil(lambda: "cancelled" in dialog.error.text(), timeout=5000)
    assert shown == [] and dialog.result_ is None
    with Database(tmp_path / "store.sqlite") as db:
        assert db.list_sessions() == []


def test_a_session_without_a_subject_shows_among_those_without_one(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:
    from biofeedback.gui.history_panel import NO_SUBJECT

    with Database(tmp_path / "store.sqlite") as db:
        db.ensure_subject("P001")  # another subject, listed first
    path = tmp_path / "anonymous.edf"
    write_edf(path)
    window.import_recording(str(path))
    dialog = window.import_dialog
    dialog.subject.setText("")
    press_import(dialog)
    qtbot.waitUntil(lambda: dialog.result_ is not None, timeout=20000)
    history = window.history_dialog
    assert history.subject.currentText() == NO_SUBJECT and history.current_subject() is None
    assert history.table.rowCount() == 1 and history.table.item(0, 0).text() == "2022-06-01"
    history.close()
