"""Build and run the firmware in simavr (helpers for tests/firmware and benchmarks/emulator.py).

Everything here needs Debian's toolchain: ``gcc-avr avr-libc binutils-avr arduino-core-avr``
for the firmware, ``simavr libsimavr-dev`` plus a host ``gcc`` for the harness. The ``missing_*``
functions say what is absent, so tests can skip with that reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE_DIR = ROOT / "firmware"
SKETCH_DIR = FIRMWARE_DIR / "biofeedback"
HERE = Path(__file__).resolve().parent
BUILD_DIR = Path(os.environ.get("BIOFEEDBACK_FW_BUILD", HERE / "build"))
SIMAVR_INCLUDE = Path("/usr/include/simavr")
ARDUINO_AVR = Path(os.environ.get("ARDUINO_AVR", "/usr/share/arduino/hardware/arduino/avr"))
APT_FIRMWARE = "gcc-avr avr-libc binutils-avr arduino-core-avr"
APT_EMULATOR = "simavr libsimavr-dev"

_lock = threading.Lock()


def missing_host_cc() -> str | None:
    """Why host C tests cannot build, or None."""
    if shutil.which("gcc") is None and shutil.which("cc") is None:
        return "no host C compiler (apt-get install gcc)"
    return None


def missing_avr_toolchain() -> str | None:
    """Why the firmware cannot build, or None."""
    absent = [
        t for t in ("avr-gcc", "avr-g++", "avr-objcopy", "avr-size") if shutil.which(t) is None
    ]
    if absent:
        return f"{', '.join(absent)} not found (apt-get install {APT_FIRMWARE})"
    if not (ARDUINO_AVR / "cores" / "arduino" / "Arduino.h").exists():
        return f"Arduino AVR core not found at {ARDUINO_AVR} (apt-get install arduino-core-avr)"
    return None


def missing_simavr() -> str | None:
    """Why the emulator harness cannot build, or None."""
    if (reason := missing_host_cc()) is not None:
        return reason
    if not (SIMAVR_INCLUDE / "sim_avr.h").exists():
        return f"simavr headers not found in {SIMAVR_INCLUDE} (apt-get install {APT_EMULATOR})"
    return None


def _cc() -> str:
    return shutil.which("gcc") or shutil.which("cc") or "cc"


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def build_firmware(build_dir: Path | None = None) -> tuple[Path, str]:
    """Run firmware/build.sh; returns (ELF path, the build's flash/RAM report)."""
    out = Path(build_dir or BUILD_DIR / "firmware")
    with _lock:
        proc = _run(["bash", str(FIRMWARE_DIR / "build.sh"), str(out)])
    return out / "biofeedback.elf", proc.stdout


def build_frame_tests() -> Path:
    """Compile tests/firmware/test_frame.c with firmware/biofeedback/frame.c for the host."""
    exe = BUILD_DIR / "test_frame"
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    with _lock:
        _run(
            [
                _cc(),
                "-std=c99",
                "-O2",
                "-Wall",
                "-Wextra",
                "-Werror",
                f"-I{SKETCH_DIR}",
                str(HERE / "test_frame.c"),
                str(SKETCH_DIR / "frame.c"),
                "-o",
                str(exe),
            ]
        )
    return exe


def build_harness() -> Path:
    """Compile the simavr harness against libsimavr."""
    exe = BUILD_DIR / "sim_harness"
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    with _lock:
        _run(
            [
                _cc(),
                "-std=gnu99",
                "-O2",
                "-Wall",
                "-Wextra",
                f"-I{SIMAVR_INCLUDE}",
                str(HERE / "sim_harness.c"),
                "-o",
                str(exe),
                "-lsimavr",
                "-lutil",
            ]
        )
    return exe


def expected_codes(mv: np.ndarray, vref_mv: int = 5000) -> np.ndarray:
    """The codes simavr's ADC model returns: ``mV * 1023 / Vref`` with integer division
    (truncation; note 1023, not 1024), clipped to 10 bits."""
    return np.minimum((mv.astype(np.int64) * 1023) // vref_mv, 1023)


class Emulator:
    """The firmware running in simavr behind a pty, ADC fed from ``mv`` [rows, columns].

    Column c drives pin Ac. ``path`` is the pty to open (stable symlink). Use as a context
    manager; ``stats`` holds the harness's exit report.
    """

    def __init__(
        self,
        harness: Path,
        elf: Path,
        mv: np.ndarray,
        workdir: Path,
        fast: bool = False,
        seconds: float | None = None,
    ) -> None:
        self.harness = harness
        self.elf = elf
        self.mv = np.asarray(mv, dtype="<u2")
        self.workdir = Path(workdir)
        self.fast = fast
        self.seconds = seconds
        self.path = self.workdir / "ttySIM"
        self.proc: subprocess.Popen | None = None
        self.stats: dict = {}

    def __enter__(self) -> Emulator:
        self.workdir.mkdir(parents=True, exist_ok=True)
        adc = self.workdir / "adc.u16"
        self.mv.tofile(adc)
        cmd = [
            str(self.harness),
            "--firmware",
            str(self.elf),
            "--adc",
            str(adc),
            "--columns",
            str(self.mv.shape[1]),
            "--link",
            str(self.path),
        ]
        if self.fast:
            cmd.append("--fast")
        if self.seconds:
            cmd += ["--seconds", str(self.seconds)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("pty "):
                break
        else:
            raise RuntimeError(
                f"harness did not start: {self.proc.stderr.read() if self.proc.stderr else ''}"
            )
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> dict:
        """End the emulator; returns its statistics."""
        if self.proc is None:
            return self.stats
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            out, _ = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        for line in out.splitlines():
            if line.startswith("{"):
                self.stats = json.loads(line)
        self.proc = None
        return self.stats
