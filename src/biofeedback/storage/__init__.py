"""Session store: SQLite database, crash-safe recorder, replay device, export and progress.

``Database`` and ``Recorder`` are imported here; ``replay``, ``export`` and ``progress`` are
imported from their modules (they pull in the DSP pipeline and file readers).
"""

from biofeedback.storage.database import (
    DB_FILENAME,
    SCHEMA_VERSION,
    Database,
    SessionRecord,
    info_from_dict,
    info_to_dict,
)
from biofeedback.storage.recorder import Recorder, RecorderStats

__all__ = [
    "DB_FILENAME",
    "SCHEMA_VERSION",
    "Database",
    "Recorder",
    "RecorderStats",
    "SessionRecord",
    "info_from_dict",
    "info_to_dict",
]
