"""Where the patient view goes on a desk with one, two or three screens (Qt-free rules)."""

from __future__ import annotations

from biofeedback.appmodel.screens import (
    PatientScreenState,
    Placement,
    ScreenInfo,
    choose_patient_screen,
    other_screens,
    patient_screen_still_usable,
    returned_text,
)

LAPTOP = ScreenInfo("eDP-1", (0, 0, 1366, 768), primary=True)
MONITOR = ScreenInfo("HDMI-1", (1366, 0, 1920, 1080))
SMALL = ScreenInfo("DP-2", (-1280, 0, 1280, 1024))


def test_one_screen_patient_view_fills_the_main_window() -> None:
    choice = choose_patient_screen([LAPTOP], "eDP-1")
    assert choice.placement is Placement.MAIN_WINDOW and choice.screen == ""


def test_second_screen_gets_the_patient_view() -> None:
    choice = choose_patient_screen([LAPTOP, MONITOR], "eDP-1")
    assert choice.placement is Placement.OTHER_SCREEN and choice.screen == "HDMI-1"


def test_main_window_on_the_second_screen_sends_the_patient_to_the_first() -> None:
    choice = choose_patient_screen([LAPTOP, MONITOR], "HDMI-1")
    assert choice == choose_patient_screen([MONITOR, LAPTOP], "HDMI-1")
    assert choice.screen == "eDP-1"


def test_option_off_keeps_the_patient_view_in_the_main_window() -> None:
    choice = choose_patient_screen([LAPTOP, MONITOR], "eDP-1", use_other_screen=False)
    assert choice.placement is Placement.MAIN_WINDOW


def test_largest_other_screen_wins_then_primary_then_order() -> None:
    assert choose_patient_screen([LAPTOP, SMALL, MONITOR], "eDP-1").screen == "HDMI-1"
    twin = ScreenInfo("HDMI-2", (3286, 0, 1920, 1080))
    assert choose_patient_screen([SMALL, MONITOR, twin], "DP-2").screen == "HDMI-1"
    primary_twin = ScreenInfo("HDMI-2", (3286, 0, 1920, 1080), primary=True)
    assert choose_patient_screen([SMALL, MONITOR, primary_twin], "DP-2").screen == "HDMI-2"


def test_a_screen_of_no_size_is_not_used() -> None:
    ghost = ScreenInfo("VIRTUAL-1", (0, 0, 0, 0))
    assert other_screens([LAPTOP, ghost], "eDP-1") == []
    assert choose_patient_screen([LAPTOP, ghost], "eDP-1").placement is Placement.MAIN_WINDOW


def test_still_usable_only_while_connected_and_not_under_the_main_window() -> None:
    assert patient_screen_still_usable("HDMI-1", [LAPTOP, MONITOR], "eDP-1")
    assert not patient_screen_still_usable("HDMI-1", [LAPTOP], "eDP-1")
    assert not patient_screen_still_usable("HDMI-1", [LAPTOP, MONITOR], "HDMI-1")


def test_state_screen_removed_during_a_session_brings_the_view_back() -> None:
    state = PatientScreenState()
    assert state.show_patient([LAPTOP, MONITOR], "eDP-1").screen == "HDMI-1"
    assert state.on_other_screen
    # an unrelated change (a third screen added) moves nothing
    assert state.screens_changed([LAPTOP, MONITOR, SMALL], "eDP-1") == ""
    assert state.screen == "HDMI-1"
    assert state.screens_changed([LAPTOP, SMALL], "eDP-1") == "HDMI-1"
    assert not state.on_other_screen
    assert returned_text("HDMI-1") == (
        "The patient screen (HDMI-1) is gone: the patient view is back in this window"
        " (F11 shows it)."
    )


def test_state_main_window_dragged_onto_the_patient_screen() -> None:
    state = PatientScreenState()
    state.show_patient([LAPTOP, MONITOR], "eDP-1")
    assert state.screens_changed([LAPTOP, MONITOR], "HDMI-1") == "HDMI-1"
    assert returned_text("HDMI-1", still_connected=True).startswith(
        "This window is on the patient screen (HDMI-1) now: the patient view is back"
    )


def test_state_screen_added_during_a_session_moves_nothing_until_asked() -> None:
    state = PatientScreenState()
    assert state.show_patient([LAPTOP], "eDP-1").placement is Placement.MAIN_WINDOW
    assert state.screens_changed([LAPTOP, MONITOR], "eDP-1") == ""
    assert not state.on_other_screen
    assert state.show_patient([LAPTOP, MONITOR], "eDP-1").screen == "HDMI-1"


def test_state_back_and_option_off() -> None:
    state = PatientScreenState()
    state.show_patient([LAPTOP, MONITOR], "eDP-1")
    assert state.back() == "HDMI-1" and state.back() == ""
    state.use_other_screen = False
    assert state.show_patient([LAPTOP, MONITOR], "eDP-1").placement is Placement.MAIN_WINDOW
    assert not state.on_other_screen
