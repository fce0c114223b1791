"""Session > Import recording…: store a recording made by another program as a session.

The same code path as ``biofeedback import``
(:func:`biofeedback.storage.import_session.import_file`): the file's own start time and markers
are kept, a file imported before is refused unless "Import again" is ticked, and what the file
does not state (rate, units, the XDF stream) can be given here. The import runs on a worker
thread, so the window stays responsive, with a progress dialog whose Cancel removes what was
stored. A failure is shown in a message box with the same one line the command prints (the form
stays open to correct the options); the imported session then appears in the history list of
its subject.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressDialog,
    QVBoxLayout,
    QWidget,
)

from biofeedback.errors import BiofeedbackError, SourceURLError
from biofeedback.storage.database import Database
from biofeedback.storage.import_session import ImportResult, import_file
from biofeedback.storage.importing import RecordingOptions

log = logging.getLogger(__name__)

#: What the file dialog offers (every other file can still be chosen with "All files").
FILE_FILTER = (
    "Recordings (*.edf *.bdf *.xdf *.xdfz *.wav *.csv *.txt *.tsv *.dat);;"
    "EDF / EDF+ / BDF (*.edf *.bdf);;XDF (*.xdf *.xdfz);;WAV (*.wav);;"
    "Text / CSV (*.csv *.txt *.tsv *.dat);;All files (*)"
)
#: Unit choices: (shown, option value; None = as the file states).
UNIT_CHOICES = [
    ("as the file states", None),
    ("µV", "uV"),
    ("mV", "mV"),
    ("V", "V"),
    ("ADC counts", "counts"),
]
BOARD_CHOICES = [
    ("-", None),
    ("Arduino Uno (10 bit, 5 V)", "uno"),
    ("12 bit, 3.3 V", "12bit"),
    ("Uno R4 (14 bit, 5 V)", "uno-r4"),
]


class _Cancelled(BiofeedbackError):
    """The user cancelled the import (the partly stored session is removed)."""


def choose_recording(parent: QWidget | None = None) -> str:
    """Ask for a recording file ("" when cancelled)."""
    path, _ = QFileDialog.getOpenFileName(parent, "Import recording", "", FILE_FILTER)
    return path


class ImportDialog(QDialog):
    """The chosen file, its subject and what the file may not state; Import stores it."""

    #: (session id, subject id or "") once a session was stored.
    imported = Signal(int, str)
    # from the worker thread (queued to the GUI thread): progress, result, failure
    _progressed = Signal(int, str)
    _done = Signal(object)
    _failed = Signal(str)

    def __init__(
        self,
        path: str,
        subject: str = "",
        db_path: str | Path | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import recording")
        self.db_path = db_path
        self.path = Path(path)
        self.result_: ImportResult | None = None
        self.progress: QProgressDialog | None = None
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._progressed.connect(self._on_progress)
        self._done.connect(self._on_done)
        self._failed.connect(self._on_failed)
        self.file_label = QLabel(self.path.name)
        self.file_label.setToolTip(str(self.path))
        self.subject = QLineEdit(subject)
        self.subject.setPlaceholderText("pseudonymous id, e.g. P007 (optional)")
        self.fs = QLineEdit()
        self.fs.setPlaceholderText("as the file states")
        self.units = QComboBox()
        for text, value in UNIT_CHOICES:
            self.units.addItem(text, value)
        self.board = QComboBox()
        for text, value in BOARD_CHOICES:
            self.board.addItem(text, value)
        self.stream = QLineEdit()
        self.stream.setPlaceholderText("XDF with several streams: name, type or number")
        self.again = QCheckBox("Import again if this file was imported before")
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setObjectName("muted")
        form = QFormLayout()
        form.addRow("File", self.file_label)
        form.addRow("Subject", self.subject)
        form.addRow("Sampling rate (Hz)", self.fs)
        form.addRow("Units", self.units)
        form.addRow("Board (for ADC counts)", self.board)
        form.addRow("Stream", self.stream)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.import_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.import_button.setText("Import")
        buttons.accepted.connect(self.run_import)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(
            QLabel("Stores the recording as a session with the file's own start time and markers.")
        )
        layout.addLayout(form)
        layout.addWidget(self.again)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def options(self) -> RecordingOptions:
        """What the form says about the file."""
        fs_text = self.fs.text().strip().replace(",", ".")
        fs: float | None = None
        if fs_text:
            try:
                fs = float(fs_text)
            except ValueError:
                raise SourceURLError(
                    f"sampling rate {fs_text!r}: give a number of samples per second, e.g. 1000"
                ) from None
            if not 0.1 <= fs <= 1e6:
                raise SourceURLError(f"sampling rate {fs:g} Hz: give 0.1 to 1000000 Hz")
        return RecordingOptions(
            fs_hz=fs,
            units=self.units.currentData(),
            board=self.board.currentData(),
            stream=self.stream.text().strip() or None,
        )

    @property
    def running(self) -> bool:
        """True while an import runs on its worker thread."""
        return self._thread is not None and self._thread.is_alive()

    def run_import(self) -> None:
        """Start storing the file on a worker thread (the window stays responsive); a progress
        dialog can cancel it. Success emits :attr:`imported` and closes the form; a failure shows
        the one line in a message box and keeps the form open to correct the options."""
        if self.running:
            return
        try:
            options = self.options()
        except BiofeedbackError as exc:
            self._on_failed(str(exc))
            return
        self.import_button.setEnabled(False)
        self.error.setText("")
        self._cancel.clear()
        progress = QProgressDialog(f"Importing {self.path.name}…", "Cancel", 0, 1000, self)
        progress.setWindowModality(Qt.WindowModality.WindowModal)
        progress.setMinimumDuration(500)
        progress.canceled.connect(self._cancel.set)
        self.progress = progress
        subject = self.subject.text().strip() or None
        self._thread = threading.Thread(
            target=self._work,
            args=(options, subject, self.again.isChecked()),
            name="biofeedback-import",
            daemon=True,
        )
        self._thread.start()

    def _work(self, options: RecordingOptions, subject: str | None, again: bool) -> None:
        """The worker thread: the same call as ``biofeedback import``."""
        try:
            with Database(self.db_path) as db:
                result = import_file(
                    db, self.path, options, subject_id=subject, again=again, progress=self._step
                )
        except BiofeedbackError as exc:
            self._failed.emit(str(exc))
            return
        except Exception as exc:  # unexpected: logged with its traceback, shown as one line
            log.exception("import of %s failed unexpectedly", self.path)
            self._failed.emit(f"{self.path}: the import failed ({type(exc).__name__}: {exc})")
            return
        self._done.emit(result)

    def _step(self, fraction: float, what: str) -> None:
        """Progress from the worker thread; raises there once the user cancelled."""
        if self._cancel.is_set():
            raise _Cancelled("import cancelled: nothing was stored")
        self._progressed.emit(round(1000 * fraction), what)

    def _on_progress(self, value: int, what: str) -> None:
        if self.progress is not None:
            self.progress.setLabelText(f"Importing {self.path.name}: {what}")
            self.progress.setValue(value)

    def _close_progress(self) -> None:
        self.import_button.setEnabled(True)
        if self.progress is not None:
            # closing a progress dialog emits canceled: not the user's cancel
            self.progress.canceled.disconnect(self._cancel.set)
            self.progress.close()
            self.progress = None

    def _on_failed(self, text: str) -> None:
        self._close_progress()
        self.error.setText(text)
        if self._cancel.is_set():
            return
        log.info("import of %s failed: %s", self.path, text)
        QMessageBox.warning(self, "Import failed", text)

    def _on_done(self, result: object) -> None:
        self._close_progress()
        assert isinstance(result, ImportResult)
        self.result_ = result
        self.imported.emit(result.session_id, self.subject.text().strip())
        self.accept()

    def reject(self) -> None:
        """Cancel: an import still running stops and removes what it stored."""
        self._cancel.set()
        super().reject()


def open_import_dialog(
    parent: QWidget,
    db_path: str | Path | None,
    subject: str,
    path: str | None = None,
    on_imported: Callable[[int, str], None] | None = None,
) -> ImportDialog | None:
    """Ask for a file (unless ``path`` is given) and show the import form for it; None when no
    file was chosen."""
    chosen = path if path is not None else choose_recording(parent)
    if not chosen:
        return None
    dialog = ImportDialog(chosen, subject, db_path, parent)
    if on_imported is not None:
        dialog.imported.connect(on_imported)
    dialog.show()
    return dialog
