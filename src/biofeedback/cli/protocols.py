"""``biofeedback protocols [list | show NAME | validate FILE... | courses [NAME]]``: the library.

``list`` shows the built-in protocols and the user's own (``<data dir>/protocols/*.toml``);
``show`` prints one protocol's phases; ``validate`` checks files and prints the precise error
(file, field, what is allowed) with exit code 2 when one is invalid; ``courses`` lists the course
templates (clinic sessions and home practice) or shows one. The format is described in
docs/protocols.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap

from biofeedback.errors import ProtocolFileError

TYPE_CHECKING = False  # the protocol library is not imported at start-up (see biofeedback.cli)
if TYPE_CHECKING:
    from typing import Any

    from biofeedback.training.protocol import Phase, Protocol


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``protocols`` command."""
    parser = subparsers.add_parser(
        "protocols",
        description="Training protocols: the built-in library and your own TOML files "
        "(see docs/protocols.md for the format).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    p_list = actions.add_parser("list", help="list the available protocols (default)")
    p_list.add_argument("--json", action="store_true", help="print one JSON object")
    p_show = actions.add_parser("show", help="show the phases of one protocol")
    p_show.add_argument("name", metavar="NAME", help="a protocol name or a .toml file")
    p_show.add_argument("--json", action="store_true", help="print one JSON object")
    p_val = actions.add_parser("validate", help="check protocol files; exit 2 if one is invalid")
    p_val.add_argument("files", metavar="FILE", nargs="+", help="protocol .toml file(s)")
    p_val.add_argument("--json", action="store_true", help="print one JSON object")
    p_course = actions.add_parser(
        "courses", help="list the course templates, or show one (sessions and home practice)"
    )
    p_course.add_argument("name", metavar="NAME", nargs="?", help="a template name or .toml file")
    p_course.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run, action=None, json=False)


def run(args: argparse.Namespace) -> int:
    """Dispatch to the action; ``protocols`` alone lists."""
    action = args.action or "list"
    if action == "show":
        return _show(args.name, args.json)
    if action == "validate":
        return _validate(args.files, args.json)
    if action == "courses":
        return _courses(args.name, args.json)
    return _list(args.json)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def _duration(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    if seconds > 60:
        return f"{int(seconds // 60)} min {seconds % 60:g} s"
    return f"{seconds:g} s"


def _list(as_json: bool) -> int:
    from biofeedback.training.protocol import list_protocols

    errors: list[ProtocolFileError] = []
    protocols = list_protocols(errors=errors)
    for error in errors:
        sys.stderr.write(f"biofeedback: skipped {error}\n")
    if as_json:
        print(
            json.dumps(
                {
                    "protocols": [
                        {
                            "name": p.name,
                            "description": p.description,
                            "duration_s": p.duration_s,
                            "phases": len(p.phases),
                            "builtin": p.builtin,
                            "source": p.source,
                        }
                        for p in protocols
                    ]
                }
            )
        )
        return 0
    width = max(len(p.name) for p in protocols)
    for p in protocols:
        origin = "" if p.builtin else f"  [{p.source}]"
        print(
            f"{p.name:<{width}}  {_minutes(p.duration_s):>9}  {len(p.phases):>2} phases  "
            f"{p.description}{origin}"
        )
    return 0


def _step_detail(phase: Phase) -> str:
    limit = f"up to {_duration(phase.time_limit_s)}" if phase.time_limit_s else "no time limit"
    what = {
        "education": f"page {phase.page or '(inline text)'}: {phase.title}",
        "thought-record": "thought record: situation, thought, belief %, evidence, balanced thought",
        "reflection": f"asks: {phase.prompt}",
    }[str(phase.kind)]
    image = f", image {phase.image}" if phase.image else ""
    return f"{what}{image}; waits for Continue ({limit}); not scored"


def _phase_detail(phase: Phase) -> str:
    if phase.is_step:
        return _step_detail(phase)
    parts = [f"feedback {phase.feedback}"]
    if phase.target is not None:
        parts.append(f"target {phase.target.describe()}")
    if phase.shaping is not None:
        r = phase.shaping
        parts.append(
            f"shaping every {r.interval_s:g} s +-{r.step_pct:g}% toward {r.target_success_pct:g}%"
        )
    if phase.pacer_bpm:
        parts.append(f"pacer {phase.pacer_bpm:g}/min")
    if phase.micro_break_after_s:
        parts.append(f"micro-break after {phase.micro_break_after_s:g} s above")
    return ", ".join(parts)


def _show(name: str, as_json: bool) -> int:
    from biofeedback.training.protocol import load_protocol

    protocol = load_protocol(name)
    if as_json:
        print(json.dumps(protocol.to_dict()))
        return 0
    print(f"{protocol.name}: {protocol.description}")
    print(f"source: {protocol.source}")
    if protocol.muscles:
        print(f"muscles: {', '.join(protocol.muscles)}")
    t = protocol.threshold
    print(
        f"threshold: start at {t.target.describe()}, floor {t.floor_x_noise:g} x noise floor; "
        f"scored channel: {protocol.scored_channel}"
    )
    print(f"total: {_minutes(protocol.duration_s)} in {len(protocol.phases)} phases")
    for i, phase in enumerate(protocol.phases, start=1):
        length = _duration(phase.duration_s) if phase.duration_s else "Continue"
        print(f"{i:>3}. {phase.name:<24} {phase.kind:<22} {length:>10}")
        print(f"     {_phase_detail(phase)}")
        for line in textwrap.wrap(phase.instruction, 90):
            print(f"     | {line}")
    for warning in protocol.warnings:
        print(f"warning: {warning}")
    return 0


def _validate(files: list[str], as_json: bool) -> int:
    from biofeedback.cli.common import validate_files
    from biofeedback.training.protocol import validate_protocol_file

    def describe(path: str, protocol: Protocol) -> tuple[str, dict[str, Any]]:
        line = (
            f"ok: {path}: protocol '{protocol.name}', {len(protocol.phases)} phases, "
            f"{_minutes(protocol.duration_s)}"
        )
        fields = {
            "name": protocol.name,
            "phases": len(protocol.phases),
            "duration_s": protocol.duration_s,
        }
        return line, fields

    return validate_files(files, validate_protocol_file, ProtocolFileError, describe, as_json)


def _courses(name: str | None, as_json: bool) -> int:
    from biofeedback.training.course_template import load_template, template_names

    templates = [load_template(n) for n in ([name] if name else template_names())]
    if as_json:
        out = templates[0].to_dict() if name else {"courses": [t.to_dict() for t in templates]}
        print(json.dumps(out))
        return 0
    for t in templates:
        print(f"{t.name}: {t.title}")
        if not name:
            continue
        print(f"source: {t.source}")
        for line in textwrap.wrap(t.description, 90):
            print(f"  {line}")
        print(f"clinic sessions, one every {t.weeks_between_sessions} week(s):")
        for s in t.sessions:
            steps = sum(1 for p in s.protocol.phases if p.is_step)
            extra = f" + {steps} step(s) at the patient's pace" if steps else ""
            print(
                f"{s.number:>3}. {s.title:<44} {s.protocol.name:<28} "
                f"{_minutes(s.protocol.duration_s)}{extra}"
            )
        home = t.home_practice
        if home is not None:
            print(
                f"home practice: {home.protocol.name}, {home.sessions_per_week} times a week, "
                f"{home.minutes} min"
            )
    return 0
