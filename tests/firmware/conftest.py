"""Fixtures that build the firmware, the host C tests and the simavr harness once per session,
or skip with the apt packages to install when the toolchain is missing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness


@pytest.fixture(scope="session")
def firmware_build():
    """(ELF path, build report) of firmware/biofeedback."""
    reason = harness.missing_avr_toolchain()
    if reason:
        pytest.skip(reason)
    return harness.build_firmware()


@pytest.fixture(scope="session")
def firmware_elf(firmware_build):
    """The built firmware ELF."""
    return firmware_build[0]


@pytest.fixture(scope="session")
def sim_harness():
    """The compiled simavr harness."""
    reason = harness.missing_simavr()
    if reason:
        pytest.skip(reason)
    return harness.build_harness()
