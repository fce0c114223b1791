import numpy as np
import pytest

from biofeedback.core import hardware
from biofeedback.core.types import (
    ChannelInfo,
    ChannelKind,
    Chunk,
    Flag,
    StreamInfo,
    counts_to_uv_scale,
)


def test_chunk_defaults_and_end_index():
    chunk = Chunk(100, np.zeros(5))
    assert chunk.samples.shape == (5, 1)
    assert chunk.flags.dtype == np.uint16 and len(chunk.flags) == 5
    assert chunk.end_index == 105


def test_chunk_rejects_mismatched_flags():
    with pytest.raises(ValueError):
        Chunk(0, np.zeros((3, 2)), np.zeros(4))


def test_spec_table_of_adc_resolution():
    # docs/hardware.md, "Boards and their ADCs": RAW uV per step and quantisation noise per board.
    uno, b12, r4 = (hardware.board(k) for k in ("uno", "12bit", "uno-r4"))
    assert uno.raw_uv_per_step == pytest.approx(24.4, abs=0.05)
    assert uno.raw_quantisation_uv == pytest.approx(7.0, abs=0.05)
    assert b12.raw_uv_per_step == pytest.approx(4.0, abs=0.05)
    assert b12.raw_quantisation_uv == pytest.approx(1.2, abs=0.05)
    assert r4.raw_uv_per_step == pytest.approx(1.5, abs=0.05)
    assert uno.env_uv_per_step() == pytest.approx(0.48, abs=0.005)
    assert hardware.myoware_env_gain() == 10_200


def test_unknown_board_names_choices():
    with pytest.raises(ValueError, match="uno, 12bit, uno-r4"):
        hardware.board("mega")


def test_stream_info_helpers():
    scale = counts_to_uv_scale(5.0, 10, 200.0)
    info = StreamInfo(
        1000.0,
        (
            ChannelInfo("raw", ChannelKind.RAW, 200.0, scale),
            ChannelInfo("ref", ChannelKind.REF, 200.0, scale),
        ),
        adc_bits=10,
        vref_v=5.0,
    )
    assert info.n_channels == 2
    assert info.index_of(ChannelKind.REF) == [1]
    assert info.full_scale == 1023
    assert Flag.describe(Flag.CLIPPED | Flag.MAINS) == ["clipping", "mains"]
