"""Discovery: which ports are candidates, what answers on them, and ``auto``."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest
from fake_board import FakeBoard, TextBoard

from biofeedback.devices import discovery, ports
from biofeedback.devices.registry import open_device
from biofeedback.devices.serial_device import SerialDevice
from biofeedback.errors import DeviceError

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pty-based tests need POSIX")


def port(
    device: str, vid: int | None = None, pid: int | None = None, description: str = ""
) -> SimpleNamespace:
    """What pyserial's list_ports.comports() yields."""
    return SimpleNamespace(
        device=device, vid=vid, pid=pid, description=description, manufacturer="", serial_number=""
    )


@pytest.fixture
def fake_ports(monkeypatch):
    """Replace the OS port listing; returns the list to fill."""
    listed: list[SimpleNamespace] = []
    monkeypatch.setattr(ports, "comports", lambda: list(listed))
    return listed


def test_candidates_by_vendor_id(fake_ports):
    fake_ports.extend(
        [
            port("/dev/ttyS0", description="n/a"),
            port("/dev/ttyUSB0", 0x1A86, 0x7523, "USB Serial"),
            port("/dev/ttyACM1", 0x0BDA, 0x1234, "some modem"),
            port("/dev/ttyACM0", 0x2341, 0x0043, "Arduino Uno"),
            port("/dev/ttyACM2", 0x2E8A, 0x000A, "Pico"),
        ]
    )
    found = ports.list_ports()
    assert [p.device for p in found] == [
        "/dev/ttyACM0",
        "/dev/ttyACM2",
        "/dev/ttyUSB0",
        "/dev/ttyACM1",
        "/dev/ttyS0",
    ]
    assert [p.candidate for p in found] == [True, True, True, False, False]
    assert found[0].label() == "/dev/ttyACM0 (Arduino [2341:0043])"
    assert found[2].vendor == "WCH CH340 USB-serial"
    assert [p.device for p in ports.candidate_ports()] == [
        "/dev/ttyACM0",
        "/dev/ttyACM2",
        "/dev/ttyUSB0",
    ]
    assert "available ports: /dev/ttyACM0 (Arduino" in ports.describe_available_ports()


@pytest.mark.parametrize(
    ("vid", "vendor"),
    [
        (0x2341, "Arduino"),
        (0x1B4F, "SparkFun"),
        (0x239A, "Adafruit"),
        (0x2E8A, "Raspberry Pi (RP2040)"),
        (0x1A86, "WCH CH340 USB-serial"),
        (0x0403, "FTDI USB-serial"),
        (0x10C4, "Silicon Labs CP210x USB-serial"),
    ],
)
def test_known_vendors(vid, vendor):
    p = ports.PortInfo("/dev/x", vid=vid, pid=1)
    assert p.candidate and p.vendor == vendor


def test_no_ports_message_points_to_cable_and_simulator(fake_ports):
    text = ports.describe_available_ports()
    assert "no serial ports found" in text and "charge-only" in text and "sim://" in text


def test_probe_finds_the_firmware(tmp_path):
    with FakeBoard(tmp_path) as board:
        result = discovery.probe_port(str(board.path), timeout_s=1.0)
    assert result.answer == "biofeedback"
    assert result.url == f"serial://{board.path}"
    assert "firmware 1.0.0" in result.detail and "raw@A0 env@A1 ref@A2" in result.detail
    d = result.as_dict()
    assert d["fs_hz"] == 1000.0 and d["channels"] == ["raw@A0", "env@A1", "ref@A2"]


def test_probe_recognises_a_stock_sketch(tmp_path):
    with TextBoard(tmp_path, rate_hz=100) as board:
        result = discovery.probe_port(str(board.path), timeout_s=1.0, text_bauds=(115200,))
    assert result.answer == "text"
    assert result.url == f"serial://{board.path}?format=text&baud=115200&channels=env"
    assert result.extra["fs_estimate_hz"] == pytest.approx(100, rel=0.15)


def test_probe_silent_and_missing_ports(tmp_path):
    with TextBoard(tmp_path, rate_hz=0.001, banner=b"") as board:
        silent = discovery.probe_port(str(board.path), timeout_s=0.4, text_bauds=(115200,))
    assert silent.answer == "silent" and "no data" in silent.detail
    missing = discovery.probe_port(str(tmp_path / "ttyGONE"), timeout_s=0.4)
    assert missing.answer == "error" and "no such port" in missing.detail


def test_auto_picks_the_board_with_the_firmware(tmp_path, fake_ports):
    with TextBoard(tmp_path, rate_hz=50) as text, FakeBoard(tmp_path) as board:
        fake_ports.extend(
            [port(str(text.path), 0x1A86, 0x7523), port(str(board.path), 0x2341, 0x0043)]
        )
        device = open_device("auto")
        assert isinstance(device, SerialDevice) and device.port == str(board.path)
        info = device.open()
        device.close()
        assert info.fs_hz == 1000.0


def test_auto_without_a_board_explains(fake_ports):
    with pytest.raises(DeviceError, match=r"no Arduino-class board found.*sim://"):
        open_device("auto")


def test_auto_with_only_a_stock_sketch_suggests_text_mode(tmp_path, fake_ports):
    with TextBoard(tmp_path, rate_hz=50) as text:
        fake_ports.append(port(str(text.path), 0x0403, 0x6001))
        with pytest.raises(
            DeviceError, match=r"no board answered with the biofeedback firmware.*format=text"
        ):
            discovery.auto_device(timeout_s=0.6)
