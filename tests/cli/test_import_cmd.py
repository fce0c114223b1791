"""``biofeedback import``: a recording from another tool becomes a session that ``sessions``,
``export``, ``report`` and ``replay`` work on; bad input is one line and exit 2."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import edfio
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "storage"))
from xdf_writer import XdfStream, write_xdf

from biofeedback.cli import main
from biofeedback.storage.database import Database


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def fails_in_one_line(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, _, err = run_cli(capsys, *argv)
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("biofeedback: "), err
    return lines[0]


@pytest.fixture
def edf_file(tmp_path: Path) -> Path:
    fs = 1000
    t = np.arange(8 * fs) / fs
    signal = edfio.EdfSignal(
        60.0 * np.sin(2 * np.pi * 80 * t),
        sampling_frequency=fs,
        label="EMG trapezius",
        physical_dimension="uV",
        physical_range=(-200.0, 200.0),
    )
    edf = edfio.Edf(
        [signal],
        recording=edfio.Recording(startdate=dt.date(2023, 11, 7)),
        starttime=dt.time(16, 20, 0),
        annotations=[
            edfio.EdfAnnotation(2.0, None, "start relaxing"),
            edfio.EdfAnnotation(6.5, None, "phone rang"),
        ],
    )
    path = tmp_path / "clinic recording.edf"
    edf.write(path)
    return path


def test_import_stores_a_session_with_the_file_s_start_and_markers(
    capsys: pytest.CaptureFixture[str], edf_file: Path, tmp_path: Path
) -> None:
    code, out, err = run_cli(
        capsys, "import", str(edf_file), "--subject", "P042", "--muscle", "trapezius", "--json"
    )
    assert code == 0, err
    result = json.loads(out)
    sid = result["session_id"]
    assert result["format"] == "EDF+" and result["markers"] == 2 and result["samples"] == 8000
    assert result["start_time"] == "2023-11-07T16:20:00"
    with Database() as db:
        record = db.get_session(sid)
        markers = [(m["sample_index"], m["label"]) for m in db.markers(sid)]
    assert record.started_at == dt.datetime(2023, 11, 7, 16, 20).timestamp()
    assert record.muscle == "trapezius" and record.subject_id == "P042"
    assert markers == [(2000, "start relaxing"), (6500, "phone rang")]

    code, out, _ = run_cli(capsys, "sessions", "--json")
    listed = json.loads(out)["sessions"]
    assert [(s["id"], s["subject_id"], s["started"]) for s in listed] == [
        (sid, "P042", "2023-11-07T16:20:00")
    ]
    assert listed[0]["duration_s"] == 8.0 and listed[0]["imported"] == "EDF+"
    code, out, _ = run_cli(capsys, "sessions")
    assert "imported EDF+" in out.splitlines()[1]  # the table's protocol column says so

    out_csv = tmp_path / "again.csv"
    code, out, err = run_cli(capsys, "export", str(sid), "-o", str(out_csv), "--json")
    assert code == 0, err and json.loads(out)["samples"] == 8000
    out_edf = tmp_path / "again.edf"
    code, _, err = run_cli(capsys, "export", str(sid), "-o", str(out_edf))
    assert code == 0, err
    texts = [a.text for a in edfio.read_edf(out_edf).annotations]
    assert any("phone rang" in t for t in texts)

    report = tmp_path / "report.html"
    code, _, err = run_cli(capsys, "report", str(sid), "-o", str(report))
    assert code == 0, err
    html = report.read_text()
    assert "Imported from clinic recording.edf (EDF+)." in html
    assert "imported from clinic recording.edf, EDF+" in html and "MyoWare" not in html


def test_plain_output_says_what_was_read_and_a_second_import_is_refused(
    capsys: pytest.CaptureFixture[str], edf_file: Path
) -> None:
    code, out, err = run_cli(capsys, "import", str(edf_file))
    assert code == 0, err
    assert "as session 1" in out and "2 marker(s)" in out and "2023-11-07 16:20:00" in out
    line = fails_in_one_line(capsys, "import", str(edf_file))
    assert "imported already as session 1" in line and "--again" in line
    code, out, err = run_cli(capsys, "import", str(edf_file), "--again", "--json")
    assert code == 0, err and json.loads(out)["session_id"] == 2


def test_xdf_with_a_chosen_stream(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    fs = 250.0
    stamps = list(100.0 + np.arange(1000) / fs)
    streams = [
        XdfStream("left", "EMG", fs, "float32", stamps, np.ones((1000, 1)), ["L"], ["uV"]),
        XdfStream("right", "EMG", fs, "float32", stamps, np.ones((1000, 1)), ["R"], ["uV"]),
        XdfStream("markers", "Markers", 0.0, "string", [101.0], [["go"]]),
    ]
    path = tmp_path / "lab.xdf"
    write_xdf(path, streams, "2024-01-15T10:00:00+0100")
    line = fails_in_one_line(capsys, "import", str(path))
    assert "--stream" in line or "stream=" in line
    code, out, err = run_cli(capsys, "import", str(path), "--stream", "right", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["channels"] == ["R (raw)"] and result["markers"] == 1
    assert result["start_time"] == "2024-01-15T10:00:00+01:00"


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("broken.edf", b"0       " + b"x" * 100, "not a readable EDF"),
        ("broken.bdf", b"\xffBIOSEMI" + b"\x00" * 50, "not a readable BDF"),
        ("broken.xdf", b"XDF:\x09garbage", "XDF"),
        ("latin1.csv", "temps;muscle\n0,001;1,5\n0,002;é\n".encode("latin-1"), "units"),
        ("words.csv", b"no numbers here\njust,words\n", "no rows of numbers"),
        ("empty.wav", b"RIFF\x00\x00\x00\x00WAVE", "WAV"),
        ("project.mat", b"MATLAB 5.0 MAT-file" + bytes(200), "not a format this app reads"),
        ("session.acq", b"\x00\x01AcqKnowledge" + bytes(64), "export the recording"),
    ],
)
def test_bad_files_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, content: bytes, expected: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    line = fails_in_one_line(capsys, "import", str(path), "--fs", "1000")
    assert expected in line and name in line
    with Database() as db:
        assert db.list_sessions() == []


def test_bad_options_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], edf_file: Path, tmp_path: Path
) -> None:
    assert "no such file" in fails_in_one_line(capsys, "import", str(tmp_path / "none.edf"))
    assert "--fs" in fails_in_one_line(capsys, "import", str(edf_file), "--fs", "0")
    assert "subject" in fails_in_one_line(capsys, "import", str(edf_file), "--subject", "bad id!")
    assert "UTF-8" in fails_in_one_line(
        capsys, "import", str(edf_file), "--notes", b"\xff".decode("utf-8", "surrogateescape")
    )


def test_an_unreadable_or_too_large_file_is_one_line(
    capsys: pytest.CaptureFixture[str], edf_file: Path, monkeypatch
) -> None:
    from biofeedback.storage import import_session

    def denied(path, progress=None):
        raise PermissionError(13, "Permission denied")

    with monkeypatch.context() as patch:
        patch.setattr(import_session, "file_digest", denied)
        line = fails_in_one_line(capsys, "import", str(edf_file))
    assert "cannot read the file (Permission denied)" in line
    monkeypatch.setattr(import_session, "MAX_IMPORT_FILE_BYTES", 1000)
    assert "GiB limit" in fails_in_one_line(capsys, "import", str(edf_file))
