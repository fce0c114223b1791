"""``biofeedback devices`` and ``biofeedback doctor`` on fake boards (ptys) and the simulator."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "devices"))

from fake_board import FakeBoard, TextBoard

from biofeedback.cli import main
from biofeedback.devices import ports as port_listing

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="pty-based tests need POSIX")


@pytest.fixture
def fake_ports(monkeypatch):
    ports: list[SimpleNamespace] = []
    monkeypatch.setattr(port_listing, "comports", lambda: list(ports))
    return ports


def usb(path: Path, vid: int, pid: int) -> SimpleNamespace:
    return SimpleNamespace(
        device=str(path), vid=vid, pid=pid, description="", manufacturer="", serial_number=""
    )


@posix_only
def test_devices_lists_and_probes(tmp_path, fake_ports, capsys):
    with FakeBoard(tmp_path) as board, TextBoard(tmp_path, rate_hz=50) as text:
        fake_ports.extend(
            [
                usb(board.path, 0x2341, 0x0043),
                usb(text.path, 0x1A86, 0x7523),
                SimpleNamespace(
                    device="/dev/ttyS9",
                    vid=None,
                    pid=None,
                    description="n/a",
                    manufacturer="",
                    serial_number="",
                ),
            ]
        )
        code = main(["devices", "--json", "--timeout", "0.8"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["found"] == 2
    by_port = {p["port"]: p for p in out["ports"]}
    assert by_port[str(board.path)]["answer"] == "biofeedback"
    assert by_port[str(board.path)]["url"] == f"serial://{board.path}"
    assert by_port[str(text.path)]["answer"] == "text"
    assert "format=text" in by_port[str(text.path)]["url"]
    assert by_port["/dev/ttyS9"]["answer"] == "skipped"


@posix_only
def test_devices_table(tmp_path, fake_ports, capsys):
    with FakeBoard(tmp_path) as board:
        fake_ports.append(usb(board.path, 0x2341, 0x0043))
        code = main(["devices", "--timeout", "0.8"])
    out = capsys.readouterr().out
    assert code == 0
    assert "PORT" in out and "2341:0043" in out and "Arduino" in out
    assert f'--source "serial://{board.path}"' in out


def test_devices_without_ports(fake_ports, capsys):
    code = main(["devices"])
    out = capsys.readouterr().out
    assert code == 1 and "no serial ports found" in out and "sim://" in out


def test_devices_no_probe(fake_ports, capsys):
    fake_ports.append(usb(Path("/dev/ttyACM7"), 0x2341, 0x0043))
    assert main(["devices", "--no-probe", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ports"][0]["answer"] == "not probed" and out["ports"][0]["candidate"]


def doctor(args: list[str], capsys) -> tuple[int, dict]:
    code = main(["doctor", "--json", *args])
    return code, json.loads(capsys.readouterr().out)


def test_doctor_on_the_simulator_passes(capsys):
    code, report = doctor(["--source", "sim://?scenario=relax&seed=3", "--duration", "2"], capsys)
    assert code == 0 and report["problems"] == [] and report["verdict"].startswith("ok")
    rate = report["checks"]["rate"]
    assert rate["achieved_hz"] == pytest.approx(1000, rel=0.03)
    assert report["checks"]["link"]["missing_samples"] == 0
    # the 10-bit board cannot resolve rest on RAW, which the report notes (ENV can)
    assert any("RAW cannot resolve rest" in n for n in report["notes"])


def test_doctor_finds_mains_hum_and_says_what_to_do(capsys):
    code, report = doctor(
        ["--source", "sim://?scenario=relax&mains_uv=300&speed=max", "--duration", "3"], capsys
    )
    assert code == 1
    (mains,) = [p for p in report["problems"] if p["check"] == "mains"]
    assert "electrode contact" in mains["fix"]
    assert report["checks"]["rate"]["achieved_hz"] is None  # speed=max is not real time


def test_doctor_cannot_connect(tmp_path, capsys):
    code, report = doctor(["--source", f"serial://{tmp_path}/ttyNOPE", "--duration", "1"], capsys)
    assert code == 2 and report["verdict"] == "cannot connect"
    assert "no such port" in report["problems"][0]["fix"]


@posix_only
def test_doctor_reports_gaps_and_errors_on_a_flaky_link(tmp_path, capsys):
    with FakeBoard(tmp_path, drop=lambda k: k % 25 == 7) as board:
        code, report = doctor(["--source", board.url, "--duration", "1.5"], capsys)
    assert code == 1
    checks = {p["check"] for p in report["problems"]}
    assert "gaps" in checks
    link = report["checks"]["link"]
    assert link["missing_samples"] >= 40 and link["gaps"] >= 4
    assert link["missing_samples"] == 10 * link["gaps"]


@posix_only
def test_doctor_on_a_stock_sketch_notes_the_estimated_rate(tmp_path, capsys):
    with TextBoard(tmp_path, rate_hz=100) as text:
        _, report = doctor(
            ["--source", f"{text.url}?format=text&board=uno", "--duration", "1.5"], capsys
        )
    assert report["checks"]["rate"]["estimated"] is True
    assert any("estimated from arrival times" in n for n in report["notes"])
    assert report["checks"]["link"]["frame_errors"] == 0


def test_doctor_text_output(capsys):
    code = main(["doctor", "--source", "sim://?scenario=relax", "--duration", "1"])
    out = capsys.readouterr().out
    assert code == 0
    assert "rate" in out and "noise floor" in out and "verdict: ok" in out
