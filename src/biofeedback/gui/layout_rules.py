"""Qt-free rules for how big the main window starts (unit-tested without a display).

The window starts at 92 % of the screen's available area (the screen minus task bars) per side,
centred, so it uses a 1920x1080 monitor as well as a 1366x768 laptop and its frame stays on
screen. On very large screens (4K at 100 %) it stops at 2560x1600 logical pixels: wider traces
show no more, and a clinician's eye should not have to travel across a whole 4K desk. Sizes are
logical pixels, so at 200 % scaling a 3840x2160 screen counts as 1920x1080. The window never
starts below its own minimum; when even that minimum does not fit, it starts maximized.

Large dialogs (History) follow the same rule with a smaller cap, :data:`DIALOG_MAX_SIZE`: whole on
a 1366x768 laptop, roomier at 1920x1080, never a sea of empty table at 4K.
"""

from __future__ import annotations

from dataclasses import dataclass

#: the share of the available area the window takes per side
SCREEN_FRACTION = 0.92
#: the largest start size (logical px), for very large screens
MAX_START_SIZE = (2560, 1600)
#: the largest start size of a large dialog such as History (logical px)
DIALOG_MAX_SIZE = (1500, 1000)
#: the size used when there is no screen to measure (logical px)
FALLBACK_SIZE = (1280, 800)


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
    fraction: float = SCREEN_FRACTION,
    largest: tuple[int, int] = MAX_START_SIZE,
) -> StartGeometry:
    """The start geometry for a screen whose available area is ``(x, y, width, height)``.

    Size: ``min(largest, fraction * available)`` per side, never below ``minimum``; when the
    minimum does not fit in the available area, the window starts maximized.
    """
    ax, ay, aw, ah = available
    min_w, min_h = minimum
    if min_w > aw or min_h > ah:
        return StartGeometry(maximized=True)
    width = max(min_w, min(largest[0], int(aw * fraction)))
    height = max(min_h, min(largest[1], int(ah * fraction)))
    return StartGeometry(
        maximized=False,
        x=ax + (aw - width) // 2,
        y=ay + (ah - height) // 2,
        width=width,
        height=height,
    )
