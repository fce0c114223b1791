"""``lsl://``: another program's LSL stream as the source (tests/conftest.py keeps LSL on loopback).

A pylsl outlet in a thread stands in for the other program: it pushes a known sine, in real
time, each sample stamped at its true time, so what the source measures and how it numbers the
samples can be checked exactly.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid

import numpy as np
import pylsl
import pytest

from biofeedback.cli import main
from biofeedback.core.types import Flag
from biofeedback.devices.base import DeviceState, DeviceStatus
from biofeedback.devices.lsl_source import LSLDevice, TimestampPlacer
from biofeedback.devices.registry import open_device
from biofeedback.errors import DeviceError, SourceURLError
from biofeedback.storage.database import Database

FS = 1000.0


class Outlet:
    """An LSL outlet pushing ``amplitude * sin(2 pi f t)`` per channel, paced in real time.

    ``skip`` (a range of sample numbers) is never pushed; ``unit`` goes in every channel's
    description (None: no description)."""

    def __init__(
        self,
        name: str,
        *,
        channels: int = 2,
        amplitude: float = 50.0,
        freq_hz: float = 120.0,
        unit: str | None = "microvolts",
        skip: range = range(0),
        source_id: str = "",
        stream_type: str = "EMG",
        fmt: int = pylsl.cf_float32,
        t0: float | None = None,
    ) -> None:
        info = pylsl.StreamInfo(name, stream_type, channels, FS, fmt, source_id)
        if unit is not None:
            chans = info.desc().append_child("channels")
            for k in range(channels):
                ch = chans.append_child("channel")
                ch.append_child_value("label", f"site{k + 1}")
                ch.append_child_value("unit", unit)
        self.outlet: pylsl.StreamOutlet | None = pylsl.StreamOutlet(info, chunk_size=10)
        self.channels, self.amplitude, self.freq_hz, self.skip = channels, amplitude, freq_hz, skip
        self.t0 = pylsl.local_clock() if t0 is None else t0
        self.pushed = 0  # sample number of the next sample
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            due = int((pylsl.local_clock() - self.t0) * FS)
            if due > self.pushed:
                idx = np.arange(self.pushed, due)
                keep = np.array([i not in self.skip for i in idx], dtype=bool)
                if keep.any():
                    x = self.amplitude * np.sin(2 * np.pi * self.freq_hz * idx[keep] / FS)
                    rows = np.repeat(x[:, None], self.channels, axis=1).astype(np.float32)
                    stamps = self.t0 + idx[keep] / FS
                    assert self.outlet is not None
                    self.outlet.push_chunk(rows.tolist(), stamps.tolist())
                self.pushed = due
            self._stop.wait(0.005)

    def close(self) -> None:
        """Stop pushing and delete the outlet (the stream disappears from the network)."""
        self._stop.set()
        self._thread.join(5)
        self.outlet = None  # liblsl destroys the outlet and closes its connections


def unique(prefix: str = "h2") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Watch:
    """Collects a device's chunks and statuses (callbacks run on the device's thread)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.chunks: list = []
        self.statuses: list[DeviceStatus] = []

    def chunk(self, chunk) -> None:
        with self.lock:
            self.chunks.append(chunk)

    def status(self, status: DeviceStatus) -> None:
        with self.lock:
            self.statuses.append(status)

    def samples(self) -> int:
        with self.lock:
            return sum(len(c) for c in self.chunks)

    def states(self) -> list[DeviceState]:
        with self.lock:
            return [s.state for s in self.statuses if not s.warning]

    def messages(self, state: DeviceState) -> list[str]:
        with self.lock:
            return [s.message for s in self.statuses if s.state == state and not s.warning]


@pytest.fixture
def outlets():
    made: list[Outlet] = []

    def make(*args, **kwargs) -> Outlet:
        outlet = Outlet(*args, **kwargs)
        made.append(outlet)
        return outlet

    yield make
    for outlet in made:
        outlet.close()


def test_a_known_sine_streams_through_the_pipeline_with_its_rms(outlets, capsys):
    name = unique()
    outlets(name, amplitude=50.0, freq_hz=120.0)
    code = main(["stream", "--source", f"lsl://?name={name}", "--duration", "4", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    data = json.loads(out.out)
    assert data["fs_hz"] == FS
    assert data["samples"] == 4000
    assert data["dropped"] == 0
    assert [ch["name"] for ch in data["channels"]] == ["site1", "site2"]
    for ch in data["channels"]:
        # a 50 uV sine has an RMS of 50 / sqrt(2) = 35.36 uV; 120 Hz is in the pass band
        assert ch["rms_uv_mean"] == pytest.approx(50.0 / np.sqrt(2), rel=0.05)


def test_rate_channels_and_units_come_from_the_stream_description(outlets):
    name = unique()
    outlets(name, channels=3, unit="mV", source_id="amp-7")
    device = open_device(f"lsl://?type=EMG&source_id=amp-7&name={name}&channels=3,site1")
    try:
        info = device.open()
    finally:
        device.close()
    assert info.fs_hz == FS and info.units == "mV" and info.realtime
    assert [(ch.name, ch.scale_uv) for ch in info.channels] == [("site3", 1e3), ("site1", 1e3)]
    assert info.extra["lsl_source_id"] == "amp-7"


def test_a_stream_without_units_needs_units_in_the_url(outlets):
    name = unique()
    outlets(name, unit=None)
    device = open_device(f"lsl://?name={name}")
    with pytest.raises(SourceURLError, match="does not state its units; add units=uV"):
        device.open()
    device.close()
    device = open_device(f"lsl://?name={name}&units=mV")
    try:
        info = device.open()
    finally:
        device.close()
    assert [ch.scale_uv for ch in info.channels] == [1e3, 1e3]
    assert [ch.name for ch in info.channels] == ["ch1", "ch2"]


def test_samples_the_sender_never_sent_are_gaps(outlets, wait_for):
    name = unique()
    # past the inlet's first 2 s (TimestampPlacer.WARMUP_S), in which lateness is learnt
    outlet = outlets(name, skip=range(4000, 4007))
    device = LSLDevice.from_url(_parsed(f"lsl://?name={name}"))
    watch = Watch()
    device.open()
    try:
        device.start(watch.chunk, watch.status)
        wait_for(lambda: outlet.pushed > 5000 and watch.samples() > 4000, 20, "no samples")
    finally:
        device.close()
    # the inlet receives from when it connected: numbering starts at its first sample
    first_pushed = next(c for c in watch.chunks if len(c)).first_index
    assert first_pushed == 0
    samples = np.concatenate([c.samples for c in watch.chunks])
    flags = np.concatenate([c.flags for c in watch.chunks])
    indices = np.concatenate([np.arange(c.first_index, c.end_index) for c in watch.chunks])
    assert np.array_equal(indices, np.arange(len(indices)))  # every index once, in order
    missing = np.flatnonzero(flags & Flag.MISSING)
    assert len(missing) == 7 == device.stats.missing_samples
    assert np.all(np.isnan(samples[missing]))
    assert np.all(np.diff(missing) == 1)


def test_a_stream_not_found_says_what_was_looked_for_and_how_to_list(capsys):
    name = unique("absent")
    code = main(["stream", "--source", f"lsl://?name={name}&timeout=0.5", "--duration", "2"])
    err = capsys.readouterr().err
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1
    assert f"no LSL stream with name {name!r} found within 0.5 s" in lines[0]
    assert "biofeedback devices --lsl" in lines[0]


def test_two_matching_streams_are_named_instead_of_picking_one(outlets):
    stream_type = unique("EMGx")
    outlets(unique(), stream_type=stream_type, source_id="a")
    outlets(unique(), stream_type=stream_type, source_id="b")
    # both are on the network (a just-made outlet answers from liblsl's next query wave)
    assert len(pylsl.resolve_byprop("type", stream_type, minimum=2, timeout=10)) == 2
    device = open_device(f"lsl://?type={stream_type}")
    with pytest.raises(DeviceError, match=r"2 LSL streams match .*add name= or source_id="):
        device.open()
    device.close()


def test_a_text_stream_is_refused():
    name = unique()
    info = pylsl.StreamInfo(name, "Markers", 1, 0.0, pylsl.cf_string, "")
    outlet = pylsl.StreamOutlet(info)
    device = open_device(f"lsl://?name={name}")
    with pytest.raises(DeviceError, match="no regular rate"):
        device.open()
    device.close()
    del outlet


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("lsl://mystream", "name the stream with options, e.g. lsl://?name=mystream"),
        ("lsl://?name=x&units=furlongs", "units='furlongs': use uV, mV or V"),
        ("lsl://?name=x&timeout=0", "timeout"),
        ("lsl://?name=x&reconnect_s=-1", "reconnect_s"),
        ("lsl://?name=x&rate=5", "unknown option(s) rate for lsl://"),
        ("lsl://?name=", "name= must be non-empty"),
    ],
)
def test_bad_url_options_are_one_precise_line(url, message):
    with pytest.raises(SourceURLError, match=re.escape(message)):
        open_device(url)


def test_no_name_looks_for_type_emg():
    device = open_device("lsl://")
    assert isinstance(device, LSLDevice)
    assert device.query.predicate() == "type='EMG'"


def test_a_lost_stream_reconnects_when_it_comes_back(outlets, wait_for):
    name = unique()
    # a source id of this test's own: pylsl's recovery looks streams up by it, and another test
    # run on this machine (CI beside a developer's run) must not offer its "amp" as ours
    amp = unique("amp")
    first = outlets(name, source_id=amp)
    device = open_device(f"lsl://?name={name}&reconnect_s=30")
    watch = Watch()
    device.open()
    try:
        device.start(watch.chunk, watch.status)
        wait_for(lambda: watch.samples() > 300, 15, "no samples before the loss")
        first.close()
        wait_for(
            lambda: DeviceState.RECONNECTING in watch.states(), 15, "the loss was not reported"
        )
        assert "the stream was lost" in watch.messages(DeviceState.RECONNECTING)[0]
        lost_at = first.pushed
        outlets(name, source_id=amp, t0=first.t0)  # the same program, started again
        wait_for(
            lambda: any("is back" in m for m in watch.messages(DeviceState.CONNECTED)),
            20,
            "the stream did not come back",
        )
        wait_for(lambda: device.stats.missing_samples > 0, 10, "the gap was not marked")
    finally:
        device.close()
    assert device.stats.reconnects == 1
    assert lost_at > 300


def test_a_lost_stream_ends_the_recording_as_interrupted_keeping_what_came(outlets, capsys):
    name = unique()
    outlet = outlets(name)

    def quit_after_2_s_of_data() -> None:  # the other program quits once the source has data
        deadline = time.monotonic() + 60
        while outlet.outlet is not None and not outlet.outlet.have_consumers():
            if time.monotonic() > deadline:
                return  # the source never connected: the test fails on what was recorded
            time.sleep(0.01)
        connected_at = outlet.pushed
        while outlet.pushed < connected_at + 2000 and time.monotonic() < deadline:
            time.sleep(0.01)
        outlet.close()

    threading.Thread(target=quit_after_2_s_of_data, daemon=True).start()
    code = main(
        [
            "record",
            "--source",
            f"lsl://?name={name}",
            "--duration",
            "20",
            "--reconnect-s",
            "1",
            "--json",
        ]
    )
    out = capsys.readouterr()
    assert code == 1, out.err
    gone = [line for line in out.err.splitlines() if "has been gone for 1 s" in line]
    assert len(gone) == 1 and "check the program that sends it" in gone[0]
    assert "Traceback" not in out.err
    data = json.loads(out.out)
    assert data["status"] == "interrupted"
    with Database() as db:
        _, samples, _ = db.read_samples(data["session_id"])
    assert len(samples) >= 1000  # what came before the stream went is kept


# ---- numbering by timestamps -----------------------------------------------------------------


def test_exact_timestamps_number_every_sample_and_each_missing_one():
    placer = TimestampPlacer(FS)
    stamps = 100.0 + np.arange(4000) / FS
    assert placer.place(stamps[:2500]) == [(0, 0, 2500)]
    # samples 2600 and 2601 never sent (after the first 2 s, in which lateness is learnt)
    rest = np.delete(stamps[2500:], [100, 101])
    assert placer.place(rest) == [(2500, 0, 100), (2602, 100, 1498)]


def test_jittery_stamps_of_a_bunching_sender_make_no_false_gaps():
    rng = np.random.default_rng(1)
    true = 5.0 + np.arange(20_000) / FS
    # stamped when read in bunches of ~16: up to 16 ms late, never early
    stamps = true + (15 - np.arange(20_000) % 16) / FS + rng.uniform(0, 0.002, 20_000)
    placer = TimestampPlacer(FS)
    runs = [run for k in range(0, 20_000, 100) for run in placer.place(stamps[k : k + 100])]
    assert placer.next == 20_000
    assert all(first == k * 100 + lo for k, (first, lo, _hi) in enumerate(runs))


def test_a_sender_clock_slow_by_0_05_percent_makes_no_false_gaps():
    stamps = np.arange(100_000) / FS * 1.0005
    placer = TimestampPlacer(FS)
    assert placer.place(stamps) == [(0, 0, 100_000)]


def _parsed(url: str):
    from biofeedback.devices.registry import parse_source_url

    return parse_source_url(url)


def test_rms_of_what_arrives_matches_the_sine(outlets, wait_for):
    name = unique()
    outlets(name, amplitude=20.0, channels=1, unit="uV")
    device = open_device(f"lsl://?name={name}")
    watch = Watch()
    device.open()
    started = time.monotonic()
    try:
        device.start(watch.chunk, watch.status)
        wait_for(lambda: watch.samples() >= 2000, 15, "2000 samples did not arrive")
    finally:
        device.close()
    x = np.concatenate([c.samples[:, 0] for c in watch.chunks])[:2000]
    assert np.sqrt(np.mean(x**2)) == pytest.approx(20.0 / np.sqrt(2), rel=0.01)
    assert time.monotonic() - started >= 1.5  # real time, not a burst


def test_devices_lsl_lists_the_streams_with_their_urls(outlets, capsys):
    name = unique()
    outlets(name, source_id="amp-3")
    code = main(["devices", "--lsl", "--no-probe", "--json", "--timeout", "3"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    mine = [s for s in data["lsl_streams"] if s["name"] == name]
    assert mine == [
        {
            "name": name,
            "type": "EMG",
            "channels": 2,
            "fs_hz": FS,
            "host": mine[0]["host"],
            "source_id": "amp-3",
            "url": f"lsl://?name={name}&source_id=amp-3",
        }
    ]
    # the URL it gives opens that stream
    device = open_device(mine[0]["url"])
    try:
        assert device.open().extra["lsl_source_id"] == "amp-3"
    finally:
        device.close()
    code = main(["devices", "--lsl", "--no-probe", "--timeout", "3"])
    out = capsys.readouterr().out
    assert f'-> --source "lsl://?name={name}&source_id=amp-3"' in out


def test_devices_without_lsl_sends_no_query(monkeypatch, capsys):
    from biofeedback.devices import lsl_source

    def refuse(*args, **kwargs):
        raise AssertionError("resolved LSL streams without --lsl")

    monkeypatch.setattr(lsl_source, "list_streams", refuse)
    assert main(["devices", "--no-probe", "--json"]) == 0
    assert "lsl_streams" not in json.loads(capsys.readouterr().out)
