"""Board facts and the ADC-resolution override."""

from __future__ import annotations

import pytest

from biofeedback.core.hardware import BOARDS, board


def test_with_bits_keeps_the_board_and_changes_only_the_adc():
    uno = board("uno")
    assert uno.with_bits(None) is uno and uno.with_bits(10) is uno
    twelve = uno.with_bits(12)
    assert (twelve.key, twelve.vref_v, twelve.default_fs_hz) == ("uno", 5.0, uno.default_fs_hz)
    assert twelve.adc_bits == 12 and "12-bit" in twelve.label
    assert twelve.raw_uv_per_step == pytest.approx(uno.raw_uv_per_step / 4)
    assert BOARDS["uno"].adc_bits == 10  # the table itself is untouched


@pytest.mark.parametrize("bits", [7, 17, 0])
def test_with_bits_refuses_resolutions_no_arduino_core_reads(bits):
    with pytest.raises(ValueError, match=r"8\.\.16"):
        board("12bit").with_bits(bits)
