"""The window's preferences: typed, versioned, validated on load, saved atomically.

Stored as JSON (``{"version": N, ...}``) in ``preferences.json`` in the platform's config folder
(``platformdirs.user_config_dir("biofeedback")``). When ``BIOFEEDBACK_HOME`` is set (``--data-dir``,
tests) the file sits in that data folder instead, so a chosen folder carries its own preferences;
``BIOFEEDBACK_CONFIG_DIR`` overrides both. When no preferences file exists yet, the ``"gui"``
part of the data folder's ``settings.json`` (where earlier versions kept them) is migrated.

Every field is checked on load: a value of the wrong type or out of its range falls back to the
default (logged), an unreadable file is kept as ``preferences.json.bad``.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from biofeedback import config
from biofeedback.core.files import replace_atomically

log = logging.getLogger(__name__)

#: The version written into the file; older files are migrated on load.
PREFS_VERSION = 1
PREFS_FILENAME = "preferences.json"
#: The key under which earlier versions kept the window's settings in settings.json.
LEGACY_SETTINGS_KEY = "gui"
#: Sources offered in the source list, newest first.
MAX_RECENT_SOURCES = 8
#: The sound modes (the values of gui.audio_feedback.AudioMode).
AUDIO_MODES = ("off", "tone", "beep", "above")
#: The breathing pacer's range in breaths per minute (gui.breathing_pacer).
PACER_RANGE_BPM = (4.5, 7.0)
VIEWS = ("clinician", "patient")
#: Longest text kept for a source URL, protocol name or subject id.
MAX_TEXT = 2000


@dataclass
class AudioPrefs:
    mode: str = "tone"
    volume: float = 0.5
    muted: bool = False


@dataclass
class PacerPrefs:
    rate_bpm: float = 6.0
    visible: bool = True


@dataclass
class StreamingPrefs:
    """LSL and OSC out (gui/streaming.py): off until switched on."""

    lsl: bool = False
    osc: bool = False
    osc_host: str = "127.0.0.1"
    osc_port: int = 9000
    osc_rate_hz: float = 20.0
    lsl_markers: str = ""
    lsl_markers_last: str = ""


@dataclass
class Preferences:
    """Everything the window remembers between runs."""

    audio: AudioPrefs = field(default_factory=AudioPrefs)
    pacer: PacerPrefs = field(default_factory=PacerPrefs)
    source: str = ""
    recent_sources: list[str] = field(default_factory=list)
    channel: dict[str, Any] = field(default_factory=dict)
    view: str = "clinician"
    #: the patient view goes to a second screen when one is connected (View menu)
    patient_second_screen: bool = True
    thresholds_uv: dict[str, float] = field(default_factory=dict)
    protocol: str = ""
    subject: str = ""
    streaming: StreamingPrefs = field(default_factory=StreamingPrefs)
    #: window geometry [x, y, width, height] per screen key (name and size of the screen)
    geometry: dict[str, list[int]] = field(default_factory=dict)

    def remember_source(self, url: str) -> None:
        """``url`` becomes the source opened next time and heads the recent list."""
        if not url:
            return
        self.source = url
        recent = [u for u in self.recent_sources if u != url]
        self.recent_sources = [url, *recent][:MAX_RECENT_SOURCES]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, with its version."""
        return {"version": PREFS_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, values: Any) -> Preferences:
        """Checked preferences from a JSON dict (any version); bad values become defaults."""
        prefs = cls()
        if not isinstance(values, dict):
            log.warning("preferences are not a JSON object: the defaults are used")
            return prefs
        values = _migrate(values)
        prefs.audio = _audio(values.get("audio"))
        prefs.pacer = _pacer(values.get("pacer"))
        prefs.streaming = _streaming(values.get("streaming"))
        prefs.source = _text(values, "source", "")
        prefs.recent_sources = _recent(values.get("recent_sources"))
        prefs.channel = _dict(values, "channel")
        prefs.view = _choice(values, "view", VIEWS, "clinician")
        prefs.patient_second_screen = _flag(values, "patient_second_screen", True)
        prefs.thresholds_uv = _thresholds(values.get("thresholds_uv"))
        prefs.protocol = _text(values, "protocol", "")
        prefs.subject = _text(values, "subject", "")
        prefs.geometry = _geometry(values.get("geometry"))
        return prefs


def _migrate(values: dict[str, Any]) -> dict[str, Any]:
    """Version 0 (the ``"gui"`` dict of settings.json) to the current layout."""
    version = values.get("version", 0)
    if version == PREFS_VERSION:
        return values
    if version != 0:
        log.warning("preferences version %r is unknown: read as far as possible", version)
        return values
    migrated = dict(values)
    if "pacer" not in values:
        migrated["pacer"] = {
            "rate_bpm": values.get("pacer_bpm", PacerPrefs.rate_bpm),
            "visible": values.get("pacer_visible", PacerPrefs.visible),
        }
    return migrated


def _bad(name: str, value: Any) -> None:
    log.warning("remembered %s=%r is not valid: the default is used", name, value)


def _text(values: dict[str, Any], name: str, default: str) -> str:
    value = values.get(name, default)
    if isinstance(value, str) and len(value) <= MAX_TEXT:
        return value
    _bad(name, value)
    return default


def _flag(values: dict[str, Any], name: str, default: bool) -> bool:
    value = values.get(name, default)
    if isinstance(value, bool):
        return value
    _bad(name, value)
    return default


def _number(values: dict[str, Any], name: str, default: float, lo: float, hi: float) -> float:
    value = values.get(name, default)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number and math.isfinite(value) and lo <= value <= hi:
        return float(value)
    _bad(name, value)
    return default


def _choice(values: dict[str, Any], name: str, choices: tuple[str, ...], default: str) -> str:
    value = values.get(name, default)
    if value in choices:
        return str(value)
    _bad(name, value)
    return default


def _dict(values: dict[str, Any], name: str) -> dict[str, Any]:
    value = values.get(name, {})
    if isinstance(value, dict):
        return dict(value)
    _bad(name, value)
    return {}


def _section(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    _bad(name, value)
    return {}


def _audio(value: Any) -> AudioPrefs:
    values = _section(value, "audio")
    return AudioPrefs(
        mode=_choice(values, "mode", AUDIO_MODES, AudioPrefs.mode),
        volume=_number(values, "volume", AudioPrefs.volume, 0.0, 1.0),
        muted=_flag(values, "muted", AudioPrefs.muted),
    )


def _pacer(value: Any) -> PacerPrefs:
    values = _section(value, "pacer")
    return PacerPrefs(
        rate_bpm=_number(values, "rate_bpm", PacerPrefs.rate_bpm, *PACER_RANGE_BPM),
        visible=_flag(values, "visible", PacerPrefs.visible),
    )


def _streaming(value: Any) -> StreamingPrefs:
    values = _section(value, "streaming")
    d = StreamingPrefs()
    return StreamingPrefs(
        lsl=_flag(values, "lsl", d.lsl),
        osc=_flag(values, "osc", d.osc),
        osc_host=_text(values, "osc_host", d.osc_host) or d.osc_host,
        osc_port=int(_number(values, "osc_port", d.osc_port, 1, 65535)),
        osc_rate_hz=_number(values, "osc_rate_hz", d.osc_rate_hz, 0.1, 1000.0),
        lsl_markers=_text(values, "lsl_markers", d.lsl_markers),
        lsl_markers_last=_text(values, "lsl_markers_last", d.lsl_markers_last),
    )


def _recent(value: Any) -> list[str]:
    if not isinstance(value, list):
        if value is not None:
            _bad("recent_sources", value)
        return []
    urls = [u for u in value if isinstance(u, str) and u and len(u) <= MAX_TEXT]
    return list(dict.fromkeys(urls))[:MAX_RECENT_SOURCES]


def _thresholds(value: Any) -> dict[str, float]:
    values = _section(value, "thresholds_uv")
    kept: dict[str, float] = {}
    for name, uv in values.items():
        if isinstance(uv, int | float) and not isinstance(uv, bool) and 0 < uv < 1e6:
            kept[str(name)] = float(uv)
        else:
            _bad(f"thresholds_uv[{name!r}]", uv)
    return kept


def _geometry(value: Any) -> dict[str, list[int]]:
    values = _section(value, "geometry")
    kept: dict[str, list[int]] = {}
    for key, rect in values.items():
        ok = isinstance(rect, list) and len(rect) == 4
        ok = ok and all(isinstance(v, int) and not isinstance(v, bool) for v in rect)
        if ok and rect[2] > 0 and rect[3] > 0:
            kept[str(key)] = list(rect)
            continue
        _bad(f"geometry[{key!r}]", rect)
    return kept


def prefs_dir() -> Path:
    """Where the preferences file lives (see the module doc)."""
    override = os.environ.get("BIOFEEDBACK_CONFIG_DIR", "").strip()
    if override:
        return Path(override).expanduser()
    if os.environ.get("BIOFEEDBACK_HOME", "").strip():
        return config.data_dir()
    return Path(platformdirs.user_config_dir(config.APP_NAME))


def prefs_path() -> Path:
    return prefs_dir() / PREFS_FILENAME


def load_prefs() -> Preferences:
    """The remembered preferences; never raises (defaults on any problem, said in the log)."""
    path = prefs_path()
    if not path.exists():
        legacy = config.load_settings().get(LEGACY_SETTINGS_KEY)
        if isinstance(legacy, dict):
            log.info("preferences migrated from the settings file of an earlier version")
            return Preferences.from_dict(legacy)
        return Preferences()
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("preferences file %s is unreadable (%s): starting from the defaults", path, exc)
        _keep_bad(path)
        return Preferences()
    return Preferences.from_dict(values)


def _keep_bad(path: Path) -> None:
    try:
        path.replace(path.with_name(path.name + ".bad"))
    except OSError as exc:
        log.warning("could not keep the unreadable preferences as .bad: %s", exc)


def save_prefs(prefs: Preferences) -> Path:
    """Write the preferences atomically (raises OSError when the folder cannot be written)."""
    path = prefs_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = json.dumps(prefs.to_dict(), indent=2, sort_keys=True).encode("utf-8")
    replace_atomically(path, data)
    return path


__all__ = [
    "AudioPrefs",
    "PacerPrefs",
    "Preferences",
    "StreamingPrefs",
    "load_prefs",
    "prefs_path",
    "save_prefs",
]
