"""``lsl://``: another program's Lab Streaming Layer stream as the source (docs/interop.md).

``lsl://?name=NAME``, ``lsl://?type=EMG&source_id=ID``: the stream is found by its name, type,
source id or host (any combination; ``type=EMG`` when none is given) with LSL's resolver, which
sends UDP multicast queries on the local network; samples then come over one TCP connection to
the program that publishes the stream.

What the stream says is used: its nominal rate, channel count, channel labels and units (the
``desc/channels/channel/{label,unit}`` elements of the XDF meta-data conventions,
https://github.com/sccn/xdf/wiki/Meta-Data). ``units=`` states the units of a stream whose
description does not (it also overrides a description that is wrong).

Options: ``name``, ``type``, ``source_id``, ``hostname`` (what to look for), ``channels`` (which
channels, by 1-based number or label, default all), ``units`` (uV|mV|V), ``timeout`` (seconds to
look for the stream, default 5), ``reconnect_s`` (seconds a lost stream may stay away, default 30).

Sample indices come from the stream's timestamps (:class:`TimestampPlacer`), so samples the
sender never sent are gaps (NaN samples flagged missing), not silently closed. A stream that goes
away (its program quit, the network dropped) puts the source in the reconnecting state while it
is looked for again; after ``reconnect_s`` the stream ends with an error, and a recording stops
keeping what it has.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from biofeedback.core.types import ChannelInfo, ChannelKind, StreamInfo
from biofeedback.devices.base import (
    MAX_RECONNECT_S,
    DeviceState,
    ThreadedDevice,
    check_reconnect_s,
)
from biofeedback.devices.facts_types import SourceFacts
from biofeedback.devices.rate_check import RateVerdict
from biofeedback.devices.source_url import SourceURL
from biofeedback.devices.stream_index import StreamIndexer
from biofeedback.errors import DeviceError, SourceURLError

log = logging.getLogger(__name__)

#: Seconds a lost stream may stay away before the source ends with an error.
DEFAULT_RECONNECT_S = 30.0
#: Seconds to look for the stream when opening.
DEFAULT_TIMEOUT_S = 5.0
#: Silence after which the source reports that it is waiting for the stream.
SILENCE_S = 5.0
#: After one stream answered, how long to wait for a second that would make the URL ambiguous
#: (liblsl asks again every half second or so).
AMBIGUITY_WAIT_S = 1.0
#: How often the inlet is polled for new samples (seconds): the latency this adds.
POLL_S = 0.01
#: Largest pull per poll, samples.
MAX_PULL = 4096
#: Microvolts per unit, by the unit texts LSL streams use (lower case).
UNIT_SCALE_UV = {
    "uv": 1.0,
    "µv": 1.0,
    "μv": 1.0,
    "microvolt": 1.0,
    "microvolts": 1.0,
    "mv": 1e3,
    "millivolt": 1e3,
    "millivolts": 1e3,
    "v": 1e6,
    "volt": 1e6,
    "volts": 1e6,
}
#: The short unit names of :data:`UNIT_SCALE_UV`'s scales.
_UNIT_NAME = {1.0: "uV", 1e3: "mV", 1e6: "V"}
#: The ``type=`` looked for when the URL names no stream.
DEFAULT_TYPE = "EMG"
LIST_HINT = "list the streams LSL sees with `biofeedback devices --lsl`"
#: liblsl's code of the text channel format (``pylsl.cf_string``).
CF_STRING = 3
#: Numpy dtypes of LSL's numeric channel formats (liblsl's cf_* codes; 3 is text).
_DTYPES: dict[int, type] = {
    1: np.float32,
    2: np.float64,
    4: np.int32,
    5: np.int16,
    6: np.int8,
    7: np.int64,
}


#: liblsl's configuration files, in the order it looks for them (besides ``LSLAPICFG``).
LSL_CONFIG_FILES = ("lsl_api.cfg", "~/lsl_api/lsl_api.cfg", "/etc/lsl_api/lsl_api.cfg")
#: Used when the user has no liblsl configuration: liblsl's defaults, logging errors only (its
#: default also logs information lines on stderr, which would mix with ``--json`` output).
QUIET_CONFIG = "[log]\nlevel = -2\n"
_configured = False


def _pylsl() -> Any:
    """pylsl, or a DeviceError saying why it cannot load (liblsl missing on this platform).

    Without a liblsl configuration of the user's (``LSLAPICFG`` or one of
    :data:`LSL_CONFIG_FILES`), liblsl's log is limited to errors before its first use."""
    global _configured
    try:
        import pylsl
    except (ImportError, RuntimeError, OSError) as exc:
        raise DeviceError(f"LSL is not available on this computer ({exc})") from None
    if not _configured:
        _configured = True
        import os
        from pathlib import Path

        own = os.environ.get("LSLAPICFG") or any(
            Path(p).expanduser().is_file() for p in LSL_CONFIG_FILES
        )
        if not own and hasattr(pylsl, "set_config_content"):
            pylsl.set_config_content(QUIET_CONFIG)
    return pylsl


def unit_scale(unit: str) -> float | None:
    """Microvolts per unit for an LSL unit text (``microvolts``, ``uV``, ``mV``...), or None."""
    return UNIT_SCALE_UV.get(unit.strip().lower())


@dataclass(frozen=True)
class StreamQuery:
    """What identifies the stream: any of name, type, source id and host."""

    name: str | None = None
    type: str | None = None
    source_id: str | None = None
    hostname: str | None = None

    def fields(self) -> dict[str, str]:
        """The given fields, in LSL's names."""
        pairs = {
            "name": self.name,
            "type": self.type,
            "source_id": self.source_id,
            "hostname": self.hostname,
        }
        return {k: v for k, v in pairs.items() if v is not None}

    def predicate(self) -> str:
        """The XPath predicate liblsl resolves by (``name='X' and type='EMG'``)."""
        return " and ".join(f"{k}={_xpath_literal(v)}" for k, v in self.fields().items())

    def describe(self) -> str:
        """``name 'X', type 'EMG'`` for messages."""
        return ", ".join(f"{k} {v!r}" for k, v in self.fields().items())


def _xpath_literal(value: str) -> str:
    """A quoted XPath 1.0 string literal (which has no escapes: a value holding both quote
    characters is refused when the URL is read)."""
    return f'"{value}"' if "'" in value else f"'{value}'"


def describe_stream(info: Any) -> str:
    """One line about a resolved ``pylsl.StreamInfo``: name, type, channels, rate, host, id."""
    sid = info.source_id()
    return (
        f"{info.name()!r} (type {info.type()}, {info.channel_count()} ch at "
        f"{info.nominal_srate():g} Hz, on {info.hostname()}"
        + (f", source_id {sid}" if sid else "")
        + ")"
    )


def stream_url(info: Any) -> str:
    """The ``lsl://`` URL that names a resolved stream."""
    from urllib.parse import urlencode

    query = {"name": info.name()}
    if info.source_id():
        query["source_id"] = info.source_id()
    return "lsl://?" + urlencode(query)


def list_streams(timeout_s: float = 2.0, stream_type: str | None = DEFAULT_TYPE) -> list[Any]:
    """Resolved stream infos LSL sees within ``timeout_s`` (of ``stream_type``; all if None)."""
    pylsl = _pylsl()
    if stream_type is None:
        return list(pylsl.resolve_streams(wait_time=timeout_s))
    return list(pylsl.resolve_byprop("type", stream_type, minimum=0, timeout=timeout_s))


def _channel_fields(info: Any, n: int) -> tuple[list[str], list[str]]:
    """Per channel, the label and unit texts of the stream's description ('' where missing)."""
    labels = [""] * n
    units = [""] * n
    channel = info.desc().child("channels").child("channel")
    k = 0
    while not channel.empty() and k < n:
        labels[k] = channel.child_value("label").strip()
        units[k] = channel.child_value("unit").strip()
        channel = channel.next_sibling("channel")
        k += 1
    return labels, units


class TimestampPlacer:
    """Sample numbers from a stream's timestamps, so that samples never sent leave gaps.

    Each sample is expected one period after the previous one, at the earliest (a lower
    envelope of the timestamps that creeps forward by :attr:`CREEP` of a period per sample, so a
    sender whose clock runs up to 0.1 % slow is followed without false gaps). A sample stamped
    later than expected by more than half a period plus the usual lateness (3x its running
    mean, for senders that stamp bunches of samples as they arrive) starts after
    ``round(lateness x rate)`` missing samples. For the first :attr:`WARMUP_S` seconds the
    usual lateness is only learnt: jumps shorter than :attr:`WARMUP_MAX_S` are not gaps.
    """

    CREEP = 1e-3
    #: A timestamp this much earlier than expected (seconds) means the sender's clock changed
    #: (a restarted program on another computer): numbering goes on and :attr:`restarted` is set.
    CLOCK_JUMP_S = 1.0
    WARMUP_S = 2.0
    WARMUP_MAX_S = 0.25

    def __init__(self, fs_hz: float) -> None:
        self.period = 1.0 / fs_hz
        self.next: int | None = None
        self.warmup = round(self.WARMUP_S * fs_hz)
        self.expected = 0.0
        self.lateness = 0.0
        #: The last :meth:`place` met a clock jump: place what follows by arrival time instead.
        self.restarted = False

    def tolerance(self) -> float:
        """Lateness beyond which samples are taken as missing, seconds."""
        return 0.5 * self.period + 3.0 * self.lateness

    def place(self, stamps: np.ndarray) -> list[tuple[int, int, int]]:
        """Runs ``(sample number, lo, hi)``: rows ``lo:hi`` are consecutive from that number."""
        runs: list[tuple[int, int, int]] = []
        if len(stamps) == 0:
            return runs
        if self.next is None:
            self.next, self.expected = 0, float(stamps[0])
        start, lo = self.next, 0
        step = self.period * (1.0 + self.CREEP)
        self.restarted = False
        for i, t in enumerate(stamps.tolist()):
            late = t - self.expected
            if late < -self.CLOCK_JUMP_S:
                self.restarted = True
                base = t
            elif late > self.tolerance() and (self.next >= self.warmup or late > self.WARMUP_MAX_S):
                if i > lo:
                    runs.append((start, lo, i))
                self.next += round(late / self.period)
                start, lo = self.next, i
                base = t
            else:
                if late > 0:
                    self.lateness += (late - self.lateness) * 0.01
                base = min(t, self.expected)
            self.expected = base + step
            self.next += 1
        runs.append((start, lo, len(stamps)))
        return runs


class LSLDevice(ThreadedDevice):
    """An LSL stream read through one inlet; see the module docstring for the options."""

    scheme = "lsl"
    kind_label = "LSL stream"
    # another program's stream: it may come from electrodes on a person (on_body stays True)
    url_options = (
        "name",
        "type",
        "source_id",
        "hostname",
        "units",
        "channels",
        "timeout",
        "reconnect_s",
    )

    @classmethod
    def facts(cls, url: SourceURL) -> SourceFacts:
        """On a body, its own ADC; labelled by the stream's name, id or type."""
        which = next(
            (url.params[k] for k in ("name", "source_id", "type") if url.params.get(k)),
            DEFAULT_TYPE,
        )
        return replace(cls.class_facts(url.text), label=f"{cls.kind_label} {which}")

    def __init__(
        self,
        query: StreamQuery,
        *,
        channels: list[str] | None = None,
        units: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        reconnect_s: float = DEFAULT_RECONNECT_S,
        url: str = "",
    ) -> None:
        super().__init__(url or "lsl://")
        self.query = query
        self.channel_choice = channels
        self.units = units
        self.timeout_s = timeout_s
        self.reconnect_s = reconnect_s
        self.indexer = StreamIndexer(self._emit, self.stats, note=self._note)
        self.placer: TimestampPlacer | None = None
        #: Columns of the stream that become our channels.
        self.columns: list[int] = []
        self._inlet: Any = None
        self._stream: Any = None  # the resolved pylsl.StreamInfo
        self._buffer: np.ndarray | None = None

    @classmethod
    def from_url(cls, url: SourceURL) -> LSLDevice:
        """Build from a parsed ``lsl://`` URL (options in the module docstring)."""
        if url.path:
            raise SourceURLError(
                f"{url.text}: name the stream with options, e.g. lsl://?name={url.path} "
                "or lsl://?type=EMG"
            )
        values = {k: url.get_str(k) for k in ("name", "type", "source_id", "hostname")}
        for key, value in values.items():
            if value is not None and (("'" in value and '"' in value) or not value.strip()):
                raise SourceURLError(
                    f"{url.text}: {key}= must be non-empty and hold at most one kind of quote"
                )
        if not any(v is not None for v in values.values()):
            values["type"] = DEFAULT_TYPE
        units = url.get_str("units")
        if units is not None and unit_scale(units) is None:
            raise SourceURLError(f"{url.text}: units={units!r}: use uV, mV or V")
        channels = url.get_list("channels")
        timeout = url.get_float("timeout", DEFAULT_TIMEOUT_S, lo=0.1, hi=600.0)
        reconnect_s = url.get_float("reconnect_s", DEFAULT_RECONNECT_S, lo=0.0, hi=MAX_RECONNECT_S)
        return cls(
            StreamQuery(**values),
            channels=channels or None,
            units=units,
            timeout_s=DEFAULT_TIMEOUT_S if timeout is None else timeout,
            reconnect_s=DEFAULT_RECONNECT_S if reconnect_s is None else reconnect_s,
            url=url.text,
        )

    def set_reconnect_window(self, seconds: float | None) -> None:
        """How long a lost stream may stay away before the source ends (None: keep it)."""
        if seconds is not None:
            self.reconnect_s = check_reconnect_s(seconds)

    def rate_problem(self, verdict: RateVerdict) -> str:
        """What was measured, naming the stream."""
        return verdict.describe(f"the LSL stream ({self.query.describe()})")

    def rate_advice(self, verdict: RateVerdict) -> str:
        """What to do about a stream off its declared rate."""
        return "the sending program's nominal rate does not match what it sends; check its settings"

    def _note(self, message: str) -> None:
        self.last_message = message

    # ---- open / close ----------------------------------------------------------------------

    def _resolve(self, timeout_s: float, minimum: int = 1) -> list[Any]:
        pylsl = _pylsl()
        pred = self.query.predicate()
        return list(pylsl.resolve_bypred(pred, minimum=minimum, timeout=timeout_s))

    def _connect(self, stream: Any, timeout_s: float) -> None:
        """Open an inlet on a resolved stream (DeviceError if it does not answer)."""
        pylsl = _pylsl()
        inlet = pylsl.StreamInlet(stream, max_buflen=60, recover=False)
        try:
            inlet.open_stream(timeout=timeout_s)
            full = inlet.info(timeout=timeout_s)  # with the description (resolve omits it)
        except RuntimeError as exc:  # pylsl's TimeoutError and LostError are RuntimeErrors
            inlet.close_stream()
            raise DeviceError(
                f"{self.url}: the stream {describe_stream(stream)} does not answer ({exc})"
            ) from None
        self._inlet, self._stream = inlet, full

    def open(self) -> StreamInfo:
        """Find the stream, connect to it and read its format."""
        found = self._resolve(self.timeout_s)
        if len(found) == 1:  # resolving stops at the first answer: give others a moment
            found = self._resolve(AMBIGUITY_WAIT_S, minimum=2) or found
        if not found:
            raise DeviceError(
                f"{self.url}: no LSL stream with {self.query.describe()} found within "
                f"{self.timeout_s:g} s; {LIST_HINT}"
            )
        if len(found) > 1:
            raise DeviceError(
                f"{self.url}: {len(found)} LSL streams match ("
                + "; ".join(describe_stream(s) for s in found)
                + "): add name= or source_id= to choose one"
            )
        self._connect(found[0], self.timeout_s)
        try:
            info = self._stream_info(self._stream)
        except BaseException:
            self._disconnect()
            raise
        self.placer = TimestampPlacer(info.fs_hz)
        self.info = self.indexer.info = info
        return info

    def _stream_info(self, stream: Any) -> StreamInfo:
        where = f"{self.url}: the stream {describe_stream(stream)}"
        fs = float(stream.nominal_srate())
        if not fs > 0:
            raise DeviceError(f"{where} has no regular rate (irregular streams carry markers)")
        fmt = stream.channel_format()
        if fmt == CF_STRING:
            raise DeviceError(f"{where} carries text, not samples (markers: --lsl-markers)")
        n = int(stream.channel_count())
        labels, units = _channel_fields(stream, n)
        self.columns = self._choose_columns(labels, n, where)
        channels = []
        unit_names = set()
        for col in self.columns:
            scale = self._scale(units[col], col, where)
            unit_names.add(_UNIT_NAME[scale])
            name = labels[col] or f"ch{col + 1}"
            channels.append(ChannelInfo(name, ChannelKind.RAW, 1.0, scale))
        self._buffer = np.zeros((MAX_PULL, n), dtype=_DTYPES.get(fmt, np.float64))
        extra = {
            "lsl_name": stream.name(),
            "lsl_type": stream.type(),
            "lsl_source_id": stream.source_id(),
            "lsl_hostname": stream.hostname(),
            "lsl_uid": stream.uid(),
        }
        if self.units is not None:
            extra["units_from"] = "url"
        return StreamInfo(
            fs_hz=fs,
            channels=tuple(channels),
            units=unit_names.pop() if len(unit_names) == 1 else "uV",
            device=f"LSL stream {stream.name()!r} on {stream.hostname()}",
            realtime=True,
            extra=extra,
        )

    def _choose_columns(self, labels: list[str], n: int, where: str) -> list[int]:
        if not self.channel_choice:
            return list(range(n))
        columns = []
        for item in self.channel_choice:
            if item in labels:
                columns.append(labels.index(item))
            elif item.isdigit() and 1 <= int(item) <= n:
                columns.append(int(item) - 1)
            else:
                named = ", ".join(label for label in labels if label) or "none"
                raise SourceURLError(
                    f"{where}: channels={item!r} is not one of its channels: give 1 to {n} "
                    f"or a label (labels: {named})"
                )
        return columns

    def _scale(self, unit: str, col: int, where: str) -> float:
        if self.units is not None:
            given = unit_scale(self.units)
            assert given is not None  # checked when the URL was read
            if unit and unit_scale(unit) not in (None, given):
                log.warning(
                    "%s: channel %d says %r; using units=%s", where, col + 1, unit, self.units
                )
            return given
        scale = unit_scale(unit) if unit else None
        if scale is None:
            said = f"says its unit is {unit!r}" if unit else "does not state its units"
            raise SourceURLError(
                f"{where}: channel {col + 1} {said}; add units=uV (or mV, V) to the URL"
            )
        return scale

    def _disconnect(self) -> None:
        inlet, self._inlet = self._inlet, None
        if inlet is not None:
            try:
                inlet.close_stream()
            except RuntimeError as exc:  # closing a lost stream can fail; nothing left to release
                log.debug("%s: closing the inlet: %s", self.url, exc)

    def close(self) -> None:
        """Stop and close the inlet."""
        self.stop()
        self._disconnect()

    # ---- streaming -------------------------------------------------------------------------

    def _run(self) -> bool:
        pylsl = _pylsl()
        # pylsl's LostError (pylsl.util in 1.17+, the package top in 1.16) is a RuntimeError
        util = getattr(pylsl, "util", pylsl)
        lost_error: type[Exception] = getattr(util, "LostError", RuntimeError)
        last_data = time.monotonic()
        waiting = False
        while not self._stop_event.is_set():
            try:
                got = self._pull()
            except lost_error:
                if not self._reconnect(
                    "the stream was lost (its program quit or the network dropped)"
                ):
                    return False
                last_data, waiting = time.monotonic(), False
                continue
            now = time.monotonic()
            if got:
                if waiting:
                    self._set_state(
                        DeviceState.CONNECTED,
                        f"data again after {now - last_data:.1f} s; the gap is marked as missing samples",
                    )
                last_data, waiting = now, False
                continue
            silent = now - last_data
            if silent > self.reconnect_s:
                raise DeviceError(self._gone_message())
            if silent > SILENCE_S and not waiting:
                waiting = True
                self._set_state(
                    DeviceState.RECONNECTING,
                    f"{self.url}: no data for {silent:.0f} s; waiting up to {self.reconnect_s:g} s",
                )
            self._stop_event.wait(POLL_S)
        return False

    def _pull(self) -> int:
        """Hand on what the inlet holds; the number of samples."""
        inlet, buffer, placer = self._inlet, self._buffer, self.placer
        assert inlet is not None and buffer is not None and placer is not None
        _, stamps = inlet.pull_chunk(timeout=0.0, max_samples=MAX_PULL, dest_obj=buffer)
        n = len(stamps)
        if n == 0:
            return 0
        rows = buffer[:n, self.columns].astype(np.float64)
        now = time.monotonic()
        runs = placer.place(np.asarray(stamps, dtype=np.float64))
        if placer.restarted:
            self.indexer.rebase = True  # the sender's clock changed: the gap comes from time
        for first, lo, hi in runs:
            self.indexer.block(first, rows[lo:hi], now)
        return n

    def _gone_message(self) -> str:
        return (
            f"the LSL stream ({self.query.describe()}) has been gone for {self.reconnect_s:g} s: "
            "check the program that sends it, then start a new recording"
        )

    def _reconnect(self, reason: str) -> bool:
        """Look for the stream again until it is back (True), stopped (False) or the window is
        over (DeviceError)."""
        self._disconnect()
        self.stats.reconnects += 1
        lost_at = time.monotonic()
        deadline = lost_at + self.reconnect_s
        self._set_state(
            DeviceState.RECONNECTING,
            f"{self.url}: {reason}; looking for it for up to {self.reconnect_s:g} s",
        )
        while not self._stop_event.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                raise DeviceError(self._gone_message())
            found = self._resolve(min(1.0, left))
            if not found:
                continue
            try:
                self._connect(found[0], min(2.0, max(0.1, left)))
                self._check_same(self._stream)
            except DeviceError as exc:
                log.info("%s: reconnect attempt: %s", self.url, exc)
                self._disconnect()
                self._stop_event.wait(min(0.5, max(0.0, left)))
                continue
            self._set_state(
                DeviceState.CONNECTED,
                f"{self.url}: the stream is back after {time.monotonic() - lost_at:.1f} s; "
                "the gap is marked as missing samples",
            )
            return True
        return False

    def _check_same(self, stream: Any) -> None:
        """A stream found again must have the rate and channels this session started with."""
        info = self.info
        assert info is not None
        n = int(stream.channel_count())
        dtype = _DTYPES.get(int(stream.channel_format()))
        buffer = self._buffer
        same_format = buffer is not None and dtype is not None and buffer.dtype == np.dtype(dtype)
        if float(stream.nominal_srate()) != info.fs_hz or max(self.columns) >= n or not same_format:
            raise DeviceError(
                f"{self.url}: the stream came back as {describe_stream(stream)}, "
                f"not {info.fs_hz:g} Hz with these channels"
            )
        self._buffer = np.zeros((MAX_PULL, n), dtype=dtype)
