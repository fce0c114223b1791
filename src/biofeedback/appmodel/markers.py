"""Clinician markers: a moment (absolute sample index) with an optional note.

A marker is added at the newest sample (key M), its note typed afterwards (Enter). It is written
into the running session's recorder once, with its note when one was typed before the next marker
or the session's end; every marker (and its note, when typed) is sent to the network streams
through :attr:`Markers.added` / :attr:`Markers.annotated`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from biofeedback.appmodel.events import Signal

log = logging.getLogger(__name__)

#: The marker list shown in the window and the plot keeps this many newest markers in view.
SHOWN_MARKERS = 20


@dataclass
class Marker:
    """A clinician marker at an absolute sample index, with an optional note."""

    index: int
    note: str = ""


class Markers:
    """The markers of the current source or session.

    ``sample_index`` gives the newest sample index (None while no data flows); ``recorder``
    returns the session's recorder (None outside a session), which has
    ``add_marker(index, kind, note)``.
    """

    def __init__(
        self,
        sample_index: Callable[[], int | None],
        recorder: Callable[[], Any] = lambda: None,
    ) -> None:
        self.sample_index = sample_index
        self.recorder = recorder
        self.items: list[Marker] = []
        self._unsaved: Marker | None = None
        #: (marker,) when a marker is added
        self.added = Signal("markers.added")
        #: (marker,) when the newest marker got its note
        self.annotated = Signal("markers.annotated")
        #: () when the list was cleared (a new session)
        self.cleared = Signal("markers.cleared")

    def add(self, note: str = "") -> Marker | None:
        """Mark the newest sample; None while no data flows."""
        index = self.sample_index()
        if index is None:
            return None
        self.store_pending()
        marker = Marker(int(index), note.strip())
        self.items.append(marker)
        self._unsaved = marker
        if marker.note:
            self.store_pending()
        self.added.emit(marker)
        return marker

    def annotate(self, note: str) -> Marker | None:
        """Give the newest marker its note and store it; None when there is no marker."""
        note = note.strip()
        if not self.items:
            self.store_pending()
            return None
        marker = self.items[-1]
        marker.note = note
        self.store_pending()
        if note:
            self.annotated.emit(marker)
        return marker

    def store_pending(self) -> None:
        """Write the newest marker (with its note, if typed) into the session, once."""
        marker, self._unsaved = self._unsaved, None
        recorder = self.recorder()
        if marker is not None and recorder is not None:
            recorder.add_marker(marker.index, "marker", marker.note)

    def clear(self) -> None:
        """Forget the markers (a new session starts)."""
        self.items.clear()
        self._unsaved = None
        self.cleared.emit()

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Marker:
        return self.items[i]
