"""The "Check signal" dialog: a few seconds of the live source through the doctor's checks.

The checks are :mod:`biofeedback.diagnostics` (the same as ``biofeedback doctor``, with the same
wording). While the dialog listens, an engine sink feeds every chunk to a pipeline of its own
(built with the live settings and any noise floor measured in calibration) on the device thread,
so nothing waits on the GUI thread and a problem fixed a minute ago does not linger in the
result; a timer shows the progress. Then the dialog lists each check with pass / warn / fail,
its figure, and what to do.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from biofeedback.core.types import Chunk, ProcessedChunk
from biofeedback.devices.base import DeviceState, DeviceStatus
from biofeedback.diagnostics import Capture, Diagnosis, LinkCounters, Row, Status, analyse
from biofeedback.dsp.pipeline import Pipeline
from biofeedback.engine import Engine
from biofeedback.gui.theme import PALETTE

log = logging.getLogger(__name__)

#: Seconds of signal a check listens to.
CHECK_SECONDS = 5.0
#: How long a check asked for while the source is still connecting waits for it.
CONNECT_WAIT_S = 20.0
#: Progress refresh interval (ms).
TICK_MS = 100

STATUS_TEXT = {Status.PASS: "pass", Status.WARN: "warn", Status.FAIL: "fail"}
STATUS_COLOUR = {
    Status.PASS: PALETTE.calm_soft,
    Status.WARN: PALETTE.warn_soft,
    Status.FAIL: PALETTE.lost_soft,
}
COLUMNS = ("Check", "Result", "Figure", "What to do")


class _Listener:
    """An engine sink that runs the captured chunks through a pipeline of its own."""

    def __init__(self, engine: Engine) -> None:
        info = engine.info
        if info is None:
            raise ValueError("the engine has not been opened")
        self.engine = engine
        self.info = info
        self.pipeline = Pipeline(info, engine.settings)
        live = engine.pipeline
        if live is not None:  # a noise floor measured in calibration applies to the check too
            self.pipeline.set_noise_floor(
                [
                    o.noise_floor_uv if o.noise_floor_source == "measured" else None
                    for o in live.outputs
                ]
            )
        self.capture = Capture(link_start=LinkCounters.of(engine.device.stats))
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._open = True
        engine.add_sink(self.sink, name="check signal")

    def sink(self, chunk: Chunk, _live: ProcessedChunk) -> None:
        with self._lock:
            if self._open:
                self.capture.sink(chunk, self.pipeline.process(chunk))

    def close(self) -> None:
        """Detach from the engine; after this the pipeline and capture are only read here."""
        self.engine.remove_sink(self.sink)
        with self._lock:  # a chunk being processed on the device thread finishes first
            self._open = False

    def diagnose(self, source: str) -> Diagnosis:
        self.close()
        if self.engine.state == DeviceState.ERROR and self.engine.last_message:
            self.capture.status(DeviceStatus(DeviceState.ERROR, self.engine.last_message))
        wall = time.monotonic() - self.started
        return analyse(self.capture, self.info, self.pipeline, self.engine.device, source, wall)


class CheckSignalDialog(QDialog):
    """Listens to ``engine`` for ``seconds`` and shows the diagnosis (``diagnosis`` once done).

    ``engine`` may be a callable returning the window's current engine: a check asked for while
    the window is still opening its source waits for it (up to :data:`CONNECT_WAIT_S`).
    """

    def __init__(
        self,
        engine: Engine | Callable[[], Engine | None] | None,
        source: str,
        parent: QWidget | None = None,
        seconds: float = CHECK_SECONDS,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Check signal")
        self.setMinimumWidth(760)
        self._fit_to_screen()
        self._engine = engine
        self.source, self.seconds = source, seconds
        #: The result of the last check (None while listening or before a source streams).
        self.diagnosis: Diagnosis | None = None
        self._listener: _Listener | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)
        #: While the source is still connecting: when waiting began (None: not waiting).
        self._waiting_since: float | None = None
        self._build()

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        self.verdict_label = QLabel()
        self.verdict_label.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # the figure and the advice share the width; long advice wraps instead of being cut
        header.setSectionResizeMode(len(COLUMNS) - 2, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.notes_label = QLabel()
        self.notes_label.setWordWrap(True)
        self.notes_label.setStyleSheet(f"color: {PALETTE.text_muted};")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        self.again_button = QPushButton("Check again")
        self.again_button.clicked.connect(self.start)
        buttons.addButton(self.again_button, QDialogButtonBox.ButtonRole.ActionRole)
        for widget in (self.verdict_label, self.progress, self.table, self.notes_label, buttons):
            layout.addWidget(widget)

    # -- listening -----------------------------------------------------------------------------
    def start(self) -> None:
        """Listen to the live source for :attr:`seconds`, then show the checks."""
        self._stop_listening()
        self.diagnosis = None
        self.table.setRowCount(0)
        self.notes_label.clear()
        engine = self.engine
        if engine is None and not self.source:
            self._say_no_source()
            return
        if engine is None or engine.info is None:  # still connecting: listen once it streams
            self._waiting_since = time.monotonic()
            self.verdict_label.setText(f"Waiting for {self.source} to connect…")
            self.progress.setRange(0, 0)  # busy
            self.progress.show()
            self.again_button.setEnabled(False)
            self._timer.start()
            return
        self._listen(engine)

    def _fit_to_screen(self) -> None:
        """Room for every row without scrolling where the screen allows (1366x768 and up)."""
        screen = self.screen().availableGeometry()
        self.resize(min(1100, int(screen.width() * 0.85)), min(520, int(screen.height() * 0.85)))

    @property
    def engine(self) -> Engine | None:
        """The engine to listen to (the window's current one when given as a callable)."""
        engine = self._engine
        if engine is None or isinstance(engine, Engine):
            return engine
        return engine()

    def _say_no_source(self) -> None:
        self.verdict_label.setText(
            "No source is streaming: choose one under Source and channel, then check again."
        )
        self.progress.hide()
        self.again_button.setEnabled(True)

    def _listen(self, engine: Engine) -> None:
        self._waiting_since = None
        self.progress.setRange(0, 100)
        self._listener = _Listener(engine)
        self.verdict_label.setText(f"Listening to {self.source} for {self.seconds:g} s…")
        self.progress.setValue(0)
        self.progress.show()
        self.again_button.setEnabled(False)
        self._timer.start()

    def _tick(self) -> None:
        if self._waiting_since is not None:
            self._wait_for_source()
            return
        listener = self._listener
        if listener is None:
            self._timer.stop()
            return
        elapsed = time.monotonic() - listener.started
        self.progress.setValue(min(100, round(100 * elapsed / self.seconds)))
        if elapsed >= self.seconds:
            self._timer.stop()
            self._listener = None
            self.show_diagnosis(listener.diagnose(self.source))

    def _wait_for_source(self) -> None:
        engine = self.engine
        assert self._waiting_since is not None
        if engine is not None and engine.info is not None:
            self._listen(engine)
        elif time.monotonic() - self._waiting_since > CONNECT_WAIT_S:
            self._timer.stop()
            self._waiting_since = None
            self.progress.setRange(0, 100)
            self._say_no_source()
            self.verdict_label.setText(
                f"{self.source} did not connect within {CONNECT_WAIT_S:g} s: see the message in "
                "the window, fix the connection, then check again."
            )

    def _stop_listening(self) -> None:
        self._timer.stop()
        self._waiting_since = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def done(self, result: int) -> None:
        """Closing the dialog stops listening."""
        self._stop_listening()
        super().done(result)

    # -- the result ----------------------------------------------------------------------------
    def show_diagnosis(self, diagnosis: Diagnosis) -> None:
        """Fill the table: one row per check."""
        self.diagnosis = diagnosis
        self.progress.hide()
        self.again_button.setEnabled(True)
        self.verdict_label.setText(f"{diagnosis.source}: {diagnosis.verdict}")
        rows = diagnosis.rows()
        self.table.setRowCount(len(rows))
        for i, row in enumerate(rows):
            self._fill(i, row)
        self.table.resizeRowsToContents()
        self.notes_label.setText("\n".join(f"Note: {n}" for n in diagnosis.notes))
        self.notes_label.setVisible(bool(diagnosis.notes))

    def _fill(self, i: int, row: Row) -> None:
        result = QTableWidgetItem(STATUS_TEXT[row.status])
        result.setBackground(QColor(STATUS_COLOUR[row.status]))
        result.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
        figure = f"{row.problem}\n{row.figure}" if row.problem else row.figure
        for col, item in enumerate(
            (
                QTableWidgetItem(row.check),
                result,
                QTableWidgetItem(figure),
                QTableWidgetItem(row.advice),
            )
        ):
            self.table.setItem(i, col, item)

    def row_texts(self) -> dict[str, tuple[str, str, str]]:
        """What the table shows, by check: (result, figure, what to do)."""
        texts = {}
        for i in range(self.table.rowCount()):
            cells = [self.table.item(i, c) for c in range(len(COLUMNS))]
            name, result, figure, advice = (c.text() if c is not None else "" for c in cells)
            texts[name] = (result, figure, advice)
        return texts


def open_check_signal(
    engine: Engine | Callable[[], Engine | None] | None, source: str, parent: QWidget
) -> CheckSignalDialog:
    """Show the dialog (not modal: the live view keeps drawing) and start listening."""
    dialog = CheckSignalDialog(engine, source, parent, seconds=CHECK_SECONDS)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.show()
    dialog.start()
    return dialog
