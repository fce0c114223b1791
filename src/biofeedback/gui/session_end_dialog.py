"""The end of a session: its summary and what to do next, in one small dialog.

"Open report" writes the session's clinician report (PDF) beside the store and shows it in the
system viewer, on a worker thread, with the same code as History's Open report
(:func:`biofeedback.gui.session_files.open_session_report`); "History" opens the history of the
session's subject (the window's own call); "Close" closes. A report that cannot be written or
opened is said in the dialog (a failed write also as the one-line warning History shows).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from biofeedback.errors import StorageError
from biofeedback.gui.bridge import format_elapsed
from biofeedback.gui.session_files import (
    Opener,
    SessionFileTask,
    open_session_report,
    opened_text,
)

log = logging.getLogger(__name__)

#: The dialog's least width in pixels: the summary reads as a paragraph, not a column.
MIN_WIDTH = 380


def end_summary(result: Any) -> str:
    """The dialog's text: the patient's summary (or how long was recorded) and where the session
    was stored."""
    lines = []
    text = getattr(result, "patient_text", "")
    summary = getattr(result, "summary", None)
    duration = summary.get("duration_s") if isinstance(summary, dict) else None
    if text:
        lines.append(text)
    elif duration:
        lines.append(f"Recorded {format_elapsed(float(duration))}.")
    if lines:
        lines.append("")
    lines.append(f"Saved as session {result.session_id} ({result.status}).")
    return "\n".join(lines)


class SessionEndDialog(QDialog):
    """Summary, Open report, History, Close (see the module doc)."""

    def __init__(
        self,
        result: Any,
        db_path: str | Path | None,
        opener: Opener | None = None,
        on_history: Callable[[], None] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Session finished")
        self.setMinimumWidth(MIN_WIDTH)
        self.result_ = result
        self.db_path = db_path
        self.opener = opener
        self.on_history = on_history
        self.task: SessionFileTask | None = None
        self.summary = QLabel(end_summary(result))
        self.summary.setWordWrap(True)
        self.status = QLabel()
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        self.buttons = QDialogButtonBox()
        self.open_button = self._button("Open report", QDialogButtonBox.ButtonRole.ActionRole)
        self.open_button.clicked.connect(lambda: self.open_report())
        self.history_button = self._button("History", QDialogButtonBox.ButtonRole.ActionRole)
        self.history_button.clicked.connect(self._history)
        self.history_button.setVisible(on_history is not None)
        self.close_button = self._button("Close", QDialogButtonBox.ButtonRole.RejectRole)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self.close_button.setDefault(True)

    def _button(self, text: str, role: QDialogButtonBox.ButtonRole) -> QPushButton:
        button = QPushButton(text)
        button.setAutoDefault(False)
        self.buttons.addButton(button, role)
        return button

    def open_report(self) -> SessionFileTask | None:
        """Write the session's report and show it in the viewer; None when the session cannot
        be read (said in the dialog)."""
        from biofeedback.storage.database import Database

        try:
            with Database(self.db_path) as db:
                record = db.get_session(self.result_.session_id)
        except StorageError as exc:
            self.status.setText(f"No report: {exc}")
            return None
        self.open_button.setEnabled(False)  # once at a time
        self.status.setText("Writing the report…")
        self.task = open_session_report(self, self.db_path, record, self._opened, self.opener)
        self.task.job.failed.connect(self._failed)
        return self.task

    def _opened(self, path: str, opened: bool) -> None:
        self.open_button.setEnabled(True)
        self.status.setText(opened_text(path, opened))

    def _failed(self, text: str) -> None:
        self.open_button.setEnabled(True)
        self.status.setText(f"No report: {text}")

    def _history(self) -> None:
        if self.on_history is not None:
            self.accept()
            self.on_history()


def show_session_end(
    parent: QWidget | None,
    result: Any,
    db_path: str | Path | None,
    opener: Opener | None = None,
    on_history: Callable[[], None] | None = None,
) -> QDialog:
    """Show the end-of-session dialog for ``result`` (a :class:`SessionResult`) without
    blocking, and return it. ``opener`` shows a file URL (default: the system viewer);
    ``on_history`` is called after the dialog closes by History (None: no History button)."""
    dialog = SessionEndDialog(result, db_path, opener, on_history, parent)
    dialog.open()
    return dialog
