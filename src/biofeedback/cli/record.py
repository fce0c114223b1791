"""``biofeedback record``: record a session headless, guided by a protocol or for a duration."""

from __future__ import annotations

import argparse
import json
import sys
import time

from biofeedback.cli.common import (
    add_pipeline_options,
    add_streaming_options,
    check_duration,
    pipeline_settings_from_args,
    streaming_options_from_args,
)
from biofeedback.errors import BiofeedbackError, SourceURLError
from biofeedback.session_details import TEXT_FIELDS

TYPE_CHECKING = False  # typing, the engine and the store are not imported at start-up
if TYPE_CHECKING:
    from typing import Any

    from biofeedback.interop.streaming import Streaming, StreamingOptions
    from biofeedback.session import RecordingSession, SessionResult
    from biofeedback.training.runner import RunnerEvent

#: The free-text session details offered as options (the store's list; a light module, so
#: ``record --help`` does not import the store).
DETAIL_FIELDS = TEXT_FIELDS


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``record`` subcommand."""
    p = sub.add_parser(
        "record",
        description=(
            "Record a session without a window and store it. With --protocol the session is "
            "guided (calibration, baseline, training trials, measures per phase); without it, "
            "--duration records a plain session. Prints the measures at the end (per phase for "
            "a guided session)."
        ),
    )
    p.add_argument(
        "--source", required=True, metavar="URL", help="source URL, e.g. sim://?scenario=learner"
    )
    p.add_argument(
        "--protocol",
        metavar="NAME",
        help="built-in protocol name or a .toml file (see: protocols list)",
    )
    p.add_argument(
        "--duration", type=float, metavar="SECONDS", help="seconds to record (plain session)"
    )
    p.add_argument("--subject", metavar="ID", help="pseudonymous subject id, e.g. P007")
    p.add_argument(
        "--setting",
        choices=["clinic", "home"],
        help="a clinic or a home session (default: this data dir's station role, see 'course "
        "station'; 'home' when the subject has an open course and no role is set)",
    )
    p.add_argument("--pain-before", type=float, metavar="0-10", help="pain rating before (0-10)")
    p.add_argument("--pain-after", type=float, metavar="0-10", help="pain rating after (0-10)")
    details = p.add_argument_group("session details (shown in the clinician report)")
    for name in DETAIL_FIELDS:
        details.add_argument(
            f"--{name.replace('_', '-')}", dest=name, metavar="TEXT", help=name.replace("_", " ")
        )
    p.add_argument("--json", action="store_true", help="print one JSON object, no progress")
    p.add_argument(
        "--reconnect-s",
        type=float,
        metavar="SECONDS",
        help="how long a lost board may stay away before the stream ends (0-600, default 30)",
    )
    add_pipeline_options(p)
    add_streaming_options(p, markers_in=True)
    p.set_defaults(handler=run)


def _check_pain(value: float | None, option: str) -> None:
    if value is not None and not 0 <= value <= 10:
        raise SourceURLError(f"{option} must be between 0 and 10 (got {value:g})")


def run(args: argparse.Namespace) -> int:
    """Record; print the measures (or one JSON object); exit 0 when the session completed."""
    from biofeedback.cli.signals import interrupt_reason, stop_signals_interrupt
    from biofeedback.cli.steps import handle_step
    from biofeedback.engine import Engine
    from biofeedback.session import RecordingSession
    from biofeedback.storage.courses import session_course_meta
    from biofeedback.storage.database import Database
    from biofeedback.training.protocol import load_protocol

    if args.protocol is None and args.duration is None:
        raise SourceURLError("give --protocol NAME for a guided session or --duration S to record")
    if args.protocol is not None and args.duration is not None:
        raise SourceURLError(
            "give either --protocol (the protocol sets the length) or --duration, not both"
        )
    check_duration(args.duration)
    _check_pain(args.pain_before, "--pain-before")
    _check_pain(args.pain_after, "--pain-after")
    protocol = load_protocol(args.protocol) if args.protocol else None
    streaming_options = streaming_options_from_args(args)
    meta: dict[str, Any] = {k: getattr(args, k) for k in TEXT_FIELDS if getattr(args, k, None)}
    if args.pain_before is not None:
        meta["pain_before"] = args.pain_before
    if protocol is not None and not meta.get("muscle") and protocol.muscles:
        meta["muscle"] = ", ".join(protocol.muscles)

    db = Database()
    # the subject's open course, clinic or home (docs/courses.md)
    meta.update(session_course_meta(db, args.subject, args.setting))
    recovered = db.recover_interrupted()
    if recovered and not args.json:
        ids = ", ".join(str(i) for i in recovered)
        sys.stderr.write(
            f"Closed session(s) {ids} as interrupted (the app stopped while recording).\n"
        )
    engine = Engine(args.source, pipeline_settings_from_args(args))
    engine.device.set_reconnect_window(args.reconnect_s)
    with engine, stop_signals_interrupt():
        session = RecordingSession(
            engine, db, protocol, subject_id=args.subject, duration_s=args.duration, meta=meta
        )
        if not args.json:
            session.add_listener(_print_event)
        # said the moment it happens (on the device or recorder thread), not after --duration
        session.add_failure_listener(_print_failure)
        streaming = _start_streaming(session, streaming_options)
        t0 = time.monotonic()
        session_id = session.start()
        if streaming is not None:
            streaming.listen_for_markers(
                lambda index, label, note: session.add_marker(label, note, index=index)
            )
        if not args.json:
            what = f"protocol {protocol.name!r}" if protocol else f"{args.duration:g} s"
            sys.stderr.write(f"Recording session {session_id} ({what}) from {args.source}\n")
        interrupted = ""
        # education pages, thought records, reflections: asked on a terminal, else skipped
        ask_steps = not args.json and sys.stdin.isatty()
        try:
            while not session.wait(0.25):
                if session.runner is not None:
                    session.apply(handle_step(session.runner, ask_steps))
                if not args.json and sys.stderr.isatty():
                    _progress(session, t0)
        except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM, SIGHUP: close the session cleanly
            interrupted = interrupt_reason(exc)
        result = _finish(session, args.pain_after, interrupted)
        wall_s = time.monotonic() - t0
        if streaming is not None:
            streaming.close()
    db.close()
    out = _result_json(result, protocol.name if protocol else "", wall_s)
    if streaming is not None:
        out["streaming"] = streaming.stats()
    if args.json:
        print(json.dumps(out))
    else:
        if sys.stderr.isatty():
            sys.stderr.write("\n")
        _print_result(out, result)
    if result.storage_note:
        sys.stderr.write(f"biofeedback: {result.storage_note}\n")
    if session.errors and result.summary.get("duration_s", 0) == 0:
        raise BiofeedbackError(session.errors[-1])
    return 0 if result.status == "complete" else 1


def _start_streaming(session: RecordingSession, options: StreamingOptions) -> Streaming | None:
    """Attach LSL/OSC/LSL markers to the session's engine when switched on (None when not:
    nothing is opened). Phases, targets and prompts go out as markers; what goes wrong with
    streaming is said on stderr and the recording goes on."""
    if not options.active:
        return None
    from biofeedback.interop.streaming import Streaming

    streaming = Streaming(options, on_problem=_print_failure)
    streaming.attach(session.engine)
    protocol = session.protocol
    if protocol is not None and isinstance(protocol.scored_channel, int):
        streaming.scored = [protocol.scored_channel]
    session.add_listener(streaming.on_event)
    return streaming


def _finish(session: RecordingSession, pain_after: float | None, reason: str) -> SessionResult:
    """Close the session; a second Ctrl-C/SIGTERM while it closes does not cut it short."""
    while True:
        try:
            return session.finish(pain_after=pain_after, aborted_reason=reason)
        except KeyboardInterrupt:
            sys.stderr.write("biofeedback: still closing the session, please wait\n")


def _print_failure(message: str) -> None:
    lead = "\r\x1b[K" if sys.stderr.isatty() else ""
    sys.stderr.write(f"{lead}biofeedback: {message}\n")
    sys.stderr.flush()


def _progress(session: RecordingSession, t0: float) -> None:
    runner = session.runner
    if runner is None:
        info = session.engine.info
        done = session.engine.stats.samples / info.fs_hz if info else 0.0
        total = session.duration_s or 0.0
        sys.stderr.write(f"\r{done:7.1f} / {total:.0f} s recorded")
    else:
        st = runner.state()
        thr = "--" if st.threshold_uv is None else f"{st.threshold_uv:.2f}"
        sys.stderr.write(
            f"\rphase {st.phase_index + 1}/{st.n_phases} {st.phase_name:<22} "
            f"{st.session_elapsed_s:7.0f} s  threshold {thr} uV   "
        )
    sys.stderr.flush()


def _print_event(event: RunnerEvent) -> None:
    from biofeedback.training.runner import EventType

    # on a terminal the progress line is being rewritten: start a fresh line first
    lead = "\r\x1b[K" if sys.stderr.isatty() else ""
    if event.type == EventType.PHASE_STARTED:
        sys.stderr.write(f"{lead}[{event.time_s:7.1f} s] {event.data.get('name', '')}\n")
    elif event.type == EventType.WARNING:
        sys.stderr.write(
            f"{lead}[{event.time_s:7.1f} s] warning: {event.data.get('message', '')}\n"
        )


def _result_json(result: SessionResult, protocol: str, wall_s: float) -> dict[str, Any]:
    summary = result.summary
    return {
        "session_id": result.session_id,
        "status": result.status,
        "protocol": protocol,
        "wall_s": round(wall_s, 3),
        "duration_s": summary.get("duration_s"),
        "phases": summary.get("phases", []),
        "summary": {k: v for k, v in summary.items() if k not in ("phases", "threshold_log")},
        "threshold_log": summary.get("threshold_log", []),
        "patient_summary": result.patient_text,
        "recorder": result.recorder_stats,
    }


def _num(value: Any, digits: int = 2) -> str:
    return "--" if value is None else f"{value:.{digits}f}"


def _print_result(out: dict[str, Any], result: SessionResult) -> None:
    print(
        f"Session {out['session_id']} {out['status']}: {_num(out['duration_s'], 1)} s of signal "
        f"in {out['wall_s']:.1f} s"
    )
    if out["phases"]:
        print(
            f"{'phase':<24}{'start s':>8}{'dur s':>7}{'mean':>8}{'median':>8}{'thr':>7}"
            f"{'% below':>9}{'excl %':>8}"
        )
        for ph in out["phases"]:
            print(
                f"{ph['name'][:23]:<24}{ph['start_s']:>8.0f}{ph['duration_s']:>7.0f}"
                f"{_num(ph.get('mean_uv')):>8}{_num(ph.get('median_uv')):>8}"
                f"{_num(ph.get('threshold_uv')):>7}{_num(ph.get('pct_below'), 0):>9}"
                f"{_num(ph.get('pct_excluded'), 1):>8}"
            )
        print("(uV RMS at the electrodes)")
    if not out["phases"] and out["summary"].get("channels"):
        print(f"{'channel':<10}{'mean':>10}{'median':>10}   (uV RMS at the electrodes)")
        for ch in out["summary"]["channels"]:
            print(
                f"{ch['name']:<10}{_num(ch.get('rms_uv_mean')):>10}{_num(ch.get('rms_uv_median')):>10}"
            )
    for note in out["summary"].get("notes", []) or []:
        print(f"Note: {note}")
    reasons = [out["summary"].get("abort_reason")] if out["status"] != "complete" else []
    for reason in dict.fromkeys([*reasons, *(out["summary"].get("errors", []) or [])]):
        if reason:
            print(f"Stopped early: {reason}")
    if result.patient_text:
        print()
        print(result.patient_text)
