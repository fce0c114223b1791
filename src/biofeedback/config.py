"""User data directory and persisted settings.

The data directory is ``$BIOFEEDBACK_HOME`` if set (the CLI's ``--data-dir`` sets it), else the
per-user data dir from platformdirs. It holds health data, so the database always sits in a
folder only its owner may open:

- a folder that does not exist is created with mode 0700 and used;
- an existing folder is never chmodded. When it already holds ``biofeedback.sqlite`` it is used
  as it is (existing data stays where it is found). Otherwise, if it is private (no group or
  other permission bits) it is used; if others may read, write or enter it (``/tmp``, a shared
  clinic folder), one line on stderr says so and the data goes in ``DIR/biofeedback-data/``, a 0700
  folder the app creates and owns. A ``biofeedback-data`` there that is a symlink, is owned by
  someone else or is open to others is refused (it may have been planted).

See docs/storage.md, "Where the data lives".
"""

from __future__ import annotations

import json
import logging
import os
import stat
import sys
from pathlib import Path
from typing import Any

import platformdirs

from biofeedback.core.files import replace_atomically
from biofeedback.errors import StorageError

log = logging.getLogger(__name__)

APP_NAME = "biofeedback"
#: The 0700 folder made inside a data folder that other users may open.
PRIVATE_SUBFOLDER = "biofeedback-data"
_DB_FILENAME = "biofeedback.sqlite"  # storage.database.DB_FILENAME (config sits below storage)
_warned: set[str] = set()


def base_dir() -> Path:
    """The folder the user chose (``BIOFEEDBACK_HOME`` / ``--data-dir``) or the per-user default."""
    override = os.environ.get("BIOFEEDBACK_HOME")
    if override is not None and override and not override.strip():
        raise StorageError("the data folder name is blank: give a folder with --data-dir DIR")
    return Path(override).expanduser() if override else Path(platformdirs.user_data_dir(APP_NAME))


def data_dir(create: bool = True) -> Path:
    """The folder of the session database and settings (see the module doc for the rules).

    ``create=False`` only computes where it is (or would be); nothing is made or changed.
    """
    path = base_dir()
    if path.exists() and not path.is_dir():
        raise StorageError(f"the data folder {path} is a file: give a folder with --data-dir")
    if not path.exists():
        if not create:
            return path
        try:
            path.mkdir(parents=True, mode=0o700)
            return path
        except FileExistsError:
            pass  # made by someone else meanwhile: judged below like any existing folder
        except OSError as exc:
            raise StorageError(
                f"cannot create the data folder {path}: {exc.strerror or exc}; "
                "give a folder you may write with --data-dir (or BIOFEEDBACK_HOME)"
            ) from None
    if os.name != "posix" or (path / _DB_FILENAME).exists() or not _open_to_others(path):
        return path
    private = path / PRIVATE_SUBFOLDER
    if create:
        _make_private_subfolder(path, private)
    return private


def _open_to_others(path: Path) -> bool:
    try:
        return bool(path.stat().st_mode & 0o077)
    except OSError as exc:
        raise StorageError(
            f"cannot open the data folder {path}: {exc.strerror or exc}; give a folder you may "
            "use with --data-dir"
        ) from None


def _make_private_subfolder(parent: Path, private: Path) -> None:
    """Create ``private`` (0700) or check that the existing one is ours and private."""
    try:
        private.mkdir(mode=0o700)
    except FileExistsError:
        _check_private(private)
        return
    except OSError as exc:
        raise StorageError(
            f"cannot create the private folder {private}: {exc.strerror or exc}; give a folder "
            "you may write with --data-dir"
        ) from None
    key = str(private)
    if key not in _warned:
        _warned.add(key)
        # A notice for the user (the log is quiet on the terminal by default) and for the log.
        notice = f"other users may open {parent}, so the sessions are kept in {private} (mode 0700)"
        sys.stderr.write(f"biofeedback: {notice}\n")
        log.info("%s", notice)


def _check_private(private: Path) -> None:
    st = private.lstat()
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise StorageError(
            f"{private} is not a folder made by biofeedback (a link or a file): remove it or "
            "give a private folder with --data-dir"
        )
    if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
        raise StorageError(
            f"{private} belongs to another user: give a folder of your own with --data-dir"
        )
    if st.st_mode & 0o077:
        raise StorageError(
            f"{private} is open to other users (mode {stat.S_IMODE(st.st_mode):o}): run "
            f"'chmod 700 {private}' or give another folder with --data-dir"
        )


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
    except (OSError, ValueError) as exc:
        log.warning("settings file %s is unreadable (%s): starting from the defaults", path, exc)
        try:
            path.replace(path.with_suffix(".json.bad"))
        except OSError as move_exc:
            log.warning("could not keep the unreadable settings as .bad: %s", move_exc)
        return {}


def save_settings(values: dict[str, Any]) -> None:
    """Write settings atomically (a 0600 temporary file with a random name, O_EXCL, renamed), so
    a crash never leaves half a file and a planted file or link is never followed."""
    path = settings_path()
    data = json.dumps(values, indent=2, sort_keys=True).encode("utf-8")
    replace_atomically(path, data)
