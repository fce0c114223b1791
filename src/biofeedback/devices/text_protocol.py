"""TextProtocol: numbers per line, as the stock SparkFun/MyoWare example sketches print them.

No rate, no framing, no sample numbers. The user says which board it is and what the columns
are (``board=``, ``channels=``); the rate is either given (``fs=``) or estimated from the lines'
arrival times while opening (:func:`estimate_rate`), and then reported with
``fs_estimated=True``. Lines that arrive during that calibration are delivered first when the
stream starts. After a reconnect the time away becomes a gap estimated from the clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from biofeedback.core import hardware
from biofeedback.core.types import ChannelKind, StreamInfo
from biofeedback.devices import wire
from biofeedback.devices.protocol import Protocol, channel_infos
from biofeedback.devices.rate_check import RateVerdict
from biofeedback.errors import DeviceError

TEXT_BAUD = 115_200


@dataclass
class _Calibration:
    """Lines read while opening: (arrival time, rows) and (arrival time, lines so far)."""

    rows: list[tuple[float, np.ndarray]] = field(default_factory=list)
    arrivals: list[tuple[float, int]] = field(default_factory=list)
    total: int = 0
    waited_s: float = 0.0


class TextProtocol(Protocol):
    """A sketch printing numbers per line; see the module docstring."""

    name = "text"
    default_baud = TEXT_BAUD

    def _setup(self) -> None:
        request = self.request
        n_cols = len(request.channels) if request.channels is not None else None
        self.decoder = wire.TextDecoder(n_columns=n_cols)
        self._pending: list[tuple[float, np.ndarray]] = []

    def open(self) -> StreamInfo:
        """Read lines for a while: how many columns, and (unless ``fs=`` is given) how fast."""
        req = self.request
        board = hardware.board(req.board or "uno").with_bits(req.adc_bits)
        cal = self._calibrate()
        if cal.total == 0:
            raise self._no_lines(cal.waited_s)
        width = self.decoder.n_columns or 0
        kinds = list(req.channels) if req.channels is not None else default_kinds(width, self.port)
        if len(kinds) != width:
            raise DeviceError(
                f"{self.port} prints {width} value(s) per line but channels= names {len(kinds)}"
            )
        if req.fs_hz is not None:
            fs, estimated = float(req.fs_hz), False
        else:
            rate = estimate_rate(cal.arrivals)
            if rate is None:
                raise DeviceError(
                    f"too few lines from {self.port} to estimate the rate: give it, e.g. &fs=20"
                )
            fs, estimated = rate, True
        self._pending = cal.rows
        channels = channel_infos(
            tuple(kinds),
            tuple([None] * width),
            board.vref_v,
            board.adc_bits,
            req.pot_kohm,
            req.raw_gain,
        )
        return StreamInfo(
            fs_hz=fs,
            channels=channels,
            adc_bits=board.adc_bits,
            vref_v=board.vref_v,
            units="counts",
            board=board.key,
            device=f"{self.port} (text)",
            realtime=True,
            fs_estimated=estimated,
            extra={"port": self.port, "format": "text", "calibration_lines": str(cal.total)},
        )

    def _calibrate(self) -> _Calibration:
        """Read until the rate can be estimated (or is given and a line came), or time is up."""
        req = self.request
        cal = _Calibration()
        start = self.clock.now()
        deadline = start + max(req.open_timeout_s, req.calibrate_s)
        while True:
            now = self.clock.now()
            data = self.link.read()
            if data:
                rows = self.decoder.feed(data)
                if len(rows):
                    t = self.clock.now()
                    cal.rows.append((t, rows))
                    cal.total += len(rows)
                    cal.arrivals.append((t, cal.total))
            if req.fs_hz is not None and cal.total > 0:
                break
            arrivals = cal.arrivals
            if arrivals and now - arrivals[0][0] >= req.calibrate_s and len(arrivals) >= 3:
                break
            if now >= deadline:
                break
        cal.waited_s = deadline - start
        return cal

    def _no_lines(self, waited_s: float) -> DeviceError:
        """Why no line of numbers came: silence (baud? sketch?) or something else."""
        stats = self.decoder.stats
        baud = self.link.baud
        if stats.bytes == 0:
            return DeviceError(
                f"no data from {self.port} in {waited_s:.0f} s: is the board connected "
                f"and its sketch printing? Check the baud rate (stock examples use 115200 or "
                f"9600: add &baud=9600); this URL uses {baud}"
            )
        return DeviceError(
            f"{self.port} sends data but no lines of numbers ({stats.bytes} bytes, "
            f"{stats.bad_lines} other lines): wrong baud rate ({baud})? If it runs "
            "the biofeedback firmware, drop format=text"
        )

    def start(self) -> None:
        """Deliver the lines read while calibrating."""
        for t, rows in self._pending:
            self.indexer.last_arrival = t
            self.indexer.emit_rows(self.indexer.next_index, rows)
        self._pending.clear()

    def feed(self, data: bytes, now: float) -> None:
        """Parse lines; rows to the indexer, bad lines to the stats."""
        rows = self.decoder.feed(data)
        stats = self.decoder.stats
        self.stats.extra["text_bad_lines"] = float(stats.bad_lines)
        self.stats.extra["text_wrong_width"] = float(stats.wrong_width)
        self.stats.frame_errors = stats.bad_lines + stats.wrong_width
        if len(rows):
            self.indexer.rows(rows, now)

    def resume(self) -> None:
        """A reopened port starts mid-line: drop the partial line; place the next by time."""
        self.decoder.reset()
        self.indexer.rebase = True

    def rate_advice(self, verdict: RateVerdict, info: StreamInfo) -> str:
        """A sketch's rate comes from its delay(): give the real one, or use our firmware."""
        if info.fs_estimated:
            return "the sketch's rate changed after it was measured: fix its delay() and reconnect"
        return (
            f"give the rate it really prints (fs={verdict.measured_hz:.0f} in the URL) or "
            "flash firmware/biofeedback for an exact, timer-driven rate"
        )


def default_kinds(width: int, port: str) -> list[ChannelKind]:
    """What the columns of a stock example are when ``channels=`` is not given."""
    if width == 1:
        return [ChannelKind.ENV]  # the stock examples print one analogRead of the ENV pin
    if width == 3:
        return [ChannelKind.RAW, ChannelKind.ENV, ChannelKind.REF]
    raise DeviceError(
        f"{port} prints {width} values per line: say what they are, e.g. &channels=raw,env"
    )


def estimate_rate(arrivals: list[tuple[float, int]]) -> float | None:
    """Lines per second from (arrival time, cumulative lines) pairs: least squares slope, which
    tolerates the bursts USB serial delivers lines in."""
    if len(arrivals) < 3:
        return None
    t = np.array([a[0] for a in arrivals])
    n = np.array([a[1] for a in arrivals], dtype=float)
    if t[-1] - t[0] <= 0:
        return None
    slope = float(np.polyfit(t - t[0], n, 1)[0])
    if not math.isfinite(slope) or slope <= 0:
        return None
    return slope
