"""Audio feedback: a tone synthesised in the sound card's callback from the latest envelope value.

Many patients train with their eyes closed, so sound matters as much as the picture
(docs/clinical-background.md, "Feedback"):

- ``tone``: continuous tone, pitch log-mapped from 200 Hz (relaxed) to 800 Hz (tense) over the range
  threshold / 4 .. threshold x 4 (the threshold itself sounds at 400 Hz), with a ~20 ms glide so it
  never clicks or warbles;
- ``beep``: short beeps while tension is above the threshold, silence below;
- ``above``: the continuous tone only while above the threshold, silent when relaxed;
- ``off``.

The sound pauses while the signal is flagged (clipping, electrode off...): flagged stretches are
never rewarded. The callback pulls the level itself (``level_source``), so the tone follows the
newest RMS with the output's own latency and no GUI thread in between.

With no PortAudio library (``import sounddevice`` raises OSError) or no output device, ``start()``
returns a one-line reason and the app carries on without sound.
"""

from __future__ import annotations

import enum
import functools
import logging
import math
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from biofeedback.appmodel.feedback import sounds_above

log = logging.getLogger(__name__)

F_LOW_HZ = 200.0
F_HIGH_HZ = 800.0
#: The pitch range spans threshold / RANGE_FACTOR .. threshold x RANGE_FACTOR.
RANGE_FACTOR = 4.0
GLIDE_S = 0.02
#: Amplitude smoothing: removes clicks at beep edges and mode changes.
FADE_S = 0.006
BEEP_HZ = 660.0
BEEP_ON_S = 0.15
BEEP_PERIOD_S = 0.5
#: Peak amplitude at volume 1 (leaves headroom; a sine at full scale is unpleasantly loud).
MAX_AMPLITUDE = 0.5


class AudioMode(enum.StrEnum):
    """What the sound does."""

    OFF = "off"
    TONE = "tone"
    BEEP = "beep"
    ABOVE = "above"

    @property
    def label(self) -> str:
        """Short text for menus (fits the side panel's Sound list)."""
        return {
            AudioMode.OFF: "Off",
            AudioMode.TONE: "Pitch follows tension",
            AudioMode.BEEP: "Beep above target",
            AudioMode.ABOVE: "Tone above target",
        }[self]

    @property
    def description(self) -> str:
        """The long form, for the menu item's tooltip."""
        return {
            AudioMode.OFF: "No sound",
            AudioMode.TONE: "A continuous tone whose pitch rises with tension (400 Hz at the target)",
            AudioMode.BEEP: "Short beeps while above the target, silence below",
            AudioMode.ABOVE: "A tone while above the target, silent when relaxed",
        }[self]


#: ``level_source()`` returns (level_uv, threshold_uv, flags) for the channel to sonify.
LevelSource = Callable[[], tuple[float, float, int]]


def pitch_hz(level_uv: float, threshold_uv: float) -> float:
    """Tone frequency for a level: log-linear from 200 Hz at threshold/4 to 800 Hz at threshold x 4."""
    if not (threshold_uv > 0 and level_uv > 0 and math.isfinite(level_uv)):
        return F_LOW_HZ
    x = math.log(level_uv / threshold_uv) / math.log(RANGE_FACTOR)  # -1 .. 1 across the range
    frac = min(max(0.5 + 0.5 * x, 0.0), 1.0)
    return F_LOW_HZ * (F_HIGH_HZ / F_LOW_HZ) ** frac


class ToneSynth:
    """Sample-accurate tone generator (pure numpy; runs inside the audio callback).

    Frequency and amplitude glide exponentially toward their targets (time constants ``GLIDE_S``
    and ``FADE_S``); phase is accumulated, so pitch changes never click.
    """

    def __init__(self, sample_rate_hz: float = 48000.0) -> None:
        self.sample_rate_hz = float(sample_rate_hz)
        self.mode = AudioMode.TONE
        self.volume = 0.5
        self.muted = False
        self._freq = F_LOW_HZ
        self._amp = 0.0
        self._phase = 0.0
        self._n = 0  # samples rendered (beep timing)

    def targets(self, level_uv: float, threshold_uv: float, flags: int) -> tuple[float, float]:
        """(frequency Hz, amplitude 0-1) the sound should move to for this level."""
        gain = 0.0 if self.muted else MAX_AMPLITUDE * min(max(self.volume, 0.0), 1.0)
        if self.mode == AudioMode.OFF or flags or not math.isfinite(level_uv):
            return self._freq, 0.0
        above = sounds_above(level_uv, threshold_uv)  # the gauge's rule (appmodel.feedback)
        if self.mode == AudioMode.TONE:
            return pitch_hz(level_uv, threshold_uv), gain
        if self.mode == AudioMode.ABOVE:
            return pitch_hz(level_uv, threshold_uv), gain if above else 0.0
        # beep: gate on a fixed rhythm while above the threshold
        return BEEP_HZ, gain if above else 0.0

    def render(
        self, frames: int, level_uv: float, threshold_uv: float, flags: int = 0
    ) -> np.ndarray:
        """Next ``frames`` samples (float32, mono) for the given level."""
        sr = self.sample_rate_hz
        f_target, a_target = self.targets(level_uv, threshold_uv, flags)
        n = np.arange(1, frames + 1, dtype=np.float64)
        freq = f_target + (self._freq - f_target) * np.exp(-n / (GLIDE_S * sr))
        if self.mode == AudioMode.BEEP and a_target > 0:
            t = (self._n + n) / sr
            gate = (np.mod(t, BEEP_PERIOD_S) < BEEP_ON_S).astype(np.float64)
            a_goal = a_target * gate
            amp = _one_pole(a_goal, self._amp, math.exp(-1.0 / (FADE_S * sr)))
        else:
            amp = a_target + (self._amp - a_target) * np.exp(-n / (FADE_S * sr))
        phase = self._phase + np.cumsum(2.0 * math.pi * freq / sr)
        out = (amp * np.sin(phase)).astype(np.float32)
        self._freq = float(freq[-1])
        self._amp = float(amp[-1])
        self._phase = float(phase[-1] % (2.0 * math.pi))
        self._n += frames
        return out


@functools.cache
def _lfilter() -> Callable[..., Any]:
    """scipy's lfilter, imported once on first use (not at start-up: gui.preload; not on every
    block in the sound card's callback)."""
    from scipy.signal import lfilter

    return lfilter


def _one_pole(goal: np.ndarray, start: float, decay: float) -> np.ndarray:
    """y[n] = goal[n] + decay * (y[n-1] - goal[n]): smoothing of a gated amplitude."""
    y, _ = _lfilter()([1.0 - decay], [1.0, -decay], goal, zi=[decay * start])
    return y


class AudioFeedback:
    """Plays the tone on the default output device.

    Parameters
    ----------
    level_source
        Called from the audio thread for every block; returns (level_uv, threshold_uv, flags).
    backend
        The ``sounddevice`` module or a stand-in with the same ``OutputStream`` (tests).
    """

    def __init__(
        self,
        level_source: LevelSource,
        backend: Any = None,
        sample_rate_hz: float = 48000.0,
        blocksize: int = 256,
    ) -> None:
        self.level_source = level_source
        self.synth = ToneSynth(sample_rate_hz)
        self.blocksize = blocksize
        self.error = ""
        self.callback_errors = 0
        self._backend = backend
        self._stream: Any = None
        self._lock = threading.Lock()

    # settings forwarded to the synth (plain attribute writes: atomic for the audio thread)
    @property
    def mode(self) -> AudioMode:
        """Current audio mode."""
        return self.synth.mode

    @mode.setter
    def mode(self, value: AudioMode | str) -> None:
        self.synth.mode = AudioMode(value)

    @property
    def volume(self) -> float:
        """Volume 0-1."""
        return self.synth.volume

    @volume.setter
    def volume(self, value: float) -> None:
        self.synth.volume = min(max(float(value), 0.0), 1.0)

    @property
    def muted(self) -> bool:
        """True while muted."""
        return self.synth.muted

    @muted.setter
    def muted(self, value: bool) -> None:
        self.synth.muted = bool(value)

    @property
    def running(self) -> bool:
        """True while an output stream is open."""
        return self._stream is not None

    def start(self) -> str:
        """Open the output stream. Returns "" on success, else a one-line reason (never raises)."""
        with self._lock:
            if self._stream is not None:
                return ""
            backend = self._backend
            if backend is None:
                try:
                    import sounddevice
                except OSError:
                    self.error = (
                        "No sound: the PortAudio library is missing (install libportaudio2)."
                    )
                    return self.error
                except ImportError:
                    self.error = "No sound: the sounddevice package is not installed."
                    return self.error
                self._backend = backend = sounddevice
            try:
                stream = backend.OutputStream(
                    samplerate=self.synth.sample_rate_hz,
                    blocksize=self.blocksize,
                    channels=1,
                    dtype="float32",
                    latency="low",
                    callback=self._callback,
                )
                stream.start()
            except Exception as exc:  # PortAudio raises its own types; the reason is shown
                log.warning("opening the audio output failed", exc_info=exc)
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                self.error = f"No sound: no audio output device ({reason})."
                return self.error
            self._stream = stream
            self.error = ""
            return ""

    def _callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        try:
            level_uv, threshold_uv, flags = self.level_source()
            outdata[:, 0] = self.synth.render(frames, level_uv, threshold_uv, flags)
        except Exception as exc:  # silence this block; the first failure is kept and logged
            self.callback_errors += 1
            outdata.fill(0)
            if not self.error:
                log.error("audio callback failed", exc_info=exc)
                self.error = f"No sound: the tone stopped working ({type(exc).__name__}: {exc})."

    def failure(self) -> str:
        """Why sound stopped since it started ("" while it plays): the tone's own code failed,
        or the output stream ended by itself (a USB headset unplugged)."""
        if self.error:
            return self.error
        stream = self._stream
        if stream is not None and not getattr(stream, "active", True):
            self.error = "No sound: the audio output stopped (device unplugged or taken over?)."
            log.error("%s", self.error)
        return self.error

    def close(self) -> None:
        """Stop and close the stream (idempotent)."""
        with self._lock:
            stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
                stream.close()
            except Exception as exc:  # a device already gone cannot be closed; nothing to keep
                log.info("closing the audio stream: %s", exc)
