"""The window's background sync (gui/clinic_sync.py) against a real server: a recorded session
is sent and verified, the status bar says so; with the server stopped it says "not reachable"
calmly, and the retry after the server is back sends what was recorded meanwhile."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from biofeedback.cli import main
from biofeedback.clinic.migrate import init_clinic
from biofeedback.gui.alert_bar import AlertBar
from biofeedback.gui.clinic_sync import ClinicSyncControl

SIM = "sim://?scenario=learner&speed=max"


def record(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["record", "--duration", "10", "--source", SIM, "--subject", "P1"])
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()


def test_the_window_syncs_and_retries_after_the_server_was_gone(
    qtbot, capsys, pg_cluster, clinic_url
) -> None:
    init_clinic(clinic_url)
    record(capsys)
    alert = AlertBar()
    qtbot.addWidget(alert)
    control = ClinicSyncControl(alert, None, alert, clinic=lambda: clinic_url, retry_s=0.5)
    control.refresh()
    assert control.request()
    qtbot.waitUntil(lambda: not control.running, timeout=60000)
    assert control.label.text().startswith("Clinic: synced "), control.label.toolTip()
    assert "waiting" not in control.label.text() and control.status.pending == 0
    try:
        pg_cluster.stop()
        record(capsys)  # recording goes on while the clinic is gone
        assert control.request()
        qtbot.waitUntil(lambda: control.status.failing_since is not None, timeout=60000)
        assert control.label.text().startswith("Clinic: not reachable since ")
        assert control.label.toolTip().startswith("cannot reach the clinic")
        assert control.status.pending == 1 and alert.level == ""
    finally:
        pg_cluster.start()
    qtbot.waitUntil(lambda: control.status.failing_since is None, timeout=60000)
    assert control.label.text().startswith("Clinic: synced ")
    assert control.status.pending == 0 and control.syncs_started >= 3
    control.stop()
