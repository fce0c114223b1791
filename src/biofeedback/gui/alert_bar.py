"""A persistent message band for failures the user must act on.

The connection banner shows the device's state and changes whenever the device does; a failure
that ended a session (disk full, database busy, board gone) or a sound output that died must stay
on screen until the user has read it. :class:`AlertBar` holds such a message until it is
dismissed; it never widens the window (the text wraps) and is independent of the banner.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget

from biofeedback.gui.theme import FONT_LABEL_PT, PALETTE, font

log = logging.getLogger(__name__)


class AlertBar(QFrame):
    """A band under the header: a bold title, what to do, and a Dismiss button.

    ``level`` is ``"error"`` (red: a session stopped, nothing more is stored) or ``"warning"``
    (amber: something degraded, e.g. no sound, while recording goes on). A newer alert replaces
    the one shown; an error is never replaced by a warning until it is dismissed.
    """

    STYLES: ClassVar[dict[str, tuple[str, str]]] = {
        "error": (PALETTE.lost_soft, PALETTE.lost),
        "warning": (PALETTE.warn_soft, PALETTE.tense),
    }

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("alertBar")
        self.level = ""
        self.title = QLabel()
        self.title.setFont(font(FONT_LABEL_PT + 1, bold=True))
        self.detail = QLabel()
        self.detail.setFont(font(FONT_LABEL_PT))
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # a long message wraps instead of widening the window
        self.detail.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        # and stops at five lines, leaving the traces on screen: the whole text is in the tooltip
        self.detail.setMaximumHeight(5 * self.detail.fontMetrics().lineSpacing() + 4)
        self.dismiss_button = QPushButton("Dismiss")
        self.dismiss_button.clicked.connect(self.dismiss)
        text = QHBoxLayout()
        text.setSpacing(10)
        text.addWidget(self.title, 0, Qt.AlignmentFlag.AlignTop)
        text.addWidget(self.detail, 1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.addLayout(text, 1)
        layout.addWidget(self.dismiss_button, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    @property
    def text(self) -> str:
        """Title and detail of the alert shown ("" when none is)."""
        return f"{self.title.text()} {self.detail.text()}".strip() if self.level else ""

    def show_alert(self, title: str, detail: str, level: str = "error") -> None:
        """Show a message until dismissed; an error is not replaced by a later warning."""
        if level not in self.STYLES:
            raise ValueError(f"level must be one of {sorted(self.STYLES)}, not {level!r}")
        if self.level == "error" and level == "warning":
            log.warning("%s %s (not shown over the error on screen)", title, detail)
            return
        self.level = level
        bg, fg = self.STYLES[level]
        self.setStyleSheet(
            f"QFrame#alertBar {{ background: {bg}; border: 1px solid {fg}; border-radius: 4px; }}"
            f"QFrame#alertBar QLabel {{ color: {PALETTE.text}; background: transparent; }}"
        )
        self.title.setText(title)
        self.detail.setText(detail)
        self.setAccessibleName(f"{title} {detail}")
        self.setToolTip(detail)
        self.show()

    def dismiss(self) -> None:
        """Hide the message (the user has read it)."""
        self.level = ""
        self.title.setText("")
        self.detail.setText("")
        self.hide()
