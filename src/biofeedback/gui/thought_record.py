"""The thought-record and reflection forms of the patient view: one question per screen.

A thought record asks seven things in turn (situation, automatic thought, belief 0-100 %,
evidence for, evidence against, balanced thought, belief after: ``steps.THOUGHT_RECORD_FIELDS``);
a reflection asks one question. Each screen has one large field; Next / Back / Skip buttons, and
the keyboard: Ctrl+Enter (or Enter in a percent field) goes on, Alt+Left goes back. The last
screen's button saves. Answers are private to the patient (docs/protocols.md).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from biofeedback.gui.education_page import MAX_TEXT_WIDTH, step_button_style
from biofeedback.gui.theme import PALETTE, font
from biofeedback.training import steps

FIELD_TEXT_PT = 17


class _TextEdit(QPlainTextEdit):
    """A free-text answer; Ctrl+Enter asks for the next screen (``submitted``)."""

    submitted = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and (
            event.modifiers() & Qt.KeyboardModifier.ControlModifier
        ):
            self.submitted.emit()
            return
        super().keyPressEvent(event)


class _PercentInput(QWidget):
    """0-100 % as a slider and a number box kept in step; empty until touched."""

    submitted = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.touched = False
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 100)
        self.slider.setValue(50)
        self.box = QSpinBox()
        self.box.setRange(0, 100)
        self.box.setSuffix(" %")
        self.box.setValue(50)
        self.box.setFont(font(FIELD_TEXT_PT))
        self.slider.valueChanged.connect(self._from_slider)
        self.box.valueChanged.connect(self._from_box)
        self.box.lineEdit().returnPressed.connect(self.submitted.emit)
        row = QHBoxLayout(self)
        row.addWidget(QLabel("0 %"))
        row.addWidget(self.slider, 1)
        row.addWidget(QLabel("100 %"))
        row.addSpacing(16)
        row.addWidget(self.box)

    def _from_slider(self, value: int) -> None:
        self.touched = True
        self.box.setValue(value)

    def _from_box(self, value: int) -> None:
        self.touched = True
        self.slider.setValue(value)

    def value(self) -> float | None:
        """The percent, or None while the patient has not set one."""
        return float(self.box.value()) if self.touched else None

    def setFocus(self) -> None:  # type: ignore[override]  # focus the number box, no reason arg
        self.box.setFocus()
        self.box.selectAll()


class StepFormWidget(QWidget):
    """One form (thought record or reflection): ``saved(answers)`` or ``skipped()``."""

    saved = Signal(object)
    skipped = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.fields: tuple[steps.Field, ...] = ()
        self.inputs: list[_TextEdit | _PercentInput] = []
        self.intro = QLabel()
        self.intro.setWordWrap(True)
        self.intro.setFont(font(15))
        self.intro.setStyleSheet(f"color: {PALETTE.room_text_muted};")
        self.progress = QLabel()
        self.progress.setFont(font(12))
        self.progress.setStyleSheet(f"color: {PALETTE.room_text_muted};")
        self.pages = QStackedWidget()
        self.pages.setMaximumWidth(MAX_TEXT_WIDTH)
        self.back_button = QPushButton("Back")
        self.skip_button = QPushButton("Skip")
        self.next_button = QPushButton("Next")
        for button in (self.back_button, self.skip_button):
            button.setObjectName("secondary")
        for button in (self.back_button, self.skip_button, self.next_button):
            button.setFont(font(16, bold=button is self.next_button))
            button.setStyleSheet(step_button_style())
        self.back_button.clicked.connect(self.back)
        self.skip_button.clicked.connect(self.skipped.emit)
        self.next_button.clicked.connect(self.next)
        QShortcut(QKeySequence("Alt+Left"), self, self.back)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.skip_button)
        buttons.addWidget(self.back_button)
        buttons.addWidget(self.progress)
        buttons.addWidget(self.next_button)
        buttons.addStretch(1)
        column = QVBoxLayout()
        column.addWidget(self.intro)
        column.addSpacing(12)
        column.addWidget(self.pages, 1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addLayout(column, 6)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(row, 1)
        layout.addLayout(buttons)

    def show_form(self, kind: str, intro: str, prompt: str = "") -> None:
        """Start a new form for a ``thought-record`` or ``reflection`` phase."""
        while self.pages.count():
            page = self.pages.widget(0)
            if page is None:  # pragma: no cover - count() said there is one
                break
            self.pages.removeWidget(page)
            page.deleteLater()
        self.fields = steps.fields_for(kind, prompt)
        self.inputs = []
        self.intro.setText(intro)
        self.intro.setVisible(bool(intro))
        for f in self.fields:
            self.pages.addWidget(self._page(f))
        self._go(0)

    def _page(self, f: steps.Field) -> QWidget:
        page = QWidget()
        label = QLabel(f.label)
        label.setWordWrap(True)
        label.setFont(font(22, bold=True))
        help_label = QLabel(f.help)
        help_label.setWordWrap(True)
        help_label.setFont(font(14))
        help_label.setStyleSheet(f"color: {PALETTE.room_text_muted};")
        entry: _TextEdit | _PercentInput
        if f.kind == "percent":
            entry = _PercentInput()
        else:
            entry = _TextEdit()
            entry.setFont(font(FIELD_TEXT_PT))
            entry.setStyleSheet(
                f"QPlainTextEdit {{ background: #26323D; color: {PALETTE.room_text};"
                " border-radius: 8px; padding: 8px; }"
            )
        entry.submitted.connect(self.next)
        self.inputs.append(entry)
        layout = QVBoxLayout(page)
        layout.addWidget(label)
        layout.addWidget(help_label)
        layout.addWidget(entry, 1 if f.kind != "percent" else 0)
        if f.kind == "percent":
            layout.addStretch(1)
        return page

    @property
    def index(self) -> int:
        """The question on screen (0-based)."""
        return self.pages.currentIndex()

    def _go(self, index: int) -> None:
        self.pages.setCurrentIndex(index)
        last = index == len(self.fields) - 1
        self.next_button.setText("Save" if last else "Next")
        self.back_button.setEnabled(index > 0)
        many = len(self.fields) > 1
        self.progress.setText(f"{index + 1} of {len(self.fields)}" if many else "")
        self.inputs[index].setFocus()

    def next(self) -> None:
        """Next question, or save after the last one."""
        if self.index < len(self.fields) - 1:
            self._go(self.index + 1)
        else:
            self.saved.emit(self.answers())

    def back(self) -> None:
        """The previous question (answers are kept)."""
        if self.index > 0:
            self._go(self.index - 1)

    def answers(self) -> dict[str, Any]:
        """The answers so far, by field key."""
        out: dict[str, Any] = {}
        for f, entry in zip(self.fields, self.inputs, strict=True):
            if isinstance(entry, _PercentInput):
                out[f.key] = entry.value()
            else:
                out[f.key] = entry.toPlainText().strip()
        return out
