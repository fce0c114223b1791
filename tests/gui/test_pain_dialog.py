"""The pain prompt: nothing pre-filled, OK only after a choice, Skip records nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialog

from biofeedback.gui.pain_dialog import BUTTON_PX, PAIN_MAX, PAIN_MIN, PainDialog, ask_pain


def open_dialog(qtbot) -> PainDialog:
    dialog = PainDialog(None, "Pain now", "Pain right now?")
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_nothing_is_chosen_and_ok_is_disabled_until_a_number_is_picked(qtbot):
    dialog = open_dialog(qtbot)
    assert dialog.value is None and not dialog.ok_button.isEnabled()
    assert [b.isChecked() for b in dialog.group.buttons()] == [False] * 11
    assert [dialog.group.id(b) for b in dialog.group.buttons()] == list(
        range(PAIN_MIN, PAIN_MAX + 1)
    )
    qtbot.mouseClick(dialog.group.button(0), Qt.MouseButton.LeftButton)
    assert dialog.value == 0 and dialog.ok_button.isEnabled()  # 0 is a real answer, once chosen
    qtbot.mouseClick(dialog.group.button(7), Qt.MouseButton.LeftButton)
    assert dialog.value == 7 and not dialog.group.button(0).isChecked()
    with qtbot.waitSignal(dialog.accepted):
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)


def test_enter_before_a_choice_does_not_answer_and_digit_keys_choose(qtbot):
    dialog = open_dialog(qtbot)
    with qtbot.assertNotEmitted(dialog.accepted):
        qtbot.keyClick(dialog, Qt.Key.Key_Return)
    assert dialog.isVisible() and dialog.value is None
    qtbot.keyClick(dialog, Qt.Key.Key_4)
    assert dialog.value == 4 and dialog.ok_button.isEnabled()
    with pytest.raises(ValueError, match="pain must be 0-10"):
        dialog.choose(11)


def test_the_numbers_are_large_enough_for_the_patient_chair(qtbot):
    dialog = open_dialog(qtbot)
    qtbot.waitExposed(dialog)
    for button in dialog.group.buttons():
        assert button.width() >= BUTTON_PX and button.height() >= BUTTON_PX
    assert dialog.width() <= 1366  # fits the smallest supported screen
    dialog.choose(4)

    def fill(value: int):
        button = dialog.group.button(value)
        return button.grab().toImage().pixelColor(button.width() // 5, button.height() // 5)

    assert fill(4) != fill(5)  # the chosen number stands out


def answer_later(qtbot, act: Callable[[PainDialog], None]) -> list[bool]:
    """Run ``act`` on the modal pain dialog once ``ask_pain`` shows it."""
    done: list[bool] = []

    def try_answer() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, PainDialog):
            QTimer.singleShot(20, try_answer)
            return
        act(dialog)
        done.append(True)

    QTimer.singleShot(0, try_answer)
    return done


def test_ask_pain_returns_the_number_picked(qtbot):
    def pick_six(dialog: PainDialog) -> None:
        assert dialog.windowTitle() == "Pain after" and not dialog.ok_button.isEnabled()
        dialog.group.button(6).click()
        dialog.ok_button.click()

    done = answer_later(qtbot, pick_six)
    assert ask_pain(None, "Pain after", "Pain right now, 0 (none) to 10 (worst)?") == 6
    assert done == [True]


@pytest.mark.parametrize("how", ["skip", "escape"])
def test_skip_or_escape_returns_none(qtbot, how):
    def leave(dialog: PainDialog) -> None:
        dialog.group.button(3).click()  # even after a choice, Skip records nothing
        if how == "skip":
            dialog.skip_button.click()
        else:
            qtbot.keyClick(dialog, Qt.Key.Key_Escape)

    done = answer_later(qtbot, leave)
    assert ask_pain(None, "Pain now", "Pain?") is None
    assert done == [True]


def test_a_closed_dialog_is_rejected(qtbot):
    dialog = open_dialog(qtbot)
    dialog.close()
    assert dialog.result() == QDialog.DialogCode.Rejected
