"""Source and channel settings: which sensor, which board, MyoWare gain pot, mains, RMS window.

The panel only collects values; the main window applies them (pipeline settings go to
``engine.set_settings`` between two chunks; board and ADC changes reopen the source).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, fields
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from biofeedback.core.hardware import ADC_BITS_MAX, ADC_BITS_MIN, BOARDS
from biofeedback.core.types import StreamInfo

log = logging.getLogger(__name__)

#: The simulated sensor on a 12-bit board, whose RAW output resolves a relaxed muscle.
DEFAULT_SIM_SOURCE = "sim://?scenario=relax&board=12bit"
MAINS_CHOICES = {"50": "50 Hz", "60": "60 Hz", "auto": "auto (50 or 60 Hz)"}
EXAMPLE_SOURCES = [
    "sim://?scenario=relax",
    "sim://?scenario=tense-release",
    "sim://?scenario=noisy",
    "sim://?scenario=dropout",
    "auto",
    "lsl://?type=EMG",  # another program's LSL stream (docs/interop.md)
    "brainflow://synthetic",  # BrainFlow's synthetic board (brainflow://cyton?serial_port=...)
]
#: ADC resolutions offered besides the board's own (any 8..16 from the settings file is kept).
ADC_BITS_CHOICES = (10, 12, 14, 16)


@dataclass
class ChannelSetup:
    """Hardware and processing choices the clinician can change (remembered between runs).

    ``board`` and ``adc_bits`` apply to sources that take ``board=`` / ``bits=`` options (the
    simulator, a stock sketch's text stream); a board running our firmware reports its ADC itself.
    ``adc_bits`` 0 means the board's own resolution, else 8..16 (a sketch that calls
    ``analogReadResolution(n)``). ``pot_kohm`` < 0 means "use the source's ENV gain".
    ``mains`` is "50", "60" or "auto".
    """

    board: str = "12bit"
    adc_bits: int = 0
    pot_kohm: float = -1.0
    mains: str = "50"
    rms_window_ms: float = 100.0
    highpass_hz: float = 20.0

    @property
    def mains_setting(self) -> float | str:
        """The value for ``PipelineSettings.mains_hz``."""
        return "auto" if self.mains == "auto" else float(self.mains)

    @property
    def effective_adc_bits(self) -> int:
        """The ADC resolution this setup means: ``adc_bits``, or the board's own when 0."""
        return self.adc_bits or BOARDS[self.board].adc_bits

    @property
    def pot_setting(self) -> float | None:
        """The value for ``PipelineSettings.env_pot_kohm`` (None: keep the source's gain)."""
        return None if self.pot_kohm < 0 else float(self.pot_kohm)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for the settings file."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Any) -> ChannelSetup:
        """From a settings dict; unknown keys and bad values fall back to the defaults."""
        setup = cls()
        if not isinstance(values, dict):
            return setup
        for f in fields(cls):
            if f.name in values:
                try:
                    setattr(setup, f.name, type(getattr(setup, f.name))(values[f.name]))
                except (TypeError, ValueError):
                    log.info(
                        "remembered %s=%r is not valid: the default is used", f.name, values[f.name]
                    )
        if setup.board not in BOARDS:
            setup.board = cls.board
        if setup.adc_bits != 0 and not ADC_BITS_MIN <= setup.adc_bits <= ADC_BITS_MAX:
            setup.adc_bits = cls.adc_bits
        if setup.mains not in MAINS_CHOICES:
            setup.mains = cls.mains
        if not 50 <= setup.rms_window_ms <= 250:
            setup.rms_window_ms = cls.rms_window_ms
        if setup.highpass_hz not in (20.0, 30.0):
            setup.highpass_hz = cls.highpass_hz
        return setup


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
        self.source = QComboBox()
        self.source.setEditable(True)
        self.source.setToolTip(
            "sim://?scenario=relax, serial:///dev/ttyACM0, replay://SESSION, auto"
        )
        for url in [*recent, *EXAMPLE_SOURCES]:
            if self.source.findText(url) < 0:
                self.source.addItem(url)
        self.connect_button = QPushButton("Connect")
        self.connect_button.clicked.connect(self._on_connect)

        self.board = QComboBox()
        for key, board in BOARDS.items():
            self.board.addItem(board.label, key)
        self.board.setToolTip(
            "For the simulator and a stock sketch's text stream; "
            "a board with our firmware reports its ADC itself"
        )
        self.board.currentIndexChanged.connect(self._show_board_bits)
        self.adc_bits = QComboBox()
        self.adc_bits.addItem("board's own", 0)
        for bits in ADC_BITS_CHOICES:
            self.adc_bits.addItem(f"{bits} bit", bits)
        self.adc_bits.setToolTip(
            "ADC resolution for the simulator and a stock sketch's text stream (a sketch that "
            "calls analogReadResolution(n) reads n bits); a board with our firmware reports its own"
        )
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
        self.mains = QComboBox()
        for key, label in MAINS_CHOICES.items():
            self.mains.addItem(label, key)
        self.rms = QSpinBox()
        self.rms.setRange(50, 250)
        self.rms.setSingleStep(10)
        self.rms.setSuffix(" ms")
        self.highpass = QComboBox()
        self.highpass.addItem("20 Hz (limbs, neck)", 20.0)
        self.highpass.addItem("30 Hz (trunk, left trapezius: ECG)", 30.0)
        self.apply_button = QPushButton("Apply")
        self.apply_button.clicked.connect(self._on_apply)

        for combo in (self.source, self.board, self.adc_bits, self.mains, self.highpass):
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.setMinimumContentsLength(8)
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

    def set_source(self, url: str) -> None:
        """Show the current source URL."""
        if self.source.findText(url) < 0:
            self.source.insertItem(0, url)
        self.source.setCurrentText(url)

    def set_setup(self, setup: ChannelSetup) -> None:
        """Show a setup in the controls."""
        self.board.blockSignals(True)
        self.board.setCurrentIndex(max(0, self.board.findData(setup.board)))
        self.board.blockSignals(False)
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
        if info.board in BOARDS:
            self.board.setCurrentIndex(max(0, self.board.findData(info.board)))
            own = BOARDS[info.board].adc_bits
            if info.adc_bits is not None:
                self._select_bits(0 if info.adc_bits == own else info.adc_bits)

    def _show_board_bits(self) -> None:
        key = self.board.currentData()
        own = f" ({BOARDS[key].adc_bits} bit)" if key in BOARDS else ""
        self.adc_bits.setItemText(0, f"board's own{own}")

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


def source_for_setup(url: str, setup: ChannelSetup) -> str | None:
    """``url`` with ``board=`` and ``bits=`` set per ``setup``, for sources that take them.

    Those are the simulator (``sim://``) and a stock sketch's text stream (``serial://...`` with
    ``format=text``). Returns ``url`` itself when it already means the same board and resolution,
    and None for sources that report their own ADC (our firmware, ``replay://``, ``auto``).
    ``bits=`` is written only when it differs from the board's own resolution.
    """
    parts = urlsplit(url.strip())
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    text_mode = parts.scheme == "serial" and ("format", "text") in pairs
    if parts.scheme != "sim" and not text_mode:
        return None  # a board with our firmware (or a recording) reports its ADC itself
    options = dict(pairs)
    board = options.get("board", "uno")  # both sources default to an Uno
    try:
        bits = int(options["bits"]) if "bits" in options else BOARDS[board].adc_bits
    except (KeyError, ValueError):
        bits = None  # a malformed URL: rewrite it
    want_bits = setup.effective_adc_bits
    if board == setup.board and bits == want_bits:
        return url
    query = [(k, v) for k, v in pairs if k not in ("board", "bits")]
    query.append(("board", setup.board))
    if want_bits != BOARDS[setup.board].adc_bits:
        query.append(("bits", str(want_bits)))
    return f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(query, safe=',')}"
