"""Private temporary files and atomic replacement (health data: 0600, never through a link).

The one place for the file primitive that session outputs (``storage.safe_output``) and the
remembered settings (``config``) share: a new file next to the target with a random name, created
with ``O_CREAT | O_EXCL | O_NOFOLLOW`` and mode 0600, written, fsynced and renamed onto the target.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

_TEMP_FLAGS = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0)
_TEMP_FLAGS |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def create_private_temp(path: Path) -> tuple[int, Path]:
    """A new file next to ``path`` with a random name, mode 0600, never through a symlink.

    Returns (open file descriptor, its path). Raises ``FileExistsError`` only if 100 random
    names were all taken, and ``OSError`` when the folder cannot take a file.
    """
    stem = os.fsdecode(os.fsencode(path.name)[:40]).rstrip("\ufffd") or "output"
    for _ in range(100):
        tmp = path.with_name(f".{stem}.{secrets.token_hex(8)}.part")
        try:
            fd = os.open(tmp, _TEMP_FLAGS, 0o600)
        except FileExistsError:
            continue
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, 0o600)  # the umask may only have narrowed it; make it exact
        except OSError:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        return fd, tmp
    raise FileExistsError(f"no free temporary name next to {path}")


def replace_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a private temporary file (see the module doc): a crash
    leaves the old file or the new one, never half a file."""
    fd, tmp = create_private_temp(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
