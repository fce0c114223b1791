"""The subject's daily home-practice reminder: a tray notification once a day at the set time,
unless the subject has already practised today (the time is set in the history dialog).

Kept apart from the history dialog so the window can start it without loading the plotting
library.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QSystemTrayIcon

from biofeedback.errors import StorageError

log = logging.getLogger(__name__)


def reminder_due(
    reminder: str | None, practised_today: bool, now: dt.datetime, notified_on: dt.date | None
) -> bool:
    """True when the daily home-practice reminder should show now: its time has passed today,
    there has been no practice today, and it has not been shown today."""
    if not reminder or practised_today or notified_on == now.date():
        return False
    try:
        hours, minutes = (int(part) for part in reminder.split(":"))
    except ValueError:
        return False
    return (now.hour, now.minute) >= (hours, minutes)


class ReminderWatcher(QObject):
    """Checks once a minute whether the subject's daily practice reminder is due and shows it as
    a tray notification (or, without a system tray, through ``fallback``)."""

    def __init__(
        self,
        subject: Callable[[], str],
        db_path: str | None = None,
        fallback: Callable[[str], None] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.subject = subject
        self.db_path = db_path
        self.fallback = fallback
        self.notified_on: dt.date | None = None
        self.shown: list[str] = []
        self.tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = QSystemTrayIcon(self)
            self.tray.setToolTip("biofeedback")
        self.timer = QTimer(self)
        self.timer.setInterval(60_000)
        self.timer.timeout.connect(self.check)

    def start(self) -> None:
        """Check now and then every minute."""
        self.check()
        self.timer.start()

    def check(self, now: dt.datetime | None = None) -> bool:
        """Show the reminder if it is due; returns True when it was shown."""
        subject = self.subject()
        if not subject:
            return False
        now = now or dt.datetime.now()
        # the store loads with the first subject, not with the window (docs/performance.md)
        from biofeedback.storage.courses import reminder_text
        from biofeedback.storage.database import Database
        from biofeedback.storage.progress import subject_trend

        try:
            with Database(self.db_path) as db:
                row = db.get_subject(subject)
                if row is None:
                    return False
                points = subject_trend(db, subject)
                practised = any(p.date == now.date() for p in points)
                if not reminder_due(row.get("reminder"), practised, now, self.notified_on):
                    return False
                text = reminder_text(db, subject, now.date())
        except StorageError as exc:  # a busy or damaged store: no reminder this minute
            log.warning("practice reminder not checked: %s", exc)
            return False
        self.notified_on = now.date()
        self.shown.append(text)
        if self.tray is not None:
            self.tray.show()
            self.tray.showMessage("biofeedback", text)
        elif self.fallback is not None:
            self.fallback(text)
        return True
