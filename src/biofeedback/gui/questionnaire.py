"""Outcome questionnaires in the window: one large item per screen, keyboard and mouse.

:class:`QuestionnaireWidget` asks one instrument with :class:`biofeedback.outcomes.Questionnaire`
(the same sitting the terminal prompt of ``biofeedback outcomes record`` drives). It is a page of
the patient view (due questionnaires around a session, :class:`DueQuestionnaires`) and, in
:class:`QuestionnaireDialog` / :func:`ask_questionnaire`, a modal dialog for the clinician.

Keys, the same on every screen (the muted line under the answer says the ones that apply):

- a scale of up to ``MAX_SCALE_BUTTONS`` points (pain 0-10): one big button per number; the digits
  0-9 choose that number, Left / Right move one step, Home / End choose the ends (10 is End, or
  Right from 9); a click chooses too. Nothing is kept until Enter or Next.
- choices (global impression of change): one big button per choice; Up / Down move, the digits
  1-9 choose by position, a click chooses.
- text (an activity's name) and wider scales: typed in a line; Enter goes on.
- Enter or Next: keep the answer and go on; Backspace (when not typing) or Alt+Left: back.

Skip is offered only where the instrument's own rules allow a missing item (:func:`can_skip`):
no score that could still be computed becomes impossible by leaving the item out. Leaving a whole
questionnaire is always possible ("Not now" in the patient view, Cancel in the dialog).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QSize, Qt, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QResizeEvent, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from biofeedback.core.tomlfile import fmt_number
from biofeedback.errors import AnswerError, BiofeedbackError
from biofeedback.gui.education_page import MAX_TEXT_WIDTH, step_button_style
from biofeedback.gui.theme import PALETTE, font

if TYPE_CHECKING:  # the instruments and the store load when a questionnaire is due or asked
    from biofeedback.gui.patient_view import PatientViewWidget
    from biofeedback.outcomes.asking import Questionnaire
    from biofeedback.outcomes.instrument import Instrument, Item
    from biofeedback.outcomes.scoring import Answer, ScoreResult
    from biofeedback.training.outcome_schedule import DueOutcome

#: A numeric scale with at most this many points is a row of buttons; a wider one is typed.
MAX_SCALE_BUTTONS = 11
#: Type sizes (points) of the item text, the answers and the muted lines around them.
ITEM_TEXT_PT = 22
ANSWER_PT = 18
MUTED_PT = 14
#: Side of one number button and height of one choice button (pixels): easy to hit, and seven
#: choices still fit a 1366 x 768 screen.
SCALE_BUTTON_PX = 64
CHOICE_BUTTON_PX = 40
#: The instrument and item (``pain-nrs``'s ``now``) whose answer is also the session's pain rating.
PAIN_NOW = ("pain-nrs", "now")
#: Where a patient's questionnaires are asked: the patient view's moments and their lead-in.
LEAD_IN = {"session-start": "Before we start", "session-end": "Before you go"}

log = logging.getLogger(__name__)


def _answer_style() -> str:
    """The big answer buttons: quiet until chosen, then the calm teal."""
    return (
        f"QPushButton {{ background: #26323D; color: {PALETTE.room_text};"
        f" border: 1px solid {PALETTE.room_text_muted}; border-radius: 10px; padding: 8px 16px; }}"
        f" QPushButton:checked {{ background: {PALETTE.orb_calm}; color: {PALETTE.room};"
        f" border: 3px solid {PALETTE.room_text}; }}"
        f" QPushButton:hover {{ border-color: {PALETTE.room_text}; }}"
    )


def _muted(text: str = "", size: float = MUTED_PT) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setFont(font(size))
    label.setStyleSheet(f"color: {PALETTE.room_text_muted}; background: transparent;")
    return label


def can_skip(sitting: Questionnaire) -> bool:
    """Whether the item on screen may be left unanswered: leaving it out makes no score that
    could still be computed impossible (each score's ``min_answered`` / ``max_missing``).

    Items not reached yet count as answerable, and text items not reached yet as filled in (an
    activity still to be named will ask its rating).
    """
    from biofeedback.outcomes.instrument import Response
    from biofeedback.outcomes.scoring import questions

    screen = sitting.screen()
    if screen is None:
        return False
    instrument = sitting.instrument
    order = {item.id: n for n, item in enumerate(instrument.items)}
    here = order[screen.item.id]
    later_text = {
        item.id: "?"
        for item in instrument.items[here + 1 :]
        if item.response == Response.TEXT and item.id not in sitting.answers
    }
    base: dict[str, Answer] = {**sitting.answers, **later_text}

    def possible(answers: dict[str, Answer]) -> list[bool]:
        asked = {item.id for item in questions(instrument, answers)}
        out = []
        for score in instrument.scores:
            members = [i for i in score.items if i in asked]
            lost = sum(1 for i in members if order[i] <= here and answers.get(i) is None)
            out.append(len(members) - lost >= score.min_answered and lost <= score.max_missing)
        return out

    kept = possible({**base, screen.item.id: "?"})
    left_out = possible({**base, screen.item.id: None})
    return all(after or not before for before, after in zip(kept, left_out, strict=True))


class _Choices(QWidget):
    """A numeric scale as a row of number buttons, or labelled choices as a column of buttons."""

    def __init__(self, item: Item, answer: Answer) -> None:
        from biofeedback.outcomes.instrument import Response

        super().__init__()
        self.item = item
        self.column = item.response == Response.CHOICE
        if self.column:
            pairs = [(c.value, c.label) for c in item.choices]
        else:
            lo, hi = item.value_range()
            count = round((hi - lo) / item.step) + 1
            pairs = [(lo + k * item.step, fmt_number(lo + k * item.step)) for k in range(count)]
        self.values = [value for value, _ in pairs]
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        self.buttons: list[QPushButton] = []
        for value, label in pairs:
            button = QPushButton(label)
            button.setCheckable(True)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the keys go to the questionnaire
            button.setFont(font(ANSWER_PT, bold=not self.column))
            button.setStyleSheet(_answer_style())
            button.setAccessibleName(item.label_of(value) or label)
            if not self.column:
                button.setFixedSize(SCALE_BUTTON_PX, SCALE_BUTTON_PX)
            self.group.addButton(button, len(self.buttons))
            self.buttons.append(button)
        self._lay_out()
        if answer is not None and answer in self.values:
            self.choose(self.values.index(float(answer)))

    def _lay_out(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        if self.column:
            layout.setSpacing(4)
            for button in self.buttons:
                button.setMinimumHeight(CHOICE_BUTTON_PX)
                layout.addWidget(button)
            return
        row = QHBoxLayout()
        row.setSpacing(10)
        for button in self.buttons:
            row.addWidget(button)
        row.addStretch(1)
        layout.addLayout(row)
        ends = QHBoxLayout()
        lo, hi = self.values[0], self.values[-1]
        ends.addWidget(_muted(self.item.label_of(lo), 15))
        middle = [label for v, label in self.item.anchors if v not in (lo, hi)]
        centre = _muted(", ".join(middle), 15)
        centre.setAlignment(Qt.AlignmentFlag.AlignCenter)
        ends.addWidget(centre, 1)
        right = _muted(self.item.label_of(hi), 15)
        right.setAlignment(Qt.AlignmentFlag.AlignRight)
        ends.addWidget(right)
        holder = QWidget()  # the labels span exactly the width of the buttons
        holder.setLayout(ends)
        ends.setContentsMargins(0, 0, 0, 0)
        width = len(self.buttons) * SCALE_BUTTON_PX + (len(self.buttons) - 1) * row.spacing()
        holder.setFixedWidth(width)
        layout.addWidget(holder)

    @property
    def index(self) -> int | None:
        chosen = self.group.checkedId()
        return None if chosen < 0 else chosen

    def choose(self, index: int) -> None:
        index = min(max(index, 0), len(self.buttons) - 1)
        self.buttons[index].setChecked(True)

    def value(self) -> float | None:
        return None if self.index is None else self.values[self.index]

    def hint(self) -> str:
        if self.column:
            return "Use the arrow keys or click, then press Enter."
        return "Type a number or use the arrow keys, or click; then press Enter."

    def handle_key(self, event: QKeyEvent) -> bool:
        """Digits, arrows, Home and End choose; False for other keys."""
        key, current = event.key(), self.index
        step = {
            int(Qt.Key.Key_Down if self.column else Qt.Key.Key_Right): 1,
            int(Qt.Key.Key_Up if self.column else Qt.Key.Key_Left): -1,
        }.get(int(key))
        if step is not None:
            self.choose(0 if current is None else current + step)
        elif key == Qt.Key.Key_Home:
            self.choose(0)
        elif key == Qt.Key.Key_End:
            self.choose(len(self.buttons) - 1)
        elif event.text().isdigit() and len(event.text()) == 1:
            self._digit(int(event.text()))
        else:
            return False
        return True

    def _digit(self, digit: int) -> None:
        if self.column:  # the n-th choice
            if 1 <= digit <= len(self.buttons):
                self.choose(digit - 1)
        elif float(digit) in self.values:
            self.choose(self.values.index(float(digit)))


class _Line(QLineEdit):
    """A typed answer: text, or a number on a scale too wide for buttons."""

    def __init__(self, item: Item, answer: Answer) -> None:
        super().__init__()
        self.item = item
        self.setFont(font(ANSWER_PT))
        self.setMaxLength(200)
        self.setMinimumHeight(52)
        self.setStyleSheet(
            f"QLineEdit {{ background: #26323D; color: {PALETTE.room_text};"
            f" border: 1px solid {PALETTE.room_text_muted}; border-radius: 8px; padding: 6px 10px; }}"
            f" QLineEdit:focus {{ border: 2px solid {PALETTE.room_text}; }}"
        )
        if answer is not None:
            self.setText(answer if isinstance(answer, str) else fmt_number(answer))

    def value(self) -> str | None:
        return self.text().strip() or None

    def hint(self) -> str:
        from biofeedback.outcomes.instrument import Response

        if self.item.response == Response.TEXT:
            return "Type your answer, then press Enter."
        lo, hi = self.item.value_range()
        return f"Type a number from {fmt_number(lo)} to {fmt_number(hi)}, then press Enter."

    def handle_key(self, event: QKeyEvent) -> bool:
        return False


class _FittedScroll(QScrollArea):
    """A quiet scroll area as tall as its page needs at its width (the buttons under it stay
    close to the answers on a tall screen); on a small screen it shrinks and the page scrolls
    instead of squeezing the answers."""

    def __init__(self, page: QWidget) -> None:
        super().__init__()
        self.setWidget(page)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setStyleSheet(
            "QScrollArea, QWidget#questionPage { background: transparent; border: none; }"
            " QScrollBar:vertical { background: transparent; width: 10px; margin: 0; }"
            f" QScrollBar::handle:vertical {{ background: {PALETTE.room_text_muted};"
            " border-radius: 5px; min-height: 40px; }"
            " QScrollBar::add-line:vertical, QScrollBar::sub-line:vertical { height: 0; }"
        )
        self.viewport().setAutoFillBackground(False)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self._width = -1

    def sizeHint(self) -> QSize:
        page = self.widget()
        hint = super().sizeHint()
        if page is None:
            return hint
        height = page.heightForWidth(self.width()) if page.hasHeightForWidth() else -1
        return QSize(hint.width(), height if height > 0 else page.sizeHint().height())

    def minimumSizeHint(self) -> QSize:
        return QSize(super().minimumSizeHint().width(), 120)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if event.size().width() != self._width:  # wrapped text: the height it needs changed
            self._width = event.size().width()
            self.updateGeometry()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        event.ignore()  # the questionnaire's keys (Alt+Left from a typed answer) pass on up

    def refit(self) -> None:
        """The page changed (another item): ask the layout for the height it needs now."""
        self.updateGeometry()


class QuestionnaireWidget(QWidget):
    """One instrument, one item per screen: ``finished(answers, scores)`` (the checked answers of
    every item, None when not answered, and the :class:`ScoreResult` list) or ``cancelled()``."""

    finished = Signal(object, object)
    cancelled = Signal()

    def __init__(self, parent: QWidget | None = None, cancel_text: str = "Not now") -> None:
        super().__init__(parent)
        self.setObjectName("questionnaire")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(
            f"QWidget#questionnaire {{ background: {PALETTE.room}; }}"
            f" QLabel {{ color: {PALETTE.room_text}; background: transparent; }}"
        )
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.sitting: Questionnaire | None = None
        self.entry: _Choices | _Line | None = None
        self.instructions = _muted()
        self.item_text = QLabel()
        self.item_text.setWordWrap(True)
        self.item_text.setFont(font(ITEM_TEXT_PT, bold=True))
        self.item_help = _muted()
        self.answer_box = QVBoxLayout()
        self.key_hint = _muted(size=12)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setFont(font(15))
        self.message.setStyleSheet(f"color: {PALETTE.pacer}; background: transparent;")
        self.message.setVisible(False)
        self.progress = _muted(size=13)
        self.cancel_button = self._button(cancel_text, secondary=True)
        self.back_button = self._button("Back", secondary=True)
        self.skip_button = self._button("Skip", secondary=True)
        self.next_button = self._button("Next", secondary=False)
        self.cancel_button.clicked.connect(self.cancel)
        self.back_button.clicked.connect(self.back)
        self.skip_button.clicked.connect(self.skip)
        self.next_button.clicked.connect(self.next)
        shortcut = QShortcut(QKeySequence("Alt+Left"), self, self.back)
        shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self._lay_out()

    def _button(self, text: str, secondary: bool) -> QPushButton:
        button = QPushButton(text)
        if secondary:
            button.setObjectName("secondary")
        button.setFont(font(16, bold=not secondary))
        button.setStyleSheet(
            step_button_style()
            + " QPushButton#secondary:disabled { color: #4A5663; border: 1px solid #3A4652; }"
        )
        button.setFocusPolicy(Qt.FocusPolicy.TabFocus)  # a click leaves the keys with the items
        button.setAutoDefault(True)  # Enter on a button reached with Tab presses that button
        return button

    def _lay_out(self) -> None:
        buttons = QHBoxLayout()
        buttons.setSpacing(12)
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addSpacing(24)
        buttons.addWidget(self.back_button)
        buttons.addWidget(self.skip_button)
        buttons.addWidget(self.progress)
        buttons.addWidget(self.next_button)
        buttons.addStretch(1)
        column = QVBoxLayout()
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(8)
        column.addWidget(self.instructions)
        column.addSpacing(8)
        column.addWidget(self.item_text)
        column.addWidget(self.item_help)
        column.addSpacing(6)
        column.addLayout(self.answer_box)
        column.addWidget(self.key_hint)
        column.addWidget(self.message)
        holder = QWidget()
        holder.setLayout(column)
        holder.setMaximumWidth(MAX_TEXT_WIDTH)
        page = QWidget()
        page.setObjectName("questionPage")
        row = QHBoxLayout(page)
        row.setContentsMargins(0, 0, 0, 0)
        row.addStretch(1)
        row.addWidget(holder, 6)
        row.addStretch(1)
        self.scroller = _FittedScroll(page)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.scroller)
        layout.addSpacing(14)
        layout.addLayout(buttons)  # close under the answers, also on a tall screen
        layout.addStretch(1)

    # -- asking ----------------------------------------------------------------------------------
    def start(self, instrument: Instrument) -> None:
        """Ask ``instrument`` from its first item."""
        from biofeedback.outcomes.asking import Questionnaire

        self.sitting = Questionnaire(instrument)
        self.instructions.setText(instrument.instructions)
        self.instructions.setVisible(bool(instrument.instructions))
        self._show()

    @property
    def instrument(self) -> Instrument | None:
        return self.sitting.instrument if self.sitting is not None else None

    @property
    def item_id(self) -> str | None:
        """The id of the item on screen (None when nothing is being asked)."""
        screen = self.sitting.screen() if self.sitting is not None else None
        return screen.item.id if screen is not None else None

    def _show(self) -> None:
        sitting = self.sitting
        screen = sitting.screen() if sitting is not None else None
        if sitting is None or screen is None:
            if sitting is not None:
                self.sitting = None  # a second Enter after the last item asks nothing more
                answers, scores = sitting.result()
                self.finished.emit(answers, scores)
            return
        self.item_text.setText(screen.text)
        self.item_help.setText(screen.item.help)
        self.item_help.setVisible(bool(screen.item.help))
        self._replace_entry(screen.item, screen.answer)
        self._say("")
        last = screen.position == screen.total
        self.next_button.setText("Done" if last else "Next")
        self.back_button.setEnabled(screen.position > 1)
        self.skip_button.setVisible(can_skip(sitting))
        many = screen.total > 1
        self.progress.setText(f"Question {screen.position} of {screen.total}" if many else "")

    def _replace_entry(self, item: Item, answer: Answer) -> None:
        from biofeedback.outcomes.instrument import Response

        if self.entry is not None:
            self.answer_box.removeWidget(self.entry)
            self.entry.deleteLater()
        typed = item.response == Response.TEXT or (
            round((item.maximum - item.minimum) / item.step) + 1 > MAX_SCALE_BUTTONS
            and item.response == Response.NUMERIC
        )
        self.entry = _Line(item, answer) if typed else _Choices(item, answer)
        self.answer_box.addWidget(self.entry)
        self.scroller.refit()
        if self.isVisible():
            self.entry.show()  # shown now, so that it can take the focus
        self.key_hint.setText(self.entry.hint())
        if isinstance(
            self.entry, _Line
        ):  # its Enter reaches keyPressEvent (QLineEdit passes it on)
            self.entry.setFocus()
        else:
            self.setFocus()

    def next(self) -> None:
        """Keep the answer on screen and go on (or finish after the last item)."""
        sitting, entry = self.sitting, self.entry
        if sitting is None or entry is None:
            return
        value = entry.value()
        if value is None:
            if not can_skip(sitting):
                self._say(self._needed(entry))
                return
            sitting.skip()
        else:
            try:
                sitting.answer(value)
            except AnswerError as exc:
                self._say(_for_patient(str(exc)))
                return
        self._show()

    def _say(self, text: str) -> None:
        """A calm note in place of the key hint ("" shows the hint again)."""
        self.message.setText(text)
        self.message.setVisible(bool(text))
        self.key_hint.setVisible(not text)

    @staticmethod
    def _needed(entry: _Choices | _Line) -> str:
        if isinstance(entry, _Line):
            return "Please write an answer first."
        return "Please choose an answer first." if entry.column else "Please choose a number first."

    def skip(self) -> None:
        """Leave the item unanswered (only offered where the instrument allows it)."""
        if self.sitting is not None and can_skip(self.sitting):
            self.sitting.skip()
            self._show()

    def back(self) -> None:
        """The previous item, its answer kept until changed."""
        screen = self.sitting.screen() if self.sitting is not None else None
        if self.sitting is not None and screen is not None and screen.position > 1:
            self.sitting.back()
            self._show()

    def cancel(self) -> None:
        """Leave this questionnaire; nothing of it is kept."""
        if self.sitting is not None:
            self.sitting = None
            self.cancelled.emit()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.next()
        elif event.key() == Qt.Key.Key_Backspace or (
            event.key() == Qt.Key.Key_Left and event.modifiers() & Qt.KeyboardModifier.AltModifier
        ):  # Alt+Left is a shortcut too: this is the path when the window is not active
            self.back()
        elif self.entry is None or not self.entry.handle_key(event):
            super().keyPressEvent(event)


def _for_patient(message: str) -> str:
    """An answer error without the item id it starts with ("now: 11 is outside ...")."""
    _, sep, rest = message.partition(": ")
    return (rest[:1].upper() + rest[1:]) if sep else message


class QuestionnaireDialog(QDialog):
    """The questionnaire as a modal dialog (the clinician asks it); Cancel or Esc leaves."""

    def __init__(self, instrument: Instrument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(instrument.name)
        self.outcome: tuple[dict[str, Answer], list[ScoreResult]] | None = None
        self.widget = QuestionnaireWidget(self, cancel_text="Cancel")
        self.widget.finished.connect(self._finished)
        self.widget.cancelled.connect(self.reject)
        title = QLabel(instrument.name)
        title.setFont(font(16, bold=True))
        title.setStyleSheet(f"color: {PALETTE.room_text_muted}; background: transparent;")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(32, 24, 32, 16)
        layout.setSpacing(16)
        layout.addWidget(title)
        layout.addWidget(self.widget, 1)
        self.setStyleSheet(f"QDialog {{ background: {PALETTE.room}; }}")
        self.resize(1000, 640)
        self.widget.start(instrument)

    def _finished(self, answers: dict[str, Answer], scores: list[ScoreResult]) -> None:
        self.outcome = (answers, scores)
        self.accept()


def ask_questionnaire(
    parent: QWidget | None, instrument: Instrument
) -> tuple[dict[str, Answer], list[ScoreResult]] | None:
    """Ask ``instrument`` in a modal dialog: (answers, scores), or None when cancelled."""
    dialog = QuestionnaireDialog(instrument, parent)
    try:
        return dialog.outcome if dialog.exec() == QDialog.DialogCode.Accepted else None
    finally:
        dialog.deleteLater()


# -- due questionnaires around a session ---------------------------------------------------------


def find_due(
    db_path: str | None, subject: str, moment: str, session_id: int | None = None
) -> list[DueOutcome]:
    """The questionnaires the subject's course asks now (``session-start`` / ``session-end``, of
    the stored session ``session_id``); none for no subject, an unknown one or a store that
    cannot say (logged)."""
    from biofeedback.storage.courses import due_outcomes
    from biofeedback.storage.database import Database

    if not subject:
        return []
    try:
        with Database(db_path) as db:
            if db.get_subject(subject) is None:
                return []
            return due_outcomes(db, subject, moment, session_id=session_id)
    except BiofeedbackError as exc:
        log.warning("questionnaires due for %s not known: %s", subject, exc)
        return []


def practice_text(db_path: str | None, subject: str, today: dt.date | None = None) -> str:
    """The patient view's one calm line, "Home practice: 3 of 5 this week", for a subject with
    an open course whose prescription asks for home sessions today; else ""."""
    from biofeedback.storage.courses import adherence, open_course
    from biofeedback.storage.database import Database

    if not subject:
        return ""
    day = today or dt.date.today()
    try:
        with Database(db_path) as db:
            course = open_course(db, subject)
            rx = course.prescription_on(day) if course is not None else None
            if course is None or rx is None or rx.sessions_per_week <= 0:
                return ""
            return f"Home practice: {adherence(db, course, day).this_week_text()}"
    except BiofeedbackError as exc:
        log.warning("home practice of %s not shown: %s", subject, exc)
        return ""


def intro_text(moment: str, done: int, total: int) -> str:
    """The calm line above a due questionnaire: "Before we start: 2 short questionnaires (1 of 2)"."""
    lead = LEAD_IN.get(moment, "A moment")
    if total == 1:
        return f"{lead}: one short questionnaire"
    return f"{lead}: {total} short questionnaires ({done + 1} of {total})"


class DueQuestionnaires(QObject):
    """Asks due questionnaires one after another in the patient view and stores each one as soon
    as it is answered (``record_answers``, linked to ``session_id`` when given), so closing the
    window part-way loses nothing already answered. "Not now" leaves one out.

    ``done()`` when the last one was answered or left out; ``failed(text)`` for one that could
    not be read or stored (the others are still asked). ``answers`` holds what was stored, by
    instrument id.
    """

    done = Signal()
    failed = Signal(str)

    def __init__(
        self,
        view: PatientViewWidget,
        due: list[DueOutcome],
        *,
        subject: str,
        moment: str,
        session_id: int | None = None,
        db_path: str | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.view = view
        self.due = list(due)
        self.subject, self.moment = subject, moment
        self.session_id, self.db_path = session_id, db_path
        self.answers: dict[str, dict[str, Answer]] = {}
        self.stored: list[int] = []
        self._at = -1
        self._instrument: Instrument | None = None
        self.active = False

    def start(self) -> None:
        """Show the first one (``done`` at once when none can be shown)."""
        self.active = True
        self.view.questionnaire.finished.connect(self._on_finished)
        self.view.questionnaire.cancelled.connect(self._next)
        self._next()

    @property
    def current(self) -> DueOutcome | None:
        return self.due[self._at] if 0 <= self._at < len(self.due) else None

    def _next(self) -> None:
        from biofeedback.outcomes.instrument import load_instrument

        while self.active:
            self._at += 1
            due = self.current
            if due is None:
                self.stop()
                self.done.emit()
                return
            try:
                self._instrument = load_instrument(due.instrument)
            except BiofeedbackError as exc:
                log.warning("due questionnaire %s not asked: %s", due.instrument, exc)
                self.failed.emit(f"Questionnaire {due.instrument} not asked: {exc}")
                continue
            intro = intro_text(self.moment, self._at, len(self.due))
            self.view.show_questionnaire(self._instrument, intro)
            return

    def _on_finished(self, answers: dict[str, Answer], _scores: Any) -> None:
        due, instrument = self.current, self._instrument
        if due is not None and instrument is not None:
            self._store(due, instrument, answers)
        self._next()

    def _store(self, due: DueOutcome, instrument: Instrument, answers: dict[str, Answer]) -> None:
        from biofeedback.storage.database import Database
        from biofeedback.storage.outcomes import record_answers

        try:
            with Database(self.db_path) as db:
                record_id, checked, _ = record_answers(
                    db,
                    self.subject,
                    instrument,
                    answers,
                    timepoint=due.timepoint,
                    session_id=self.session_id,
                )
        except BiofeedbackError as exc:
            log.error("questionnaire %s of %s not stored: %s", instrument.id, self.subject, exc)
            self.failed.emit(f"{instrument.name} was not saved: {exc}")
            return
        self.stored.append(record_id)
        self.answers[instrument.id] = checked

    def stop(self) -> None:
        """Stop asking (the window closes, or the last one is done); back to the orb."""
        if not self.active:
            return
        self.active = False
        self.view.questionnaire.finished.disconnect(self._on_finished)
        self.view.questionnaire.cancelled.disconnect(self._next)
        self.view.hide_questionnaire()

    def pain_now(self) -> int | None:
        """The ``pain-nrs`` "now" rating answered here (the session's pain rating), else None."""
        value = self.answers.get(PAIN_NOW[0], {}).get(PAIN_NOW[1])
        return round(value) if isinstance(value, int | float) else None


def asks_pain(due: list[DueOutcome]) -> bool:
    """Whether these questionnaires ask the pain rating of ``PAIN_NOW`` (then the window's own
    pain-after question is not asked as well)."""
    return any(d.instrument == PAIN_NOW[0] for d in due)


class SessionQuestionnaires(QObject):
    """What the window asks around a session, in the patient view (docs/user-guide.md,
    "Questionnaires and this week's practice"):

    - before a session starts, the course's ``session-start`` questionnaires; the session
      starts once they are answered or left out (``before_start``);
    - after it ended, the ``session-end`` ones, stored with the session's id (``after_end``);
      when they include ``pain-nrs`` its "now" answer is the session's pain-after rating and
      the window does not ask it again; at a start, it is the pain-before rating when the
      clinician left that empty;
    - this week's home practice under the orb, refreshed at every start and end.
    """

    def __init__(
        self,
        view: PatientViewWidget,
        db_path: str | None,
        *,
        enabled: bool,
        show_view: Callable[[], None],
        report: Callable[[str], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.view, self.db_path, self.enabled = view, db_path, enabled
        self.show_view, self.report = show_view, report
        self.asker: DueQuestionnaires | None = None

    @property
    def asking(self) -> bool:
        return self.asker is not None and self.asker.active

    def before_start(self, subject: str, then: Callable[[int | None], None]) -> bool:
        """Ask what is due before a session of ``subject``; ``then(pain_now)`` once done.
        False (and ``then`` not called) when nothing is due."""
        self.refresh_practice(subject)
        due = find_due(self.db_path, subject, "session-start") if self.enabled else []
        if not due or self.asking:
            return False
        self._ask(due, subject, "session-start", None, lambda asker: then(asker.pain_now()))
        return True

    def due_at_end(self, subject: str | None, session_id: int | None) -> list[DueOutcome]:
        """What the course asks after this session (ask it with ``after_end``)."""
        if not self.enabled or not subject or session_id is None:
            return []
        return find_due(self.db_path, subject, "session-end", session_id)

    def after_end(
        self,
        due: list[DueOutcome],
        subject: str | None,
        session_id: int,
        then: Callable[[], None],
    ) -> None:
        """Ask ``due`` (from ``due_at_end``), keep a pain-nrs "now" answer as the session's pain
        after, refresh the practice line, then ``then()``."""

        def over(asker: DueQuestionnaires | None) -> None:
            pain = asker.pain_now() if asker is not None else None
            if pain is not None:
                self._store_pain_after(session_id, pain)
            self.refresh_practice(subject or "")
            then()

        if due and subject:
            self._ask(due, subject, "session-end", session_id, over)
        else:
            over(None)

    def _ask(
        self,
        due: list[DueOutcome],
        subject: str,
        moment: str,
        session_id: int | None,
        then: Callable[[DueQuestionnaires], None],
    ) -> None:
        asker = DueQuestionnaires(
            self.view,
            due,
            subject=subject,
            moment=moment,
            session_id=session_id,
            db_path=self.db_path,
            parent=self,
        )
        asker.failed.connect(self.report)
        asker.done.connect(lambda: then(asker))
        self.asker = asker
        self.show_view()
        asker.start()

    def _store_pain_after(self, session_id: int, pain: int) -> None:
        from biofeedback.storage.database import Database

        try:
            with Database(self.db_path) as db:
                db.update_session(session_id, pain_after=pain)
        except BiofeedbackError as exc:
            log.error("pain after session %s not stored: %s", session_id, exc)
            self.report(f"The pain rating after session {session_id} was not saved: {exc}")

    def refresh_practice(self, subject: str) -> None:
        """This week's home practice under the orb ("" hides the line)."""
        self.view.set_practice_text(practice_text(self.db_path, subject))

    def stop(self) -> None:
        """The window closes: stop asking (what was answered is stored already)."""
        if self.asker is not None:
            self.asker.stop()
            self.asker = None
