"""Report figures with matplotlib's object API and the Agg canvas (no pyplot, no GUI backend).

Calm colours, one message per plot: the envelope with the phases shaded and the threshold,
success per training trial against the 60-80 % shaping band, the threshold history, and trends
across the subject's sessions.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from biofeedback.reports.data import ReportData

INK = "#2b3a42"
MUTED = "#7a8a93"
LINE_COLOURS = ("#2f6f8f", "#8f5f2f", "#4f7f4f", "#7f4f7f")
THRESHOLD = "#c0703a"
PHASE_COLOURS = {
    "baseline": "#dfe8ef",
    "train": "#e3efe0",
    "transfer": "#ece3f0",
    "rest": "#f2f2f2",
    "recovery": "#f5ecdf",
    # contractions in amber: red/pink would read as the "artefact / gap" marks
    "tense": "#f0dc9a",
    "reference-contraction": "#f0dc9a",
    "breathing": "#e0eef0",
}
DEFAULT_PHASE = "#f7f7f4"


def new_figure(width_in: float, height_in: float) -> Figure:
    """A figure on an Agg canvas with the report's style."""
    fig = Figure(figsize=(width_in, height_in), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def style_axes(ax: Axes, ylabel: str = "") -> None:
    """Quiet axes: no top/right spines, muted ticks."""
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(MUTED)
    ax.tick_params(colors=INK, labelsize=8, length=3)
    ax.yaxis.label.set_color(INK)
    ax.xaxis.label.set_color(INK)
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=8.5)
    ax.grid(axis="y", color="#e6e6e6", linewidth=0.6)
    ax.set_axisbelow(True)


#: Font size of the phase labels in the envelope plot (points).
LABEL_PT = 6.5


def phase_label_layout(
    name: str, width_frac: float, axes_w_in: float, fontsize_pt: float = LABEL_PT
) -> tuple[int, float] | None:
    """How to label a phase band ``width_frac`` of the axis wide: (rotation, label width as a
    fraction of the axis), or None when not even a rotated label fits inside the band.

    Text width is estimated at 0.6 em per character (DejaVu Sans averages ~0.55-0.6).
    """
    if axes_w_in <= 0 or width_frac <= 0:
        return None
    em_frac = fontsize_pt / 72.0 / axes_w_in
    text_frac = 0.6 * em_frac * len(name) + 0.5 * em_frac  # a little margin
    if text_frac <= width_frac:
        return 0, text_frac
    line_frac = 1.3 * em_frac  # a rotated label is one line high
    if line_frac <= width_frac:
        return 90, line_frac
    return None


def draw_envelope(ax: Axes, data: ReportData) -> None:
    """Envelope per output, phases shaded and labelled, threshold as a dashed step line."""
    env = data.envelope
    minutes = env.t_s / 60.0
    top = (
        float(np.nanpercentile(env.envelope_uv, 99.5))
        if np.isfinite(env.envelope_uv).any()
        else 1.0
    )
    top = max(top * 1.15, 1.0)
    span_min = max(minutes[-1] if len(minutes) else 1.0, 1e-6)
    fig = ax.get_figure(root=True)
    axes_w_in = fig.get_size_inches()[0] * ax.get_position().width if fig is not None else 7.0
    last_label_x = -np.inf  # right edge (fraction of the axis) of the last label drawn
    for row in data.phases:
        if row.start_s is None or row.end_s is None:
            continue
        colour = PHASE_COLOURS.get(row.kind, DEFAULT_PHASE)
        ax.axvspan(row.start_s / 60, row.end_s / 60, color=colour, linewidth=0, zorder=0)
        label = phase_label_layout(
            row.name, (row.end_s - row.start_s) / 60 / span_min, axes_w_in, LABEL_PT
        )
        centre = (row.start_s + row.end_s) / 120 / span_min
        if label is None or centre - label[1] / 2 < last_label_x:
            continue  # too narrow for its label, or it would touch the previous one
        ax.text(
            (row.start_s + row.end_s) / 120,
            top * 0.98,
            row.name,
            ha="center",
            va="top",
            fontsize=LABEL_PT,
            color=MUTED,
            rotation=label[0],
        )
        last_label_x = centre + label[1] / 2
    for c, name in enumerate(env.names):
        ax.plot(
            minutes, env.envelope_uv[:, c], color=LINE_COLOURS[c % 4], linewidth=0.9, label=name
        )
    if data.thresholds:
        xs, ys = [], []
        origin = data.record.first_index or 0
        end_min = minutes[-1] if len(minutes) else 0.0
        for change in data.thresholds:
            x = (change["sample_index"] - origin) / data.record.info.fs_hz / 60
            xs.append(x)
            ys.append(change["new_uv"])
        ax.step(
            [*xs, end_min],
            [*ys, ys[-1]],
            where="post",
            color=THRESHOLD,
            linewidth=1.0,
            linestyle="--",
            label="threshold",
        )
    bad = env.excluded > 0.5
    if bad.any():
        ax.plot(
            minutes[bad],
            np.full(bad.sum(), top * 0.02),
            "|",
            color="#b04040",
            markersize=4,
            label="artefact / gap",
        )
    ax.set_ylim(0, top)
    ax.set_xlim(0, max(minutes[-1], 1e-3) if len(minutes) else 1)
    ax.set_xlabel("time (min)", fontsize=8.5)
    style_axes(ax, "uV RMS")
    ax.legend(loc="upper right", fontsize=7, frameon=False, ncols=4, bbox_to_anchor=(1.0, 1.13))


def draw_trial_success(ax: Axes, data: ReportData) -> None:
    """% time below threshold per training trial, with the 60-80 % shaping band."""
    names = [n for n, _ in data.trial_success]
    values = [np.nan if v is None else float(v) for _, v in data.trial_success]
    ax.axhspan(60, 80, color="#e3efe0", linewidth=0, zorder=0)
    if names:
        ax.bar(range(len(names)), values, color=LINE_COLOURS[0], width=0.6)
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=7)
    else:
        ax.text(
            0.5,
            0.5,
            "no training trials",
            transform=ax.transAxes,
            ha="center",
            color=MUTED,
            fontsize=8,
        )
        ax.set_xticks([])
    ax.set_ylim(0, 100)
    ax.set_title(
        "Time below threshold per trial (target 60-80 %)", fontsize=8.5, color=INK, loc="left"
    )
    style_axes(ax, "% below")


def draw_thresholds(ax: Axes, data: ReportData) -> None:
    """Threshold (uV) over the session."""
    ax.set_title("Threshold (uV) over the session", fontsize=8.5, color=INK, loc="left")
    if not data.thresholds:
        ax.text(
            0.5,
            0.5,
            "no threshold was set",
            transform=ax.transAxes,
            ha="center",
            color=MUTED,
            fontsize=8,
        )
        ax.set_xticks([])
        style_axes(ax, "uV")
        return
    origin = data.record.first_index or 0
    fs = data.record.info.fs_hz
    xs = [(c["sample_index"] - origin) / fs / 60 for c in data.thresholds]
    ys = [c["new_uv"] for c in data.thresholds]
    end = max(data.record.duration_s / 60, xs[-1])
    ax.step([*xs, end], [*ys, ys[-1]], where="post", color=THRESHOLD, linewidth=1.2)
    ax.plot(xs, ys, "o", color=THRESHOLD, markersize=3)
    ax.set_xlabel("time (min)", fontsize=8.5)
    ax.set_ylim(0, max(ys) * 1.25)
    style_axes(ax, "uV")


def draw_trends(axes: list[Axes], data: ReportData) -> None:
    """Baseline uV, % below threshold and recovery time across the subject's sessions."""
    points = data.trend
    specs = [
        ("baseline_uv", "Baseline (uV RMS)"),
        ("pct_below", "% time below threshold"),
        ("recovery_s", "Recovery time (s)"),
    ]
    for ax, (attr, title) in zip(axes, specs, strict=True):
        xs = [i + 1 for i, p in enumerate(points) if getattr(p, attr) is not None]
        ys = [getattr(p, attr) for p in points if getattr(p, attr) is not None]
        ax.set_title(title, fontsize=8.5, color=INK, loc="left")
        if ys:
            ax.plot(xs, ys, "-o", color=LINE_COLOURS[0], markersize=3.5, linewidth=1)
            here = [
                i + 1
                for i, p in enumerate(points)
                if p.session_id == data.record.id and getattr(p, attr) is not None
            ]
            if here:
                ax.plot(
                    here,
                    [getattr(points[here[0] - 1], attr)],
                    "o",
                    color=THRESHOLD,
                    markersize=6,
                    zorder=3,
                )
            ax.set_xlim(0.5, max(len(points), 1) + 0.5)
            ax.set_ylim(bottom=0)
        else:
            ax.text(
                0.5,
                0.5,
                "no data yet",
                transform=ax.transAxes,
                ha="center",
                color=MUTED,
                fontsize=8,
            )
        ax.set_xlabel("session number", fontsize=8)
        style_axes(ax)
        locator = ax.xaxis.get_major_locator()
        if isinstance(locator, MaxNLocator):  # the default AutoLocator is one
            locator.set_params(integer=True)


def figure_svg(fig: Figure) -> str:
    """The figure as an inline SVG string (for the HTML report)."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.find("<svg") :]


def envelope_figure(data: ReportData, width_in: float = 7.3, height_in: float = 2.6) -> Figure:
    """The envelope overview on its own figure."""
    fig = new_figure(width_in, height_in)
    ax = fig.add_axes((0.08, 0.17, 0.9, 0.7))
    draw_envelope(ax, data)
    return fig


def trials_figure(data: ReportData, width_in: float = 7.3, height_in: float = 2.4) -> Figure:
    """Success per trial and the threshold history side by side."""
    fig = new_figure(width_in, height_in)
    ax1 = fig.add_axes((0.07, 0.3, 0.4, 0.58))
    ax2 = fig.add_axes((0.57, 0.3, 0.4, 0.58))
    draw_trial_success(ax1, data)
    draw_thresholds(ax2, data)
    return fig


def trends_figure(data: ReportData, width_in: float = 7.3, height_in: float = 2.2) -> Figure:
    """Three small trend plots."""
    fig = new_figure(width_in, height_in)
    axes = [fig.add_axes((0.06 + i * 0.33, 0.22, 0.26, 0.62)) for i in range(3)]
    draw_trends(axes, data)
    return fig
