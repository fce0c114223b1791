"""The pain rating, 0 (none) to 10 (worst imaginable), asked so that nothing is pre-filled.

A number box starting at 0 records "no pain" for anyone who just presses OK. Here the 11 numbers
are large buttons (usable from the patient chair, or with the keys 0-9), none is chosen until the
user picks one, OK stays disabled until then, and Skip (or Escape) records nothing.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from biofeedback.gui.theme import PALETTE, font

#: The rating's range (numeric rating scale).
PAIN_MIN, PAIN_MAX = 0, 10
#: Side of a number button in pixels (device-independent): a finger-sized target.
BUTTON_PX = 60
#: Type size of the numbers and of the question.
NUMBER_PT, QUESTION_PT = 18, 15


class PainDialog(QDialog):
    """Eleven number buttons, OK (enabled once a number is chosen) and Skip."""

    def __init__(self, parent: QWidget | None, title: str, question: str) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        # the chosen number must stand out (the theme draws checked buttons like the others);
        # neutral ink, not the feedback colours, so no number looks "good" or "bad"
        self.setStyleSheet(
            f"QPushButton:checked {{ background: {PALETTE.text}; color: {PALETTE.panel}; "
            f"border: 2px solid {PALETTE.text}; }}"
        )
        self.question = QLabel(question)
        self.question.setWordWrap(True)
        self.question.setFont(font(QUESTION_PT))
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        numbers = QHBoxLayout()
        for value in range(PAIN_MIN, PAIN_MAX + 1):
            button = QPushButton(str(value))
            button.setCheckable(True)
            button.setAutoDefault(False)
            button.setFont(font(NUMBER_PT, bold=True))
            button.setMinimumSize(BUTTON_PX, BUTTON_PX)
            self.group.addButton(button, value)
            numbers.addWidget(button)
        self.group.idClicked.connect(self._chosen)
        anchors = QHBoxLayout()
        anchors.addWidget(QLabel(f"{PAIN_MIN} = no pain"))
        anchors.addStretch(1)
        anchors.addWidget(QLabel(f"{PAIN_MAX} = worst imaginable"))
        self.ok_button = QPushButton("OK")
        self.ok_button.setEnabled(False)
        self.ok_button.setDefault(True)
        self.ok_button.clicked.connect(self.accept)
        self.skip_button = QPushButton("Skip")
        self.skip_button.setAutoDefault(False)
        self.skip_button.clicked.connect(self.reject)
        for button in (self.ok_button, self.skip_button):
            button.setFont(font(QUESTION_PT))
            button.setMinimumHeight(BUTTON_PX * 3 // 4)
        actions = QHBoxLayout()
        actions.addStretch(1)
        actions.addWidget(self.skip_button)
        actions.addWidget(self.ok_button)
        layout = QVBoxLayout(self)
        layout.setSpacing(14)
        layout.addWidget(self.question)
        layout.addLayout(numbers)
        layout.addLayout(anchors)
        layout.addLayout(actions)

    @property
    def value(self) -> int | None:
        """The chosen number, or None while none is chosen."""
        chosen = self.group.checkedId()
        return None if chosen < PAIN_MIN else chosen

    def choose(self, value: int) -> None:
        """Pick a number (as a click on its button does)."""
        button = self.group.button(value)
        if button is None:
            raise ValueError(f"pain must be {PAIN_MIN}-{PAIN_MAX}, not {value}")
        button.setChecked(True)
        self._chosen(value)

    def _chosen(self, _value: int) -> None:
        self.ok_button.setEnabled(self.value is not None)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """The keys 0-9 pick that number (10 only by its button)."""
        text = event.text()
        if len(text) == 1 and text.isdigit():
            self.choose(int(text))
            return
        super().keyPressEvent(event)


def ask_pain(parent: QWidget | None, title: str, question: str) -> int | None:
    """Ask for a pain rating; the number chosen, or None when skipped (nothing pre-filled)."""
    dialog = PainDialog(parent, title, question)
    dialog.setWindowModality(Qt.WindowModality.ApplicationModal)
    try:
        accepted = dialog.exec() == QDialog.DialogCode.Accepted
        return dialog.value if accepted else None
    finally:
        dialog.deleteLater()
