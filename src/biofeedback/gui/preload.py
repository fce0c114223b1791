"""Load the heavy libraries in the background so the window shows at once.

Importing ``scipy.signal`` (1.5-2 s on a 2-core machine) and ``pyqtgraph`` (about 1 s) is most
of the app's start-up time. The window does not need them to appear: it is built from plain Qt
widgets, shown, and only then does the first source start, which needs both (the filters and the
traces). :class:`Preloader` imports them on a worker thread while the shown window stays
responsive; when it is done it emits ``finished`` in the GUI thread.

An import is Python code holding the GIL, so this does not make the imports faster; it lets the
first frame be drawn before them instead of after (docs/performance.md, "Start-up").
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)

#: What the live window needs before a source can start, in the order it is loaded.
HEAVY_MODULES: tuple[str, ...] = ("scipy.signal", "pyqtgraph", "biofeedback.gui.live_plot")


def import_module(name: str) -> object:
    """Import one module (the worker's only call into the import system; tests replace it)."""
    return importlib.import_module(name)


def loaded(modules: tuple[str, ...] = HEAVY_MODULES) -> bool:
    """True when every module is already imported (then nothing needs to wait)."""
    return all(name in sys.modules for name in modules)


class Preloader(QObject):
    """Imports ``modules`` on a worker thread.

    Signals
    -------
    finished(str)
        Emitted in the GUI thread when the imports are done: "" on success, otherwise what
        failed and what to do.
    """

    finished = Signal(str)

    def __init__(
        self, modules: tuple[str, ...] = HEAVY_MODULES, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.modules = modules
        self.error: str | None = None  # None while running or not started
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """True while the worker thread is importing."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start importing (no-op while running; after a failure it tries again)."""
        if self.running:
            return
        self.error = None
        self._thread = threading.Thread(target=self._run, name="biofeedback-preload", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the imports are done (tests, shutdown); True if they are."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    def _run(self) -> None:
        error = ""
        for name in self.modules:
            try:
                import_module(name)
            except Exception as exc:  # an ImportError, or a broken install raising anything
                log.error("preloading %s failed", name, exc_info=exc)
                reason = (str(exc).splitlines() or [type(exc).__name__])[0]
                error = (
                    f"a required library failed to load ({name}: {reason}); "
                    'reinstall with: python3 -m pip install -e "."'
                )
                break
        self.error = error
        # a Qt signal emitted from a non-Qt thread is queued to this object's (the GUI) thread
        self.finished.emit(error)
