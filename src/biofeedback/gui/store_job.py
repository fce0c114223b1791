"""A store task run on a worker thread, with its result, failure and progress sent back to the
GUI thread: the window stays responsive while a report, an export or a bundle is written.

The task gets its own :class:`Database` connection (a connection belongs to one thread) and a
``progress(done, total)`` callable. A :class:`BiofeedbackError` comes back as its one line; any
other exception is logged with its traceback and comes back as one line naming it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from biofeedback.errors import BiofeedbackError

if TYPE_CHECKING:  # the store loads with the first task, not with the window
    from biofeedback.storage.database import Database

log = logging.getLogger(__name__)

#: ``work(db, progress)``: the task; ``progress(done, total)`` reports how far it is.
StoreWork = Callable[["Database", Callable[[float, float], None]], Any]


class StoreJob(QObject):
    """One store task on a worker thread; connect to the signals, then :meth:`start`."""

    done = Signal(object)
    failed = Signal(str)
    #: (done, total) as the task reports it
    progressed = Signal(float, float)

    def __init__(self, db_path: str | Path | None, work: StoreWork, name: str = "task") -> None:
        super().__init__()
        self.db_path = db_path
        self.work = work
        self.name = name
        self.worker = threading.Thread(target=self._run, name=f"biofeedback-{name}", daemon=True)

    def start(self) -> None:
        self.worker.start()

    def _run(self) -> None:
        from biofeedback.storage.database import Database

        try:
            with Database(self.db_path) as db:
                result = self.work(db, lambda done, total: self.progressed.emit(done, total))
        except BiofeedbackError as exc:
            self.failed.emit(str(exc))
            return
        except Exception as exc:  # unexpected: logged with its traceback, shown as one line
            log.exception("%s failed", self.name)
            self.failed.emit(f"the {self.name} failed unexpectedly ({type(exc).__name__}: {exc})")
            return
        self.done.emit(result)

    @property
    def running(self) -> bool:
        return self.worker.is_alive()
