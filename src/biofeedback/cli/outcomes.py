"""``biofeedback outcomes record|show|delete``: outcome questionnaires of a subject.

``record`` takes the answers from ``--answers ITEM=VALUE ...`` or, on a terminal, asks the items
one by one (the scale and its labels shown; Enter skips an item); it checks them against the
instrument, scores them and stores both. ``show`` prints a subject's questionnaires with their
raw answers, scores, change from baseline and whether each change passes the instrument's
threshold (minimal clinically important difference). See docs/outcomes.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys

from biofeedback.cli.common import add_clinic_option
from biofeedback.errors import AnswerError

TYPE_CHECKING = False  # the store and the outcomes package are imported by the handlers only
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from biofeedback.outcomes.instrument import Instrument, Item


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``outcomes`` command."""
    parser = subparsers.add_parser(
        "outcomes",
        description="Outcome questionnaires (pain, function, global change): record a subject's "
        "answers, and show them with the change from baseline (see docs/outcomes.md).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    rec = actions.add_parser("record", help="answer a questionnaire and store the scores")
    rec.add_argument("--subject", metavar="ID", required=True, help="pseudonymous subject id")
    rec.add_argument(
        "--instrument",
        metavar="ID",
        required=True,
        help="instrument id (see: biofeedback instruments list) or a .toml file",
    )
    rec.add_argument(
        "--timepoint",
        metavar="T",
        default="",
        help="baseline, session N, end, follow-up or a short label of your own",
    )
    rec.add_argument(
        "--answers",
        metavar="ITEM=VALUE",
        nargs="+",
        help="the answers, e.g. now=3 average=4 worst=7 ('-' or nothing after = skips an item); "
        "without it the items are asked one by one on the terminal",
    )
    rec.add_argument("--session", metavar="N", type=int, help="the stored session it belongs to")
    rec.add_argument(
        "--taken",
        metavar="WHEN",
        help="when it was answered, local time (2026-11-20 or 2026-11-20T09:30; default now): "
        "for a questionnaire filled in on paper",
    )
    rec.add_argument(
        "--partial",
        action="store_true",
        help="store it even when a score cannot be computed (too many items skipped): "
        "kept as not scored, and not counted as answered for the course's schedule",
    )
    rec.add_argument("--json", action="store_true", help="print one JSON object")
    show = actions.add_parser("show", help="a subject's questionnaires and change from baseline")
    show.add_argument("--subject", metavar="ID", required=True, help="pseudonymous subject id")
    show.add_argument("--instrument", metavar="ID", help="only this instrument")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    add_clinic_option(show)
    due = actions.add_parser(
        "due", help="the questionnaires the subject's course asks now (its outcome schedule)"
    )
    due.add_argument("--subject", metavar="ID", required=True, help="pseudonymous subject id")
    due.add_argument(
        "--at",
        dest="moment",
        choices=["session-start", "session-end"],
        default="session-start",
        help="before the next session starts (default) or after the last one ended",
    )
    due.add_argument(
        "--setting",
        choices=["clinic", "home"],
        help="the kind of session (default: what this data dir records)",
    )
    due.add_argument("--as-of", metavar="YYYY-MM-DD", help="the day (default today)")
    due.add_argument("--json", action="store_true", help="print one JSON object")
    delete = actions.add_parser("delete", help="remove one questionnaire entered by mistake")
    delete.add_argument("record_id", metavar="RECORD", type=int, help="its number (see show)")
    parser.set_defaults(handler=run, action=None, json=False)


def run(args: argparse.Namespace) -> int:
    if args.action == "record":
        return _record(args)
    if args.action == "show":
        return _show(args.subject, args.instrument, args.json, getattr(args, "clinic", None))
    if args.action == "delete":
        return _delete(args.record_id)
    if args.action == "due":
        return _due(args)
    raise AnswerError("say what to do: biofeedback outcomes record|show|due|delete (see --help)")


def _due(args: argparse.Namespace) -> int:
    from biofeedback.cli.common import open_existing_store
    from biofeedback.storage.courses import due_outcomes, parse_date
    from biofeedback.storage.database import Database

    subject = Database.check_subject_id(args.subject)
    today = None if args.as_of is None else parse_date(args.as_of, "--as-of")
    with open_existing_store() as db:
        db.require_subject(subject)
        due = due_outcomes(db, subject, args.moment, today, setting=args.setting)
    if args.json:
        print(
            json.dumps({"subject": subject, "at": args.moment, "due": [d.to_dict() for d in due]})
        )
        return 0
    if not due:
        print(f"{subject}: no questionnaire due {args.moment.replace('-', ' ')}")
    for d in due:
        print(
            f"{d.timepoint:<12} {d.title or d.instrument}  (biofeedback outcomes record "
            f"--subject {subject} --instrument {d.instrument} --timepoint {shlex.quote(d.timepoint)})"
        )
    return 0


def parse_answer_args(words: list[str]) -> dict[str, str]:
    """``["now=3", "activity1=lifting a box"]`` -> ``{"now": "3", "activity1": "lifting a box"}``."""
    out: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        key = key.strip()
        if not sep or not key:
            raise AnswerError(f"--answers {word!r}: write ITEM=VALUE, e.g. now=3")
        if key in out:
            raise AnswerError(f"--answers: {key} is given twice")
        out[key] = value
    return out


def _prompt_lines(item: Item, text: str) -> list[str]:
    from biofeedback.cli.instruments import scale_text

    lines = ["", text]
    if item.help:
        lines.append(f"  ({item.help})")
    lines.append(f"  {scale_text(item)}")
    return lines


def ask_interactively(
    instrument: Instrument, read: Callable[[str], str] | None = None
) -> dict[str, object]:
    """Ask every item in order on the terminal (``read``: how a line is read, default
    :func:`input`); an invalid answer is asked again, Enter skips, ``<`` goes back."""
    from biofeedback.outcomes.asking import Questionnaire

    read = read or input
    print(f"{instrument.name} (v{instrument.version})")
    if instrument.instructions:
        print(instrument.instructions)
    if instrument.recall_period:
        print(f"Time frame: {instrument.recall_period}")
    print("(Enter skips an item, < goes back to the previous one)")
    sitting = Questionnaire(instrument)
    shown = None
    while (screen := sitting.screen()) is not None:
        if screen != shown:
            print(
                "\n".join(
                    _prompt_lines(screen.item, f"[{screen.position}/{screen.total}] {screen.text}")
                )
            )
            shown = screen
        try:
            raw = read("> ")
        except EOFError:
            raise AnswerError("input ended before the last item: nothing was stored") from None
        if raw.strip() == "<":
            sitting.back()
            continue
        try:
            sitting.answer(raw)
        except AnswerError as exc:
            print(f"  {exc}: try again (Enter skips)")
    return dict(sitting.answers)


def _record(args: argparse.Namespace) -> int:
    from biofeedback.outcomes.instrument import load_instrument
    from biofeedback.outcomes.results import Measurement, change_table, normalize_timepoint
    from biofeedback.outcomes.scoring import check_answers, unscored_reason
    from biofeedback.storage.database import Database
    from biofeedback.storage.outcomes import list_outcomes, record_answers

    subject = Database.check_subject_id(args.subject)
    timepoint = normalize_timepoint(args.timepoint) if args.timepoint.strip() else ""
    instrument = load_instrument(args.instrument)
    if args.answers is not None:
        given: dict[str, object] = dict(parse_answer_args(args.answers))
    elif sys.stdin.isatty():
        given = ask_interactively(instrument)
    else:
        raise AnswerError(
            "give the answers with --answers ITEM=VALUE ... (or run on a terminal to be asked)"
        )
    taken_at = parse_taken(args.taken) if args.taken is not None else None
    # before the store is opened: a wrong or incomplete answer leaves no trace
    reason = unscored_reason(instrument, check_answers(instrument, given))
    if reason is not None and not args.partial:
        raise AnswerError(
            f"{instrument.id}: not stored: {reason}; or add --partial to store it as not scored"
        )
    with Database() as db:
        record_id, answers, scores = record_answers(
            db,
            subject,
            instrument,
            given,
            timepoint=timepoint,
            session_id=args.session,
            taken_at=taken_at,
        )
        history = list_outcomes(db, subject, instrument.id)
    if args.json:
        print(json.dumps({"id": record_id, "answers": answers, "scores": scores}))
        return 0
    print(f"stored questionnaire {record_id}: {instrument.id} for {subject} {timepoint}".rstrip())
    rows = change_table(
        instrument, [Measurement(r.taken_at, r.timepoint, r.scores, r.id) for r in history]
    )
    row = next(r for r in rows if r.measurement.record_id == record_id)
    for score_id, cell in row.cells.items():
        print(_score_line(scores[score_id]["name"], cell))
    return 0


def parse_taken(text: str) -> float:
    """``--taken``: an ISO date or date and time (local time) -> Unix time; not in the future."""
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise AnswerError(
            f"--taken {text!r}: write a date or date and time, e.g. 2026-11-20 or 2026-11-20T09:30"
        ) from None
    from biofeedback.storage.courses import EARLIEST_DATE

    if when.date() < EARLIEST_DATE:  # also keeps year 1 away from timestamp()
        raise AnswerError(f"--taken {text!r}: give a date from {EARLIEST_DATE} on")
    stamp = when.timestamp()
    if stamp > dt.datetime.now().timestamp() + 60:
        raise AnswerError(f"--taken {text!r} is in the future")
    return stamp


def _instrument_for(ident: str, cache: dict[str, Instrument | None]) -> Instrument | None:
    """The instrument a record names (None when its file is gone: values shown, no judgement)."""
    from biofeedback.errors import InstrumentFileError
    from biofeedback.outcomes.instrument import load_instrument

    if ident not in cache:
        try:
            cache[ident] = load_instrument(ident)
        except InstrumentFileError as exc:
            sys.stderr.write(f"biofeedback: {ident}: thresholds not judged: {exc}\n")
            cache[ident] = None
    return cache[ident]


def _show(subject: str, only: str | None, as_json: bool, clinic: str | None = None) -> int:
    from biofeedback.cli.common import open_store_or_clinic
    from biofeedback.outcomes.results import Measurement, change_table, compares_with_baseline
    from biofeedback.storage.outcomes import list_outcomes

    with open_store_or_clinic(argparse.Namespace(clinic=clinic), subject=subject) as db:
        records = list_outcomes(db, subject, only)
        if only is not None and not records:
            return _none_of(subject, only, list_outcomes(db, subject), as_json)
    by_instrument: dict[str, list[Any]] = {}
    for r in records:
        by_instrument.setdefault(r.instrument, []).append(r)
    cache: dict[str, Instrument | None] = {}
    out: dict[str, Any] = {"subject": subject, "instruments": []}
    for ident, group in by_instrument.items():
        instrument = _instrument_for(ident, cache)
        by_id = {r.id: r for r in group}
        table = change_table(
            instrument, [Measurement(r.taken_at, r.timepoint, r.scores, r.id) for r in group]
        )
        rows = []
        for row in table:
            r = by_id[row.measurement.record_id]
            stale = instrument is not None and r.instrument_sha256 != instrument.sha256
            rows.append({**r.to_dict(), "baseline": row.is_baseline, "results": row.cells})
            rows[-1]["instrument_file_changed"] = stale
            rows[-1]["compared"] = len(group) > 1 and compares_with_baseline(instrument)
        name = instrument.name if instrument is not None else ident
        out["instruments"].append({"id": ident, "name": name, "records": rows})
    if as_json:
        print(json.dumps(out))
        return 0
    if not records:
        print(f"no questionnaires for {subject} (record one: biofeedback outcomes record)")
        return 0
    for block in out["instruments"]:
        print(f"{block['name']} ({block['id']})")
        for row in block["records"]:
            print("\n".join(_row_lines(row)))
    return 0


def _none_of(subject: str, only: str, others: list[Any], as_json: bool) -> int:
    """``outcomes show --instrument X`` when the subject has no X: say so and what they have;
    an id that is neither an instrument here nor stored for anyone is an error."""
    from biofeedback.errors import InstrumentFileError
    from biofeedback.outcomes.instrument import load_instrument

    try:
        load_instrument(only)
    except InstrumentFileError as exc:
        raise AnswerError(f"--instrument {only}: {exc}") from None
    if as_json:
        print(json.dumps({"subject": subject, "instruments": []}))
        return 0
    has = sorted({r.instrument for r in others})
    having = f" (has: {', '.join(has)})" if has else " (none at all)"
    print(f"{subject} has no {only} questionnaires{having}")
    return 0


def _row_lines(row: dict[str, Any]) -> list[str]:
    when = dt.datetime.fromtimestamp(row["taken_at"]).strftime("%Y-%m-%d %H:%M")
    label = row["timepoint"] or "-"
    mark = " (baseline)" if row["baseline"] and label != "baseline" and row["compared"] else ""
    lines = [f"  #{row['id']} {when}  {label}{mark}"]
    answered = ", ".join(f"{k}={_answer(v)}" for k, v in row["answers"].items())
    lines.append(f"    answers: {answered}")
    if row["instrument_file_changed"]:
        lines.append("    note: answered with an earlier version of the instrument file")
    for score_id, cell in row["results"].items():
        name = row["scores"].get(score_id, {}).get("name", score_id)
        lines.append("  " + _score_line(name, cell))
    return lines


def _score_line(name: str, cell: dict[str, Any]) -> str:
    """``  Average pain: 4  change -3 (43 % better)  -> important improvement``."""
    from biofeedback.outcomes.results import change_text, number_text

    value = "not scored" if cell["value"] is None else number_text(cell["value"])
    text = f"  {name}: {value}"
    change = cell["change"]
    if change and change.get("change") is not None:
        text += f"  change {change_text(change)}"
    if change:
        text += f"  -> {change['verdict']}"
    if cell["note"]:
        text += f"  [{cell['note']}]"
    return text


def _answer(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else str(value)


def _delete(record_id: int) -> int:
    from biofeedback.cli.common import open_existing_store
    from biofeedback.storage.outcomes import delete_outcome

    with open_existing_store() as db:
        delete_outcome(db, record_id)
    print(f"deleted questionnaire {record_id}")
    return 0
