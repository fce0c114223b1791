"""The replay window: a stored session played back with its own targets.

Widgets over :class:`~biofeedback.appmodel.replay.ReplayModel`: one card per channel (the live
view's traces and gauge, read only), a play/pause button (Space), a seek slider with the phase
boundaries marked, the speed, the position ("12:30 / 20:00"), the list of phases (a click jumps
to one) and the time in target so far. The target line follows the session's own threshold log.
Opened from History (Replay… on the chosen session) or ``biofeedback replay SESSION``.
"""

from __future__ import annotations

import html
import logging
import math
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QKeySequence,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QShortcut,
)
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QGraphicsPathItem,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSlider,
    QStyle,
    QStyleOptionSlider,
    QVBoxLayout,
    QWidget,
)

from biofeedback.appmodel.replay import (
    SPEEDS,
    STEP_KINDS,
    WINDOW_S,
    ReplayModel,
    TraceWindow,
    format_clock,
    replayable,
)
from biofeedback.errors import BiofeedbackError
from biofeedback.gui.clinician_view import ChannelCard
from biofeedback.gui.tension_gauge import format_uv
from biofeedback.gui.theme import PALETTE, font
from biofeedback.gui.window_geometry import fit_dialog

log = logging.getLogger(__name__)

#: Frames per second while playing.
FRAME_HZ = 30
#: Seek slider steps per second of session.
SLIDER_STEPS_PER_S = 10
#: How often a loading window looks whether the session has been read, ms.
LOAD_POLL_MS = 50


class PhaseSlider(QSlider):
    """A horizontal slider that marks phase boundaries (slider values) with short ticks."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.boundaries: list[int] = []
        self.setMinimumHeight(28)

    def set_boundaries(self, values: list[int]) -> None:
        self.boundaries = sorted(set(values))
        self.update()

    def boundary_x(self, value: int) -> int:
        """The pixel column of slider value ``value`` (the groove's coordinates)."""
        opt = QStyleOptionSlider()
        self.initStyleOption(opt)
        groove = self.style().subControlRect(
            QStyle.ComplexControl.CC_Slider, opt, QStyle.SubControl.SC_SliderGroove, self
        )
        handle = self.style().subControlRect(
            QStyle.ComplexControl.CC_Slider, opt, QStyle.SubControl.SC_SliderHandle, self
        )
        span = groove.width() - handle.width()
        offset = QStyle.sliderPositionFromValue(self.minimum(), self.maximum(), value, span)
        return groove.x() + handle.width() // 2 + offset

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if not self.boundaries:
            return
        p = QPainter(self)
        p.setPen(QPen(QColor(PALETTE.marker), 2))
        h = self.height()
        for value in self.boundaries:
            x = self.boundary_x(value)
            p.drawLine(x, 1, x, h // 4)
            p.drawLine(x, h - h // 4, x, h - 1)
        p.end()


class ReplayWindow(QDialog):
    """Plays a :class:`ReplayModel`; the model does the work, this shows it.

    Given a model, the window shows it at once. Given a future of one (:func:`open_replay`: the
    session is read on a worker thread, about a second per 20 minutes of recording), it shows
    "Loading session …" and builds itself when the model arrives (``loaded``), or shows why it
    could not be read.
    """

    #: The model arrived and the window shows it.
    loaded = Signal()

    def __init__(
        self,
        model: ReplayModel | Future[ReplayModel],
        parent: QWidget | None = None,
        title: str = "",
    ) -> None:
        super().__init__(parent)
        self.setWindowFlag(Qt.WindowType.WindowMaximizeButtonHint, True)
        self._model: ReplayModel | None = None
        self._future: Future[ReplayModel] | None = None
        #: Why the session could not be read ("" while loading or once loaded).
        self.failure = ""
        self._outer = QVBoxLayout(self)
        self.timer = QTimer(self)
        self.timer.setInterval(round(1000 / FRAME_HZ))
        self.timer.timeout.connect(self._on_timer)
        self._last_tick = 0.0
        if isinstance(model, ReplayModel):
            self._show_model(model)
        else:
            self._future = model
            self.setWindowTitle(f"Replay of {title}" if title else "Replay")
            self._loading = self._build_loading(title)
            self._outer.addWidget(self._loading)
            self._poll = QTimer(self)
            self._poll.setInterval(LOAD_POLL_MS)
            self._poll.timeout.connect(self._check_loaded)
            self._poll.start()
        fit_dialog(self, (1100, 700))  # whole on a 1366x768 laptop, roomier on a larger screen

    # -- loading -------------------------------------------------------------------------------
    @property
    def model(self) -> ReplayModel:
        """The session's model. Read while the session is still loading (a script driving the
        window), it waits for it; StorageError when it could not be read."""
        if self._model is None:
            self.wait_loaded()
        assert self._model is not None
        return self._model

    @property
    def is_loaded(self) -> bool:
        return self._model is not None

    def wait_loaded(self, timeout_s: float | None = None) -> None:
        """Wait (blocking) for the session and show it; StorageError when it failed."""
        if self._model is None and self._future is not None:
            self._poll.stop()
            self._show_model(self._future.result(timeout_s))

    def _build_loading(self, title: str) -> QWidget:
        page = QWidget()
        self.loading_label = QLabel(f"Loading {title or 'the session'}…")
        self.loading_label.setFont(font(13))
        self.loading_label.setWordWrap(True)
        self.loading_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.loading_bar = QProgressBar()
        self.loading_bar.setRange(0, 0)  # busy: the reading has no known end
        self.loading_bar.setFixedWidth(320)
        self.loading_bar.setTextVisible(False)
        column = QVBoxLayout(page)
        column.addStretch(1)
        column.addWidget(self.loading_label)
        column.addWidget(self.loading_bar, 0, Qt.AlignmentFlag.AlignHCenter)
        column.addStretch(1)
        return page

    def _check_loaded(self) -> None:
        future = self._future
        if future is None or not future.done():
            return
        self._poll.stop()
        try:
            model = future.result()
        except BiofeedbackError as exc:
            self._show_failure(str(exc))
            return
        except Exception as exc:  # shown in the window (and logged), not lost in a thread
            log.exception("reading the session for replay failed")
            self._show_failure(f"reading the session failed: {exc}")
            return
        self._show_model(model)

    def _show_failure(self, message: str) -> None:
        self.failure = message
        self.loading_label.setText(f"This session cannot be replayed: {message}")
        self.loading_bar.hide()

    def _show_model(self, model: ReplayModel) -> None:
        """Build the window on the model (once)."""
        self._model = model
        self.setWindowTitle(f"Replay of {model.data.label}")
        if self._future is not None:
            self._loading.hide()
            self._outer.removeWidget(self._loading)
            self._loading.deleteLater()
        self.cards: list[ChannelCard] = []
        self._window: TraceWindow | None = None
        self._axis_clock = ""
        # The traces are pictures drawn when given data, at the plot's scale of that moment;
        # pyqtgraph applies a new range or size only when it next paints. A live window gives
        # data every frame; a paused replay gives it once per position, so it draws again once
        # the plots have taken their new scale (one redraw for any number of changes).
        self._redraw = QTimer(self)
        self._redraw.setSingleShot(True)
        self._redraw.setInterval(0)
        self._redraw.timeout.connect(self._draw_traces)
        self.target_lines: list[QGraphicsPathItem] = []
        self._outer.addWidget(self._build_content(), 1)
        model.position_changed.connect(self._on_position)
        model.playing_changed.connect(self._on_playing)
        model.speed_changed.connect(self._on_speed)
        model.phase_changed.connect(self._on_phase)
        for key, action in (
            (Qt.Key.Key_Space, model.toggle),
            (Qt.Key.Key_PageDown, model.next_phase),
            (Qt.Key.Key_PageUp, model.previous_phase),
        ):
            QShortcut(QKeySequence(key), self).activated.connect(action)
        self._on_phase(model.current_phase)
        self.render_position()
        self.loaded.emit()

    # -- building ------------------------------------------------------------------------------
    def _build_content(self) -> QWidget:
        cards = self._build_cards()
        transport = self._build_transport()
        side = self._build_side()
        body = QHBoxLayout()
        body.addLayout(cards, 1)
        body.addWidget(side)
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(body, 1)
        layout.addLayout(transport)
        return content

    def _build_cards(self) -> QVBoxLayout:
        column = QVBoxLayout()
        for channel in self.model.channels:
            kind = f"{channel.kind} · replay"
            card = ChannelCard(channel.name, kind, WINDOW_S, show_raw=channel.show_raw)
            card.plot.threshold_line.setMovable(False)
            # the target as it was at each moment of the window (a shaping step shows as a
            # step), not one line across it at today's value
            card.plot.threshold_line.setVisible(False)
            card.gauge.interactive = False
            card.gauge.setMouseTracking(False)
            # one line, never wider than the card: a wrapped label gives its card a height for
            # its width, and the column would then share its height unevenly between the cards
            card.warning.setWordWrap(False)
            card.warning.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            for plot in (card.plot.raw_plot, card.plot.env_plot):
                plot.vb.sigTransformChanged.connect(lambda *_: self._redraw.start())
            column.addWidget(card, 1)
            self.cards.append(card)
            self.target_lines.append(self._target_line(card))
        return column

    @staticmethod
    def _target_line(card: ChannelCard) -> QGraphicsPathItem:
        """The stepped target line in the card's envelope plot (a plain Qt path item)."""
        pen = QPen(QColor(PALETTE.threshold), 1.5)
        pen.setCosmetic(True)
        item = QGraphicsPathItem()
        item.setPen(pen)
        item.setZValue(10)
        card.plot.env_plot.addItem(item, ignoreBounds=True)
        return item

    def _build_transport(self) -> QHBoxLayout:
        self.play_button = QPushButton("Play")
        self.play_button.setToolTip("Play or pause (Space)")
        self.play_button.clicked.connect(self.model.toggle)
        self.previous_button = QPushButton("◀ Phase")
        self.previous_button.setToolTip("Start of this phase, or the one before (Page Up)")
        self.previous_button.clicked.connect(self.model.previous_phase)
        self.next_button = QPushButton("Phase ▶")
        self.next_button.setToolTip("Start of the next phase (Page Down)")
        self.next_button.clicked.connect(self.model.next_phase)
        for button in (self.previous_button, self.next_button):
            button.setEnabled(bool(self.model.phases))
        for button in (self.play_button, self.previous_button, self.next_button):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Space is play/pause, not "click"
        self.slider = PhaseSlider()
        self.slider.setRange(0, max(1, round(self.model.duration_s * SLIDER_STEPS_PER_S)))
        self.slider.set_boundaries(
            [round(p.start_s * SLIDER_STEPS_PER_S) for p in self.model.phases[1:]]
        )
        self.slider.setSingleStep(SLIDER_STEPS_PER_S)  # the arrow keys: a second at a time
        self.slider.setToolTip(
            "Drag to a moment of the session (← → a second at a time); ticks mark where phases"
            " start"
        )
        self.slider.valueChanged.connect(self._on_slider)
        self.time_label = QLabel()
        self.time_label.setFont(font(12, bold=True))
        self.speed_box = QComboBox()
        for speed in SPEEDS:
            self.speed_box.addItem(f"{speed:g}×", speed)
        self.speed_box.setCurrentIndex(SPEEDS.index(self.model.speed))
        self.speed_box.setToolTip("Replay speed")
        self.speed_box.currentIndexChanged.connect(
            lambda i: self.model.set_speed(float(self.speed_box.itemData(i)))
        )
        row = QHBoxLayout()
        for widget in (self.play_button, self.previous_button, self.next_button):
            row.addWidget(widget)
        row.addWidget(self.slider, 1)
        row.addWidget(self.time_label)
        row.addWidget(QLabel("Speed"))
        row.addWidget(self.speed_box)
        return row

    def _build_side(self) -> QWidget:
        title = QLabel("Phases")
        title.setFont(font(12, bold=True))
        self.phase_list = QListWidget()
        for p in self.model.phases:
            text = f"{p.index + 1}. {p.name}  {format_clock(p.start_s)}–{format_clock(p.end_s)}"
            QListWidgetItem(text, self.phase_list)
        if not self.model.phases:
            QListWidgetItem("A recording without phases", self.phase_list)
            self.phase_list.setEnabled(False)
        self.phase_list.itemClicked.connect(self._on_phase_clicked)
        self.phase_label = QLabel()
        self.phase_label.setFont(font(11, bold=True))
        self.target_label = QLabel()
        self.score_label = QLabel()
        notes = QLabel("\n".join(self.model.data.notes))
        notes.setObjectName("muted")
        notes.setVisible(bool(self.model.data.notes))
        side = QWidget()
        # a column of its own width (about 30 characters), whatever the texts in it say
        side.setFixedWidth(max(240, 30 * side.fontMetrics().averageCharWidth()))
        column = QVBoxLayout(side)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(title)
        column.addWidget(self.phase_list, 1)
        for label in (self.phase_label, self.target_label, self.score_label, notes):
            label.setWordWrap(True)
            column.addWidget(label)
        return side

    # -- model events --------------------------------------------------------------------------
    def _on_timer(self) -> None:
        now = time.monotonic()
        dt, self._last_tick = now - self._last_tick, now
        if self.slider.isSliderDown():  # held on a moment: it plays on from there when let go
            return
        self.model.tick(min(dt, 0.25))  # a stalled event loop does not jump the replay ahead

    def _on_position(self, t_s: float) -> None:
        if not self.slider.isSliderDown():
            blocked = self.slider.blockSignals(True)
            self.slider.setValue(round(t_s * SLIDER_STEPS_PER_S))
            self.slider.blockSignals(blocked)
        self.render_position()

    def _on_playing(self, playing: bool) -> None:
        self.play_button.setText("Pause" if playing else "Play")
        if playing:
            self._last_tick = time.monotonic()
            self.timer.start()
        else:
            self.timer.stop()

    def _on_speed(self, speed: float) -> None:
        index = SPEEDS.index(speed)
        if self.speed_box.currentIndex() != index:
            self.speed_box.setCurrentIndex(index)

    def _on_phase(self, index: int | None) -> None:
        blocked = self.phase_list.blockSignals(True)
        if index is None:
            self.phase_list.clearSelection()
        else:
            self.phase_list.setCurrentRow(index)
        self.phase_list.blockSignals(blocked)
        if index is None:
            self.phase_label.setText("Between phases" if self.model.phases else "")
        else:
            p = self.model.phases[index]
            self.phase_label.setText(f"Phase {index + 1} of {len(self.model.phases)}: {p.name}")
        self._show_scores()  # "in this phase" is this phase's

    def _on_slider(self, value: int) -> None:
        self.model.seek(value / SLIDER_STEPS_PER_S)

    def _on_phase_clicked(self, item: QListWidgetItem) -> None:
        self.model.jump_to_phase(self.phase_list.row(item))

    # -- drawing -------------------------------------------------------------------------------
    def render_position(self) -> None:
        """Show the model's position: traces, gauges, targets, clock and time in target."""
        model = self.model
        t = model.position_s
        clock = format_clock(t)
        self.time_label.setText(f"{clock} / {format_clock(model.duration_s)}")
        if clock != self._axis_clock:  # the time axis counts back from the position
            self._axis_clock = clock
            for card in self.cards:
                card.plot.env_plot.setLabel("bottom", f"seconds before {clock}")
        self._window = window = model.trace_window(WINDOW_S)
        markers = [m.t_s - t for m in model.markers if -WINDOW_S <= m.t_s - t <= 0]
        for c, card in enumerate(self.cards):
            shown = [v for _, _, v in model.target_segments(c, WINDOW_S)]
            # the scale first: the traces are drawn at the scale they will be shown at
            card.plot.update_ranges(
                window.signal_uv[c], window.envelope_uv[c], max(shown, default=0.0)
            )
            card.plot.set_markers(markers)
            self._show_target(c, card)
            level, flags = model.level(c)
            card.gauge.set_level(level, flags, model.trail(c))
            card.gauge.refresh_number()  # paused or seeking: the number is the position's
            card.set_noise_floor(model.noise_floor_at(c))
            card.quality.set_flags(flags)
        self._draw_traces()
        self._show_scores()

    def _draw_traces(self) -> None:
        """The traces (and the target's label, placed in pixels) at the shown position."""
        window = self._window
        if window is None:
            return
        for c, card in enumerate(self.cards):
            card.plot.set_data(
                window.t_peaks_s,
                window.signal_uv[c],
                window.t_columns_s,
                window.envelope_uv[c],
                window.end_column,
            )
            self._place_target_label(c, card)

    def _place_target_label(self, channel: int, card: ChannelCard) -> None:
        """The plot's "target 8.7 µV" label on the line of the target now in force: where its
        stretch of the window starts (the live plot's place when one target spans it), kept
        inside the plot."""
        label = card.plot.threshold_label
        segments = self.model.target_segments(channel, WINDOW_S)
        label.setVisible(bool(segments))
        if not segments:
            return
        x0, _, value = segments[-1]
        seconds_per_px = card.plot.env_plot.vb.viewPixelSize()[0]
        width = label.boundingRect().width() * seconds_per_px
        margin = 0.06 * WINDOW_S
        x = max(x0, -WINDOW_S) + margin
        if math.isfinite(width):
            x = min(x, -width - 0.02 * WINDOW_S)
        label.setPos(max(x, -WINDOW_S), value)

    def _show_target(self, channel: int, card: ChannelCard) -> None:
        target = self.model.target_at(channel)
        path = QPainterPath()
        for x0, x1, value in self.model.target_segments(channel, WINDOW_S):
            path.moveTo(x0, value)
            path.lineTo(x1, value)
        self.target_lines[channel].setPath(path)
        card.gauge.setVisible(target is not None)
        if target is not None:
            if card.gauge.threshold_uv != target:
                card.gauge.set_threshold(target)
                card.plot.set_threshold(target)
            card.set_warning("")
        elif self.model.has_targets(channel):
            card.set_warning("No target yet at this moment of the session.")
        else:
            scored = [
                ch.name for c, ch in enumerate(self.model.channels) if self.model.has_targets(c)
            ]
            card.set_warning(
                f"Not scored: this session's target was on {', '.join(scored)}."
                if scored
                else "This session recorded no target for this channel."
            )

    def _show_scores(self) -> None:
        """Per channel with a target: the target, when and why it was set, and the time in
        target so far and in this phase (words where there is no number yet)."""
        model = self.model
        targets, scores = [], []
        for c, channel in enumerate(model.channels):
            change = model.target_change_at(c)
            if change is None:
                continue
            reason = html.escape(describe_reason(change.reason))
            targets.append(
                f"{html.escape(channel.name)}: target {format_uv(change.value_uv)} µV since "
                f"{format_clock(change.t_s)}<br><span style='color:{PALETTE.text_muted}'>"
                f"{reason}</span>"
            )
            so_far = model.time_in_target(c).pct
            words = "nothing scored yet" if so_far is None else f"{_pct(so_far)} so far"
            scores.append(f"{html.escape(channel.name)}: {words}, {self._phase_score(c)}")
        self.target_label.setText("<br>".join(targets) or self._no_target_text())
        title = "<b>Time in target</b><br>" if scores else ""
        self.score_label.setText(title + "<br>".join(scores))

    def _no_target_text(self) -> str:
        """What stands for the targets where none is in force."""
        first = min((ch.t_s for ch in self.model.data.targets), default=None)
        if first is None:
            return "This session recorded no target."
        return f"No target yet: the session set its first at {format_clock(first)}."

    def _phase_score(self, channel: int) -> str:
        """The time in target in the current phase, or what stands in for it."""
        index = self.model.current_phase
        if index is None:
            return "between phases"
        if self.model.phases[index].kind in STEP_KINDS:
            return "no target in this phase"
        pct = self.model.phase_time_in_target(index, channel).pct
        return "nothing scored yet in this phase" if pct is None else f"{_pct(pct)} in this phase"

    def done(self, result: int) -> None:
        self.timer.stop()
        if self._future is not None:
            self._poll.stop()  # closed while loading: the reading ends unseen
        if self._model is not None:
            self._model.pause()
        super().done(result)


#: Between a number and its unit: a wrapped line never starts with "%" or "s".
NBSP = "\u00a0"


def _pct(value: float) -> str:
    """``54 %``: the app's one way of writing a percentage (a space before the sign)."""
    return f"{value:.0f}{NBSP}%"


def describe_reason(reason: str) -> str:
    """A threshold log's reason as this window writes it: ``43 %`` (the app's percentages),
    ``µV``, and the shaping rule's success rate called its *aim*, so that "target" is always
    the µV line (``shaping: 43 % below in last 60 s (aim 70 %): raised 10.3 %``)."""
    text = re.sub(r"(\d)%", r"\1 %", reason)
    text = re.sub(r"(\d) ?uV\b", r"\1 µV", text)
    text = re.sub(r"\(target (\d[\d.]*) %\)", r"(aim \1 %)", text)
    if text == "clinician":
        return "set by the clinician"
    return re.sub(r"(\d) (%|s\b|µV)", rf"\1{NBSP}\2", text)


def open_replay(
    parent: QWidget | None, db_path: str | Path | None, session_id: int
) -> ReplayWindow:
    """Show session ``session_id``'s replay window (not modal) at once, "Loading…" while a worker
    thread reads the session. StorageError (one line, before any window) when there is no such
    session or it has no samples."""
    label = replayable(db_path, session_id)
    future = _loader().submit(ReplayModel.open, db_path, session_id)
    window = ReplayWindow(future, parent, title=label)
    window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
    window.show()
    return window


_LOADER: ThreadPoolExecutor | None = None


def _loader() -> ThreadPoolExecutor:
    """The threads that read sessions for replay (made on first use)."""
    global _LOADER
    if _LOADER is None:
        _LOADER = ThreadPoolExecutor(max_workers=2, thread_name_prefix="replay-load")
    return _LOADER


def replay_chosen(dialog: QWidget) -> ReplayWindow | None:
    """History's Replay…: the chosen session's replay window; a failure is the dialog's message
    line. ``dialog`` is the History dialog (``selected_session``, ``db_path``, ``message``)."""
    from biofeedback.errors import StorageError

    try:
        record = dialog.selected_session()  # type: ignore[attr-defined]
        if record is None:
            return None
        window = open_replay(dialog, dialog.db_path, record.id)  # type: ignore[attr-defined]
    except StorageError as exc:
        dialog.message.setText(str(exc))  # type: ignore[attr-defined]
        return None
    dialog.replay_window = window  # type: ignore[attr-defined]
    return window


def run_replay_app(model: ReplayModel) -> int:
    """``biofeedback replay SESSION``: the replay window on its own; returns the exit code."""
    import signal

    from biofeedback.gui.theme import apply_theme

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication([])
    app.setApplicationName("biofeedback")
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: QTimer.singleShot(0, QApplication.closeAllWindows))
    # Python runs a signal handler only when it gets control: a paused replay has no timer
    # running, so one ticks a few times a second for Ctrl+C / SIGTERM to be noticed
    wake = QTimer()
    wake.start(200)
    wake.timeout.connect(lambda: None)
    apply_theme(app)
    window = ReplayWindow(model)
    window.show()
    return int(app.exec())
