"""Logging for the command line and the window.

Commands print their own one-line messages for users; the log is for diagnosis. By default
nothing from the log reaches the terminal (so a failure is not said twice); ``-v`` shows INFO
and above on stderr, ``-vv`` DEBUG; ``--log-file FILE`` appends everything from INFO up to a
file. The window also keeps a rotating log in the platform's log folder (:func:`app_log_file`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from biofeedback.errors import BiofeedbackError

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s]: %(message)s"
#: The window's rotating log: this many bytes per file, this many old files kept.
APP_LOG_BYTES = 1_000_000
APP_LOG_BACKUPS = 3


def configure(verbosity: int = 0, log_file: str | None = None) -> None:
    """Set up the ``biofeedback`` logger for one run of the command."""
    logger = logging.getLogger("biofeedback")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(logging.DEBUG if verbosity >= 2 else logging.INFO)
    if verbosity > 0:
        console = logging.StreamHandler()
        console.setLevel(logging.DEBUG if verbosity >= 2 else logging.INFO)
        console.setFormatter(logging.Formatter("biofeedback: %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(console)
    if log_file:
        logger.addHandler(_file_handler(Path(log_file).expanduser()))
    if not logger.handlers:
        # quiet by default: with no handler anywhere Python would print WARNING and up to stderr
        # (its last-resort handler); records still propagate to handlers an embedding program set
        logger.addHandler(logging.NullHandler())


def add_app_log(folder: Path) -> Path | None:
    """Also log to ``folder/biofeedback.log`` (rotating); returns its path, None if unwritable."""
    import logging.handlers  # only the window keeps a rotating log

    path = folder / "biofeedback.log"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=APP_LOG_BYTES, backupCount=APP_LOG_BACKUPS, encoding="utf-8"
        )
    except OSError as exc:
        logging.getLogger(__name__).warning("no log file in %s: %s", folder, exc)
        return None
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter(FORMAT))
    logger = logging.getLogger("biofeedback")
    logger.addHandler(handler)
    return path


def _file_handler(path: Path) -> logging.Handler:
    from biofeedback.storage.safe_output import refuse_store_target

    refuse_store_target(path)  # a log appended to the database would damage it
    try:
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError as exc:
        raise BiofeedbackError(
            f"cannot write the log file {path}: {exc.strerror or exc}; give another --log-file"
        ) from None
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter(FORMAT))
    return handler
