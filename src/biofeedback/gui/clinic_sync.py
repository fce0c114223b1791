"""The window's clinic sync: a calm status-bar item, a Clinic menu and a background sync.

When a clinic is configured (``biofeedback clinic set URL`` or Clinic > Clinic…), the window
syncs with it on a worker thread (:class:`StoreJob`, its own store connection) after each
session ends and every :data:`SYNC_EVERY_S` seconds, never two at once, never on the GUI thread
and never holding up a recording (sync reads the local store in short transactions). The
status bar says "Clinic: synced 10:42 · 2 waiting" or "Clinic: not reachable since 10:30 —
recording continues here; will retry" (the error's one line in the tooltip). The alert bar
shows a notice only when the clinic has been unreachable for :data:`UNREACHABLE_ALERT_S` or a
sync reports errors (a session that failed verification). Closing the window sets the sync's
stop event; the sync stops between two sessions and resumes on the next run.

No clinic configured: the status item is hidden and the Clinic menu offers only Clinic…, where
a clinic can be set (with the checks of ``biofeedback clinic set``: no password in the URL).
The sync itself is :func:`biofeedback.clinic.sync.sync`, imported when a sync runs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from biofeedback.errors import BiofeedbackError
from biofeedback.gui.alert_bar import AlertBar
from biofeedback.gui.store_job import StoreJob

if TYPE_CHECKING:  # the store loads with the first sync (store_job), not with the window
    from biofeedback.storage.database import Database

log = logging.getLogger(__name__)

#: Seconds between two background syncs (a sync also runs after each session ends).
SYNC_EVERY_S = 10 * 60.0
#: Seconds after a failed sync before the next try.
RETRY_AFTER_S = 2 * 60.0
#: Seconds after the window opens before its first sync.
FIRST_SYNC_AFTER_S = 5.0
#: Unreachable for this long: a notice in the alert bar (once per outage).
UNREACHABLE_ALERT_S = 60 * 60.0
#: Seconds the window waits at close for a running sync to stop between two sessions.
STOP_WAIT_S = 15.0

#: ``sync(db, conninfo, progress=..., stop=...)`` -> a SyncResult (tests pass a stand-in)
SyncFunction = Callable[..., Any]
#: ``sync_state(db)`` -> a SyncState, read from the local store only
StateFunction = Callable[["Database"], Any]


def real_sync(db: Database, conninfo: str, **kwargs: Any) -> Any:
    """:func:`biofeedback.clinic.sync.sync` (psycopg is imported only now)."""
    from biofeedback.clinic.sync import sync

    return sync(db, conninfo, **kwargs)


def real_state(db: Database) -> Any:
    """:func:`biofeedback.clinic.sync.sync_state` of the local store."""
    from biofeedback.clinic.sync import sync_state

    return sync_state(db)


def configured() -> str | None:
    """The configured clinic, or None (also when its setting cannot be read)."""
    from biofeedback.clinic.connect import configured_clinic

    return configured_clinic()


def clock_text(moment: float) -> str:
    """``10:42`` today, ``2 Dec 10:42`` another day (local time)."""
    stamp = time.localtime(moment)
    if time.strftime("%Y%m%d", stamp) == time.strftime("%Y%m%d"):
        return time.strftime("%H:%M", stamp)
    return f"{stamp.tm_mday} {time.strftime('%b %H:%M', stamp)}"


def where_text(conninfo: str) -> str:
    """Where the clinic is, without any password."""
    from biofeedback.clinic.connect import describe, redact

    try:
        return describe(conninfo)
    except BiofeedbackError:
        return redact(conninfo)


def is_unreachable(error: str) -> bool:
    """Whether a sync's error says the server could not be reached (not a refusal)."""
    return error.startswith(("cannot reach", "lost the connection"))


@dataclass
class SyncOutcome:
    """What one background sync came back with (on the GUI thread)."""

    result: Any = None
    state: Any = None
    error: str = ""


@dataclass
class ClinicStatus:
    """What the window knows about syncing: shown in the status bar and in Clinic…."""

    last_sync_at: float | None = None
    pending: int | None = None
    last_error: str = ""
    failing_since: float | None = None
    running: bool = False

    def text(self) -> str:
        """The status-bar line."""
        if self.running:
            return "Clinic: syncing…"
        if self.failing_since is not None:
            what = "not reachable" if is_unreachable(self.last_error) else "not synced"
            since = clock_text(self.failing_since)
            return f"Clinic: {what} since {since} — recording continues here; will retry"
        if self.last_sync_at is None:
            head = "Clinic: not synced yet"
        else:
            head = f"Clinic: synced {clock_text(self.last_sync_at)}"
        return f"{head} · {self.pending} waiting" if self.pending else head

    def apply_state(self, state: Any) -> None:
        """Take the last sync time and the sessions waiting from a SyncState."""
        self.last_sync_at = getattr(state, "last_sync_at", self.last_sync_at)
        self.pending = getattr(state, "pending", self.pending)


class ClinicSyncControl(QObject):
    """The Clinic menu, the status-bar item and the background syncs of one window.

    ``sync_fn`` and ``state_fn`` default to the clinic sync module (tests pass stand-ins);
    ``clinic`` gives the configured clinic. Call :meth:`start` once the window is built,
    :meth:`session_ended` after each session, :meth:`stop` at close.
    """

    def __init__(
        self,
        parent: QWidget,
        db_path: str | Path | None,
        alert: AlertBar,
        *,
        sync_fn: SyncFunction | None = None,
        state_fn: StateFunction | None = None,
        clinic: Callable[[], str | None] | None = None,
        every_s: float = SYNC_EVERY_S,
        retry_s: float = RETRY_AFTER_S,
        alert_after_s: float = UNREACHABLE_ALERT_S,
    ) -> None:
        super().__init__(parent)
        self.parent_widget = parent
        self.db_path = db_path
        self.alert = alert
        self.sync_fn = sync_fn or real_sync
        self.state_fn = state_fn or real_state
        self.clinic = clinic or configured
        self.every_s = every_s
        self.retry_s = retry_s
        self.alert_after_s = alert_after_s
        self.url: str | None = None
        self.status = ClinicStatus()
        self.job: StoreJob | None = None
        self.state_job: StoreJob | None = None
        self.syncs_started = 0
        self._stop = threading.Event()
        self._again = False
        self._alerted_outage = False
        self._alerted_errors: list[str] = []
        self.dialog: ClinicDialog | None = None
        self.label = QLabel("")
        self.label.setObjectName("muted")
        self.label.hide()
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.request)
        self._build_menu(parent)

    def _build_menu(self, parent: QWidget) -> None:
        self.menu = QMenu("Cli&nic", parent)
        self.sync_now_action = QAction("Sync now", self)
        self.sync_now_action.triggered.connect(self.request)
        self.settings_action = QAction("Clinic…", self)
        self.settings_action.triggered.connect(self.show_dialog)
        self.menu.addAction(self.sync_now_action)
        self.menu.addAction(self.settings_action)

    # -- scheduling ------------------------------------------------------------------------------
    def start(self, first_after_s: float = FIRST_SYNC_AFTER_S) -> None:
        """Read the configured clinic, show what the store says of the last sync, and sync
        after ``first_after_s`` seconds (nothing when no clinic is configured)."""
        self.refresh()
        if self.url is None:
            return
        self._read_state_later()
        self._schedule(first_after_s)

    def refresh(self) -> None:
        """Follow the configured clinic: the status item and Sync now only when there is one."""
        try:
            self.url = self.clinic()
        except BiofeedbackError as exc:
            log.warning("the configured clinic cannot be read: %s", exc)
            self.url = None
        has_clinic = self.url is not None
        self.sync_now_action.setVisible(has_clinic)
        self.label.setVisible(has_clinic)
        if not has_clinic:
            self.timer.stop()
        self._show()

    def _schedule(self, seconds: float) -> None:
        if not self._stop.is_set() and self.url is not None:
            self.timer.start(max(0, round(seconds * 1000)))

    @property
    def running(self) -> bool:
        """Whether a sync is under way (until its outcome is handled on the GUI thread)."""
        return self.status.running

    def session_ended(self) -> None:
        """A session was stored: sync it now (or right after the sync under way)."""
        self.request()

    def request(self) -> bool:
        """Start a sync now; one under way is never doubled (this one follows it). False when
        nothing was started."""
        if self._stop.is_set() or self.url is None:
            return False
        if self.running:
            self._again = True
            return False
        self.timer.stop()
        self.status.running = True
        self.syncs_started += 1
        job = StoreJob(self.db_path, self._work(self.url), name="clinic sync")
        job.done.connect(self._finished)
        job.failed.connect(self._job_failed)
        job.progressed.connect(self._progressed)
        self.job = job
        self._show()
        job.start()
        return True

    def stop(self, wait_s: float = STOP_WAIT_S) -> None:
        """At close: no more syncs; a running one stops between two sessions (waited for up to
        ``wait_s``; it resumes on the next run)."""
        self._stop.set()
        self.timer.stop()
        for job in (self.job, self.state_job):
            if job is not None and job.running:
                job.worker.join(wait_s)
                if job.running:
                    log.warning("the clinic sync did not stop within %.0f s", wait_s)

    # -- the worker thread -----------------------------------------------------------------------
    def _work(self, url: str) -> Callable[[Database, Callable[[float, float], None]], SyncOutcome]:
        def work(db: Database, progress: Callable[[float, float], None]) -> SyncOutcome:
            try:
                result = self.sync_fn(
                    db,
                    url,
                    progress=lambda done, total, *_what: progress(done, total),
                    stop=self._stop,
                )
            except BiofeedbackError as exc:
                return SyncOutcome(error=str(exc), state=self._state_of(db))
            return SyncOutcome(result=result, state=self._state_of(db))

        return work

    def _state_of(self, db: Database) -> Any:
        try:
            return self.state_fn(db)
        except BiofeedbackError as exc:
            log.warning("the clinic sync state cannot be read: %s", exc)
            return None

    def _read_state_later(self) -> None:
        job = StoreJob(self.db_path, lambda db, _progress: self._state_of(db), name="sync state")
        job.done.connect(self._state_read)
        job.failed.connect(self._state_failed)
        self.state_job = job
        job.start()

    # -- on the GUI thread -----------------------------------------------------------------------
    def _state_read(self, state: Any) -> None:
        if state is None or self.running:
            return
        self.status.apply_state(state)
        self.status.last_error = getattr(state, "last_error", "") or self.status.last_error
        self._show()

    def _state_failed(self, text: str) -> None:
        log.warning("the clinic sync state cannot be read: %s", text)

    def _job_failed(self, text: str) -> None:
        self._finished(SyncOutcome(error=text))

    def _progressed(self, done: float, total: float) -> None:
        if self.running and total > 0:
            self.label.setText(f"Clinic: syncing… {done:.0f} of {total:.0f}")

    def _finished(self, outcome: SyncOutcome) -> None:
        self.status.running = False
        if outcome.state is not None:
            self.status.apply_state(outcome.state)
        if outcome.error:
            self._failed(outcome.error)
        else:
            if outcome.state is None:  # the store did not say: this sync's end
                self.status.last_sync_at = time.time()
            self._succeeded(outcome.result)
        self._show()
        if self._again:
            self._again = False
            self.request()

    def _failed(self, error: str) -> None:
        now = time.time()
        self.status.last_error = error
        if self.status.failing_since is None:
            self.status.failing_since = now
        log.info("clinic sync failed: %s", error)
        if now - self.status.failing_since >= self.alert_after_s and not self._alerted_outage:
            self._alerted_outage = True
            self.alert.show_alert(*outage_alert(self.status), level="warning")
        self._schedule(self.retry_s)

    def _succeeded(self, result: Any) -> None:
        self.status.failing_since = None
        self.status.last_error = ""
        self._alerted_outage = False
        pending = getattr(result, "pending", None)
        if pending is not None:
            self.status.pending = pending
        errors = [str(e) for e in getattr(result, "errors", None) or []]
        if errors and errors != self._alerted_errors:
            self.alert.show_alert("Clinic sync incomplete.", errors_detail(errors), "warning")
        self._alerted_errors = errors
        self._schedule(self.every_s)

    def _show(self) -> None:
        self.label.setText(self.status.text() if self.url is not None else "")
        tip = self.status.last_error or (f"Clinic {where_text(self.url)}" if self.url else "")
        self.label.setToolTip(tip)
        if self.dialog is not None:
            self.dialog.show_status()

    # -- Clinic… ---------------------------------------------------------------------------------
    def show_dialog(self) -> ClinicDialog:
        """Clinic > Clinic…: where the clinic is, the last sync, and setting or clearing it."""
        if self.dialog is None:
            self.dialog = ClinicDialog(self, self.parent_widget)
        self.dialog.show_status()
        self.dialog.show()
        return self.dialog

    def set_clinic(self, conninfo: str | None) -> str:
        """Save the clinic (None forgets it) with the checks of ``biofeedback clinic set``;
        ClinicError when refused. A new clinic is synced with at once. What was done."""
        from biofeedback.clinic.connect import save_clinic

        save_clinic(conninfo)
        self.status = ClinicStatus(running=self.status.running)
        self.refresh()
        if self.url is None:
            return "No clinic configured: sessions stay on this computer."
        self.request()
        return f"Clinic set: {where_text(self.url)}."


def outage_alert(status: ClinicStatus) -> tuple[str, str]:
    """Title and detail of the alert after a long time without the clinic."""
    since = clock_text(status.failing_since or time.time())
    waiting = f"{status.pending} sessions wait" if status.pending else "Sessions wait"
    return (
        "Clinic not reachable.",
        f"Since {since}. {waiting} on this computer and are sent when the clinic is back; "
        f"recording goes on. ({status.last_error})",
    )


def errors_detail(errors: list[str], shown: int = 3) -> str:
    """Up to ``shown`` of a sync's errors in one line."""
    more = f" (and {len(errors) - shown} more)" if len(errors) > shown else ""
    return "; ".join(errors[:shown]) + more


class ClinicDialog(QDialog):
    """Clinic…: the configured clinic (never its password), the last sync, the sessions
    waiting and the last error; set another clinic or forget it."""

    def __init__(self, control: ClinicSyncControl, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.control = control
        self.setWindowTitle("Clinic")
        self.where = QLabel()
        self.last_sync = QLabel()
        self.pending = QLabel()
        self.last_error = QLabel()
        self.last_error.setWordWrap(True)
        self.url = QLineEdit()
        self.url.setPlaceholderText("postgresql://USER@HOST/DB or service=NAME")
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.use_button = QPushButton("Use this clinic")
        self.use_button.clicked.connect(self.use_clinic)
        self.forget_button = QPushButton("Forget the clinic")
        self.forget_button.clicked.connect(self.forget_clinic)
        form = QFormLayout()
        for caption, widget in (
            ("Clinic:", self.where),
            ("Last sync:", self.last_sync),
            ("Waiting to be sent:", self.pending),
            ("Last error:", self.last_error),
            ("Clinic URL:", self.url),
        ):
            form.addRow(caption, widget)
        note = QLabel(
            "No password in the URL: put it in a password file (~/.pgpass) or a service file."
        )
        note.setObjectName("muted")
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.use_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.forget_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        self.resize(560, 0)

    def show_status(self) -> None:
        """Fill in what the window knows now."""
        control, status = self.control, self.control.status
        self.where.setText(where_text(control.url) if control.url else "none configured")
        if status.running:
            synced = "syncing now"
        elif status.last_sync_at is not None:
            synced = clock_text(status.last_sync_at)
        else:
            synced = "never" if control.url else "—"
        self.last_sync.setText(synced)
        self.pending.setText("—" if status.pending is None else f"{status.pending} sessions")
        self.last_error.setText(status.last_error or "none")
        self.forget_button.setEnabled(control.url is not None)

    def use_clinic(self) -> None:
        self._apply(self.url.text())

    def forget_clinic(self) -> None:
        self._apply(None)

    def _apply(self, conninfo: str | None) -> None:
        try:
            self.message.setText(self.control.set_clinic(conninfo))
        except BiofeedbackError as exc:
            self.message.setText(str(exc))
            return
        self.url.clear()
        self.show_status()
