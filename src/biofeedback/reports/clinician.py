"""The clinician report of one session, as a self-contained HTML page or an A4 PDF.

Contents (docs/clinical-background.md, "What the clinician report contains"): ids, date, clinician; muscle,
side, site; electrodes and skin prep; hardware and isolation; sampling rate, filters, RMS window,
normalisation, noise floor; the per-phase table (the stored measures); threshold history and
success per trial; recovery time; % artefact; breathing/PMR; pain ratings; notes; trends across
the subject's sessions. ``write_report(db, session_id, path)`` picks the format from the suffix.
"""

from __future__ import annotations

import html
import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from biofeedback import __version__
from biofeedback.errors import StorageError
from biofeedback.reports.data import PHASE_COLUMNS, ReportData, collect, fmt, fmt_time
from biofeedback.reports.plots import (
    INK,
    MUTED,
    draw_envelope,
    draw_thresholds,
    draw_trends,
    draw_trial_success,
    envelope_figure,
    figure_svg,
    new_figure,
    trends_figure,
    trials_figure,
)
from biofeedback.storage.database import Database
from biofeedback.storage.safe_output import check_output_path, open_output, store_files

DISCLAIMER = (
    "biofeedback is an open-source training tool, not a medical device. "
    "Amplitudes are uV RMS referred to the electrodes in the pass band stated; "
    "a lower uV value is a process measure, not an outcome."
)
A4_IN = (8.27, 11.69)
_Data = TypeVar("_Data")


def write_report(db: Database, session_id: int, path: Path | str) -> Path:
    """Write the report as PDF or HTML (by the file suffix) and return the path."""
    return write_report_file(
        db, path, "report.pdf", lambda: collect(db, session_id), render_pdf, render_html
    )


def write_report_file(
    db: Database,
    path: Path | str,
    example: str,
    gather: Callable[[], _Data],
    pdf: Callable[[_Data, BinaryIO], None],
    page: Callable[[_Data], str],
) -> Path:
    """Write a report (this one or the course report) as PDF or HTML by the file suffix: the
    path is checked before the work, the file is a 0600 temporary file renamed at the end, and
    never the database or its files. Returns the path written."""
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in (".pdf", ".html", ".htm"):
        raise StorageError(f"{path}: the report file must end in .pdf or .html")
    check_output_path(path, store_files(db.path), example=example)  # before the work
    data = gather()
    with open_output(path, store_files(db.path), example=example) as out:
        if suffix == ".pdf":
            pdf(data, out.file)
        else:
            out.file.write(page(data).encode("utf-8"))
    return out.path


def subtitle(data: ReportData) -> str:
    """The one-line identification under the title."""
    r = data.record
    date = dict(data.session_rows).get("Date", "-")
    return f"Subject {r.subject_id or '-'}  ·  Session {r.id}  ·  {date}  ·  Clinician {r.clinician or '-'}"


# -- HTML ---------------------------------------------------------------------------------------------
CSS = """
body { font-family: "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; color: #2b3a42;
       max-width: 960px; margin: 2em auto; padding: 0 1em; line-height: 1.4; }
h1 { font-size: 1.5em; margin-bottom: 0.1em; font-weight: 600; }
h2 { font-size: 1.1em; margin-top: 1.6em; border-bottom: 1px solid #dde3e6; padding-bottom: 0.2em;
     font-weight: 600; }
.sub { color: #7a8a93; margin-top: 0; }
.cols { display: flex; gap: 2em; flex-wrap: wrap; }
.cols > div { flex: 1 1 380px; }
table { border-collapse: collapse; font-size: 0.85em; }
table.kv td { padding: 0.15em 0.8em 0.15em 0; vertical-align: top; }
table.kv td:first-child { color: #7a8a93; white-space: nowrap; }
table.grid { width: 100%; }
table.grid th, table.grid td { padding: 0.25em 0.4em; border-bottom: 1px solid #eef1f3; text-align: right; }
table.grid th { color: #7a8a93; font-weight: 600; }
table.grid td:first-child, table.grid th:first-child { text-align: left; }
table.left td, table.left th { text-align: left !important; }
.warn { background: #fbf3e6; padding: 0.5em 0.8em; border-radius: 4px; }
.foot { color: #7a8a93; font-size: 0.8em; margin-top: 2.5em; }
svg { max-width: 100%; height: auto; }
"""


def kv_html(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f'<table class="kv">{body}</table>'


def phase_table_header() -> list[str]:
    """Column titles of the per-phase table."""
    return ["Phase", "Start\nm:ss", "Length\ns", *[title for title, _, _ in PHASE_COLUMNS]]


def phase_table_rows(data: ReportData) -> list[list[str]]:
    """Cells of the per-phase table (identical in HTML and PDF)."""
    return [[r.name, r.start, r.duration, *r.cells] for r in data.phases]


def threshold_rows(data: ReportData) -> list[list[str]]:
    """Time, old, new, reason per threshold change."""
    origin = data.record.first_index or 0
    fs = data.record.info.fs_hz
    return [
        [
            fmt_time((c["sample_index"] - origin) / fs),
            fmt(c["old_uv"]),
            fmt(c["new_uv"]),
            str(c["reason"]),
        ]
        for c in data.thresholds
    ]


def marker_rows(data: ReportData) -> list[list[str]]:
    """Time, label, note per marker."""
    origin = data.record.first_index or 0
    fs = data.record.info.fs_hz
    return [
        [fmt_time((m["sample_index"] - origin) / fs), m["label"], marker_note(m["note"])]
        for m in data.markers
    ]


def marker_note(note: str) -> str:
    """A marker's note; a JSON list of numbers (the noise floor applied) with 2 decimals."""
    try:
        values = json.loads(note)
    except (TypeError, ValueError):
        return note
    if not isinstance(values, list) or not values:
        return note
    if not all(
        v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in values
    ):
        return note
    return ", ".join("-" if v is None else f"{v:.2f}" for v in values) + " uV"


def grid_html(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h).replace(chr(10), '<br>')}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f'<table class="grid"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def html_head(title: str, document: str, sub: str) -> list[str]:
    """The start of a self-contained report page: head with the style sheet, title, subtitle."""
    return [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)} - {html.escape(document)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="sub">{html.escape(sub)}</p>',
    ]


def render_html(data: ReportData) -> str:
    """A self-contained HTML page (plots inline as SVG)."""
    parts = [
        *html_head(data.title, f"session {data.record.id}", subtitle(data)),
    ]
    if data.warnings:
        parts.append(
            '<p class="warn">' + "<br>".join(html.escape(w) for w in data.warnings) + "</p>"
        )
    parts += [
        '<div class="cols"><div><h2>Session</h2>',
        kv_html(data.session_rows),
        "</div><div><h2>Recording and processing</h2>",
        kv_html(data.recording_rows),
        "</div></div>",
        "<h2>Summary</h2>",
        kv_html(data.summary_rows),
        "<h2>Envelope with phases</h2>",
        figure_svg(envelope_figure(data)),
        "<h2>Per-phase measures</h2>",
        f"<p>{html.escape(data.scored_channel)}</p>" if data.scored_channel else "",
        grid_html(phase_table_header(), phase_table_rows(data))
        if data.phases
        else "<p>No phases were stored.</p>",
        "<h2>Training trials and threshold</h2>",
        figure_svg(trials_figure(data)),
    ]
    if data.thresholds:
        parts.append(grid_html(["Time", "Old uV", "New uV", "Reason"], threshold_rows(data)))
    if data.markers:
        parts += ["<h2>Markers</h2>", grid_html(["Time", "Label", "Note"], marker_rows(data))]
    parts += ["<h2>Trends across sessions</h2>", figure_svg(trends_figure(data))]
    parts += [f"<p>{html.escape(t)}</p>" for t in data.trend_text] or [
        "<p>First session: no trend yet.</p>"
    ]
    notes = "<br>".join(html.escape(line) for line in data.notes.splitlines())
    parts += ["<h2>Notes</h2>", f"<p>{notes or '-'}</p>"]
    parts.append(
        f'<p class="foot">{html.escape(DISCLAIMER)}<br>biofeedback {__version__} · generated '
        f"{html.escape(data.generated)}</p></body></html>"
    )
    return "\n".join(parts)


# -- PDF ----------------------------------------------------------------------------------------------
_BOTTOM = 0.07  # lowest y for content (the footer is below)
_ROW_H = 0.019
#: Tables span the text width (figure fractions) with the same small padding in every cell.
_TABLE_LEFT, _TABLE_WIDTH = 0.06, 0.88
_CELL_PAD = 0.007


class Pages:
    """A growing list of A4 pages with a cursor ``y`` (figure fraction, top = 1), each headed by
    the title and subtitle; ``finish`` adds the footer and writes the PDF (the session and the
    course report share it)."""

    def __init__(self, title: str, subtitle: str, doc_title: str, generated: str) -> None:
        self.title, self.subtitle, self.doc_title = title, subtitle, doc_title
        self.generated = generated
        self.figures: list[Figure] = []
        self.fig: Figure = self.new()
        self.y = 0.915

    def new(self) -> Figure:
        fig = new_figure(*A4_IN)
        fig.text(0.06, 0.975, self.title, fontsize=14, color=INK, va="top", weight="bold")
        fig.text(0.06, 0.952, self.subtitle, fontsize=8.5, color=MUTED, va="top")
        self.figures.append(fig)
        self.fig, self.y = fig, 0.915
        return fig

    def need(self, height: float) -> None:
        """Start a new page unless ``height`` fits below the cursor."""
        if self.y - height < _BOTTOM:
            self.new()

    def heading(self, text: str) -> None:
        self.fig.text(0.06, self.y, text, fontsize=10.5, color=INK, weight="bold", va="top")
        self.fig.add_artist(
            Line2D([0.06, 0.94], [self.y - 0.019, self.y - 0.019], color="#dde3e6", linewidth=0.8)
        )
        self.y -= 0.032

    def text(self, text: str, size: float = 8.0, colour: str = INK, width: int = 120) -> None:
        for line in textwrap.wrap(text, width) or [""]:
            self.need(0.016)
            self.fig.text(0.06, self.y, line, fontsize=size, color=colour, va="top")
            self.y -= 0.016

    def table(
        self,
        title: str,
        header: list[str],
        rows: list[list[str]],
        widths: list[float],
        left_cols: tuple[int, ...] = (0,),
        fontsize: float = 7.0,
        note: str = "",
    ) -> None:
        """A titled table that continues on the next page when it does not fit."""
        lines = max(h.count("\n") + 1 for h in header)
        header_h = _ROW_H * (0.35 + 0.65 * lines)
        remaining = list(rows)
        first = True
        while first or remaining:
            self.need(
                0.032
                + (0.016 if note and first else 0)
                + header_h
                + _ROW_H * min(3, max(1, len(remaining)))
            )
            self.heading(title if first else f"{title} (continued)")
            if note and first:
                self.text(note, size=7, colour=MUTED, width=140)
            fit = max(1, int((self.y - _BOTTOM - header_h) / _ROW_H))
            part, remaining = remaining[:fit], remaining[fit:]
            self.y = _table(self.fig, self.y, header, part, widths, header_h, left_cols, fontsize)
            self.y -= 0.02
            first = False

    def finish(self, path: Path | str | BinaryIO) -> None:
        total = len(self.figures)
        footer = "\n".join(textwrap.wrap(DISCLAIMER, 140))
        meta = {
            "Title": self.doc_title,
            "Creator": f"biofeedback {__version__}",
        }
        target = path if hasattr(path, "write") else str(path)
        with PdfPages(target, metadata=meta) as pdf:
            for number, fig in enumerate(self.figures, start=1):
                fig.text(0.06, 0.022, footer, fontsize=6.5, color=MUTED, va="bottom")
                fig.text(
                    0.94,
                    0.022,
                    f"biofeedback {__version__} · {self.generated} · page {number}/{total}",
                    fontsize=6.5,
                    color=MUTED,
                    ha="right",
                    va="bottom",
                )
                pdf.savefig(fig)


class _Pages(Pages):
    """The pages of one session's report."""

    def __init__(self, data: ReportData) -> None:
        super().__init__(
            data.title, subtitle(data), f"{data.title} - session {data.record.id}", data.generated
        )


def _table(
    fig: Figure,
    top: float,
    header: list[str],
    rows: list[list[str]],
    widths: list[float],
    header_h: float,
    left_cols: tuple[int, ...],
    fontsize: float,
) -> float:
    """Draw a table from ``top`` down across the text width; returns its bottom y.

    Drawn as plain figure text on a light grid (one line collection) rather than with
    ``matplotlib.table``, which measures every cell's text several times while drawing: the same
    look at about half the cost (a 40-minute session's report has several hundred cells)."""
    left, width = _TABLE_LEFT, _TABLE_WIDTH
    total = sum(widths)
    edges = [left]
    for w in widths:
        edges.append(edges[-1] + width * w / total)
    body = rows or [[""] * len(header)]
    bottom = top - header_h - _ROW_H * len(body)
    fig.add_artist(
        Rectangle((left, top - header_h), width, header_h, transform=fig.transFigure,
                  facecolor="#f4f6f7", edgecolor="none")
    )  # fmt: skip
    ys = [top, top - header_h, *(top - header_h - _ROW_H * (i + 1) for i in range(len(body)))]
    grid = [[(left, y), (left + width, y)] for y in ys]
    grid += [[(x, top), (x, bottom)] for x in edges]
    fig.add_artist(
        LineCollection(grid, transform=fig.transFigure, colors="#e3e8eb", linewidths=0.5)
    )
    for r, cells in enumerate([header, *body]):
        y = top - header_h / 2 if r == 0 else top - header_h - _ROW_H * (r - 0.5)
        for c, text in enumerate(cells):
            if not text:
                continue
            # text columns read better left-aligned (the side the padding goes on follows)
            at_left = c in left_cols
            x = edges[c] + _CELL_PAD if at_left else edges[c + 1] - _CELL_PAD
            fig.text(
                x, y, text, fontsize=fontsize, color=MUTED if r == 0 else INK,
                weight="bold" if r == 0 else "normal", ha="left" if at_left else "right",
                va="center", multialignment="left" if at_left else "right",
            )  # fmt: skip
    return bottom


def render_pdf(data: ReportData, path: Path | str | BinaryIO) -> None:
    """An A4 PDF: overview and plots, the per-phase table, thresholds, markers, trends, notes."""
    pages = _Pages(data)
    _pdf_overview(pages, data)
    _pdf_plots(pages, data)
    _pdf_tables(pages, data)
    _pdf_trends(pages, data)
    pages.need(0.06)
    pages.heading("Notes")
    for line in data.notes.splitlines() or ["-"]:
        pages.text(line)
    pages.finish(path)


def _pdf_overview(pages: _Pages, data: ReportData) -> None:
    """Warnings, then the session details and summary beside the recording and processing."""
    fig = pages.fig
    for warning in data.warnings[:3]:
        pages.text(warning, size=7.5, colour="#9a5a1a")
    if data.warnings:
        pages.y -= 0.005
    y = pages.y
    right_x = 0.52
    pages.heading("Session")
    fig.text(
        right_x, y, "Recording and processing", fontsize=10.5, color=INK, weight="bold", va="top"
    )
    left_end = _kv_block(fig, 0.06, pages.y, data.session_rows, 0.15, 38)
    # The summary sits under the session details, beside the (longer) recording column.
    fig.text(0.06, left_end - 0.008, "Summary", fontsize=9, color=INK, weight="bold", va="top")
    left_end = _kv_block(fig, 0.06, left_end - 0.03, data.summary_rows, 0.21, 30)
    right_end = _kv_block(fig, right_x, pages.y, data.recording_rows, 0.12, 44)
    pages.y = min(left_end, right_end) - 0.015


def _pdf_plots(pages: _Pages, data: ReportData) -> None:
    """The envelope with its phases, then trial success and the threshold history side by side."""
    pages.need(0.3)
    pages.heading("Envelope with phases")
    env_h = 0.2
    ax = pages.fig.add_axes((0.09, pages.y - 0.025 - env_h, 0.85, env_h))
    draw_envelope(ax, data)
    pages.y -= 0.025 + env_h + 0.045

    pages.need(0.175)
    pages.heading("Training trials and threshold")
    plot_h = max(0.09, min(0.16, pages.y - _BOTTOM - 0.09))
    top = pages.y - 0.025
    ax1 = pages.fig.add_axes((0.09, top - plot_h, 0.37, plot_h))
    ax2 = pages.fig.add_axes((0.57, top - plot_h, 0.37, plot_h))
    draw_trial_success(ax1, data)
    draw_thresholds(ax2, data)
    pages.y = top - plot_h - 0.06


def _pdf_tables(pages: _Pages, data: ReportData) -> None:
    """Per-phase measures, threshold changes and markers (flowing over as many pages as needed)."""
    if data.phases:
        pages.table(
            "Per-phase measures",
            phase_table_header(),
            phase_table_rows(data),
            [
                0.17,
                0.055,
                0.055,
                0.06,
                0.065,
                0.055,
                0.15,
                0.055,
                0.06,
                0.055,
                0.05,
                0.055,
                0.05,
                0.05,
            ],
            note="uV RMS of the live envelope over included samples; APDF = amplitude percentiles; "
            "excluded = flagged as artefact or gap."
            + (f" {data.scored_channel}" if data.scored_channel else ""),
        )
    else:
        pages.heading("Per-phase measures")
        pages.text("No phases were stored (a plain recording).")
    if data.thresholds:
        pages.table(
            "Threshold changes",
            ["Time", "Old uV", "New uV", "Reason"],
            threshold_rows(data),
            [0.08, 0.08, 0.08, 0.76],
            left_cols=(0, 3),
        )
    if data.markers:
        pages.table(
            "Markers",
            ["Time", "Label", "Note"],
            marker_rows(data),
            [0.08, 0.25, 0.67],
            left_cols=(0, 1, 2),
        )


def _pdf_trends(pages: _Pages, data: ReportData) -> None:
    """Trend plots across the subject's sessions, their text, and the table of sessions."""
    pages.need(0.3)
    pages.heading("Trends across this subject's sessions")
    axes = [pages.fig.add_axes((0.09 + i * 0.305, pages.y - 0.2, 0.24, 0.17)) for i in range(3)]
    draw_trends(axes, data)
    pages.y -= 0.26
    for text in data.trend_text or ["First session of this subject: no trend yet."]:
        pages.text(text)
    pages.y -= 0.01
    sessions = [
        [
            str(p.session_id),
            p.date.isoformat(),
            p.protocol,
            fmt(p.baseline_uv),
            fmt(p.pct_below, 1),
            fmt(p.recovery_s, 1),
            fmt(p.pain_before, 0),
            fmt(p.pain_after, 0),
        ]
        for p in data.trend
    ]
    if sessions:
        pages.table(
            "Sessions of this subject",
            [
                "Session",
                "Date",
                "Protocol",
                "Baseline uV",
                "Below %",
                "Recovery s",
                "Pain before",
                "Pain after",
            ],
            sessions,
            [0.09, 0.13, 0.22, 0.11, 0.1, 0.11, 0.12, 0.12],
            left_cols=(0, 1, 2),
        )


def _kv_block(
    fig: Figure, x: float, y: float, rows: list[tuple[str, str]], key_w: float, wrap: int
) -> float:
    """Key/value lines from (x, y) downwards; returns the y below the block."""
    line_h = 0.0135
    for key, value in rows:
        lines = textwrap.wrap(value, wrap) or ["-"]
        fig.text(x, y, key, fontsize=7.5, color=MUTED, va="top")
        for i, line in enumerate(lines):
            fig.text(x + key_w, y - i * line_h, line, fontsize=7.5, color=INK, va="top")
        y -= line_h * len(lines) + 0.003
    return y
