"""The window's Streaming menu: LSL and OSC off until switched on, the status bar says what is
on, markers and targets set in the window go out, the choice is remembered, a failure is shown
once in the alert bar while the window goes on."""

from __future__ import annotations

import threading

import pylsl
import pytest
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import ThreadingOSCUDPServer

from biofeedback.appmodel.prefs import load_prefs
from biofeedback.gui.main_window import MainWindow

#: How long finding an LSL stream may take on a loaded machine (the inlet looks every 10 s).
LSL_FIND_S = 45
STEADY = "sim://?scenario=steady&level_uv=20&board=12bit&channels=raw,ref&speed=2&seed=1"


def open_window(qtbot, **kwargs) -> MainWindow:
    kwargs.setdefault("remember", False)
    window = MainWindow(STEADY, safety_check=False, audio=False, **kwargs)
    qtbot.addWidget(window)
    window.show()
    assert window.start(), window.banner.text
    return window


@pytest.fixture
def osc_listener():
    messages: list[tuple[str, tuple[object, ...]]] = []
    dispatcher = Dispatcher()
    dispatcher.set_default_handler(lambda address, *args: messages.append((address, args)))
    server = ThreadingOSCUDPServer(("127.0.0.1", 0), dispatcher)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], messages
    server.shutdown()
    server.server_close()


def test_nothing_streams_until_switched_on(qtbot) -> None:
    window = open_window(qtbot)
    control = window.streaming
    assert not control.lsl_action.isChecked() and not control.osc_action.isChecked()
    assert control.streaming is None
    assert not control.label.isVisible() and control.label.text() == ""
    window.shutdown()


def test_lsl_switch_streams_and_window_markers_and_targets_go_out(qtbot) -> None:
    window = open_window(qtbot)
    control = window.streaming
    control.lsl_action.trigger()
    assert control.lsl_action.isChecked()
    assert control.label.text() == "LSL on"
    found = pylsl.resolve_byprop("name", "biofeedback-markers", 1, 10.0)
    assert found
    inlet = pylsl.StreamInlet(found[0])
    inlet.open_stream(timeout=10.0)
    qtbot.waitUntil(lambda: window.bridge.first_index is not None, timeout=15000)
    window.add_marker("electrode check")
    window.set_threshold(0, 12.5, "clinician")
    got: list[str] = []

    def two() -> bool:
        sample, _ = inlet.pull_sample(timeout=0.0)
        if sample is not None:
            got.append(sample[0])
        return len(got) >= 2

    qtbot.waitUntil(two, timeout=15000)
    assert got[:2] == ["marker: electrode check", "threshold: 12.50 uV (clinician)"]
    raw = pylsl.resolve_byprop("name", "biofeedback-raw", 1, 10.0)
    assert raw and raw[0].channel_count() == window.engine.info.n_channels
    control.lsl_action.trigger()  # off again: the streams close
    assert control.streaming is None and control.label.text() == ""
    window.shutdown()


def test_osc_from_the_window_and_remembered(qtbot, osc_listener) -> None:
    port, messages = osc_listener
    window = open_window(qtbot, remember=True)
    control = window.streaming
    assert "port" in control.set_osc("127.0.0.1", 0, 20.0)  # refused, nothing changes
    assert not control.osc_action.isChecked()
    assert control.set_osc("127.0.0.1", port, 50.0) == ""
    assert control.osc_action.isChecked()
    assert control.label.text() == f"OSC to 127.0.0.1:{port}"
    qtbot.waitUntil(
        lambda: any(a == "/biofeedback/below" for a, _ in list(messages)), timeout=15000
    )
    thresholds = [args for a, args in list(messages) if a == "/biofeedback/threshold"]
    assert thresholds and len(thresholds[-1]) == len(window.thresholds_uv)
    window.shutdown()
    saved = load_prefs().streaming
    assert saved.osc is True and saved.osc_port == port and saved.osc_rate_hz == 50.0
    again = MainWindow(None, safety_check=False, audio=False, remember=True)
    qtbot.addWidget(again)
    assert again.streaming.osc_action.isChecked()
    assert again.streaming.options().osc is not None
    again.shutdown()


def test_osc_dialog_says_what_is_wrong_and_stays_open(qtbot) -> None:
    from biofeedback.gui.streaming import OscDialog

    window = open_window(qtbot)
    dialog = OscDialog(window.streaming, window)
    qtbot.addWidget(dialog)
    dialog.host.setText("no-such-host.invalid")
    dialog._ok()
    assert "cannot find the host" in dialog.error.text()
    assert not window.streaming.osc_action.isChecked()
    window.shutdown()


def test_a_failing_stream_is_shown_once_and_the_window_goes_on(qtbot) -> None:
    window = open_window(qtbot)
    control = window.streaming
    said: list[str] = []
    control.problem.connect(said.append)
    control.set_lsl(True)
    control.set_lsl(False)  # switched off and on again: the old streams must not speak up
    control.set_lsl(True)
    streaming = control.streaming
    assert streaming is not None and streaming.lsl is not None

    class Broken:
        def push_chunk(self, *_args: object) -> None:
            raise RuntimeError("the network is gone")

    streaming.lsl._raw = Broken()
    qtbot.waitUntil(lambda: window.alert.isVisible(), timeout=15000)
    assert "LSL streaming stopped" in window.alert.text
    assert control.label.text() == ""  # nothing streams any more, and the status says so
    samples = window.engine.stats.samples
    qtbot.waitUntil(lambda: window.engine.stats.samples > samples + 100, timeout=15000)
    assert len(said) == 1
    window.shutdown()


def test_gui_command_switches_streaming_on_and_refuses_bad_values(qtbot, capsys) -> None:
    from biofeedback.cli import main
    from biofeedback.cli.gui import streaming_switches

    code = main(["gui", "--osc", "localhost"])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "--osc 'localhost': give HOST:PORT" in err
    code = main(["gui", "--osc-rate", "30"])
    _, err = capsys.readouterr()
    assert code == 2 and "--osc-rate needs --osc" in err

    from biofeedback.cli import build_parser

    args = build_parser(["gui"]).parse_args(["gui", "--lsl", "--osc", "127.0.0.1:9100"])
    switches = streaming_switches(args)
    assert switches == {
        "lsl": True,
        "osc": True,
        "osc_host": "127.0.0.1",
        "osc_port": 9100,
        "osc_rate_hz": 20.0,
    }
    assert streaming_switches(build_parser(["gui"]).parse_args(["gui"])) is None
    window = open_window(qtbot, streaming={"lsl": True})
    assert window.streaming.lsl_action.isChecked()
    assert window.streaming.label.text() == "LSL on"
    window.shutdown()


def test_lsl_markers_are_stored_in_a_recording_made_in_the_window(qtbot, tmp_path) -> None:
    outlet = pylsl.StreamOutlet(
        pylsl.StreamInfo("window-task", "Markers", 1, 0.0, pylsl.cf_string, "window-task-1")
    )
    window = open_window(qtbot, ask_pain=False, db_path=str(tmp_path / "s.db"))
    control = window.streaming
    control.set_lsl_markers("window-task")
    assert control.markers_action.isChecked()
    assert control.label.text() == "markers from 'window-task'"
    assert window.start_session("", "P01", None)
    session = window.session
    inlet = control.streaming.inlet
    assert inlet is not None
    qtbot.waitUntil(lambda: inlet.state == "connected", timeout=LSL_FIND_S * 1000)
    control.set_lsl(True)  # switching LSL out on while recording keeps the markers coming
    inlet = control.streaming.inlet
    assert inlet is not None
    qtbot.waitUntil(lambda: inlet.state == "connected", timeout=LSL_FIND_S * 1000)
    outlet.push_sample(["block 1"])
    qtbot.waitUntil(lambda: inlet.received == 1, timeout=15000)
    result = window.finish_session()
    assert result is not None
    from biofeedback.storage.database import Database

    db = Database(tmp_path / "s.db")
    labels = [m["label"] for m in db.markers(session.session_id)]
    db.close()
    assert "block 1" in labels
    window.shutdown()
