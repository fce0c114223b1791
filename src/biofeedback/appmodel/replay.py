"""Replaying a stored session: play, pause, seek, speed and phase jumps, with its own targets.

:class:`ReplayModel` is what the replay window shows and does, without Qt. It reads a stored
session once and keeps, per output channel, one *column* of :data:`COLUMN_S` (10 ms) of the
session's processed signal: the filtered signal's minimum and maximum (the raw trace), the
envelope's maximum (the envelope trace and the gauge's trail) and last value (the gauge's bar),
and the quality bits. The samples go through the session's own pipeline exactly as it ran live
(:func:`biofeedback.storage.reprocess.iter_processed`, with measured noise floors applied where
the session applied them), not through the stored envelope overview: the overview keeps one
mean per 100 ms bin, too coarse for the traces and blind to the quality bits of each sample.

The targets are the session's own: its threshold log, as the training protocol set them at each
sample (start target, shaping, clinician overrides), never today's preferences. The store keeps
the protocol's one target, which applies to the channel the protocol scored (the session
summary's ``scored_channel``; every channel for ``"max"`` / ``"mean"``). A recording without a
protocol stored no target: then no channel has one, and the window says so.

Time in target is counted at full rate while loading: a sample counts when it lies in an EMG
phase (not a step), a target is in force, it is unflagged and finite; it is *in target* when its
envelope is below the target, as the runner scored it (``pct_below``). Counts are kept per
column, so a query is exact at 10 ms steps. Pauses of a live session are not stored, so their
samples count here.

Time ``t`` is seconds from the session's first stored sample. :meth:`ReplayModel.tick` advances
the position by ``wall_dt x speed`` while playing; the window calls it from a timer.
"""

from __future__ import annotations

import logging
import math
import warnings
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from biofeedback.appmodel.events import Signal
from biofeedback.core.types import ChannelKind, ProcessedChunk
from biofeedback.errors import StorageError
from biofeedback.storage.database import Database, SessionRecord, existing_database_path

log = logging.getLogger(__name__)

#: Length of one display column, seconds (100 columns per second: one per pixel or better in a
#: 10-second window up to 1000 px wide).
COLUMN_S = 0.01
#: The speeds the window offers.
SPEEDS = (0.5, 1.0, 2.0, 4.0, 8.0)
#: Seconds of signal in the traces, as in the live window.
WINDOW_S = 10.0
#: Seconds of envelope in the gauge's trail.
TRAIL_S = 3.0
#: Phase kinds without an EMG target (their samples are never scored).
STEP_KINDS = frozenset({"education", "thought-record", "reflection"})
#: Marker labels that are bookkeeping, not events a clinician marked.
HIDDEN_MARKERS = frozenset({"noise floor applied"})


@dataclass(frozen=True)
class ReplayPhase:
    """One stored phase on the replay's time axis."""

    index: int
    name: str
    kind: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class ReplayMarker:
    """A marker on the replay's time axis."""

    t_s: float
    label: str
    note: str = ""


@dataclass(frozen=True)
class TargetChange:
    """From ``t_s`` on, ``channel``'s target is ``value_uv`` (the session's threshold log)."""

    t_s: float
    index: int
    channel: int
    value_uv: float
    reason: str


@dataclass(frozen=True)
class ReplayChannel:
    """An output channel: its name and whether it has a raw trace (an ENV output has none)."""

    name: str
    kind: str
    show_raw: bool


@dataclass(frozen=True)
class TraceWindow:
    """What the traces draw at one position: ``columns`` columns ending at the position.

    ``t_columns_s`` (seconds before the position, <= 0) and per channel ``envelope_uv``
    [k, columns]; ``t_peaks_s`` and ``signal_uv`` [k, 2 x columns] are interleaved (min, max)
    pairs. ``end_column`` is the running column count (the live traces' scroll counter).
    Columns before the session's start are NaN.
    """

    t_columns_s: np.ndarray
    t_peaks_s: np.ndarray
    signal_uv: np.ndarray
    envelope_uv: np.ndarray
    end_column: int


@dataclass(frozen=True)
class TimeInTarget:
    """Seconds in target and seconds scored (unflagged, target in force, in an EMG phase)."""

    in_target_s: float
    scored_s: float

    @property
    def pct(self) -> float | None:
        """Percent of the scored time in target (None before anything was scored)."""
        return 100.0 * self.in_target_s / self.scored_s if self.scored_s > 0 else None


@dataclass
class ReplayData:
    """A session read once: its columns and what lies on its time axis."""

    session_id: int
    label: str
    fs_hz: float
    first_index: int
    column_samples: int
    channels: list[ReplayChannel]
    sig_min: np.ndarray  # [k, n] float32
    sig_max: np.ndarray
    env_max: np.ndarray
    env_last: np.ndarray
    flags: np.ndarray  # [k, n] uint16, OR over the column
    cum_in: np.ndarray  # [k, n + 1] samples in target up to each column boundary
    cum_scored: np.ndarray
    phases: list[ReplayPhase]
    markers: list[ReplayMarker]
    targets: list[TargetChange]
    noise_floors: list[tuple[float, list[float]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def column_s(self) -> float:
        return self.column_samples / self.fs_hz

    @property
    def n_columns(self) -> int:
        return int(self.sig_min.shape[1])

    @property
    def duration_s(self) -> float:
        return self.n_columns * self.column_s


# -- loading ----------------------------------------------------------------------------------------
def load_replay(db_path: Path | str | None, session_id: int) -> ReplayData:
    """Read session ``session_id`` from the store at ``db_path`` (default: the data dir's).
    StorageError (one line) when there is no such store or session, or nothing was recorded."""
    with Database(existing_database_path(db_path), auto_backup=False) as db:
        record = db.get_session(session_id)
        return _read(db, record, _first_sample(db, session_id))


def replayable(db_path: Path | str | None, session_id: int) -> str:
    """A quick look (milliseconds, before reading it all): session ``session_id``'s label when
    it can be replayed; StorageError (one line) when there is no such store or session, or
    nothing was recorded."""
    with Database(existing_database_path(db_path), auto_backup=False) as db:
        record = db.get_session(session_id)
        _first_sample(db, session_id)
        return record.label()


def _first_sample(db: Database, session_id: int) -> int:
    first, end, stored = db.stored_extent(session_id)
    if not stored or first is None or end is None:
        raise StorageError(f"session {session_id} has no recorded samples: nothing to replay")
    return int(first)


def _read(db: Database, record: SessionRecord, first: int) -> ReplayData:
    from biofeedback.storage.reprocess import iter_processed

    fs = record.info.fs_hz
    cs = max(1, round(fs * COLUMN_S))
    phases = _phases(db.phases(record.id), first, fs)
    scored_channel = (record.summary or {}).get("scored_channel")
    notes: list[str] = []
    builder: _ColumnBuilder | None = None
    for _chunk, processed, pipeline in iter_processed(db, record, notes=notes):
        if builder is None:
            outs = pipeline.outputs
            channels = [ReplayChannel(o.name, str(o.kind), o.kind != ChannelKind.ENV) for o in outs]
            targets = _targets(db.threshold_log(record.id), first, fs, scored_channel, len(outs))
            builder = _ColumnBuilder(cs, len(outs), first, targets, _emg_spans(phases, first, fs))
        builder.add(processed, list(map(float, pipeline.noise_floor_uv)), fs)
    assert builder is not None  # stored_extent said samples exist
    markers = [
        ReplayMarker((int(m["sample_index"]) - first) / fs, str(m["label"]), str(m["note"] or ""))
        for m in db.markers(record.id)
        if m["label"] not in HIDDEN_MARKERS
    ]
    return builder.finish(record, fs, channels, phases, markers, targets, notes)


def _phases(stored: list[dict[str, Any]], first: int, fs: float) -> list[ReplayPhase]:
    out: list[ReplayPhase] = []
    for p in stored:
        start, end = p.get("start_index"), p.get("end_index")
        if start is None:
            continue
        stop = end if end is not None else start
        out.append(
            ReplayPhase(
                len(out),
                str(p.get("name", "")),
                str(p.get("kind", "")),
                (int(start) - first) / fs,
                (int(stop) - first) / fs,
            )
        )
    return out


def _emg_spans(phases: list[ReplayPhase], first: int, fs: float) -> list[tuple[int, int]] | None:
    """Sample ranges scored against a target: the EMG phases (None: no phases, all samples)."""
    if not phases:
        return None
    return [
        (first + round(p.start_s * fs), first + round(p.end_s * fs))
        for p in phases
        if p.kind not in STEP_KINDS
    ]


def _targets(
    log_rows: list[dict[str, Any]], first: int, fs: float, scored: object, k: int
) -> list[TargetChange]:
    """The threshold log as target changes per channel (see the module's docstring)."""
    out = []
    for row in log_rows:
        if isinstance(scored, str) and scored in ("max", "mean"):
            channels = list(range(k))
        elif isinstance(scored, int) and not isinstance(scored, bool):
            channels = [scored]
        else:
            channels = [int(row.get("channel") or 0)]
        for c in channels:
            if 0 <= c < k:
                index = int(row["sample_index"])
                out.append(
                    TargetChange(
                        (index - first) / fs, index, c, float(row["new_uv"]), str(row["reason"])
                    )
                )
    return sorted(out, key=lambda ch: (ch.index, ch.channel))


class _ColumnBuilder:
    """Folds processed blocks into columns of ``cs`` samples (a partial column is carried)."""

    def __init__(
        self,
        cs: int,
        k: int,
        first: int,
        targets: list[TargetChange],
        spans: list[tuple[int, int]] | None,
    ) -> None:
        self.cs, self.k, self.first, self.spans = cs, k, first, spans
        self.per_channel = [
            (
                np.array([t.index for t in targets if t.channel == c], dtype=np.int64),
                np.array([t.value_uv for t in targets if t.channel == c]),
            )
            for c in range(k)
        ]
        self.parts: list[tuple[np.ndarray, ...]] = []
        self.carry: tuple[int, np.ndarray, np.ndarray, np.ndarray] | None = None
        self.floors: list[tuple[float, list[float]]] = []

    def add(self, processed: ProcessedChunk, floors: list[float], fs: float) -> None:
        if not self.floors or self.floors[-1][1] != floors:
            self.floors.append(((processed.first_index - self.first) / fs, floors))
        start: int = processed.first_index
        sig, env, fl = processed.signal_uv, processed.envelope_uv, processed.flags
        if self.carry is not None:
            c0, csig, cenv, cfl = self.carry
            start, sig = c0, np.concatenate([csig, sig])
            env, fl = np.concatenate([cenv, env]), np.concatenate([cfl, fl])
        whole = (len(sig) // self.cs) * self.cs
        if whole:
            self.parts.append(self._columns(start, sig[:whole], env[:whole], fl[:whole]))
        self.carry = (
            (start + whole, sig[whole:], env[whole:], fl[whole:]) if whole < len(sig) else None
        )

    def _columns(
        self, start: int, sig: np.ndarray, env: np.ndarray, fl: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        n, cs, k = len(sig) // self.cs, self.cs, self.k
        shape = (n, cs, k)
        s, e, f = sig.reshape(shape), env.reshape(shape), fl.reshape(shape)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column (a gap) is NaN
            smin, smax = np.nanmin(s, axis=1), np.nanmax(s, axis=1)
            emax = np.nanmax(e, axis=1)
        flags = np.bitwise_or.reduce(f, axis=1)
        idx = start + np.arange(n * cs, dtype=np.int64)
        counted = np.isfinite(env) & (fl == 0) & self._in_spans(idx)[:, None]
        in_target = np.zeros_like(counted)
        for c, (at, values) in enumerate(self.per_channel):
            pos = np.searchsorted(at, idx, side="right") - 1
            has = pos >= 0
            target = np.where(has, values[np.maximum(pos, 0)] if len(values) else np.nan, np.nan)
            counted[:, c] &= has
            with np.errstate(invalid="ignore"):
                in_target[:, c] = counted[:, c] & (env[:, c] < target)
        n_in = in_target.reshape(shape).sum(axis=1)
        n_sc = counted.reshape(shape).sum(axis=1)
        return smin, smax, emax, e[:, -1, :], flags, n_in, n_sc

    def _in_spans(self, idx: np.ndarray) -> np.ndarray:
        if self.spans is None:
            return np.ones(len(idx), dtype=bool)
        inside = np.zeros(len(idx), dtype=bool)
        for a, b in self.spans:
            inside |= (idx >= a) & (idx < b)
        return inside

    def finish(
        self,
        record: SessionRecord,
        fs: float,
        channels: list[ReplayChannel],
        phases: list[ReplayPhase],
        markers: list[ReplayMarker],
        targets: list[TargetChange],
        notes: list[str],
    ) -> ReplayData:
        if self.carry is not None:  # the last, partial column: padded with NaN
            start, sig, env, fl = self.carry
            pad = self.cs - len(sig)
            nan = np.full((pad, self.k), np.nan)
            self.parts.append(
                self._columns(
                    start,
                    np.concatenate([sig, nan]),
                    np.concatenate([env, nan]),
                    np.concatenate([fl, np.zeros((pad, self.k), dtype=fl.dtype)]),
                )
            )
        cols = [np.concatenate([p[i] for p in self.parts]).T for i in range(7)]
        # int32 counts: 24 h at 2 kHz is 173 million samples (memory: 26 bytes per column
        # and channel, 19 MB for an hour of two channels)
        zero = np.zeros((self.k, 1), dtype=np.int32)
        return ReplayData(
            session_id=record.id,
            label=record.label(),
            fs_hz=fs,
            first_index=self.first,
            column_samples=self.cs,
            channels=channels,
            sig_min=cols[0].astype(np.float32),
            sig_max=cols[1].astype(np.float32),
            env_max=cols[2].astype(np.float32),
            env_last=cols[3].astype(np.float32),
            flags=cols[4].astype(np.uint16),
            cum_in=np.hstack([zero, np.cumsum(cols[5], axis=1, dtype=np.int32)]),
            cum_scored=np.hstack([zero, np.cumsum(cols[6], axis=1, dtype=np.int32)]),
            phases=phases,
            markers=markers,
            targets=targets,
            noise_floors=self.floors,
            notes=notes,
        )


# -- the model --------------------------------------------------------------------------------------
class ReplayModel:
    """Play, pause, seek, speed and phase jumps over a stored session (see the module's text).

    Events (:class:`~biofeedback.appmodel.events.Signal`): ``position_changed(t_s)``,
    ``playing_changed(bool)``, ``speed_changed(float)``, ``phase_changed(index or None)``.
    """

    def __init__(self, data: ReplayData) -> None:
        self.data = data
        self.position_s = 0.0
        self.playing = False
        self.speed = 1.0
        self._phase: int | None = self.phase_at(0.0)
        self.position_changed = Signal("position_changed")
        self.playing_changed = Signal("playing_changed")
        self.speed_changed = Signal("speed_changed")
        self.phase_changed = Signal("phase_changed")

    @classmethod
    def open(cls, db_path: Path | str | None, session_id: int) -> ReplayModel:
        """Read the session and build its model (StorageError: one line)."""
        return cls(load_replay(db_path, session_id))

    # -- facts ---------------------------------------------------------------------------------
    @property
    def duration_s(self) -> float:
        return self.data.duration_s

    @property
    def channels(self) -> list[ReplayChannel]:
        return self.data.channels

    @property
    def phases(self) -> list[ReplayPhase]:
        return self.data.phases

    @property
    def markers(self) -> list[ReplayMarker]:
        return self.data.markers

    @property
    def at_end(self) -> bool:
        return self.position_s >= self.duration_s

    # -- commands ------------------------------------------------------------------------------
    def play(self) -> None:
        """Play from the position (from the start again when at the end)."""
        if self.at_end:
            self.seek(0.0)
        self._set_playing(True)

    def pause(self) -> None:
        self._set_playing(False)

    def toggle(self) -> None:
        """Play when paused, pause when playing (the window's Space)."""
        if self.playing:
            self.pause()
        else:
            self.play()

    def seek(self, t_s: float) -> None:
        """Go to ``t_s`` seconds (clamped to the session)."""
        if not math.isfinite(t_s):
            return
        t = min(max(float(t_s), 0.0), self.duration_s)
        if t == self.position_s:
            return
        # the whole state first, then the events: a listener of position_changed reads the
        # phase at the new position (its time in target), not the one left behind
        phase = self.phase_at(t)
        old_phase, self._phase, self.position_s = self._phase, phase, t
        self.position_changed.emit(t)
        if phase != old_phase:
            self.phase_changed.emit(phase)

    def set_speed(self, speed: float) -> None:
        """One of :data:`SPEEDS` (ValueError otherwise)."""
        if float(speed) not in SPEEDS:
            raise ValueError(
                f"speed {speed:g}: choose one of {', '.join(f'{s:g}' for s in SPEEDS)}"
            )
        if float(speed) != self.speed:
            self.speed = float(speed)
            self.speed_changed.emit(self.speed)

    def jump_to_phase(self, index: int) -> None:
        """Go to the start of phase ``index`` (its position in :attr:`phases`)."""
        if not 0 <= index < len(self.phases):
            raise IndexError(f"phase {index}: the session has {len(self.phases)} phases")
        self.seek(self.phases[index].start_s)
        if self._phase != index:  # back-to-back phases: the new one starts where the last ends
            self._phase = index
            self.phase_changed.emit(index)

    def next_phase(self) -> None:
        """The next phase's start (nothing after the last)."""
        starts = [p.start_s for p in self.phases]
        i = bisect_right(starts, self.position_s + 1e-9)
        if i < len(starts):
            self.jump_to_phase(i)

    def previous_phase(self) -> None:
        """The current phase's start, or the one before when within 1 s of it (as players do)."""
        starts = [p.start_s for p in self.phases]
        i = bisect_right(starts, self.position_s + 1e-9) - 1
        if i < 0:
            return
        if self.position_s - starts[i] < 1.0 and i > 0:
            i -= 1
        self.jump_to_phase(i)

    def tick(self, wall_dt: float) -> None:
        """Advance by ``wall_dt`` seconds of wall clock times the speed (while playing); stops
        at the end."""
        if not self.playing or wall_dt <= 0:
            return
        self.seek(self.position_s + wall_dt * self.speed)
        if self.at_end:
            self.pause()

    def _set_playing(self, playing: bool) -> None:
        if playing != self.playing:
            self.playing = playing
            self.playing_changed.emit(playing)

    # -- queries -------------------------------------------------------------------------------
    def phase_at(self, t_s: float) -> int | None:
        """The phase running at ``t_s`` (None outside every phase)."""
        current = None
        for i, p in enumerate(self.phases):
            if p.start_s <= t_s + 1e-9 and t_s < p.end_s:
                current = i
        return current

    @property
    def current_phase(self) -> int | None:
        return self._phase

    def target_at(self, channel: int, t_s: float | None = None) -> float | None:
        """The target (uV RMS) in force on ``channel`` at ``t_s`` (default: the position), as
        the session logged it; None before its first target or when it never had one."""
        change = self.target_change_at(channel, t_s)
        return None if change is None else change.value_uv

    def target_change_at(self, channel: int, t_s: float | None = None) -> TargetChange | None:
        """The log entry that set ``channel``'s target in force at ``t_s`` (its time, value and
        reason); None before its first target or when it never had one."""
        t = self.position_s if t_s is None else t_s
        index = self.data.first_index + math.floor(t * self.data.fs_hz + 1e-9)
        found = None
        for change in self.data.targets:
            if change.index > index:
                break
            if change.channel == channel:
                found = change
        return found

    def target_segments(
        self, channel: int, window_s: float = WINDOW_S, t_s: float | None = None
    ) -> list[tuple[float, float, float]]:
        """The target as it was across [t - window_s, t]: (start, end, uV) in seconds before
        ``t`` (<= 0), one per stretch with a target in force (none before the first)."""
        t = self.position_s if t_s is None else t_s
        lo = t - window_s
        changes = [(c.t_s, c.value_uv) for c in self.data.targets if c.channel == channel]
        out = []
        for i, (start, value) in enumerate(changes):
            end = changes[i + 1][0] if i + 1 < len(changes) else math.inf
            a, b = max(start, lo), min(end, t)
            if b > a:
                out.append((a - t, b - t, value))
        return out

    def has_targets(self, channel: int) -> bool:
        return any(c.channel == channel for c in self.data.targets)

    def noise_floor_at(self, channel: int, t_s: float | None = None) -> float:
        t = self.position_s if t_s is None else t_s
        value = math.nan
        for at, floors in self.data.noise_floors:
            if at > t:
                break
            value = floors[channel]
        return value

    def _column(self, t_s: float) -> int:
        """Columns completed at ``t_s``."""
        return min(self.data.n_columns, max(0, math.floor(t_s / self.data.column_s + 1e-9)))

    def trace_window(self, window_s: float = WINDOW_S, t_s: float | None = None) -> TraceWindow:
        """The traces' columns for [t - window_s, t]."""
        d = self.data
        end = self._column(self.position_s if t_s is None else t_s)
        n = max(2, round(window_s / d.column_s))
        t_cols = (np.arange(n, dtype=np.float64) - (n - 1)) * d.column_s
        lo = end - n
        sig = np.full((len(d.channels), 2 * n), np.nan, dtype=np.float32)
        env = np.full((len(d.channels), n), np.nan, dtype=np.float32)
        a = max(0, lo)
        if end > a:
            dst = slice(a - lo, end - lo)
            env[:, dst] = d.env_max[:, a:end]
            sig[:, 2 * (a - lo) : 2 * (end - lo) : 2] = d.sig_min[:, a:end]
            sig[:, 2 * (a - lo) + 1 : 2 * (end - lo) : 2] = d.sig_max[:, a:end]
        return TraceWindow(t_cols, np.repeat(t_cols, 2), sig, env, end)

    def level(self, channel: int, t_s: float | None = None) -> tuple[float, int]:
        """(envelope uV RMS, quality bits) at ``t_s``: what the gauge's bar shows."""
        end = self._column(self.position_s if t_s is None else t_s)
        if end == 0:
            return math.nan, 0
        return float(self.data.env_last[channel, end - 1]), int(self.data.flags[channel, end - 1])

    def trail(self, channel: int, t_s: float | None = None) -> np.ndarray:
        """The envelope's column maxima over the last :data:`TRAIL_S` (the gauge's trail)."""
        end = self._column(self.position_s if t_s is None else t_s)
        n = max(2, round(TRAIL_S / self.data.column_s))
        return self.data.env_max[channel, max(0, end - n) : end].astype(np.float64)

    def time_in_target(
        self, channel: int, t_s: float | None = None, since_s: float = 0.0
    ) -> TimeInTarget:
        """Time in target on ``channel`` from ``since_s`` to ``t_s`` (default: the position)."""
        d = self.data
        a, b = self._column(since_s), self._column(self.position_s if t_s is None else t_s)
        b = max(a, b)
        n_in = int(d.cum_in[channel, b] - d.cum_in[channel, a])
        n_sc = int(d.cum_scored[channel, b] - d.cum_scored[channel, a])
        return TimeInTarget(n_in / d.fs_hz, n_sc / d.fs_hz)

    def phase_time_in_target(self, index: int, channel: int) -> TimeInTarget:
        """Time in target in phase ``index`` up to the position (its whole length once past)."""
        p = self.phases[index]
        return self.time_in_target(channel, min(self.position_s, p.end_s), p.start_s)


def format_clock(seconds: float) -> str:
    """``12:30`` (``1:02:03`` from an hour)."""
    s = max(0, math.floor(seconds + 1e-9))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"
