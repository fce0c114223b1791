"""The live display: one card (trace, envelope, gauge) per channel, redrawn from the bridge.

Every frame (``frame_ready``) redraws the traces and gauges, or the patient view; between frames
(``newest_changed``) a gauge is recoloured the moment its channel crosses the target; a few times
a second (``text_ready``) the numbers, quality and clock are refreshed. The targets come from
:class:`~biofeedback.appmodel.targets.Targets`: its ``changed`` event moves the gauge's and the
plot's line at once (the tone reads the same list on its own thread).
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING

from biofeedback.appmodel.markers import Marker
from biofeedback.appmodel.patient_screen import PatientScreen, follow_level, patient_screen
from biofeedback.core.types import ChannelKind, StreamInfo
from biofeedback.gui.audio_feedback import AudioFeedback, AudioMode
from biofeedback.gui.bridge import format_elapsed
from biofeedback.gui.clinician_view import ChannelCard
from biofeedback.gui.tension_gauge import GaugeState, classify
from biofeedback.gui.window_sources import output_text, processing_text
from biofeedback.training.thresholds import FIRST_TARGET_S

if TYPE_CHECKING:
    from biofeedback.engine import Engine
    from biofeedback.gui.main_window import MainWindow

log = logging.getLogger(__name__)

#: The plot shows at most this many newest markers.
PLOTTED_MARKERS = 20


class LiveView:
    """The channel cards of the window's current engine and their redraws."""

    def __init__(self, window: MainWindow) -> None:
        self.w = window
        self.cards: list[ChannelCard] = []
        self.audio_reported = False
        #: what the patient view shows (SessionView.apply_screen): the orb and tone follow it
        self.screen: PatientScreen = patient_screen()
        window.targets.changed.connect(self._show_target)

    def build_cards(self, engine: Engine, info: StreamInfo) -> None:
        """New cards (and targets) for a freshly opened engine."""
        w = self.w
        for card in self.cards:
            w.channels_box.removeWidget(card)
            card.deleteLater()
        self.cards = []
        w.waiting_label.hide()
        assert engine.pipeline is not None
        outputs = engine.pipeline.outputs
        w.processing_label.setText(processing_text(engine.settings, info))
        w.device_panel.set_stream(info)
        for i, out in enumerate(outputs):
            card = ChannelCard(
                str(out.name),
                output_text(out.kind, engine.settings, info),
                w.window_s,
                show_raw=out.kind != ChannelKind.ENV,
            )
            if out.warning:
                card.set_warning(out.warning)
            card.plot.threshold_changed.connect(lambda v, c=i: w.set_threshold(c, v))
            card.gauge.threshold_changed.connect(lambda v, c=i: w.set_threshold(c, v))
            w.channels_box.addWidget(card, 1)
            self.cards.append(card)
        w.targets.setup([str(o.name) for o in outputs], w.prefs.thresholds_uv)
        for c in range(len(self.cards)):
            self._show_target(c, w.targets.values_uv[c], "")
        w.session_view.apply_screen()  # the orb and the tone follow this engine's channels

    def show_outputs(self, engine: Engine) -> None:
        """New processing settings: each card's header says what its numbers now are."""
        info, pipeline = engine.info, engine.pipeline
        if info is None or pipeline is None:
            return
        for card, out in zip(self.cards, pipeline.outputs, strict=False):
            text = output_text(out.kind, engine.settings, info)
            card.kind_label.setText(text)
            card.kind_label.setToolTip(text)

    def _show_target(self, channel: int, value_uv: float, _reason: str) -> None:
        if channel < len(self.cards):
            self.cards[channel].gauge.set_threshold(value_uv)
            self.cards[channel].plot.set_threshold(value_uv)

    def on_frame(self) -> None:
        w, bridge = self.w, self.w.bridge
        if bridge is None:
            return
        peaks, env_peaks = bridge.signal_peaks, bridge.envelope_peaks
        if bridge.new_rows and w.view == "clinician" and peaks and env_peaks:
            t_sig, t_env = bridge.t_peaks_s, bridge.t_columns_s
            marker_times = self.marker_times()
            for c, card in enumerate(self.cards):
                card.plot.set_data(
                    t_sig, peaks.out[c], t_env, env_peaks.out[c], peaks.total, peaks.fraction
                )
                card.plot.set_markers(marker_times)
                card.gauge.set_level(
                    bridge.level_uv[c], int(bridge.recent_flags[c]), bridge.trail(c)
                )
        if w.view == "patient" or w.patient_screen.on_second_screen:
            now = time.monotonic()
            targets = w.targets.values_uv
            level, target, flags = follow_level(
                self.screen, bridge.level_uv, bridge.recent_flags, targets
            )
            if math.isfinite(target):
                w.patient.advance(level, target, flags, now)
            else:
                w.patient.pacer.advance(now)

    def on_newest(self) -> None:
        """Between frames: recolour a gauge the moment its channel crosses the target (the bar
        and trail follow on the next frame). Flagged or unsettled channels wait for the frame."""
        w, bridge = self.w, self.w.bridge
        if bridge is None or w.view != "clinician":
            return
        levels, flags = bridge.newest_envelope_uv, bridge.newest_flags
        settled = (GaugeState.CALM, GaugeState.TENSE)
        for c, card in enumerate(self.cards[: len(levels)]):
            gauge = card.gauge
            if flags[c] or bridge.recent_flags[c] or gauge.state not in settled:
                continue
            if classify(float(levels[c]), w.targets.values_uv[c], 0) != gauge.state:
                gauge.set_level(float(levels[c]), 0)

    def on_text(self) -> None:
        w, bridge = self.w, self.w.bridge
        if bridge is None:
            return
        w.timer_label.setText(format_elapsed(bridge.elapsed_s))
        audio = w.audio
        if audio is not None and not self.audio_reported and audio.running:
            failure = audio.failure()  # an output that died while playing
            if failure:
                self.report_audio(failure)
        w.session_view.show_state()
        sig_peaks, env_peaks = bridge.signal_peaks, bridge.envelope_peaks
        for c, card in enumerate(self.cards):
            card.set_noise_floor(float(bridge.noise_floor_uv[c]))
            if bridge.first_index is None:
                card.quality.set_waiting()
            else:
                card.quality.set_flags(int(bridge.quality_flags[c]))
            if w.view == "clinician" and sig_peaks is not None and env_peaks is not None:
                card.plot.update_ranges(sig_peaks.out[c], env_peaks.out[c], w.targets.values_uv[c])
        if w.targets.first_target_due and bridge.elapsed_s >= FIRST_TARGET_S:
            recent = bridge.recent_envelope(FIRST_TARGET_S)
            w.session_control.first_targets(recent, list(bridge.noise_floor_uv))

    def marker_seconds(self, marker: Marker) -> float:
        bridge = self.w.bridge
        if bridge is None or bridge.first_index is None or bridge.fs_hz <= 0:
            return 0.0
        return (marker.index - bridge.first_index) / bridge.fs_hz

    def marker_text(self, marker: Marker) -> str:
        text = format_elapsed(self.marker_seconds(marker))
        return f"{text}  {marker.note}" if marker.note else text

    def marker_times(self) -> list[float]:
        w, bridge = self.w, self.w.bridge
        if bridge is None or not len(w.markers):
            return []
        newest = w.markers.items[-PLOTTED_MARKERS:]
        times = [(m.index - bridge.latest_index) / bridge.fs_hz for m in newest]
        return [t for t in times if t >= -w.window_s]

    def audio_level(self) -> tuple[float, float, int]:
        """Called on the audio thread: the newest envelope straight from the ring buffer, of
        the channel(s) the patient view follows (:attr:`screen`), against its target."""
        w, bridge = self.w, self.w.bridge
        thresholds_uv = list(w.targets.values_uv)
        if bridge is None or not thresholds_uv:
            return math.nan, 1.0, 0
        levels, flags = bridge.read_latest_envelope()
        level, target, flag = follow_level(self.screen, levels, flags, thresholds_uv)
        if not math.isfinite(target):
            return math.nan, 1.0, 0
        return level, target, flag

    def make_audio(self, backend: object = None) -> AudioFeedback:
        """The tone generator, set up as remembered (mode, volume, mute); it reads the newest
        level and its target on the audio thread (:meth:`audio_level`)."""
        audio = AudioFeedback(self.audio_level, backend=backend)
        prefs = self.w.prefs.audio
        audio.mode, audio.volume, audio.muted = AudioMode(prefs.mode), prefs.volume, prefs.muted
        return audio

    def start_audio(self) -> None:
        audio = self.w.audio
        if audio is None or audio.running:
            return
        error = audio.start()
        if error and not self.audio_reported:
            self.report_audio(error)

    def report_audio(self, error: str) -> None:
        """No sound (never opened, or the output died): say it once, in a message that stays."""
        self.audio_reported = True
        log.warning("%s", error)
        self.w.alert.show_alert(
            "No sound.",
            f"{error.removeprefix('No sound: ')} Visual feedback continues; check the sound "
            "output, then reopen the window to get the tone back.",
            level="warning",
        )
