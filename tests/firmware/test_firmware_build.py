"""The framing code's C unit tests (host gcc) and the firmware build with Debian's avr-gcc."""

from __future__ import annotations

import re
import shutil
import subprocess

import harness
import pytest

VECTORS = harness.ROOT / "tests" / "data" / "wire_vectors.json"


def test_frame_c_unit_tests():
    reason = harness.missing_host_cc()
    if reason:
        pytest.skip(reason)
    exe = harness.build_frame_tests()
    proc = subprocess.run([str(exe), str(VECTORS)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    passed, failed = map(int, re.search(r"(\d+) passed, (\d+) failed", proc.stdout).groups())
    assert failed == 0 and passed >= 80


def test_firmware_builds_and_fits_an_uno(firmware_build):
    elf, report = firmware_build
    assert elf.exists() and elf.with_suffix(".hex").exists()
    flash = int(re.search(r"flash: (\d+) bytes", report).group(1))
    ram = int(re.search(r"RAM:\s+(\d+) bytes", report).group(1))
    assert flash < 32256
    # static RAM leaves at least 300 bytes of the 2 KiB for the stack (ISR + Serial + frame build)
    assert ram <= 2048 - 300, report


def test_build_script_explains_a_missing_toolchain(tmp_path):
    env = {"PATH": str(tmp_path), "HOME": str(tmp_path)}
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    proc = subprocess.run(
        [bash, str(harness.FIRMWARE_DIR / "build.sh"), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 3
    assert "apt-get install gcc-avr avr-libc binutils-avr arduino-core-avr" in proc.stderr
