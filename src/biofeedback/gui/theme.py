"""Colours, type sizes and the application style: calm, muted, legible from a metre away.

The clinician view is dark-on-light (warm off-white, slate text); the patient view is a soft dark
room (deep blue-grey) so a patient can look at it for half an hour without glare. Tension is shown
with two muted hues only: teal for "below target" and a soft amber for "above target"; grey means
"not scored" (signal problem). Red is kept for a lost connection.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication


@dataclass(frozen=True)
class Palette:
    """Named colours (hex) used by every widget."""

    background: str = "#F3F1EC"
    panel: str = "#FBFAF7"
    border: str = "#DAD6CD"
    text: str = "#2B3440"
    text_muted: str = "#6B7280"
    calm: str = "#3E8E87"  # below target: muted teal
    calm_soft: str = "#D5E8E4"  # target zone tint
    tense: str = "#C98A3C"  # above target: soft amber
    neutral: str = "#9AA0A8"  # flagged: not scored
    lost: str = "#B5524C"
    lost_soft: str = "#F4DAD7"
    warn_soft: str = "#F6E7C8"
    raw_trace: str = "#56657F"
    envelope_trace: str = "#2F7D76"
    threshold: str = "#2B3440"
    noise_floor: str = "#9AA0A8"
    marker: str = "#8C6BB1"
    # patient view (soft dark)
    room: str = "#1D2730"
    room_text: str = "#E4E0D8"
    room_text_muted: str = "#7D8A96"
    orb_calm: str = "#6FB3A6"
    orb_mid: str = "#B8AFA3"
    orb_tense: str = "#D9A05B"
    pacer: str = "#8FA9C9"


PALETTE = Palette()

#: Type sizes in points. Numbers a patient or clinician reads from a metre away are large.
FONT_BASE_PT = 11
FONT_LABEL_PT = 12
FONT_READOUT_PT = 34
FONT_BANNER_PT = 14
FONT_INSTRUCTION_PT = 26


def color(hex_code: str, alpha: int = 255) -> QColor:
    """A QColor from a hex string with optional alpha (0-255)."""
    c = QColor(hex_code)
    c.setAlpha(alpha)
    return c


def blend(a: str, b: str, t: float) -> QColor:
    """Linear blend of two hex colours, ``t`` in [0, 1] (0 -> ``a``)."""
    t = min(max(t, 0.0), 1.0)
    ca, cb = QColor(a), QColor(b)
    return QColor(
        round(ca.red() + (cb.red() - ca.red()) * t),
        round(ca.green() + (cb.green() - ca.green()) * t),
        round(ca.blue() + (cb.blue() - ca.blue()) * t),
    )


def font(point_size: float, bold: bool = False) -> QFont:
    """The application font at a size."""
    f = QFont(QApplication.font())
    f.setPointSizeF(point_size)
    f.setBold(bold)
    return f


STYLESHEET = f"""
QMainWindow, QWidget#clinicianView {{ background: {PALETTE.background}; }}
QWidget {{ color: {PALETTE.text}; }}
QGroupBox {{
    background: {PALETTE.panel}; border: 1px solid {PALETTE.border}; border-radius: 6px;
    margin-top: 14px; padding: 8px 8px 6px 8px; font-weight: 600;
}}
QGroupBox::title {{ subcontrol-origin: margin; left: 10px; padding: 0 4px; color: {PALETTE.text_muted}; }}
QFrame#channelCard {{ background: {PALETTE.panel}; border: 1px solid {PALETTE.border}; border-radius: 8px; }}
QLabel#muted {{ color: {PALETTE.text_muted}; }}
QLabel#channelTitle {{ font-weight: 600; }}
QFrame#banner {{ border-radius: 6px; }}
QStatusBar {{ background: {PALETTE.panel}; border-top: 1px solid {PALETTE.border}; }}
QPushButton {{
    background: {PALETTE.panel}; border: 1px solid {PALETTE.border}; border-radius: 5px; padding: 4px 10px;
}}
QPushButton:hover {{ border-color: {PALETTE.calm}; }}
QPushButton:default {{ border-color: {PALETTE.calm}; }}
QWidget:disabled {{ color: {PALETTE.neutral}; }}
QPushButton:disabled {{ color: {PALETTE.neutral}; border-color: {PALETTE.border}; }}
QScrollArea {{ border: none; background: transparent; }}
QScrollArea > QWidget > QWidget {{ background: transparent; }}
"""


def apply_theme(app: QApplication) -> None:
    """Set the light palette, base font size and style sheet on the application."""
    app.setStyle("Fusion")
    pal = QPalette()
    pal.setColor(QPalette.ColorRole.Window, QColor(PALETTE.background))
    pal.setColor(QPalette.ColorRole.Base, QColor(PALETTE.panel))
    pal.setColor(QPalette.ColorRole.AlternateBase, QColor(PALETTE.background))
    pal.setColor(QPalette.ColorRole.Text, QColor(PALETTE.text))
    pal.setColor(QPalette.ColorRole.WindowText, QColor(PALETTE.text))
    pal.setColor(QPalette.ColorRole.Button, QColor(PALETTE.panel))
    pal.setColor(QPalette.ColorRole.ButtonText, QColor(PALETTE.text))
    pal.setColor(QPalette.ColorRole.Highlight, QColor(PALETTE.calm))
    pal.setColor(QPalette.ColorRole.HighlightedText, QColor("#FFFFFF"))
    pal.setColor(QPalette.ColorRole.ToolTipBase, QColor(PALETTE.panel))
    pal.setColor(QPalette.ColorRole.ToolTipText, QColor(PALETTE.text))
    app.setPalette(pal)
    f = QFont(app.font())
    f.setPointSizeF(FONT_BASE_PT)
    app.setFont(f)
    app.setStyleSheet(STYLESHEET)
