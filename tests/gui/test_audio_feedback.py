"""Audio feedback: pitch mapping, glide, modes, and carrying on without a sound device."""

from __future__ import annotations

import numpy as np
import pytest

from biofeedback.gui.audio_feedback import (
    F_HIGH_HZ,
    F_LOW_HZ,
    AudioFeedback,
    AudioMode,
    ToneSynth,
    pitch_hz,
)

SR = 48000


def dominant_hz(block: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(block * np.hanning(len(block))))
    return float(np.fft.rfftfreq(len(block), 1 / SR)[np.argmax(spectrum)])


def test_pitch_is_log_mapped_around_threshold():
    assert pitch_hz(10.0, 10.0) == pytest.approx(400.0)  # geometric middle of 200-800
    assert pitch_hz(2.5, 10.0) == pytest.approx(F_LOW_HZ)
    assert pitch_hz(40.0, 10.0) == pytest.approx(F_HIGH_HZ)
    assert pitch_hz(1000.0, 10.0) == pytest.approx(F_HIGH_HZ)  # clamped
    assert pitch_hz(5.0, 10.0) == pytest.approx(np.sqrt(200 * 400))


def test_tone_glides_to_new_pitch_within_tens_of_ms():
    synth = ToneSynth(SR)
    synth.mode = AudioMode.TONE
    synth.volume = 1.0
    synth.render(SR // 10, 2.5, 10.0)  # settle at 200 Hz
    block = synth.render(SR // 5, 40.0, 10.0)  # jump to 800 Hz
    # after 5 glide time constants (100 ms) the tone is at the new pitch
    assert dominant_hz(block[SR // 10 :]) == pytest.approx(800, abs=15)
    # no click: sample-to-sample steps stay small for an 800 Hz sine at amplitude 0.5
    assert np.max(np.abs(np.diff(block))) < 0.5 * 2 * np.pi * 800 / SR * 1.5


def test_modes():
    synth = ToneSynth(SR)
    synth.volume = 1.0
    synth.mode = AudioMode.ABOVE
    quiet = synth.render(SR // 10, 2.0, 10.0)
    assert np.max(np.abs(quiet)) < 1e-3  # silent when relaxed
    loud = synth.render(SR // 10, 20.0, 10.0)
    assert np.max(np.abs(loud[SR // 50 :])) > 0.3
    synth = ToneSynth(SR)
    synth.volume = 1.0
    synth.mode = AudioMode.BEEP
    beeps = synth.render(SR, 20.0, 10.0)
    on = np.abs(beeps) > 0.05
    assert 0.2 < on.mean() < 0.4  # 150 ms on in every 500 ms
    assert dominant_hz(beeps) == pytest.approx(660, abs=10)
    synth.mode = AudioMode.TONE
    synth.render(SR // 10, 20.0, 10.0)
    flagged = synth.render(SR // 10, 20.0, 10.0, flags=2)
    assert np.max(np.abs(flagged[SR // 20 :])) < 1e-3  # flagged: never rewarded, no sound
    synth.muted = True
    assert np.max(np.abs(synth.render(SR // 10, 20.0, 10.0)[SR // 20 :])) < 1e-3


class FakeStream:
    def __init__(self, callback, **kwargs):
        self.callback = callback
        self.kwargs = kwargs
        self.started = self.closed = False

    def start(self):
        self.started = True

    def stop(self):
        self.started = False

    def close(self):
        self.closed = True


class FakeBackend:
    def __init__(self):
        self.streams = []

    def OutputStream(self, callback, **kwargs):
        stream = FakeStream(callback, **kwargs)
        self.streams.append(stream)
        return stream


class NoDeviceBackend:
    def OutputStream(self, **kwargs):
        raise RuntimeError("Error querying device -1")


def test_callback_reads_the_latest_level_and_fills_the_buffer():
    backend = FakeBackend()
    levels = iter([(20.0, 10.0, 0)] * 100)
    audio = AudioFeedback(lambda: next(levels), backend=backend)
    audio.volume = 1.0
    assert audio.start() == ""
    stream = backend.streams[0]
    assert stream.started and stream.kwargs["latency"] == "low"
    out = np.zeros((256, 1), dtype=np.float32)
    for _ in range(20):
        stream.callback(out, 256, None, None)
    assert np.max(np.abs(out)) > 0.3
    audio.close()
    assert stream.closed and not audio.running


def test_no_device_reports_one_line_and_does_not_raise():
    audio = AudioFeedback(lambda: (1.0, 1.0, 0), backend=NoDeviceBackend())
    message = audio.start()
    assert message.startswith("No sound") and "\n" not in message
    assert not audio.running
    audio.close()


def test_callback_survives_a_failing_level_source():
    backend = FakeBackend()

    def broken():
        raise ValueError("boom")

    audio = AudioFeedback(broken, backend=backend)
    audio.start()
    out = np.ones((64, 1), dtype=np.float32)
    backend.streams[0].callback(out, 64, None, None)
    assert not out.any() and audio.callback_errors == 1
