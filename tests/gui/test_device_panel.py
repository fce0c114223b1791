"""The device panel's channel settings: the ADC resolution choice and the source it implies."""

from __future__ import annotations

import pytest

from biofeedback.core.types import ChannelInfo, ChannelKind, StreamInfo
from biofeedback.gui.device_panel import ChannelSetup, DevicePanel, source_for_setup


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


# ---- ChannelSetup ----


def test_setup_round_trips_through_the_settings_dict():
    setup = ChannelSetup(board="uno-r4", adc_bits=10, pot_kohm=20.0, mains="60")
    assert ChannelSetup.from_dict(setup.as_dict()) == setup
    assert setup.as_dict()["adc_bits"] == 10
    assert ChannelSetup.from_dict({"board": "uno"}).adc_bits == 0  # older settings files


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, 0), (8, 8), (12, 12), (16, 16), ("14", 14), (7, 0), (17, 0), (-2, 0), ("x", 0), (None, 0)],
)
def test_setup_adc_bits_is_validated(value, expected):
    assert ChannelSetup.from_dict({"adc_bits": value}).adc_bits == expected


def test_effective_adc_bits():
    assert ChannelSetup(board="uno").effective_adc_bits == 10
    assert ChannelSetup(board="uno-r4").effective_adc_bits == 14
    assert ChannelSetup(board="uno-r4", adc_bits=12).effective_adc_bits == 12


# ---- DevicePanel ----


def test_adc_combo_offers_the_boards_own_and_fixed_resolutions(qtbot):
    panel = make_panel(qtbot, ChannelSetup(board="12bit"))
    items = [panel.adc_bits.itemData(i) for i in range(panel.adc_bits.count())]
    assert items == [0, 10, 12, 14, 16]
    assert panel.adc_bits.itemText(0) == "board's own (12 bit)"
    assert panel.setup().adc_bits == 0
    panel.board.setCurrentIndex(panel.board.findData("uno-r4"))
    assert panel.adc_bits.itemText(0) == "board's own (14 bit)"


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


# ---- source_for_setup ----


@pytest.mark.parametrize(
    ("url", "setup", "expected"),
    [
        # the board part, as main_window.source_with_board did it
        (
            "sim://?scenario=relax&board=12bit&channels=raw,ref",
            ChannelSetup(board="uno"),
            "sim://?scenario=relax&channels=raw,ref&board=uno",
        ),
        (
            "serial:///dev/ttyACM0?format=text&board=12bit",
            ChannelSetup(board="uno"),
            "serial:///dev/ttyACM0?format=text&board=uno",
        ),
        # bits= is added, changed and removed; written only when it is not the board's own
        (
            "sim://?scenario=relax&board=uno",
            ChannelSetup(board="uno", adc_bits=12),
            "sim://?scenario=relax&board=uno&bits=12",
        ),
        (
            "sim://relax?bits=12&board=uno&seed=3",
            ChannelSetup(board="uno", adc_bits=14),
            "sim://relax?seed=3&board=uno&bits=14",
        ),
        (
            "sim://?board=uno&bits=12",
            ChannelSetup(board="uno"),
            "sim://?board=uno",
        ),
        (
            "sim://?board=uno&bits=12",
            ChannelSetup(board="12bit", adc_bits=12),
            "sim://?board=12bit",
        ),
        (
            "serial://COM3?format=text&baud=9600",
            ChannelSetup(board="uno-r4", adc_bits=10),
            "serial://COM3?format=text&baud=9600&board=uno-r4&bits=10",
        ),
        # a malformed bits= is rewritten
        ("sim://?board=uno&bits=x", ChannelSetup(board="uno"), "sim://?board=uno"),
    ],
)
def test_source_for_setup_rewrites_board_and_bits(url, setup, expected):
    assert source_for_setup(url, setup) == expected


@pytest.mark.parametrize(
    ("url", "setup"),
    [
        ("sim://?scenario=relax&board=12bit", ChannelSetup(board="12bit")),
        ("sim://?scenario=relax&board=12bit&bits=12", ChannelSetup(board="12bit")),
        ("sim://?scenario=relax&board=12bit", ChannelSetup(board="12bit", adc_bits=12)),
        ("sim://?scenario=relax", ChannelSetup(board="uno")),  # sim's default board
        ("sim://", ChannelSetup(board="uno", adc_bits=10)),
        ("serial:///dev/ttyUSB0?format=text", ChannelSetup(board="uno")),
        ("sim://?board=uno&bits=14", ChannelSetup(board="uno", adc_bits=14)),
    ],
)
def test_source_for_setup_keeps_a_url_that_already_matches(url, setup):
    assert source_for_setup(url, setup) == url


@pytest.mark.parametrize(
    "url",
    [
        "serial:///dev/ttyACM0",
        "serial:///dev/ttyACM0?format=binary&board=uno",
        "replay://12",
        "replay:///tmp/rec.csv?fs=1000&units=mV",
        "auto",
    ],
)
def test_source_for_setup_is_none_for_sources_that_report_their_adc(url):
    assert source_for_setup(url, ChannelSetup(board="uno", adc_bits=12)) is None


def test_rewritten_urls_open_with_the_chosen_adc():
    from biofeedback.devices.registry import open_device

    url = source_for_setup(
        "sim://?scenario=steady&speed=max", ChannelSetup(board="uno-r4", adc_bits=12)
    )
    assert url is not None
    info = open_device(url).open()
    assert (info.board, info.adc_bits, info.vref_v) == ("uno-r4", 12, 5.0)
