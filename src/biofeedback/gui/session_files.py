"""History > Open report, Report… and Export…: the clinician report or an export of one stored
session.

Open report writes the report (PDF) into the ``reports`` folder beside the session store (a
private folder, as the store's; the file is rewritten each time) and hands it to the system's
viewer (:class:`QDesktopServices`); the end-of-session dialog uses the same call.

The same calls as ``biofeedback report SESSION -o FILE`` and ``biofeedback export SESSION -o
FILE [--csv-rate 100]``, run on a worker thread (:class:`StoreJob`) with a progress dialog, so the
window stays responsive. The export form offers what people open the file with: a spreadsheet
(the compact CSV: envelope and flags at 100 rows a second), every sample (full-rate CSV), or EDF+
for EMG/EEG tools such as MNE. A failure is shown as the command's one line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QMessageBox,
    QProgressDialog,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from biofeedback.errors import StorageError
from biofeedback.gui.store_job import StoreJob

if TYPE_CHECKING:  # the store loads with the first task (store_job), not with the window
    from biofeedback.storage.database import Database, SessionRecord

log = logging.getLogger(__name__)

#: (dir, suggested name, filter) -> chosen path or "" (tests pass their own)
AskPath = Callable[[str, str, str], str]
#: Shows a file in the system's viewer; False when none opened it (tests pass their own).
Opener = Callable[[QUrl], bool]
#: The folder beside the session store that Open report writes into.
REPORTS_FOLDER = "reports"


@dataclass(frozen=True)
class ExportChoice:
    """One way to export a session."""

    key: str
    label: str
    fmt: str
    csv_rate_hz: float | None
    file_filter: str


EXPORT_CHOICES = (
    ExportChoice(
        "compact",
        "Spreadsheet: muscle tension and quality flags, 100 rows a second (CSV)",
        "csv",
        100.0,
        "CSV (*.csv)",
    ),
    ExportChoice("full", "Every sample, full rate (CSV; large)", "csv", None, "CSV (*.csv)"),
    ExportChoice("edf", "EDF+ for EMG/EEG tools (MNE, EDFbrowser)", "edf", None, "EDF+ (*.edf)"),
)


def suggested_name(record: SessionRecord, what: str, suffix: str) -> str:
    """``P001-2026-12-02-session-12-report.pdf``: subject, local day, session, what."""
    day = record.local_start.date().isoformat()
    subject = record.subject_id or "no-subject"
    return f"{subject}-{day}-session-{record.id}-{what}{suffix}"


def save_dialog(parent: QWidget | None) -> AskPath:
    """The file dialog as an :data:`AskPath`."""

    def ask(title: str, name: str, file_filter: str) -> str:
        path, _ = QFileDialog.getSaveFileName(parent, title, name, file_filter)
        return path

    return ask


class ExportForm(QDialog):
    """Which kind of export: one choice, the spreadsheet one first."""

    def __init__(self, record: SessionRecord, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Export session {record.id}")
        layout = QVBoxLayout(self)
        minutes = record.duration_s / 60.0
        intro = QLabel(f"Session {record.id} ({minutes:.0f} min): what will the file be used for?")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.group = QButtonGroup(self)
        self.buttons: dict[str, QRadioButton] = {}
        for i, choice in enumerate(EXPORT_CHOICES):
            button = QRadioButton(choice.label)
            button.setChecked(i == 0)
            self.group.addButton(button, i)
            self.buttons[choice.key] = button
            layout.addWidget(button)
        box = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        layout.addWidget(box)

    def choice(self) -> ExportChoice:
        return EXPORT_CHOICES[max(0, self.group.checkedId())]


class SessionFileTask:
    """Writes one file for a session on a worker thread, with a progress dialog; ``on_done``
    gets the path (and the window shows it), a failure is shown as one line."""

    def __init__(
        self,
        parent: QWidget,
        db_path: str | Path | None,
        label: str,
        work: Callable[[Database, Callable[[float, float], None]], Any],
        on_done: Callable[[str], None],
    ) -> None:
        self.parent = parent
        self.on_done = on_done
        self.progress = QProgressDialog(label, "", 0, 1000, parent)
        self.progress.setCancelButton(None)  # writing is not cancelled
        self.progress.setWindowModality(Qt.WindowModality.WindowModal)
        self.progress.setMinimumDuration(300)
        self.job = StoreJob(db_path, work, name=label.rstrip("…").lower())
        self.job.progressed.connect(self._on_progress)
        self.job.done.connect(self._on_done)
        self.job.failed.connect(self._on_failed)
        self.job.start()

    def _on_progress(self, done: float, total: float) -> None:
        if total > 0:
            self.progress.setValue(round(1000 * min(1.0, done / total)))

    def _on_done(self, path: object) -> None:
        self.progress.close()
        self.on_done(str(path))

    def _on_failed(self, text: str) -> None:
        self.progress.close()
        log.info("%s", text)
        QMessageBox.warning(self.parent, "Not written", text)


def write_session_report(
    parent: QWidget,
    db_path: str | Path | None,
    record: SessionRecord,
    on_done: Callable[[str], None],
    ask_path: AskPath | None = None,
) -> SessionFileTask | None:
    """Ask where, then write the clinician report of ``record`` (PDF or HTML by the suffix)."""
    ask = ask_path or save_dialog(parent)
    path = ask(
        "Session report", suggested_name(record, "report", ".pdf"), "PDF (*.pdf);;HTML (*.html)"
    )
    if not path:
        return None

    def work(db: Database, progress: Callable[[float, float], None]) -> str:
        from biofeedback.reports.clinician import write_report

        progress(0.1, 1.0)
        return str(write_report(db, record.id, path))

    return SessionFileTask(parent, db_path, "Writing the report…", work, on_done)


def export_session_file(
    parent: QWidget,
    db_path: str | Path | None,
    record: SessionRecord,
    on_done: Callable[[str], None],
    choice: ExportChoice | None = None,
    ask_path: AskPath | None = None,
) -> SessionFileTask | None:
    """Ask which export (unless ``choice``) and where, then write it."""
    if choice is None:
        form = ExportForm(record, parent)
        if form.exec() != QDialog.DialogCode.Accepted:
            return None
        choice = form.choice()
    ask = ask_path or save_dialog(parent)
    suffix = "." + choice.fmt
    path = ask("Export session", suggested_name(record, choice.key, suffix), choice.file_filter)
    if not path:
        return None

    def work(db: Database, progress: Callable[[float, float], None]) -> str:
        from biofeedback.storage.export import export_session

        result = export_session(
            db, record.id, choice.fmt, path, lambda f: progress(f, 1.0), choice.csv_rate_hz
        )
        return str(result.path)

    return SessionFileTask(parent, db_path, "Exporting…", work, on_done)


def report_folder(db: Database) -> Path:
    """The ``reports`` folder beside ``db`` (made 0700 when missing)."""
    folder = Path(db.path).parent / REPORTS_FOLDER
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise StorageError(
            f"cannot create the report folder {folder}: {exc.strerror or exc}; "
            "use Report… to choose where the report goes"
        ) from None
    return folder


def opened_text(path: str, opened: bool) -> str:
    """What the window says after Open report: the file, and whether a viewer showed it."""
    if opened:
        return f"Opened the report {path}"
    return f"No viewer opened the report: open {path} yourself (it is written)"


def open_session_report(
    parent: QWidget,
    db_path: str | Path | None,
    record: SessionRecord,
    on_opened: Callable[[str, bool], None],
    opener: Opener | None = None,
) -> SessionFileTask:
    """Write the clinician report of ``record`` (PDF) into :func:`report_folder` on a worker
    thread, then open it with ``opener`` (default: the system viewer); ``on_opened(path, ok)``
    says whether a viewer opened it. A failure to write is shown as one line."""
    open_url = opener or QDesktopServices.openUrl
    name = suggested_name(record, "report", ".pdf")

    def work(db: Database, progress: Callable[[float, float], None]) -> str:
        from biofeedback.reports.clinician import write_report

        progress(0.1, 1.0)
        return str(write_report(db, record.id, report_folder(db) / name))

    def show(path: str) -> None:
        opened = bool(open_url(QUrl.fromLocalFile(path)))
        if not opened:
            log.info("no viewer opened %s", path)
        on_opened(path, opened)

    return SessionFileTask(parent, db_path, "Writing the report…", work, show)
