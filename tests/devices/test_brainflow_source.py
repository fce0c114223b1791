"""``brainflow://``: BrainFlow boards as the source, tested with BrainFlow's synthetic board (and a
stand-in for BrainFlow's BoardShim where a board must lose packets or fall silent)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import numpy as np
import pytest

pytest.importorskip("brainflow", reason="brainflow is an optional extra")

from biofeedback.cli import main
from biofeedback.core.types import Flag
from biofeedback.devices import brainflow_source
from biofeedback.devices.base import DeviceState, DeviceStatus
from biofeedback.devices.brainflow_source import (
    INSTALL_HINT,
    BrainFlowDevice,
    CounterIndexer,
    board_id,
)
from biofeedback.devices.registry import open_device
from biofeedback.errors import DeviceError, SourceURLError


def test_synthetic_board_streams_with_stream_json():
    # the acceptance command, as a user runs it (subprocess: the real entry point)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "biofeedback",
            "stream",
            "--source",
            "brainflow://synthetic",
            "--duration",
            "3",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["fs_hz"] == 250.0
    assert data["samples"] == 750
    assert data["dropped"] == 0
    assert data["device"] == "BrainFlow Synthetic board"
    assert [ch["name"] for ch in data["channels"]] == [f"EMG{k}" for k in range(1, 17)]
    assert all(ch["kind"] == "raw" and ch["rms_uv_mean"] > 0 for ch in data["channels"])
    assert result.stderr == ""  # BrainFlow's log is off, --json is quiet


def test_chosen_channels_in_microvolts(capsys):
    code = main(
        ["stream", "--source", "brainflow://synthetic?channels=2,5", "--duration", "2", "--json"]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    data = json.loads(out.out)
    assert [ch["name"] for ch in data["channels"]] == ["EMG2", "EMG5"]
    assert data["samples"] == 500 and data["dropped"] == 0


def test_open_reports_the_board_description():
    device = open_device("brainflow://synthetic?channels=1")
    try:
        info = device.open()
    finally:
        device.close()
    assert info.fs_hz == 250.0 and info.units == "uV" and info.realtime
    assert [(ch.name, ch.scale_uv) for ch in info.channels] == [("EMG1", 1.0)]
    assert info.full_scale is None  # microvolts, not ADC counts


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("synthetic", -1),
        ("SYNTHETIC_BOARD", -1),
        ("-1", -1),
        ("cyton", 0),
        ("cyton-daisy", 2),
        ("Cyton_Daisy", 2),
        ("ganglion", 1),
        ("38", 38),
    ],
)
def test_boards_are_named_by_brainflow_name_or_id(name, expected):
    assert board_id(name) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("brainflow://nosuch", "brainflow://nosuch: unknown board; name a BrainFlow board"),
        ("brainflow://99999", "no BrainFlow board has id 99999"),
        ("brainflow://", "which board?"),
        ("brainflow://synthetic?channels=a", "channels= takes EMG channel numbers"),
        ("brainflow://synthetic?channels=0", "channels are numbered from 1"),
        ("brainflow://synthetic?ip_port=http", "ip_port='http' is not a whole number"),
        ("brainflow://synthetic?serialport=/dev/ttyUSB0", "unknown option(s) serialport"),
    ],
)
def test_bad_urls_are_one_precise_line(url, message):
    with pytest.raises(SourceURLError) as caught:
        open_device(url)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_too_high_a_channel_number_names_the_boards_channels():
    device = open_device("brainflow://synthetic?channels=17")
    with pytest.raises(SourceURLError, match="has 16 EMG channels; channels= takes 1 to 16"):
        device.open()
    device.close()


def test_a_board_that_is_not_there_is_one_line_and_exit_2(capsys):
    url = "brainflow://cyton?serial_port=/dev/ttyBIOFEEDBACK_NONE"
    code = main(["stream", "--source", url, "--duration", "2"])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2
    assert len(lines) == 1
    assert "BrainFlow cannot start the board" in lines[0]
    assert "serial_port=/dev/ttyBIOFEEDBACK_NONE" in lines[0]


def test_without_brainflow_installed_it_says_how_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "brainflow", None)  # import brainflow now fails
    with pytest.raises(SourceURLError, match="pip install"):
        open_device("brainflow://synthetic")
    code = main(["stream", "--source", "brainflow://synthetic", "--duration", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == f"biofeedback: {INSTALL_HINT}"


# ---- numbering by the package counter --------------------------------------------------------


def test_counter_wraps_and_lost_packets_are_counted():
    counter = CounterIndexer()
    first = counter.place(np.arange(250, 256))
    assert first.tolist() == [0, 1, 2, 3, 4, 5]
    # 0..255 wraps; 1 and 2 lost
    assert counter.place(np.array([0, 3, 4])).tolist() == [6, 9, 10]


def test_a_counter_that_steps_by_two_is_followed():
    counter = CounterIndexer()
    assert counter.place(np.array([0, 2, 4, 6, 10])).tolist() == [0, 1, 2, 3, 5]


class FakeShim:
    """Stands in for an opened BoardShim: hands out prepared data blocks, then nothing."""

    def __init__(self, blocks: list[np.ndarray]) -> None:
        self.blocks = list(blocks)

    def get_board_data(self) -> np.ndarray:
        return self.blocks.pop(0) if self.blocks else np.zeros((32, 0))

    def start_stream(self, *args) -> None:
        pass

    def stop_stream(self) -> None:
        pass

    def release_session(self) -> None:
        pass


def _block(counters: list[int], value: float = 1.0) -> np.ndarray:
    data = np.full((32, len(counters)), value)
    data[0] = counters
    return data


def test_lost_packets_become_gaps_on_the_stream():
    device = BrainFlowDevice.from_url(_parsed("brainflow://synthetic?channels=1,2"))
    device.open()
    device._release()
    device._shim = FakeShim([_block(list(range(250, 256))), _block([0, 4, 5])])
    chunks: list = []
    device._on_chunk = chunks.append
    assert device._read() == 6 and device._read() == 3
    flags = np.concatenate([c.flags for c in chunks])
    samples = np.concatenate([c.samples for c in chunks])
    starts = [c.first_index for c in chunks]
    assert starts == sorted(starts) and chunks[-1].end_index == 12
    assert (flags & Flag.MISSING).nonzero()[0].tolist() == [7, 8, 9]
    assert np.isnan(samples[7:10]).all() and not np.isnan(samples[10:]).any()
    assert device.stats.missing_samples == 3


def test_a_silent_board_reconnects_then_ends_the_stream_with_one_clear_error(monkeypatch):
    monkeypatch.setattr(brainflow_source, "SILENCE_S", 0.2)
    device = BrainFlowDevice.from_url(_parsed("brainflow://synthetic?reconnect_s=1"))
    device.open()
    device._release()
    device._shim = FakeShim([_block([0, 1, 2])])
    tries: list[int] = []

    def board_gone(start: bool = True):
        tries.append(1)
        raise DeviceError("UNABLE_TO_OPEN_PORT_ERROR")

    monkeypatch.setattr(device, "_session", board_gone)
    statuses: list[DeviceStatus] = []
    done = threading.Event()

    def on_status(status: DeviceStatus) -> None:
        statuses.append(status)
        if status.state == DeviceState.ERROR:
            done.set()

    device.start(lambda chunk: None, on_status)
    assert done.wait(20), [s.message for s in statuses]
    device.close()
    states = [s.state for s in statuses]
    assert states.index(DeviceState.RECONNECTING) < states.index(DeviceState.ERROR)
    assert tries  # it tried to restart the board session
    assert "has sent nothing for 1 s" in statuses[-1].message
    assert device.stats.reconnects == 1


def test_a_board_without_emg_channels_is_read_from_its_exg_channels_with_a_note(monkeypatch):
    unicorn = board_id("unicorn")
    device = BrainFlowDevice(unicorn, url="brainflow://unicorn")
    monkeypatch.setattr(device, "_session", lambda start=True: FakeShim([]))
    info = device.open()
    assert info.extra["brainflow_channels"] == "EXG"
    assert "lists no EMG channels: its EXG channels are read" in info.extra["notes"]
    assert info.n_channels == 8 and info.channels[0].name == "Fz"


def _parsed(url: str):
    from biofeedback.devices.registry import parse_source_url

    return parse_source_url(url)


def test_devices_brainflow_lists_boards_by_name_and_id(capsys):
    assert main(["devices", "--brainflow", "--json"]) == 0
    boards = {b["name"]: b for b in json.loads(capsys.readouterr().out)["brainflow_boards"]}
    assert boards["synthetic"] == {
        "name": "synthetic",
        "board_id": -1,
        "fs_hz": 250.0,
        "channels": 16,
        "channel_kind": "EMG",
        "url": "brainflow://synthetic",
    }
    assert boards["cyton"]["board_id"] == 0 and boards["unicorn"]["channel_kind"] == "EXG"
    assert "playback-file" not in boards  # wraps another board: nothing to read by itself
    assert main(["devices", "--brainflow"]) == 0
    assert "brainflow://cyton-daisy" in capsys.readouterr().out


def test_a_broken_session_is_silence_not_a_crash():
    from brainflow.board_shim import BrainFlowError

    class Broken(FakeShim):
        def get_board_data(self) -> np.ndarray:
            raise BrainFlowError("BOARD_NOT_READY_ERROR:7", 7)

    device = BrainFlowDevice.from_url(_parsed("brainflow://synthetic"))
    device.open()
    device._release()
    device._shim = Broken([])
    assert device._read() == 0


def test_a_silent_board_whose_session_restarts_streams_on_with_the_gap_marked(
    monkeypatch, wait_for
):
    monkeypatch.setattr(brainflow_source, "SILENCE_S", 0.3)
    device = BrainFlowDevice.from_url(_parsed("brainflow://synthetic?channels=1&reconnect_s=30"))
    device.open()
    device._release()
    device._shim = FakeShim([_block(list(range(50)))])  # 50 samples, then silence
    statuses: list[DeviceStatus] = []
    samples: list[int] = []
    device.start(lambda chunk: samples.append(len(chunk)), statuses.append)
    try:
        wait_for(
            lambda: any("data again" in s.message for s in statuses),
            20,
            lambda: f"no restart: {[s.message for s in statuses]}",
        )
        wait_for(lambda: device.stats.missing_samples > 0, 10, "the gap was not marked")
    finally:
        device.close()
    states = [s.state for s in statuses if not s.warning]
    assert DeviceState.RECONNECTING in states and states[-1] == DeviceState.STOPPED
    assert device.stats.reconnects == 1
    # the silence (>= 0.3 s at 250 Hz) is missing samples, not closed up
    assert device.stats.missing_samples >= 0.3 * 250 * 0.8


def test_a_board_gone_mid_recording_ends_it_as_interrupted_keeping_what_came(monkeypatch, capsys):
    from biofeedback.storage.database import Database

    monkeypatch.setattr(brainflow_source, "SILENCE_S", 0.3)
    real_read, real_session = BrainFlowDevice._read, BrainFlowDevice._session
    delivered: list[int] = []

    def read_until_unplugged(self) -> int:
        if sum(delivered) >= 500:  # 2 s at 250 Hz, then the dongle is pulled
            return 0
        n = real_read(self)
        delivered.append(n)
        return n

    def session(self, start: bool = True):
        if delivered:
            raise DeviceError("UNABLE_TO_OPEN_PORT_ERROR:2 unable to prepare streaming session")
        return real_session(self, start)

    monkeypatch.setattr(BrainFlowDevice, "_read", read_until_unplugged)
    monkeypatch.setattr(BrainFlowDevice, "_session", session)
    code = main(
        [
            "record",
            "--source",
            "brainflow://synthetic?channels=1",
            "--duration",
            "30",
            "--reconnect-s",
            "1",
            "--json",
        ]
    )
    out = capsys.readouterr()
    assert code == 1, out.err
    gone = [line for line in out.err.splitlines() if "has sent nothing for 1 s" in line]
    assert len(gone) == 1 and "Traceback" not in out.err
    data = json.loads(out.out)
    assert data["status"] == "interrupted"
    with Database() as db:
        _, samples, _ = db.read_samples(data["session_id"])
    assert len(samples) >= 500  # what came before the board went is kept
