"""Qt-free rules for how big the main window starts (unit-tested without a display).

The window prefers 1280x800 but never starts larger than 92 % of the screen's available area
(the screen minus task bars), so its bottom is not cut off on a 1366x768 laptop; on a screen
smaller than the window's minimum it starts maximized instead.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFERRED_SIZE = (1280, 800)
SCREEN_FRACTION = 0.92


@dataclass(frozen=True)
class StartGeometry:
    """Where the window starts: ``maximized``, or a size centred in the available area."""

    maximized: bool
    x: int = 0
    y: int = 0
    width: int = 0
    height: int = 0


def start_geometry(
    available: tuple[int, int, int, int],
    minimum: tuple[int, int],
    preferred: tuple[int, int] = PREFERRED_SIZE,
    fraction: float = SCREEN_FRACTION,
) -> StartGeometry:
    """The start geometry for a screen whose available area is ``(x, y, width, height)``.

    Size: ``min(preferred, fraction * available)`` per side, never below ``minimum``; when the
    minimum does not fit in the available area, the window starts maximized.
    """
    ax, ay, aw, ah = available
    min_w, min_h = minimum
    if min_w > aw or min_h > ah:
        return StartGeometry(maximized=True)
    width = max(min_w, min(preferred[0], int(aw * fraction)))
    height = max(min_h, min(preferred[1], int(ah * fraction)))
    return StartGeometry(
        maximized=False,
        x=ax + (aw - width) // 2,
        y=ay + (ah - height) // 2,
        width=width,
        height=height,
    )
