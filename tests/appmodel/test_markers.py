"""Markers: added at the newest sample, a note afterwards, stored once into the session."""

from __future__ import annotations

from typing import Any

from biofeedback.appmodel.markers import Marker, Markers


class FakeRecorder:
    """Records what would be written into the session store."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, str, str]] = []

    def add_marker(self, index: int, label: str, note: str) -> None:
        self.rows.append((index, label, note))


def make(index: list[int | None], recorder: Any = None) -> tuple[Markers, list[Any]]:
    markers = Markers(lambda: index[0], lambda: recorder)
    seen: list[Any] = []
    markers.added.connect(lambda m: seen.append(("added", m.index, m.note)))
    markers.annotated.connect(lambda m: seen.append(("annotated", m.index, m.note)))
    markers.cleared.connect(lambda: seen.append(("cleared",)))
    return markers, seen


def test_no_marker_without_data() -> None:
    markers, seen = make([None])
    assert markers.add() is None and len(markers) == 0 and seen == []


def test_note_typed_after_the_marker_is_stored_with_it_once() -> None:
    recorder = FakeRecorder()
    index = [500]
    markers, seen = make(index, recorder)
    marker = markers.add()
    assert marker == Marker(500, "") and recorder.rows == []  # waits for its note
    markers.annotate("  patient coughed ")
    assert markers[0].note == "patient coughed"
    assert recorder.rows == [(500, "marker", "patient coughed")]
    markers.store_pending()
    assert len(recorder.rows) == 1
    assert seen == [("added", 500, ""), ("annotated", 500, "patient coughed")]


def test_next_marker_stores_the_previous_one_without_note() -> None:
    recorder = FakeRecorder()
    index = [10]
    markers, _ = make(index, recorder)
    markers.add()
    index[0] = 20
    markers.add("moved")  # a note given at once: stored at once
    assert recorder.rows == [(10, "marker", ""), (20, "marker", "moved")]


def test_outside_a_session_nothing_is_stored_and_clear_forgets() -> None:
    markers, seen = make([5], None)
    markers.add()
    markers.annotate("note")
    markers.clear()
    assert len(markers) == 0 and seen[-1] == ("cleared",)
    assert markers.annotate("late") is None
