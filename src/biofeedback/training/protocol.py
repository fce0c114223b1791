"""Training protocol files: schema, TOML loader and validator (never executed).

A protocol is data (docs/architecture.md, principle 7): a TOML file with a name, the muscles, how the
channels are scored, the calibration and shaping rules, and a list of phases. Built-in protocols
live in ``training/library/*.toml`` and go through the same loader as a clinician's own file.
Every mistake raises :class:`~biofeedback.errors.ProtocolFileError` naming the file, the field
(with the phase number and name) and what is allowed. The format is described in docs/protocols.md.
"""

from __future__ import annotations

import difflib
import enum
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from biofeedback.core.tomlfile import (
    TomlChecker,
    TomlKind,
    as_file,
    fmt_number,
    parse_toml_text,
    read_toml_file,
    show_value,
    type_name,
)
from biofeedback.errors import ProtocolFileError
from biofeedback.training import steps

FORMAT_VERSION = 1
#: Longest single phase accepted (catches "40 min" typed as "400 min").
MAX_PHASE_S = 2 * 3600.0
#: Largest protocol file read (the built-in ones are under 4 KiB); checked before parsing.
MAX_PROTOCOL_FILE_BYTES = 256 * 1024
#: Deepest nesting of tables and lists (the format needs 6: file, phases, block, phase, ...).
MAX_NESTING_DEPTH = 10
#: Most phases a protocol may have once repeats and blocks are expanded.
MAX_PHASES = 500
#: Longest protocol in total (all phases after expansion).
MAX_PROTOCOL_S = 4 * 3600.0
#: Breathing pacer range: ~6 breaths/min, adjustable 4.5-7 (docs/clinical-background.md).
PACER_BPM_RANGE = (4.5, 7.0)
DEFAULT_PACER_BPM = 6.0
DEFAULT_INHALE_PCT = 40.0  # 4 s in / 6 s out at 6 breaths/min
#: Longest ``patient_text`` of a phase (characters): a sentence or two read from the patient chair.
MAX_PATIENT_TEXT_CHARS = 200
LIBRARY_PACKAGE = "biofeedback.training"  # protocols in its library/ folder
#: Limits and message wording of protocol files (shared with instrument files: core.tomlfile).
PROTOCOL_FILE = TomlKind(
    what="protocol",
    error=ProtocolFileError,
    max_bytes=MAX_PROTOCOL_FILE_BYTES,
    max_depth=MAX_NESTING_DEPTH,
    size_hint="Use repeat blocks instead of copies",
    syntax_hint='(text needs quotes, e.g. duration = "3 min")',
    depth_hint="phases hold plain values (see docs/protocols.md)",
)


class PhaseKind(enum.StrEnum):
    """What a phase is for; decides what the runner measures in it."""

    SIGNAL_CHECK = "signal-check"
    NOISE_FLOOR = "noise-floor"
    BASELINE = "baseline"
    REFERENCE = "reference-contraction"
    TRAIN = "train"
    REST = "rest"
    TENSE = "tense"
    RELEASE = "release"
    TRANSFER = "transfer"
    BREATHING = "breathing"
    RECOVERY = "recovery"
    EDUCATION = "education"
    THOUGHT_RECORD = "thought-record"
    REFLECTION = "reflection"


class Feedback(enum.StrEnum):
    """What the patient gets during a phase."""

    VISUAL = "visual"
    AUDIO = "audio"
    BOTH = "both"
    NONE = "none"

    @property
    def visual(self) -> bool:
        """True when the gauge / trace is shown to the patient."""
        return self in (Feedback.VISUAL, Feedback.BOTH)

    @property
    def audio(self) -> bool:
        """True when the tone is on."""
        return self in (Feedback.AUDIO, Feedback.BOTH)


class TargetKind(enum.StrEnum):
    """How a threshold target is expressed."""

    PCT_BASELINE = "pct_baseline"
    UV = "uv"
    PCT_REFERENCE = "pct_reference"


#: Step kinds (CBT and education): no EMG target; the runner waits for the user's Continue or the
#: phase's optional time limit, and their time is not training time (docs/protocols.md).
STEP_KINDS = frozenset({PhaseKind.EDUCATION, PhaseKind.THOUGHT_RECORD, PhaseKind.REFLECTION})
#: Keys of the EMG part of a phase, refused on a step phase.
_EMG_KEYS = (
    "feedback",
    "target",
    "shaping",
    "pacer_bpm",
    "pacer_inhale_pct",
    "micro_break_after_s",
    "muscle_group",
)

#: Kinds that are contractions: a following recovery or release phase measures recovery time.
CONTRACTION_KINDS = frozenset({PhaseKind.REFERENCE, PhaseKind.TENSE})
#: Kinds after which the recovery time is measured (when they follow a contraction).
RECOVERY_KINDS = frozenset({PhaseKind.RECOVERY, PhaseKind.RELEASE})

#: Default feedback per kind: baseline and transfer without feedback (a transfer trial trains
#: relaxing without the display; docs/clinical-background.md).
DEFAULT_FEEDBACK: dict[PhaseKind, Feedback] = {
    PhaseKind.SIGNAL_CHECK: Feedback.VISUAL,
    PhaseKind.NOISE_FLOOR: Feedback.NONE,
    PhaseKind.BASELINE: Feedback.NONE,
    PhaseKind.REFERENCE: Feedback.VISUAL,
    PhaseKind.TRAIN: Feedback.BOTH,
    PhaseKind.REST: Feedback.NONE,
    PhaseKind.TENSE: Feedback.VISUAL,
    PhaseKind.RELEASE: Feedback.VISUAL,
    PhaseKind.TRANSFER: Feedback.NONE,
    PhaseKind.BREATHING: Feedback.VISUAL,
    PhaseKind.RECOVERY: Feedback.NONE,
    PhaseKind.EDUCATION: Feedback.NONE,
    PhaseKind.THOUGHT_RECORD: Feedback.NONE,
    PhaseKind.REFLECTION: Feedback.NONE,
}

#: Instruction shown when a phase gives none.
DEFAULT_INSTRUCTION: dict[PhaseKind, str] = {
    PhaseKind.SIGNAL_CHECK: "Sit comfortably. The clinician checks the electrodes and the signal.",
    PhaseKind.NOISE_FLOOR: "Stay completely still and relaxed while the system noise is measured.",
    PhaseKind.BASELINE: "Sit quietly with your arms resting. Just breathe normally.",
    PhaseKind.REFERENCE: "Tense the muscle firmly (not painfully) and hold until told to stop.",
    PhaseKind.TRAIN: "Let the muscle go soft and keep the bar below the line.",
    PhaseKind.REST: "Rest. Move and stretch gently if you like.",
    PhaseKind.TENSE: "Tense the muscle now and hold it.",
    PhaseKind.RELEASE: "Let go completely and notice the difference.",
    PhaseKind.TRANSFER: "Relax the same way as before, this time without the display.",
    PhaseKind.BREATHING: "Breathe with the pacer: in as it rises, slowly out as it falls.",
    PhaseKind.RECOVERY: "Let go completely and sit quietly.",
    PhaseKind.EDUCATION: "Read at your own pace, then press Continue.",
    PhaseKind.THOUGHT_RECORD: (
        "Think of a recent moment when pain or stress came with a strong thought. "
        "Take it one step at a time; there are no wrong answers."
    ),
    PhaseKind.REFLECTION: "Take a moment to look back on the last exercise.",
}

_PHASE_KEYS = (
    "kind",
    "name",
    "duration",
    "instruction",
    "patient_text",
    "note",
    "feedback",
    "target",
    "shaping",
    "pacer_bpm",
    "pacer_inhale_pct",
    "micro_break_after_s",
    "muscle_group",
    "repeat",
)
#: Keys only a step phase (education, thought-record, reflection) may have.
_STEP_KEYS = ("page", "title", "text", "image", "prompt")
_BLOCK_KEYS = ("name", "repeat", "block")
_TOP_KEYS = (
    "format",
    "name",
    "description",
    "muscles",
    "body_part",
    "scored_channel",
    "asymmetry_pairs",
    "threshold",
    "shaping",
    "measures",
    "phases",
)
_THRESHOLD_KEYS = ("target", "floor_x_noise", "reference_window_s", "max_noise_floor_x")
_SHAPING_KEYS = (
    "enabled",
    "interval_s",
    "step_pct",
    "target_success_pct",
    "band_pct",
    "deadband_pct",
    "max_steps",
    "min_included_pct",
)
_MEASURE_KEYS = (
    "gap_min_s",
    "gap_threshold_uv",
    "recovery_hold_s",
    "recovery_sd",
    "recovery_smooth_s",
    "recovery_robust_sd",
)

#: Where each optional phase key may appear (others: every kind).
_KEY_KINDS: dict[str, frozenset[PhaseKind]] = {
    "target": frozenset({PhaseKind.TRAIN}),
    "shaping": frozenset({PhaseKind.TRAIN}),
    "micro_break_after_s": frozenset({PhaseKind.TRAIN, PhaseKind.TRANSFER}),
    "muscle_group": frozenset({PhaseKind.TENSE, PhaseKind.RELEASE, PhaseKind.REFERENCE}),
    "pacer_bpm": frozenset(
        {
            PhaseKind.BREATHING,
            PhaseKind.TRAIN,
            PhaseKind.REST,
            PhaseKind.RELEASE,
            PhaseKind.RECOVERY,
            PhaseKind.TRANSFER,
        }
    ),
}
_KEY_KINDS["pacer_inhale_pct"] = _KEY_KINDS["pacer_bpm"]
_KEY_KINDS["page"] = frozenset({PhaseKind.EDUCATION})
_KEY_KINDS["text"] = frozenset({PhaseKind.EDUCATION})
_KEY_KINDS["image"] = frozenset({PhaseKind.EDUCATION})
_KEY_KINDS["title"] = frozenset({PhaseKind.EDUCATION})
_KEY_KINDS["prompt"] = frozenset({PhaseKind.REFLECTION})

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_DURATION_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "min": 60.0,
    "mins": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
}
_DURATION_PART = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-z]+)\s*")
_TARGET_RE = re.compile(
    r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(%|uv|µv|μv)\s*(?:of\s+)?(baseline|reference)?\s*$"
)


# --------------------------------------------------------------------------- value types


@dataclass(frozen=True)
class Target:
    """A threshold target: ``90 % of baseline``, ``3 uV`` or ``5 % of reference``."""

    kind: TargetKind
    value: float

    def describe(self) -> str:
        """Human text, the same form the file accepts (``"90% of baseline"``)."""
        if self.kind == TargetKind.UV:
            return f"{fmt_number(self.value)} uV"
        ref = "baseline" if self.kind == TargetKind.PCT_BASELINE else "reference"
        return f"{fmt_number(self.value)}% of {ref}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"kind": str(self.kind), "value": self.value, "text": self.describe()}


@dataclass(frozen=True)
class ShapingRule:
    """Automatic threshold shaping (clinical practice: docs/clinical-background.md).

    Every ``interval_s`` of a training phase, the percentage of included samples below the
    threshold in that interval (the *success*) is compared with ``target_success_pct``. Outside
    ``target_success_pct +- deadband_pct`` the threshold moves by ``step_pct`` percent toward the
    target (lower when success is too high, higher when too low). When the success is outside
    ``band_pct`` up to ``max_steps`` steps are taken at once, as many as the samples of the last
    interval say are needed to come back to the target. An interval with fewer than
    ``min_included_pct`` included samples changes nothing.
    """

    enabled: bool = True
    interval_s: float = 60.0
    step_pct: float = 5.0
    target_success_pct: float = 70.0
    band_pct: tuple[float, float] = (60.0, 80.0)
    deadband_pct: float = 5.0
    max_steps: int = 3
    min_included_pct: float = 50.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "enabled": self.enabled,
            "interval_s": self.interval_s,
            "step_pct": self.step_pct,
            "target_success_pct": self.target_success_pct,
            "band_pct": list(self.band_pct),
            "deadband_pct": self.deadband_pct,
            "max_steps": self.max_steps,
            "min_included_pct": self.min_included_pct,
        }


@dataclass(frozen=True)
class ThresholdSettings:
    """How the starting threshold is computed (default 90 % of baseline, floor 1.5 x noise)."""

    target: Target = Target(TargetKind.PCT_BASELINE, 90.0)
    floor_x_noise: float = 1.5
    reference_window_s: float = 1.0
    #: A measured noise floor above this multiple of the pipeline's floor is not adopted: the
    #: electrodes were on an active muscle, so the value is resting EMG, not system noise.
    max_noise_floor_x: float = 3.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "target": self.target.to_dict(),
            "floor_x_noise": self.floor_x_noise,
            "reference_window_s": self.reference_window_s,
            "max_noise_floor_x": self.max_noise_floor_x,
        }


@dataclass(frozen=True)
class MeasureSettings:
    """Parameters of the per-phase measures (docs/protocols.md, "Measures per phase")."""

    gap_min_s: float = 0.2
    gap_threshold_uv: float | None = None  # None: the training threshold in force
    recovery_hold_s: float = 2.0
    recovery_sd: float = 2.0
    recovery_smooth_s: float = 1.5  # centred RMS window for the recovery time (0: raw envelope)
    recovery_robust_sd: bool = True  # baseline SD for the recovery level from the MAD

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "gap_min_s": self.gap_min_s,
            "gap_threshold_uv": self.gap_threshold_uv,
            "recovery_hold_s": self.recovery_hold_s,
            "recovery_sd": self.recovery_sd,
            "recovery_smooth_s": self.recovery_smooth_s,
            "recovery_robust_sd": self.recovery_robust_sd,
        }


@dataclass(frozen=True)
class Phase:
    """One expanded phase (blocks already repeated).

    ``label`` says where the phase comes from in the file (``"phase 4.1"``), for messages.
    ``shaping`` is the rule in force (None: no shaping). ``target`` is set on train phases.
    ``patient_text`` is what the patient view says instead of ``instruction`` ("" when the file
    gives none; the instruction is written for the clinician's screen).
    """

    name: str
    kind: PhaseKind
    duration_s: float
    instruction: str
    feedback: Feedback
    target: Target | None = None
    shaping: ShapingRule | None = None
    pacer_bpm: float | None = None
    pacer_inhale_pct: float = DEFAULT_INHALE_PCT
    micro_break_after_s: float | None = None
    muscle_group: str | None = None
    note: str = ""
    patient_text: str = ""
    repeat_index: int | None = None
    repeat_count: int = 1
    label: str = ""
    #: Step phases: the page id or file, its title and Markdown-lite text, an image (absolute
    #: path), the reflection's question, and the time limit (None: until the user continues).
    page: str = ""
    title: str = ""
    text: str = ""
    image: str | None = None
    prompt: str = ""
    time_limit_s: float | None = None

    @property
    def is_step(self) -> bool:
        """True for an education, thought-record or reflection phase (waits for Continue)."""
        return self.kind in STEP_KINDS

    def step_dict(self) -> dict[str, Any]:
        """What a window or the CLI needs to show a step phase (empty for other kinds)."""
        if not self.is_step:
            return {}
        return {
            "page": self.page,
            "title": self.title,
            "text": self.text,
            "image": self.image,
            "prompt": self.prompt,
            "time_limit_s": self.time_limit_s,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``protocols show --json``); step phases add ``step``."""
        out = self._base_dict()
        if self.is_step:
            out["step"] = self.step_dict()
        return out

    def _base_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": str(self.kind),
            "duration_s": self.duration_s,
            "instruction": self.instruction,
            "patient_text": self.patient_text,
            "note": self.note,
            "feedback": str(self.feedback),
            "target": self.target.to_dict() if self.target else None,
            "shaping": self.shaping.to_dict() if self.shaping else None,
            "pacer_bpm": self.pacer_bpm,
            "pacer_inhale_pct": self.pacer_inhale_pct if self.pacer_bpm else None,
            "micro_break_after_s": self.micro_break_after_s,
            "muscle_group": self.muscle_group,
            "repeat_index": self.repeat_index,
            "repeat_count": self.repeat_count,
        }


ScoredChannel = int | str  # an output-channel index, or "max" / "mean" over all channels


@dataclass(frozen=True)
class Protocol:
    """A validated protocol. ``source`` is the file it came from (``builtin:NAME`` for the library)."""

    name: str
    description: str
    phases: tuple[Phase, ...]
    muscles: tuple[str, ...] = ()
    body_part: str = ""
    scored_channel: ScoredChannel = 0
    asymmetry_pairs: tuple[tuple[int, int], ...] = ()
    threshold: ThresholdSettings = ThresholdSettings()
    shaping: ShapingRule = ShapingRule()
    measures: MeasureSettings = MeasureSettings()
    source: str = ""
    warnings: tuple[str, ...] = field(default=())

    @property
    def duration_s(self) -> float:
        """Total scheduled length in seconds."""
        return float(sum(p.duration_s for p in self.phases))

    @property
    def builtin(self) -> bool:
        """True for a protocol from the built-in library."""
        return self.source.startswith("builtin:")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``protocols show NAME --json``)."""
        return {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "muscles": list(self.muscles),
            "body_part": self.body_part,
            "scored_channel": self.scored_channel,
            "asymmetry_pairs": [list(p) for p in self.asymmetry_pairs],
            "duration_s": self.duration_s,
            "threshold": self.threshold.to_dict(),
            "shaping": self.shaping.to_dict(),
            "measures": self.measures.to_dict(),
            "phases": [p.to_dict() for p in self.phases],
            "warnings": list(self.warnings),
        }


# --------------------------------------------------------------------------- public loaders


def library_names() -> list[str]:
    """Names of the built-in protocols, sorted."""
    folder = resources.files(LIBRARY_PACKAGE).joinpath("library")
    return sorted(
        entry.name[: -len(".toml")] for entry in folder.iterdir() if entry.name.endswith(".toml")
    )


def user_protocol_dir() -> Path:
    """Where a user's own protocols are looked up by name (``<data dir>/protocols``)."""
    from biofeedback.config import data_dir  # late: only needed when looking up by name

    return data_dir(create=False) / "protocols"


def list_protocols(
    include_user: bool = True, errors: list[ProtocolFileError] | None = None
) -> list[Protocol]:
    """All built-in protocols, then the user's own (``<data dir>/protocols/*.toml``).

    A broken user file raises its :class:`ProtocolFileError`, or, when ``errors`` is a list, is
    left out and its error appended there (so one bad file does not hide the others).
    """
    found = [load_protocol(name) for name in library_names()]
    if include_user:
        folder = user_protocol_dir()
        if folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                try:
                    found.append(load_protocol_file(path))
                except ProtocolFileError as exc:
                    if errors is None:
                        raise
                    errors.append(exc)
    return found


def load_protocol(name_or_path: str | Path) -> Protocol:
    """A protocol by built-in name, by name in the user's protocol folder, or by file path."""
    path = as_file(name_or_path)
    if path is not None:
        return load_protocol_file(path)
    text = str(name_or_path)
    if text in library_names():
        data = resources.files(LIBRARY_PACKAGE).joinpath("library", f"{text}.toml").read_bytes()
        return parse_protocol(data, f"{text}.toml", source=f"builtin:{text}")
    user = user_protocol_dir() / f"{text}.toml"
    if user.is_file():
        return load_protocol_file(user)
    raise ProtocolFileError(
        f"unknown protocol {text!r}: choose one of {', '.join(library_names())} "
        "(see: biofeedback protocols list), or give the path of a .toml file"
    )


def load_protocol_file(path: str | Path) -> Protocol:
    """Read and validate one protocol file (at most ``MAX_PROTOCOL_FILE_BYTES``)."""
    raw, filename, source = read_toml_file(path, PROTOCOL_FILE)
    return _Parser(filename, source).protocol(raw)


def validate_protocol_file(path: str | Path) -> Protocol:
    """Validate a file; returns the protocol (with its warnings) or raises ProtocolFileError."""
    return load_protocol_file(path)


def parse_protocol(data: bytes | str, filename: str, source: str = "") -> Protocol:
    """Parse and validate TOML text. ``filename`` starts every error message."""
    raw = parse_toml_text(data, filename, PROTOCOL_FILE)
    return _Parser(filename, source or filename).protocol(raw)


# --------------------------------------------------------------------------- parsing helpers


def parse_duration(value: object) -> float:
    """Seconds from a number or a string like ``"4 min"``, ``"30 s"``, ``"1 min 30 s"``.

    Raises ValueError with the reason; the caller adds the file and field.
    """
    if isinstance(value, bool):
        raise ValueError(f"must be a number of seconds or a string like '4 min' (got {value!r})")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        pos = 0
        seconds = 0.0
        parts = 0
        while pos < len(text):
            match = _DURATION_PART.match(text, pos)
            if not match or match.group(2) not in _DURATION_UNITS:
                raise ValueError(
                    f"{value!r} is not a duration: write seconds (240) or a string like "
                    "'4 min', '30 s' or '1 min 30 s'"
                )
            seconds += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
            pos = match.end()
            parts += 1
        if parts == 0:
            raise ValueError("is empty: write seconds (240) or a string like '4 min'")
    else:
        raise ValueError(f"must be a number of seconds or a string like '4 min' (got {value!r})")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{show_value(value)} must be > 0 seconds")
    if seconds > MAX_PHASE_S:
        raise ValueError(f"{show_value(value)} is longer than the {MAX_PHASE_S / 3600:g} h allowed")
    return seconds


def parse_target(value: object) -> Target:
    """A target from ``"90% of baseline"``, ``"3 uV"``, ``"5% of reference"`` or a table.

    The table form has exactly one of ``pct_baseline``, ``uv``, ``pct_reference``.
    """
    allowed = "write '90% of baseline', '3 uV' or '5% of reference'"
    if isinstance(value, str):
        match = _TARGET_RE.match(value.lower())
        if not match:
            raise ValueError(f"{value!r} is not a target: {allowed}")
        number = float(match.group(1))
        unit, ref = match.group(2), match.group(3)
        if unit == "%":
            if ref is None:
                raise ValueError(f"{value!r}: say percent of what: {allowed}")
            kind = TargetKind.PCT_BASELINE if ref == "baseline" else TargetKind.PCT_REFERENCE
        else:
            if ref is not None:
                raise ValueError(f"{value!r}: an absolute target in uV has no 'of ...': {allowed}")
            kind = TargetKind.UV
    elif isinstance(value, Mapping):
        keys = [k for k in value if k in {k.value for k in TargetKind}]
        unknown = [k for k in value if k not in {k.value for k in TargetKind}]
        if unknown or len(keys) != 1:
            raise ValueError(
                f"table {dict(value)!r} must have exactly one of pct_baseline, uv, pct_reference"
            )
        kind = TargetKind(keys[0])
        number = value[keys[0]]
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise ValueError(f"{keys[0]} must be a number (got {number!r})")
        number = float(number)
    else:
        raise ValueError(f"must be a string or a table (got {value!r}): {allowed}")
    if kind == TargetKind.UV:
        if not 0 < number <= 5000:
            raise ValueError(f"{fmt_number(number)} uV must be > 0 and <= 5000 uV")
    elif not 0 < number <= 200:
        raise ValueError(f"{fmt_number(number)}% must be > 0 and <= 200 %")
    return Target(kind, number)


def _length(value: object) -> int:
    """Length of a list (0 for anything else: the block's own check reports it)."""
    return len(value) if isinstance(value, list) else 0


def _repeat_count(item: Mapping[str, Any]) -> int:
    """An entry's ``repeat`` if it is a valid count, else 1 (the full check reports it)."""
    value = item.get("repeat", 1)
    return (
        value if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 100 else 1
    )


class _Parser(TomlChecker):
    """Validates the decoded TOML; collects warnings."""

    def __init__(self, filename: str, source: str) -> None:
        super().__init__(filename, ProtocolFileError)
        self.source = source
        self.warnings: list[str] = []

    # -- top level

    def protocol(self, raw: dict[str, Any]) -> Protocol:
        self.check_keys(raw, _TOP_KEYS, "")
        if "format" in raw and (isinstance(raw["format"], bool) or raw["format"] != FORMAT_VERSION):
            raise self.fail(
                "", f"format {raw['format']!r} is not supported: this version reads format = 1"
            )
        if "name" not in raw:
            raise self.fail("", "missing required key 'name' (e.g. name = \"my-protocol\")")
        name = raw["name"]
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise self.fail(
                "",
                f"name {name!r} must be lower-case letters, digits and '-' (e.g. \"desk-10min\")",
            )
        description = self.text(raw, "description", "")
        muscles = self.string_list(raw, "muscles")
        body_part = self.text(raw, "body_part", "")
        scored = self.scored_channel(raw)
        pairs = self.pairs(raw)
        threshold = self.threshold(raw.get("threshold", {}))
        shaping = self.shaping(raw.get("shaping", {}), "[shaping]", ShapingRule())
        measures = self.measures(raw.get("measures", {}))
        if "phases" not in raw:
            raise self.fail("", "missing required key 'phases': add at least one [[phases]] table")
        phases = self.phases(raw["phases"], threshold, shaping)
        self.check_order(phases, threshold)
        return Protocol(
            name=name,
            description=description,
            phases=tuple(phases),
            muscles=muscles,
            body_part=body_part,
            scored_channel=scored,
            asymmetry_pairs=pairs,
            threshold=threshold,
            shaping=shaping,
            measures=measures,
            source=self.source,
            warnings=tuple(self.warnings),
        )

    def string_list(self, raw: Mapping[str, Any], key: str) -> tuple[str, ...]:
        value = raw.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail("", f'{key} must be a list of text, e.g. {key} = ["upper trapezius"]')
        return tuple(v.strip() for v in value)

    def scored_channel(self, raw: Mapping[str, Any]) -> ScoredChannel:
        value = raw.get("scored_channel", 0)
        allowed = 'an output channel number (0, 1, ...) or "max" or "mean"'
        if isinstance(value, bool):
            raise self.fail("", f"scored_channel must be {allowed} (got {value!r})")
        if isinstance(value, int):
            if value < 0:
                raise self.fail("", f"scored_channel {value} must be >= 0 ({allowed})")
            return value
        if value in ("max", "mean"):
            return value
        raise self.fail("", f"scored_channel {value!r} is not allowed: use {allowed}")

    def pairs(self, raw: Mapping[str, Any]) -> tuple[tuple[int, int], ...]:
        value = raw.get("asymmetry_pairs", [])
        hint = "asymmetry_pairs must be a list of [left, right] channel numbers, e.g. [[0, 1]]"
        if not isinstance(value, list):
            raise self.fail("", hint)
        pairs = []
        for item in value:
            if (
                not isinstance(item, list)
                or len(item) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in item)
                or item[0] == item[1]
            ):
                raise self.fail("", f"{hint} (got {item!r})")
            pairs.append((item[0], item[1]))
        return tuple(pairs)

    def threshold(self, value: object) -> ThresholdSettings:
        where = "[threshold]"
        table = self.table(value, where)
        self.check_keys(table, _THRESHOLD_KEYS, where)
        default = ThresholdSettings()
        target = default.target
        if "target" in table:
            try:
                target = parse_target(table["target"])
            except ValueError as exc:
                raise self.fail(where, f"target {exc}") from None
        return ThresholdSettings(
            target=target,
            floor_x_noise=self.number(table, "floor_x_noise", where, default.floor_x_noise, 0, 10),
            reference_window_s=self.number(
                table, "reference_window_s", where, default.reference_window_s, 0.1, 10, unit=" s"
            ),
            max_noise_floor_x=self.number(
                table, "max_noise_floor_x", where, default.max_noise_floor_x, 1, 100
            ),
        )

    def shaping(self, value: object, where: str, base: ShapingRule) -> ShapingRule:
        if isinstance(value, bool):
            return replace(base, enabled=value)
        table = self.table(value, where)
        self.check_keys(table, _SHAPING_KEYS, where)
        enabled = table.get("enabled", base.enabled)
        if not isinstance(enabled, bool):
            raise self.fail(where, f"enabled must be true or false (got {enabled!r})")
        interval = self.number(table, "interval_s", where, base.interval_s, 5, 1800, unit=" s")
        step = self.number(table, "step_pct", where, base.step_pct, 0, 50, low_open=True, unit=" %")
        target = self.number(
            table, "target_success_pct", where, base.target_success_pct, 0, 100, low_open=True
        )
        deadband = self.number(table, "deadband_pct", where, base.deadband_pct, 0, 50, unit=" %")
        min_incl = self.number(
            table, "min_included_pct", where, base.min_included_pct, 0, 100, unit=" %"
        )
        max_steps = base.max_steps
        if "max_steps" in table:
            ms = table["max_steps"]
            if isinstance(ms, bool) or not isinstance(ms, int) or not 1 <= ms <= 10:
                raise self.fail(where, f"max_steps {ms!r} must be a whole number from 1 to 10")
            max_steps = ms
        band = base.band_pct
        if "band_pct" in table:
            b = table["band_pct"]
            if (
                not isinstance(b, list)
                or len(b) != 2
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in b)
            ):
                raise self.fail(where, f"band_pct must be [low, high] in percent (got {b!r})")
            band = (float(b[0]), float(b[1]))
        if not 0 <= band[0] < target < band[1] <= 100:
            raise self.fail(
                where,
                f"band_pct [{fmt_number(band[0])}, {fmt_number(band[1])}] must be [low, high] with "
                f"0 <= low < target_success_pct ({fmt_number(target)}) < high <= 100",
            )
        return ShapingRule(
            enabled=enabled,
            interval_s=interval,
            step_pct=step,
            target_success_pct=target,
            band_pct=band,
            deadband_pct=deadband,
            max_steps=max_steps,
            min_included_pct=min_incl,
        )

    def measures(self, value: object) -> MeasureSettings:
        where = "[measures]"
        table = self.table(value, where)
        self.check_keys(table, _MEASURE_KEYS, where)
        d = MeasureSettings()
        robust = table.get("recovery_robust_sd", d.recovery_robust_sd)
        if not isinstance(robust, bool):
            raise self.fail(where, f"recovery_robust_sd must be true or false (got {robust!r})")
        gap_uv = None
        if "gap_threshold_uv" in table:
            gap_uv = self.number(table, "gap_threshold_uv", where, 0, 0, 5000, low_open=True)
        return MeasureSettings(
            gap_min_s=self.number(table, "gap_min_s", where, d.gap_min_s, 0.01, 10, unit=" s"),
            gap_threshold_uv=gap_uv,
            recovery_hold_s=self.number(
                table, "recovery_hold_s", where, d.recovery_hold_s, 0.1, 60, unit=" s"
            ),
            recovery_sd=self.number(table, "recovery_sd", where, d.recovery_sd, 0, 10),
            recovery_smooth_s=self.number(
                table, "recovery_smooth_s", where, d.recovery_smooth_s, 0, 10, unit=" s"
            ),
            recovery_robust_sd=robust,
        )

    # -- phases

    def phases(
        self, value: object, threshold: ThresholdSettings, shaping: ShapingRule
    ) -> list[Phase]:
        if not isinstance(value, list):
            raise self.fail("", "phases must be a list of tables: write each as [[phases]]")
        if not value:
            raise self.fail("", "phases is empty: add at least one [[phases]] table")
        out: list[Phase] = []
        for number, item in enumerate(value, start=1):
            label = f"phase {number}"
            if not isinstance(item, Mapping):
                raise self.fail(label, f"must be a table (got {type_name(item)})")
            if "block" in item:
                self.check_count(out, _repeat_count(item) * _length(item["block"]), label)
                out.extend(self.block(item, label, threshold, shaping))
            else:
                self.check_count(out, _repeat_count(item), label)
                out.extend(self.phase_repeated(item, label, threshold, shaping))
        total = sum(phase.duration_s for phase in out)
        if total > MAX_PROTOCOL_S:
            raise self.fail(
                "",
                f"the phases last {total / 3600:.3g} h in total; the limit for a protocol is "
                f"{MAX_PROTOCOL_S / 3600:g} h: split it into several sessions",
            )
        return out

    def check_count(self, phases: list[Phase], adding: int, label: str) -> None:
        """Fail before expanding when the protocol would exceed ``MAX_PHASES`` phases."""
        if len(phases) + adding > MAX_PHASES:
            raise self.fail(
                label,
                f"the protocol would have more than {MAX_PHASES} phases once repeats and blocks "
                f"are expanded, the limit for a protocol: use fewer or longer phases",
            )

    def block(
        self,
        item: Mapping[str, Any],
        label: str,
        threshold: ThresholdSettings,
        shaping: ShapingRule,
    ) -> list[Phase]:
        name = item.get("name")
        where = f"{label} '{name}'" if isinstance(name, str) else f"{label} (block)"
        self.check_keys(item, _BLOCK_KEYS, where)
        count = self.repeat(item, where)
        body = item["block"]
        if not isinstance(body, list) or not body:
            raise self.fail(
                where, "block must be a non-empty list of phase tables ([[phases.block]])"
            )
        template: list[tuple[Mapping[str, Any], str]] = []
        for sub, inner in enumerate(body, start=1):
            sub_label = f"{label}.{sub}"
            if not isinstance(inner, Mapping):
                raise self.fail(sub_label, f"must be a table (got {type_name(inner)})")
            if "block" in inner:
                raise self.fail(sub_label, "blocks cannot be nested: flatten the inner block")
            if "repeat" in inner:
                raise self.fail(
                    self.where(inner, sub_label),
                    "repeat is not allowed inside a block: repeat the block instead",
                )
            template.append((inner, sub_label))
        # Validate once, then copy: every repetition is identical apart from its name.
        parsed = [self.phase(inner, sub_label, threshold, shaping) for inner, sub_label in template]
        return [
            replace(
                phase,
                name=f"{phase.name} {i}" if count > 1 else phase.name,
                repeat_index=i if count > 1 else None,
                repeat_count=count,
            )
            for i in range(1, count + 1)
            for phase in parsed
        ]

    def phase_repeated(
        self,
        item: Mapping[str, Any],
        label: str,
        threshold: ThresholdSettings,
        shaping: ShapingRule,
    ) -> list[Phase]:
        where = self.where(item, label)
        count = self.repeat(item, where) if "repeat" in item else 1
        phase = self.phase(item, label, threshold, shaping)
        if count == 1:
            return [phase]
        return [
            replace(phase, name=f"{phase.name} {i}", repeat_index=i, repeat_count=count)
            for i in range(1, count + 1)
        ]

    def repeat(self, item: Mapping[str, Any], where: str) -> int:
        value = item.get("repeat", None)
        if value is None:
            raise self.fail(where, "a block needs repeat = N (how many times to run it)")
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
            raise self.fail(
                where, f"repeat {show_value(value)} must be a whole number from 1 to 100"
            )
        return value

    @staticmethod
    def where(item: Mapping[str, Any], label: str) -> str:
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            name = item.get("kind")
        return f"{label} '{name}'" if isinstance(name, str) and name.strip() else label

    def phase(
        self,
        item: Mapping[str, Any],
        label: str,
        threshold: ThresholdSettings,
        shaping: ShapingRule,
    ) -> Phase:
        where = self.where(item, label)
        step = item.get("kind") in {k.value for k in STEP_KINDS}
        self.check_keys(item, _PHASE_KEYS + _STEP_KEYS if step else _PHASE_KEYS, where)
        kind = self.phase_kind(item, where)
        name = self.text(item, "name", where, kind.value) or kind.value
        if kind in STEP_KINDS:
            return self.step_phase(item, label, where, kind, name)
        if "duration" not in item:
            raise self.fail(where, "missing required key 'duration' (e.g. duration = \"4 min\")")
        try:
            duration = parse_duration(item["duration"])
        except ValueError as exc:
            raise self.fail(where, f"duration {exc}") from None
        instruction = self.text(item, "instruction", where, DEFAULT_INSTRUCTION[kind])
        note = self.text(item, "note", where)
        patient_text = self.patient_text(item, where)
        feedback = self.phase_feedback(item, where, kind)
        target, rule = self.train_target(item, where, kind, threshold, shaping)
        pacer = None
        if kind == PhaseKind.BREATHING:
            pacer = DEFAULT_PACER_BPM
        if "pacer_bpm" in item:
            pacer = self.number(
                item, "pacer_bpm", where, DEFAULT_PACER_BPM, *PACER_BPM_RANGE, unit=" breaths/min"
            )
        inhale = self.number(item, "pacer_inhale_pct", where, DEFAULT_INHALE_PCT, 20, 60, unit=" %")
        micro = None
        if "micro_break_after_s" in item:
            micro = self.number(item, "micro_break_after_s", where, 60, 5, 3600, unit=" s")
        muscle_group = self.text(item, "muscle_group", where) or None
        self.advise(kind, duration, where)
        return Phase(
            name=name,
            kind=kind,
            duration_s=duration,
            instruction=instruction,
            feedback=feedback,
            target=target,
            shaping=rule,
            pacer_bpm=pacer,
            pacer_inhale_pct=inhale,
            micro_break_after_s=micro,
            muscle_group=muscle_group,
            note=note,
            patient_text=patient_text,
            label=label,
        )

    def step_phase(
        self, item: Mapping[str, Any], label: str, where: str, kind: PhaseKind, name: str
    ) -> Phase:
        """An education, thought-record or reflection phase: no EMG keys, optional time limit."""
        for key in _EMG_KEYS:
            if key in item:
                raise self.fail(
                    where,
                    f"{key} is not allowed on a {kind} phase: it has no EMG target (the signal "
                    "keeps recording but is not scored)",
                )
        limit = None
        if "duration" in item:
            try:
                limit = parse_duration(item["duration"])
            except ValueError as exc:
                raise self.fail(where, f"duration (the time limit) {exc}") from None
        page_ref = title = text = prompt = ""
        image = None
        base = None if self.source.startswith("builtin:") else Path(self.source).parent
        if kind == PhaseKind.EDUCATION:
            page_ref = self.text(item, "page", where)
            text = self.text(item, "text", where)
            title = self.text(item, "title", where)
            if bool(page_ref) == bool(text):
                raise self.fail(
                    where,
                    "an education phase needs exactly one of page (a built-in page such as "
                    f"'{steps.builtin_page_ids()[0]}', or a .md file next to the protocol) or "
                    "text (the page itself)",
                )
            try:
                if page_ref:
                    page = steps.load_page(page_ref, base)
                    title, text = title or page.title, page.body
                if "image" in item:
                    image = steps.check_image(self.text(item, "image", where), base)
            except ValueError as exc:
                raise self.fail(where, str(exc)) from None
        elif kind == PhaseKind.REFLECTION:
            prompt = self.text(item, "prompt", where, steps.DEFAULT_REFLECTION_PROMPT)
        return Phase(
            name=name,
            kind=kind,
            duration_s=limit or 0.0,
            instruction=self.text(item, "instruction", where, DEFAULT_INSTRUCTION[kind]),
            feedback=Feedback.NONE,
            note=self.text(item, "note", where),
            patient_text=self.patient_text(item, where),
            label=label,
            page=page_ref,
            title=title,
            text=text,
            image=image,
            prompt=prompt,
            time_limit_s=limit,
        )

    def patient_text(self, item: Mapping[str, Any], where: str) -> str:
        """The phase's text for the patient view: one line, at most MAX_PATIENT_TEXT_CHARS."""
        text = self.text(item, "patient_text", where)
        if "\n" in text:
            raise self.fail(
                where, "patient_text must be one line (the patient view shows a sentence)"
            )
        if len(text) > MAX_PATIENT_TEXT_CHARS:
            raise self.fail(
                where,
                f"patient_text has {len(text)} characters, more than the {MAX_PATIENT_TEXT_CHARS} "
                "allowed: say it in a sentence or two",
            )
        return text

    def phase_kind(self, item: Mapping[str, Any], where: str) -> PhaseKind:
        """The phase's kind, and a check that its keys are allowed on that kind."""
        if "kind" not in item:
            raise self.fail(
                where,
                f"missing required key 'kind': one of {', '.join(k.value for k in PhaseKind)}",
            )
        raw_kind = item["kind"]
        try:
            kind = PhaseKind(raw_kind)
        except ValueError:
            close = difflib.get_close_matches(str(raw_kind), [k.value for k in PhaseKind], n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise self.fail(
                where,
                f"kind {raw_kind!r} is not allowed{hint}: choose one of "
                f"{', '.join(k.value for k in PhaseKind)}",
            ) from None
        for key, kinds in _KEY_KINDS.items():
            if key in item and kind not in kinds:
                raise self.fail(
                    where,
                    f"{key} is not allowed on a {kind} phase (only on "
                    f"{', '.join(sorted(k.value for k in kinds))} phases)",
                )
        return kind

    def phase_feedback(self, item: Mapping[str, Any], where: str, kind: PhaseKind) -> Feedback:
        """The phase's feedback (the kind's default unless given); transfer has none, train some."""
        feedback = DEFAULT_FEEDBACK[kind]
        if "feedback" in item:
            try:
                feedback = Feedback(item["feedback"])
            except ValueError:
                raise self.fail(
                    where,
                    f"feedback {item['feedback']!r} is not allowed: choose one of "
                    f"{', '.join(f.value for f in Feedback)}",
                ) from None
        if kind == PhaseKind.TRANSFER and feedback != Feedback.NONE:
            raise self.fail(
                where,
                f"feedback '{feedback}' is not allowed: a transfer phase is without feedback "
                '(use kind = "train" for a trial with feedback)',
            )
        if kind == PhaseKind.TRAIN and feedback == Feedback.NONE:
            raise self.fail(
                where,
                "feedback 'none' is not allowed on a train phase: use visual, audio or both, "
                'or kind = "transfer" for a trial without feedback',
            )
        return feedback

    def train_target(
        self,
        item: Mapping[str, Any],
        where: str,
        kind: PhaseKind,
        threshold: ThresholdSettings,
        shaping: ShapingRule,
    ) -> tuple[Target | None, ShapingRule | None]:
        """A train phase's target and shaping rule (the protocol's unless the phase overrides)."""
        target = None
        rule = None
        if kind == PhaseKind.TRAIN:
            target = threshold.target
            if "target" in item:
                try:
                    target = parse_target(item["target"])
                except ValueError as exc:
                    raise self.fail(where, f"target {exc}") from None
            rule = shaping
            if "shaping" in item:
                rule = self.shaping(item["shaping"], f"{where}: shaping", shaping)
            if not rule.enabled:
                rule = None
        return target, rule

    def advise(self, kind: PhaseKind, duration_s: float, where: str) -> None:
        """Warnings (not errors) where a value departs from clinical practice."""
        ranges = {PhaseKind.TENSE: (5.0, 7.0), PhaseKind.RELEASE: (30.0, 40.0)}
        if kind in ranges:
            low, high = ranges[kind]
            if not low <= duration_s <= high:
                self.warnings.append(
                    f"{where}: {kind} for {fmt_number(duration_s)} s; progressive muscle relaxation "
                    f"uses {fmt_number(low)}-{fmt_number(high)} s"
                )
        if kind == PhaseKind.BASELINE and duration_s < 30:
            self.warnings.append(
                f"{where}: baseline of {fmt_number(duration_s)} s is short; the median needs >= 30 s "
                "to be stable (the clinical template uses 3 min)"
            )

    def check_order(self, phases: list[Phase], threshold: ThresholdSettings) -> None:
        """Targets need their calibration phase earlier in the session."""
        seen_baseline = seen_reference = False
        for phase in phases:
            if phase.kind == PhaseKind.BASELINE:
                seen_baseline = True
            if phase.kind == PhaseKind.REFERENCE:
                seen_reference = True
            if phase.kind != PhaseKind.TRAIN or phase.target is None:
                continue
            where = f"{phase.label} '{phase.name}'"
            if phase.target.kind == TargetKind.PCT_BASELINE and not seen_baseline:
                raise self.fail(
                    where,
                    f"target '{phase.target.describe()}' needs a baseline phase before it "
                    "(add one, or give an absolute target like '3 uV')",
                )
            if phase.target.kind == TargetKind.PCT_REFERENCE and not seen_reference:
                raise self.fail(
                    where,
                    f"target '{phase.target.describe()}' needs a reference-contraction phase "
                    "before it",
                )
        if not any(p.kind in (PhaseKind.TRAIN, PhaseKind.TRANSFER) for p in phases):
            return
        if threshold.target.kind == TargetKind.PCT_REFERENCE and not seen_reference:
            raise self.fail(
                "[threshold]",
                f"target '{threshold.target.describe()}' needs a reference-contraction phase",
            )
