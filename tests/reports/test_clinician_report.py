"""Clinician report: renders (PDF -> PNG), numbers equal the stored measures, no Qt."""

from __future__ import annotations

import html.parser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "storage"))
from storage_helpers import record_protocol_session

from biofeedback.reports.clinician import (
    phase_table_header,
    render_html,
    write_report,
)
from biofeedback.reports.data import PHASE_COLUMNS, collect, fmt
from biofeedback.storage.database import Database

SIM = "sim://?scenario=relax&board=12bit&channels=raw,env,ref&speed=max&chunk_ms=500&seed={seed}"
META = {
    "muscle": "upper trapezius",
    "side": "left",
    "electrode_site": "SENIAM trapezius",
    "electrode_type": "Ag/AgCl",
    "skin_prep": "alcohol",
    "isolation_mode": "battery",
    "clinician": "A. Physio",
    "pain_before": 5,
    "pain_after": 3,
    "hardware": {"myoware_version": "2.0", "pot_kohm": 50, "supply_v": 3.3},
}


SHORT_PROTOCOL = """
format = 1
name = "short-desk"
description = "desk-10min shortened for tests"
muscles = ["upper trapezius"]

[threshold]
target = "90% of baseline"

[[phases]]
kind = "baseline"
duration = "20 s"
instruction = "Sit back."

[[phases]]
kind = "train"
duration = "150 s"
feedback = "both"
instruction = "Keep the bar below the line."

[[phases]]
kind = "transfer"
duration = "20 s"
instruction = "Now without the display."
"""


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    folder = tmp_path_factory.mktemp("report")
    path = folder / "db.sqlite"
    protocol = folder / "short-desk.toml"
    protocol.write_text(SHORT_PROTOCOL, encoding="utf-8")
    record_protocol_session(path, SIM.format(seed=1), str(protocol), **META)
    sid = record_protocol_session(path, SIM.format(seed=2), str(protocol), **META)
    with Database(path) as db:
        db.update_session(sid, notes="Calmer after the transfer trial.")
        db.add_marker(sid, 30_000, "cough", "short")
    return path, sid


class _Tables(html.parser.HTMLParser):
    """Collects the cells of every <table> in an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_html_phase_table_equals_stored_measures(stored: tuple[Path, int], tmp_path: Path) -> None:
    db_path, sid = stored
    with Database(db_path) as db:
        out = write_report(db, sid, tmp_path / "r.html")
        phases = db.phases(sid)
        summary = db.get_session(sid).summary
    parser = _Tables()
    parser.feed(out.read_text(encoding="utf-8"))
    table = next(t for t in parser.tables if t and t[0] == phase_table_header())
    rows = table[1:]
    assert [r[0] for r in rows] == [p["name"] for p in phases] == ["baseline", "train", "transfer"]
    for row, phase in zip(rows, phases, strict=True):
        for (_, keys, decimals), cell in zip(PHASE_COLUMNS, row[3:], strict=True):
            parts = cell.split(" / ")
            for key, part in zip(keys, parts, strict=True):
                value = phase.get(key)
                if value is None:
                    assert part == "-"
                else:  # the printed number is the stored one, rounded for display
                    assert float(part) == pytest.approx(value, abs=0.51 * 10**-decimals), (
                        key,
                        part,
                        value,
                    )
    train = phases[1]
    assert train["pct_below"] is not None and train["mean_uv"] > 0
    text = out.read_text(encoding="utf-8")
    for needle in ("A. Physio", "upper trapezius", "MyoWare 2.0, gain pot 50 kOhm", "12-bit 3.3 V board (SAMD, Nano 33, RP2040, ESP32)",
                   "band-pass 20-450 Hz", "RMS window 100 ms", "5 before, 3 after", "cough",
                   "Calmer after the transfer trial.", "not a medical device", "<svg"):  # fmt: skip
        assert needle in text, needle
    assert f"{summary['baseline_uv']:.2f} uV" in text


def test_pdf_renders_and_shows_the_stored_numbers(stored: tuple[Path, int], tmp_path: Path) -> None:
    if not (shutil.which("pdftoppm") and shutil.which("pdftotext")):
        pytest.skip("poppler-utils (pdftoppm, pdftotext) not installed")
    db_path, sid = stored
    with Database(db_path) as db:
        out = write_report(db, sid, tmp_path / "r.pdf")
        phases = db.phases(sid)
        thresholds = db.threshold_log(sid)
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(out), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 2 and all(p.stat().st_size > 5000 for p in pages)
    text = subprocess.run(
        ["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True
    ).stdout
    lines = text.splitlines()
    for phase in phases:
        row = next(line for line in lines if line.strip().startswith(phase["name"]) and "/" in line)
        for key in ("mean_uv", "median_uv", "sd_uv"):
            assert fmt(phase[key], 2) in row, (phase["name"], key, row)
        if phase.get("pct_below") is not None:
            assert fmt(phase["pct_below"], 1) in row
        apdf = " / ".join(fmt(phase[k], 2) for k in ("apdf10_uv", "apdf50_uv", "apdf90_uv"))
        assert apdf in row
    for change in thresholds:
        assert fmt(change["new_uv"]) in text
    assert "Trends across this subject" in text and "Per-phase measures" in text


def test_first_session_and_plain_recording_still_render(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "storage"))
    from storage_helpers import record_sim_session

    path = tmp_path / "db.sqlite"
    sid = record_sim_session(path, SIM.format(seed=3), 5.0, subject="P9")
    with Database(path) as db:
        data = collect(db, sid)
        page = render_html(data)
        write_report(db, sid, tmp_path / "plain.pdf")
    assert "No phases were stored" in page and "First session: no trend yet." in page
    assert data.envelope.envelope_uv.shape[1] == 2 and len(data.envelope.t_s) > 100


def test_bad_report_path(stored: tuple[Path, int], tmp_path: Path) -> None:
    from biofeedback.errors import StorageError

    db_path, sid = stored
    with Database(db_path) as db, pytest.raises(StorageError, match=r"\.pdf or \.html"):
        write_report(db, sid, tmp_path / "r.docx")


def test_reports_do_not_import_qt() -> None:
    code = (
        "import sys, biofeedback.reports.clinician; "
        "bad = [m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph'))]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_report_text_helpers() -> None:
    from biofeedback.reports.clinician import marker_note
    from biofeedback.reports.data import (
        board_text,
        noise_floor_text,
        notes_text,
        recovery_text,
        scored_channel_text,
    )

    label = "12-bit 3.3 V board (SAMD, Nano 33, RP2040, ESP32)"
    assert board_text("12bit", 12, 3.3, "counts") == label
    assert board_text("custom", 16, 2.5, "counts") == "custom / 16-bit, Vref 2.5 V"
    outputs = [
        {"name": "raw", "noise_floor_uv": 6.573313, "noise_floor_source": "model"},
        {"name": "env", "noise_floor_uv": 0.7, "noise_floor_source": "model"},
    ]
    # the noise-floor phase kept the model values: say "model", not "measured"
    kept = noise_floor_text(outputs, [6.573313, 0.7], True, [False, False])
    assert kept == "raw 6.57 uV (model), env 0.70 uV (model) RMS"
    mixed = noise_floor_text(outputs, [6.573313, 0.52], True, [False, True])
    assert mixed == "raw 6.57 uV (model), env 0.52 uV (measured in this session) RMS"
    assert "measured" in noise_floor_text(outputs, [6.573313, 0.52], True, None)
    assert marker_note("[6.573313296936437, 0.7]") == "6.57, 0.70 uV"
    assert marker_note("left shoulder itch") == "left shoulder itch"
    phases = [{"kind": "recovery", "recovery_note": "not measured (no contraction above rest)"}]
    assert recovery_text(None, phases) == "not measured (no contraction above rest)"
    assert recovery_text(3.44, phases) == "3.4 s"
    assert recovery_text(None, []) == "-"
    assert notes_text("", {"notes": ["Scoring env instead of raw: x"]}) == (
        "Scoring env instead of raw: x"
    )
    assert notes_text("tired", {"notes": ["n"]}) == "tired\nn"
    assert scored_channel_text(1, ["raw", "env"]) == "Scored on channel env."
    assert scored_channel_text(None, ["raw"]) == ""


def test_phase_labels_skip_narrow_bands() -> None:
    from biofeedback.reports.plots import phase_label_layout

    assert phase_label_layout("baseline", 0.3, 7.0)[0] == 0
    assert phase_label_layout("release 1", 0.03, 7.0)[0] == 90
    assert phase_label_layout("tense 1", 0.005, 7.0) is None
