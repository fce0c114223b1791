"""Electrical-safety checklist shown before the first acquisition from electrodes.

Electrodes on the body must never connect to a mains-powered computer without isolation: run the
laptop on battery (charger, dock and monitor unplugged) or put a USB isolator between computer and
board (the sensor vendor's guidance: docs/clinical-background.md, "Electrical safety"). Where the operating system reports the power source (Linux: ``/sys/class/power_supply``),
the dialog uses it: on mains power the battery option is disabled and the user must confirm that a
USB isolator is in use. The dialog also states that this software is not a medical device.

Sources without electrodes on a person skip the checklist: the device facts say which
(:mod:`biofeedback.devices.facts`: the simulator, a replay, BrainFlow's synthetic board).
Acceptance is remembered for the rest of the program run.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from biofeedback.devices.facts import source_facts
from biofeedback.gui.theme import PALETTE, font

POWER_SUPPLY_DIR = Path("/sys/class/power_supply")


class PowerSource(enum.StrEnum):
    """What the operating system says about this computer's power."""

    MAINS = "mains"  # charger / AC adapter online, or no battery at all (desktop)
    BATTERY = "battery"
    UNKNOWN = "unknown"  # the OS does not tell (other platforms, containers)


@dataclass(frozen=True)
class PowerReport:
    """Detected power source and the evidence for it (shown in the dialog)."""

    source: PowerSource
    detail: str


def detect_power(sysfs: Path = POWER_SUPPLY_DIR) -> PowerReport:
    """Read the power source from Linux sysfs (``type`` and ``online`` of each supply).

    A mains-type supply (Mains, USB, USB-C, UPS adapter) that is online means mains power. Batteries
    without any online adapter mean battery. A machine with supplies listed but no battery is a
    desktop on mains. No sysfs entries at all: unknown.
    """
    try:
        entries = sorted(p for p in sysfs.iterdir() if p.is_dir())
    except OSError:
        return PowerReport(
            PowerSource.UNKNOWN, "the operating system does not report the power source"
        )
    has_battery = False
    for entry in entries:
        kind = _read(entry / "type").lower()
        if kind == "battery":
            if _read(entry / "present") in ("", "1"):
                has_battery = True
            continue
        if _read(entry / "online") == "1":
            return PowerReport(PowerSource.MAINS, f"power adapter '{entry.name}' is plugged in")
    if has_battery:
        return PowerReport(PowerSource.BATTERY, "running on battery")
    if entries:
        return PowerReport(PowerSource.MAINS, "no battery found: this computer runs from mains")
    return PowerReport(PowerSource.UNKNOWN, "the operating system does not report the power source")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return ""


def needs_checklist(source_url: str) -> bool:
    """True for sources that may have electrodes on a person; the source's Device class says
    (:func:`biofeedback.devices.facts.needs_checklist`): simulated and replayed sources and
    BrainFlow's synthetic board do not, boards, LSL streams and ``auto`` do."""
    return source_facts(source_url).on_body


class SafetyChecklistDialog(QDialog):
    """The pre-acquisition checklist. ``exec()`` returns Accepted only when every item is ticked.

    After acceptance, :attr:`isolation` is ``"battery"`` or ``"usb-isolator"`` (kept with the
    session for the clinician report).
    """

    def __init__(self, power: PowerReport | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.power = power or detect_power()
        self.setWindowTitle("Before you put on the electrodes")
        self.setModal(True)
        self.setMinimumWidth(560)
        on_mains = self.power.source == PowerSource.MAINS

        title = QLabel("Electrical safety")
        title.setFont(font(16, bold=True))
        intro = QLabel(
            "Electrodes connect the sensor to the body. The computer must not be connected to "
            "mains power through the USB cable while they are on."
        )
        intro.setWordWrap(True)
        power_label = QLabel(f"Power source detected: {self.power.detail}.")
        power_label.setWordWrap(True)
        power_label.setStyleSheet(
            f"color: {PALETTE.lost if on_mains else PALETTE.text_muted}; font-weight: 600;"
        )

        self.battery = QRadioButton(
            "The laptop runs on battery: charger, dock, monitor and other mains cables are unplugged."
        )
        self.isolator = QRadioButton(
            "A USB isolator is in use between the computer and the sensor board."
        )
        for button in (self.battery, self.isolator):
            button.setStyleSheet("QRadioButton { padding: 3px; }")
        self.battery.setEnabled(not on_mains)
        if on_mains:
            self.battery.setToolTip("This computer reports mains power: use a USB isolator.")
        self._group = QButtonGroup(self)
        self._group.addButton(self.battery)
        self._group.addButton(self.isolator)
        self.not_medical = QCheckBox(
            "I understand that this software is not a medical device: it does not diagnose or treat."
        )
        self.skin = QCheckBox("The skin under the electrodes is intact (no wounds, no irritation).")

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Start")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(title)
        layout.addWidget(intro)
        layout.addWidget(power_label)
        layout.addWidget(QLabel("Isolation (choose one):"))
        layout.addWidget(self.battery)
        layout.addWidget(self.isolator)
        layout.addSpacing(6)
        layout.addWidget(self.skin)
        layout.addWidget(self.not_medical)
        layout.addSpacing(6)
        layout.addWidget(self.buttons, alignment=Qt.AlignmentFlag.AlignRight)
        for widget in (self.battery, self.isolator, self.not_medical, self.skin):
            widget.toggled.connect(self._refresh)
        self._refresh()

    @property
    def isolation(self) -> str:
        """``battery``, ``usb-isolator`` or "" if none chosen yet."""
        if self.isolator.isChecked():
            return "usb-isolator"
        if self.battery.isChecked() and self.battery.isEnabled():
            return "battery"
        return ""

    @property
    def complete(self) -> bool:
        """Every required item is confirmed."""
        return bool(self.isolation) and self.not_medical.isChecked() and self.skin.isChecked()

    def _refresh(self) -> None:
        self.ok_button.setEnabled(self.complete)

    def accept(self) -> None:
        if self.complete:
            super().accept()
