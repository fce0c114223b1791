"""The pipeline's stages on their own: layout, clip hold, and every stage's reset."""

from __future__ import annotations

import numpy as np
import pytest
from emg_signals import band_noise, myoware_counts, myoware_info

from biofeedback.core.types import Chunk, Flag
from biofeedback.dsp.layout import ChannelLayout, SumRows
from biofeedback.dsp.pipeline import Pipeline, PipelineSettings
from biofeedback.dsp.quality import ClipDetector


def test_layout_puts_raw_rows_first_and_maps_back_to_input_order() -> None:
    lay = ChannelLayout(myoware_info("12bit", "env,raw,ref,raw"))
    assert (lay.kr, lay.ke, lay.raw_cols, lay.env_cols, lay.refs) == (2, 1, [1, 3], [0], [2, 2])
    rows = ["raw1", "raw3", "env0"]  # internal order
    assert lay.to_outputs(rows) == ["env0", "raw1", "raw3"]  # input-column order
    assert lay.from_outputs(lay.to_outputs(rows)) == rows
    assert [lay.internal_row(p) for p in range(3)] == [2, 0, 1]
    bad = np.zeros((4, 4), dtype=bool)
    bad[1, 2] = True  # the shared REF: both RAW outputs, not ENV
    bad[3, 0] = True  # ENV
    rows_bad = lay.bad_outputs(bad)
    assert rows_bad[:, 1].tolist() == [True, True, False]
    assert rows_bad[:, 3].tolist() == [False, False, True]


def test_sum_rows_leave_room_for_each_notch_bank() -> None:
    r = SumRows(kr=2, ke=1, n_mains=2)
    assert (r.o_l, r.o_y, r.o_e, r.o_v, r.n_cols) == (6, 8, 10, 11, 14)
    assert r.flat_rows.tolist() == [0, 1, 10]
    assert SumRows(kr=2, ke=0, n_mains=0).o_l == 4  # one (zero) mains-part group without banks


def test_clip_hold_is_asked_not_read() -> None:
    det = ClipDetector(np.array([0.0]), np.array([1.0]), blank=10)
    assert not det.holding(0)
    dev = np.array([[0.0], [2.0], [0.0]])  # clipped at index 101
    assert det.process(dev, 100) is not None
    assert det.holding(101 + 10) and not det.holding(101 + 11)
    det.reset()
    assert not det.holding(102)


@pytest.mark.parametrize("mains", [50.0, "auto"])
def test_reset_forgets_every_stage(mains) -> None:
    """After reset the same input gives the same output as a new pipeline: filters, gaps,
    moving sums, clip hold, window rules, settling and the "auto" notch choice all start again."""
    info = myoware_info("12bit", "raw,env,ref", fs_hz=1000.0)
    rng = np.random.default_rng(4)
    n = 4000
    t = np.arange(n) / 1000.0
    emg = band_noise(n, 1000.0, rng) * 40 + 200 * np.sin(2 * np.pi * 60 * t)  # hum at 60 Hz
    x = myoware_counts(info, emg, rng, adc_noise_lsb=0.5)
    x[1200:1260] = np.nan  # a long gap: restarts
    x[2500:2510, 0] = 4095  # clipping
    flags = np.zeros(n, np.uint16)
    s = PipelineSettings(mains_hz=mains, auto_mains_after_s=0.5)

    def run(p: Pipeline):
        outs = [p.process(Chunk(i, x[i : i + 37], flags[i : i + 37])) for i in range(0, n, 37)]
        return [
            np.concatenate([getattr(o, f) for o in outs])
            for f in ("signal_uv", "envelope_uv", "flags")
        ]

    p = Pipeline(info, s)
    first = run(p)
    assert p.mains_hz_active == (60.0 if mains == "auto" else 50.0)
    assert np.any(first[2] & Flag.CLIPPED) and np.any(first[2] & Flag.SETTLING)
    p.reset()
    assert p.mains_hz_active == (None if mains == "auto" else 50.0)
    again = run(p)
    for a, b in zip(first, again, strict=True):
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
