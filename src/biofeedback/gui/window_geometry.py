"""Where the window starts: the size remembered for this screen when it still fits, else the
layout rule (gui/layout_rules.py: 92 % of the free area per side, at most 2560x1600, centred;
maximized when even the window's minimum does not fit). The geometry is remembered per screen (its name and
size), so a laptop and its desk monitor each keep their own."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QScreen
from PySide6.QtWidgets import QApplication, QMainWindow, QWidget

from biofeedback.gui.layout_rules import DIALOG_MAX_SIZE, FALLBACK_SIZE, start_geometry


def screen_key(window: QMainWindow) -> str:
    """The key of the screen the window is on ("" without a screen)."""
    screen = window.screen() or QApplication.primaryScreen()
    if screen is None:
        return ""
    size = screen.size()
    return f"{screen.name()} {size.width()}x{size.height()}"


def remembered_fits(
    rect: list[int], area: tuple[int, int, int, int], minimum: tuple[int, int]
) -> bool:
    """A remembered ``[x, y, width, height]`` is used only when it lies inside the screen's
    free ``area`` (x, y, width, height) and is not smaller than the window's ``minimum``."""
    x, y, width, height = rect
    ax, ay, aw, ah = area
    inside = ax <= x and ay <= y and x + width <= ax + aw and y + height <= ay + ah
    return inside and width >= minimum[0] and height >= minimum[1]


def _free_area(screen: QScreen) -> tuple[int, int, int, int]:
    """The screen's available area (without task bars) as x, y, width, height."""
    area = screen.availableGeometry()
    return area.x(), area.y(), area.width(), area.height()


def _minimum(widget: QWidget) -> tuple[int, int]:
    hint = widget.minimumSizeHint()
    return max(hint.width(), 0), max(hint.height(), 0)


def fit_to_screen(window: QMainWindow, remembered: dict[str, list[int]]) -> None:
    """Place the window (see the module doc); ``remembered`` maps screen keys to x, y, w, h."""
    screen = window.screen() or QApplication.primaryScreen()
    if screen is None:
        window.resize(*FALLBACK_SIZE)
        return
    free, minimum = _free_area(screen), _minimum(window)
    rect = remembered.get(screen_key(window))
    if rect is not None and remembered_fits(rect, free, minimum):
        window.setGeometry(*rect)
        return
    geometry = start_geometry(free, minimum)
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


def fit_dialog(dialog: QWidget, fallback: tuple[int, int] = (1000, 680)) -> None:
    """Size a large dialog to its screen (gui/layout_rules.py: 92 % of the free area, at most
    :data:`~biofeedback.gui.layout_rules.DIALOG_MAX_SIZE`), centred; ``fallback`` without a
    screen. The screen is its parent's when it has one."""
    parent = dialog.parentWidget()
    screen = (parent.screen() if parent is not None else dialog.screen()) or (
        QApplication.primaryScreen()
    )
    if screen is None:
        dialog.resize(*fallback)
        return
    geometry = start_geometry(_free_area(screen), _minimum(dialog), largest=DIALOG_MAX_SIZE)
    if geometry.maximized:
        dialog.setGeometry(screen.availableGeometry())
        return
    dialog.setGeometry(geometry.x, geometry.y, geometry.width, geometry.height)
