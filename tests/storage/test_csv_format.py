"""The numpy CSV formatting writes byte for byte what Python's ``%`` writes, row by row."""

from __future__ import annotations

import numpy as np
import pytest

from biofeedback.core.types import Chunk
from biofeedback.storage.csv_format import format_column, format_columns, format_table
from biofeedback.storage.reprocess import merged_chunks

#: The export's formats: time, raw uV, filtered and envelope uV, flags.
FORMATS = ["%.6f", "%.10g", "%.6g", "%.6g", "%d"]

EDGES = [
    0.0,
    -0.0,
    np.nan,
    np.inf,
    -np.inf,
    1e-5,
    9.9999995e-5,
    0.0001,
    0.00099999995,
    1e6,
    999999.5,
    999999.4,
    123456.5,
    0.5,
    1.5,
    2.5,
    12.5,
    0.125,
    1e-300,
    1e300,
    -1e-7,
    5e-5,
    99999.95,
    1e5,
    1e21,
    1e22,
    -0.00012345,
    123456789012.0,
    9999999999.5,
    2.30926e-14,
]


def percent(table: np.ndarray, fmt: list[str]) -> bytes:
    """What the export wrote before: Python's ``%`` on each row."""
    line = ",".join(fmt) + "\n"
    return "".join(line % tuple(row) for row in table.tolist()).encode("ascii")


def sample_table(seed: int, n: int = 20000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 1000.0
    adc = (rng.integers(0, 4096, n) - 2048) * (3300 / 4096 / 200 * 1000)  # ADC codes in uV
    wide = np.exp(rng.normal(0, 6, n)) * rng.choice([-1, 1], n)  # every exponent
    emg = rng.normal(0, 30, n)  # a filtered signal
    digits = rng.integers(0, 8, n)
    rounded = np.round(rng.normal(0, 100, n) * 10.0**digits) / 10.0**digits  # trailing zeros
    flags = rng.integers(0, 128, n).astype(np.float64)
    columns = [t, adc, wide, emg, np.abs(emg), rounded, flags]
    for c in columns[1:6]:
        c[: len(EDGES)] = EDGES
        c[len(EDGES) : 2 * len(EDGES)] = rng.permutation(EDGES)
    return np.column_stack(columns)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_whole_table_is_byte_identical(seed: int) -> None:
    table = sample_table(seed)
    fmt = ["%.6f", "%.10g", "%.10g", "%.6g", "%.6g", "%.6g", "%d"]
    assert format_table(table, fmt) == percent(table, fmt)


@pytest.mark.parametrize("spec", ["%.6f", "%.10g", "%.6g", "%d", "%.3e"])
def test_each_format_on_its_own(spec: str) -> None:
    table = sample_table(7, 5000)
    values = np.abs(table[:, 3]) if spec == "%.6f" else table[:, 2]
    if spec == "%d":
        values = table[:, 6]
    expected = percent(values[:, None], [spec])
    assert format_columns([values], [spec]) == expected


def test_ties_and_powers_of_ten() -> None:
    # values a rounding step apart around ties and powers of ten, where log10 and rint are
    # closest to going wrong
    base = np.array([10.0**k for k in range(-5, 11)])
    ties = np.concatenate([(np.arange(1, 2000) + 0.5) * 10.0**k for k in range(-7, 3)])
    values = np.concatenate([base, ties, -ties])
    values = np.concatenate([np.nextafter(values, -np.inf), values, np.nextafter(values, np.inf)])
    for spec in ("%.6g", "%.10g"):
        assert format_columns([values], [spec]) == percent(values[:, None], [spec])
    positive = np.abs(values[np.abs(values) < 1e8])
    assert format_columns([positive], ["%.6f"]) == percent(positive[:, None], ["%.6f"])


def test_look_up_table_columns_and_empty() -> None:
    codes = np.repeat(np.array([-0.0, 0.0, 4.028320312, -2048 * 4.028320312, np.nan]), 200)
    assert format_columns([codes], ["%.10g"]) == percent(codes[:, None], ["%.10g"])
    assert format_table(np.zeros((0, 2)), ["%d", "%d"]) == b""
    assert format_column(np.array([3.0]), "%d").tobytes().rstrip(b"\0") == b"3"


def test_merged_chunks_join_contiguous_blocks_only() -> None:
    def chunk(first: int, n: int) -> Chunk:
        return Chunk(first, np.arange(first, first + n, dtype=float))

    chunks = [chunk(0, 1000), chunk(1000, 1000), chunk(2000, 1000), chunk(5000, 500)]
    merged = list(merged_chunks(iter(chunks), 2500))
    assert [(c.first_index, len(c)) for c in merged] == [(0, 2000), (2000, 1000), (5000, 500)]
    assert np.array_equal(merged[0].samples[:, 0], np.arange(2000))
