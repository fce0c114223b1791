"""User data directory and persisted settings.

The data directory is ``$BIOFEEDBACK_HOME`` if set (the CLI's ``--data-dir`` sets it), else the
per-user data dir from platformdirs. It is created with mode 0700: it holds health data.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import platformdirs

from biofeedback.errors import StorageError

APP_NAME = "biofeedback"


def data_dir(create: bool = True) -> Path:
    """The directory for the session database and settings (0700)."""
    override = os.environ.get("BIOFEEDBACK_HOME")
    path = Path(override).expanduser() if override else Path(platformdirs.user_data_dir(APP_NAME))
    if create:
        if path.exists() and not path.is_dir():
            raise StorageError(f"the data folder {path} is a file: give a folder with --data-dir")
        try:
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StorageError(
                f"cannot create the data folder {path}: {exc.strerror or exc}; "
                "give a folder you may write with --data-dir (or BIOFEEDBACK_HOME)"
            ) from None
        try:
            path.chmod(0o700)
        except OSError:
            pass
    return path


def settings_path() -> Path:
    """Where remembered settings live (``settings.json`` in the data dir)."""
    return data_dir() / "settings.json"


def load_settings() -> dict[str, Any]:
    """Remembered settings; an unreadable file is ignored (and kept as ``.bad``), never fatal."""
    path = settings_path()
    if not path.exists():
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
        return value if isinstance(value, dict) else {}
    except (OSError, ValueError):
        try:
            path.replace(path.with_suffix(".json.bad"))
        except OSError:
            pass
        return {}


def save_settings(values: dict[str, Any]) -> None:
    """Write settings atomically (temp file + rename), so a crash never leaves half a file."""
    path = settings_path()
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(values, indent=2, sort_keys=True), encoding="utf-8")
    os.chmod(tmp, 0o600)
    tmp.replace(path)
