"""ReplayDevice: a stored session or an imported file played back like a live board.

URLs (``open_device`` handles the ``replay`` scheme with this class):

- ``replay://42``: session 42 from the database in the data directory (``db=PATH`` for another).
- ``replay:///abs/path/file.csv?fs=1000&units=mV``: a CSV/text, WAV or EDF/EDF+ file; the options
  are those of :mod:`biofeedback.storage.importing` (``fs``, ``units``, ``channels``, ``columns``,
  ``time``, ``names``, ``board``, ``adc_bits``, ``vref``, ``gain``, ``pot``, ``scale_uv``, and
  ``stream`` for an XDF file with several streams).
- ``speed=1`` (default) plays in real time, ``speed=4`` four times faster, ``speed=max`` as fast as
  the consumer takes it (then ``StreamInfo.realtime`` is False and consumers may apply
  back-pressure instead of dropping).

A stored session replays on its own sample clock (same ``first_index`` values as when it was
recorded, so markers and phases line up) and its gaps come out as NaN rows flagged missing, exactly
as the live device delivered them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from biofeedback.core.clock import Clock, MonotonicClock, Pacer
from biofeedback.core.limits import parse_session_id
from biofeedback.core.types import Chunk, StreamInfo
from biofeedback.devices.base import ThreadedDevice
from biofeedback.devices.facts_types import SourceFacts
from biofeedback.devices.source_url import SourceURL
from biofeedback.errors import DeviceError, SourceURLError, StorageError
from biofeedback.storage.database import Database, existing_database_path
from biofeedback.storage.importing import Recording, RecordingOptions, load_recording

#: Wall-clock seconds per emitted chunk in paced replay (like a board's frames).
PACED_CHUNK_S = 0.02
#: Samples per chunk at speed=max (large chunks keep per-chunk overhead low).
MAX_SPEED_CHUNK = 2048


def parse_speed(text: str | None, where: str = "replay://") -> float | None:
    """``"max"`` -> None (unpaced); a number > 0 -> that factor. SourceURLError otherwise."""
    if text is None:
        return 1.0
    if text.strip().lower() == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        raise SourceURLError(
            f"{where}: speed={text!r}: give a factor such as 1 or 4, or max"
        ) from None
    if not 0.01 <= value <= 10_000:
        raise SourceURLError(f"{where}: speed={text}: choose a factor from 0.01 to 10000, or max")
    return value


class ReplayDevice(ThreadedDevice):
    """Plays a stored session (``session_id``) or a file (``path``) as a Device.

    Parameters
    ----------
    session_id, db_path
        A stored session and its database (default: the data directory's).
    path, options
        A file to import instead, and what it does not state about itself.
    speed
        1.0 for real time, a factor, or None for as fast as possible.
    clock
        Clock used for pacing (tests pass a :class:`~biofeedback.core.clock.FakeClock`).
    """

    scheme = "replay"
    on_body = False  # a recording: no electrodes now, no checklist
    kind_label = "replay"
    url_options = (
        "speed",
        "db",
        "fs",
        "units",
        "channels",
        "columns",
        "time",
        "names",
        "board",
        "adc_bits",
        "vref",
        "gain",
        "pot",
        "scale_uv",
        "stream",
    )

    @classmethod
    def facts(cls, url: SourceURL) -> SourceFacts:
        """Not on a body; the recording states its own ADC; labelled by session or file name."""
        return replace(cls.class_facts(url.text), label=f"replay {Path(url.path).name}")

    def __init__(
        self,
        url: str = "",
        *,
        session_id: int | None = None,
        db_path: Path | str | None = None,
        path: Path | str | None = None,
        options: RecordingOptions | None = None,
        speed: float | None = 1.0,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(
            url or (f"replay://{session_id}" if session_id is not None else f"replay://{path}")
        )
        if (session_id is None) == (path is None):
            raise ValueError("give exactly one of session_id or path")
        self.session_id = session_id
        self.db_path = None if db_path is None else Path(db_path)
        self.path = None if path is None else Path(path)
        self.options = options or RecordingOptions()
        self.speed = speed
        self.clock: Clock = clock or MonotonicClock()
        self._db: Database | None = None
        self._recording: Recording | None = None
        self._first_index = 0
        self._end_index = 0

    @property
    def finite(self) -> bool:
        """A replay ends with its recording."""
        return True

    @classmethod
    def from_url(cls, url: SourceURL) -> ReplayDevice:
        """Build from ``replay://SESSION`` or ``replay:///path?options``."""
        target = url.path.strip()
        if not target:
            raise SourceURLError(
                f"{url.text}: say what to replay: replay://SESSION_ID or replay:///path/to/file.csv"
            )
        speed = parse_speed(url.get_str("speed"), url.text)
        if target.isascii() and target.isdigit():
            session_id = parse_session_id(target, f"{url.text}: session")
            db = url.get_str("db")
            return cls(url.text, session_id=session_id, db_path=db, speed=speed)
        opts = RecordingOptions(
            fs_hz=url.get_float("fs", lo=0.1, hi=1e6),
            units=url.get_str("units"),
            channels=url.get_list("channels"),
            columns=url.get_list("columns"),
            time_column=url.get_str("time"),
            names=url.get_list("names"),
            board=url.get_str("board"),
            adc_bits=url.get_int("adc_bits", lo=1, hi=24),
            vref_v=url.get_float("vref", lo=0.01, hi=100.0),
            gain=url.get_float("gain", lo=1e-6, hi=1e9),
            pot_kohm=url.get_float("pot", lo=0.0, hi=1000.0),
            scale_uv=url.get_float("scale_uv", lo=1e-12, hi=1e12),
            stream=url.get_str("stream"),
        )
        return cls(url.text, path=target, options=opts, speed=speed)

    # -- Device --------------------------------------------------------------------------------------
    def open(self) -> StreamInfo:
        """Load the session's description (or the whole file) and report the stream."""
        if self.session_id is not None:
            try:
                # the data folder's own store keeps its daily backup, as when opened by default
                self._db = Database(
                    existing_database_path(self.db_path), auto_backup=self.db_path is None
                )
                record = self._db.get_session(self.session_id)
            except StorageError as exc:
                raise DeviceError(str(exc)) from None
            first, end, stored = self._db.stored_extent(self.session_id)
            if not stored or first is None or end is None:
                raise DeviceError(
                    f"session {self.session_id} has no recorded samples: nothing to replay"
                )
            self._first_index, self._end_index = int(first), int(end)
            info = record.info
            extra = {**info.extra, "replay": f"session {self.session_id}"}
            device = f"replay of session {self.session_id}"
        else:
            assert self.path is not None
            self._recording = load_recording(self.path, self.options)
            info = self._recording.info
            self._first_index, self._end_index = 0, len(self._recording.samples)
            extra = {**info.extra, "replay": str(self.path)}
            if self._recording.notes:  # how the file was read, e.g. an edited export read as uV
                extra["notes"] = "; ".join(self._recording.notes)
            device = f"replay of {self.path.name}"
            if len(self._recording.samples) == 0:
                raise DeviceError(f"{self.path} holds no samples: nothing to replay")
        self.info = info.with_(realtime=self.speed is not None, device=device, extra=extra)
        return self.info

    def close(self) -> None:
        """Stop and release the database."""
        super().close()
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def duration_s(self) -> float:
        """Length of the recording on its sample clock (gaps included)."""
        if self.info is None:
            return 0.0
        return (self._end_index - self._first_index) / self.info.fs_hz

    def _chunk_size(self) -> int:
        assert self.info is not None
        if self.speed is None:
            return MAX_SPEED_CHUNK
        return max(1, round(self.info.fs_hz * self.speed * PACED_CHUNK_S))

    def _chunks(self, size: int) -> Iterator[Chunk]:
        if self._db is not None and self.session_id is not None:
            yield from self._db.iter_chunks(self.session_id, block_samples=size)
            return
        rec = self._recording
        assert rec is not None
        for a in range(0, len(rec.samples), size):
            yield Chunk(a, np.array(rec.samples[a : a + size]), np.array(rec.flags[a : a + size]))

    def _run(self) -> bool | None:
        assert self.info is not None
        pacer = None
        if self.speed is not None:
            pacer = Pacer(self.info.fs_hz * self.speed, self.clock)
            pacer.start(self._first_index)
        for chunk in self._chunks(self._chunk_size()):
            if self._stop_event.is_set():
                return False
            if pacer is not None and not pacer.wait_for(chunk.end_index, self._stop_event):
                return False
            self._emit(chunk)
        return True
