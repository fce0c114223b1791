"""End to end: the real firmware in simavr, its ADC fed known millivolts, read through the app's
own SerialDevice over a pty. Every sample must arrive exactly, with no gap."""

from __future__ import annotations

import time

import harness
import numpy as np
import pytest

from biofeedback.core.types import ChannelKind, Flag
from biofeedback.devices.registry import open_device
from biofeedback.errors import DeviceError

BIOSPPY = harness.ROOT / "tests" / "data" / "biosppy" / "emg_1.txt"


def known_waveform(n: int = 2400) -> np.ndarray:
    """RAW: a 37 Hz sine over most of the range; ENV: a ramp over the full 0-5 V scale (both
    rails, every code); REF: mid-supply. Millivolts, uint16 [n, 3]."""
    t = np.arange(n)
    raw = 2500 + 2200 * np.sin(2 * np.pi * 37 * t / 1000)
    env = (t * 5001 // n) % 5001
    ref = np.full(n, 2500)
    return np.stack([raw, env, ref], axis=1).round().astype(np.uint16)


def recording(n: int = 3000) -> np.ndarray:
    """The BioSPPy sEMG recording (12-bit counts, BSD-3) as RAW at its own scale on a 5 V ADC,
    its rectified moving average as ENV, REF flat."""
    counts = np.loadtxt(BIOSPPY)[:n]
    raw = counts * 5000 / 4096
    rect = np.abs(counts - counts.mean())
    env = np.convolve(rect, np.ones(50) / 50, mode="same") * 40
    ref = np.full(n, 2048 * 5000 / 4096)
    return np.stack([raw, env, ref], axis=1).clip(0, 5000).round().astype(np.uint16)


def stream_from_emulator(emu: harness.Emulator, url_options: str, n_samples: int):
    device = open_device(f"serial://{emu.path}{url_options}")
    info = device.open()
    chunks = []
    device.start(chunks.append)
    deadline = time.monotonic() + 60
    while sum(len(c) for c in chunks) < n_samples:
        assert time.monotonic() < deadline, f"{sum(len(c) for c in chunks)} samples in 60 s"
        time.sleep(0.05)
    device.close()
    idx = np.concatenate([np.arange(c.first_index, c.end_index) for c in chunks])
    x = np.concatenate([c.samples for c in chunks])
    flags = np.concatenate([c.flags for c in chunks])
    return device, info, idx, x, flags


def check_exact(device, idx, x, flags, mv: np.ndarray, columns: list[int]) -> None:
    assert np.all(np.diff(idx) == 1) and idx[0] == 0
    assert not (flags & Flag.MISSING).any(), "gap in an emulated stream"
    assert device.stats.frame_errors == 0 and device.stats.missing_samples == 0
    device_index = idx - device.index_offset
    assert device_index[0] == 0  # the firmware counts from the first START after boot
    expected = harness.expected_codes(mv[device_index % len(mv)][:, columns])
    mismatch = np.flatnonzero((x != expected).any(axis=1))
    assert len(mismatch) == 0, f"{len(mismatch)} samples differ, first at {mismatch[:5]}"


@pytest.mark.parametrize("source", ["known waveform", "recording"])
def test_every_sample_arrives_exactly(source, firmware_elf, sim_harness, tmp_path):
    if source == "recording" and not BIOSPPY.exists():
        pytest.skip(f"{BIOSPPY} missing")
    mv = known_waveform() if source == "known waveform" else recording()
    with harness.Emulator(sim_harness, firmware_elf, mv, tmp_path, fast=True) as emu:
        device, info, idx, x, flags = stream_from_emulator(emu, "", 2500)
    assert info.fs_hz == 1000.0 and info.adc_bits == 10 and info.vref_v == 5.0
    assert [c.kind for c in info.channels] == [ChannelKind.RAW, ChannelKind.ENV, ChannelKind.REF]
    check_exact(device, idx, x, flags, mv, [0, 1, 2])
    if source == "known waveform":
        assert x[:, 1].min() == 0 and x[:, 1].max() >= 1020  # ENV ramp covered the scale


def test_rate_and_channels_commands(firmware_elf, sim_harness, tmp_path):
    mv = known_waveform()
    # paced to real time here (the other tests run unthrottled): 1000 samples at 500 Hz = 2 s
    with harness.Emulator(sim_harness, firmware_elf, mv, tmp_path, fast=False) as emu:
        device, info, idx, x, flags = stream_from_emulator(
            emu, "?fs=500&channels=env,raw&pins=1,0", 1000
        )
    assert info.fs_hz == 500.0
    assert [(c.kind, c.pin) for c in info.channels] == [(ChannelKind.ENV, 1), (ChannelKind.RAW, 0)]
    assert info.extra["samples_per_frame"] == "5"
    # the ADC cursor of each pin advances once per conversion of that pin, so column order and
    # the pin map must both be right for this to hold
    check_exact(device, idx, x, flags, mv, [1, 0])


def test_firmware_refuses_an_impossible_rate(firmware_elf, sim_harness, tmp_path):
    with harness.Emulator(sim_harness, firmware_elf, known_waveform(), tmp_path, fast=True) as emu:
        device = open_device(f"serial://{emu.path}?fs=4000")
        with pytest.raises(DeviceError, match="refused set_rate: rate out of range"):
            device.open()
