"""``stream``/``record`` with ``--lsl``, ``--osc``, ``--osc-rate``, ``--lsl-markers``; bad values
are one line and exit 2; without the options nothing network-related is imported or opened."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from biofeedback.cli import main
from biofeedback.engine import Engine
from biofeedback.interop.streaming import Streaming, StreamingOptions

SIM = "sim://?scenario=relax&seed=6&speed=max"


def test_stream_json_says_what_was_sent(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["stream", "--source", SIM, "--duration", "2", "--json", "--lsl", "--osc", "127.0.0.1:9"]
    )
    out, _ = capsys.readouterr()
    assert code == 0
    summary = json.loads(out)
    assert summary["streaming"]["lsl"]["raw_samples"] == summary["samples"]
    assert summary["streaming"]["lsl"]["envelope_samples"] == summary["samples"]
    assert summary["streaming"]["osc"]["target"] == "127.0.0.1:9"


def test_record_json_says_what_was_sent_and_stores_the_session(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(
        ["record", "--source", SIM, "--duration", "2", "--json", "--lsl", "--osc-rate", "10",
         "--osc", "127.0.0.1:9"]
    )  # fmt: skip
    out, _ = capsys.readouterr()
    assert code == 0
    result = json.loads(out)
    assert result["status"] == "complete"
    assert result["streaming"]["lsl"]["raw_samples"] == 2000


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--osc", "nonsense"], "--osc 'nonsense': give HOST:PORT"),
        (["--osc", "127.0.0.1:0"], "the port must be a number from 1 to 65535"),
        (["--osc-rate", "10"], "--osc-rate needs --osc HOST:PORT"),
        (["--osc", "127.0.0.1:9000", "--osc-rate", "0"], "--osc-rate=0 is out of range [1, 200]"),
        (["--osc", "127.0.0.1:9000", "--osc-rate", "1e3"], "--osc-rate=1000 is out of range"),
    ],
)
@pytest.mark.parametrize("command", ["stream", "record"])
def test_bad_streaming_values_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], command: str, args: list[str], problem: str
) -> None:
    code = main([command, "--source", SIM, "--duration", "1", *args])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1 and problem in err and "Traceback" not in err


def test_an_empty_marker_stream_name_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["record", "--source", SIM, "--duration", "1", "--lsl-markers", " "])
    _, err = capsys.readouterr()
    assert code == 2 and "--lsl-markers is empty" in err


def test_nothing_is_opened_when_streaming_is_off() -> None:
    engine = Engine(SIM)
    engine.open()
    streaming = Streaming(StreamingOptions())
    streaming.attach(engine)
    assert streaming.clock is None and streaming.lsl is None and streaming.osc is None
    assert engine._sinks == []  # no sink, no fault listener, nothing to send
    engine.close()


def test_a_plain_record_and_stream_import_no_network_library(tmp_path: object) -> None:
    code = (
        "import sys\n"
        "from biofeedback.cli import main\n"
        f"assert main(['stream', '--source', {SIM!r}, '--duration', '1', '--json']) == 0\n"
        f"assert main(['record', '--source', {SIM!r}, '--duration', '1', '--json']) == 0\n"
        "loaded = [m for m in ('pylsl', 'pythonosc') if m in sys.modules]\n"
        "print('LOADED', loaded)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "LOADED []" in done.stdout


def test_record_stores_the_markers_of_an_lsl_marker_stream(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import threading
    import time

    import pylsl

    from biofeedback.storage.database import Database

    outlet = pylsl.StreamOutlet(
        pylsl.StreamInfo("cli-task", "Markers", 1, pylsl.IRREGULAR_RATE, pylsl.cf_string, "t1")
    )
    sent: list[str] = []

    def task() -> None:  # a task program: sends once biofeedback listens (or gives up)
        deadline = time.monotonic() + 20
        while not outlet.have_consumers() and time.monotonic() < deadline:
            time.sleep(0.01)
        if outlet.have_consumers():
            outlet.push_sample(["trial 1"])
            sent.append("trial 1")

    sender = threading.Thread(target=task, daemon=True)
    sender.start()
    # real time, so the marker arrives while recording
    source = "sim://?scenario=relax&seed=8"
    code = main(
        ["record", "--source", source, "--duration", "4", "--json", "--lsl-markers", "cli-task"]
    )
    out, err = capsys.readouterr()
    sender.join(5)
    assert code == 0, err
    assert sent == ["trial 1"], "biofeedback never connected to the marker stream"
    result = json.loads(out)
    assert result["streaming"]["lsl_markers"]["received"] == 1
    assert "receiving LSL markers from 'cli-task'" in err
    db = Database()
    markers = db.markers(result["session_id"])
    db.close()
    assert [(m["label"], m["note"]) for m in markers] == [("trial 1", "LSL cli-task")]
    assert 0 <= markers[0]["sample_index"] <= 4000
