"""Source and channel settings: which sensor, which board, MyoWare gain pot, mains, RMS window.

The panel only collects values; the main window applies them (pipeline settings go to
``engine.set_settings`` between two chunks; board and ADC changes reopen the source). What a
source is (which board, whether the Board/ADC choice applies) comes from the device facts
(:mod:`biofeedback.devices.facts`); the setup itself is the Qt-free
:class:`~biofeedback.appmodel.channel_setup.ChannelSetup`, re-exported here.

The side panel is narrow (310 px): every combo box shows a short label, ends it in "…" if it
still does not fit, keeps the full name in its tooltip, and opens a list wide enough for every
item's full text.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication, QPaintEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionComboBox,
    QStylePainter,
    QVBoxLayout,
    QWidget,
)

from biofeedback.appmodel.channel_setup import (
    ADC_BITS_CHOICES,
    DEFAULT_SIM_SOURCE,
    HIGHPASS_CHOICES,
    MAINS_CHOICES,
    RMS_WINDOW_MS_RANGE,
    ChannelSetup,
    source_for_setup,
)
from biofeedback.core.types import StreamInfo
from biofeedback.devices.facts import EXAMPLE_SOURCES, SOURCE_HINT, board_adc_bits, board_choices

__all__ = [
    "ADC_BITS_CHOICES",
    "DEFAULT_SIM_SOURCE",
    "EXAMPLE_SOURCES",
    "MAINS_CHOICES",
    "ChannelSetup",
    "DevicePanel",
    "ElidingComboBox",
    "source_for_setup",
]

#: Characters a closed combo box keeps room for, whatever its items (the panel sets the width).
MIN_CONTENTS_CHARS = 8


class ElidingComboBox(QComboBox):
    """A combo box for a narrow panel.

    Closed, it shows its current text ending in "…" when the text does not fit, and its tooltip
    holds the full name (the item's own tooltip if it has one, else its text) above ``hint``.
    Open, its list is as wide as its widest item (within the screen), so no item is cut.
    """

    def __init__(self, hint: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._hint = hint
        # a plain item delegate: its size hint is the item's full text, which the list is fitted to
        self.setItemDelegate(QStyledItemDelegate(self))
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(MIN_CONTENTS_CHARS)
        self.currentIndexChanged.connect(self.refresh_tooltip)
        self.currentTextChanged.connect(self.refresh_tooltip)

    def full_name(self) -> str:
        """The current item's full name (its tooltip when it has one)."""
        index = self.currentIndex()
        full = self.itemData(index, Qt.ItemDataRole.ToolTipRole) if index >= 0 else None
        return str(full) if full else self.currentText()

    def shown_text(self) -> str:
        """The text the closed box shows: the current text, elided to the room it has."""
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        field = self.style().subControlRect(
            QStyle.ComplexControl.CC_ComboBox,
            option,
            QStyle.SubControl.SC_ComboBoxEditField,
            self,
        )
        return self.fontMetrics().elidedText(
            option.currentText, Qt.TextElideMode.ElideRight, max(0, field.width())
        )

    def popup_width(self) -> int:
        """Width of the open list: the widest item's, at least the box's, at most the screen's."""
        view = self.view()
        needed = view.sizeHintForColumn(0) + 2 * view.frameWidth()
        if self.count() > self.maxVisibleItems():
            needed += view.verticalScrollBar().sizeHint().width()
        screen = self.screen() or QGuiApplication.primaryScreen()
        limit = screen.availableGeometry().width() if screen is not None else needed
        return min(max(needed, self.width()), limit)

    def showPopup(self) -> None:
        self.view().setMinimumWidth(self.popup_width())
        super().showPopup()

    def paintEvent(self, event: QPaintEvent) -> None:
        if self.isEditable():  # the line edit shows (and scrolls) the text itself
            super().paintEvent(event)
            return
        painter = QStylePainter(self)
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        painter.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, option)
        option.currentText = self.shown_text()
        painter.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, option)

    def refresh_tooltip(self) -> None:
        name = self.full_name()
        self.setToolTip("\n\n".join(text for text in (name, self._hint) if text))


class DevicePanel(QWidget):
    """Source picker and channel settings.

    Signals
    -------
    source_requested(str)
        The user asked to connect to a source URL.
    setup_applied(object)
        The user applied a :class:`ChannelSetup`.
    """

    source_requested = Signal(str)
    setup_applied = Signal(object)

    def __init__(
        self, setup: ChannelSetup, recent: list[str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._build_source(recent)
        self._build_channel()
        row = QHBoxLayout()
        row.addWidget(self.source, 1)
        row.addWidget(self.connect_button)
        form = QFormLayout()
        form.addRow("Board", self.board)
        form.addRow("ADC", self.adc_bits)
        # the open stream's ADC on its own line: beside the combo it would widen the side panel
        form.addRow("", self.adc)
        form.addRow("Gain pot", self.pot)
        form.addRow("Mains", self.mains)
        form.addRow("High-pass", self.highpass)
        form.addRow("RMS window", self.rms)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addLayout(form)
        layout.addWidget(self.apply_button)
        self.set_setup(setup)

    def _build_source(self, recent: list[str]) -> None:
        self.source = ElidingComboBox(f"Examples: {SOURCE_HINT}")
        self.source.setEditable(True)
        for url in [*recent, *EXAMPLE_SOURCES]:
            if self.source.findText(url) < 0:
                self.source.addItem(url)
        self.connect_button = QPushButton("Connect")
        self.connect_button.clicked.connect(self._on_connect)

    def _build_channel(self) -> None:
        self.board = ElidingComboBox(
            "For the simulator and a stock sketch's text stream; "
            "a board with our firmware reports its ADC itself"
        )
        for choice in board_choices():
            self.board.addItem(choice.short_label, choice.key)
            self.board.setItemData(
                self.board.count() - 1, choice.label, Qt.ItemDataRole.ToolTipRole
            )
        self.board.currentIndexChanged.connect(self._show_board_bits)
        self.adc_bits = ElidingComboBox(
            "ADC resolution for the simulator and a stock sketch's text stream (a sketch that "
            "calls analogReadResolution(n) reads n bits); a board with our firmware reports its own"
        )
        self.adc_bits.addItem("board's own", 0)  # text and tooltip set per board
        for bits in ADC_BITS_CHOICES:
            self.adc_bits.addItem(f"{bits} bit", bits)
        self.adc = QLabel("–")
        self.adc.setObjectName("muted")
        self.adc.setToolTip("ADC of the open stream")
        self.pot = QDoubleSpinBox()
        self.pot.setRange(-1.0, 100.0)
        self.pot.setDecimals(1)
        self.pot.setSuffix(" kΩ")
        self.pot.setSpecialValueText("from source")
        self.pot.setToolTip(
            "Measured MyoWare 2.0 gain potentiometer (ENV gain = 200 × (1 + R/1 kΩ))"
        )
        self.mains = ElidingComboBox("Mains frequency removed by the notch filter")
        for key, label in MAINS_CHOICES.items():
            self.mains.addItem(label, key)
        self.rms = QSpinBox()
        self.rms.setRange(*RMS_WINDOW_MS_RANGE)
        self.rms.setSingleStep(10)
        self.rms.setSuffix(" ms")
        self.highpass = ElidingComboBox("High-pass corner of the EMG filter")
        for hz, (short, full) in HIGHPASS_CHOICES.items():
            self.highpass.addItem(short, hz)
            self.highpass.setItemData(self.highpass.count() - 1, full, Qt.ItemDataRole.ToolTipRole)
        self.apply_button = QPushButton("Apply")
        self.apply_button.clicked.connect(self._on_apply)

    def combos(self) -> tuple[ElidingComboBox, ...]:
        """Every combo box of the panel."""
        return (self.source, self.board, self.adc_bits, self.mains, self.highpass)

    def set_source(self, url: str) -> None:
        """Show the current source URL."""
        if self.source.findText(url) < 0:
            self.source.insertItem(0, url)
        self.source.setCurrentText(url)
        line = self.source.lineEdit()
        if line is not None:
            line.setCursorPosition(0)  # a long URL shows its start (the kind of source, the port)

    def set_setup(self, setup: ChannelSetup) -> None:
        """Show a setup in the controls."""
        self.board.blockSignals(True)
        self.board.setCurrentIndex(max(0, self.board.findData(setup.board)))
        self.board.blockSignals(False)
        self.board.refresh_tooltip()  # its signals were blocked
        self._show_board_bits()
        self._select_bits(setup.adc_bits)
        self.pot.setValue(float(setup.pot_kohm))
        self.mains.setCurrentIndex(max(0, self.mains.findData(setup.mains)))
        self.rms.setValue(round(setup.rms_window_ms))
        self.highpass.setCurrentIndex(max(0, self.highpass.findData(float(setup.highpass_hz))))

    def setup(self) -> ChannelSetup:
        """The setup the controls show."""
        return ChannelSetup(
            board=str(self.board.currentData()),
            adc_bits=int(self.adc_bits.currentData()),
            pot_kohm=float(self.pot.value()),
            mains=str(self.mains.currentData()),
            rms_window_ms=float(self.rms.value()),
            highpass_hz=float(self.highpass.currentData()),
        )

    def set_stream(self, info: StreamInfo) -> None:
        """Show the open stream's ADC (and its board and resolution when it reports a board)."""
        if info.adc_bits is None:
            self.adc.setText(f"stream: {info.units}, no ADC")
        else:
            vref = f", {info.vref_v:g} V" if info.vref_v else ""
            self.adc.setText(f"stream: {info.adc_bits} bit{vref}")
        own = board_adc_bits(info.board) if info.board else None
        if own is not None:
            self.board.setCurrentIndex(max(0, self.board.findData(info.board)))
            if info.adc_bits is not None:
                self._select_bits(0 if info.adc_bits == own else info.adc_bits)

    def _show_board_bits(self) -> None:
        own = board_adc_bits(str(self.board.currentData()))
        self.adc_bits.setItemText(0, f"{own} bit (board's)" if own else "board's own")
        self.adc_bits.setItemData(
            0,
            f"the board's own resolution ({own} bit)" if own else "the board's own resolution",
            Qt.ItemDataRole.ToolTipRole,
        )
        self.adc_bits.refresh_tooltip()

    def _select_bits(self, bits: int) -> None:
        index = self.adc_bits.findData(bits)
        if index < 0:  # a resolution from the settings file or a stream that is not offered
            self.adc_bits.addItem(f"{bits} bit", bits)
            index = self.adc_bits.count() - 1
        self.adc_bits.setCurrentIndex(index)

    def _on_connect(self) -> None:
        url = self.source.currentText().strip()
        if url:
            self.source_requested.emit(url)

    def _on_apply(self) -> None:
        self.setup_applied.emit(self.setup())
