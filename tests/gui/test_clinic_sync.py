"""The window's clinic sync (gui/clinic_sync.py): status texts, a retry after a failure, never
two syncs at once, a notice only after a long outage or a failed verification, the Clinic…
dialog's checks, and the sync stopped when the window closes. The sync itself is a stand-in
here (tests/clinic tests the real one)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from biofeedback.clinic.connect import configured_clinic, save_clinic
from biofeedback.errors import ClinicError
from biofeedback.gui import clinic_sync
from biofeedback.gui.alert_bar import AlertBar
from biofeedback.gui.clinic_sync import ClinicStatus, ClinicSyncControl
from biofeedback.gui.main_window import MainWindow

URL = "postgresql://desk1@127.0.0.1:5999/emg"
UNREACHABLE = (
    "cannot reach the clinic desk1@127.0.0.1:5999/emg (Connection refused): check that the "
    "server runs and that host and port are right"
)
SOURCE = "sim://?scenario=relax&board=12bit&channels=raw,ref&speed=2&seed=3"


class StandInSync:
    """Plays a list of outcomes (a result, or an exception to raise), one per call; remembers
    how many calls ran at once. ``hold`` makes a call wait until released (or stopped)."""

    def __init__(self, *outcomes: object, hold: bool = False) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0
        self.active = 0
        self.most_at_once = 0
        self.hold = hold
        self.release = threading.Event()
        self.started = threading.Event()
        self.stop_seen = False
        self.threads: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, db, conninfo, *, progress=None, stop=None):
        assert conninfo == URL
        with self.lock:
            self.calls += 1
            self.active += 1
            self.most_at_once = max(self.most_at_once, self.active)
            outcome = self.outcomes.pop(0) if self.outcomes else result()
        self.threads.append(threading.current_thread().name)
        self.started.set()
        try:
            deadline = time.monotonic() + 30
            while self.hold and not self.release.is_set() and time.monotonic() < deadline:
                if stop is not None and stop.wait(0.01):
                    self.stop_seen = True
                    break
            progress(1, 2, "session")
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        finally:
            with self.lock:
                self.active -= 1


def result(pending: int = 0, errors: list[str] | None = None) -> SimpleNamespace:
    return SimpleNamespace(pending=pending, errors=errors or [], pushed_sessions=1)


def state_at(hour: int, minute: int, pending: int):
    moment = time.mktime((*time.localtime()[:3], hour, minute, 0, 0, 0, -1))
    return lambda db: SimpleNamespace(
        last_sync_at=moment, pending=pending, last_error="", clinic=URL
    )


def make_control(qtbot, tmp_path: Path, sync, *, clinic=URL, state=None, **kwargs):
    parent = AlertBar()
    qtbot.addWidget(parent)
    control = ClinicSyncControl(
        parent,
        tmp_path / "station.sqlite",
        parent,
        sync_fn=sync,
        state_fn=state or (lambda db: None),
        clinic=lambda: clinic,
        **kwargs,
    )
    return control, parent


def test_no_clinic_shows_nothing_but_the_entry_to_set_one(qtbot, tmp_path) -> None:
    sync = StandInSync()
    control, _ = make_control(qtbot, tmp_path, sync, clinic=None)
    control.start(first_after_s=0)
    assert control.label.isHidden() and control.label.text() == ""
    assert not control.sync_now_action.isVisible() and control.settings_action.isVisible()
    assert control.request() is False and not control.timer.isActive()
    assert sync.calls == 0


def test_synced_status_names_the_time_and_the_sessions_waiting(qtbot, tmp_path) -> None:
    sync = StandInSync(result(pending=2))
    control, alert = make_control(qtbot, tmp_path, sync, state=state_at(10, 42, 2))
    control.start(first_after_s=0)
    qtbot.waitUntil(lambda: sync.calls == 1 and not control.running, timeout=10000)
    assert control.label.text() == "Clinic: synced 10:42 · 2 waiting"
    assert "desk1@127.0.0.1:5999/emg" in control.label.toolTip()
    assert sync.threads[0] != threading.current_thread().name  # never on the GUI thread
    assert control.timer.isActive()  # the next one is scheduled
    assert alert.level == ""
    assert ClinicStatus(last_sync_at=time.time(), pending=0).text().count("·") == 0


def test_a_failure_is_said_calmly_and_retried(qtbot, tmp_path) -> None:
    sync = StandInSync(ClinicError(UNREACHABLE), result(pending=0))
    control, alert = make_control(qtbot, tmp_path, sync, retry_s=0.3, every_s=3600)
    control.start(first_after_s=0)
    qtbot.waitUntil(lambda: control.status.failing_since is not None, timeout=10000)
    text = control.label.text()
    assert text.startswith("Clinic: not reachable since ")
    assert text.endswith(" — recording continues here; will retry")
    assert control.label.toolTip() == UNREACHABLE
    assert alert.level == ""  # not yet long enough for a notice
    qtbot.waitUntil(lambda: sync.calls == 2 and not control.running, timeout=10000)
    assert control.label.text().startswith("Clinic: synced ")
    assert control.status.last_error == "" and control.status.failing_since is None


def test_a_long_outage_and_a_failed_verification_reach_the_alert_bar_once(qtbot, tmp_path) -> None:
    refused = "the clinic x refused it (permission denied): check ..."
    sync = StandInSync(
        ClinicError(UNREACHABLE),
        ClinicError(UNREACHABLE),
        ClinicError(refused),
        result(errors=["session 4: the samples' checksum at the clinic differs"]),
    )
    control, alert = make_control(qtbot, tmp_path, sync, retry_s=3600, alert_after_s=0)
    control.start(first_after_s=0)
    qtbot.waitUntil(lambda: sync.calls == 1 and not control.running, timeout=10000)
    assert alert.level == "warning" and alert.text.startswith("Clinic not reachable.")
    assert "recording goes on" in alert.text and "Connection refused" in alert.text
    alert.dismiss()
    control.request()
    qtbot.waitUntil(lambda: sync.calls == 2 and not control.running, timeout=10000)
    assert alert.level == ""  # said once per outage
    control.request()
    qtbot.waitUntil(lambda: sync.calls == 3 and not control.running, timeout=10000)
    assert control.label.text().startswith("Clinic: not synced since ")
    assert control.label.toolTip() == refused
    control.request()
    qtbot.waitUntil(lambda: sync.calls == 4 and not control.running, timeout=10000)
    assert alert.text.startswith("Clinic sync incomplete.") and "checksum" in alert.text


def test_never_two_syncs_at_once(qtbot, tmp_path) -> None:
    sync = StandInSync(hold=True)
    control, _ = make_control(qtbot, tmp_path, sync, every_s=3600)
    control.refresh()
    assert control.request() is True
    assert sync.started.wait(10)
    assert control.label.text().startswith("Clinic: syncing…")
    assert control.request() is False  # Sync now while one runs: follows it
    control.session_ended()
    control.timer.start(0)  # the periodic one comes due meanwhile
    qtbot.waitUntil(lambda: not control.timer.isActive(), timeout=5000)
    assert sync.calls == 1
    sync.release.set()
    qtbot.waitUntil(lambda: sync.calls == 2 and not control.running, timeout=10000)
    assert sync.most_at_once == 1
    assert control.syncs_started == 2  # the three asks during the first made one more


def test_the_clinic_dialog_sets_and_forgets_the_clinic(qtbot, tmp_path) -> None:
    sync = StandInSync()
    parent = AlertBar()
    qtbot.addWidget(parent)
    control = ClinicSyncControl(
        parent, tmp_path / "s.sqlite", parent, sync_fn=sync, state_fn=lambda db: None
    )
    control.start()
    assert control.label.isHidden()
    dialog = control.show_dialog()
    qtbot.addWidget(dialog)
    assert dialog.where.text() == "none configured"
    dialog.url.setText("postgresql://desk1:secret@db.example/emg")
    dialog.use_button.click()
    assert "password" in dialog.message.text() and "secret" not in dialog.message.text()
    assert configured_clinic() is None and control.url is None
    dialog.url.setText("not a url")
    dialog.use_button.click()
    assert "not a PostgreSQL connection string" in dialog.message.text()
    dialog.url.setText(URL)
    dialog.use_button.click()
    assert configured_clinic() == URL and control.url == URL
    assert dialog.message.text() == "Clinic set: desk1@127.0.0.1:5999/emg."
    assert dialog.where.text() == "desk1@127.0.0.1:5999/emg"
    assert not control.label.isHidden() and control.sync_now_action.isVisible()
    qtbot.waitUntil(lambda: sync.calls == 1 and not control.running, timeout=10000)
    assert dialog.last_sync.text() not in ("never", "syncing now")
    dialog.forget_button.click()
    assert configured_clinic() is None and control.label.isHidden()
    assert not control.timer.isActive() and control.request() is False


def test_the_window_syncs_after_a_session_and_stops_the_sync_at_close(
    qtbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_clinic(URL)
    sync = StandInSync(hold=True)
    monkeypatch.setattr(clinic_sync, "real_sync", sync)
    monkeypatch.setattr(clinic_sync, "real_state", lambda db: None)
    monkeypatch.setattr(clinic_sync, "FIRST_SYNC_AFTER_S", 3600.0)
    window = MainWindow(SOURCE, safety_check=False, audio=False, remember=False, ask_pain=False)
    qtbot.addWidget(window)
    window.show()
    assert window.start()
    control = window.clinic_sync
    assert control.url == URL and sync.calls == 0
    assert window.start_session("", "P01", None)
    qtbot.waitUntil(lambda: window.bridge.elapsed_s > 0.3, timeout=10000)
    assert sync.calls == 0  # nothing syncs during the recording
    window.finish_session()
    assert sync.started.wait(10) and control.running  # the session's end started one
    window.close()
    assert sync.stop_seen and not control.job.running
    assert control.request() is False
