"""Lab Streaming Layer outlets: raw EMG, its envelope and markers (docs/interop.md).

Three streams, created when the user switches LSL on (``--lsl``, or Streaming > Stream to LSL):

- ``biofeedback-raw`` (type ``EMG``, float32): every input channel in uV at the electrodes, as
  in the CSV export (RAW and REF relative to mid-supply, times the channel's scale);
- ``biofeedback-envelope`` (type ``EMG``, float32): the pipeline's moving RMS per output
  channel, in uV RMS at the electrodes, noise floor removed; same rate as the raw stream;
- ``biofeedback-markers`` (type ``Markers``, one string channel, irregular rate): phase changes,
  threshold changes and user markers (:mod:`biofeedback.interop.markers`).

The XML description holds per channel its ``label``, ``unit`` (``microvolts``) and ``type``
(``EMG``), as the XDF format's meta-data conventions ask, plus the board and the processing.
Timestamps come from the sample clock (:class:`~biofeedback.interop.clock.SampleClock`).
Each stream has a stable ``source_id`` (host, source URL and channels), so an inlet that lost the
stream (the app restarted, the source was reopened) picks it up again by itself.

Creating an outlet opens LSL's listeners (TCP and UDP ports 16572-16604 by default) and makes it
answer discovery queries (UDP 16571); nothing of this exists until the user switches LSL on.
"""

from __future__ import annotations

import hashlib
import logging
import math
import socket
import threading
from typing import Any

import numpy as np

from biofeedback import __version__
from biofeedback.core.types import Chunk, ProcessedChunk, StreamInfo
from biofeedback.errors import BiofeedbackError
from biofeedback.interop.clock import SampleClock

log = logging.getLogger(__name__)

RAW_NAME = "biofeedback-raw"
ENVELOPE_NAME = "biofeedback-envelope"
MARKERS_NAME = "biofeedback-markers"
#: Unit name of the XDF meta-data conventions (github.com/sccn/xdf/wiki/EMG-Meta-Data).
UNIT = "microvolts"


def source_id(kind: str, url: str, labels: list[str], fs_hz: float) -> str:
    """A stable id for one of our streams: the same host, source and channels give the same id,
    so LSL inlets recover the stream after a restart."""
    key = "|".join([socket.gethostname(), url, kind, f"{fs_hz:.6g}", *labels])
    return f"biofeedback-{kind}-{hashlib.sha1(key.encode()).hexdigest()[:12]}"


def _describe(
    info_xml: Any, labels: list[str], kinds: list[str], stream: StreamInfo, extra: dict[str, str]
) -> None:
    desc = info_xml.desc()
    desc.append_child_value("manufacturer", "biofeedback")
    desc.append_child_value("version", __version__)
    channels = desc.append_child("channels")
    for label, kind in zip(labels, kinds, strict=True):
        ch = channels.append_child("channel")
        ch.append_child_value("label", label)
        ch.append_child_value("unit", UNIT)
        ch.append_child_value("type", "EMG")
        ch.append_child_value("kind", kind)
    acq = desc.append_child("acquisition")
    acq.append_child_value("board", stream.board)
    acq.append_child_value("device", stream.device)
    if stream.adc_bits is not None:
        acq.append_child_value("adc_bits", str(stream.adc_bits))
    for key, value in extra.items():
        desc.append_child_value(key, value)


class LslOutlets:
    """The three outlets of one stream (one engine). :meth:`sink` is the engine sink for the raw
    and envelope streams; :meth:`push_marker` sends a marker at a sample index.

    ``outputs`` are the pipeline's output channels (``name``, ``kind``); ``processing`` is a
    one-line description of the envelope (band, RMS window) kept in its XML description.
    """

    def __init__(
        self,
        stream: StreamInfo,
        outputs: list[Any],
        clock: SampleClock,
        *,
        url: str = "",
        processing: str = "",
    ) -> None:
        import pylsl

        self.clock = clock
        self.fs_hz = stream.fs_hz
        self.info = stream
        self.samples_sent = 0
        self.envelope_sent = 0
        self.markers_sent = 0
        self._marker_lock = threading.Lock()
        self.closed = False
        # the exporter's scaling, loaded when LSL is switched on (not with every opened source)
        from biofeedback.storage.export import raw_uv

        self._raw_uv = raw_uv
        raw_labels = [ch.name for ch in stream.channels]
        env_labels = [str(o.name) for o in outputs]
        try:
            raw_info = pylsl.StreamInfo(
                RAW_NAME,
                "EMG",
                len(raw_labels),
                stream.fs_hz,
                pylsl.cf_float32,
                source_id("raw", url, raw_labels, stream.fs_hz),
            )
            _describe(raw_info, raw_labels, [str(ch.kind) for ch in stream.channels], stream, {})
            env_info = pylsl.StreamInfo(
                ENVELOPE_NAME,
                "EMG",
                len(env_labels),
                stream.fs_hz,
                pylsl.cf_float32,
                source_id("envelope", url, env_labels, stream.fs_hz),
            )
            _describe(
                env_info,
                env_labels,
                [f"{o.kind} rms" for o in outputs],
                stream,
                {"processing": processing},
            )
            marker_info = pylsl.StreamInfo(
                MARKERS_NAME,
                "Markers",
                1,
                pylsl.IRREGULAR_RATE,
                pylsl.cf_string,
                source_id("markers", url, raw_labels, stream.fs_hz),
            )
            self._raw: Any = pylsl.StreamOutlet(raw_info)
            self._env: Any = pylsl.StreamOutlet(env_info)
            self._markers: Any = pylsl.StreamOutlet(marker_info)
        except (RuntimeError, OSError, ValueError) as exc:
            raise BiofeedbackError(f"LSL streams could not be created: {exc}") from exc
        log.info("LSL outlets %s, %s, %s open", RAW_NAME, ENVELOPE_NAME, MARKERS_NAME)

    def sink(self, chunk: Chunk, processed: ProcessedChunk) -> None:
        """Engine sink: push the block to the raw and envelope outlets, stamped with the sample
        clock (the newest sample's time; liblsl spaces the others by ``1 / fs``)."""
        n = len(chunk)
        raw_outlet, env_outlet = self._raw, self._env
        if n == 0 or raw_outlet is None or env_outlet is None:  # closed
            return
        stamp = self.clock.time_of(chunk.end_index - 1)
        raw = self._raw_uv(self.info, chunk.samples).astype(np.float32)
        env = np.asarray(processed.envelope_uv, dtype=np.float32)
        try:
            raw_outlet.push_chunk(raw, stamp)
            env_outlet.push_chunk(env, stamp)
        except (RuntimeError, OSError, ValueError) as exc:
            raise BiofeedbackError(
                f"LSL streaming stopped ({exc}); the recording goes on without it"
            ) from exc
        self.samples_sent += n
        self.envelope_sent += len(env)

    def push_marker(self, text: str, index: int | None = None) -> None:
        """Send ``text`` on the markers stream, stamped with the time of sample ``index`` (now
        when None). Safe from any thread."""
        stamp = self.clock.now() if index is None else self.clock.time_of(index)
        if not math.isfinite(stamp):
            stamp = self.clock.now()
        with self._marker_lock:
            if self.closed:
                return
            try:
                self._markers.push_sample([text], stamp)
            except (RuntimeError, OSError, ValueError) as exc:
                log.error("LSL marker %r not sent: %s", text, exc)
                return
            self.markers_sent += 1

    def close(self) -> None:
        """Close the outlets (inlets see the streams end)."""
        with self._marker_lock:
            if self.closed:
                return
            self.closed = True
            # liblsl destroys an outlet (and closes its ports) when the last reference goes
            self._raw = self._env = self._markers = None
        log.info(
            "LSL outlets closed (%d samples, %d markers sent)", self.samples_sent, self.markers_sent
        )
