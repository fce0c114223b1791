"""Open a clinician's own protocol file in the window: choose, validate, offer it in the combo.

The file goes through the same loader as ``biofeedback protocols validate`` and
``record --protocol FILE`` (:func:`biofeedback.training.protocol.load_protocol`), so a mistake is
reported with the same one-line message. A loaded file is offered in the protocol combo under its
protocol's name; the item's data is the file's absolute path, which is what the session starts
with (``load_protocol`` takes a path as well as a name) and what the window remembers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QFileDialog, QWidget

from biofeedback.core.tomlfile import as_file
from biofeedback.training.protocol import Protocol, load_protocol, user_protocol_dir

#: Asks for a file: (parent widget, folder to start in) -> the chosen path, or None (cancelled).
FileChooser = Callable[[QWidget, str], str | None]

DIALOG_TITLE = "Open protocol file"
DIALOG_FILTER = "Protocol files (*.toml);;All files (*)"
#: Title of the message shown when a file cannot be used.
NOT_LOADED = "Protocol file not loaded."


@dataclass(frozen=True)
class ProtocolChoice:
    """A validated protocol file, ready to be offered in the combo."""

    path: Path
    protocol: Protocol

    @property
    def data(self) -> str:
        """The combo item's data: the absolute path (loadable and rememberable)."""
        return str(self.path)

    @property
    def label(self) -> str:
        """The combo text: the protocol's name and length, marked as a file."""
        minutes = self.protocol.duration_s / 60.0
        return f"{self.protocol.name}  ({minutes:.0f} min, file)"

    @property
    def tooltip(self) -> str:
        """The file's path, then the description and the validator's warnings."""
        lines = [str(self.path)]
        if self.protocol.description:
            lines.append(self.protocol.description)
        lines.extend(f"warning: {w}" for w in self.protocol.warnings)
        return "\n".join(lines)


def is_protocol_file(name_or_path: str) -> bool:
    """True when a remembered or requested protocol is a file rather than a library name."""
    return bool(name_or_path) and as_file(name_or_path) is not None


def load_choice(path: str | Path) -> ProtocolChoice:
    """Load and validate a protocol file; raises ProtocolFileError with the CLI's message."""
    absolute = Path(path).expanduser().resolve()
    return ProtocolChoice(absolute, load_protocol(absolute))


def offer(combo: QComboBox, choice: ProtocolChoice) -> int:
    """Add the file to the combo (or refresh its item if it is there already); its index."""
    index = combo.findData(choice.data)
    if index < 0:
        combo.addItem(choice.label, choice.data)
        index = combo.count() - 1
    else:
        combo.setItemText(index, choice.label)
    combo.setItemData(index, choice.tooltip, Qt.ItemDataRole.ToolTipRole)
    return index


def start_folder(current: str) -> str:
    """Where the file dialog opens: the current file's folder, the user's protocol folder, or
    the home folder."""
    if is_protocol_file(current):
        folder = Path(current).expanduser().parent
        if folder.is_dir():
            return str(folder)
    own = user_protocol_dir()
    return str(own if own.is_dir() else Path.home())


def choose_file(parent: QWidget, folder: str) -> str | None:
    """The system's open-file dialog for a protocol file; None when cancelled."""
    path, _ = QFileDialog.getOpenFileName(parent, DIALOG_TITLE, folder, DIALOG_FILTER)
    return path or None


def display_text(message: str) -> str:
    """A message that can wrap inside a path (a zero-width space after each ``/``), so a long
    file name never widens the side panel."""
    return message.replace("/", "/\u200b")
