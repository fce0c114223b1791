"""Electrical-safety checklist: mains detection from sysfs and the confirmations it requires."""

from __future__ import annotations

from biofeedback.gui.safety_dialog import (
    PowerReport,
    PowerSource,
    SafetyChecklistDialog,
    detect_power,
    needs_checklist,
)


def supply(root, name, **files):
    d = root / name
    d.mkdir()
    for key, value in files.items():
        (d / key).write_text(value + "\n")


def test_laptop_on_charger_is_mains(tmp_path):
    supply(tmp_path, "AC", type="Mains", online="1")
    supply(tmp_path, "BAT0", type="Battery", present="1")
    assert detect_power(tmp_path).source == PowerSource.MAINS


def test_laptop_unplugged_is_battery(tmp_path):
    supply(tmp_path, "AC", type="Mains", online="0")
    supply(tmp_path, "BAT0", type="Battery", present="1")
    assert detect_power(tmp_path).source == PowerSource.BATTERY


def test_desktop_without_battery_is_mains(tmp_path):
    supply(tmp_path, "hidpp_battery_0", type="Battery", present="0")
    assert detect_power(tmp_path).source == PowerSource.MAINS


def test_no_information_is_unknown(tmp_path):
    assert detect_power(tmp_path).source == PowerSource.UNKNOWN
    assert detect_power(tmp_path / "missing").source == PowerSource.UNKNOWN


def test_simulated_and_replayed_sources_skip_the_checklist():
    assert not needs_checklist("sim://?scenario=relax")
    assert not needs_checklist("replay://12")
    assert needs_checklist("serial:///dev/ttyACM0")
    assert needs_checklist("auto")
    # BrainFlow's synthetic board makes its signal up; real boards and LSL streams may not
    assert not needs_checklist("brainflow://synthetic")
    assert not needs_checklist("brainflow://-1?channels=1")
    assert needs_checklist("brainflow://cyton?serial_port=/dev/ttyUSB0")
    assert needs_checklist("lsl://?type=EMG")
    assert not needs_checklist(" SIM://?scenario=relax ")  # the scheme in any case
    assert not needs_checklist("brainflow://Synthetic_Board")


def test_a_source_nobody_can_read_gets_the_checklist():
    for url in ("", "nonsense", "usb://board", "sim://?bits=1&bits=2"):
        assert needs_checklist(url), url


def test_the_answer_comes_from_the_device_class(monkeypatch):
    from biofeedback.devices.serial_device import SerialDevice

    assert needs_checklist("serial:///dev/ttyACM0")
    monkeypatch.setattr(SerialDevice, "on_body", False)  # e.g. a signal generator on the bench
    assert not needs_checklist("serial:///dev/ttyACM0")


def test_on_mains_only_a_usb_isolator_unlocks_start(qtbot):
    dialog = SafetyChecklistDialog(
        PowerReport(PowerSource.MAINS, "power adapter 'AC' is plugged in")
    )
    qtbot.addWidget(dialog)
    assert not dialog.ok_button.isEnabled()
    assert not dialog.battery.isEnabled()  # battery is not an option on mains
    dialog.skin.setChecked(True)
    dialog.not_medical.setChecked(True)
    assert not dialog.ok_button.isEnabled()
    dialog.isolator.setChecked(True)
    assert dialog.ok_button.isEnabled() and dialog.isolation == "usb-isolator"


def test_on_battery_the_battery_option_suffices(qtbot):
    dialog = SafetyChecklistDialog(PowerReport(PowerSource.BATTERY, "running on battery"))
    qtbot.addWidget(dialog)
    dialog.battery.setChecked(True)
    dialog.skin.setChecked(True)
    assert not dialog.ok_button.isEnabled()  # "not a medical device" must be acknowledged
    dialog.not_medical.setChecked(True)
    assert dialog.ok_button.isEnabled() and dialog.isolation == "battery"
    dialog.accept()
    assert dialog.result() == dialog.DialogCode.Accepted


def test_the_clinician_view_names_lsl_and_brainflow_sources_shortly():
    from biofeedback.gui.clinician_view import describe_source

    assert describe_source("lsl://?name=Chords&units=uV") == "LSL stream Chords"
    assert describe_source("lsl://?type=EMG") == "LSL stream EMG"
    assert describe_source("brainflow://cyton?serial_port=/dev/ttyUSB0") == "BrainFlow cyton"
    assert describe_source("sim://?scenario=noisy&board=uno") == "simulated sensor (noisy)"
    assert describe_source("serial:///dev/ttyACM0?baud=500000") == "/dev/ttyACM0"
    assert describe_source("replay://12") == "replay 12"
