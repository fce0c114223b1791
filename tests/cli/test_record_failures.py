"""`biofeedback record` when things go wrong: a full disk is said at once (not after --duration),
SIGTERM and SIGHUP end it like Ctrl-C, and what was recorded is kept as an interrupted session."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from biofeedback.cli import main
from biofeedback.storage.database import Database

REALTIME = "sim://?scenario=relax&board=12bit&channels=raw,env&fs=2000&seed=4"


def _reader(stream, lines: list[tuple[float, str]]) -> None:
    for line in stream:
        lines.append((time.monotonic(), line.rstrip("\n")))


def start_record(data_dir: Path, *args: str, prefix: list[str] | None = None) -> tuple:
    cmd = [
        *(prefix or []),
        sys.executable,
        "-m",
        "biofeedback",
        "--data-dir",
        str(data_dir),
        "record",
        *args,
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    )
    lines: list[tuple[float, str]] = []
    thread = threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True)
    thread.start()
    return proc, lines, thread


def wait_for_line(lines: list[tuple[float, str]], text: str, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for t, line in list(lines):
            if text in line:
                return t
        time.sleep(0.05)
    raise AssertionError(f"no line with {text!r} within {timeout} s: {[x for _, x in lines]}")


@contextlib.contextmanager
def reaped(proc: subprocess.Popen, thread: threading.Thread):
    """Never leave the recording process or its reader behind, whatever the test asserts."""
    try:
        yield
    finally:
        if proc.poll() is None:
            proc.kill()
        thread.join(5)


def exited_1_without_traceback(rc: int, lines: list[tuple[float, str]]) -> str:
    text = "\n".join(x for _, x in lines)
    assert rc == 1, text
    assert "Traceback" not in text
    return text


def test_a_store_failure_is_said_at_once_and_the_session_kept(monkeypatch, capsys):
    original = Database.write_block
    calls = {"n": 0}

    def write_block(db, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 3:
            raise sqlite3.OperationalError("database or disk is full")
        return original(db, *args, **kwargs)

    monkeypatch.setattr(Database, "write_block", write_block)
    t0 = time.monotonic()
    code = main(["record", "--source", REALTIME, "--duration", "60", "--pain-after", "2"])
    wall = time.monotonic() - t0
    out = capsys.readouterr()
    assert code == 1 and "Traceback" not in out.err
    assert wall < 30, f"record ran {wall:.0f} s after the disk filled (of --duration 60)"
    failure_lines = [x for x in out.err.splitlines() if x.startswith("biofeedback: recording")]
    assert len(failure_lines) == 1 and "full" in failure_lines[0]
    assert "Session 1 interrupted" in out.out
    monkeypatch.setattr(Database, "write_block", original)
    with Database() as db:
        record = db.get_session(1)
        assert record.status == "interrupted" and record.pain_after == 2
        assert db.stored_extent(1)[2] > 0


def _can_mount_tmpfs() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
        capture_output=True,
        timeout=20,
    )
    return probe.returncode == 0


@pytest.mark.skipif(not _can_mount_tmpfs(), reason="needs root and unshare to mount a small tmpfs")
def test_a_real_full_disk_ends_the_recording_within_a_second(tmp_path):
    """A 640 KiB tmpfs in a private mount namespace fills within seconds of recording."""
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    script = textwrap.dedent(
        f"""
        mount -t tmpfs -o size=640k tmpfs {mnt} || exit 99
        exec "$@"
        """
    )
    proc, lines, thread = start_record(
        mnt / "data",
        "--source",
        REALTIME.replace("seed=4", "seed=4&speed=4"),
        "--duration",
        "240",
        "--pain-after",
        "5",
        prefix=["unshare", "-m", "sh", "-c", script, "sh"],
    )
    with reaped(proc, thread):
        failed_at = wait_for_line(lines, "is full", timeout=120)
        rc = proc.wait(timeout=30)
    text = exited_1_without_traceback(rc, lines)
    ended_at = lines[-1][0]
    assert ended_at - failed_at < 5.0, text  # the summary follows at once, not after 240 s
    first = next(x for _, x in lines if "is full" in x)
    assert first.startswith("biofeedback: recording stopped saving"), text
    assert "interrupted" in text
    # on a disk that stays full even the pain rating cannot be kept: it is shown to note by hand
    assert "pain after 5" in text or "pain rating" not in text


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_stop_signals_end_record_like_ctrl_c(tmp_path, signum):
    data = tmp_path / "data"
    proc, lines, thread = start_record(data, "--source", REALTIME, "--duration", "120")
    with reaped(proc, thread):
        wait_for_line(lines, "Recording session 1", timeout=60)
        with Database(data / "biofeedback.sqlite") as db:
            deadline = time.monotonic() + 30
            while db.stored_extent(1)[2] == 0:  # wait for a first commit
                assert time.monotonic() < deadline, "nothing stored"
                time.sleep(0.1)
        proc.send_signal(signum)
        rc = proc.wait(timeout=30)
    text = exited_1_without_traceback(rc, lines)
    assert "Session 1 interrupted" in text
    with Database(data / "biofeedback.sqlite") as db:
        record = db.get_session(1)
        assert record.status == "interrupted"
        assert db.stored_extent(1)[2] > 0
        assert signal.Signals(signum).name in str(record.summary)
