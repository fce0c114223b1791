"""Where the patient view goes when the desk has more than one screen (Qt-free).

Clinic desks often have two monitors: the clinician works on one and the patient looks at the
other. The rules, tested without a display:

- **Showing the patient view.** With the second-screen option on and another screen connected
  (any screen other than the one the main window is on), the patient view fills that screen and
  the main window stays the clinician's. With several other screens, the largest one is used
  (ties: the primary screen, then the first in the system's order). Otherwise the patient view
  fills the main window's own screen, as on a laptop.
- **A screen removed during a session.** When the screen showing the patient view goes away, or
  the main window is moved onto it, the patient view goes back into the main window, which stays
  on the clinician view; the patient view's state (instruction, questionnaire answers, the form
  being filled in) is kept because it is the same view, only moved.
- **A screen added during a session.** Nothing moves by itself; the next time the patient view
  is asked for, the new screen is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True)
class ScreenInfo:
    """One connected screen: its system name, geometry ``(x, y, width, height)`` in the virtual
    desktop's coordinates, and whether it is the primary screen."""

    name: str
    geometry: tuple[int, int, int, int]
    primary: bool = False

    @property
    def area(self) -> int:
        """Width times height in pixels."""
        return max(0, self.geometry[2]) * max(0, self.geometry[3])


class Placement(Enum):
    """Where the patient view is shown."""

    #: full screen in the main window (one screen, or the option is off)
    MAIN_WINDOW = "main window"
    #: full screen in its own window on another screen; the main window stays the clinician's
    OTHER_SCREEN = "other screen"


@dataclass(frozen=True)
class PatientScreenChoice:
    """The outcome of :func:`choose_patient_screen`: the placement and, for
    :attr:`Placement.OTHER_SCREEN`, the screen's name."""

    placement: Placement
    screen: str = ""


def other_screens(screens: list[ScreenInfo], window_screen: str) -> list[ScreenInfo]:
    """The connected screens the main window is not on."""
    return [s for s in screens if s.name != window_screen and s.area > 0]


def choose_patient_screen(
    screens: list[ScreenInfo], window_screen: str, *, use_other_screen: bool = True
) -> PatientScreenChoice:
    """Where the patient view goes when it is asked for (rules in the module docstring)."""
    candidates = other_screens(screens, window_screen) if use_other_screen else []
    if not candidates:
        return PatientScreenChoice(Placement.MAIN_WINDOW)
    order = {s.name: i for i, s in enumerate(candidates)}
    best = max(candidates, key=lambda s: (s.area, s.primary, -order[s.name]))
    return PatientScreenChoice(Placement.OTHER_SCREEN, best.name)


def patient_screen_still_usable(
    patient_screen: str, screens: list[ScreenInfo], window_screen: str
) -> bool:
    """Whether the patient view may stay on ``patient_screen`` after the screens changed: the
    screen is still connected and the main window is not on it."""
    return any(s.name == patient_screen for s in other_screens(screens, window_screen))


def returned_text(screen: str, still_connected: bool = False) -> str:
    """What the clinician is told when the patient view came back from ``screen``: it was
    unplugged, or (``still_connected``) the main window was moved onto it."""
    why = (
        f"This window is on the patient screen ({screen}) now"
        if still_connected
        else f"The patient screen ({screen}) is gone"
    )
    return f"{why}: the patient view is back in this window (F11 shows it)."


class PatientScreenState:
    """Where the patient view is now, driven by the window's commands and the system's screen
    changes; the Qt controller (``gui/patient_window.py``) moves the widget as this says."""

    def __init__(self, use_other_screen: bool = True) -> None:
        self.use_other_screen = use_other_screen
        #: name of the other screen showing the patient view; "" while it is in the main window
        self.screen = ""

    @property
    def on_other_screen(self) -> bool:
        """Whether the patient view is in its own window on another screen."""
        return self.screen != ""

    def show_patient(self, screens: list[ScreenInfo], window_screen: str) -> PatientScreenChoice:
        """The patient view is asked for: where it goes (and remember it)."""
        choice = choose_patient_screen(
            screens, window_screen, use_other_screen=self.use_other_screen
        )
        self.screen = choice.screen
        return choice

    def back(self) -> str:
        """The patient view goes back into the main window (Esc, the clinician view, the option
        switched off); returns the screen it came from ("" when it was not on another)."""
        screen, self.screen = self.screen, ""
        return screen

    def screens_changed(self, screens: list[ScreenInfo], window_screen: str) -> str:
        """A screen was added or removed, or the main window moved: returns the screen the
        patient view must come back from, or "" when nothing moves."""
        if self.on_other_screen and not patient_screen_still_usable(
            self.screen, screens, window_screen
        ):
            return self.back()
        return ""
