"""Pieces of the clinician view: one card per channel, the connection banner, the quality light."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from PySide6.QtCore import QEvent, QObject, QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLayout,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from biofeedback.devices.base import DeviceState
from biofeedback.devices.facts import source_facts
from biofeedback.gui.bridge import quality_level, quality_text
from biofeedback.gui.tension_gauge import TensionGaugeWidget, format_uv
from biofeedback.gui.theme import FONT_BANNER_PT, PALETTE, font

if TYPE_CHECKING:
    from biofeedback.gui.live_plot import LivePlotWidget


class ElidedLabel(QLabel):
    """A one-line label that ends in "…" when it is too narrow, instead of being cut off."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(60)

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setPen(self.palette().color(self.foregroundRole()))
        elided = self.fontMetrics().elidedText(
            self.text(), Qt.TextElideMode.ElideRight, self.width()
        )
        p.drawText(self.rect(), int(self.alignment() | Qt.AlignmentFlag.AlignVCenter), elided)
        p.end()


class QualityLight(QLabel):
    """A coloured dot and the name of the problem ("Signal good", "mains hum: check ...")."""

    COLOURS: ClassVar[dict[str, str]] = {
        "good": PALETTE.calm,
        "warn": PALETTE.tense,
        "bad": PALETTE.lost,
        "none": PALETTE.neutral,
    }

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.level = "none"
        self.flags = 0
        self.setTextFormat(Qt.TextFormat.RichText)
        self.set_waiting()

    def set_waiting(self) -> None:
        """No data yet."""
        self.level = "none"
        self._show("waiting for signal")

    def set_flags(self, flags: int) -> None:
        """Show the quality of the last second."""
        self.flags = int(flags)
        self.level = quality_level(self.flags)
        self._show(quality_text(self.flags))

    def _show(self, text: str) -> None:
        dot = self.COLOURS[self.level]
        self.setText(f"<span style='color:{dot}; font-size:16pt'>●</span>&nbsp;{text}")


#: The smallest height of a card's traces (px): with the gauge's minimum (gui/tension_gauge.py),
#: four cards share the channel area of a 1920x1080 screen without scrolling.
PLOT_MIN_HEIGHT = 120
#: The channel area's smallest height (px): about one card at its minimum.
MIN_VISIBLE_HEIGHT = 240


class ChannelArea(QScrollArea):
    """The channel cards, one under the other, sharing the height. Where they do not fit at their
    minimum (four channels on a 1366x768 laptop) the area scrolls vertically instead of pushing
    the window off the screen; it never scrolls sideways (the window keeps the cards' width)."""

    def __init__(self, layout: QLayout, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        inner = QWidget()
        inner.setLayout(layout)
        self.setWidget(inner)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def minimumSizeHint(self) -> QSize:
        """As wide as the cards need (plus the scroll bar); as high as one card needs."""
        content = self.widget()
        inner = content.minimumSizeHint() if content is not None else QSize(0, 0)
        bar = self.verticalScrollBar().sizeHint().width()
        return QSize(inner.width() + bar, min(inner.height(), MIN_VISIBLE_HEIGHT))

    def sizeHint(self) -> QSize:
        return self.minimumSizeHint().expandedTo(QSize(600, 400))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # cards added or removed: the window's minimum width follows them
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self.updateGeometry()
        return super().eventFilter(watched, event)


class ChannelCard(QFrame):
    """Traces, gauge, readout, noise floor and quality light of one output channel."""

    def __init__(
        self,
        name: str,
        kind: str,
        window_s: float,
        show_raw: bool = True,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("channelCard")
        self.name = name
        self.title = QLabel(f"{name}")
        self.title.setObjectName("channelTitle")
        self.title.setFont(font(13, bold=True))
        # the processing line may be shortened in a narrow window (full text in the tooltip and
        # in the status bar); it must not set the window's minimum width
        self.kind_label = ElidedLabel(kind)
        self.kind_label.setObjectName("muted")
        self.kind_label.setToolTip(kind)
        self.quality = QualityLight()
        self.noise_label = QLabel("noise floor –")
        self.noise_label.setObjectName("muted")
        # pyqtgraph is imported here, not at module level: the window draws its first frame
        # before that import (about 1 s) has finished (see biofeedback.gui.preload)
        from biofeedback.gui.live_plot import LivePlotWidget

        self.plot: LivePlotWidget = LivePlotWidget(window_s=window_s, show_raw=show_raw)
        self.plot.setMinimumHeight(PLOT_MIN_HEIGHT)
        self.warning = QLabel("")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet(f"color: {PALETTE.tense};")
        self.warning.hide()
        self.gauge = TensionGaugeWidget(interactive=True)
        self.gauge.setMinimumWidth(210)
        self.gauge.setMaximumWidth(320)

        header = QHBoxLayout()
        header.setSpacing(12)
        header.addWidget(self.title)
        header.addWidget(self.kind_label, 1)
        header.addWidget(self.quality)
        header.addSpacing(16)
        header.addWidget(self.noise_label)

        body = QHBoxLayout()
        body.setSpacing(8)
        body.addWidget(self.plot, 3)
        body.addWidget(self.gauge, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 8)
        layout.setSpacing(4)
        layout.addLayout(header)
        layout.addWidget(self.warning)
        layout.addLayout(body, 1)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_warning(self, text: str) -> None:
        """A note on what this channel cannot measure (e.g. RAW on a 10-bit board)."""
        self.warning.setText(text)
        self.warning.setVisible(bool(text))

    def set_noise_floor(self, noise_floor_uv: float) -> None:
        """Noise floor in the header, on the gauge and as a dashed line in the envelope plot."""
        self.noise_label.setText(f"noise floor {format_uv(noise_floor_uv)} µV RMS")
        self.gauge.set_noise_floor(noise_floor_uv)
        self.plot.set_noise_floor(noise_floor_uv)


class ConnectionBanner(QFrame):
    """Connection state. Quiet one-liner when connected; a coloured band with the reason when
    reconnecting (amber), lost or failed (red), or finished (grey)."""

    STYLES: ClassVar[dict[str, tuple[str, str]]] = {
        "ok": (PALETTE.panel, PALETTE.calm),
        "warn": (PALETTE.warn_soft, PALETTE.tense),
        "bad": (PALETTE.lost_soft, PALETTE.lost),
        "idle": (PALETTE.panel, PALETTE.neutral),
    }

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.state = DeviceState.IDLE
        self.label = QLabel()
        self.label.setFont(font(FONT_BANNER_PT))
        self.label.setTextFormat(Qt.TextFormat.RichText)
        # a long reason (a wrong port, an unknown scenario) wraps instead of widening the window
        self.label.setWordWrap(True)
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.label.setMinimumWidth(120)
        # at most three lines tall: the rest of a very long reason is in the tooltip
        self.label.setMaximumHeight(3 * self.label.fontMetrics().lineSpacing() + 12)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 6, 12, 6)
        layout.addWidget(self.label, 1)
        self.set_state(DeviceState.IDLE, "")

    @property
    def text(self) -> str:
        """The banner's plain text (for tests and accessibility)."""
        return self.label.text()

    @property
    def alarming(self) -> bool:
        """True while the banner asks for attention (reconnecting, lost, error)."""
        return self.state in (DeviceState.RECONNECTING, DeviceState.LOST, DeviceState.ERROR)

    def set_state(self, state: DeviceState, message: str, source: str = "") -> None:
        """Show a device state and its reason (``source``: URL, shown short; full in the tooltip)."""
        self.state = state
        self.setToolTip(source)
        where = f" · {describe_source(source)}" if source else ""
        reason = f": {message}" if message and message not in ("streaming",) else ""
        if state == DeviceState.CONNECTED:
            style, text = "ok", f"Connected{where}"
        elif state == DeviceState.CONNECTING:
            style, text = "idle", f"Connecting{where}…"
        elif state == DeviceState.RECONNECTING:
            style, text = "warn", f"Reconnecting{reason or '…'}"
        elif state == DeviceState.LOST:
            style, text = "bad", f"Connection lost{reason}"
        elif state == DeviceState.ERROR:
            style, text = "bad", f"Stopped by an error{reason}"
        elif state == DeviceState.FINISHED:
            style, text = "idle", f"End of recording{where}"
        elif state == DeviceState.STOPPED:
            style, text = "idle", "Stopped"
        else:
            style, text = "idle", message or "Not connected"
        bg, fg = self.STYLES[style]
        self.setStyleSheet(
            f"QFrame#banner {{ background: {bg}; border: 1px solid {fg if style in ('warn', 'bad') else PALETTE.border}; }}"
        )
        self.label.setText(
            f"<span style='color:{fg}; font-size:15pt'>●</span>&nbsp;"
            f"<span style='color:{PALETTE.text}'>{_escape(text)}</span>"
        )
        self.label.setToolTip(text)  # the whole reason, also when it is very long


def describe_source(url: str) -> str:
    """A short name for a source: "simulated sensor (relax)", "/dev/ttyACM0", "replay 12",
    "LSL stream Chords", "BrainFlow cyton" (its Device class's label, :mod:`biofeedback.devices.facts`)."""
    return source_facts(url).label


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
