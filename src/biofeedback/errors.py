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


class InstrumentFileError(BiofeedbackError, ValueError):
    """An outcome-measure instrument file is malformed; the message names the file, the field
    and what is allowed (the same wording as protocol files)."""


class AnswerError(BiofeedbackError, ValueError):
    """An answer to a questionnaire item is not allowed (unknown item, out of range)."""


class ClinicError(BiofeedbackError):
    """The clinic database cannot be reached or used (server down, login refused, no such
    database, TLS, an old schema); the message says what to do."""
