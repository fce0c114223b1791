"""Child process of test_screenshots.py: open the window on a real X display (Xvfb), let a
tense-release recording run through one contraction, and save PNGs of the clinician view, the
patient view and History (a store with a few sessions of subject P007).

    python tests/gui/screenshot_child.py OUTDIR LABEL DB_PATH REPLAY_SESSION_ID

Writes ``clinician-LABEL.png``, ``patient-LABEL.png``, ``history-LABEL.png``, (when
gui/replay_window.py is there) ``replay-LABEL.png`` of the session REPLAY_SESSION_ID and
``clinician-4ch-LABEL.png`` (four muscles streaming) into OUTDIR and
prints one JSON line: what was on screen when each picture was taken, each window's geometry
against its screen's available area, and the widgets whose text does not fit (see
:func:`clipped_widgets`).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from child_loop import rect, run_for, wait_until
from PySide6 import QtGui
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QApplication,
    QComboBox,
    QLabel,
    QScrollArea,
    QStyle,
    QStyleOptionComboBox,
    QTableWidget,
    QWidget,
)

from biofeedback.gui.main_window import MainWindow
from biofeedback.gui.theme import apply_theme
from biofeedback.gui.window_geometry import fit_to_screen

#: One muscle (RAW and the MyoWare's ENV) on a 12-bit board; one contraction 4 s in, then rest.
SOURCE = (
    "sim://?scenario=tense-release&board=12bit&seed=4&lead_s=4&tense_s=3&release_s=60"
    "&tau_s=1&speed=3"
)
SUBJECT = "P007"


class SilentStream:
    """An output stream that accepts the tone and plays nothing (no sound card on Xvfb)."""

    def __init__(self, **kwargs: object) -> None:
        pass

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def close(self) -> None:
        pass


class SilentAudio:
    """sounddevice stand-in."""

    OutputStream = SilentStream


def _in_scroll_area(widget: QWidget, top: QWidget) -> bool:
    parent = widget.parentWidget()
    while parent is not None and parent is not top:
        if isinstance(parent, QAbstractScrollArea):
            return True
        parent = parent.parentWidget()
    return False


def _label_need(label: QLabel) -> tuple[int, int] | None:
    """(text width, room) of a one-line plain-text label; None when not checkable."""
    text = label.text()
    if (
        not text
        or label.wordWrap()
        or QtGui.Qt.mightBeRichText(text)
        or not label.pixmap().isNull()
    ):
        return None
    fm = label.fontMetrics()
    need = max(fm.horizontalAdvance(line) for line in text.splitlines())
    room = label.contentsRect().width() - 2 * label.margin() - max(0, label.indent())
    return need, room


def _combo_need(combo: QComboBox) -> tuple[int, int]:
    """(current text width, the edit field's width) of a combo box."""
    opt = QStyleOptionComboBox()
    combo.initStyleOption(opt)
    field = combo.style().subControlRect(
        QStyle.ComplexControl.CC_ComboBox, opt, QStyle.SubControl.SC_ComboBoxEditField, combo
    )
    return combo.fontMetrics().horizontalAdvance(combo.currentText()), field.width()


def _table_clipped(table: QTableWidget) -> list[dict[str, Any]]:
    """Visible cells whose text is wider than the column and that have no tooltip."""
    found = []
    fm = table.fontMetrics()
    # the item delegate's text margin on each side (QCommonStyle: focus frame margin + 1)
    margin = table.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, table) + 1
    for r in range(table.rowCount()):
        for c in range(table.columnCount()):
            item = table.item(r, c)
            if item is None or table.isColumnHidden(c) or item.toolTip():
                continue
            need, room = fm.horizontalAdvance(item.text()), table.columnWidth(c) - 2 * margin
            if need > room:
                found.append({"cell": [r, c], "text": item.text()[:60], "need": need, "has": room})
    return found


def _scrolls_out_of_sight(area: QScrollArea) -> bool:
    """Whether a scroll area's content is wider than its view with no horizontal scroll bar."""
    inner = area.widget()
    bar = area.horizontalScrollBar()
    return inner is not None and inner.width() > area.viewport().width() and not bar.isVisible()


def _who(widget: QWidget) -> str:
    names = []
    w: QWidget | None = widget
    while w is not None and len(names) < 3:
        names.append(w.objectName() or type(w).__name__)
        w = w.parentWidget()
    return "/".join(reversed(names))


def clipped_widgets(top: QWidget) -> list[dict[str, Any]]:
    """Visible widgets cut off: outside the window (not in a scroll area), a one-line label or a
    button whose text is wider than it, a combo box whose current text does not fit, a table cell
    whose text is elided, unless the widget's tooltip holds the whole text."""
    found: list[dict[str, Any]] = []
    window = top.rect()
    for w in top.findChildren(QWidget):
        if not w.isVisible() or w.window() is not top:
            continue
        at = QRect(w.mapTo(top, QPoint(0, 0)), w.size())
        if not window.contains(at) and not _in_scroll_area(w, top):
            found.append({"widget": _who(w), "outside_window": rect(at)})
        text, need = "", None
        if isinstance(w, QLabel):
            text, need = w.text(), _label_need(w)
        elif isinstance(w, QAbstractButton) and w.text():
            text = w.text()
            need = (w.minimumSizeHint().width(), w.width())
        elif isinstance(w, QComboBox) and not w.isEditable():
            text, need = w.currentText(), _combo_need(w)
        elif isinstance(w, QScrollArea) and _scrolls_out_of_sight(w):
            inner = w.widget()
            found.append(
                {"widget": _who(w), "content_width": inner.width(), "view": w.viewport().width()}
            )
        elif isinstance(w, QTableWidget):
            found.extend({"widget": _who(w), **cell} for cell in _table_clipped(w))
        tooltip_has_it = bool(text) and text.replace("&", "") in w.toolTip()
        if need is not None and need[0] > need[1] + 1 and not tooltip_has_it:
            found.append({"widget": _who(w), "text": text[:60], "need": need[0], "has": need[1]})
    return found


def on_screen(top: QWidget) -> dict[str, Any]:
    """The window's frame against its screen's available area, and what is cut off in it."""
    screen = top.screen()
    available = screen.availableGeometry()
    frame = top.frameGeometry()
    return {
        "size": [top.width(), top.height()],
        "frame": rect(frame),
        "available": rect(available),
        "inside": available.contains(frame),
        "dpr": screen.devicePixelRatio(),
        "clipped": clipped_widgets(top),
    }


def stand_in_for_the_window_manager(top: QWidget) -> None:
    """Xvfb runs no window manager: do its part of showing a window full screen or maximized
    (Qt only asks the window manager for these states)."""
    screen = top.screen()
    if top.isFullScreen():
        top.setGeometry(screen.geometry())
    elif top.isMaximized():
        top.setGeometry(screen.availableGeometry())
    wait_until(lambda: top.geometry() in (screen.geometry(), screen.availableGeometry()), 5)


def save(widget: QWidget, path: Path) -> list[int]:
    image = widget.grab().toImage()
    image.save(str(path))
    return [image.width(), image.height()]


def live_window(db_path: str) -> MainWindow | None:
    """The main window shown at its own start size, its source streaming, targets at 6 uV."""
    window = MainWindow(
        SOURCE,
        safety_check=False,
        audio=True,
        audio_backend=SilentAudio(),
        remember=False,
        db_path=db_path,
        ask_pain=False,
    )
    window.show()
    if window.isMaximized():
        stand_in_for_the_window_manager(window)
    started = window.start()
    # a fresh process: the source opens once scipy.signal and pyqtgraph have loaded (gui.preload)
    wait_until(lambda: window.pending_source is None, 60)
    if not started or window.bridge is None:
        print(json.dumps({"error": window.banner.text}))
        return None
    for c in range(len(window.cards)):
        window.set_threshold(c, 6.0, "screenshot")
    return window


def clinician_shot(window: MainWindow, out: Path, label: str) -> dict[str, Any]:
    bridge = window.bridge
    assert bridge is not None
    wait_until(lambda: bridge.elapsed_s >= 4.5)
    window.add_marker("shoulders up")
    wait_until(lambda: bridge.elapsed_s >= 13.5)
    shown = {
        "gauge_states": window.gauge_states,
        "captions": [card.gauge.caption for card in window.cards],
        "readouts_uv": [round(card.gauge.readout_uv, 2) for card in window.cards],
        "banner": window.banner.state.value,
        "quality": [card.quality.level for card in window.cards],
        **on_screen(window),
    }
    shown["png"] = save(window, out / f"clinician-{label}.png")
    return shown


def patient_shot(window: MainWindow, out: Path, label: str) -> dict[str, Any]:
    window.set_view("patient")
    stand_in_for_the_window_manager(window)
    # mid-inhale of the pacer (about 2.3 s in); a late frame on a busy machine waits for the next
    pacer = window.patient.pacer
    wait_until(lambda: pacer.phase.name == "inhale" and 0.5 <= pacer.phase.progress <= 0.7)
    shown = {
        "orb_state": window.patient.orb.state,
        "pacer_phase": pacer.phase.name,
        "instruction": window.patient.instruction.text(),
        **on_screen(window),
    }
    shown["png"] = save(window, out / f"patient-{label}.png")
    window.set_view("clinician")
    return shown


def history_shot(window: MainWindow, out: Path, label: str) -> dict[str, Any]:
    window.show_history_of(SUBJECT)
    dialog = window.history_dialog
    wait_until(lambda: dialog.isVisible() and dialog.table.rowCount() > 0)
    run_for(0.3)  # the plots' first paint
    shown = {"rows": dialog.table.rowCount(), **on_screen(dialog)}
    shown["png"] = save(dialog, out / f"history-{label}.png")
    dialog.close()
    return shown


def replay_shot(window: MainWindow, out: Path, label: str, db_path: str, sid: int):
    """The replay window of session ``sid``, 5 min in (gui/replay_window.py)."""
    from biofeedback.gui.replay_window import open_replay

    replay = open_replay(window, db_path, sid)
    wait_until(lambda: replay.isVisible())
    if replay.isMaximized() or replay.isFullScreen():
        stand_in_for_the_window_manager(replay)
    replay.model.seek(300.0)
    run_for(0.5)  # the traces at the new position
    shown = on_screen(replay)
    shown["png"] = save(replay, out / f"replay-{label}.png")
    replay.close()
    return shown


def four_channel_shot(window: MainWindow, out: Path, label: str) -> dict[str, Any]:
    """Four muscles streaming (window_fits_child.Muscles): the cards share the height, or the
    channel area scrolls where they do not fit."""
    from window_fits_child import Muscles

    fit_to_screen(window, {})  # back at its start size (the patient view filled the screen)
    window.start_source(Muscles(4))
    wait_until(lambda: len(window.cards) == 4 and window.pending_source is None, 60)
    for c in range(4):
        window.set_threshold(c, 6.0, "screenshot")
    # the noise floor is measured and the traces fill a few seconds
    wait_until(lambda: all(c.noise_label.text() != "noise floor –" for c in window.cards), 20)
    run_for(3.0)
    shown = on_screen(window)
    shown["png"] = save(window, out / f"clinician-4ch-{label}.png")
    return shown


def main() -> int:
    out, label, db_path, replay_id = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication(["biofeedback"])
    apply_theme(app)
    window = live_window(db_path)
    if window is None:
        return 1
    shown = {
        "screen": rect(app.primaryScreen().geometry()),
        "clinician": clinician_shot(window, out, label),
        "patient": patient_shot(window, out, label),
        "history": history_shot(window, out, label),
    }
    if importlib.util.find_spec("biofeedback.gui.replay_window") is not None:
        shown["replay"] = replay_shot(window, out, label, db_path, int(replay_id))
    shown["clinician-4ch"] = four_channel_shot(window, out, label)
    window.close()
    print(json.dumps(shown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
