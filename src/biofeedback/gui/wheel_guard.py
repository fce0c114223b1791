"""Spin boxes and combo boxes that ignore the mouse wheel unless they have the keyboard focus.

Scrolling the side panel with the wheel must scroll it, not change whatever value passes under
the pointer (a pacer rate turned from 6.0 to 4.5 and saved). A guarded field takes focus only by
a click or Tab; once it has focus, the wheel changes it as usual.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractSpinBox, QComboBox, QWidget


class _WheelGuard(QObject):
    """Event filter: a wheel event over an unfocused field goes to its parent (the scroll area)."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            event.type() == QEvent.Type.Wheel
            and isinstance(watched, QWidget)
            and not watched.hasFocus()
        ):
            event.ignore()  # propagates to the parent: the panel scrolls
            return True
        return super().eventFilter(watched, event)


def guard_wheel(root: QWidget) -> int:
    """Make every spin box and combo box under ``root`` ignore the wheel unless focused.

    Returns how many fields were guarded.
    """
    guard = _WheelGuard(root)
    fields = [
        *root.findChildren(QAbstractSpinBox),
        *root.findChildren(QComboBox),
    ]
    for field in fields:
        field.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        field.installEventFilter(guard)
    return len(fields)
