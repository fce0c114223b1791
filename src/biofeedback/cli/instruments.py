"""``biofeedback instruments [list | show ID | validate FILE...]``: outcome-measure instruments.

``list`` shows the built-in instruments and the clinic's own (``<data dir>/instruments/*.toml``);
``show`` prints one instrument's items, scores and change thresholds with their sources;
``validate`` checks files and prints the precise error (file, entry, what is allowed) with exit
code 2 when one is invalid, as ``protocols validate`` does. The format is in docs/outcomes.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap

from biofeedback.errors import InstrumentFileError

TYPE_CHECKING = False  # the outcomes package is not imported at start-up (see biofeedback.cli)
if TYPE_CHECKING:
    from typing import Any

    from biofeedback.outcomes.instrument import Instrument, Item, Score


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``instruments`` command."""
    parser = subparsers.add_parser(
        "instruments",
        description="Outcome-measure questionnaires: the built-in ones and your clinic's own "
        "TOML files in <data dir>/instruments (see docs/outcomes.md for the format).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    p_list = actions.add_parser("list", help="list the available instruments (default)")
    p_list.add_argument("--json", action="store_true", help="print one JSON object")
    p_show = actions.add_parser("show", help="show the items and scoring of one instrument")
    p_show.add_argument("name", metavar="ID", help="an instrument id or a .toml file")
    p_show.add_argument("--json", action="store_true", help="print one JSON object")
    p_val = actions.add_parser("validate", help="check instrument files; exit 2 if one is invalid")
    p_val.add_argument("files", metavar="FILE", nargs="+", help="instrument .toml file(s)")
    p_val.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run, action=None, json=False)


def run(args: argparse.Namespace) -> int:
    """Dispatch to the action; ``instruments`` alone lists."""
    action = args.action or "list"
    if action == "show":
        return _show(args.name, args.json)
    if action == "validate":
        return _validate(args.files, args.json)
    return _list(args.json)


def _list(as_json: bool) -> int:
    from biofeedback.outcomes.instrument import list_instruments

    errors: list[InstrumentFileError] = []
    found = list_instruments(errors=errors)
    for error in errors:
        sys.stderr.write(f"biofeedback: skipped {error}\n")
    if as_json:
        rows = [
            {
                "id": i.id,
                "name": i.name,
                "version": i.version,
                "items": len(i.items),
                "builtin": i.builtin,
                "origin": i.origin,
            }
            for i in found
        ]
        print(json.dumps({"instruments": rows}))
        return 0
    width = max(len(i.id) for i in found)
    for i in found:
        origin = "" if i.builtin else f"  [{i.origin}]"
        print(f"{i.id:<{width}}  v{i.version:<4} {len(i.items):>3} items  {i.name}{origin}")
    return 0


def scale_text(item: Item) -> str:
    """How an item is answered, in one line ("0-10: 0 = no pain, 10 = worst")."""
    from biofeedback.core.tomlfile import fmt_number

    if item.choices:
        return "; ".join(f"{fmt_number(c.value)} = {c.label}" for c in item.choices)
    if item.response == "text":
        return "free text"
    step = "" if item.step == 1 else f" in steps of {fmt_number(item.step)}"
    anchors = ", ".join(f"{fmt_number(v)} = {label}" for v, label in item.anchors)
    text = f"{fmt_number(item.minimum)}-{fmt_number(item.maximum)}{step}"
    return f"{text}: {anchors}" if anchors else text


def _rule_text(score: Score) -> list[str]:
    from biofeedback.core.tomlfile import fmt_number

    missing = (
        f"at most {score.max_missing} missing ({score.missing})"
        if score.max_missing
        else "every item needed"
    )
    lines = [f"{score.id}: {score.name} = {score.method} of {', '.join(score.items)}; {missing}"]
    rule = score.change
    if rule is not None:
        parts = [str(rule.direction)]
        if rule.mcid is not None:
            parts.append(f"MCID {fmt_number(rule.mcid)}")
        if rule.mcid_percent is not None:
            parts.append(f"MCID {fmt_number(rule.mcid_percent)} %")
        if rule.mdc is not None:
            parts.append(f"MDC {fmt_number(rule.mdc)}")
        if rule.responder_value is not None:
            parts.append(f"important at {fmt_number(rule.responder_value)} or better")
        lines.append("   change: " + ", ".join(parts))
        lines += ["   | " + line for line in textwrap.wrap(f"source: {rule.source}", 90)]
    return lines


def describe(instrument: Instrument) -> list[str]:
    """The lines of ``instruments show``."""
    lines = [f"{instrument.id} v{instrument.version}: {instrument.name}"]
    lines.append(f"origin: {instrument.origin}  sha256: {instrument.sha256[:16]}...")
    for label, text in (
        ("licence", instrument.licence),
        ("source", instrument.source),
        ("recall period", instrument.recall_period),
        ("instructions", instrument.instructions),
    ):
        if text:
            lines += textwrap.wrap(f"{label}: {text}", 96, subsequent_indent="  ")
    lines.append(f"items ({len(instrument.items)}):")
    for n, item in enumerate(instrument.items, start=1):
        flags = " (reverse-scored)" if item.reverse else ""
        if item.subscales:
            flags += f" [subscale {', '.join(item.subscales)}]"
        if item.ask_if:
            flags += f" (asked when {item.ask_if} is answered)"
        lines.append(f"{n:>3}. {item.id}: {item.text}{flags}")
        lines.append(f"     {scale_text(item)}")
    lines.append("scores:")
    for score in instrument.scores:
        lines += ["  " + line for line in _rule_text(score)]
    lines += [f"warning: {w}" for w in instrument.warnings]
    return lines


def _show(name: str, as_json: bool) -> int:
    from biofeedback.outcomes.instrument import load_instrument

    instrument = load_instrument(name)
    if as_json:
        print(json.dumps(instrument.to_dict()))
        return 0
    print("\n".join(describe(instrument)))
    return 0


def _validate(files: list[str], as_json: bool) -> int:
    from biofeedback.cli.common import validate_files
    from biofeedback.outcomes.instrument import load_instrument_file

    def describe(path: str, instrument: Instrument) -> tuple[str, dict[str, Any]]:
        scores = [s.id for s in instrument.scores]
        line = (
            f"ok: {path}: instrument '{instrument.id}' v{instrument.version}, "
            f"{len(instrument.items)} items, scores {', '.join(scores)}"
        )
        fields = {
            "id": instrument.id,
            "items": len(instrument.items),
            "scores": scores,
            "sha256": instrument.sha256,
        }
        return line, fields

    return validate_files(files, load_instrument_file, InstrumentFileError, describe, as_json)
