"""Typed preferences: round trip, version, migration from settings.json, bad values, bad file."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from biofeedback import config
from biofeedback.appmodel import prefs as p


def test_defaults_when_nothing_is_stored() -> None:
    loaded = p.load_prefs()
    assert loaded == p.Preferences()
    assert p.prefs_path().parent == config.data_dir()  # BIOFEEDBACK_HOME: under that folder


def test_round_trip_with_version() -> None:
    prefs = p.Preferences()
    prefs.audio = p.AudioPrefs(mode="beep", volume=0.3, muted=True)
    prefs.pacer = p.PacerPrefs(rate_bpm=5.0, visible=False)
    prefs.thresholds_uv = {"raw": 11.0}
    prefs.streaming.osc = True
    prefs.streaming.osc_port = 9100
    prefs.geometry["HDMI-1 1920x1080"] = [10, 20, 1280, 800]
    prefs.remember_source("sim://a")
    prefs.channel = {"mains": "60"}
    path = p.save_prefs(prefs)
    stored = json.loads(path.read_text(encoding="utf-8"))
    assert stored["version"] == p.PREFS_VERSION
    assert p.load_prefs() == prefs


def test_recent_sources_newest_first_at_most_eight() -> None:
    prefs = p.Preferences()
    for i in range(10):
        prefs.remember_source(f"sim://{i}")
    prefs.remember_source("sim://3")
    assert prefs.source == "sim://3"
    assert prefs.recent_sources[:2] == ["sim://3", "sim://9"]
    assert len(prefs.recent_sources) == p.MAX_RECENT_SOURCES


def test_migrated_from_the_old_settings_file() -> None:
    old = {
        "source": "sim://old",
        "recent_sources": ["sim://old", 7, "sim://older"],
        "audio": {"mode": "beep", "volume": 0.25, "muted": False},
        "pacer_bpm": 5.5,
        "pacer_visible": False,
        "thresholds_uv": {"raw": 9.5},
        "streaming": {"lsl": True, "osc_port": 9001},
        "channel": {"board": "uno"},
        "view": "patient",
    }
    config.save_settings({"gui": old, "mains": "50"})
    prefs = p.load_prefs()
    assert prefs.source == "sim://old" and prefs.recent_sources == ["sim://old", "sim://older"]
    assert prefs.audio == p.AudioPrefs("beep", 0.25, False)
    assert prefs.pacer == p.PacerPrefs(5.5, False)
    assert prefs.thresholds_uv == {"raw": 9.5}
    assert prefs.streaming.lsl and prefs.streaming.osc_port == 9001
    assert prefs.channel == {"board": "uno"} and prefs.view == "patient"
    p.save_prefs(prefs)
    config.save_settings({"gui": {"source": "sim://changed-later"}})
    assert p.load_prefs().source == "sim://old"  # once the file exists, it is the truth


def test_bad_values_fall_back_to_defaults(caplog: pytest.LogCaptureFixture) -> None:
    bad = {
        "version": p.PREFS_VERSION,
        "audio": {"mode": "loud", "volume": 7, "muted": "yes"},
        "pacer": {"rate_bpm": 60.0, "visible": 1},
        "source": 42,
        "recent_sources": "sim://x",
        "channel": [1, 2],
        "view": "cinema",
        "thresholds_uv": {"raw": -3, "ref": "big", "ok": 4.0, "nan": float("nan")},
        "streaming": {"osc_port": 70000, "osc_rate_hz": True, "osc_host": ""},
        "geometry": {"a": [0, 0, -5, 100], "b": [1, 2, 3], "c": [0, 0, 800, 600]},
    }
    p.prefs_path().write_text(json.dumps(bad), encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        prefs = p.load_prefs()
    d = p.Preferences()
    assert prefs.audio == d.audio and prefs.pacer == d.pacer
    assert (prefs.source, prefs.recent_sources, prefs.channel, prefs.view) == (
        "",
        [],
        {},
        "clinician",
    )
    assert prefs.thresholds_uv == {"ok": 4.0}
    assert prefs.streaming == d.streaming
    assert prefs.geometry == {"c": [0, 0, 800, 600]}
    assert "volume=7" in caplog.text and "view='cinema'" in caplog.text


def test_unreadable_file_is_kept_as_bad(caplog: pytest.LogCaptureFixture) -> None:
    path = p.prefs_path()
    path.write_text("{not json", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        assert p.load_prefs() == p.Preferences()
    assert not path.exists()
    assert path.with_name(path.name + ".bad").read_text(encoding="utf-8") == "{not json"
    assert "unreadable" in caplog.text


def test_config_dir_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIOFEEDBACK_CONFIG_DIR", str(tmp_path / "cfg"))
    prefs = p.Preferences(subject="S-07")
    path = p.save_prefs(prefs)
    assert path == tmp_path / "cfg" / p.PREFS_FILENAME
    assert p.load_prefs().subject == "S-07"


def test_platform_config_dir_without_a_data_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    import platformdirs

    monkeypatch.delenv("BIOFEEDBACK_HOME")
    monkeypatch.delenv("BIOFEEDBACK_CONFIG_DIR", raising=False)
    assert p.prefs_dir() == Path(platformdirs.user_config_dir("biofeedback"))


def test_unknown_newer_version_is_read_as_far_as_possible(caplog: pytest.LogCaptureFixture) -> None:
    p.prefs_path().write_text(json.dumps({"version": 99, "subject": "S-1"}), encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        assert p.load_prefs().subject == "S-1"
    assert "version 99" in caplog.text
