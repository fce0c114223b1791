"""Shared vocabulary of the project: numpy only, no I/O, no threads beyond locks."""

from biofeedback.core.clock import Clock, FakeClock, MonotonicClock, Pacer
from biofeedback.core.ringbuffer import RingBuffer, RingReader
from biofeedback.core.types import (
    ChannelInfo,
    ChannelKind,
    Chunk,
    Flag,
    ProcessedChunk,
    StreamInfo,
    counts_to_uv_scale,
)

__all__ = [
    "ChannelInfo",
    "ChannelKind",
    "Chunk",
    "Clock",
    "FakeClock",
    "Flag",
    "MonotonicClock",
    "Pacer",
    "ProcessedChunk",
    "RingBuffer",
    "RingReader",
    "StreamInfo",
    "counts_to_uv_scale",
]
