"""ReplayDevice: stored sessions and files (CSV/text, WAV) replayed like a live board."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile
from storage_helpers import myoware_info, synthetic_counts

from biofeedback.core.clock import FakeClock
from biofeedback.core.types import ChannelKind, Chunk, Flag
from biofeedback.devices.base import DeviceState, DeviceStatus
from biofeedback.devices.registry import open_device
from biofeedback.errors import DeviceError, SourceURLError
from biofeedback.storage.database import Database
from biofeedback.storage.importing import load_recording
from biofeedback.storage.replay import ReplayDevice


def play(device, timeout_s: float = 30.0) -> tuple[list[Chunk], list[DeviceStatus]]:
    """Run a device to its end and collect what it delivered."""
    chunks: list[Chunk] = []
    statuses: list[DeviceStatus] = []
    device.open()
    device.start(chunks.append, statuses.append)
    assert device.wait(timeout_s)
    device.close()
    return chunks, statuses


def stored_session(db: Database) -> tuple[int, np.ndarray]:
    sid = db.create_session("P1", "demo", myoware_info())
    a, b = synthetic_counts(3000, 1, 500), synthetic_counts(1000, 2, 3700)
    flags = np.zeros(3000, np.uint16)
    flags[10:20] = int(Flag.CLIPPED)
    with db.transaction() as conn:
        db.write_block(conn, sid, 500, a, flags)
        db.write_block(conn, sid, 3700, b, np.zeros(1000, np.uint16))
    db.finish_session(sid)
    expected = np.full((4200, 3), np.nan)
    expected[:3000], expected[3200:] = a, b
    return sid, expected


def test_session_replays_at_max_speed_with_its_clock_and_gaps(db: Database) -> None:
    sid, expected = stored_session(db)
    device = open_device(f"replay://{sid}?db={db.path}&speed=max")
    chunks, statuses = play(device)
    assert device.info is not None and device.info.realtime is False
    assert device.info.channels == myoware_info().channels
    assert chunks[0].first_index == 500
    assert all(b.first_index == a.end_index for a, b in itertools.pairwise(chunks))
    samples = np.concatenate([c.samples for c in chunks])
    flags = np.concatenate([c.flags for c in chunks])
    np.testing.assert_array_equal(samples, expected)
    assert (flags[3000:3200] == int(Flag.MISSING)).all() and (
        flags[10:20] == int(Flag.CLIPPED)
    ).all()
    assert statuses[-1].state == DeviceState.FINISHED
    assert device.duration_s == pytest.approx(4.2)


def test_paced_replay_follows_the_clock(db: Database) -> None:
    sid, expected = stored_session(db)
    clock = FakeClock()
    device = ReplayDevice(session_id=sid, db_path=db.path, speed=2.0, clock=clock)
    chunks, _ = play(device)
    assert device.info is not None and device.info.realtime is True
    # 20 ms of wall time per chunk at 2x = 40 samples at 1 kHz.
    assert {len(c) for c in chunks[:-1]} == {40}
    assert clock.now() == pytest.approx(4.2 / 2.0)
    np.testing.assert_array_equal(np.concatenate([c.samples for c in chunks]), expected)


def test_replay_can_be_stopped(db: Database) -> None:
    sid, _ = stored_session(db)
    device = ReplayDevice(session_id=sid, db_path=db.path, speed=1.0)
    got = threading.Event()
    device.open()
    device.start(lambda c: got.set())
    assert got.wait(5)
    device.stop()
    assert not device.running and device.state == DeviceState.STOPPED
    device.close()


def test_session_errors_are_clear(db: Database) -> None:
    with pytest.raises(DeviceError, match="no session 7"):
        open_device(f"replay://7?db={db.path}").open()
    empty = db.create_session("P1", "demo", myoware_info())
    with pytest.raises(DeviceError, match="no recorded samples"):
        open_device(f"replay://{empty}?db={db.path}").open()
    with pytest.raises(SourceURLError, match="speed"):
        open_device("replay://1?speed=fast")
    with pytest.raises(SourceURLError, match="unknown option"):
        open_device("replay://1?fs=1000")  # file options make no sense for a session
    with pytest.raises(SourceURLError, match="say what to replay"):
        open_device("replay://")


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="latin-1")
    return path


def test_csv_without_rate_or_units_names_the_option(tmp_path: Path) -> None:
    path = _write(tmp_path / "x.csv", "1,2\n3,4\n5,6\n")
    with pytest.raises(SourceURLError, match="fs=1000"):
        open_device(f"replay://{path}?units=mV").open()
    with pytest.raises(SourceURLError, match="units=mV"):
        open_device(f"replay://{path}?fs=1000").open()
    with pytest.raises(SourceURLError, match="board="):
        open_device(f"replay://{path}?fs=1000&units=counts").open()
    with pytest.raises(SourceURLError, match="no such file"):
        open_device(f"replay://{tmp_path}/missing.csv?fs=1").open()


def test_csv_with_time_column_header_and_mv(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    emg = np.round(rng.normal(0, 0.02, (500, 2)), 5)
    t = (np.arange(500) + 1) / 1000.0
    lines = ["time,biceps,triceps"] + [
        f"{a:g},{b:g},{c:g}" for a, (b, c) in zip(t, emg, strict=True)
    ]
    path = _write(tmp_path / "emg.csv", "\n".join(lines) + "\n")
    rec = load_recording(path, time_column="1", units="mV")
    assert rec.info.fs_hz == 1000.0
    assert [c.name for c in rec.info.channels] == ["biceps", "triceps"]
    assert [c.scale_uv for c in rec.info.channels] == [1000.0, 1000.0]
    np.testing.assert_array_equal(rec.samples, emg)
    chunks, _ = play(open_device(f"replay://{path}?time=time&units=mV&columns=triceps&speed=max"))
    np.testing.assert_array_equal(np.concatenate([c.samples for c in chunks])[:, 0], emg[:, 1])


def test_text_with_key_value_header_counts_and_kinds(tmp_path: Path) -> None:
    values = synthetic_counts(400, 5)
    header = "# Simple Text Format\n# Sampling Rate (Hz):= 1000.00\n# Resolution:= 12\n"
    body = "\n".join(" ".join(f"{v:.1f}" for v in row) for row in values)
    path = _write(tmp_path / "emg.txt", header + body + "\n")
    rec = load_recording(path, units="counts", vref_v=3.3, channels=["raw", "env", "ref"])
    assert rec.info.fs_hz == 1000.0 and rec.info.adc_bits == 12 and rec.info.units == "counts"
    assert [c.kind for c in rec.info.channels] == [
        ChannelKind.RAW,
        ChannelKind.ENV,
        ChannelKind.REF,
    ]
    # Same gains and uV per count as a live 12-bit 3.3 V MyoWare 2.0 stream.
    expected = myoware_info().channels
    assert [(c.gain, c.scale_uv) for c in rec.info.channels] == [
        (c.gain, c.scale_uv) for c in expected
    ]
    np.testing.assert_array_equal(rec.samples, values)


def test_tab_separated_file_with_text_header_latin1_crlf(tmp_path: Path) -> None:
    rows = np.round(np.random.default_rng(1).normal(0, 0.01, (300, 5)), 4)
    header = "File Name: sentado.log\r\nChannel 4: 'Recto Femoral', 300 values, engineering units: mV\r\n\r\n"
    body = "\r\n".join("\t".join(f"{v:g}" for v in r) for r in rows)
    path = tmp_path / "3Asen.txt"
    path.write_bytes((header + body + "\r\n").encode("latin-1"))
    rec = load_recording(path, fs_hz=1000.0, units="mV", columns=["1", "2", "3", "4"])
    np.testing.assert_array_equal(rec.samples, rows[:, :4])


def test_empty_cells_become_missing(tmp_path: Path) -> None:
    path = _write(tmp_path / "gaps.csv", "1;2\n3;\n5;6\n")
    rec = load_recording(path, fs_hz=10.0, units="uV")
    assert np.isnan(rec.samples[1, 1]) and rec.flags[1] == int(Flag.MISSING)


def test_decimal_comma_semicolon_csv(tmp_path: Path) -> None:
    path = _write(tmp_path / "eu.csv", "0,5;1,25\n-0,75;2\n")
    rec = load_recording(path, fs_hz=10.0, units="mV")
    np.testing.assert_array_equal(rec.samples, [[0.5, 1.25], [-0.75, 2.0]])


def test_wav_needs_units_and_reads_pcm(tmp_path: Path) -> None:
    data = (np.random.default_rng(2).normal(0, 1000, 2000)).astype(np.int16)
    path = tmp_path / "emg.wav"
    wavfile.write(path, 8000, data)
    with pytest.raises(SourceURLError, match="units=counts"):
        open_device(f"replay://{path}").open()
    rec = load_recording(path, units="counts", vref_v=1.0, gain=1000.0)
    assert rec.info.fs_hz == 8000.0 and rec.info.adc_bits == 16
    np.testing.assert_array_equal(rec.samples[:, 0], data)
    chunks, _ = play(open_device(f"replay://{path}?scale_uv=0.5&speed=max"))
    assert sum(len(c) for c in chunks) == 2000
