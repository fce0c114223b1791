"""Tools > Check signal: the doctor's checks on a few seconds of the live source (offscreen)."""

from __future__ import annotations

from biofeedback.diagnostics import ROW_CHECKS
from biofeedback.gui import check_signal, preload
from biofeedback.gui.check_signal import CheckSignalDialog
from biofeedback.gui.main_window import MainWindow

# speed=4: the check's 1.5 s of wall time hold 6 s of signal
CLEAN = "sim://?scenario=steady&level_uv=20&board=12bit&channels=raw,ref&speed=4&seed=1"
HUM = "sim://?scenario=steady&level_uv=20&board=12bit&channels=raw,ref&speed=4&seed=1&mains_uv=300"


def open_window(qtbot, source: str) -> MainWindow:
    window = MainWindow(source, safety_check=False, audio=False, remember=False)
    qtbot.addWidget(window)
    window.show()
    assert window.start(), window.banner.text
    qtbot.waitUntil(lambda: window.bridge.first_index is not None, timeout=15000)
    return window


def run_check(qtbot, window: MainWindow, monkeypatch) -> CheckSignalDialog:
    monkeypatch.setattr(check_signal, "CHECK_SECONDS", 1.5)
    engine = window.engine
    assert engine is not None
    sinks_before = len(engine._sinks)
    window.check_signal_action.trigger()
    dialog = window.check_signal_dialog
    assert dialog.isVisible() and dialog.progress.isVisible()
    assert not dialog.again_button.isEnabled()  # listening
    qtbot.waitUntil(lambda: dialog.diagnosis is not None, timeout=20000)
    assert len(engine._sinks) == sinks_before  # the check's sink is gone
    assert dialog.again_button.isEnabled() and not dialog.progress.isVisible()
    return dialog


def test_check_signal_passes_on_a_clean_simulated_sensor(qtbot, monkeypatch):
    window = open_window(qtbot, CLEAN)
    dialog = run_check(qtbot, window, monkeypatch)
    rows = dialog.row_texts()
    diagnosis = dialog.diagnosis
    assert diagnosis is not None and list(rows) == list(ROW_CHECKS)
    # the signal itself is clean; whether a loaded machine keeps the simulator's 4x pace is
    # the one thing that may differ (the rate check's own tests are in tests/test_diagnostics.py)
    signal_rows = {name: row for name, row in rows.items() if name != "Sample rate"}
    assert {result for result, _, _ in signal_rows.values()} <= {"pass", "warn"}, rows
    assert [p.check for p in diagnosis.problems] in ([], ["rate"]), diagnosis.problems
    assert "Hz achieved" in rows["Sample rate"][1]
    assert rows["Sample rate"][0] == ("pass" if diagnosis.ok else "fail")
    verdict = "ok: ready for a session" if diagnosis.ok else "1 problem(s) found"
    assert verdict in dialog.verdict_label.text()
    assert rows["Mains hum"][0] == "pass" and "hum / in-band power" in rows["Mains hum"][1]


def test_check_signal_fails_on_mains_hum_and_says_what_to_do(qtbot, monkeypatch):
    window = open_window(qtbot, HUM)
    dialog = run_check(qtbot, window, monkeypatch)
    result, figure, advice = dialog.row_texts()["Mains hum"]
    assert result == "fail"
    assert "strong mains hum" in figure
    # the doctor's wording
    assert "check electrode contact and the reference electrode" in advice
    assert "problem(s) found" in dialog.verdict_label.text()
    assert dialog.row_texts()["Clipping"][0] == "pass"


def test_check_again_and_close_while_listening(qtbot, monkeypatch):
    window = open_window(qtbot, CLEAN)
    dialog = run_check(qtbot, window, monkeypatch)
    engine = window.engine
    assert engine is not None
    sinks = len(engine._sinks)
    dialog.again_button.click()
    assert dialog.diagnosis is None and dialog.table.rowCount() == 0
    assert len(engine._sinks) == sinks + 1
    dialog.close()  # closing mid-check detaches from the engine
    assert len(engine._sinks) == sinks


def test_without_a_source_the_dialog_says_so(qtbot):
    dialog = CheckSignalDialog(None, "")
    qtbot.addWidget(dialog)
    dialog.start()
    assert "No source is streaming" in dialog.verdict_label.text()
    assert dialog.diagnosis is None and dialog.table.rowCount() == 0


def test_a_check_asked_for_while_connecting_waits_then_says_it_did_not_connect(qtbot, monkeypatch):
    monkeypatch.setattr(check_signal, "CONNECT_WAIT_S", 0.5)
    # the window's engine while its source is still opening: none yet
    dialog = CheckSignalDialog(lambda: None, "serial:///dev/ttyACM0")
    qtbot.addWidget(dialog)
    dialog.start()
    assert "Waiting for serial:///dev/ttyACM0 to connect" in dialog.verdict_label.text()
    assert not dialog.again_button.isEnabled()
    qtbot.waitUntil(lambda: "did not connect" in dialog.verdict_label.text(), timeout=10000)
    assert dialog.again_button.isEnabled() and dialog.diagnosis is None


def test_a_check_asked_for_while_the_libraries_load_runs_once_the_source_streams(
    qtbot, monkeypatch
):
    monkeypatch.setattr(check_signal, "CHECK_SECONDS", 1.5)
    # right after start-up the source waits for gui.preload; the check must wait with it
    monkeypatch.setattr(preload, "loaded", lambda: False)
    window = MainWindow(CLEAN, safety_check=False, audio=False, remember=False)
    qtbot.addWidget(window)
    window.show()
    assert window.start(), window.banner.text
    assert window.engine is None and window.pending_source is not None
    window.check_signal_action.trigger()
    dialog = window.check_signal_dialog
    assert f"Waiting for {CLEAN} to connect" in dialog.verdict_label.text()
    qtbot.waitUntil(lambda: dialog.diagnosis is not None, timeout=30000)
    assert dialog.diagnosis is not None
    assert [p.check for p in dialog.diagnosis.problems] in ([], ["rate"])  # see above
