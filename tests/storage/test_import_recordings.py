"""Licensed recordings in tests/data: replayed (as files and as sessions recorded from them) they give the
same envelope as processing the file offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from storage_helpers import engine_envelope, record_sim_session

from biofeedback.core.types import Chunk
from biofeedback.devices.registry import open_device
from biofeedback.dsp.pipeline import Pipeline
from biofeedback.storage.database import Database

DATA = Path(__file__).resolve().parents[1] / "data"


def _numeric_rows(path: Path, delimiter: str | None = None) -> np.ndarray:
    """An independent reader: keep the lines whose first field is a number."""
    rows = []
    for line in path.read_text(encoding="latin-1").splitlines():
        fields = line.replace(",", " ").split() if delimiter == "," else line.split()
        if not fields:
            continue
        try:
            rows.append([float(f) for f in fields])
        except ValueError:
            continue
    widths = [len(r) for r in rows]
    full = max(set(widths), key=widths.count)  # rows of the usual width are the samples
    return np.array([r for r in rows if len(r) == full])


# pattern -> (replay URL options, offline loader giving the signal columns)
RECORDINGS = {
    "biosppy/emg*.txt": (
        "units=counts&adc_bits=12&vref=3.3",
        lambda p: _numeric_rows(p),
    ),
    "bmc_duarte/emg.csv": (
        "time=1&units=mV",
        lambda p: _numeric_rows(p, ",")[:, 1:2],
    ),
    "uci_lower_limb/*.txt": (
        "fs=1000&units=mV&columns=1,2,3,4",
        lambda p: _numeric_rows(p)[:, :4],
    ),
}


def licensed_files() -> list[tuple[str, Path]]:
    found = []
    for pattern in RECORDINGS:
        for path in sorted(DATA.glob(pattern)):
            if not path.name.endswith(".meta.txt") and "readme" not in path.name.lower():
                found.append((pattern, path))
    return found


def test_the_licensed_recordings_are_here() -> None:
    assert licensed_files(), f"no licensed EMG recordings under {DATA} (see tests/data/README.md)"


@pytest.mark.parametrize(
    ("pattern", "path"),
    licensed_files(),
    ids=[str(p.relative_to(DATA)) for _, p in licensed_files()],
)
def test_replay_equals_offline_processing(pattern: str, path: Path, tmp_path: Path) -> None:
    url_options, offline_loader = RECORDINGS[pattern]
    device = open_device(f"replay://{path}?{url_options}&speed=max")
    info = device.open()
    device.close()
    # Offline: the file read by a different reader, the whole array processed in one call.
    samples = offline_loader(path)
    assert samples.ndim == 2 and samples.shape[1] == info.n_channels and len(samples) > 1000
    offline = Pipeline(info).process(Chunk(0, samples))
    # Live path: the file replayed through the engine in device-sized chunks.
    first, env_file, flags_file = engine_envelope(f"replay://{path}?{url_options}&speed=max")
    assert first == 0 and env_file.shape == offline.envelope_uv.shape
    np.testing.assert_allclose(env_file, offline.envelope_uv, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(flags_file, offline.flags)
    assert np.nanmax(offline.envelope_uv) > 0
    # Recorded into the database as a session (``record --source replay://FILE``), then
    # replayed from there: the same again.
    db_path = tmp_path / "db.sqlite"
    url = f"replay://{path}?{url_options}&speed=max"
    sid = record_sim_session(db_path, url, len(samples) / info.fs_hz + 1, subject="IMPORT1")
    with Database(db_path) as db:
        record = db.get_session(sid)
        assert record.status == "complete" and record.n_samples == len(samples)
        assert record.info.channels == info.channels and record.info.fs_hz == info.fs_hz
    _, env_db, _ = engine_envelope(f"replay://{sid}?db={db_path}&speed=max")
    # mV files are stored as float32: the envelope agrees to float32 precision.
    np.testing.assert_allclose(env_db, offline.envelope_uv, rtol=1e-5, atol=1e-5)
