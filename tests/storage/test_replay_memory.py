"""Replaying a text recording uses memory near the size of its samples, not many times the file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from biofeedback.errors import SourceURLError
from biofeedback.storage import importing
from biofeedback.storage.importing import MAX_IMPORT_FILE_BYTES, load_recording

#: Runs a command and prints its peak RSS (KiB on Linux) as the last line of stderr. A wrapper
#: process keeps RUSAGE_CHILDREN to this one command, not every child the test run ever had.
PEAK_RSS_WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:]).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def write_csv(path: Path, rows: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    table = np.column_stack(
        [np.arange(rows) / 1000.0, rng.normal(0, 50, rows), np.abs(rng.normal(100, 10, rows))]
    )
    with path.open("w") as fh:
        fh.write("time_s,raw,env\n")
        np.savetxt(fh, table, fmt="%.3f", delimiter=",")
    return path


def replay_peak_rss(path: Path) -> tuple[int, dict]:
    """Peak RSS in bytes of `biofeedback stream` replaying ``path`` to its end at speed=max."""
    url = f"replay://{path}?units=uV&time=1&speed=max"
    cmd = [sys.executable, "-m", "biofeedback", "stream", "--source", url, "--json"]
    result = subprocess.run(
        [sys.executable, "-c", PEAK_RSS_WRAPPER, *cmd],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return int(result.stderr.strip().splitlines()[-1]) * 1024, json.loads(result.stdout)


def test_replaying_a_20mb_csv_uses_at_most_three_times_the_file_size(tmp_path):
    small = write_csv(tmp_path / "small.csv", 2_000)
    big = write_csv(tmp_path / "big.csv", 900_000, seed=1)
    size = big.stat().st_size
    assert size > 18e6
    # Baseline: the same command on a tiny file (the interpreter, numpy, scipy, the pipeline).
    baseline, _ = replay_peak_rss(small)
    peak, summary = replay_peak_rss(big)
    assert summary["samples"] == 900_000  # replayed to the end
    growth = peak - baseline
    assert growth <= 3 * size, f"peak {peak / 1e6:.0f} MB, baseline {baseline / 1e6:.0f} MB"


def test_batched_reading_gives_the_same_samples_as_one_batch(tmp_path, monkeypatch):
    """Batch boundaries never change what is read: gaps, ragged rows, comments, blank lines."""
    lines = ["# sampling rate: 500 Hz", "a;b;c"]
    rng = np.random.default_rng(3)
    for i in range(200):
        values = [f"{v:.3f}".replace(".", ",") for v in rng.normal(0, 10, 3)]
        if i % 17 == 5:
            values[1] = ""  # an empty cell: NaN, flagged missing
        if i % 41 == 7:
            values = values[:2]  # a short row: left out
        lines.append(";".join(values))
        if i % 29 == 3:
            lines += ["", "# a comment in the data"]
    path = tmp_path / "gappy.txt"
    path.write_text("\n".join(lines) + "\n", encoding="latin-1")
    whole = load_recording(path, units="uV")
    monkeypatch.setattr(importing, "TEXT_BATCH_LINES", 7)
    batched = load_recording(path, units="uV")
    assert whole.info.fs_hz == 500.0
    assert np.array_equal(whole.samples, batched.samples, equal_nan=True)
    assert np.array_equal(whole.flags, batched.flags)
    assert np.isnan(whole.samples).any()
    short_rows = len([i for i in range(200) if i % 41 == 7])
    assert len(whole.samples) == 200 - short_rows
    # rows left out are said, not only warned about
    assert (
        whole.notes
        == batched.notes
        == [
            f"gappy.txt: {short_rows} row(s) without 3 columns "
            "were left out (see them with a text editor)"
        ]
    )


@pytest.mark.parametrize(
    "body",
    [
        b"t,x\r0.000,1\r0.001,2\r0.002,3\r0.003,4\r",  # old Mac
        b"t,x\r0.000,1\n0.001,2\r0.002,3\n0.003,4\r0.004,5\n0.005,6",  # more rows than either
    ],
    ids=["cr", "mixed"],
)
def test_other_line_endings_are_still_read(tmp_path, monkeypatch, body):
    monkeypatch.setattr(importing, "TEXT_BATCH_LINES", 2)
    path = tmp_path / "cr.csv"
    path.write_bytes(body)
    rec = load_recording(path, units="uV", time_column="t")
    rows = len(body.replace(b"\r", b"\n").split()) - 1  # without the header
    assert rec.info.fs_hz == 1000.0 and rec.samples[:, 0].tolist() == list(range(1, rows + 1))


def test_a_file_over_the_size_limit_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.csv"
    with path.open("wb") as fh:  # sparse: takes no disk space
        fh.truncate(MAX_IMPORT_FILE_BYTES + 1)
    with pytest.raises(SourceURLError, match="GiB limit"):
        load_recording(path, units="uV", fs_hz=1000)
    os.unlink(path)
