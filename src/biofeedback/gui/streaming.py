"""The window's Streaming menu: LSL out and OSC out, off until switched on (docs/interop.md).

:class:`StreamingControl` owns a menu ("Stream to LSL", "Send OSC…"), a status-bar label that
says what is on, and one :class:`biofeedback.interop.streaming.Streaming` that the window
attaches to every engine it opens. The choice is remembered in the window's preferences
(:class:`biofeedback.appmodel.prefs.StreamingPrefs`). A part that fails is detached by the
engine (streaming is never essential), and the window's alert bar says so once; the recording
goes on.

The network libraries are reached only through :mod:`biofeedback.interop`, imported when a
switch is on, so a window that streams nothing imports and opens nothing of them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from biofeedback.appmodel.prefs import StreamingPrefs
from biofeedback.errors import BiofeedbackError

if TYPE_CHECKING:
    from biofeedback.engine import Engine
    from biofeedback.gui.alert_bar import AlertBar
    from biofeedback.interop.streaming import Streaming, StreamingOptions
    from biofeedback.session import RecordingSession
    from biofeedback.training.runner import RunnerEvent

log = logging.getLogger(__name__)

DEFAULT_OSC_HOST = StreamingPrefs.osc_host
DEFAULT_OSC_PORT = StreamingPrefs.osc_port
DEFAULT_OSC_RATE_HZ = StreamingPrefs.osc_rate_hz


class StreamingControl(QObject):
    """Streaming menu, status label and the streams of the window's current engine.

    ``prefs`` is the window's remembered streaming preferences (changed in place);
    ``switch_on`` overrides some of them (``gui --lsl --osc HOST:PORT``: keys ``lsl``,
    ``osc``, ``osc_host``, ``osc_port``, ``osc_rate_hz``); ``alert`` shows what stopped. Call :meth:`attach` for every engine the window opens (opened,
    not started), :meth:`detach` when it closes it.
    """

    problem = Signal(str)

    def __init__(
        self,
        parent: QWidget,
        prefs: StreamingPrefs,
        alert: AlertBar,
        switch_on: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(parent)
        self.parent_widget = parent
        self.prefs = prefs
        for key, value in (switch_on or {}).items():
            if hasattr(prefs, key):
                setattr(prefs, key, value)
            else:
                log.warning("unknown streaming switch %r ignored", key)
        self.alert = alert
        self.engine: Engine | None = None
        self.streaming: Streaming | None = None
        self._thresholds: list[float] = []
        self._session: RecordingSession | None = None
        self.label = QLabel("")
        self.label.setObjectName("muted")
        self.label.setToolTip("What this window sends to other programs (Streaming menu)")
        self.menu = QMenu("Str&eaming", parent)
        self.lsl_action = QAction("Stream to LSL (raw, envelope, markers)", self)
        self.lsl_action.setCheckable(True)
        self.lsl_action.setChecked(self.prefs.lsl)
        self.lsl_action.toggled.connect(self._lsl_toggled)
        self.osc_action = QAction("Send OSC…", self)
        self.osc_action.setCheckable(True)
        self.osc_action.setChecked(self.prefs.osc)
        self.osc_action.triggered.connect(self._osc_triggered)
        self.markers_action = QAction("Receive LSL markers…", self)
        self.markers_action.setCheckable(True)
        self.markers_action.setChecked(bool(self.prefs.lsl_markers))
        self.markers_action.triggered.connect(self._markers_triggered)
        self.menu.addAction(self.lsl_action)
        self.menu.addAction(self.osc_action)
        self.menu.addSeparator()
        self.menu.addAction(self.markers_action)
        self.problem.connect(self._show_problem)
        self._show_state()

    # -- options ---------------------------------------------------------------------------------
    def options(self) -> StreamingOptions:
        """What is switched on, from the remembered settings (a bad remembered OSC target is
        switched off and said)."""
        from biofeedback.interop.streaming import StreamingOptions

        lsl = self.prefs.lsl
        target = None
        rate = float(self.prefs.osc_rate_hz)
        if self.prefs.osc:
            from biofeedback.interop.osc import check_rate, parse_target

            host, port = self.prefs.osc_host, self.prefs.osc_port
            try:
                target = parse_target(f"{host}:{port}", "OSC target")
                rate = check_rate(rate, "OSC rate")
            except BiofeedbackError as exc:
                self._switch_osc_off(str(exc))
                target = None
        markers = self.prefs.lsl_markers.strip()
        return StreamingOptions(lsl=lsl, osc=target, osc_rate_hz=rate, lsl_markers=markers)

    def set_osc(self, host: str, port: int, rate_hz: float) -> str:
        """Switch OSC on to ``host:port`` at ``rate_hz``; returns "" or what is wrong (then
        nothing changes)."""
        from biofeedback.interop.osc import check_rate, parse_target

        try:
            parse_target(f"{host.strip()}:{port}", "OSC target")
            check_rate(rate_hz, "OSC rate")
        except BiofeedbackError as exc:
            return str(exc)
        self.prefs.osc, self.prefs.osc_host = True, host.strip()
        self.prefs.osc_port, self.prefs.osc_rate_hz = int(port), float(rate_hz)
        self.osc_action.setChecked(True)
        self._restart()
        return ""

    def set_lsl(self, on: bool) -> None:
        """Switch LSL out on or off."""
        self.lsl_action.setChecked(on)  # toggled -> _lsl_toggled

    def _lsl_toggled(self, on: bool) -> None:
        if self.prefs.lsl == on:
            return
        self.prefs.lsl = on
        self._restart()

    def _osc_triggered(self, checked: bool) -> None:
        if not checked:
            self.prefs.osc = False
            self._restart()
            return
        self.osc_action.setChecked(self.prefs.osc)  # until the dialog is OK
        OscDialog(self, self.parent_widget).open()

    def set_lsl_markers(self, name: str) -> None:
        """Store the markers of the LSL marker stream ``name`` in the sessions recorded from now
        on, and in the one running ("" switches it off)."""
        self.prefs.lsl_markers = name.strip()
        self.markers_action.setChecked(bool(name.strip()))
        self._restart()

    def _markers_triggered(self, checked: bool) -> None:
        if not checked:
            self.set_lsl_markers("")
            return
        self.markers_action.setChecked(False)  # until a name is given
        name, ok = QInputDialog.getText(
            self.parent_widget,
            "Receive LSL markers",
            "Name of the LSL marker stream (e.g. from PsychoPy); its markers are stored in the "
            "sessions you record:",
            text=self.prefs.lsl_markers_last,
        )
        if ok and name.strip():
            self.prefs.lsl_markers_last = name.strip()
            self.set_lsl_markers(name)

    def listen(self, session: RecordingSession) -> None:
        """A recording started: its session stores the markers of the chosen LSL stream (also
        after LSL or OSC is switched on or off while it runs)."""
        self._session = session
        streaming = self.streaming
        if streaming is not None and session.engine is self.engine:
            streaming.listen_for_markers(
                lambda index, label, note: session.add_marker(label, note, index=index)
            )

    def _switch_osc_off(self, why: str) -> None:
        self.prefs.osc = False
        self.osc_action.setChecked(False)
        self.alert.show_alert("OSC is off.", why, level="warning")

    # -- engines ---------------------------------------------------------------------------------
    def attach(self, engine: Engine, thresholds: list[float]) -> None:
        """Stream from ``engine`` (opened, not started, or running) what is switched on."""
        self.detach()
        self.engine = engine
        if self._session is not None and self._session.engine is not engine:
            self._session = None  # that recording has ended
        self._thresholds = list(thresholds)
        options = self.options()
        if options.active:
            from biofeedback.interop.streaming import Streaming

            streaming = Streaming(options, on_problem=self.problem.emit)
            try:
                streaming.attach(engine)
            except BiofeedbackError as exc:
                log.error("streaming not started: %s", exc)
                self.alert.show_alert("Streaming is off.", str(exc), level="warning")
            else:
                self.streaming = streaming
                streaming.set_thresholds(self._thresholds)
                if self._session is not None:
                    self.listen(self._session)
        self._show_state()

    def detach(self) -> None:
        """Close the streams of the current engine (before the window closes it)."""
        streaming, self.streaming = self.streaming, None
        self.engine = None
        if streaming is not None:
            streaming.close()
        self._show_state()

    def _restart(self) -> None:
        engine = self.engine
        if engine is not None and engine.info is not None:
            self.attach(engine, self._thresholds)
        else:
            self._show_state()

    # -- what the window sends -------------------------------------------------------------------
    def on_session_event(self, event: RunnerEvent) -> None:
        """A recording session's listener (device thread): phases, targets, prompts."""
        streaming = self.streaming
        if streaming is not None:
            streaming.on_event(event)

    def marker(self, index: int, note: str = "") -> None:
        """A marker the user set in the window (key M; a note typed later comes again with it)."""
        streaming = self.streaming
        if streaming is not None:
            from biofeedback.interop.markers import user_marker_text

            streaming.marker(user_marker_text(note), index)

    def threshold(
        self, channel: int, value_uv: float, reason: str, index: int | None, *, marker: bool = True
    ) -> None:
        """A channel's target changed in the window: sent by OSC, and as a marker unless a
        running protocol sends its own (``marker=False``)."""
        while len(self._thresholds) <= channel:
            self._thresholds.append(value_uv)
        self._thresholds[channel] = value_uv
        streaming = self.streaming
        if streaming is None:
            return
        if marker:
            streaming.set_threshold(value_uv, channel, reason, index)
        else:
            streaming.set_thresholds(self._thresholds)

    # -- showing it ------------------------------------------------------------------------------
    def status_text(self) -> str:
        """``LSL on · OSC to 127.0.0.1:9000`` ("" when nothing is on)."""
        streaming = self.streaming
        if streaming is None:
            return ""
        parts = []
        if streaming.lsl_running:
            parts.append("LSL on")
        if streaming.osc_running and streaming.osc is not None:
            parts.append(f"OSC to {streaming.osc.target}")
        if streaming.options.lsl_markers:
            parts.append(f"markers from {streaming.options.lsl_markers!r}")
        return " · ".join(parts)

    def _show_state(self) -> None:
        text = self.status_text()
        self.label.setText(text)
        self.label.setVisible(bool(text))

    def _show_problem(self, message: str) -> None:
        log.warning("streaming: %s", message)
        if message.startswith("receiving LSL markers"):  # good news: the status bar is enough
            top = self.parent_widget.window()
            if isinstance(top, QMainWindow):
                top.statusBar().showMessage(message, 8000)
            return
        title = "LSL markers." if "LSL marker stream" in message else "Streaming stopped."
        self.alert.show_alert(title, message, level="warning")
        self._show_state()


class OscDialog(QDialog):
    """Host, port and rate for OSC out; OK switches it on (a bad value is said in the dialog)."""

    def __init__(self, control: StreamingControl, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Send OSC")
        self.control = control
        prefs = control.prefs
        self.host = QLineEdit(prefs.osc_host)
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(prefs.osc_port)
        self.rate = QDoubleSpinBox()
        self.rate.setRange(1.0, 200.0)
        self.rate.setDecimals(0)
        self.rate.setSuffix(" Hz")
        self.rate.setValue(prefs.osc_rate_hz)
        self.error = QLabel("")
        self.error.setWordWrap(True)
        note = QLabel(
            "Sends the envelope, the target, below or above, and markers as OSC messages "
            "(UDP, addresses /biofeedback/...) to this host and port. Nothing is received."
        )
        note.setWordWrap(True)
        note.setObjectName("muted")
        form = QFormLayout()
        form.addRow("Host", self.host)
        form.addRow("Port", self.port)
        form.addRow("Rate", self.rate)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._ok)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def _ok(self) -> None:
        problem = self.control.set_osc(self.host.text(), self.port.value(), self.rate.value())
        if problem:
            self.error.setText(problem)
            return
        self.accept()
