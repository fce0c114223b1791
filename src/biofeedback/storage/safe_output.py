"""Writing a file the user named (``-o PATH``) without ever destroying the session store.

Every command that writes a file the user chose (export, report, database backup) goes through
:func:`open_output`:

- the target is refused when it is the session database or one of SQLite's files next to it
  (``-wal``, ``-shm``, ``-journal``), anything in the data folder's ``backups/``, the settings
  files, or the input being written out. Paths are compared after resolving symlinks and ``..``
  (and by inode when the file exists), so ``./x/../biofeedback.sqlite`` or a link to the database
  is caught too;
- the data goes to a temporary file with a random name in the target's folder, created with
  ``O_CREAT | O_EXCL | O_NOFOLLOW`` and mode 0600 (exports and reports hold health data), is
  fsynced, then renamed onto the target. Any exception, Ctrl-C included, removes the temporary
  file, so the target is either the old file or the complete new one, never half a file;
- a name too long, a missing folder, a folder that may not be written, a read-only file and a
  full disk are :class:`~biofeedback.errors.StorageError` with one line saying what to do.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from biofeedback.core.files import create_private_temp
from biofeedback.errors import StorageError

log = logging.getLogger(__name__)

#: Files SQLite keeps next to a database.
SQLITE_SIDECARS = ("-wal", "-shm", "-journal")
#: Folder in the data dir holding the automatic backups.
BACKUP_FOLDER = "backups"
#: Files of the data dir besides the database (settings and its temporary / quarantined copies).
SETTINGS_FILES = ("settings.json", "settings.json.tmp", "settings.json.bad")

_NAME_MAX = 255
_PATH_MAX = 4096


@dataclass(frozen=True)
class Protected:
    """A file or folder that no output may replace, with what it is (for the message)."""

    path: Path
    what: str
    tree: bool = False  # True: everything inside the folder is protected too


def store_files(db_path: Path | str) -> list[Protected]:
    """The database ``db_path``, SQLite's files next to it, and the data folder's own files."""
    db_path = Path(db_path).expanduser()
    folder = db_path.parent
    out = [Protected(db_path, "the session database")]
    out += [
        Protected(Path(f"{db_path}{s}"), f"the session database's {s[1:]} file")
        for s in SQLITE_SIDECARS
    ]
    out.append(Protected(folder / BACKUP_FOLDER, "the automatic backups folder", tree=True))
    out += [Protected(folder / name, "the app's settings") for name in SETTINGS_FILES]
    return out


def default_protected() -> list[Protected]:
    """The files of the configured data dir (``--data-dir`` / ``BIOFEEDBACK_HOME``)."""
    from biofeedback.config import data_dir
    from biofeedback.storage.database import DB_FILENAME

    try:
        folder = data_dir(create=False)
    except StorageError:
        return []
    return store_files(folder / DB_FILENAME)


def _real(path: Path | str) -> str:
    # realpath alone: resolving "x/.." lexically first would miss a link x into the data folder
    return os.path.normcase(os.path.realpath(os.fspath(path)))


def _same_file(a: str, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def refuse_protected(target: Path, protected: Iterable[Protected], flag: str = "-o") -> None:
    """StorageError when ``target`` is (or is inside) one of ``protected``."""
    real = _real(target)
    for item in protected:
        other = _real(item.path)
        inside = item.tree and (real == other or real.startswith(other.rstrip(os.sep) + os.sep))
        if real == other or inside or _same_file(real, item.path):
            raise StorageError(
                f"refusing to write {target}: it is {item.what} ({item.path}); "
                f"choose another {flag} path outside the data folder's own files"
            )


def refuse_store_target(path: Path | str, flag: str = "--log-file") -> None:
    """For writers that append to a user-named file (a log) rather than replace it: refuse the
    configured data dir's database and its files, with the same one-line message."""
    refuse_protected(Path(path).expanduser().absolute(), default_protected(), flag)


def os_error_message(exc: OSError, path: Path, flag: str = "-o") -> str:
    """One line for an OSError met while writing ``path``."""
    code = exc.errno
    if code == errno.ENAMETOOLONG:
        return f"the file name {_short(path)} is too long: choose a shorter {flag} name"
    if code == errno.ENOSPC:
        return f"the disk is full while writing {path}: free some space and try again"
    if code == errno.EROFS:
        return f"cannot write {path}: the disk is read-only; choose another {flag} folder"
    if code in (errno.EACCES, errno.EPERM):
        return f"cannot write {path} (permission denied): choose a folder you may write to"
    if code in (errno.ENOENT, errno.ENOTDIR):
        return f"the folder {path.parent} does not exist: create it or choose another {flag} path"
    if code == errno.EDQUOT:
        return f"your disk quota is used up while writing {path}: free some space and try again"
    return f"cannot write {path}: {exc.strerror or exc}"


def _short(path: Path) -> str:
    text = str(path)
    return text if len(text) <= 80 else f"{text[:40]}...{text[-20:]} ({len(text)} characters)"


def check_output_path(
    path: Path | str,
    protected: Iterable[Protected] = (),
    example: str = "session.edf",
    flag: str = "-o",
    internal: bool = False,
) -> Path:
    """Validate an output path; return it absolute (``~`` expanded). Nothing is written.

    Refused with one line: an empty or too long name, a protected file (see the module doc),
    a folder, a missing folder, a device or pipe, a read-only file, a folder that may not be
    written. ``internal`` (the app's own automatic backups) skips the protected-file check.
    """
    if not str(path).strip():
        raise StorageError(f"{flag} needs a file name, e.g. {example}")
    # Absolute but not normalised: "x/.." is left for the system to resolve (x may be a link);
    # the protected-file check compares fully resolved paths.
    path = Path(path).expanduser().absolute()
    if len(os.fsencode(path.name)) > _NAME_MAX or len(os.fsencode(str(path))) >= _PATH_MAX:
        raise StorageError(
            f"the file name {_short(path)} is too long (at most {_NAME_MAX} bytes per name): "
            f"choose a shorter {flag} name"
        )
    if not internal:
        refuse_protected(path, [*protected, *default_protected()], flag)
    try:
        _check_writable(path, example, flag)
    except OSError as exc:
        raise StorageError(os_error_message(exc, path, flag)) from None
    return path


def _check_writable(path: Path, example: str, flag: str) -> None:
    if path.is_dir():
        raise StorageError(f"{path} is a folder: give a file name, e.g. {path / example}")
    if not path.parent.is_dir():
        raise StorageError(
            f"the folder {path.parent} does not exist: create it or choose another {flag} path"
        )
    if path.exists() or path.is_symlink():
        if not path.is_file():
            raise StorageError(f"{path} is not a regular file: choose a file name to write")
        # no write bit for anyone means "keep this file", even for root
        if not os.access(path, os.W_OK) or not path.stat().st_mode & 0o222:
            raise StorageError(
                f"{path} is read-only: choose another {flag} path or delete it first"
            )
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise StorageError(
            f"cannot write in {path.parent} (permission denied): choose a folder you may write to"
        )


def _create_temp(path: Path) -> tuple[int, Path]:
    """A new file next to ``path`` with a random name, 0600, never through a symlink."""
    try:
        return create_private_temp(path)
    except FileExistsError:
        raise StorageError(
            f"cannot create a temporary file next to {path}: choose another folder"
        ) from None


def _remove(tmp: Path) -> None:
    for name in (tmp, Path(f"{tmp}-journal"), Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        try:
            name.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("could not remove the temporary file %s: %s", name, exc)


def _fsync_path(path: Path, directory: bool = False) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if directory:  # some systems cannot open a folder: the rename is still done
            log.debug("cannot open %s to sync it: %s", path, exc)
            return
        raise
    try:
        os.fsync(fd)
    except OSError as exc:
        if not directory:
            raise
        log.debug("cannot sync the folder %s: %s", path, exc)
    finally:
        os.close(fd)


@dataclass
class Output:
    """The temporary file being written: ``file`` (binary, open) and its ``tmp`` path.

    Writers that need a path (SQLite's backup, a PDF library) may close ``file`` and write
    ``tmp`` themselves; it is synced and renamed all the same.
    """

    file: BinaryIO
    tmp: Path
    path: Path


@contextmanager
def open_output(
    path: Path | str,
    protected: Iterable[Protected] = (),
    example: str = "session.edf",
    flag: str = "-o",
    internal: bool = False,
) -> Iterator[Output]:
    """Write ``path`` safely (see the module doc). On leaving the block without an error the
    temporary file is synced and renamed onto ``path``; on any error it is removed."""
    target = check_output_path(path, protected, example, flag, internal)
    try:
        fd, tmp = _create_temp(target)
    except OSError as exc:
        raise StorageError(os_error_message(exc, target, flag)) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            out = Output(fh, tmp, target)
            yield out
            closed_by_writer = fh.closed
            if not closed_by_writer:
                fh.flush()
                os.fsync(fh.fileno())
        if closed_by_writer:
            _fsync_path(tmp)
        os.replace(tmp, target)
    except OSError as exc:
        _remove(tmp)
        raise StorageError(os_error_message(exc, target, flag)) from None
    except BaseException:
        _remove(tmp)
        raise
    _fsync_path(target.parent, directory=True)
