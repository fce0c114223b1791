"""A small XDF 1.0 writer for tests, following the chunk layout of the XDF specification
(https://github.com/sccn/xdf/wiki/Specifications): the magic ``XDF:``, then chunks of
``[NumLengthBytes][Length][Tag u16][Content]``; FileHeader (tag 1), StreamHeader (2), Samples (3),
ClockOffset (4) and StreamFooter (6), as LabRecorder writes them."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

_FORMATS = {"float32": "<f4", "double64": "<f8", "int16": "<i2", "int32": "<i4"}


def _varlen(n: int) -> bytes:
    if n < 256:
        return b"\x01" + struct.pack("<B", n)
    if n < 2**32:
        return b"\x04" + struct.pack("<I", n)
    return b"\x08" + struct.pack("<Q", n)


def _chunk(tag: int, content: bytes) -> bytes:
    body = struct.pack("<H", tag) + content
    return _varlen(len(body)) + body


@dataclass
class XdfStream:
    """One stream: numeric samples ``values`` [n, ch] at ``stamps``, or text markers."""

    name: str
    type: str
    srate: float
    fmt: str
    stamps: list[float]
    values: list[list[str]] | np.ndarray
    labels: list[str] = field(default_factory=list)
    units: list[str] = field(default_factory=list)

    @property
    def channel_count(self) -> int:
        if self.fmt == "string":
            return len(self.values[0]) if len(self.values) else 1
        return int(np.asarray(self.values).shape[1])

    def header_xml(self) -> bytes:
        channels = "".join(
            f"<channel><label>{escape(label)}</label><unit>{escape(unit)}</unit>"
            "<type>EMG</type></channel>"
            for label, unit in zip(self.labels, self.units, strict=False)
        )
        desc = f"<desc><channels>{channels}</channels></desc>" if channels else "<desc/>"
        return (
            '<?xml version="1.0"?><info>'
            f"<name>{escape(self.name)}</name><type>{escape(self.type)}</type>"
            f"<channel_count>{self.channel_count}</channel_count>"
            f"<nominal_srate>{self.srate}</nominal_srate>"
            f"<channel_format>{self.fmt}</channel_format>"
            f"<source_id>{escape(self.name)}-1</source_id><version>1.1</version>"
            f"<created_at>{self.stamps[0] if self.stamps else 0}</created_at>"
            f"<uid>{escape(self.name)}-uid</uid><session_id>default</session_id>"
            f"<hostname>testhost</hostname>{desc}</info>"
        ).encode()

    def sample_bytes(self, a: int, b: int) -> bytes:
        out = [_varlen(b - a)]
        for k in range(a, b):
            out.append(b"\x08" + struct.pack("<d", self.stamps[k]))
            if self.fmt == "string":
                for text in self.values[k]:
                    raw = str(text).encode()
                    out.append(_varlen(len(raw)) + raw)
            else:
                row = np.asarray(self.values[k], dtype=_FORMATS[self.fmt])
                out.append(row.tobytes())
        return b"".join(out)


def write_xdf(
    path: Path, streams: list[XdfStream], datetime_text: str, chunk_samples: int = 250
) -> None:
    """Write ``streams`` as LabRecorder does: header, stream headers, interleaved sample chunks,
    two clock offsets per stream (zero offset), footers."""
    parts = [b"XDF:"]
    parts.append(
        _chunk(
            1,
            f'<?xml version="1.0"?><info><version>1.0</version>'
            f"<datetime>{datetime_text}</datetime></info>".encode(),
        )
    )
    for sid, stream in enumerate(streams, start=1):
        parts.append(_chunk(2, struct.pack("<I", sid) + stream.header_xml()))
    longest = max(len(s.stamps) for s in streams)
    for a in range(0, longest, chunk_samples):
        for sid, stream in enumerate(streams, start=1):
            b = min(len(stream.stamps), a + chunk_samples)
            if b > a:
                parts.append(_chunk(3, struct.pack("<I", sid) + stream.sample_bytes(a, b)))
    for sid, stream in enumerate(streams, start=1):
        t = stream.stamps[0] if stream.stamps else 0.0
        for when in (t, t + 5.0):
            parts.append(_chunk(4, struct.pack("<I", sid) + struct.pack("<dd", when, 0.0)))
    for sid, stream in enumerate(streams, start=1):
        first = stream.stamps[0] if stream.stamps else 0.0
        last = stream.stamps[-1] if stream.stamps else 0.0
        footer = (
            '<?xml version="1.0"?><info>'
            f"<first_timestamp>{first}</first_timestamp><last_timestamp>{last}</last_timestamp>"
            f"<sample_count>{len(stream.stamps)}</sample_count></info>"
        ).encode()
        parts.append(_chunk(6, struct.pack("<I", sid) + footer))
    path.write_bytes(b"".join(parts))
