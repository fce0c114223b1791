"""``biofeedback devices``: list serial ports and what answers on them; on request, the LSL
streams other programs publish (``--lsl``) and BrainFlow's boards (``--brainflow``)."""

from __future__ import annotations

import argparse
import json

TYPE_CHECKING = False  # typing is not imported at start-up (see biofeedback.cli)
if TYPE_CHECKING:
    from biofeedback.devices import discovery


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``devices`` subcommand."""
    p = sub.add_parser(
        "devices",
        description=(
            "List serial ports. Ports of Arduino-class USB vendors (Arduino, SparkFun, Adafruit, "
            "RP2040, CH340, FTDI, CP210x) are probed: first for the biofeedback firmware, then for "
            "a sketch printing numbers (text mode). Each answering port gets the --source URL to "
            "use. Exit code 0 if a board answered, 1 if none did."
        ),
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--all", action="store_true", help="probe every port, not only Arduino-class USB ones"
    )
    p.add_argument("--no-probe", action="store_true", help="only list the ports")
    p.add_argument(
        "--lsl",
        action="store_true",
        help="also list the LSL streams other programs publish (sends UDP multicast queries on "
        "the local network), each with its lsl:// source URL",
    )
    p.add_argument(
        "--brainflow",
        action="store_true",
        help="list BrainFlow's boards by name and id (for brainflow:// sources) and exit",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=2.5,
        metavar="SECONDS",
        help="seconds to wait per port and mode (default 2.5)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """List (and probe) the ports; print a table or JSON."""
    from biofeedback.core.limits import MAX_PROBE_TIMEOUT_S, check_number
    from biofeedback.devices import discovery
    from biofeedback.devices.ports import SIM_HINT, describe_available_ports, list_ports

    check_number(args.timeout, "--timeout", 0.0, MAX_PROBE_TIMEOUT_S, lo_open=True, hint="seconds")
    if args.brainflow:
        return _brainflow_boards(args.json)
    ports = list_ports()
    if args.no_probe:
        results = [discovery.ProbeResult(p, "not probed") for p in ports]
    else:
        results = discovery.probe_all(ports, timeout_s=args.timeout, include_all=args.all)
    found = [r for r in results if r.answer in ("biofeedback", "chords", "text")]
    streams = discovery.lsl_streams(min(args.timeout, 5.0)) if args.lsl else []
    ok = bool(found or streams or args.no_probe)
    if args.json:
        out: dict[str, object] = {"ports": [r.as_dict() for r in results], "found": len(found)}
        if args.lsl:
            out["lsl_streams"] = [s.as_dict() for s in streams]
        print(json.dumps(out))
        return 0 if ok else 1
    if args.lsl:
        _print_streams(streams)
    if not ports:
        print(describe_available_ports())
        return 0 if streams else 1
    print(f"{'PORT':<22} {'USB ID':<10} {'VENDOR':<32} ANSWER")
    for r in results:
        vendor = r.port.vendor or r.port.manufacturer or r.port.description or "-"
        print(f"{r.port.device:<22} {r.port.usb_id or '-':<10} {vendor[:32]:<32} {_answer(r)}")
        if r.url:
            print(f'{"":<22} -> --source "{r.url}"')
    if not args.no_probe and not found:
        print(
            "\nno board answered. Flash firmware/biofeedback (firmware/README.md) or, for a stock "
            "example sketch, use format=text; check the USB cable carries data. " + SIM_HINT
        )
    return 0 if ok else 1


def _print_streams(streams: list[discovery.StreamListing]) -> None:
    """The LSL streams seen, each with the --source URL that reads it."""
    if not streams:
        print("no LSL sample streams seen (is the other program streaming, on this network?)\n")
        return
    print(f"{'LSL STREAM':<28} {'TYPE':<10} {'CH':>3} {'RATE':>9}  HOST")
    for s in streams:
        print(f"{s.name[:28]:<28} {s.type[:10]:<10} {s.channels:>3} {s.fs_hz:>7g} Hz  {s.host}")
        print(f'{"":<28} -> --source "{s.url}"')
    print()


def _brainflow_boards(as_json: bool) -> int:
    """List BrainFlow's boards (names and ids for brainflow://); exit 0."""
    from biofeedback.devices import discovery

    boards = discovery.brainflow_boards()
    if as_json:
        print(json.dumps({"brainflow_boards": [b.as_dict() for b in boards]}))
        return 0
    print(f"{'BRAINFLOW BOARD':<34} {'ID':>4} {'RATE':>9} {'CHANNELS':<9} SOURCE")
    for b in boards:
        rate = f"{b.fs_hz:g} Hz" if b.fs_hz is not None else "-"
        chans = f"{b.channels} {b.channel_kind}"
        print(f"{b.name:<34} {b.board_id:>4} {rate:>9} {chans:<9} {b.url}")
    print(
        "\nAdd the board's connection, e.g. brainflow://cyton?serial_port=/dev/ttyUSB0 "
        "(docs/interop.md, BrainFlow boards)."
    )
    return 0


def _answer(r: discovery.ProbeResult) -> str:
    if r.answer in ("biofeedback", "chords", "text"):
        return r.detail
    if r.answer == "silent":
        return "no answer (" + r.detail.split(":")[0] + ")"
    if r.answer == "error":
        return f"error: {r.detail}"
    if r.answer == "skipped":
        return f"skipped: {r.detail}"
    return r.answer
