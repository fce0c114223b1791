"""Real recordings (tests/data, licences in tests/data/README.md) through the pipeline.

Each runs with no NaN outside flagged gaps; the mains flag stays off (none of them has a mains
line: see the lineXX_ratio values in their .meta.txt) and fires once a strong 50 Hz hum is
added. Optionally the GPL recordings in ../shared/data/emg are read when present.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from biofeedback.core.types import ChannelInfo, ChannelKind, Chunk, Flag, StreamInfo
from biofeedback.dsp.pipeline import Pipeline

DATA = Path(__file__).resolve().parents[1] / "data"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "emg"


def biosppy(name: str) -> tuple[StreamInfo, np.ndarray]:
    """BioSPPy text: header lines start with '#', one column of 12-bit counts at 1000 Hz."""
    path = DATA / "biosppy" / name
    header = path.read_text().splitlines()[:4]
    fs = float(re.search(r"Sampling Rate \(Hz\):= ([0-9.]+)", "\n".join(header)).group(1))
    bits = int(re.search(r"Resolution:= (\d+)", "\n".join(header)).group(1))
    x = np.loadtxt(path)[:, None]
    # gain unknown (the device is not named): counts as they are, 1 "uV" per count
    info = StreamInfo(fs, (ChannelInfo("emg", ChannelKind.RAW, 1.0, 1.0),), adc_bits=bits,
                      vref_v=3.3, units="counts")  # fmt: skip
    return info, x


def bmc_duarte() -> tuple[StreamInfo, np.ndarray]:
    """CSV without header: time (s), EMG (likely mV); fs from the time column."""
    a = np.loadtxt(DATA / "bmc_duarte" / "emg.csv", delimiter=",")
    fs = 1.0 / np.mean(np.diff(a[:, 0]))
    info = StreamInfo(round(fs), (ChannelInfo("emg", ChannelKind.RAW, 1.0, 1000.0),), units="mV")
    return info, a[:, 1:2]


def uci_lower_limb(name: str) -> tuple[StreamInfo, np.ndarray]:
    """6-line header naming the channels and their counts, blank line, tab-separated mV."""
    path = DATA / "uci_lower_limb" / name
    lines = path.read_text(encoding="latin-1").splitlines()
    chans = [re.match(r"Channel \d+: '(\w+)', (\d+) values", ln) for ln in lines[1:5]]
    n = int(chans[0].group(2))
    a = np.genfromtxt(path, skip_header=7, delimiter="\t", encoding="latin-1")[:n, :4]
    info = StreamInfo(1000.0, tuple(ChannelInfo(c.group(1), ChannelKind.RAW, 1.0, 1000.0)
                                    for c in chans), units="mV")  # fmt: skip
    return info, a


RECORDINGS = {
    "biosppy/emg.txt": lambda: biosppy("emg.txt"),
    "biosppy/emg_1.txt": lambda: biosppy("emg_1.txt"),
    "bmc_duarte/emg.csv": bmc_duarte,
    "uci_lower_limb/5Nmar.txt": lambda: uci_lower_limb("5Nmar.txt"),
    "uci_lower_limb/5Nsen.txt": lambda: uci_lower_limb("5Nsen.txt"),
}


def test_every_copied_recording_is_listed_with_its_licence() -> None:
    readme = (DATA / "README.md").read_text()
    for name in RECORDINGS:
        assert (DATA / name).exists()
        assert (DATA / (name + ".meta.txt")).exists()
        assert f"`{name}`" in readme


def run_chunked(info: StreamInfo, x: np.ndarray, chunk: int = 100):
    p = Pipeline(info)
    outs = [p.process(Chunk(i, x[i : i + chunk])) for i in range(0, len(x), chunk)]
    return p, (
        np.concatenate([o.signal_uv for o in outs]),
        np.concatenate([o.envelope_uv for o in outs]),
        np.concatenate([o.flags for o in outs]),
    )


@pytest.mark.parametrize("name", list(RECORDINGS))
def test_recording_runs_clean_and_without_mains(name: str) -> None:
    info, x = RECORDINGS[name]()
    assert np.isfinite(x).all() and len(x) > info.fs_hz
    p, (sig, env, flags) = run_chunked(info, x)
    gap = (flags & Flag.MISSING) != 0
    assert not np.isnan(sig[~gap]).any() and not np.isnan(env[~gap]).any()
    assert not (flags & Flag.MAINS).any(), p.quality.as_dict()["mains_ratio_mean"]
    assert (env[int(info.fs_hz) :] > 0).mean() > 0.9  # there is EMG above the floor


@pytest.mark.parametrize("name", list(RECORDINGS))
def test_strong_50_hz_hum_is_flagged(name: str) -> None:
    info, x = RECORDINGS[name]()
    fs = info.fs_hz
    _, (_, env_clean, _) = run_chunked(info, x)
    # a hum twice as strong as the recording's strongest EMG (99th percentile), in input units
    scale = np.array([ch.scale_uv for ch in info.channels])
    level_in = np.percentile(env_clean[int(fs) :], 99, axis=0) / scale
    t = np.arange(len(x)) / fs
    hum = 2.0 * np.sqrt(2) * level_in * np.sin(2 * np.pi * 50 * t)[:, None]
    _, (_, _, flags) = run_chunked(info, x + hum)
    mains = (flags[int(1.5 * fs) :] & Flag.MAINS) != 0
    assert mains.mean() > 0.9


def _read_wav(path: Path) -> tuple[float, np.ndarray]:
    from scipy.io import wavfile

    fs, a = wavfile.read(path)
    return float(fs), np.asarray(a, dtype=float).reshape(len(a), -1)[:, :1]


@pytest.mark.skipif(not (SHARED / "backyardbrains").exists(), reason="shared GPL data absent")
def test_gpl_backyardbrains_recordings_when_present() -> None:
    """Read-only from ../shared (GPL-2: not copied into the project)."""
    for wav in sorted((SHARED / "backyardbrains").glob("*.wav")):
        fs, x = _read_wav(wav)
        x = x[: int(10 * fs)]
        info = StreamInfo(fs, (ChannelInfo("emg", ChannelKind.RAW, 1.0, 1.0),), units="uV")
        _, (_, env, flags) = run_chunked(info, x, chunk=2048)
        gap = (flags & Flag.MISSING) != 0
        assert not np.isnan(env[~gap]).any(), wav.name
