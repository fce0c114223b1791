"""The live window end to end on the simulated sensor (offscreen, pytest-qt).

Sources run faster than real time (``speed=``) so a few seconds of signal take well under a second.
"""

from __future__ import annotations

import importlib
import threading

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog

from biofeedback.appmodel.prefs import load_prefs
from biofeedback.devices.base import DeviceState
from biofeedback.devices.simulated import SimulatedDevice
from biofeedback.gui import main_window as mw
from biofeedback.gui import preload, window_sources
from biofeedback.gui.audio_feedback import AudioMode
from biofeedback.gui.device_panel import DEFAULT_SIM_SOURCE, ChannelSetup
from biofeedback.gui.main_window import MainWindow, choose_initial_source
from biofeedback.gui.tension_gauge import GaugeState
from biofeedback.gui.theme import PALETTE
from biofeedback.gui.window_geometry import remembered_fits, screen_key
from biofeedback.storage.database import Database
from biofeedback.training.thresholds import NUDGE_FACTOR, round_target

STEADY = "sim://?scenario=steady&level_uv=20&board=12bit&channels=raw,ref&speed=4&seed=1"


def open_window(qtbot, source, **kwargs) -> MainWindow:
    kwargs.setdefault("safety_check", False)
    kwargs.setdefault("audio", False)
    kwargs.setdefault("remember", False)
    window = MainWindow(source, **kwargs)
    qtbot.addWidget(window)
    window.show()
    assert window.start(), window.banner.text
    return window


def wait_for_data(qtbot, window: MainWindow, seconds_of_signal: float = 1.0) -> None:
    bridge = window.bridge
    qtbot.waitUntil(
        lambda: bridge.first_index is not None and bridge.elapsed_s >= seconds_of_signal,
        timeout=15000,
    )


def wait_for_banner(qtbot, window: MainWindow, state: DeviceState) -> None:
    """The banner follows the device's status, which reaches the window as a queued signal on a
    path of its own: data drawn does not mean the status has been shown yet, so wait for it."""
    qtbot.waitUntil(lambda: window.banner.state == state, timeout=15000)


def test_window_opens_on_sim_and_data_flows(qtbot):
    window = open_window(qtbot, STEADY)
    wait_for_data(qtbot, window, 2.0)
    qtbot.waitUntil(lambda: np.isfinite(window.bridge.readout_uv).all(), timeout=15000)
    assert [card.name for card in window.cards] == ["raw"]
    wait_for_banner(qtbot, window, DeviceState.CONNECTED)
    assert "Connected" in window.banner.text
    card = window.cards[0]
    # steady 20 uV: the big number shows it (within the simulator's fluctuation)
    assert card.gauge.readout_uv == pytest.approx(20.0, rel=0.2)
    assert "µV RMS" in card.noise_label.text() and "–" not in card.noise_label.text()
    assert "band-pass 20–450 Hz" in card.kind_label.text()  # pass band stated with the trace
    assert window.timer_label.text() != "00:00"
    # the traces hold data (finite points), drawn from the peak-decimated columns
    assert np.isfinite(window.bridge.signal_peaks.out).sum() > 100
    assert card.plot.raw_curve.full_renders > 0 and card.plot.raw_curve.image.isVisible()


def test_gauge_turns_calm_when_relaxed(qtbot):
    window = open_window(
        qtbot, "sim://?scenario=relax&level_uv=3&end_uv=2&board=12bit&channels=raw,ref&speed=4"
    )
    window.set_threshold(0, 8.0)
    wait_for_data(qtbot, window, 1.5)
    gauge = window.cards[0].gauge
    qtbot.waitUntil(lambda: gauge.state == GaugeState.CALM, timeout=15000)
    assert gauge.level_uv < 8.0
    assert gauge._state_color(gauge.state) == PALETTE.calm


def test_gauge_alarms_on_contraction_and_calms_after_release(qtbot):
    window = open_window(
        qtbot,
        # a 3 s lead-in (0.75 s at speed=4): frames see it calm even when the first is late
        "sim://?scenario=tense-release&board=12bit&channels=raw,ref&lead_s=3&tense_s=3"
        "&release_s=4&tau_s=0.3&speed=4&seed=2",
    )
    window.set_threshold(0, 15.0)
    seen: list[str] = []
    window.bridge.frame_ready.connect(lambda: seen.append(window.cards[0].gauge.state))
    qtbot.waitUntil(lambda: GaugeState.TENSE in seen, timeout=15000)
    gauge = window.cards[0].gauge
    tense_at = seen.index(GaugeState.TENSE)
    qtbot.waitUntil(lambda: GaugeState.CALM in seen[tense_at:], timeout=15000)
    assert seen.index(GaugeState.CALM) < tense_at  # calm during the lead-in, too
    assert gauge._state_color(GaugeState.TENSE) == PALETTE.tense


class FlakyLinkDevice(SimulatedDevice):
    """A simulated sensor whose link drops and comes back, reported like the serial driver does."""

    def __init__(self, url: str, drop_after_chunks: int, back_after_chunks: int) -> None:
        from biofeedback.devices.sim_synth import parse_sim_url

        super().__init__(parse_sim_url(url), url=url)
        self.drop_after = drop_after_chunks
        self.back_after = back_after_chunks
        self._chunks = 0

    def _emit(self, chunk) -> None:
        self._chunks += 1
        if self._chunks == self.drop_after:
            self._set_state(DeviceState.RECONNECTING, "no data for 1.0 s: check the USB cable")
        elif self._chunks == self.back_after:
            self._set_state(DeviceState.CONNECTED, "streaming")
        super()._emit(chunk)


def test_reconnecting_banner_shows_when_the_link_drops(qtbot):
    device = FlakyLinkDevice(STEADY, drop_after_chunks=20, back_after_chunks=800)
    window = open_window(qtbot, device)
    # what the banner showed after each status (the window's slot runs first: connected first),
    # so a busy machine delivering both statuses in one pass cannot hide the reconnecting one
    shown: list[tuple[DeviceState, DeviceState, bool, str]] = []
    window.bridge.status_changed.connect(
        lambda status: shown.append(
            (status.state, window.banner.state, window.banner.alarming, window.banner.text)
        )
    )
    states = lambda: [s[0] for s in shown]  # noqa: E731
    qtbot.waitUntil(lambda: DeviceState.RECONNECTING in states(), timeout=15000)
    drop = states().index(DeviceState.RECONNECTING)
    _, banner_state, alarming, text = shown[drop]
    assert banner_state == DeviceState.RECONNECTING and alarming
    assert "Reconnecting" in text and "check the USB cable" in text
    qtbot.waitUntil(lambda: DeviceState.CONNECTED in states()[drop:], timeout=15000)
    wait_for_banner(qtbot, window, DeviceState.CONNECTED)
    assert not window.banner.alarming


def test_lost_connection_shows_reason_and_clears_gauge(qtbot):
    window = open_window(qtbot, STEADY)
    wait_for_data(qtbot, window, 0.5)
    window.bridge._device_status.emit(
        mw.DeviceStatus(DeviceState.LOST, "port /dev/ttyACM0 vanished")
    )
    qtbot.waitUntil(lambda: window.banner.state == DeviceState.LOST, timeout=15000)
    assert "Connection lost: port /dev/ttyACM0 vanished" in window.banner.text


def test_closing_leaves_no_thread_running(qtbot):
    before = set(threading.enumerate())
    window = open_window(qtbot, STEADY)
    wait_for_data(qtbot, window, 0.5)
    device = window.engine.device
    assert device.running
    window.close()
    assert not device.running
    assert window.bridge is None and window.engine is None
    leftover = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert leftover == []


def start_while_libraries_load(qtbot, monkeypatch, import_module) -> MainWindow:
    """A window started as in a fresh process: scipy.signal and pyqtgraph not loaded yet, the
    loader importing through ``import_module``."""
    monkeypatch.setattr(preload, "loaded", lambda modules=preload.HEAVY_MODULES: False)
    monkeypatch.setattr(preload, "import_module", import_module)
    window = MainWindow(STEADY, safety_check=False, audio=False, remember=False)
    qtbot.addWidget(window)
    window.show()
    assert window.start()
    return window


def test_window_shows_before_the_libraries_load_then_opens_the_source(qtbot, monkeypatch):
    # as in a fresh process: scipy.signal and pyqtgraph are not loaded when the window shows
    import_started = threading.Event()
    release = threading.Event()
    real_import = preload.import_module

    def slow_import(name):
        import_started.set()
        assert release.wait(10)
        return real_import(name)

    window = start_while_libraries_load(qtbot, monkeypatch, slow_import)
    assert import_started.wait(5)
    # meanwhile the window is up and says what it is doing; no source is open yet
    assert window.pending_source == STEADY
    assert window.engine is None and window.cards == []
    assert window.banner.state == DeviceState.CONNECTING and "Connecting" in window.banner.text
    assert window.waiting_label.text().startswith("Starting sim://")
    window.set_view("patient")  # the window stays usable while it loads
    window.set_view("clinician")
    release.set()
    qtbot.waitUntil(lambda: window.bridge is not None, timeout=10000)
    assert window.pending_source is None
    wait_for_data(qtbot, window, 0.5)
    assert [card.name for card in window.cards] == ["raw"]
    wait_for_banner(qtbot, window, DeviceState.CONNECTED)


def test_closing_while_the_libraries_load_opens_nothing(qtbot, monkeypatch):
    before = set(threading.enumerate())
    release = threading.Event()
    real_import = preload.import_module

    def slow_import(name):
        release.wait(10)
        return real_import(name)

    window = start_while_libraries_load(qtbot, monkeypatch, slow_import)
    assert window.preloader.running
    # queued after the window's own connection, so delivered after it
    delivered: list[str] = []
    window.preloader.finished.connect(delivered.append, Qt.ConnectionType.QueuedConnection)
    timer = threading.Timer(0.2, release.set)
    timer.start()
    window.close()  # waits for the imports to finish rather than cut one short
    assert not window.preloader.running
    # the queued "finished" arrives after the close: it must not open the source
    qtbot.waitUntil(lambda: delivered == [""], timeout=15000)
    assert window.engine is None and window.bridge is None
    timer.join(5)
    leftover = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert leftover == []


def test_a_library_that_fails_to_load_is_reported_in_the_banner(qtbot, monkeypatch):
    def broken(name):
        raise ImportError(f"No module named {name!r}")

    window = start_while_libraries_load(qtbot, monkeypatch, broken)
    qtbot.waitUntil(lambda: window.banner.state == DeviceState.ERROR, timeout=15000)
    assert "scipy.signal" in window.banner.text and "pip install" in window.banner.text
    assert window.engine is None and window.pending_source is None
    assert window.waiting_label.text() == mw.NOT_CONNECTED_TEXT
    # once the install is repaired, Connect tries again (instead of waiting forever)
    monkeypatch.setattr(preload, "import_module", importlib.import_module)
    window.device_panel.connect_button.click()
    qtbot.waitUntil(lambda: window.bridge is not None, timeout=10000)
    assert window.banner.state in (DeviceState.CONNECTING, DeviceState.CONNECTED)


def test_patient_view_toggles_with_one_key(qtbot):
    window = open_window(qtbot, STEADY)
    wait_for_data(qtbot, window, 0.5)
    qtbot.keyClick(window, Qt.Key.Key_F11)
    assert window.view == "patient"
    assert window.stack.currentWidget() is window.patient
    assert not window.menuBar().isVisible()
    pacer_before = window.patient.pacer.phase
    # the pacer moves on the frame timer
    qtbot.waitUntil(lambda: window.patient.pacer.phase != pacer_before, timeout=15000)
    assert window.patient.orb.state in (GaugeState.CALM, GaugeState.TENSE)
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert window.view == "clinician"
    qtbot.keyClick(window, Qt.Key.Key_P)
    assert window.view == "patient"
    qtbot.keyClick(window, Qt.Key.Key_P)
    assert window.view == "clinician"


def test_threshold_controls_stay_in_step_and_are_logged(qtbot):
    window = open_window(qtbot, STEADY)
    card = window.cards[0]
    window.threshold_spins[0].setValue(12.5)
    assert window.thresholds_uv[0] == 12.5
    assert card.gauge.threshold_uv == 12.5
    assert card.plot.threshold_line.value() == pytest.approx(12.5)
    # dragging the line in the envelope plot (the line emits when the drag ends)
    card.plot.threshold_line.setValue(9.0)
    card.plot.threshold_line.sigPositionChangeFinished.emit(card.plot.threshold_line)
    assert window.thresholds_uv[0] == 9.0 and window.threshold_spins[0].value() == 9.0
    window.nudge_thresholds(NUDGE_FACTOR)
    nudged = round_target(9.0 * NUDGE_FACTOR)  # one rounding rule for targets
    assert window.thresholds_uv[0] == nudged and window.threshold_spins[0].value() == nudged
    assert [c.value_uv for c in window.threshold_log[-3:]] == [12.5, 9.0, nudged]
    assert all(c.reason == "clinician" for c in window.threshold_log[-3:])


def test_first_target_comes_from_the_first_seconds(qtbot):
    window = open_window(qtbot, STEADY)
    qtbot.waitUntil(lambda: bool(window.threshold_log), timeout=15000)
    change = window.threshold_log[0]
    assert change.reason == "first seconds"
    assert change.value_uv == pytest.approx(0.9 * 20.0, rel=0.2)


def test_marker_key_and_note(qtbot):
    window = open_window(qtbot, STEADY)
    wait_for_data(qtbot, window, 0.5)
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_M)
    assert len(window.markers) == 1
    marker = window.markers[0]
    assert marker.index > 0 and marker.note == ""
    window.marker_note.setText("patient coughed")
    window.marker_note.returnPressed.emit()
    assert window.markers[0].note == "patient coughed"
    assert "patient coughed" in window.marker_list.item(0).text()
    # typing an "m" into the note field must not add another marker
    window.marker_note.setFocus()
    qtbot.keyClick(window.marker_note, Qt.Key.Key_M)
    assert len(window.markers) == 1


def test_channel_settings_go_to_the_engine(qtbot):
    window = open_window(qtbot, STEADY)
    setup = ChannelSetup(board="12bit", pot_kohm=-1, mains="60", rms_window_ms=200, highpass_hz=30)
    window.apply_setup(setup)
    settings = window.engine.settings
    assert (settings.mains_hz, settings.rms_window_s, settings.highpass_hz) == (60.0, 0.2, 30.0)
    assert "notch 60 Hz" in window.processing_label.text()
    assert "RMS 200 ms" in window.cards[0].kind_label.text()
    # a different board is a different ADC: the simulator is reopened with it
    window.apply_setup(ChannelSetup(board="uno", mains="60"))
    assert "board=uno" in window.source_url
    assert window.engine.info.adc_bits == 10


def test_bad_source_is_reported_in_the_banner_not_raised(qtbot):
    window = MainWindow("sim://?scenario=nonsense", safety_check=False, audio=False, remember=False)
    qtbot.addWidget(window)
    assert window.start() is False
    assert window.banner.state == DeviceState.ERROR
    assert "nonsense" in window.banner.text


def test_detected_board_is_offered_as_auto(monkeypatch):
    from biofeedback.devices import ports

    port = ports.PortInfo("/dev/ttyACM0", "Arduino Uno", vid=0x2341, pid=0x0043)
    monkeypatch.setattr(ports, "comports", lambda: [port])
    url, label = mw.detect_board()
    assert url == "auto" and "/dev/ttyACM0" in label
    monkeypatch.setattr(ports, "comports", lambda: [])
    assert mw.detect_board() is None


def test_initial_source_order():
    no_board = lambda: None  # noqa: E731
    board = lambda: ("serial:///dev/ttyACM0", "Arduino Uno")  # noqa: E731
    assert (
        choose_initial_source("sim://?scenario=noisy", "x", None, board) == "sim://?scenario=noisy"
    )
    assert choose_initial_source(None, "replay://3", None, board) == "replay://3"
    assert choose_initial_source(None, None, lambda u, d: True, board) == "serial:///dev/ttyACM0"
    assert choose_initial_source(None, None, lambda u, d: False, board) == DEFAULT_SIM_SOURCE
    assert choose_initial_source(None, None, None, no_board) == DEFAULT_SIM_SOURCE


def test_settings_are_remembered_between_runs(qtbot):
    window = open_window(qtbot, STEADY, remember=True, audio=True, audio_backend=NoAudio())
    window.set_threshold(0, 11.0)
    window.audio_mode.setCurrentIndex(window.audio_mode.findData(AudioMode.BEEP.value))
    window.volume.setValue(30)
    window.pacer_rate.setValue(5.0)
    window.apply_setup(ChannelSetup(board="12bit", mains="60", rms_window_ms=150))
    window.close()
    saved = load_prefs()
    assert saved.source == STEADY and saved.recent_sources[0] == STEADY
    again = MainWindow(None, safety_check=False, audio=True, audio_backend=NoAudio(), remember=True)
    qtbot.addWidget(again)
    assert again._initial_source == STEADY
    assert again.audio.mode == AudioMode.BEEP and again.audio.volume == pytest.approx(0.3)
    assert again.pacer_rate.value() == 5.0 and again.patient.pacer.rate_bpm == 5.0
    assert again.setup.mains == "60" and again.setup.rms_window_ms == 150
    assert again.start()
    assert again.thresholds_uv == [11.0]
    assert again.engine.settings.rms_window_s == 0.15


class NoAudio:
    """A sounddevice stand-in with no output device."""

    def OutputStream(self, **kwargs):
        raise RuntimeError("Error querying device -1")


def test_missing_audio_device_is_reported_once(qtbot):
    window = open_window(qtbot, STEADY, audio=True, audio_backend=NoAudio())
    # a persistent warning (not the status bar, which any later message replaces)
    assert window.alert.level == "warning"
    assert window.alert.text.startswith("No sound.")
    assert "Visual feedback continues" in window.alert.text
    window.alert.dismiss()
    assert window.start_source(STEADY)
    assert window.alert.text == ""  # said once per run, not at every reconnect


def test_safety_checklist_guards_board_sources(qtbot, monkeypatch):
    monkeypatch.setattr(window_sources, "_safety_accepted_this_run", False)
    shown: list[int] = []

    def decline(self):
        shown.append(1)
        return QDialog.DialogCode.Rejected

    monkeypatch.setattr(mw.SafetyChecklistDialog, "exec", decline)
    window = MainWindow(STEADY, safety_check=True, audio=False, remember=False)
    qtbot.addWidget(window)
    assert window.start()  # sim: no electrodes, no checklist
    assert shown == []
    assert window.start_source("serial:///dev/ttyBIOFEEDBACK_NONE") is False
    assert shown == [1]
    assert "safety checklist" in window.banner.text
    assert window.engine is not None  # declining keeps the current source running

    def accept(self):
        shown.append(2)
        self.isolator.setChecked(True)
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(mw.SafetyChecklistDialog, "exec", accept)
    window.start_source("serial:///dev/ttyBIOFEEDBACK_NONE")  # fails to open: no such port
    window.start_source("serial:///dev/ttyBIOFEEDBACK_NONE")
    assert shown == [1, 2]  # asked once per run
    assert window.isolation == "usb-isolator"
    assert window.banner.state == DeviceState.ERROR


def test_crossing_recolours_the_gauge_between_frames(qtbot):
    window = open_window(qtbot, STEADY)
    window.set_threshold(0, 200.0)
    wait_for_data(qtbot, window, 0.5)
    gauge = window.cards[0].gauge
    qtbot.waitUntil(lambda: gauge.state == GaugeState.CALM, timeout=15000)
    bridge = window.bridge
    bridge.fast_timer.stop()  # no frames: only the watcher path can change the gauge now
    bridge.watch_timer.stop()  # and the test feeds it by hand (no race with a real peek)
    bridge.slow_timer.stop()
    bridge._ticking = False
    window.set_threshold(0, 10.0)
    bridge.newest_envelope_uv = np.array([20.0])
    bridge.newest_flags = np.array([0])
    bridge.recent_flags = np.array([0])
    window._on_newest()
    assert gauge.state == GaugeState.TENSE
    bridge.newest_envelope_uv = np.array([5.0])
    bridge.newest_flags = np.array([8])  # a flagged row (mains) is never rewarded
    window._on_newest()
    assert gauge.state == GaugeState.TENSE
    bridge.newest_flags = np.array([0])
    window._on_newest()
    assert gauge.state == GaugeState.CALM


def test_window_size_is_remembered_for_its_screen(qtbot):
    window = open_window(qtbot, STEADY, remember=True)
    area = window.screen().availableGeometry()
    window.setGeometry(area.x() + 10, area.y() + 20, 1000, 700)
    window.close()
    saved = load_prefs().geometry
    assert list(saved.values()) == [[area.x() + 10, area.y() + 20, 1000, 700]]
    again = MainWindow(None, safety_check=False, audio=False, remember=True)
    qtbot.addWidget(again)
    hint = again.minimumSizeHint()
    free = (area.x(), area.y(), area.width(), area.height())
    if remembered_fits(saved[screen_key(again)], free, (hint.width(), hint.height())):
        assert (again.width(), again.height()) == (1000, 700)
    else:  # the test screen is smaller than the window's minimum: the layout rule decides
        assert again.windowState() & Qt.WindowState.WindowMaximized
    assert again.subject() == ""  # no subject typed, none used before


def test_a_remembered_geometry_is_used_only_where_it_fits():
    laptop = (0, 40, 1366, 728)
    assert remembered_fits([10, 50, 1200, 700], laptop, (900, 600))
    assert not remembered_fits([10, 50, 1400, 700], laptop, (900, 600))  # wider than the screen
    assert not remembered_fits([10, 0, 1200, 700], laptop, (900, 600))  # under the task bar
    assert not remembered_fits([10, 50, 800, 700], laptop, (900, 600))  # below the minimum


def test_runner_target_reaches_gauge_plot_and_spin_box_on_its_event(qtbot):
    window = open_window(qtbot, STEADY, ask_pain=False)
    wait_for_data(qtbot, window, 0.5)
    control = window.session_control
    assert control.start(window.live_source, "", "S-9")  # a plain recording: no runner
    card = window.cards[0]
    window.targets.follow_protocol(7.5, [0])  # what a THRESHOLD_CHANGED event does
    assert card.gauge.threshold_uv == 7.5 and window.threshold_spins[0].value() == 7.5
    assert card.plot.threshold_line.value() == pytest.approx(7.5)
    assert window.threshold_log[-1].reason == "protocol"
    window.finish_session("test over")
    assert window.session is None and window.last_session_result.session_id > 0


def test_session_end_offers_the_report_and_history_and_the_clock_shows_only_in_a_session(
    qtbot, monkeypatch
):
    window = open_window(
        qtbot,
        STEADY,
        ask_pain=True,
        ask_outcomes=False,
        pain_prompt=lambda: 3,
        confirm=lambda _title, _question: True,
    )
    wait_for_data(qtbot, window, 0.5)
    qtbot.waitUntil(lambda: not window.timer_label.isVisibleTo(window), timeout=5000)
    shown: list[str] = []
    monkeypatch.setattr(window, "show_history_of", shown.append)
    assert window.session_control.start(window.live_source, "", "S-12")
    qtbot.waitUntil(lambda: window.timer_label.isVisibleTo(window), timeout=5000)
    result = window.finish_session()
    qtbot.waitUntil(lambda: getattr(window.session_view, "end_dialog", None) is not None)
    dialog = window.session_view.end_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=5000)
    assert f"Saved as session {result.session_id}" in dialog.summary.text()
    assert dialog.open_button.isEnabled() and "biofeedback report" not in dialog.summary.text()
    dialog.history_button.click()
    qtbot.waitUntil(lambda: shown == ["S-12"], timeout=5000)
    assert not window.timer_label.isVisibleTo(window)
    with Database() as db:
        assert db.get_session(result.session_id).pain_after == 3


def test_a_protocol_file_that_does_not_load_stays_in_the_alert_bar(qtbot, tmp_path):
    bad = tmp_path / "broken.toml"
    bad.write_text('format = 1\nname = "x"\n[[phases]]\nkind = "nonsense"\n', encoding="utf-8")
    window = open_window(qtbot, STEADY)
    assert not window.session_panel.add_protocol_file(str(bad))
    qtbot.waitUntil(window.alert.isVisible, timeout=5000)
    assert "Protocol file not loaded" in window.alert.title.text()
    assert window.width() <= window.screen().availableGeometry().width()


def test_patient_view_on_the_second_screen_keeps_this_window_the_clinicians(qtbot, two_screens):
    window = open_window(qtbot, STEADY)
    wait_for_data(qtbot, window, 0.5)
    control = window.patient_screen
    assert control.action in window.menuBar().actions()[0].menu().actions()
    qtbot.keyClick(window, Qt.Key.Key_F11)
    assert control.on_second_screen and window.view == "clinician"
    assert window.menuBar().isVisible() and window.stack.currentWidget() is window.clinician
    # the orb on the other screen follows the signal while the traces go on here
    qtbot.waitUntil(
        lambda: window.patient.orb.state in (GaugeState.CALM, GaugeState.TENSE), timeout=15000
    )
    qtbot.keyClick(window, Qt.Key.Key_F11)  # the same key brings it back
    assert not control.on_second_screen and window.stack.indexOf(window.patient) >= 0
    control.action.setChecked(False)  # the option off: F11 fills this window as before
    assert window.prefs.patient_second_screen is False
    window.activateWindow()  # the patient window had the keyboard
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_F11)
    assert window.view == "patient" and not control.on_second_screen
