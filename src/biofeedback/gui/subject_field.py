"""The session panel's subject field: a pseudonymous id typed by hand or picked from the store.

The field is a line edit (the window reads its text), completed from the store's subjects: the
list shows "P007 – name" and inserts the id; typing filters it by any part of the id or the name,
and the arrow at the field's end (or Down in an empty field) opens the whole list. The list is
read from the store when the field gets focus, so a subject added in Course > Course… is offered
at once. A typed id is checked with the store's own rule (:meth:`Database.check_subject_id`): a
wrong one is explained under the field and Start waits until it is right; an id the store does
not know yet is said to be new (the session adds it, as ``biofeedback record --subject`` does).
The names show only in the list the clinician opens; the line under the field names no one.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QModelIndex, QObject, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QFocusEvent, QKeyEvent, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QCompleter,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from biofeedback.errors import BiofeedbackError
from biofeedback.gui.theme import PALETTE

log = logging.getLogger(__name__)

#: The item role holding the subject id (what a pick inserts).
ID_ROLE = Qt.ItemDataRole.UserRole + 1

#: What the field holds: nothing, an id the store's rule refuses, a stored subject, an id the
#: store does not hold yet, an id of the right form (the store not read yet).
NONE, INVALID, KNOWN, NEW, VALID = "none", "invalid", "known", "new", "valid"


def read_subjects(db_path: str | Path | None = None) -> list[dict[str, Any]]:
    """The store's subjects (``Database.list_subjects``); none when there is no store yet or it
    cannot be read (logged: the field still takes a typed id)."""
    # the store and the course model load when the field is used, not with the window
    from biofeedback.storage.database import Database, existing_database_path

    try:
        with Database(existing_database_path(db_path)) as db:
            return db.list_subjects()
    except BiofeedbackError as exc:
        log.info("subjects not read: %s", exc)
        return []


def judge(text: str, subjects: Mapping[str, Mapping[str, Any]] | None) -> tuple[str, str]:
    """What the field holds and the line shown under it. ``subjects`` by id; None while the
    store has not been read (then only the id's form is checked)."""
    ident = text.strip()
    if not ident:
        return NONE, ""
    from biofeedback.storage.database import Database

    try:
        ident = Database.check_subject_id(ident)
    except BiofeedbackError as exc:
        return INVALID, str(exc)
    if subjects is None:
        return VALID, ""
    row = subjects.get(ident)
    if row is None:
        return NEW, (
            f"{ident} is new here: the session adds it (Course > Course… adds a name and notes)."
        )
    return KNOWN, _sessions_text(row)


def _sessions_text(row: Mapping[str, Any]) -> str:
    count = int(row.get("n_sessions") or 0)
    last = row.get("last_session_at")
    if not count or last is None:
        return "no sessions yet"
    day = dt.datetime.fromtimestamp(float(last)).date().isoformat()
    return f"{count} session{'s' if count != 1 else ''}, the last on {day}"


class SubjectCompleter(QCompleter):
    """Completes over "P007 – name" labels (any part of them) and inserts the id."""

    def pathFromIndex(self, index: QModelIndex | QPersistentModelIndex) -> str:
        return str(index.data(ID_ROLE) or "")


class SubjectField(QWidget):
    """The subject line edit (``edit``), its list of stored subjects and the line under it.

    ``state_changed(str)`` carries :data:`NONE`, :data:`INVALID`, :data:`KNOWN`, :data:`NEW` or
    :data:`VALID`.
    """

    state_changed = Signal(str)

    def __init__(
        self, subject: str = "", db_path: str | Path | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.db_path = db_path
        #: the store's subjects by id; None until read (on focus, or when the list is opened)
        self.subjects: dict[str, dict[str, Any]] | None = None
        self.state = NONE
        self.edit = QLineEdit(subject)
        self.edit.setPlaceholderText("id, e.g. P07")
        self.edit.setToolTip(
            "Type an id, or part of an id or name to pick a stored subject (↓ shows them all)"
        )
        self.model = QStandardItemModel(self)
        self.completer = SubjectCompleter(self.model, self)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.completer.setMaxVisibleItems(12)
        self.edit.setCompleter(self.completer)
        icon = self.style().standardIcon(QStyle.StandardPixmap.SP_ArrowDown)
        self.list_action = self.edit.addAction(icon, QLineEdit.ActionPosition.TrailingPosition)
        self.list_action.setToolTip("Choose a stored subject")
        self.list_action.triggered.connect(self.show_all)
        self.message = QLabel()
        self.message.setWordWrap(True)
        # a long message wraps instead of widening the side panel
        self.message.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.message.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit)
        layout.addWidget(self.message)
        self.edit.installEventFilter(self)
        self.edit.textChanged.connect(self._judge)
        self._judge()

    def text(self) -> str:
        return self.edit.text().strip()

    def refresh(self) -> None:
        """Read the store's subjects again into the list."""
        from biofeedback.gui.course_model import subject_label

        rows = read_subjects(self.db_path)
        self.subjects = {str(r["id"]): r for r in rows}
        labels = [subject_label(row) for row in rows]
        shown = [self.model.item(r).text() for r in range(self.model.rowCount())]
        if labels != shown:  # (an open list is left alone when nothing changed)
            self.model.clear()
            for row, label in zip(rows, labels, strict=True):
                item = QStandardItem(label)
                item.setData(str(row["id"]), ID_ROLE)
                self.model.appendRow(item)
        self._judge()

    def show_all(self) -> None:
        """Open the whole list (the arrow at the field's end)."""
        self.refresh()
        self.edit.setFocus()
        self.completer.setCompletionPrefix("")
        self.completer.complete()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            watched is self.edit
            and isinstance(event, QFocusEvent)
            and event.type() == QEvent.Type.FocusIn
            and event.reason() != Qt.FocusReason.PopupFocusReason  # back from the list
        ):
            self.refresh()
        elif (
            watched is self.edit
            and isinstance(event, QKeyEvent)
            and event.type() == QEvent.Type.KeyPress
            and event.key() == Qt.Key.Key_Down
            and not self.edit.text()
            and not self._list_shown()
        ):
            self.show_all()
            return True
        return super().eventFilter(watched, event)

    def _list_shown(self) -> bool:
        popup = self.completer.popup()
        return popup is not None and popup.isVisible()

    def _judge(self) -> None:
        state, text = judge(self.edit.text(), self.subjects)
        self.message.setText(text)
        self.message.setVisible(bool(text))
        colour = PALETTE.lost if state == INVALID else PALETTE.text_muted
        self.message.setStyleSheet(f"color: {colour};")
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)
