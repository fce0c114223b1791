"""The course report: a subject's course of treatment as an A4 PDF or a self-contained HTML page.

Contents: the course (subject id, never the name; dates, clinician, muscle and site, the
prescription history), the outcome questionnaires with the change from baseline and whether it
passes the instrument's thresholds (MCID, MDC; in words), trends across the sessions (clinic and
home told apart by marker shape and legend, interrupted sessions hollow, the % of time excluded
as artefact), home-practice adherence per week, the electrode site per session with changes
flagged, and the patient's thought records only when the clinician asks for them. Everything is
read from the store by :mod:`biofeedback.reports.course_data`; ``write_course_report`` picks the
format from the file suffix. docs/courses.md, "The course report".
"""

from __future__ import annotations

import html
import textwrap
from pathlib import Path
from typing import Any, BinaryIO

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from biofeedback import __version__
from biofeedback.outcomes.results import change_text, number_text
from biofeedback.reports.clinician import (
    DISCLAIMER,
    Pages,
    grid_html,
    html_head,
    kv_html,
    write_report_file,
)
from biofeedback.reports.course_data import (
    CourseReportData,
    OutcomeBlock,
    OutcomeLine,
    SessionRow,
    StepAnswers,
    collect_course,
)
from biofeedback.reports.data import fmt
from biofeedback.reports.plots import INK, LINE_COLOURS, MUTED, figure_svg, new_figure, style_axes
from biofeedback.storage.database import Database

#: What the report says when the thought records were not asked for.
NO_THOUGHT_RECORDS = "Thought records: not included (ask with --thought-records)."
#: Trend plots: (SessionRow attribute, title).
TRENDS: list[tuple[str, str]] = [
    ("baseline_uv", "Resting (baseline) uV RMS"),
    ("pct_below", "% time below target in training"),
    ("recovery_s", "Recovery after contraction (s)"),
    ("gaps_per_min", "EMG gaps per min in training"),
    ("pct_excluded", "% of time excluded (artefact)"),
]
#: Longer protocol names are cut in the sessions table (its column is narrow on A4).
MAX_PROTOCOL_CHARS = 26
#: Marker and colour per setting: the shape tells clinic from home without colour.
SETTING_STYLE = {
    "clinic": ("s", LINE_COLOURS[0]),
    "home": ("o", LINE_COLOURS[1]),
    "-": ("^", MUTED),
}


def write_course_report(
    db: Database,
    subject_id: str,
    path: Path | str,
    *,
    thought_records: bool = False,
    course_id: int | None = None,
    course_uid: str | None = None,
) -> Path:
    """Write the course report of ``subject_id`` as PDF or HTML (by the file suffix); the open
    course by default, else the latest. Returns the path written."""

    def gather() -> CourseReportData:
        return collect_course(
            db,
            subject_id,
            thought_records=thought_records,
            course_id=course_id,
            course_uid=course_uid,
        )

    return write_report_file(db, path, "course.pdf", gather, render_pdf, render_html)


# -- the words and cells (identical in PDF and HTML) --------------------------------------------------
def course_span(course: Any) -> str:
    """``2026-11-02 to 2026-12-14``, or ``from 2026-11-23 (open)``: heading and body alike."""
    if course.end_date:
        return f"{course.start_date} to {course.end_date}"
    return f"from {course.start_date} (open)"


def subtitle(data: CourseReportData) -> str:
    c = data.course
    return (
        f"Subject {data.subject_id}  ·  Course {course_span(c)}  ·  Clinician {c.clinician or '-'}"
    )


def prescription_text(rx: Any) -> str:
    text = f"{rx.sessions_per_week} sessions a week of {rx.minutes_per_session} min"
    if rx.protocols:
        text += f" ({', '.join(rx.protocols)})"
    if rx.until:
        text += f", until {rx.until}"
    return text


def course_rows(data: CourseReportData) -> list[tuple[str, str]]:
    """Key/value lines of the course header."""
    c = data.course
    clinic = sum(1 for s in data.sessions if s.setting == "clinic")
    home = sum(1 for s in data.sessions if s.setting == "home")
    planned = f" of {c.planned_clinic_sessions} planned" if c.planned_clinic_sessions else ""
    rows = [
        ("Subject", data.subject_id),
        ("Course", f"{course_span(c)}  (id {c.uid})"),
        ("Clinician", c.clinician or "-"),
        ("Muscle", c.muscle or "-"),
        ("Electrode site", c.electrode_site or "-"),
        (
            "Sessions",
            f"{len(data.sessions)}: {clinic} clinic{planned}, {home} home, "
            f"{len(data.interrupted)} interrupted",
        ),
    ]
    for i, rx in enumerate(c.prescriptions):
        label = "Home practice" if i == 0 else ""
        rows.append((label, f"from {rx.valid_from}: {prescription_text(rx)}"))
    if c.notes:
        rows.append(("Notes", c.notes))
    return rows


OUTCOME_HEADER = ["Timepoint", "Date", "Score", "Value", "Change from\nbaseline",
                  "MCID\nreached", "MDC", "Verdict"]  # fmt: skip


def _mcid_flag(change: dict[str, Any] | None) -> str:
    if not change or change.get("verdict") == "no threshold":
        return "-"
    if change.get("important_improvement"):
        return "yes, better"
    if change.get("important_worsening"):
        return "yes, worse"
    return "no"


def outcome_cells(line: OutcomeLine) -> list[str]:
    """One score of one questionnaire: the same numbers as ``outcomes show``."""
    value = "not scored" if line.value is None else number_text(line.value)
    change = line.change or {}
    beyond = change.get("beyond_mdc")
    verdict = str(change.get("verdict") or ("baseline" if line.is_baseline else "-"))
    return [
        line.timepoint,
        line.date.isoformat(),
        line.score,
        value,
        change_text(change),
        _mcid_flag(change),
        {True: "beyond", False: "within", None: "-"}[beyond],
        verdict + (f" [{line.note}]" if line.note else ""),
    ]


SESSION_HEADER = ["#", "Date", "Setting", "Status", "Protocol", "Length\nmin", "Resting\nuV",
                  "Below\ntarget %", "Recovery\ns", "Gaps\n/min", "Rest\ntime %", "Excluded\n%",
                  "Source"]  # fmt: skip


def session_cells(s: SessionRow) -> list[str]:
    return [
        str(s.number),
        s.date.isoformat(),
        s.setting,
        s.status,
        s.protocol
        if len(s.protocol) <= MAX_PROTOCOL_CHARS
        else s.protocol[: MAX_PROTOCOL_CHARS - 3] + "...",
        f"{s.duration_s / 60:.1f}",
        fmt(s.baseline_uv),
        fmt(s.pct_below, 1),
        fmt(s.recovery_s, 1),
        fmt(s.gaps_per_min, 1),
        fmt(s.rest_time_pct, 1),
        fmt(s.pct_excluded, 1),
        f"imported {s.imported}" if s.imported else "recorded",
    ]


SITE_HEADER = ["#", "Date", "Setting", "Electrode site", "Change"]


def site_cells(s: SessionRow) -> list[str]:
    change = f"CHANGED (was: {s.previous_site})" if s.site_changed else ""
    return [str(s.number), s.date.isoformat(), s.setting, s.site, change]


ADHERENCE_HEADER = ["Week", "From", "Sessions", "Minutes", "Days", "Interrupted", "Clinic", "Met"]


def adherence_cells(data: CourseReportData) -> list[list[str]]:
    rows = []
    for w in data.adherence.weeks:
        if w.prescription:
            sessions = f"{w.sessions_done} of {w.prescribed_sessions}"
            minutes = f"{w.minutes_done:.0f} of {w.prescribed_minutes:.0f}"
        else:
            sessions, minutes = str(w.sessions_done), f"{w.minutes_done:.0f}"
        rows.append(
            [
                w.iso_week,
                w.week_start.isoformat(),
                sessions,
                minutes,
                str(w.days_practised),
                f"{w.interrupted_counted} + {w.interrupted_short} short",
                str(w.clinic_sessions),
                {True: "yes", False: "no", None: "-"}[w.met],
            ]
        )
    return rows


def adherence_summary(data: CourseReportData) -> list[str]:
    a = data.adherence
    judged = [w for w in a.weeks if w.met is not None]
    lines = [
        f"Weeks met: {sum(1 for w in judged if w.met)} of {len(judged)} with a prescription. "
        f"Longest run: {a.longest_week_streak} week(s) met, {a.longest_day_streak} day(s) "
        "practised in a row."
    ]
    if data.course.is_open:
        lines.append(f"Home practice: {a.this_week_text()}.")
    lines.append(
        "Home sessions only; sessions: counted of prescribed; interrupted: counted + too short "
        "to count (the rules are in the app's documentation on courses)."
    )
    return lines


def step_title(entry: StepAnswers) -> str:
    """``Session 5 (2026-11-09): thought record``, with the phase's name when it says more."""
    kind = entry.kind.replace("-", " ")
    extra = f" '{entry.phase}'" if entry.phase and entry.phase.lower() != kind else ""
    return f"Session {entry.session_number} ({entry.date}): {kind}{extra}"


def field_text(label: str, answer: str) -> str:
    """``Situation: carrying shopping``; a question is followed by its answer without a colon."""
    return f"{label} {answer}" if label.endswith("?") else f"{label}: {answer}"


def interrupted_lines(data: CourseReportData) -> list[str]:
    return [
        f"#{s.number}  {s.date}  {s.setting}  {s.protocol}: stopped after {s.duration_s / 60:.1f} "
        "min"
        for s in data.interrupted
    ] or ["None."]


def trend_note() -> str:
    return (
        "Resting uV: the baseline phase's resting level; Below target %: time below the target in "
        "training; Gaps /min and Rest time %: EMG gaps (at least 0.2 s below the target) per "
        "minute and the % of training time inside them; Excluded %: time excluded as artefact or "
        "signal gap. Squares: clinic, circles: home; hollow: interrupted."
    )


# -- plots --------------------------------------------------------------------------------------------
def draw_trend(ax: Axes, sessions: list[SessionRow], attr: str, title: str) -> None:
    """One measure across the course: a thin line through the sessions with a value, a marker
    per session shaped by its setting, hollow when interrupted."""
    ax.set_title(title, fontsize=8, color=INK, loc="left")
    points = [(s, getattr(s, attr)) for s in sessions if getattr(s, attr) is not None]
    if not points:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", color=MUTED, fontsize=8)
    else:
        ax.plot([s.number for s, _ in points], [v for _, v in points], color="#c5ced3", lw=0.8)
        groups: dict[tuple[str, bool], list[tuple[int, float]]] = {}
        for s, value in points:  # one line artist per kind of marker, not one per session
            key = (s.setting if s.setting in SETTING_STYLE else "-", s.status == "interrupted")
            groups.setdefault(key, []).append((s.number, value))
        for (setting, hollow), xy in groups.items():
            marker, colour = SETTING_STYLE[setting]
            xs, ys = zip(*xy, strict=True)
            face = "white" if hollow else colour
            ax.plot(xs, ys, marker, color=colour, mfc=face, ms=4.5, mew=1.0, ls="")
        ax.set_ylim(bottom=0)
    ax.set_xlim(0.5, max(len(sessions), 1) + 0.5)
    ax.set_xlabel("session of the course", fontsize=7.5)
    style_axes(ax)
    ax.tick_params(labelsize=7)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def draw_legend(ax: Axes) -> None:
    """The key to the markers, in the sixth cell of the grid."""
    ax.axis("off")
    handles = [
        Line2D([], [], marker="s", color=SETTING_STYLE["clinic"][1], ls="", label="clinic session"),
        Line2D([], [], marker="o", color=SETTING_STYLE["home"][1], ls="", label="home session"),
        Line2D([], [], marker="o", color=MUTED, mfc="white", ls="", label="interrupted (hollow)"),
    ]
    ax.legend(handles=handles, loc="center left", fontsize=7.5, frameon=False)


def draw_trends(fig: Figure, data: CourseReportData, top: float, height: float) -> None:
    """The five trend plots and the key in a 3 x 2 grid from ``top`` (figure fraction) down."""
    cell_h = height / 2
    for i in range(6):
        row, col = divmod(i, 3)
        box = (0.08 + col * 0.305, top - (row + 1) * cell_h + 0.035, 0.245, cell_h - 0.06)
        ax = fig.add_axes(box)
        if i < len(TRENDS):
            draw_trend(ax, data.sessions, *TRENDS[i])
        else:
            draw_legend(ax)


def trends_figure(data: CourseReportData) -> Figure:
    fig = new_figure(7.3, 4.4)
    draw_trends(fig, data, 1.0, 1.0)
    return fig


# -- HTML ---------------------------------------------------------------------------------------------
def _outcomes_html(blocks: list[OutcomeBlock]) -> list[str]:
    if not blocks:
        return ["<p>No questionnaires were recorded in this course.</p>"]
    parts = []
    for block in blocks:
        parts.append(f"<h3>{html.escape(block.name)} ({html.escape(block.instrument)})</h3>")
        rules = block.rules or ["instrument file not found: stored values shown, not judged"]
        parts.append('<p class="sub">' + "<br>".join(html.escape(r) for r in rules) + "</p>")
        parts.append(grid_html(OUTCOME_HEADER, [outcome_cells(line) for line in block.lines]))
    return parts


def _thought_records_html(data: CourseReportData) -> list[str]:
    if data.thought_records is None:
        return [f"<p>{html.escape(NO_THOUGHT_RECORDS)}</p>"]
    if not data.thought_records:
        return ["<p>The patient wrote no thought records or reflections in this course.</p>"]
    parts = ['<p class="warn">Private: written by the patient; included at the clinician\'s '
             "request.</p>"]  # fmt: skip
    for entry in data.thought_records:
        parts += [f"<h3>{html.escape(step_title(entry))}</h3>", kv_html(entry.fields)]
    return parts


def render_html(data: CourseReportData) -> str:
    """A self-contained HTML page (the trend plots inline as SVG, no links)."""
    parts = [
        *html_head(data.title, data.subject_id, subtitle(data)),
        *[f'<p class="warn">{html.escape(n)}</p>' for n in data.notes],
        "<h2>Course</h2>",
        kv_html(course_rows(data)),
        "<h2>Outcomes: change from baseline</h2>",
        *_outcomes_html(data.outcomes),
        "<h2>Trends across the sessions</h2>",
        figure_svg(trends_figure(data)),
        f'<p class="sub">{html.escape(trend_note())}</p>',
        grid_html(SESSION_HEADER, [session_cells(s) for s in data.sessions]),
        "<h2>Interrupted sessions</h2>",
        "<p>" + "<br>".join(html.escape(t) for t in interrupted_lines(data)) + "</p>",
        "<h2>Home practice per week</h2>",
        grid_html(ADHERENCE_HEADER, adherence_cells(data)),
        "<p>" + "<br>".join(html.escape(t) for t in adherence_summary(data)) + "</p>",
        "<h2>Electrode site per session</h2>",
        grid_html(SITE_HEADER, [site_cells(s) for s in data.sessions]),
        "<h2>Thought records</h2>",
        *_thought_records_html(data),
        f'<p class="foot">{html.escape(DISCLAIMER)}<br>biofeedback {__version__} · generated '
        f"{html.escape(data.generated)}</p></body></html>",
    ]
    return "\n".join(parts)


# -- PDF ----------------------------------------------------------------------------------------------
#: Column widths (relative) of the PDF tables.
OUTCOME_WIDTHS = [0.08, 0.08, 0.19, 0.06, 0.13, 0.085, 0.05, 0.275]
#: (# date setting status protocol length resting below recovery gaps rest excluded source)
SESSION_WIDTHS = [0.03, 0.08, 0.055, 0.08, 0.16, 0.05, 0.055, 0.075, 0.07, 0.05, 0.055, 0.07, 0.105]  # fmt: skip
#: Width of the text column of an A4 page (points) and a generous mean character width (em).
_TEXT_WIDTH_PT = 0.88 * 8.27 * 72
_CHAR_EM = 0.6


def _pdf_outcome_cells(line: OutcomeLine) -> list[str]:
    """As in HTML, but "(within measurement error)" is left to the MDC column ("within")."""
    cells = outcome_cells(line)
    cells[-1] = cells[-1].replace(" (within measurement error)", "")
    return cells


def _fit(
    rows: list[list[str]], widths: list[float], fontsize: float = 7.0
) -> tuple[list[list[str]], list[float]]:
    """The rows with every cell cut ("...") to what its column holds on the page (a table cell
    is one line), and the widths: the HTML report keeps the whole text."""
    total = sum(widths)
    limits = [max(4, int(w / total * _TEXT_WIDTH_PT / (fontsize * _CHAR_EM)) - 1) for w in widths]
    cut = [
        [c if len(c) <= n else c[: n - 3] + "..." for c, n in zip(row, limits, strict=True)]
        for row in rows
    ]
    return cut, widths


def render_pdf(data: CourseReportData, path: Path | str | BinaryIO) -> None:
    """An A4 PDF: the course, outcomes, trends, sessions, adherence, sites, thought records."""
    pages = Pages(data.title, subtitle(data), f"{data.title} - {data.subject_id}", data.generated)
    for note in data.notes:
        pages.text(note, size=7.5, colour="#9a5a1a")
    _pdf_course(pages, data)
    _pdf_outcomes(pages, data)
    _pdf_trends(pages, data)
    _pdf_practice(pages, data)
    _pdf_thought_records(pages, data)
    pages.finish(path)


def _pdf_course(pages: Pages, data: CourseReportData) -> None:
    """The course details as key/value lines (values wrapped beside their key)."""
    pages.heading("Course")
    line_h = 0.0145
    for key, value in course_rows(data):
        lines = textwrap.wrap(value, 100) or ["-"]
        pages.need(line_h * len(lines))
        pages.fig.text(0.06, pages.y, key, fontsize=8, color=MUTED, va="top")
        for line in lines:
            pages.fig.text(0.2, pages.y, line, fontsize=8, color=INK, va="top")
            pages.y -= line_h
    pages.y -= 0.012


def _pdf_outcomes(pages: Pages, data: CourseReportData) -> None:
    if not data.outcomes:
        pages.heading("Outcomes: change from baseline")
        pages.text("No questionnaires were recorded in this course.")
        return
    for block in data.outcomes:
        rules = block.rules or ["instrument file not found: stored values shown, not judged"]
        pages.table(
            f"Outcomes: {block.name} ({block.instrument})",
            OUTCOME_HEADER,
            *_fit([_pdf_outcome_cells(line) for line in block.lines], OUTCOME_WIDTHS, 6.5),
            left_cols=(0, 1, 2, 5, 6, 7),
            fontsize=6.5,
            note="  ".join(rules),
        )


def _pdf_trends(pages: Pages, data: CourseReportData) -> None:
    pages.need(0.37)
    pages.heading("Trends across the sessions")
    draw_trends(pages.fig, data, pages.y, 0.3)
    pages.y -= 0.31
    pages.text(trend_note(), size=7, colour=MUTED, width=140)
    pages.y -= 0.01
    pages.table(
        "Sessions",
        SESSION_HEADER,
        *_fit([session_cells(s) for s in data.sessions], SESSION_WIDTHS, 6.0),
        left_cols=(0, 1, 2, 3, 4, 12),
        fontsize=6.0,
    )
    pages.need(0.05)
    pages.heading("Interrupted sessions")
    for line in interrupted_lines(data):
        pages.text(line)
    pages.y -= 0.01


def _pdf_practice(pages: Pages, data: CourseReportData) -> None:
    pages.table(
        "Home practice per week",
        ADHERENCE_HEADER,
        *_fit(adherence_cells(data), [0.1, 0.12, 0.12, 0.13, 0.08, 0.15, 0.08, 0.07]),
        left_cols=(0, 1),
    )
    for line in adherence_summary(data):
        pages.text(line, size=7.5)
    pages.y -= 0.01
    pages.table(
        "Electrode site per session",
        SITE_HEADER,
        *_fit([site_cells(s) for s in data.sessions], [0.04, 0.11, 0.08, 0.42, 0.35]),
        left_cols=(0, 1, 2, 3, 4),
    )


def _pdf_thought_records(pages: Pages, data: CourseReportData) -> None:
    pages.need(0.06)
    pages.heading("Thought records")
    if data.thought_records is None:
        pages.text(NO_THOUGHT_RECORDS)
        return
    if not data.thought_records:
        pages.text("The patient wrote no thought records or reflections in this course.")
        return
    pages.text("Private: written by the patient; included at the clinician's request.", 7.5)
    for entry in data.thought_records:
        pages.need(0.05)
        pages.y -= 0.006
        pages.text(step_title(entry), 8.5)
        for label, answer in entry.fields:
            pages.text(field_text(label, answer), size=7.5, width=125)
