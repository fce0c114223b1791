"""An education page in the patient view: large, calm text, an optional picture, one Continue.

Shown while a protocol's ``education`` phase waits (docs/protocols.md). The text is the page's
Markdown-lite rendered by :func:`biofeedback.training.steps.page_html`; Enter, Space or a click on
Continue go on. The signal keeps recording underneath; the time is not training time.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QEvent, QObject, Qt, QUrl, Signal
from PySide6.QtGui import QKeyEvent, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QTextBrowser, QVBoxLayout, QWidget

from biofeedback.gui.theme import PALETTE, font
from biofeedback.training import steps

#: Type size of a page's body text (points): read from a chair a metre or more from the screen.
PAGE_TEXT_PT = 17
#: Widest text column (pixels): long lines are hard to follow.
MAX_TEXT_WIDTH = 900
#: Widest picture (pixels), inside the text column.
MAX_IMAGE_WIDTH = 760

log = logging.getLogger(__name__)


def step_button_style() -> str:
    """The soft, large buttons of the step pages."""
    return (
        f"QPushButton {{ background: {PALETTE.orb_calm}; color: {PALETTE.room};"
        " border: none; border-radius: 10px; padding: 12px 36px; }"
        f" QPushButton:focus {{ border: 3px solid {PALETTE.room_text}; }}"
        f" QPushButton#secondary {{ background: transparent; color: {PALETTE.room_text_muted};"
        f" border: 1px solid {PALETTE.room_text_muted}; }}"
    )


class EducationPageWidget(QWidget):
    """Title, text and picture of one page, and a Continue button (``continued`` signal)."""

    continued = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(False)
        self.browser.setFont(font(PAGE_TEXT_PT))
        self.browser.setMaximumWidth(MAX_TEXT_WIDTH)
        self.browser.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.browser.setStyleSheet(
            f"QTextBrowser {{ background: transparent; color: {PALETTE.room_text}; border: none; }}"
            " QScrollBar:vertical { background: transparent; width: 10px; margin: 0; }"
            f" QScrollBar::handle:vertical {{ background: {PALETTE.room_text_muted};"
            " border-radius: 5px; min-height: 40px; }"
            " QScrollBar::add-line:vertical, QScrollBar::sub-line:vertical { height: 0; }"
            " QScrollBar::add-page:vertical, QScrollBar::sub-page:vertical { background: none; }"
        )
        self.browser.document().setDefaultStyleSheet(
            f"h1 {{ color: {PALETTE.orb_calm}; }} h2 {{ color: {PALETTE.pacer}; }}"
            " p, li { line-height: 140%; }"
        )
        self.image_path: str | None = None  # the picture shown under the title, if any
        self.continue_button = QPushButton("Continue")
        self.continue_button.setFont(font(18, bold=True))
        self.continue_button.setStyleSheet(step_button_style())
        self.continue_button.setDefault(True)
        self.continue_button.clicked.connect(self.continued.emit)
        self.continue_button.installEventFilter(self)
        self.hint = QLabel("Page Down scrolls. Press Enter or click Continue when you are ready.")
        self.hint.setFont(font(12))
        self.hint.setStyleSheet(f"color: {PALETTE.room_text_muted};")

        text_row = QHBoxLayout()
        text_row.addStretch(1)
        text_row.addWidget(self.browser, 6)
        text_row.addStretch(1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.hint)
        buttons.addSpacing(24)
        buttons.addWidget(self.continue_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(text_row, 1)
        layout.addSpacing(12)
        layout.addLayout(buttons)

    def show_page(self, title: str, text: str, image: str | None = None) -> None:
        """Show a page (Markdown-lite ``text``, a picture under the title; it scrolls with the
        text) and put the focus on Continue."""
        pixmap = QPixmap(image) if image else QPixmap()
        if image and pixmap.isNull():
            log.warning(
                "education page %r: the picture %s cannot be read; shown without", title, image
            )
        self.image_path = image if not pixmap.isNull() else None
        url = QUrl.fromLocalFile(self.image_path).toString() if self.image_path else ""
        width = min(pixmap.width(), MAX_IMAGE_WIDTH)
        self.browser.setHtml(steps.page_html(title, text, url, width))
        self.browser.verticalScrollBar().setValue(0)
        self.continue_button.setFocus()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
            self.continued.emit()
            return
        if self._scroll(event.key()):
            return
        super().keyPressEvent(event)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # the arrow keys scroll the text instead of moving the focus off Continue
        if watched is self.continue_button and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            return self._scroll(event.key())
        return super().eventFilter(watched, event)

    def _scroll(self, key: int) -> bool:
        """Scroll the text for Up / Down / Page Up / Page Down; False for other keys."""
        bar = self.browser.verticalScrollBar()
        by_key = {
            int(Qt.Key.Key_Down): bar.singleStep(),
            int(Qt.Key.Key_Up): -bar.singleStep(),
            int(Qt.Key.Key_PageDown): bar.pageStep(),
            int(Qt.Key.Key_PageUp): -bar.pageStep(),
        }
        if int(key) not in by_key:
            return False
        bar.setValue(bar.value() + by_key[int(key)])
        return True

    @property
    def text(self) -> str:
        """The page as plain text (what the patient reads)."""
        return self.browser.toPlainText()
