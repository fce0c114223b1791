"""The window's sources: which one to open first, opening one (safety checklist first for a
source on a body), showing it, closing it, channel settings, and the texts stating how a channel
is processed (shown with every trace and in the status bar). Device facts come from the Device
classes (:mod:`biofeedback.devices.facts`); nothing here takes a URL apart."""

from __future__ import annotations

import dataclasses
import importlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QApplication, QDialog

from biofeedback.appmodel.channel_setup import DEFAULT_SIM_SOURCE, ChannelSetup
from biofeedback.core.hardware import BOARDS
from biofeedback.core.types import ChannelKind, StreamInfo
from biofeedback.devices.base import Device, DeviceState, DeviceStatus
from biofeedback.devices.facts import source_facts
from biofeedback.dsp.pipeline import PipelineSettings
from biofeedback.engine import Engine
from biofeedback.errors import BiofeedbackError
from biofeedback.gui.bridge import EngineBridge
from biofeedback.gui.safety_dialog import SafetyChecklistDialog

if TYPE_CHECKING:
    from biofeedback.gui.main_window import MainWindow

log = logging.getLogger(__name__)

NOT_CONNECTED_TEXT = "Not connected: choose a source on the right and press Connect."


def detect_board() -> tuple[str, str] | None:
    """(source URL, description) for an Arduino-class board on a USB serial port, or None.

    Only lists ports (fast, opens nothing); the URL is ``auto``, which probes the port when the
    window connects and picks the firmware's framed protocol or a stock sketch's text lines.
    Uses ``biofeedback.devices.discovery`` when it is installed; never raises.
    """
    try:
        discovery = importlib.import_module("biofeedback.devices.discovery")
        ports = list(discovery.candidate_ports())
    except Exception as exc:  # no pyserial, no permission: simply nothing detected
        log.info("board detection skipped: %s: %s", type(exc).__name__, exc)
        return None
    if not ports:
        return None
    return "auto", ports[0].label()


def choose_initial_source(
    cli_source: str | None,
    remembered: str | None,
    ask_board: Callable[[str, str], bool] | None = None,
    find_board: Callable[[], tuple[str, str] | None] = detect_board,
) -> str:
    """The source to open at start: the command line's, else the last used one, else a detected
    board (if ``ask_board(url, description)`` agrees), else the simulated sensor."""
    if cli_source:
        return cli_source
    if remembered:
        return remembered
    found = find_board()
    if found is not None and (ask_board is None or ask_board(*found)):
        return found[0]
    return DEFAULT_SIM_SOURCE


def url_of(source: str | Device) -> str:
    """The URL of a source given as text or as a Device."""
    return source.url if isinstance(source, Device) else str(source).strip()


def pipeline_settings_for(
    setup: ChannelSetup, base: PipelineSettings | None = None
) -> PipelineSettings:
    """Pipeline settings carrying the clinician's choices (mains, high-pass, RMS window, gain pot)."""
    base = base or PipelineSettings()
    return dataclasses.replace(
        base,
        mains_hz=setup.mains_setting,
        highpass_hz=float(setup.highpass_hz),
        rms_window_s=float(setup.rms_window_ms) / 1000.0,
        env_pot_kohm=setup.pot_setting,
    )


def processing_text(settings: PipelineSettings, info: StreamInfo | None) -> str:
    """One line stating the pass band, notch and RMS window (shown with every trace)."""
    lp = float(settings.lowpass_hz)
    if info is not None:
        lp = min(lp, 0.45 * float(info.fs_hz))
    parts = [f"band-pass {float(settings.highpass_hz):g}–{lp:g} Hz"]
    if settings.mains_hz == "auto":
        parts.append("notch auto 50/60 Hz")
    elif settings.mains_hz:
        parts.append(f"notch {float(settings.mains_hz):g} Hz")
    parts.append(f"RMS {float(settings.rms_window_s) * 1000:g} ms")
    if info is not None:
        parts.append(f"{float(info.fs_hz):g} Hz")
    return " · ".join(parts)


def output_text(kind: ChannelKind, settings: PipelineSettings, info: StreamInfo) -> str:
    """What a channel's numbers are: signal path and processing, for the card header."""
    if kind == ChannelKind.ENV:
        return f"MyoWare ENV (on-board envelope) · RMS {float(settings.rms_window_s) * 1000:g} ms"
    return "MyoWare RAW · " + processing_text(settings, info)


# -- opening sources in the window ----------------------------------------------------------------
#: The electrical-safety checklist was accepted in this program run (asked once per run).
_safety_accepted_this_run = False


def confirm_safety(w: MainWindow, source: str | Device) -> bool:
    """The electrical-safety checklist before a source on a body (once per run); False when it
    was declined. The source's class says whether it is on a body (devices.facts)."""
    global _safety_accepted_this_run
    if not w.safety_check or _safety_accepted_this_run or not source_facts(source).on_body:
        return True
    dialog = SafetyChecklistDialog(parent=w)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return False
    _safety_accepted_this_run = True
    w.isolation = dialog.isolation
    return True


def isolation_text(w: MainWindow) -> str:
    """How the person is isolated from mains, for the session's record."""
    if w.isolation:
        return w.isolation
    facts = source_facts(w.live_source or w.source_url)
    return "" if facts.on_body else "no electrodes (simulated or replayed source)"


def open_source(w: MainWindow, source: str | Device, url: str) -> bool:
    """Open ``source`` and stream from it; False (and why in the banner) when it cannot."""
    QApplication.processEvents()
    engine: Engine | None = None
    try:
        engine = Engine(source, settings=pipeline_settings_for(w.setup))
        info = engine.open()
    except (BiofeedbackError, OSError, ImportError) as exc:
        # ImportError: a source type whose optional module is not installed in this build
        if engine is not None:
            engine.close()
        w.banner.set_state(DeviceState.ERROR, f"could not open {url}: {exc}")
        w.waiting_label.setText(NOT_CONNECTED_TEXT)
        w.device_panel.set_source(url)
        return False
    if info.extra.get("notes"):  # how a replayed file was read
        w.statusBar().showMessage(f"{url}: {info.extra['notes']}", 20000)
    w.source_url, w.live_source = url, source
    w.device_panel.set_source(url)
    bridge = attach_engine(w, engine, info)
    w.prefs.remember_source(url)
    try:
        bridge.start()
    except (BiofeedbackError, OSError) as exc:
        w.banner.set_state(DeviceState.ERROR, f"could not start {url}: {exc}")
        return False
    # the app log says which source the window opened (the bundle's smoke check waits for it)
    log.info("window streaming from %s", url)
    w.live.start_audio()
    return True


def attach_engine(w: MainWindow, engine: Engine, info: StreamInfo) -> EngineBridge:
    """Show an opened engine: a bridge pulling its data, its cards, its streams."""
    bridge = EngineBridge(engine, window_s=w.window_s, fast_hz=w.fast_hz, parent=w)
    bridge.frame_ready.connect(w.live.on_frame)
    bridge.text_ready.connect(w._on_text)
    bridge.status_changed.connect(lambda status: on_status(w, status))
    bridge.newest_changed.connect(w._on_newest)
    w.engine, w.bridge = engine, bridge
    w._build_cards(engine, info)
    w.streaming.attach(engine, w.targets.values_uv)
    return bridge


def stop_current(w: MainWindow) -> None:
    """Close the current source (its streams, bridge and engine)."""
    w.streaming.detach()
    if w.bridge is not None:
        w.bridge.close()
        w.bridge.deleteLater()
        w.bridge = None
    elif w.engine is not None:
        w.engine.close()
    w.engine = None


def on_status(w: MainWindow, status: DeviceStatus) -> None:
    """The device's state in the banner (a warning in the alert bar)."""
    if status.warning:  # e.g. a board sending faster than it says: the state is unchanged
        w.alert.show_alert("Check the board.", status.message, level="warning")
        return
    w.banner.set_state(status.state, status.message, w.source_url)
    if status.state in (DeviceState.LOST, DeviceState.ERROR):
        for card in w.cards:
            card.gauge.clear()


def apply_setup(w: MainWindow, setup: ChannelSetup) -> None:
    """Channel settings: processing changes go to the running engine between chunks; a new
    board or ADC resolution reopens a source that takes it (the source's class says)."""
    w.setup, w.prefs.channel = setup, setup.as_dict()
    engine = w.engine
    if engine is None:
        return
    info = engine.info
    if (
        info is not None
        and info.board in BOARDS
        and ((setup.board, setup.effective_adc_bits) != (info.board, info.adc_bits))
    ):
        url = setup.source_for(w.source_url)
        if url is None:
            w.statusBar().showMessage(
                f"This source reports its own ADC ({info.board}, {info.adc_bits} bit); the "
                "board and ADC choices apply to the simulator and a stock sketch's text stream.",
                8000,
            )
        elif url != w.source_url:
            w.start_source(url)  # a new ADC means a new stream: reopen
            return
    try:
        engine.set_settings(pipeline_settings_for(setup, engine.settings))
    except BiofeedbackError as exc:
        w.statusBar().showMessage(f"Settings not applied: {exc}", 8000)
        return
    w.processing_label.setText(processing_text(engine.settings, engine.info))
    w.live.show_outputs(engine)
    w.statusBar().showMessage("Channel settings applied", 4000)
