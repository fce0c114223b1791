"""Where the window starts: the size remembered for this screen when it still fits, else the
layout rule (gui/layout_rules.py: 1280x800 or 92 % of the free area, centred; maximized when
even the window's minimum does not fit). The geometry is remembered per screen (its name and
size), so a laptop and its desk monitor each keep their own."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMainWindow

from biofeedback.gui.layout_rules import PREFERRED_SIZE, start_geometry


def screen_key(window: QMainWindow) -> str:
    """The key of the screen the window is on ("" without a screen)."""
    screen = window.screen() or QApplication.primaryScreen()
    if screen is None:
        return ""
    size = screen.size()
    return f"{screen.name()} {size.width()}x{size.height()}"


def fit_to_screen(window: QMainWindow, remembered: dict[str, list[int]]) -> None:
    """Place the window (see the module doc); ``remembered`` maps screen keys to x, y, w, h."""
    screen = window.screen() or QApplication.primaryScreen()
    if screen is None:
        window.resize(*PREFERRED_SIZE)
        return
    area = screen.availableGeometry()
    hint = window.minimumSizeHint()
    rect = remembered.get(screen_key(window))
    if rect is not None:
        x, y, width, height = rect
        inside = area.contains(x, y) and area.contains(x + width - 1, y + height - 1)
        if inside and width >= hint.width() and height >= hint.height():
            window.setGeometry(x, y, width, height)
            return
    geometry = start_geometry(
        (area.x(), area.y(), area.width(), area.height()), (hint.width(), hint.height())
    )
    if geometry.maximized:
        window.setWindowState(window.windowState() | Qt.WindowState.WindowMaximized)
        return
    window.setGeometry(geometry.x, geometry.y, geometry.width, geometry.height)


def remember_geometry(window: QMainWindow, remembered: dict[str, list[int]]) -> None:
    """Keep the window's normal geometry for its screen (not when maximized or full screen)."""
    key = screen_key(window)
    if key and window.isVisible() and not (window.isMaximized() or window.isFullScreen()):
        g = window.geometry()
        remembered[key] = [g.x(), g.y(), g.width(), g.height()]
