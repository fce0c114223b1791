"""History from the clinic: the history dialog's source choice, "This computer" or "Clinic
(db.clinic.example/emg)", shown only when a clinic is configured.

Choosing the clinic reads the chosen subject's sessions, courses and questionnaires from the
clinic on a worker thread (:func:`read_clinic`: the clinic's subject list, then
:func:`biofeedback.clinic.mirror.clinic_database`, the same cache ``--clinic`` reads), never on
the window's thread; meanwhile the dialog says "Reading from the clinic …" and its choices wait.
Then the dialog shows the cache with the same widgets and the same code as the local store, so
the rows, trends and reports are those a local store with the same data gives. Choosing another
subject reads that subject the same way. A failure (server down, login refused, old schema) is
the error's one line in the dialog, which goes back to this computer's sessions.
docs/clinic.md, "In the window".
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QComboBox

from biofeedback.errors import BiofeedbackError, ClinicError
from biofeedback.storage.database import Database

if TYPE_CHECKING:
    from biofeedback.gui.history_panel import HistoryDialog

log = logging.getLogger(__name__)

LOCAL = "local"
CLINIC = "clinic"


@dataclass(frozen=True)
class ClinicView:
    """What a read from the clinic brought: the cache file, the clinic's subjects and the one
    read (the one asked for when the clinic has it, else the first)."""

    path: Path
    subjects: list[str]
    subject: str


#: ``read(conninfo, subject)`` -> a ClinicView; runs on the worker thread (tests pass their own)
ReadClinic = Callable[[str, str | None], ClinicView]


def clinic_place(conninfo: str) -> str:
    """ "db.clinic.example/emg", "service clinic" or, over this computer's socket, "emg on this
    computer": the clinic as the source choice names it; never a password."""
    from biofeedback.clinic.connect import check_conninfo, redact

    try:
        parts = check_conninfo(conninfo)
    except BiofeedbackError:  # psycopg missing: still say which clinic
        return redact(conninfo)
    if "service" in parts and not {"host", "dbname"} & set(parts):
        return f"service {parts['service']}"
    host, db = parts.get("host", ""), parts.get("dbname", "")
    if not host or host.startswith("/"):
        return f"{db or 'default database'} on this computer"
    return f"{host}/{db}"


def clinic_subjects(conninfo: str) -> list[str]:
    """The subjects the clinic holds sessions or records of (one short query)."""
    from biofeedback.clinic.connect import clinic_errors, connect
    from biofeedback.clinic.migrate import check_schema

    with connect(conninfo) as conn, clinic_errors(conninfo):
        check_schema(conn, conninfo)
        rows = conn.execute("SELECT id FROM subjects ORDER BY id").fetchall()
    return [str(r[0]) for r in rows]


def read_clinic(conninfo: str, subject: str | None) -> ClinicView:
    """The clinic's subjects and ``subject``'s data (else the first subject's) brought into the
    clinic's cache; ClinicError (one line) when the clinic cannot be read or holds no subject."""
    from biofeedback.clinic.connect import describe
    from biofeedback.clinic.mirror import clinic_database

    subjects = clinic_subjects(conninfo)
    if not subjects:
        raise ClinicError(
            f"the clinic {describe(conninfo)} holds no subject's sessions yet: they come with "
            "the stations' syncs"
        )
    chosen = subject if subject in subjects else subjects[0]
    with clinic_database(conninfo, subject=chosen) as db:
        return ClinicView(db.path, subjects, chosen)


class ClinicRead(QObject):
    """One read from the clinic on a worker thread; connect to the signals, then :meth:`start`."""

    done = Signal(object)
    failed = Signal(str)

    def __init__(self, conninfo: str, subject: str | None, read: ReadClinic) -> None:
        super().__init__()
        self.conninfo, self.subject, self.read = conninfo, subject, read
        self.worker = threading.Thread(
            target=self._run, name="biofeedback-clinic-read", daemon=True
        )

    def start(self) -> None:
        self.worker.start()

    def _run(self) -> None:
        try:
            view = self.read(self.conninfo, self.subject)
        except BiofeedbackError as exc:
            self.failed.emit(str(exc))
            return
        except Exception as exc:  # unexpected: logged with its traceback, shown as one line
            log.exception("reading the clinic failed")
            self.failed.emit(
                f"reading the clinic failed unexpectedly ({type(exc).__name__}: {exc})"
            )
            return
        self.done.emit(view)

    @property
    def running(self) -> bool:
        return self.worker.is_alive()


class ClinicHistory:
    """The source choice of one history dialog and its reads from the clinic."""

    def __init__(
        self, dialog: HistoryDialog, conninfo: str, read: ReadClinic = read_clinic
    ) -> None:
        self.dialog, self.conninfo, self._read = dialog, conninfo, read
        self.place = clinic_place(conninfo)
        self.source = QComboBox()
        self.source.addItem("This computer", LOCAL)
        self.source.addItem(f"Clinic ({self.place})", CLINIC)
        self.source.setToolTip(
            "Whose sessions to show: this computer's store, or every station's at the clinic "
            "(read only)"
        )
        self.source.currentIndexChanged.connect(self._source_chosen)
        self.job: ClinicRead | None = None

    @classmethod
    def for_dialog(cls, dialog: HistoryDialog) -> ClinicHistory | None:
        """The dialog's source choice when a clinic is configured, else None (nothing shown)."""
        from biofeedback.clinic.connect import configured_clinic

        try:
            conninfo = configured_clinic()
        except BiofeedbackError as exc:  # settings unreadable: History still works locally
            log.warning("no clinic source in History: %s", exc)
            return None
        return None if conninfo is None else cls(dialog, conninfo)

    @property
    def reading(self) -> bool:
        return self.job is not None and self.job.running

    def _source_chosen(self) -> None:
        if self.source.currentData() == CLINIC:
            self.read(self.dialog.current_subject())
        else:
            self.dialog.show_local()

    def read(self, subject: str | None) -> bool:
        """Read ``subject`` (None: the first) from the clinic on the worker thread; False while
        a read is under way."""
        if self.reading:
            return False
        self._busy(True)
        self.dialog.message.setText(f"Reading from the clinic {self.place}…")
        self.job = ClinicRead(self.conninfo, subject, self._read)
        self.job.done.connect(self._done)
        self.job.failed.connect(self._failed)
        self.job.start()
        return True

    def _busy(self, busy: bool) -> None:
        for widget in (self.source, self.dialog.subject):
            widget.setEnabled(not busy)

    def _done(self, view: ClinicView) -> None:
        if self.dialog.closed:  # closed while reading: the cache is filled for next time
            return
        self._busy(False)
        try:
            db = Database(view.path, auto_backup=False)
        except BiofeedbackError as exc:
            self._failed(str(exc))
            return
        self.dialog.show_store(db, view.path, view.subjects, view.subject, from_clinic=True)
        self.dialog.message.setText(
            f"Read from the clinic {self.place} at {time.strftime('%H:%M')}: every "
            "station's sessions of the subject (read only)."
        )

    def _failed(self, text: str) -> None:
        log.info("History from the clinic: %s", text)
        if self.dialog.closed:
            return
        self._busy(False)
        blocked = self.source.blockSignals(True)
        self.source.setCurrentIndex(self.source.findData(LOCAL))
        self.source.blockSignals(blocked)
        if self.dialog.from_clinic:
            self.dialog.show_local()
        self.dialog.message.setText(text)
