"""Audio feedback: pitch mapping, glide, modes, and carrying on without a sound device."""

from __future__ import annotations

import json
import os
import subprocess
import sys

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


REAL_PORTAUDIO_CHILD = """
import json, time
import numpy as np
from biofeedback.gui.audio_feedback import AudioFeedback, F_HIGH_HZ

calls = []
audio = AudioFeedback(lambda: (calls.append(1) or (40.0, 10.0, 0)))
error = audio.start()
# until PortAudio has called back a few times and the tone has glided up (20 s on a busy machine)
deadline = time.monotonic() + 20
while not error and time.monotonic() < deadline:
    if len(calls) > 10 and abs(audio.synth._freq - F_HIGH_HZ) <= 0.005 * F_HIGH_HZ:
        break
    time.sleep(0.02)
freq = audio.synth._freq
audio.close()
print(json.dumps({"error": error, "calls": len(calls), "callback_errors": audio.callback_errors,
                  "freq": freq, "running": audio.running}))
"""


def test_tone_plays_through_real_portaudio_on_a_null_output(tmp_path):
    """The real sounddevice/PortAudio path (no stand-in): ALSA's null device as the output, so
    the stream opens with our parameters and PortAudio calls our callback as on a sound card."""
    try:
        import sounddevice  # noqa: F401
    except (ImportError, OSError) as exc:  # OSError: no libportaudio2
        pytest.skip(f"sounddevice unavailable: {exc}")
    (tmp_path / ".asoundrc").write_text("pcm.!default {\n    type null\n}\n")
    env = dict(os.environ, HOME=str(tmp_path))
    out = subprocess.run(
        [sys.executable, "-c", REAL_PORTAUDIO_CHILD],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["error"] and "no audio output device" in result["error"]:
        pytest.skip(f"PortAudio has no ALSA here: {result['error']}")
    assert result["error"] == ""
    assert result["calls"] > 10 and result["callback_errors"] == 0
    # 4x the threshold: the tone glided up to the top of its range
    assert result["freq"] == pytest.approx(F_HIGH_HZ, rel=0.01)
    assert not result["running"]


def test_a_failing_tone_or_a_vanished_output_is_reported():
    backend = FakeBackend()
    calls = iter([(5.0, 10.0, 0), ValueError("boom")])

    def level():
        item = next(calls)
        if isinstance(item, Exception):
            raise item
        return item

    audio = AudioFeedback(level, backend=backend)
    audio.start()
    out = np.ones((64, 1), dtype=np.float32)
    backend.streams[0].callback(out, 64, None, None)
    assert audio.failure() == ""  # playing normally
    backend.streams[0].callback(out, 64, None, None)
    assert "tone stopped working" in audio.failure() and "boom" in audio.failure()
    audio.close()

    backend = FakeBackend()
    audio = AudioFeedback(lambda: (5.0, 10.0, 0), backend=backend)
    audio.start()
    backend.streams[0].active = False  # PortAudio ended the stream: headset unplugged
    assert "audio output stopped" in audio.failure()
    audio.close()


def test_the_window_reports_sound_that_dies_mid_run(qtbot):
    from biofeedback.gui.main_window import MainWindow

    backend = FakeBackend()
    window = MainWindow(
        "sim://?scenario=relax&speed=4&seed=2",
        safety_check=False,
        audio=True,
        audio_backend=backend,
        remember=False,
        ask_pain=False,
    )
    qtbot.addWidget(window)
    window.show()
    assert window.start()
    qtbot.waitUntil(lambda: window.audio.running, timeout=10000)
    assert window.alert.level == ""
    backend.streams[0].active = False
    qtbot.waitUntil(lambda: window.alert.level == "warning", timeout=5000)
    assert "audio output stopped" in window.alert.text
