"""Session runner: a pure state machine ticked on the sample clock.

The caller (the GUI from engine reads, or ``biofeedback record`` from an engine sink) hands
:meth:`SessionRunner.tick` each block of the pipeline's envelope and quality flags, with the
absolute index of its first sample. The runner walks the protocol's phases by sample count,
calibrates (noise floor, baseline, reference contraction), scores samples against the threshold,
shapes the threshold, prompts micro-breaks and PMR cues, and returns events. It has no clock,
no thread and no I/O: the same samples give the same events and measures whatever the block
sizes (every decision falls on an exact sample and the measures are computed at phase end from
the stored samples).

Channel scoring: ``protocol.scored_channel`` picks one output channel (its flags decide
inclusion), or ``"max"`` / ``"mean"`` over all channels (a flag on any channel excludes the
sample). ``protocol.asymmetry_pairs`` lists (left, right) channel pairs for the asymmetry measure.

Step phases (education, thought record, reflection) have no EMG target: their samples are counted
but neither stored nor scored, and the phase lasts until :meth:`SessionRunner.continue_phase`
(the user's Continue, with the answers), :meth:`SessionRunner.skip` or its optional time limit.
Session measures therefore never count reading or writing time (docs/protocols.md, "Steps").
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from biofeedback.core.types import Flag
from biofeedback.errors import ProtocolFileError
from biofeedback.training import steps
from biofeedback.training.metrics import (
    NO_CONTRACTION_NOTE,
    PhaseMetrics,
    SessionSummary,
    compute_phase_metrics,
    contraction_happened,
)
from biofeedback.training.protocol import (
    CONTRACTION_KINDS,
    RECOVERY_KINDS,
    Phase,
    PhaseKind,
    Protocol,
    Target,
    TargetKind,
)
from biofeedback.training.thresholds import (
    MIN_CALIBRATION_S,
    ThresholdChange,
    ThresholdTracker,
    estimate_baseline,
    estimate_noise_floor,
    estimate_reference,
    robust_sd,
    shaping_step,
    target_reason,
    target_threshold,
)

#: Rows per piece when a jump in the sample index is filled with missing samples.
_GAP_PIECE = 1 << 16

MICRO_BREAK_TEXT = (
    "Time for a micro-break: drop your shoulders, let your arms hang, "
    "breathe out slowly and let go for a few seconds."
)


class EventType(enum.StrEnum):
    """Kinds of :class:`RunnerEvent`."""

    PHASE_STARTED = "phase_started"
    PHASE_ENDED = "phase_ended"
    THRESHOLD_CHANGED = "threshold_changed"
    CALIBRATED = "calibrated"
    PROMPT = "prompt"
    WARNING = "warning"
    STEP_SAVED = "step_saved"
    PAUSED = "paused"
    RESUMED = "resumed"
    SESSION_ENDED = "session_ended"


@dataclass(frozen=True)
class RunnerEvent:
    """Something that happened at a sample.

    ``sample_index`` is absolute (device clock): for ``phase_started``, ``threshold_changed``,
    ``paused`` and ``resumed`` the first sample the change applies to; for ``phase_ended`` and
    ``session_ended`` one past the last sample of the phase; for a micro-break prompt the sample
    that completed the time above threshold. ``time_s`` is session time at that sample.

    ``data`` by type: phase_started: the phase (``Phase.to_dict()``) plus ``index``;
    phase_ended: ``index``, ``name``, ``kind``, ``skipped``, ``aborted``, ``metrics``
    (``PhaseMetrics.to_dict()``); threshold_changed: ``ThresholdChange.to_dict()``;
    calibrated: ``what`` ("noise_floor" with ``values_uv`` per output channel to pass to
    ``Pipeline.set_noise_floor``, "baseline" with ``baseline_uv``/``sd_uv``, "reference" with
    ``reference_uv``); prompt: ``prompt`` ("micro-break", "tense", "release", "contract") and
    ``text``; warning: ``message``; session_ended: ``aborted``, ``reason``, ``summary``;
    step_saved (a step phase ended, before its phase_ended): ``index``, ``name``, ``kind``,
    ``status`` (no answers: they stay in the summary's ``responses``).
    """

    type: EventType
    sample_index: int
    time_s: float
    phase_index: int | None
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "type": str(self.type),
            "sample_index": self.sample_index,
            "time_s": self.time_s,
            "phase_index": self.phase_index,
            "data": self.data,
        }


@dataclass(frozen=True)
class RunnerState:
    """Snapshot for the session panel and the patient view (cheap; poll it on a timer)."""

    started: bool
    finished: bool
    aborted: bool
    paused: bool
    sample_index: int
    phase_index: int
    n_phases: int
    phase_name: str
    phase_kind: str
    instruction: str
    note: str
    feedback: str
    show_visual: bool
    play_audio: bool
    elapsed_s: float
    remaining_s: float
    duration_s: float
    session_elapsed_s: float
    session_remaining_s: float
    threshold_uv: float | None
    target_zone_uv: tuple[float, float] | None
    override: bool
    pacer_bpm: float | None
    pacer_inhale_pct: float | None
    pacer_position: float | None
    latest_uv: float | None
    is_below: bool | None
    success_pct: float | None
    last_interval_success_pct: float | None
    micro_break_in_s: float | None
    muscle_group: str | None
    noise_floor_uv: float | None
    baseline_uv: float | None
    reference_uv: float | None
    #: A step phase (education, thought record, reflection) is waiting for the user's Continue.
    awaiting_continue: bool = False
    #: The step phase's content (``Phase.step_dict()``) while ``awaiting_continue``.
    step: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = dict(self.__dict__)
        out["target_zone_uv"] = list(self.target_zone_uv) if self.target_zone_uv else None
        return out


class _PhaseRecord:
    """Per-sample storage and running state of the phase in progress."""

    def __init__(
        self,
        index: int,
        phase: Phase,
        start_index: int,
        n_planned: int,
        pair_cols: int,
        all_cols: int,
    ) -> None:
        self.index = index
        self.phase = phase
        self.start_index = start_index
        self.n_planned = n_planned
        self.n = 0
        self.paused_n = 0
        stored = 0 if phase.is_step else n_planned  # a step phase stores no samples
        self.env = np.empty(stored, np.float64)
        self.inc = np.empty(stored, bool)
        self.scored = np.empty(stored, bool)
        self.below = np.empty(stored, bool)
        self.pair_env = np.empty((n_planned, pair_cols), np.float64) if pair_cols else None
        self.pair_inc = np.empty((n_planned, pair_cols), bool) if pair_cols else None
        self.all_env = np.empty((n_planned, all_cols), np.float64) if all_cols else None
        self.all_inc = np.empty((n_planned, all_cols), bool) if all_cols else None
        self.win_start = 0
        self.interval_n = 0  # samples per shaping interval (0: no shaping)
        self.shaping: list[dict[str, Any]] = []
        self.threshold_start: float | None = None
        self.threshold_last: float | None = None
        self.prompts = 0
        self.below_run = 0  # consecutive included below-threshold samples (micro-break)
        self.mb_timer = 0  # included samples since the last gap or prompt
        self.calibration: dict[str, Any] = {}
        self.step_status = ""  # step phases: how it ended (set before the phase ends)


class SessionRunner:
    """Runs one protocol over a stream of envelope samples.

    Parameters
    ----------
    protocol : a validated :class:`Protocol`.
    fs_hz : the sample rate of the envelope.
    n_channels : output channels in every tick (checked against ``scored_channel`` and the
        asymmetry pairs); taken from the first tick when None.
    noise_floor_uv : the noise floor the pipeline currently subtracts, per output channel (or one
        value for all). It is the floor of the threshold rule until a noise-floor phase measures
        one; 0 (unknown) disables the floor.
    start_index : absolute index of the session's first sample; default: the first tick's.
    envelope_delay_s : lag of the envelope behind the muscle: half the pipeline's causal RMS
        window (0.05 s for the default 100 ms); taken off recovery times.
    coalesce_s : smaller ticks are gathered until this much signal is waiting, then processed
        together (per-tick cost stays low with 10 ms chunks; events and :meth:`state` lag by
        at most this much; results are identical). 0 processes every tick at once. Call
        :meth:`flush` when a stream ends before the session does.
    skip_steps : end every step phase (education, thought record, reflection) the moment it
        starts, recorded as skipped: for runs without anyone to press Continue (offline).

    Control calls (:meth:`pause`, :meth:`resume`, :meth:`skip`, :meth:`abort`,
    :meth:`continue_phase`, :meth:`override_threshold`) take effect at the first sample not yet ticked and return their
    events. All methods are thread-safe (one lock), so a GUI thread may control a runner that an
    engine sink ticks.
    """

    def __init__(
        self,
        protocol: Protocol,
        fs_hz: float,
        *,
        n_channels: int | None = None,
        noise_floor_uv: float | Sequence[float] | np.ndarray | None = None,
        start_index: int | None = None,
        envelope_delay_s: float = 0.05,
        coalesce_s: float = 0.1,
        skip_steps: bool = False,
    ) -> None:
        if not fs_hz > 0:
            raise ValueError(f"fs_hz must be > 0 (got {fs_hz})")
        self.protocol = protocol
        self.fs_hz = float(fs_hz)
        self.envelope_delay_s = float(envelope_delay_s)
        self._coalesce_n = max(1, round(coalesce_s * self.fs_hz))
        self._skip_steps = skip_steps
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._pending_n = 0
        self._lock = threading.RLock()
        self._n_channels: int | None = None
        self._initial_floor = noise_floor_uv
        self._applied_floor = np.zeros(0)
        self._noise_floor_measured: float | None = None
        self._start_index = start_index
        self._next = 0 if start_index is None else int(start_index)
        self._started = False
        self._finished = False
        self._aborted = False
        self._abort_reason = ""
        self._paused = False
        self._phase_i = 0
        self._rec: _PhaseRecord | None = None
        self._metrics: list[PhaseMetrics] = []
        self._events: list[RunnerEvent] = []
        self._thr = ThresholdTracker(protocol.threshold.floor_x_noise)
        self.baseline_uv: float | None = None
        self.baseline_sd_uv: float | None = None
        self.baseline_robust_sd_uv: float | None = None
        self.reference_uv: float | None = None
        self.pain_before: float | None = None
        self.pain_after: float | None = None
        self._notes: list[str] = []
        self._responses: list[dict[str, Any]] = []
        self._end_index: int | None = None
        self.overlap_samples = 0
        self._gap_n = max(1, round(protocol.measures.gap_min_s * self.fs_hz))
        cols = sorted({c for pair in protocol.asymmetry_pairs for c in pair})
        self._pair_cols = cols
        self._pair_pos = [(cols.index(a), cols.index(b)) for a, b in protocol.asymmetry_pairs]
        if n_channels is not None:
            self._set_channels(int(n_channels))

    # ------------------------------------------------------------------ properties

    @property
    def started(self) -> bool:
        """True once the first sample was ticked."""
        return self._started

    @property
    def finished(self) -> bool:
        """True after the last phase ended or after :meth:`abort`."""
        return self._finished

    @property
    def next_index(self) -> int:
        """Absolute index of the first sample not yet ticked."""
        return self._next

    @property
    def events(self) -> list[RunnerEvent]:
        """Every event so far (tick and control events), in order."""
        with self._lock:
            return list(self._events)

    @property
    def threshold_uv(self) -> float | None:
        """Threshold in force (None before calibration)."""
        return self._thr.value_uv

    @property
    def threshold_log(self) -> list[ThresholdChange]:
        """Every threshold change (:class:`ThresholdChange`), in order."""
        with self._lock:
            return list(self._thr.log)

    @property
    def phase_metrics(self) -> list[PhaseMetrics]:
        """Measures of the phases that have ended."""
        with self._lock:
            return list(self._metrics)

    @property
    def noise_floor_uv(self) -> float:
        """Noise floor of the scored signal used by the threshold floor rule (0: unknown)."""
        return self._thr.noise_floor_uv

    # ------------------------------------------------------------------ user input

    def set_pain(self, before: float | None = None, after: float | None = None) -> None:
        """Pain ratings 0-10 entered by the user (either may be given alone)."""
        for label, value in (("before", before), ("after", after)):
            if value is None:
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not 0 <= value <= 10
            ):
                raise ValueError(
                    f"pain rating {label} must be a number from 0 to 10 (got {value!r})"
                )
        with self._lock:
            if before is not None:
                self.pain_before = float(before)
            if after is not None:
                self.pain_after = float(after)

    def add_note(self, text: str) -> None:
        """A free-text note kept in the summary (e.g. the clinician's observation)."""
        with self._lock:
            self._notes.append(str(text))

    # ------------------------------------------------------------------ control

    def pause(self) -> list[RunnerEvent]:
        """Stop the phase clock; samples until :meth:`resume` are neither scored nor stored."""
        with self._lock:
            events = self._flushed()
            if self._finished or self._paused:
                return self._keep(events)
            self._paused = True
            events.append(self._event(EventType.PAUSED, self._next, {}))
            return self._keep(events)

    def resume(self) -> list[RunnerEvent]:
        """Continue after :meth:`pause`."""
        with self._lock:
            events = self._flushed()
            if self._finished or not self._paused:
                return self._keep(events)
            self._paused = False
            events.append(self._event(EventType.RESUMED, self._next, {}))
            return self._keep(events)

    def skip(self) -> list[RunnerEvent]:
        """End the current phase now and start the next one (a paused session stays paused)."""
        with self._lock:
            events = self._flushed()
            if self._finished or not self._started:
                return self._keep(events)
            self._end_phase(events, skipped=True)
            return self._keep(events)

    def continue_phase(
        self,
        answers: dict[str, Any] | None = None,
        *,
        skipped: bool = False,
        phase_index: int | None = None,
    ) -> list[RunnerEvent]:
        """The user's Continue on a step phase (education page read, form saved, or skipped).

        ``answers``: a thought record's or reflection's fields (``steps.fields_for``); checked,
        ValueError naming the field. ``phase_index``: the phase the user answered; when another
        phase is running by now (the time limit ended it) nothing happens. A call while an EMG
        phase runs does nothing either: Continue never cuts a training phase short.
        """
        with self._lock:
            events = self._flushed()
            rec = self._rec
            if self._finished or rec is None or not rec.phase.is_step:
                return self._keep(events)
            if phase_index is not None and phase_index != rec.index:
                return self._keep(events)
            phase = rec.phase
            clean = steps.check_answers(str(phase.kind), dict(answers or {}), phase.prompt)
            if skipped:
                status = "skipped"
            else:
                status = "continued" if phase.kind == PhaseKind.EDUCATION else "answered"
            self._save_step(rec, status, {} if skipped else clean, events)
            self._end_phase(events, skipped=skipped)
            return self._keep(events)

    def abort(self, reason: str = "") -> list[RunnerEvent]:
        """End the session now; the phase in progress is measured up to here."""
        with self._lock:
            events = self._flushed()
            if self._finished:
                return self._keep(events)
            self._aborted = True
            self._abort_reason = reason or "stopped by the user"
            if self._started:
                self._end_phase(events, aborted=True)
            else:
                self._finish(events)
            return self._keep(events)

    def override_threshold(
        self, value_uv: float, reason: str = "", *, until: str = "session"
    ) -> list[RunnerEvent]:
        """Set the threshold by hand; it wins over shaping and phase targets.

        ``until="session"`` keeps it until :meth:`release_override`; ``until="phase"`` releases
        it when the current phase ends. Shaping resumes from the overridden value.
        """
        if until not in ("session", "phase"):
            raise ValueError(f"until must be 'session' or 'phase' (got {until!r})")
        if not (isinstance(value_uv, int | float) and 0 < value_uv < 1e5):
            raise ValueError(f"threshold must be a number of uV > 0 (got {value_uv!r})")
        with self._lock:
            events = self._flushed()
            if self._finished:
                return self._keep(events)
            self._thr.override = until
            text = f"clinician override{': ' + reason if reason else ''}"
            if value_uv < self._thr.floor_uv:
                text += (
                    f" (below the {self._thr.floor_x_noise:g} x noise floor "
                    f"{self._thr.floor_uv:.3g} uV: differences this small are noise)"
                )
            self._set_threshold(float(value_uv), text, "clinician", events)
            return self._keep(events)

    def release_override(self) -> None:
        """Let shaping and phase targets move the threshold again."""
        with self._lock:
            self._thr.override = None

    # ------------------------------------------------------------------ ticking

    def tick(
        self,
        first_index: int,
        envelope_uv: np.ndarray,
        flags: np.ndarray | None = None,
    ) -> list[RunnerEvent]:
        """Feed a block of samples; returns the events it caused.

        Parameters
        ----------
        first_index : absolute index of the block's first sample. A jump forward is filled with
            missing samples (excluded); samples already ticked are ignored.
        envelope_uv : [n] or [n, k] pipeline envelope (``ProcessedChunk.envelope_uv``).
        flags : [n] or [n, k] quality bits (:class:`~biofeedback.core.types.Flag`); any bit set
            excludes the sample of that channel. None: all clean.
        """
        env = np.asarray(envelope_uv, dtype=np.float64)
        if env.ndim == 1:
            env = env.reshape(-1, 1)
        if env.ndim != 2:
            raise ValueError(f"envelope_uv must be [n] or [n, k] (got shape {env.shape})")
        n, k = env.shape
        if flags is None:
            fl = np.zeros((n, k), np.uint16)
        else:
            fl = np.asarray(flags)
            if fl.ndim == 1:
                fl = fl.reshape(-1, 1) if k == 1 else np.repeat(fl[:, None], k, axis=1)
            if fl.shape != (n, k):
                raise ValueError(f"flags shape {fl.shape} does not match envelope {env.shape}")
        with self._lock:
            if self._n_channels is None:
                self._set_channels(k)
            elif k != self._n_channels:
                raise ValueError(f"expected {self._n_channels} channel(s), got {k}")
            events: list[RunnerEvent] = []
            if self._finished:
                return events
            if not self._started:
                if self._start_index is None:
                    self._next = int(first_index)
                self._start(events)
            first = int(first_index)
            expected = self._next + self._pending_n
            if first > expected:
                self._flush(events)
                missing = first - self._next
                fill = np.full((min(missing, _GAP_PIECE), k), np.nan)
                flag = np.full((min(missing, _GAP_PIECE), k), int(Flag.MISSING), np.uint16)
                while missing > 0 and not self._finished:
                    piece = min(missing, _GAP_PIECE)
                    self._process(fill[:piece], flag[:piece], events)
                    missing -= piece
            elif first < expected:
                drop = min(n, expected - first)
                self.overlap_samples += drop
                env, fl = env[drop:], fl[drop:]
            if len(env) and not self._finished:
                if not self._pending and len(env) >= self._coalesce_n:
                    self._process(env, fl, events)
                else:
                    # keep copies: the caller may reuse its buffers
                    self._pending.append((env.copy(), fl.copy()))
                    self._pending_n += len(env)
                    if self._pending_n >= self._coalesce_n:
                        self._flush(events)
            self._events.extend(events)
            return events

    def flush(self) -> list[RunnerEvent]:
        """Process samples held back for coalescing (call when the stream ends)."""
        with self._lock:
            events: list[RunnerEvent] = []
            self._flush(events)
            self._events.extend(events)
            return events

    def _flush(self, events: list[RunnerEvent]) -> None:
        if not self._pending:
            return
        if len(self._pending) == 1:
            env, fl = self._pending[0]
        else:
            env = np.concatenate([p[0] for p in self._pending])
            fl = np.concatenate([p[1] for p in self._pending])
        self._pending.clear()
        self._pending_n = 0
        if not self._finished:
            self._process(env, fl, events)

    # ------------------------------------------------------------------ snapshots

    def state(self) -> RunnerState:
        """Where the session is, for the GUI."""
        with self._lock:
            phases = self.protocol.phases
            i = min(self._phase_i, len(phases) - 1)
            phase = phases[i]
            rec = self._rec
            done_n = rec.n if rec is not None else 0
            if self._finished:
                done_n = round(phase.duration_s * self.fs_hz) if not self._aborted else done_n
            elapsed = done_n / self.fs_hz
            remaining = max(0.0, phase.duration_s - elapsed) if not self._finished else 0.0
            later = sum(p.duration_s for p in phases[i + 1 :]) if not self._finished else 0.0
            start = self._start_index if self._start_index is not None else self._next
            session_elapsed = (self._next - start) / self.fs_hz if self._started else 0.0
            thr = self._thr.value_uv
            pacer_pos = None
            if phase.pacer_bpm:
                pacer_pos = (elapsed * phase.pacer_bpm / 60.0) % 1.0
            success = last = latest = is_below = None
            micro = None
            if rec is not None and not phase.is_step:
                n_scored = int(np.count_nonzero(rec.scored[: rec.n]))
                if n_scored:
                    success = 100.0 * int(np.count_nonzero(rec.below[: rec.n])) / n_scored
                if rec.n:
                    j = rec.n - 1
                    latest = float(rec.env[j]) if rec.inc[j] else None
                    is_below = bool(rec.below[j]) if rec.threshold_last is not None else None
                if rec.shaping:
                    last = rec.shaping[-1]["success_pct"]
                if phase.micro_break_after_s and thr is not None:
                    limit_n = round(phase.micro_break_after_s * self.fs_hz)
                    micro = max(0, limit_n - rec.mb_timer) / self.fs_hz
            return RunnerState(
                started=self._started,
                finished=self._finished,
                aborted=self._aborted,
                paused=self._paused,
                sample_index=self._next,
                phase_index=i,
                n_phases=len(phases),
                phase_name=phase.name,
                phase_kind=str(phase.kind),
                instruction=phase.instruction,
                note=phase.note,
                feedback=str(phase.feedback),
                show_visual=phase.feedback.visual,
                play_audio=phase.feedback.audio,
                elapsed_s=elapsed,
                remaining_s=remaining,
                duration_s=phase.duration_s,
                session_elapsed_s=session_elapsed,
                session_remaining_s=remaining + later,
                threshold_uv=thr,
                target_zone_uv=(0.0, thr) if thr is not None else None,
                override=self._thr.override is not None,
                pacer_bpm=phase.pacer_bpm,
                pacer_inhale_pct=phase.pacer_inhale_pct if phase.pacer_bpm else None,
                pacer_position=pacer_pos,
                latest_uv=latest,
                is_below=is_below,
                success_pct=success,
                last_interval_success_pct=last,
                micro_break_in_s=micro,
                muscle_group=phase.muscle_group,
                noise_floor_uv=self._thr.noise_floor_uv or None,
                baseline_uv=self.baseline_uv,
                reference_uv=self.reference_uv,
                awaiting_continue=rec is not None and phase.is_step and not self._finished,
                step=phase.step_dict() if rec is not None and phase.is_step else None,
            )

    def summary(self) -> SessionSummary:
        """Measures so far (complete once :attr:`finished`)."""
        with self._lock:
            start = self._start_index if self._start_index is not None else 0
            end = self._end_index if self._end_index is not None else self._next
            return SessionSummary(
                protocol=self.protocol.name,
                fs_hz=self.fs_hz,
                start_index=start,
                end_index=end,
                duration_s=(end - start) / self.fs_hz if self._started else 0.0,
                completed=self._finished and not self._aborted,
                aborted=self._aborted,
                abort_reason=self._abort_reason,
                body_part=self.protocol.body_part,
                muscles=list(self.protocol.muscles),
                noise_floor_uv=self._noise_floor_measured,
                baseline_uv=self.baseline_uv,
                baseline_sd_uv=self.baseline_sd_uv,
                baseline_robust_sd_uv=self.baseline_robust_sd_uv,
                reference_uv=self.reference_uv,
                phases=list(self._metrics),
                threshold_log=list(self._thr.log),
                pain_before=self.pain_before,
                pain_after=self.pain_after,
                notes=list(self._notes),
                scored_channel=self.protocol.scored_channel,
                responses=[dict(r) for r in self._responses],
            )

    # ------------------------------------------------------------------ internals

    def _set_channels(self, k: int) -> None:
        if k < 1:
            raise ValueError("the envelope needs at least one channel")
        sc = self.protocol.scored_channel
        needed = max([sc if isinstance(sc, int) else 0, *self._pair_cols]) + 1
        if needed > k:
            raise ProtocolFileError(
                f"{self.protocol.source or self.protocol.name}: the protocol scores channel(s) up "
                f"to number {needed - 1} (scored_channel / asymmetry_pairs) but the source has "
                f"{k} output channel(s): use a source with more channels or edit the protocol"
            )
        self._n_channels = k
        floor = self._initial_floor
        values = np.zeros(k) if floor is None else np.broadcast_to(np.asarray(floor, float), (k,))
        self._applied_floor = np.array(values, dtype=np.float64)
        self._thr.noise_floor_uv = self._scored_floor(self._applied_floor)

    def _scored_floor(self, per_channel: np.ndarray) -> float:
        sc = self.protocol.scored_channel
        if isinstance(sc, int):
            return float(per_channel[sc])
        return float(np.max(per_channel) if sc == "max" else np.mean(per_channel))

    def _time(self, index: int) -> float:
        start = self._start_index if self._start_index is not None else index
        return (index - start) / self.fs_hz

    def _event(self, etype: EventType, index: int, data: dict[str, Any]) -> RunnerEvent:
        phase_index = self._phase_i if self._started else None
        return RunnerEvent(etype, int(index), self._time(index), phase_index, data)

    def _flushed(self) -> list[RunnerEvent]:
        """Process held-back samples first, so a control call applies after them."""
        events: list[RunnerEvent] = []
        self._flush(events)
        return events

    def _keep(self, events: list[RunnerEvent]) -> list[RunnerEvent]:
        self._events.extend(events)
        return events

    def _start(self, events: list[RunnerEvent]) -> None:
        self._started = True
        self._start_index = self._next
        self._ensure_session_threshold(events)
        self._start_phase(0, events)

    def _start_phase(self, i: int, events: list[RunnerEvent]) -> None:
        self._phase_i = i
        phase = self.protocol.phases[i]
        n_planned = max(1, round(phase.duration_s * self.fs_hz))
        all_cols = (self._n_channels or 0) if phase.kind == PhaseKind.NOISE_FLOOR else 0
        pair_cols = len(self._pair_cols)
        if phase.is_step:  # nothing stored; n_planned is the time limit (0: none)
            limit = phase.time_limit_s
            n_planned, pair_cols = (max(1, round(limit * self.fs_hz)) if limit else 0), 0
        self._rec = _PhaseRecord(i, phase, self._next, n_planned, pair_cols, all_cols)
        if phase.shaping is not None:
            self._rec.interval_n = max(1, round(phase.shaping.interval_s * self.fs_hz))
        data = phase.to_dict()
        data["index"] = i
        events.append(self._event(EventType.PHASE_STARTED, self._next, data))
        if phase.kind == PhaseKind.TRAIN and phase.target is not None:
            self._apply_target(phase.target, phase, events)
        self._rec.threshold_start = self._thr.value_uv
        cue = self._cue(phase)
        if cue:
            events.append(self._event(EventType.PROMPT, self._next, cue))
        if phase.is_step and self._skip_steps:
            self._end_phase(events, skipped=True)

    def _cue(self, phase: Phase) -> dict[str, Any] | None:
        group = phase.muscle_group or "the muscle"
        if phase.kind == PhaseKind.TENSE:
            return {"prompt": "tense", "text": f"Tense {group} now and hold."}
        if phase.kind == PhaseKind.RELEASE:
            return {"prompt": "release", "text": f"Release {group}: let go completely."}
        if phase.kind == PhaseKind.REFERENCE:
            return {"prompt": "contract", "text": f"Contract {group} firmly now and hold."}
        return None

    def _set_threshold(
        self, value: float, reason: str, source: str, events: list[RunnerEvent]
    ) -> None:
        phase = self.protocol.phases[self._phase_i]
        change = self._thr.set(
            value,
            reason,
            source,
            self._next,
            self._time(self._next),
            self._phase_i if self._started else None,
            phase.name if self._started else "",
        )
        if change is not None:
            events.append(self._event(EventType.THRESHOLD_CHANGED, self._next, change.to_dict()))

    def _apply_target(self, target: Target, phase: Phase | None, events: list[RunnerEvent]) -> None:
        """Set the threshold from a target when none is set or the target changed."""
        if self._thr.override is not None:
            return
        if self._thr.value_uv is not None and self._thr.active_target == target:
            return  # same target: shaping carries on from where it is
        value = target_threshold(target, self.baseline_uv, self.reference_uv)
        if value is None:
            if phase is not None:
                missing = "baseline" if target.kind == TargetKind.PCT_BASELINE else "reference"
                events.append(
                    self._event(
                        EventType.WARNING,
                        self._next,
                        {
                            "message": f"phase '{phase.name}': target {target.describe()} cannot "
                            f"be set because no {missing} was measured"
                            + (
                                f"; the threshold stays at {self._thr.value_uv:.3g} uV"
                                if self._thr.value_uv is not None
                                else ": set a threshold by hand (clinician override)"
                            )
                        },
                    )
                )
            return
        value, floor_note = self._thr.apply_floor(value)
        words = target_reason(target, self.baseline_uv, self.reference_uv)
        if self._thr.value_uv is None:
            reason, source = f"start: {words}", "start"
        else:
            where = f" of phase '{phase.name}'" if phase is not None else ""
            reason, source = f"target{where}: {words}", "target"
        self._thr.active_target = target
        self._set_threshold(value, reason + floor_note, source, events)

    def _ensure_session_threshold(self, events: list[RunnerEvent]) -> None:
        if self._thr.value_uv is None:
            self._apply_target(self.protocol.threshold.target, None, events)

    # -- per-sample work

    def _process(self, env: np.ndarray, fl: np.ndarray, events: list[RunnerEvent]) -> None:
        n = len(env)
        pos = 0
        while pos < n and not self._finished:
            rec = self._rec
            if rec is None:  # pragma: no cover - a phase is always open while not finished
                return
            if self._paused:
                rec.paused_n += n - pos
                self._next += n - pos
                return
            if rec.phase.is_step:
                # counted, not stored or scored; ends at the time limit or on continue_phase
                seg = n - pos if not rec.n_planned else min(n - pos, rec.n_planned - rec.n)
                rec.n += seg
                pos += seg
                self._next += seg
                if rec.n_planned and rec.n >= rec.n_planned:
                    self._end_phase(events)
                continue
            seg = min(n - pos, rec.n_planned - rec.n)
            interval_n = rec.interval_n
            if interval_n:
                seg = min(seg, rec.win_start + interval_n - rec.n)
            if pos == 0 and seg == n:
                self._score(env, fl, events)
            else:
                self._score(env[pos : pos + seg], fl[pos : pos + seg], events)
            pos += seg
            self._next += seg
            if interval_n and rec.n - rec.win_start == interval_n:
                self._shape(rec, events)
            if rec.n >= rec.n_planned:
                self._end_phase(events)

    def _scored_signal(self, env: np.ndarray, fl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sc = self.protocol.scored_channel
        if sc.__class__ is int:
            e, f = env[:, sc], fl[:, sc]
        else:
            e = env.max(axis=1) if sc == "max" else env.mean(axis=1)
            f = np.bitwise_or.reduce(fl, axis=1)
        inc = f == 0
        inc &= np.isfinite(e)
        return e, inc

    def _score(self, env: np.ndarray, fl: np.ndarray, events: list[RunnerEvent]) -> None:
        """Store one segment (inside one phase and one shaping interval) and score it."""
        rec = self._rec
        n = len(env)
        if rec is None or n == 0:
            return
        e, inc = self._scored_signal(env, fl)
        a = rec.n
        b = a + n
        rec.env[a:b] = e
        rec.inc[a:b] = inc
        thr = self._thr.value_uv
        if thr is not None:
            below = e < thr
            below &= inc
            rec.scored[a:b] = inc
            rec.below[a:b] = below
        else:
            rec.scored[a:b] = False
            rec.below[a:b] = False
        if rec.pair_env is not None and rec.pair_inc is not None:
            cols = self._pair_cols
            rec.pair_env[a:b] = env[:, cols]
            rec.pair_inc[a:b] = (fl[:, cols] == 0) & np.isfinite(env[:, cols])
        if rec.all_env is not None and rec.all_inc is not None:
            rec.all_env[a:b] = env
            rec.all_inc[a:b] = (fl == 0) & np.isfinite(env)
        rec.n = b
        rec.threshold_last = thr
        after_s = rec.phase.micro_break_after_s
        if thr is not None and after_s:
            self._micro_break(rec, after_s, inc, below, events)

    def _micro_break(
        self,
        rec: _PhaseRecord,
        after_s: float,
        inc: np.ndarray,
        below: np.ndarray,
        events: list[RunnerEvent],
    ) -> None:
        """Prompt after ``after_s`` (the phase's ``micro_break_after_s``) of included samples
        without a gap.

        A gap (>= gap_min_s continuously below threshold) restarts the count; excluded samples
        neither count nor restart it; short dips below threshold count as tense time.
        """
        n = len(inc)
        limit_n = max(1, round(after_s * self.fs_hz))
        idx = np.arange(n)
        last_not_below = np.maximum.accumulate(np.where(~below, idx, -1))
        run = np.where(last_not_below >= 0, idx - last_not_below, idx + 1 + rec.below_run)
        gap_at = run >= self._gap_n
        cum_inc = np.cumsum(inc, dtype=np.int64)
        last_gap = np.maximum.accumulate(np.where(gap_at, idx, -1))
        base = -1
        while True:
            eff = np.maximum(last_gap, base)
            timer = np.where(eff >= 0, cum_inc - cum_inc[eff], rec.mb_timer + cum_inc)
            hits = np.flatnonzero(timer[base + 1 :] >= limit_n)
            if hits.size == 0:
                break
            base = base + 1 + int(hits[0])
            rec.prompts += 1
            at = self._next + base  # the block's samples are not yet counted in _next
            events.append(
                self._event(
                    EventType.PROMPT,
                    at,
                    {
                        "prompt": "micro-break",
                        "text": MICRO_BREAK_TEXT,
                        "above_s": rec.phase.micro_break_after_s,
                    },
                )
            )
        rec.below_run = int(run[-1])
        rec.mb_timer = int(timer[-1])

    def _shape(self, rec: _PhaseRecord, events: list[RunnerEvent]) -> None:
        rule = rec.phase.shaping
        assert rule is not None
        a, b = rec.win_start, rec.n
        rec.win_start = b
        thr = self._thr.value_uv
        entry: dict[str, Any] = {
            "end_s": b / self.fs_hz,
            "threshold_uv": thr,
            "success_pct": None,
            "included_pct": None,
            "new_uv": thr,
            "changed": False,
            "reason": "",
        }
        if thr is None:
            entry["reason"] = "shaping skipped: no threshold yet"
            rec.shaping.append(entry)
            return
        decision = shaping_step(
            rule,
            thr,
            rec.env[a:b],
            rec.scored[a:b],
            rec.below[a:b],
            self._thr.floor_uv,
        )
        entry["success_pct"] = decision.success_pct
        entry["included_pct"] = decision.included_pct
        entry["reason"] = decision.reason
        if self._thr.override is not None:
            entry["reason"] = decision.reason.split(":")[0] + ": suspended (clinician override)"
        elif decision.changed:
            self._set_threshold(decision.new_uv, decision.reason, "shaping", events)
            entry["new_uv"] = decision.new_uv
            entry["changed"] = True
        rec.shaping.append(entry)

    # -- phase ends and calibration

    def _end_phase(
        self, events: list[RunnerEvent], *, skipped: bool = False, aborted: bool = False
    ) -> None:
        rec = self._rec
        assert rec is not None
        phase = rec.phase
        if phase.is_step and not rec.step_status:
            status = "aborted" if aborted else "skipped" if skipped else "timed-out"
            self._save_step(rec, status, {}, events)
        metrics = self._measure(rec)
        metrics.skipped = skipped
        metrics.aborted = aborted
        self._metrics.append(metrics)
        events.append(
            self._event(
                EventType.PHASE_ENDED,
                self._next,
                {
                    "index": rec.index,
                    "name": phase.name,
                    "kind": str(phase.kind),
                    "skipped": skipped,
                    "aborted": aborted,
                    "metrics": metrics.to_dict(),
                },
            )
        )
        self._calibrate(rec, metrics, events)
        if self._thr.override == "phase":
            self._thr.override = None
        self._rec = None
        if aborted or rec.index + 1 >= len(self.protocol.phases):
            self._finish(events)
        else:
            self._start_phase(rec.index + 1, events)

    def _save_step(
        self, rec: _PhaseRecord, status: str, answers: dict[str, Any], events: list[RunnerEvent]
    ) -> None:
        """Keep what the user did in a step phase (private: see SessionSummary.responses)."""
        phase = rec.phase
        rec.step_status = status
        self._responses.append(
            {
                "phase_index": rec.index,
                "phase": phase.name,
                "kind": str(phase.kind),
                "page": phase.page,
                "prompt": phase.prompt,
                "status": status,
                "time_s": self._time(self._next),
                "answers": answers,
                "private": True,
            }
        )
        events.append(
            self._event(
                EventType.STEP_SAVED,
                self._next,
                {"index": rec.index, "name": phase.name, "kind": str(phase.kind), "status": status},
            )
        )

    def _finish(self, events: list[RunnerEvent]) -> None:
        self._finished = True
        self._end_index = self._next
        summary = self.summary()
        events.append(
            self._event(
                EventType.SESSION_ENDED,
                self._next,
                {
                    "aborted": self._aborted,
                    "reason": self._abort_reason,
                    "summary": summary.to_dict(),
                },
            )
        )

    def _measure(self, rec: _PhaseRecord) -> PhaseMetrics:
        phase = rec.phase
        n = rec.n
        if phase.is_step:
            # not training time: no samples scored, so no session measure counts this time
            return PhaseMetrics(
                index=rec.index,
                name=phase.name,
                kind=str(phase.kind),
                start_s=self._time(rec.start_index),
                duration_s=n / self.fs_hz,
                planned_s=phase.duration_s,
                n_samples=0,
                n_included=0,
                pct_excluded=0.0,
                feedback=str(phase.feedback),
                paused_s=rec.paused_n / self.fs_hz,
                repeat_index=phase.repeat_index,
                step_status=rec.step_status,
            )
        level = None
        recovery_note = ""
        contraction_mean = None
        prev = self._metrics[-1] if self._metrics else None
        prev_kind = self.protocol.phases[rec.index - 1].kind if rec.index > 0 else None
        if (
            phase.kind in RECOVERY_KINDS
            and prev_kind in CONTRACTION_KINDS
            and self.baseline_uv is not None
        ):
            m = self.protocol.measures
            sd = self.baseline_robust_sd_uv if m.recovery_robust_sd else self.baseline_sd_uv
            level = self.baseline_uv + m.recovery_sd * (sd or 0.0)
            contraction = prev.mean_uv if prev is not None else None
            if not contraction_happened(contraction, self.baseline_uv, level):
                # Nothing to recover from: the envelope is at rest from the first sample.
                level = None
                recovery_note = NO_CONTRACTION_NOTE
        if phase.kind == PhaseKind.RELEASE and prev_kind == PhaseKind.TENSE and prev is not None:
            contraction_mean = prev.mean_uv
        pairs = None
        pair_env, pair_inc = rec.pair_env, rec.pair_inc
        if pair_env is not None and pair_inc is not None:
            pairs = [
                (pair, pair_env[:n, [i, j]], pair_inc[:n, [i, j]])
                for pair, (i, j) in zip(self.protocol.asymmetry_pairs, self._pair_pos, strict=True)
            ]
        any_scored = bool(rec.scored[:n].any()) or rec.threshold_last is not None
        metrics = compute_phase_metrics(
            index=rec.index,
            name=phase.name,
            kind=phase.kind,
            fs_hz=self.fs_hz,
            start_s=self._time(rec.start_index),
            planned_s=phase.duration_s,
            envelope_uv=rec.env[:n],
            included=rec.inc[:n],
            below=rec.below[:n] if any_scored else None,
            scored=rec.scored[:n],
            threshold_uv=rec.threshold_last,
            threshold_start_uv=rec.threshold_start,
            measures=self.protocol.measures,
            pairs=pairs,
            recovery_level_uv=level,
            contraction_mean_uv=contraction_mean,
            envelope_delay_s=self.envelope_delay_s,
        )
        metrics.recovery_note = recovery_note
        metrics.feedback = str(phase.feedback)
        metrics.paused_s = rec.paused_n / self.fs_hz
        metrics.repeat_index = phase.repeat_index
        metrics.shaping = rec.shaping
        metrics.prompts = rec.prompts
        return metrics

    def _calibrate(
        self, rec: _PhaseRecord, metrics: PhaseMetrics, events: list[RunnerEvent]
    ) -> None:
        kind = rec.phase.kind
        n = rec.n
        min_n = MIN_CALIBRATION_S * self.fs_hz
        name = rec.phase.name
        if kind == PhaseKind.NOISE_FLOOR and rec.all_env is not None:
            self._calibrate_noise(rec, metrics, events)
        elif kind == PhaseKind.BASELINE and self.baseline_uv is None:
            values = rec.env[:n][rec.inc[:n]]
            baseline = estimate_baseline(values) if values.size >= min_n else None
            if baseline is None:
                self._warn(
                    events,
                    f"phase '{name}': baseline not measured ({metrics.pct_excluded:.0f}% of the "
                    "samples excluded): check the electrodes and repeat the baseline",
                )
                return
            median, sd = baseline
            rsd = robust_sd(values)
            self.baseline_uv, self.baseline_sd_uv, self.baseline_robust_sd_uv = median, sd, rsd
            metrics.calibration = {"baseline_uv": median, "sd_uv": sd, "robust_sd_uv": rsd}
            events.append(
                self._event(
                    EventType.CALIBRATED,
                    self._next,
                    {
                        "what": "baseline",
                        "baseline_uv": median,
                        "sd_uv": sd,
                        "robust_sd_uv": rsd,
                        "phase": name,
                    },
                )
            )
            self._ensure_session_threshold(events)
        elif kind == PhaseKind.REFERENCE:
            ref = estimate_reference(
                rec.env[:n], rec.inc[:n], self.fs_hz, self.protocol.threshold.reference_window_s
            )
            if ref is None:
                self._warn(
                    events,
                    f"phase '{name}': reference contraction not measured (too many samples "
                    "excluded): repeat the contraction",
                )
                return
            self.reference_uv = ref
            metrics.calibration = {"reference_uv": ref}
            events.append(
                self._event(
                    EventType.CALIBRATED,
                    self._next,
                    {"what": "reference", "reference_uv": ref, "phase": name},
                )
            )
            self._ensure_session_threshold(events)

    def _calibrate_noise(
        self, rec: _PhaseRecord, metrics: PhaseMetrics, events: list[RunnerEvent]
    ) -> None:
        all_env, all_inc = rec.all_env, rec.all_inc
        if all_env is None or all_inc is None:  # only a noise-floor phase records every channel
            return
        n = rec.n
        name = rec.phase.name
        min_n = MIN_CALIBRATION_S * self.fs_hz
        values = self._applied_floor.copy()
        measured: list[float | None] = []
        adopted: list[bool] = []
        max_x = self.protocol.threshold.max_noise_floor_x
        for c in range(values.size):
            inc = all_inc[:n, c]
            value = None
            if np.count_nonzero(inc) >= min_n:
                value = estimate_noise_floor(all_env[:n, c][inc], float(values[c]))
            measured.append(value)
            if value is None:
                self._warn(
                    events,
                    f"phase '{name}': noise floor of channel {c} not measured (too many samples "
                    "excluded): keeping the pipeline's value",
                )
                adopted.append(False)
                continue
            applied = float(values[c])
            if applied > 0 and value > max_x * applied:
                self._warn(
                    events,
                    f"phase '{name}': measured noise floor {value:.3g} uV on channel {c} is "
                    f"{value / applied:.1f} x the expected {applied:.3g} uV: the electrodes were "
                    "probably on an active muscle, so the expected value is kept (for a true "
                    "noise floor short the sensor inputs or put the electrodes on a bony spot)",
                )
                adopted.append(False)
                continue
            values[c] = value
            adopted.append(True)
        self._applied_floor = values
        scored = self._scored_floor(values)
        if any(adopted):
            self._noise_floor_measured = scored
            self._thr.noise_floor_uv = scored
        metrics.calibration = {"noise_floor_uv": measured, "adopted": adopted}
        events.append(
            self._event(
                EventType.CALIBRATED,
                self._next,
                {
                    "what": "noise_floor",
                    "values_uv": [float(v) for v in values],
                    "measured_uv": measured,
                    "adopted": adopted,
                    "scored_uv": scored,
                    "phase": name,
                },
            )
        )

    def _warn(self, events: list[RunnerEvent], message: str) -> None:
        events.append(self._event(EventType.WARNING, self._next, {"message": message}))


def run_session(
    protocol: Protocol,
    fs_hz: float,
    envelope_uv: np.ndarray,
    flags: np.ndarray | None = None,
    *,
    first_index: int = 0,
    block: int | None = None,
    noise_floor_uv: float | Sequence[float] | None = None,
    pain_before: float | None = None,
    envelope_delay_s: float = 0.05,
    coalesce_s: float = 0.1,
    skip_steps: bool = True,
) -> SessionRunner:
    """Run a protocol over whole arrays (a recording or a synthetic envelope), offline.

    ``block`` splits the arrays into ticks of that many samples (default: one tick). Stops when
    the session ends or the samples run out (then :attr:`SessionRunner.finished` is False).
    Step phases are skipped as they start (nobody is there to press Continue) unless
    ``skip_steps`` is False.
    """
    runner = SessionRunner(
        protocol,
        fs_hz,
        noise_floor_uv=noise_floor_uv,
        envelope_delay_s=envelope_delay_s,
        coalesce_s=coalesce_s,
        skip_steps=skip_steps,
    )
    if pain_before is not None:
        runner.set_pain(before=pain_before)
    env = np.asarray(envelope_uv, dtype=np.float64)
    n = len(env)
    step = n if not block else int(block)
    for a in range(0, max(n, 1), max(step, 1)):
        b = min(n, a + step)
        runner.tick(first_index + a, env[a:b], None if flags is None else flags[a:b])
        if runner.finished:
            break
    runner.flush()
    return runner
