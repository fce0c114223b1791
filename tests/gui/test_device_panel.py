"""The device panel: the ADC resolution choice, the stream it shows, and combo boxes that show
full names in a 310 px side panel (the setup itself: tests/appmodel/test_channel_setup.py; the
URL a setup implies: tests/devices/test_facts.py)."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QGroupBox, QScrollArea, QVBoxLayout, QWidget

from biofeedback.appmodel import channel_setup
from biofeedback.core.hardware import BOARDS
from biofeedback.core.types import ChannelInfo, ChannelKind, StreamInfo
from biofeedback.devices import facts
from biofeedback.gui.device_panel import (
    DEFAULT_SIM_SOURCE,
    EXAMPLE_SOURCES,
    ChannelSetup,
    DevicePanel,
    ElidingComboBox,
    source_for_setup,
)


def make_panel(qtbot, setup: ChannelSetup | None = None) -> DevicePanel:
    panel = DevicePanel(setup or ChannelSetup(), [])
    qtbot.addWidget(panel)
    return panel


def stream_info(board: str, bits: int | None, vref: float | None = 5.0) -> StreamInfo:
    raw = ChannelInfo("raw", ChannelKind.RAW, 200.0, 1.0, 0)
    return StreamInfo(
        fs_hz=1000.0,
        channels=(raw,),
        adc_bits=bits,
        vref_v=vref,
        units="counts" if bits else "uV",
        board=board,
    )


# ---- DevicePanel ----


def test_adc_combo_offers_the_boards_own_and_fixed_resolutions(qtbot):
    panel = make_panel(qtbot, ChannelSetup(board="12bit"))
    items = [panel.adc_bits.itemData(i) for i in range(panel.adc_bits.count())]
    assert items == [0, 10, 12, 14, 16]
    assert panel.adc_bits.itemText(0) == "12 bit (board's)"
    assert panel.setup().adc_bits == 0
    panel.board.setCurrentIndex(panel.board.findData("uno-r4"))
    assert panel.adc_bits.itemText(0) == "14 bit (board's)"
    assert "own resolution (14 bit)" in panel.adc_bits.toolTip()


def test_adc_combo_goes_into_the_setup(qtbot):
    panel = make_panel(qtbot, ChannelSetup(board="uno"))
    panel.adc_bits.setCurrentIndex(panel.adc_bits.findData(14))
    assert panel.setup() == ChannelSetup(board="uno", adc_bits=14)
    with qtbot.waitSignal(panel.setup_applied) as blocker:
        panel.apply_button.click()
    assert blocker.args[0].adc_bits == 14


def test_set_setup_shows_the_bits_even_when_not_offered(qtbot):
    panel = make_panel(qtbot, ChannelSetup(board="uno", adc_bits=12))
    assert panel.adc_bits.currentData() == 12
    panel.set_setup(ChannelSetup(board="uno", adc_bits=11))
    assert panel.adc_bits.currentData() == 11 and panel.adc_bits.currentText() == "11 bit"
    assert panel.setup().adc_bits == 11
    panel.set_setup(ChannelSetup(board="uno"))
    assert panel.setup().adc_bits == 0


def test_set_stream_shows_the_streams_adc(qtbot):
    panel = make_panel(qtbot, ChannelSetup(board="12bit"))
    panel.set_stream(stream_info("uno", 12))  # an Uno-class board read at 12 bits
    assert panel.adc.text() == "stream: 12 bit, 5 V" and panel.adc.isVisibleTo(panel)
    assert panel.setup().board == "uno" and panel.setup().adc_bits == 12
    panel.set_stream(stream_info("12bit", 12, 3.3))  # the board's own resolution
    assert panel.adc.text() == "stream: 12 bit, 3.3 V"
    assert panel.setup() == ChannelSetup(board="12bit", adc_bits=0)
    panel.set_stream(stream_info("", None, None))  # a recording in uV: keep the choice
    assert panel.adc.text() == "stream: uV, no ADC" and panel.setup().board == "12bit"


def test_the_window_keeps_importing_the_setup_from_here():
    assert ChannelSetup is channel_setup.ChannelSetup
    assert source_for_setup is channel_setup.source_for_setup
    assert DEFAULT_SIM_SOURCE == facts.DEFAULT_SIM_SOURCE
    assert tuple(EXAMPLE_SOURCES) == facts.EXAMPLE_SOURCES
    assert source_for_setup("replay://4", ChannelSetup()) is None


# ---- full names in a narrow side panel ----

SIDE_PANEL_PX = 310  # the main window's side panel (gui/main_window.py)


def side_panel(qtbot, setup: ChannelSetup, recent: list[str]) -> tuple[QScrollArea, DevicePanel]:
    """The panel as the main window holds it: in a group box in a 310 px scroll area."""
    panel = DevicePanel(setup, recent)
    content = QWidget()
    column = QVBoxLayout(content)
    column.setContentsMargins(0, 0, 4, 0)
    box = QGroupBox("Source and channel")
    QVBoxLayout(box).addWidget(panel)
    column.addWidget(box)
    scroll = QScrollArea()
    scroll.setWidget(content)
    scroll.setWidgetResizable(True)
    scroll.setFixedWidth(SIDE_PANEL_PX)
    scroll.resize(SIDE_PANEL_PX, 700)
    qtbot.addWidget(scroll)
    scroll.show()
    qtbot.waitExposed(scroll)
    return scroll, panel


def items(combo: ElidingComboBox) -> range:
    return range(combo.count())


@pytest.mark.parametrize("board", list(BOARDS))
def test_closed_combos_show_their_whole_short_label_in_the_side_panel(qtbot, board):
    scroll, panel = side_panel(qtbot, ChannelSetup(board=board), [])
    assert scroll.width() == SIDE_PANEL_PX
    for combo in (panel.board, panel.adc_bits, panel.mains, panel.highpass):
        for row in items(combo):
            combo.setCurrentIndex(row)
            assert combo.shown_text() == combo.itemText(row), combo.itemText(row)


def test_the_tooltip_holds_the_full_name(qtbot):
    _scroll, panel = side_panel(qtbot, ChannelSetup(board="uno"), [])
    for row, choice in enumerate(facts.board_choices()):
        panel.board.setCurrentIndex(row)
        assert panel.board.toolTip().startswith(choice.label)  # "Arduino Uno R3 / Nano (AVR..."
        assert BOARDS[choice.key].label in panel.board.toolTip()
    panel.highpass.setCurrentIndex(panel.highpass.findData(30.0))
    assert "trapezius" in panel.highpass.toolTip()
    panel.mains.setCurrentIndex(panel.mains.findData("auto"))
    assert panel.mains.toolTip().startswith(panel.mains.currentText())


def test_a_long_source_is_elided_with_its_full_url_in_the_tooltip(qtbot):
    long_url = "serial:///dev/serial/by-id/usb-Arduino_Uno_R4_0123456789?format=text&board=uno-r4"
    scroll, panel = side_panel(qtbot, ChannelSetup(), [long_url])
    panel.set_source(long_url)
    assert panel.source.width() < panel.source.fontMetrics().horizontalAdvance(long_url)
    assert panel.source.toolTip().startswith(long_url)
    assert panel.source.lineEdit().cursorPosition() == 0  # the start of the URL is in view
    assert scroll.width() == SIDE_PANEL_PX  # a long URL does not widen the panel
    combo = ElidingComboBox()
    qtbot.addWidget(combo)
    combo.addItem(long_url)
    combo.resize(120, combo.sizeHint().height())
    assert combo.shown_text().endswith("…") and len(combo.shown_text()) < len(long_url)
    assert combo.toolTip() == long_url


def test_no_item_is_cut_in_an_open_list(qtbot):
    long_url = "lsl://?name=A_rather_long_stream_name_from_another_program&units=uV"
    _scroll, panel = side_panel(qtbot, ChannelSetup(board="uno"), [long_url])
    for combo in panel.combos():
        combo.showPopup()
        view = combo.view()
        qtbot.waitUntil(view.isVisible, timeout=5000)
        for row in items(combo):
            index = combo.model().index(row, 0)
            needed = view.sizeHintForIndex(index).width()
            assert view.visualRect(index).width() >= needed, combo.itemText(row)
            assert view.viewport().width() >= needed, combo.itemText(row)
        combo.hidePopup()
        qtbot.waitUntil(lambda view=view: not view.isVisible(), timeout=5000)
