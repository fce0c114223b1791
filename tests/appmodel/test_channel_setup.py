"""ChannelSetup without Qt: the remembered values, their validation, the source URL they imply."""

from __future__ import annotations

import pytest

from biofeedback.appmodel.channel_setup import (
    HIGHPASS_CHOICES,
    MAINS_CHOICES,
    ChannelSetup,
    source_for_setup,
)
from biofeedback.core.hardware import BOARDS


def test_setup_round_trips_through_the_settings_dict():
    setup = ChannelSetup(board="uno-r4", adc_bits=10, pot_kohm=20.0, mains="60", highpass_hz=30)
    assert ChannelSetup.from_dict(setup.as_dict()) == setup
    assert setup.as_dict()["adc_bits"] == 10
    assert ChannelSetup.from_dict({"board": "uno"}).adc_bits == 0  # older settings files


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, 0), (8, 8), (12, 12), (16, 16), ("14", 14), (7, 0), (17, 0), (-2, 0), ("x", 0), (None, 0)],
)
def test_setup_adc_bits_is_validated(value, expected):
    assert ChannelSetup.from_dict({"adc_bits": value}).adc_bits == expected


@pytest.mark.parametrize(
    "values",
    [
        {"board": "mega"},
        {"mains": "55"},
        {"rms_window_ms": 20},
        {"rms_window_ms": 900},
        {"highpass_hz": 25},
        {"pot_kohm": "lots"},
    ],
)
def test_values_outside_their_choices_fall_back_to_the_default(values):
    assert ChannelSetup.from_dict(values) == ChannelSetup()


def test_not_a_dict_gives_the_default():
    assert ChannelSetup.from_dict(["uno"]) == ChannelSetup()


def test_settings_the_pipeline_takes():
    setup = ChannelSetup(board="uno", mains="auto", pot_kohm=-1)
    assert (setup.mains_setting, setup.pot_setting) == ("auto", None)
    setup = ChannelSetup(board="uno", mains="60", pot_kohm=20)
    assert (setup.mains_setting, setup.pot_setting) == (60.0, 20.0)
    assert set(MAINS_CHOICES) == {"50", "60", "auto"}
    assert set(HIGHPASS_CHOICES) == {20.0, 30.0}


def test_effective_adc_bits():
    assert ChannelSetup(board="uno").effective_adc_bits == BOARDS["uno"].adc_bits == 10
    assert ChannelSetup(board="uno-r4").effective_adc_bits == 14
    assert ChannelSetup(board="uno-r4", adc_bits=12).effective_adc_bits == 12


def test_source_for_a_setup_comes_from_the_device_facts():
    setup = ChannelSetup(board="uno", adc_bits=12)
    assert setup.source_for("sim://?scenario=relax") == "sim://?scenario=relax&board=uno&bits=12"
    assert source_for_setup("sim://?board=uno&bits=12", setup) == "sim://?board=uno&bits=12"
    assert source_for_setup("serial:///dev/ttyACM0", setup) is None
    assert source_for_setup("replay://3", setup) is None
