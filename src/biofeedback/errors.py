"""Errors a user can cause. Each message says what happened and what to do.

The CLI and GUI show ``str(error)``; they never show a traceback for these.
"""


class BiofeedbackError(Exception):
    """Base class for errors with a user-facing message."""


class SourceURLError(BiofeedbackError, ValueError):
    """A source URL (``sim://``, ``serial://``, ``replay://``) is malformed or has a bad option."""


class DeviceError(BiofeedbackError):
    """A device could not be opened or stopped working (port, permission, protocol)."""


class ProtocolFileError(BiofeedbackError, ValueError):
    """A training protocol file is malformed; the message names the file, the field and what is allowed."""


class StorageError(BiofeedbackError):
    """The session store cannot be read or written (disk full, permissions, corrupt file)."""
