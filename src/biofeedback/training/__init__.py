"""Guided training sessions: protocol files, the session runner, calibration and measures.

Pure logic (no Qt, no threads of its own, no device or storage access): the GUI or the CLI ticks
a :class:`SessionRunner` with the pipeline's envelope and quality flags.
"""

from biofeedback.training.metrics import PhaseMetrics, SessionSummary, patient_summary_text
from biofeedback.training.protocol import (
    Feedback,
    MeasureSettings,
    Phase,
    PhaseKind,
    Protocol,
    ShapingRule,
    Target,
    TargetKind,
    ThresholdSettings,
    library_names,
    list_protocols,
    load_protocol,
    load_protocol_file,
    parse_protocol,
    validate_protocol_file,
)
from biofeedback.training.runner import (
    EventType,
    RunnerEvent,
    RunnerState,
    SessionRunner,
    run_session,
)
from biofeedback.training.thresholds import ThresholdChange

__all__ = [
    "EventType",
    "Feedback",
    "MeasureSettings",
    "Phase",
    "PhaseKind",
    "PhaseMetrics",
    "Protocol",
    "RunnerEvent",
    "RunnerState",
    "SessionRunner",
    "SessionSummary",
    "ShapingRule",
    "Target",
    "TargetKind",
    "ThresholdChange",
    "ThresholdSettings",
    "library_names",
    "list_protocols",
    "load_protocol",
    "load_protocol_file",
    "parse_protocol",
    "patient_summary_text",
    "run_session",
    "validate_protocol_file",
]
