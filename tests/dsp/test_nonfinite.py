"""Non-finite and impossible input never poisons the pipeline (issue 10, deliver 3).

NaN the source did not mark as a gap, +-inf and values no ADC or electrode can produce are
flagged ``Flag.INVALID``, become a gap (NaN, ``MISSING``) for every consumer, and the envelope is
finite again within one RMS window after them, whatever the chunking.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from emg_signals import band_noise, myoware_counts, myoware_info
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from biofeedback.core.types import ChannelInfo, ChannelKind, Chunk, Flag, StreamInfo
from biofeedback.dsp.pipeline import ABSURD_UV, Pipeline, PipelineSettings, valid_input_range
from biofeedback.dsp.quality import SUMMARY_FLAGS

FS = 1000.0
N = 3000
W = round(PipelineSettings().rms_window_s * FS)  # one RMS window, samples
BAD = int(Flag.INVALID | Flag.MISSING)


def _counts(seed: int = 0, kinds: str = "raw,env,ref") -> tuple[StreamInfo, np.ndarray]:
    info = myoware_info("uno", kinds, fs_hz=FS)
    rng = np.random.default_rng(seed)
    return info, myoware_counts(info, band_noise(N, FS, rng) * 30.0, rng, adc_noise_lsb=0.5)


def _chunked(p: Pipeline, x: np.ndarray, flags: np.ndarray, size: int = 10):
    chunks = [Chunk(i, x[i : i + size], flags[i : i + size]) for i in range(0, len(x), size)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "invalid value encountered" on the way
        outs = [p.process(c) for c in chunks]
    env = np.concatenate([o.envelope_uv for o in outs])
    fl = np.concatenate([o.flags for o in outs])
    raw = np.concatenate([c.samples for c in chunks])
    in_flags = np.concatenate([c.flags for c in chunks])
    return env, fl, raw, in_flags


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan, 1e300])
def test_one_bad_line_mid_stream_is_a_flagged_gap_and_the_envelope_recovers(bad) -> None:
    # the reproduction: a text-mode line `inf,inf,inf` after the filters have settled
    info, x = _counts()
    x[1500] = bad
    env, fl, raw, in_flags = _chunked(Pipeline(info), x, np.zeros(N, np.uint16))
    assert np.all(fl[1500] & BAD == BAD)  # every output: invalid, handled as a gap
    assert np.all(np.isfinite(env[1500 + W :]))  # finite again within one RMS window
    assert np.all(np.isfinite(env[200:]))  # in fact never lost: the window holds good samples
    assert not np.any(fl[1500 + W + 200 :] & (Flag.INVALID | Flag.MISSING))
    # the chunk the engine buffers and the recorder stores: NaN + INVALID, never inf or 0
    assert np.all(np.isnan(raw[1500])) and in_flags[1500] == Flag.INVALID
    assert np.all(np.isfinite(np.delete(raw, 1500, axis=0)))
    assert np.count_nonzero(in_flags) == 1


def test_invalid_is_a_named_flag_in_summaries() -> None:
    assert Flag.describe(Flag.INVALID) == ["invalid"]
    assert SUMMARY_FLAGS["invalid"] == Flag.INVALID
    info, x = _counts()
    x[1000:1010, 0] = np.inf
    p = Pipeline(info)
    p.process(Chunk(0, x))
    fractions = p.quality.as_dict()["fraction"]
    assert fractions["invalid"][0] == pytest.approx(10 / N)  # raw output
    assert fractions["invalid"][1] == 0.0  # env output: its input was fine
    json.dumps(p.quality.as_dict())


def test_only_the_outputs_fed_by_a_bad_value_are_flagged() -> None:
    info, x = _counts()
    x[1200, 1] = -np.inf  # ENV column only
    x[1400, 2] = np.inf  # REF column: RAW - REF is invalid, ENV is not
    out = Pipeline(info).process(Chunk(0, x))
    raw_out, env_out = 0, 1
    assert out.flags[1200, env_out] & BAD == BAD and not out.flags[1200, raw_out] & Flag.INVALID
    assert out.flags[1400, raw_out] & BAD == BAD and not out.flags[1400, env_out] & Flag.INVALID
    assert np.isfinite(out.signal_uv[1200, raw_out]) and np.isnan(out.signal_uv[1200, env_out])


def test_nan_the_source_marked_missing_is_a_gap_not_invalid() -> None:
    info, x = _counts()
    flags = np.zeros(N, np.uint16)
    x[1000:1020] = np.nan
    flags[1000:1020] = Flag.MISSING
    chunk = Chunk(0, x, flags)
    out = Pipeline(info).process(chunk)
    assert np.all(out.flags[1000:1020] & Flag.MISSING)
    assert not np.any(out.flags & Flag.INVALID)
    assert chunk.flags is flags  # nothing to screen: the chunk is left alone


def test_valid_range_counts_and_physical_units() -> None:
    info, x = _counts()
    lo, hi = valid_input_range(info)
    assert lo[0] == -1023 and hi[0] == 2046  # one full scale beyond either rail
    x[1000, 0] = 2046.0  # far past the rail, but an ADC value: clipping, not invalid
    x[2000, 0] = 2047.0  # not a 10-bit value at all (0.5 s after the clip: no blanking)
    out = Pipeline(info).process(Chunk(0, x))
    assert out.flags[1000, 0] & Flag.CLIPPED and not out.flags[1000, 0] & Flag.INVALID
    assert out.flags[2000, 0] & BAD == BAD and not out.flags[2000, 0] & Flag.CLIPPED

    mv = StreamInfo(FS, (ChannelInfo("emg", ChannelKind.RAW, 1.0, 1000.0),), units="mV")
    lo, hi = valid_input_range(mv)
    assert hi[0] == pytest.approx(ABSURD_UV / 1000.0)  # 10 V = 10000 mV
    y = np.random.default_rng(1).standard_normal(N) * 0.05  # mV
    y[800] = 9_000.0  # 9 V: absurd for EMG but possible for a mis-scaled file: kept
    y[1600] = 20_000.0  # 20 V at the electrodes: corrupt
    out = Pipeline(mv).process(Chunk(0, y))
    assert not out.flags[800, 0] & Flag.INVALID
    assert out.flags[1600, 0] & BAD == BAD


def test_env_lower_edge_is_screened_without_changing_env_clipping() -> None:
    info, x = _counts(kinds="env")
    x[1000, 0] = -1000.0  # still valid (less than one full scale below zero)
    x[1100, 0] = -1024.0
    x[1200, 0] = 1023.0  # at the upper rail: clipping
    out = Pipeline(info).process(Chunk(0, x))
    assert not out.flags[1000, 0] & (Flag.INVALID | Flag.CLIPPED)
    assert out.flags[1100, 0] & BAD == BAD
    assert out.flags[1200, 0] & Flag.CLIPPED and not out.flags[1200, 0] & Flag.INVALID


def test_a_long_bad_run_restarts_the_filters_like_a_gap() -> None:
    info, x = _counts()
    x[1000:1500] = np.inf
    env, fl, _, _ = _chunked(Pipeline(info), x, np.zeros(N, np.uint16), size=20)
    assert np.all(fl[1000:1500] & BAD == BAD)
    assert np.all(fl[1500:1510] & Flag.SETTLING)  # restarted after more than 50 ms
    assert np.all(np.isfinite(env[1500:]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**16),
    cuts=st.lists(st.one_of(st.just(1), st.integers(0, 40), st.integers(41, 700)), max_size=60),
    bad=st.lists(
        st.tuples(
            st.integers(300, N - 400),  # start
            st.integers(1, 150),  # length
            st.integers(0, 2),  # column
            st.sampled_from([np.inf, -np.inf, np.nan, 1e12, -1e308]),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_random_chunking_with_injected_bad_values(seed, cuts, bad) -> None:
    info, x = _counts(seed)
    for start, length, col, value in bad:
        x[start : start + length, col] = value
    flags = np.zeros(N, np.uint16)
    last_bad = max(start + length for start, length, _, _ in bad) - 1

    whole_chunk = Chunk(0, x.copy(), flags.copy())
    whole = Pipeline(info).process(whole_chunk)
    p = Pipeline(info)
    outs, chunks, i = [], [], 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for k in [*cuts, N]:
            if i >= N:
                break
            chunks.append(Chunk(i, x[i : i + k], flags[i : i + k]))
            outs.append(p.process(chunks[-1]))
            i += k
    env = np.concatenate([o.envelope_uv for o in outs])
    sig = np.concatenate([o.signal_uv for o in outs])
    fl = np.concatenate([o.flags for o in outs])
    # chunk invariance, outputs and the screened input alike
    for a, b in ((env, whole.envelope_uv), (sig, whole.signal_uv)):
        assert np.array_equal(np.isnan(a), np.isnan(b))
        fin = ~np.isnan(a)
        np.testing.assert_allclose(a[fin], b[fin], rtol=1e-9, atol=1e-12)
    assert np.array_equal(fl, whole.flags)
    raw = np.concatenate([c.samples for c in chunks])
    assert np.array_equal(raw, whole_chunk.samples, equal_nan=True)
    assert np.array_equal(np.concatenate([c.flags for c in chunks]), whole_chunk.flags)
    # nothing non-finite or absurd survives; every bad value is NaN + INVALID
    assert not np.any(np.isinf(raw)) and not np.any(np.abs(raw) > 1e6)
    for start, length, col, _ in bad:
        assert np.all(np.isnan(raw[start : start + length, col]))
        assert np.all(whole_chunk.flags[start : start + length] & Flag.INVALID)
    # finite again within one RMS window after the last bad sample, and finite until the end
    assert np.all(np.isfinite(env[last_bad + W :]))
    assert np.all(np.isfinite(sig[last_bad + 1 :]))


def test_a_replayed_file_with_inf_is_stored_as_flagged_gaps_not_zeros(tmp_path, capsys) -> None:
    # the reproduction: +-inf in a replayed file used to be stored as 0.0, unflagged
    from biofeedback.cli import main
    from biofeedback.storage.database import Database

    x = np.random.default_rng(0).standard_normal(3000) * 20.0
    lines = ["emg", *(f"{v:.3f}" for v in x)]
    lines[1 + 1500], lines[1 + 1600] = "inf", "-inf"
    path = tmp_path / "emg.csv"
    path.write_text("\n".join(lines) + "\n")
    url = f"replay://{path}?fs=1000&units=uV&channels=raw&speed=max"
    code = main(["record", "--source", url, "--duration", "3", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    session = json.loads(out.out)["session_id"]
    with Database() as db:
        _, samples, flags = db.read_samples(session)
    assert np.isnan(samples[1500, 0]) and np.isnan(samples[1600, 0])
    assert flags[1500] & Flag.INVALID and flags[1600] & Flag.INVALID
    assert np.count_nonzero(np.isnan(samples)) == 2 and not np.any(np.isinf(samples))
    np.testing.assert_allclose(samples[1499, 0], x[1499], atol=1e-3)
    # the CSV export names the flag and carries it on the output
    csv = tmp_path / "out.csv"
    assert main(["export", str(session), "--format", "csv", "-o", str(csv)]) == 0
    text = csv.read_text()
    assert "64=invalid" in text
    rows = [line.split(",") for line in text.splitlines() if not line.startswith("#")]
    flags_col = rows[0].index("emg_flags")
    assert int(rows[1 + 1500][flags_col]) & BAD == BAD


def test_the_flag_is_named_in_the_window_and_the_csv_export() -> None:
    pytest.importorskip("PySide6")
    from biofeedback.gui.bridge import quality_level, quality_text

    text = quality_text(int(Flag.INVALID | Flag.MISSING))
    assert "invalid values from the source" in text and "gap" in text
    assert quality_level(int(Flag.INVALID | Flag.MISSING)) == "bad"


def test_storage_never_keeps_inf_whoever_writes() -> None:
    from biofeedback.storage.database import decode_block, encode_block

    x = np.array([[1.5, 2.0], [np.inf, 3.0], [4.0, -np.inf], [np.nan, 5.0]])
    flags = np.array([0, 0, 0, Flag.MISSING], np.uint16)
    block = encode_block(x, flags)
    values, stored_flags = decode_block(block.codec, block.data, block.nan_mask, block.flags, 4, 2)
    assert np.isnan(values[1, 0]) and np.isnan(values[2, 1]) and np.isnan(values[3, 0])
    assert values[1, 1] == 3.0 and values[0, 0] == 1.5
    assert list(stored_flags) == [0, Flag.INVALID, Flag.INVALID, Flag.MISSING]
