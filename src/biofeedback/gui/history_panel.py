"""History and progress of one subject: trends across sessions, practice streak, weekly goal.

Everything shown comes from :mod:`biofeedback.storage.progress`, the same functions the clinician
report uses, so the window and the report always agree. Patients stop practising when they cannot
see progress: the dialog leads with the plain-language trend sentences and the practice streak.
When the subject has an open course, this week's practice is the course's adherence (as the
course dialog says it) and the course's prescription sets the weekly goal.

Each row acts on its session: Open report writes the clinician report (PDF) beside the store and
shows it in the system viewer; Report… and Export… ask where to write it (:mod:`session_files`);
Notes and pain… edits its notes and pain-after rating (as ``biofeedback sessions annotate``);
Delete… removes it (one copy of a bundle conflict, marked "conflict copy" in the list) after a
question naming it, as ``biofeedback sessions delete`` does.

Delete… can be undone: the row disappears at once, but the store is changed only when the undo
time is over (:data:`UNDO_SECONDS`), another session is deleted, or the dialog closes. Until
then Undo brings the row back and nothing was written; if the app stops or crashes meanwhile,
the session is simply still there (a delete never half happens and never loses a session that
was not meant to go). No trash table or column: the store's schema is unchanged.

With a clinic configured, a source choice at the top shows every station's sessions read from
the clinic instead (:mod:`biofeedback.gui.clinic_history`), read only: no Delete…, no goal.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from biofeedback.errors import StorageError
from biofeedback.gui.clinic_history import ClinicHistory
from biofeedback.gui.session_files import (
    AskPath,
    ExportChoice,
    Opener,
    SessionFileTask,
    export_session_file,
    open_session_report,
    opened_text,
    write_session_report,
)
from biofeedback.gui.theme import PALETTE, color, font
from biofeedback.gui.window_geometry import fit_dialog
from biofeedback.storage import courses
from biofeedback.storage.annotations import NOTES_MAX_CHARS, annotate_session, check_notes
from biofeedback.storage.database import Database, SessionRecord
from biofeedback.storage.progress import (
    ProgressSummary,
    SessionPoint,
    progress_summary,
    subject_trend,
)

log = logging.getLogger(__name__)

NO_SUBJECT = "(sessions without a subject)"

#: Delete… and the goal while History shows the clinic's sessions.
DELETE_AT_CLINIC = (
    "Stations cannot delete sessions at the clinic (only the clinic database's owner can); "
    "choose This computer to delete one of its sessions"
)
GOAL_AT_CLINIC = "Read from the clinic: choose This computer to change the goal and reminder"
#: The weekly goal box while the subject has an open course.
GOAL_BY_COURSE = "Set by the course's prescription (Course > Course…)"
#: Asks whether to delete a session (its label); tests pass their own.
Confirm = Callable[[QWidget, str], bool]

DELETE_TIP = "Delete the chosen session (e.g. one copy of a conflict): asks first"
ANNOTATE_TIP = "Edit the chosen session's notes and pain-after rating"
#: Notes and pain… while History shows the clinic's sessions.
ANNOTATE_AT_CLINIC = "Read from the clinic: choose This computer to edit a session's notes"
#: How long a deleted session can be brought back with Undo (the dialog closing ends it too).
UNDO_SECONDS = 30
#: the daily reminder field's hint (the field is as wide as it)
REMINDER_HINT = "HH:MM, empty for none"
#: The notes column shows this many characters of the first line (the tooltip has them all).
NOTES_COLUMN_CHARS = 40

COLUMNS = [
    "date",
    "protocol",
    "setting",
    "status",
    "min",
    "baseline µV RMS",
    "% below target",
    "recovery s",
    "pain before → after",
    "notes",
]


def _fmt(value: float | None, pattern: str = "{:.1f}") -> str:
    return "–" if value is None or not math.isfinite(value) else pattern.format(value)


def point_row(p: SessionPoint) -> list[str]:
    """One table row for a session."""
    pain = f"{_fmt(p.pain_before, '{:.0f}')} → {_fmt(p.pain_after, '{:.0f}')}"
    return [
        p.date.isoformat(),
        p.protocol or (f"imported {p.imported}" if p.imported else "recording"),
        p.status,
        f"{p.duration_s / 60:.0f}",
        _fmt(p.baseline_uv),
        _fmt(p.pct_below, "{:.0f}"),
        _fmt(p.recovery_s),
        pain,
    ]


def session_cells(p: SessionPoint, record: SessionRecord | None) -> list[str]:
    """The table row of a session: :func:`point_row` with the setting (clinic, home, –) and a
    conflict copy marked in its status ("conflict copy" alone when it is complete)."""
    cells = point_row(p)
    cells.insert(2, (record.setting if record is not None else None) or "–")
    if record is not None and record.conflict_copy_of:  # short: "complete" is the usual status
        cells[3] = "conflict copy" if cells[3] == "complete" else f"{cells[3]}, conflict copy"
    cells.append(notes_cell(record.notes if record is not None else ""))
    return cells


def notes_cell(notes: str) -> str:
    """The notes column: the first line, cut to :data:`NOTES_COLUMN_CHARS` ("…" when cut)."""
    lines = notes.strip().splitlines()
    first = lines[0] if lines else ""
    cut = len(first) > NOTES_COLUMN_CHARS or len(lines) > 1
    return first[:NOTES_COLUMN_CHARS].rstrip() + ("…" if cut else "")


def ask_delete(parent: QWidget, label: str) -> bool:
    """The question before a session is deleted; True for Yes."""
    answer = QMessageBox.question(
        parent,
        "Delete session",
        f"Delete {label}?\n\nIts samples, markers and phases are removed for good; "
        "questionnaires linked to it are kept.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No,
    )
    return answer == QMessageBox.StandardButton.Yes


class AnnotateForm(QDialog):
    """Notes and pain…: a session's notes and its pain-after rating ("not asked" when empty).
    OK checks the notes (:func:`check_notes`) and stays open with the reason when they are
    refused; the caller stores them on ``accepted``."""

    #: The pain box's value that means "not asked" (shown as that text).
    NOT_ASKED = -1.0

    def __init__(self, record: SessionRecord, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Notes and pain: session {record.id}")
        self.notes = QPlainTextEdit(record.notes)
        self.notes.setPlaceholderText(
            f"What happened, what to try next (at most {NOTES_MAX_CHARS} characters)"
        )
        self.pain = QDoubleSpinBox()
        self.pain.setRange(self.NOT_ASKED, 10.0)
        self.pain.setDecimals(1)
        self.pain.setSingleStep(1.0)
        self.pain.setSpecialValueText("not asked")
        self.pain.setValue(self.NOT_ASKED if record.pain_after is None else record.pain_after)
        self.pain.setToolTip("Pain after the session, 0 (none) to 10; 'not asked' when empty")
        self.error = QLabel()
        self.error.setObjectName("muted")
        self.error.setWordWrap(True)
        box = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow(QLabel(record.label()))
        form.addRow("Notes", self.notes)
        form.addRow("Pain after", self.pain)
        form.addRow(self.error)
        form.addRow(box)

    def pain_after(self) -> float | None:
        """The rating chosen, None for "not asked"."""
        value = self.pain.value()
        return None if value < 0 else value

    def accept(self) -> None:
        try:
            check_notes(self.notes.toPlainText())
        except StorageError as exc:
            self.error.setText(str(exc))
            return
        super().accept()


def streak_part(summary: ProgressSummary) -> str:
    """ "3-day practice streak (longest 5)." """
    return (
        f"{summary.current_streak_days}-day practice streak "
        f"(longest {summary.longest_streak_days})."
    )


def course_week_text(db: Database, subject: str, today: dt.date) -> str | None:
    """ "Home practice: 4 of 5 this week" from the open course's adherence (as the course
    dialog says it); None without an open course."""
    course = courses.open_course(db, subject)
    if course is None:
        return None
    return f"Home practice: {courses.adherence(db, course, today).this_week_text()}"


def streak_text(summary: ProgressSummary) -> str:
    """ "3-day practice streak (longest 5). This week: 2 of 3 sessions." """
    parts = [
        f"{summary.current_streak_days}-day practice streak "
        f"(longest {summary.longest_streak_days})."
    ]
    week = summary.this_week
    if week.goal:
        done = "goal reached" if week.met else f"{week.remaining} to go"
        parts.append(f"This week: {week.sessions} of {week.goal} sessions ({done}).")
    else:
        parts.append(f"This week: {week.sessions} session{'s' if week.sessions != 1 else ''}.")
    return " ".join(parts)


class TrendPlot(pg.PlotWidget):
    """One measure across sessions (points joined by a line), x = session number."""

    def __init__(self, title: str, unit: str, parent: QWidget | None = None) -> None:
        super().__init__(parent=parent, background=PALETTE.panel)
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.setTitle(title, color=PALETTE.text, size="11pt")
        self.setLabel("left", unit)
        self.setLabel("bottom", "session")
        self.setMinimumHeight(150)
        self.curve = self.plot(
            pen=pg.mkPen(color(PALETTE.envelope_trace), width=2),
            symbol="o",
            symbolSize=7,
            symbolBrush=color(PALETTE.calm),
            symbolPen=None,
        )
        #: "no data" in the middle, axes hidden, while no session has a value (as the course
        #: report draws an empty plot)
        self.empty_label = pg.TextItem("no data", color=PALETTE.text_muted, anchor=(0.5, 0.5))
        self.empty_label.setPos(0.5, 0.5)
        self.addItem(self.empty_label, ignoreBounds=True)

    def set_values(self, values: list[float | None]) -> int:
        """Plot the sessions that have a value; returns how many."""
        x = np.array([i + 1 for i, v in enumerate(values) if v is not None], dtype=float)
        y = np.array([v for v in values if v is not None], dtype=float)
        self.curve.setData(x, y)
        empty = not len(x)
        self.empty_label.setVisible(empty)
        for axis in ("left", "bottom"):
            self.getPlotItem().showAxis(axis, not empty)
        if empty:
            self.setXRange(0, 1, padding=0)
            self.setYRange(0, 1, padding=0)
        else:
            self.setXRange(0.5, max(len(values), 2) + 0.5, padding=0)
            # whole sessions only (no "session 2.5" on a wide plot), about ten ticks at most
            step = max(1, math.ceil(len(values) / 10))
            self.getAxis("bottom").setTickSpacing(major=step, minor=step)
            top = float(np.nanmax(y))
            self.setYRange(0, max(top * 1.15, 1e-3), padding=0)
        return len(x)


class HistoryDialog(QDialog):
    """Trends, streak, weekly goal and the list of sessions for one subject."""

    def __init__(
        self,
        subject: str = "",
        db_path: str | None = None,
        today: dt.date | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("History and progress")
        self.today = today
        self.db_path: str | Path | None = db_path
        self.db = self.local_db = Database(db_path)
        self.local_path = db_path
        #: True while the dialog shows the clinic's sessions (its cache), not this computer's
        self.from_clinic = False
        self.closed = False
        top = self._build_subject_box(subject)
        self.headline = QLabel()
        self.headline.setFont(font(14, bold=True))
        self.headline.setWordWrap(True)
        self.trends = QLabel()
        self.trends.setWordWrap(True)
        self.message = QLabel()
        self.message.setObjectName("muted")
        self.message.setWordWrap(True)  # a clinic's error line is long: the dialog keeps its width
        self.baseline_plot = TrendPlot("Resting tension (baseline)", "µV RMS")
        self.below_plot = TrendPlot("Time below target in training", "%")
        self.recovery_plot = TrendPlot("Recovery after a contraction", "s")
        plots = QHBoxLayout()
        for plot in (self.baseline_plot, self.below_plot, self.recovery_plot):
            plots.addWidget(plot)
        session_row = self._build_session_list()
        goal_row = self._build_goal_row()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.headline)
        layout.addWidget(self.trends)
        layout.addLayout(plots, 1)
        layout.addWidget(self.table, 1)
        layout.addLayout(session_row)
        layout.addLayout(goal_row)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        fit_dialog(self)  # whole on a 1366x768 laptop, roomier on a larger screen
        self.summary: ProgressSummary | None = None
        self.points: list[SessionPoint] = []
        self.records: dict[int, SessionRecord] = {}
        #: the week's practice from the open course ("Home practice: 4 of 5 this week"), or None
        self.course_week: str | None = None
        self.refresh()

    def _build_subject_box(self, subject: str) -> QHBoxLayout:
        """The top row: the source choice (with a configured clinic) and the subject box."""
        self.subject = QComboBox()
        self._fill_subjects([str(s["id"]) for s in self.db.list_subjects()], subject)
        self.subject.currentIndexChanged.connect(self._subject_chosen)
        self.clinic = ClinicHistory.for_dialog(self)  # None: no clinic configured
        top = QHBoxLayout()
        if self.clinic is not None:
            top.addWidget(QLabel("Sessions from"))
            top.addWidget(self.clinic.source)
        top.addWidget(QLabel("Subject"))
        top.addWidget(self.subject, 1)
        return top

    def _fill_subjects(self, subjects: list[str], subject: str, no_subject: bool = True) -> None:
        """The subject box: ``subjects`` (and ``subject`` first if it is not among them), the
        sessions without a subject last when ``no_subject``; ``subject`` chosen."""
        blocked = self.subject.blockSignals(True)
        self.subject.clear()
        for sid in subjects:
            self.subject.addItem(sid, sid)
        if no_subject:
            self.subject.addItem(NO_SUBJECT, None)
        if subject and subject not in subjects:
            self.subject.insertItem(0, subject, subject)
        index = self.subject.findData(subject) if subject else 0
        self.subject.setCurrentIndex(max(0, index))
        self.subject.blockSignals(blocked)

    def _subject_chosen(self) -> None:
        if self.from_clinic and self.clinic is not None:
            self.clinic.read(self.current_subject())  # then shown from the clinic's cache
        else:
            self.refresh()

    def show_store(
        self,
        db: Database,
        path: str | Path | None,
        subjects: list[str],
        subject: str,
        from_clinic: bool = False,
    ) -> None:
        """Show ``db`` (at ``path``, for Report… and Export…): this computer's store, or the
        clinic's cache (``from_clinic``: read only, its subjects only)."""
        self.purge_deleted()  # its undo ends when another store is shown
        if self.db is not self.local_db:
            self.db.close()
        self.db, self.db_path, self.from_clinic = db, path, from_clinic
        self._fill_subjects(subjects, subject, no_subject=not from_clinic)
        self.delete_button.setToolTip(DELETE_AT_CLINIC if from_clinic else DELETE_TIP)
        self.annotate_button.setToolTip(ANNOTATE_AT_CLINIC if from_clinic else ANNOTATE_TIP)
        self.refresh()

    def show_local(self) -> None:
        """Back to this computer's sessions, of the subject chosen."""
        subjects = [str(s["id"]) for s in self.local_db.list_subjects()]
        self.show_store(self.local_db, self.local_path, subjects, self.current_subject() or "")

    def _build_session_list(self) -> QHBoxLayout:
        """The session table and the row of buttons acting on the chosen session."""
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.open_button = QPushButton("Open report")
        self.open_button.setToolTip(
            "Write the chosen session's clinician report (PDF) and show it in the system viewer"
        )
        self.open_button.clicked.connect(lambda: self.open_report())
        self.report_button = QPushButton("Report…")
        self.report_button.setToolTip(
            "Save the clinician report of the chosen session (PDF or HTML)"
        )
        self.report_button.clicked.connect(lambda: self.write_report())
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip(
            "The chosen session for a spreadsheet, as every sample, or EDF+"
        )
        self.export_button.clicked.connect(lambda: self.export())
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setToolTip(DELETE_TIP)
        self.delete_button.clicked.connect(lambda: self.delete())
        self.annotate_button = QPushButton("Notes and pain…")
        self.annotate_button.setToolTip(ANNOTATE_TIP)
        self.annotate_button.clicked.connect(lambda: self.annotate())
        self.undo_button = QPushButton("Undo delete")
        self.undo_button.setVisible(False)
        self.undo_button.clicked.connect(lambda: self.undo_delete())
        self.task: SessionFileTask | None = None
        self._build_undo()
        from biofeedback.gui.replay_window import replay_chosen

        self.replay_button = QPushButton("Replay…")
        self.replay_button.setToolTip(
            "Play the chosen session back with its own targets: pause, seek, speed, phases"
        )
        self.replay_button.setEnabled(False)
        self.replay_button.clicked.connect(lambda: replay_chosen(self))
        self.table.itemSelectionChanged.connect(
            lambda: self.replay_button.setEnabled(bool(self.table.selectedItems()))
        )
        row = QHBoxLayout()
        row.addWidget(QLabel("Chosen session:"))
        for button in (self.open_button, self.report_button, self.export_button):
            row.addWidget(button)
        row.addWidget(self.replay_button)
        for button in (self.annotate_button, self.delete_button, self.undo_button):
            row.addWidget(button)
        row.addStretch(1)
        return row

    def _build_undo(self) -> None:
        """The deleted session waiting for its undo time to end (None: none)."""
        self.pending_delete: SessionRecord | None = None
        self.undo_timer = QTimer(self)
        self.undo_timer.setSingleShot(True)
        self.undo_timer.setInterval(UNDO_SECONDS * 1000)
        self.undo_timer.timeout.connect(self.purge_deleted)
        #: Open report's viewer (None: the system's); tests set their own
        self.opener: Opener | None = None
        self.annotate_form: AnnotateForm | None = None

    def _build_goal_row(self) -> QHBoxLayout:
        """The weekly goal (or the course's prescription) and the daily reminder."""
        self.goal = QSpinBox()
        self.goal.setRange(0, 14)
        self.goal.setSpecialValueText("no goal")
        self.goal.setSuffix(" sessions / week")
        self.reminder = QLineEdit()
        self.reminder.setPlaceholderText(REMINDER_HINT)
        self.reminder.setToolTip("The time of the daily reminder, e.g. 18:30; empty: no reminder")
        # as wide as its hint, so the format shows whole
        hint_px = self.reminder.fontMetrics().horizontalAdvance(REMINDER_HINT)
        self.reminder.setFixedWidth(hint_px + 24)
        self.save_goal = QPushButton("Save goal and reminder")
        self.save_goal.clicked.connect(self._save_goal)
        self.goal_note = QLabel(GOAL_BY_COURSE)
        self.goal_note.setObjectName("muted")
        goal_form = QFormLayout()
        goal_form.addRow("Weekly goal", self.goal)
        goal_form.addRow("Daily reminder", self.reminder)
        row = QHBoxLayout()
        row.addLayout(goal_form)
        row.addWidget(self.save_goal, alignment=Qt.AlignmentFlag.AlignBottom)
        row.addWidget(self.goal_note, alignment=Qt.AlignmentFlag.AlignBottom)
        row.addStretch(1)
        return row

    def current_subject(self) -> str | None:
        """The chosen subject id (None: sessions without a subject)."""
        return self.subject.currentData()

    def refresh(self) -> None:
        """Reload everything for the chosen subject."""
        subject = self.current_subject()
        today = self.today or dt.date.today()
        hidden = self.pending_delete.id if self.pending_delete is not None else None
        self.records = {r.id: r for r in self.db.list_sessions(subject) if r.id != hidden}
        if subject is None:
            self._show_no_subject()
        else:
            self._show_subject(subject, today)
        self.baseline_plot.set_values([p.baseline_uv for p in self.points])
        self.below_plot.set_values([p.pct_below for p in self.points])
        self.recovery_plot.set_values([p.recovery_s for p in self.points])
        self._goal_read_only()
        self._fill_table()
        self._selection_changed()

    def _show_no_subject(self) -> None:
        self.summary, self.course_week = None, None
        self.points = self._shown(subject_trend(self.db, None))
        self.headline.setText(f"{len(self.points)} sessions without a subject id.")
        self.trends.setText("Give sessions a subject id to follow streaks and goals.")
        for widget in (self.goal, self.reminder, self.save_goal):
            widget.setEnabled(False)
        self.goal_note.setVisible(False)

    def _show_subject(self, subject: str, today: dt.date) -> None:
        self.summary = progress_summary(self.db, subject, today)
        self.course_week = course_week_text(self.db, subject, today)
        self.points = self._shown(self.summary.points)
        n = len(self.points)
        week = streak_text(self.summary)
        if self.course_week is not None:  # the course's count, as the course dialog says it
            week = f"{streak_part(self.summary)} {self.course_week}."
        self.headline.setText(f"{subject}: {n} session{'s' if n != 1 else ''}. {week}")
        self.trends.setText(
            "\n".join(self.summary.trend_text) or "Trends appear after two sessions."
        )
        self.reminder.setEnabled(True)
        self.save_goal.setEnabled(True)
        self.reminder.setText(self.summary.reminder or "")
        by_course = self.course_week is not None
        self.goal.setEnabled(not by_course)
        self.goal.setToolTip(GOAL_BY_COURSE if by_course else "")
        self.goal_note.setVisible(by_course)
        self.save_goal.setText("Save reminder" if by_course else "Save goal and reminder")
        self.goal.setValue(
            self._course_goal(subject, today) if by_course else self.summary.this_week.goal or 0
        )

    def _shown(self, points: list[SessionPoint]) -> list[SessionPoint]:
        """``points`` without the session deleted and waiting for its undo time to end."""
        hidden = self.pending_delete.id if self.pending_delete is not None else None
        return [p for p in points if p.session_id != hidden]

    def _goal_read_only(self) -> None:
        """From the clinic the goal and reminder are shown, not changed (they are this
        computer's)."""
        self.reminder.setToolTip(GOAL_AT_CLINIC if self.from_clinic else "")
        self.save_goal.setToolTip(GOAL_AT_CLINIC if self.from_clinic else "")
        if self.from_clinic:
            for widget in (self.goal, self.reminder, self.save_goal):
                widget.setEnabled(False)
            self.goal.setToolTip(GOAL_AT_CLINIC)

    def _course_goal(self, subject: str, today: dt.date) -> int:
        """Sessions a week the open course prescribes today (0 when none)."""
        course = courses.open_course(self.db, subject)
        rx = course.prescription_on(today) if course is not None else None
        return rx.sessions_per_week if rx is not None else 0

    def _fill_table(self) -> None:
        self.table.setRowCount(len(self.points))
        for r, p in enumerate(reversed(self.points)):  # newest first
            record = self.records.get(p.session_id)
            for c, text in enumerate(session_cells(p, record)):
                item = QTableWidgetItem(text)
                if c >= 4:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                if c == 3 and record is not None and record.conflict_copy_of:
                    item.setForeground(color(PALETTE.tense))
                    item.setToolTip(record.notes or "a bundle's conflict copy")
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()

    def selected_session(self) -> SessionRecord | None:
        """The session of the chosen row (newest first), or None."""
        rows = {i.row() for i in self.table.selectedItems()}
        if len(rows) != 1:
            return None
        point = list(reversed(self.points))[rows.pop()]
        return self.db.get_session(point.session_id)

    def _selection_changed(self) -> None:
        chosen = bool(self.table.selectedItems())
        for button in (self.open_button, self.report_button, self.export_button):
            button.setEnabled(chosen)
        self.delete_button.setEnabled(chosen and not self.from_clinic)
        self.annotate_button.setEnabled(chosen and not self.from_clinic)

    def delete(self, confirm: Confirm | None = None) -> bool:
        """Delete… the chosen session after a question naming it (``confirm``: tests); a session
        still recording is refused. True when it was deleted."""
        try:
            record = self.selected_session()
            if record is None:
                return False
            self.db.recover_interrupted()  # a writer that is gone no longer holds its session
            record = self.db.get_session(record.id)
        except StorageError as exc:  # deleted meanwhile, or the store cannot be read
            self.message.setText(str(exc))
            return False
        label = record.label()
        if record.status == "recording":
            self.message.setText(
                f"Not deleted: {label} is still being recorded; stop the recording first."
            )
            return False
        if not (confirm or ask_delete)(self, label):
            return False
        self.purge_deleted()  # one undo at a time: the previous delete happens now
        self.pending_delete = record
        self.undo_timer.start()
        self.undo_button.setVisible(True)
        self.refresh()
        self.message.setText(
            f"Deleted {label}. Undo delete brings it back within {UNDO_SECONDS} s "
            "(or until this window closes)."
        )
        return True

    def undo_delete(self) -> bool:
        """Undo delete: the session deleted last is shown again (the store was not changed).
        False when there is nothing to undo."""
        record = self.pending_delete
        if record is None:
            return False
        self.undo_timer.stop()
        self.pending_delete = None
        self.undo_button.setVisible(False)
        self.refresh()
        self.message.setText(f"Kept {record.label()}: the delete is undone.")
        return True

    def purge_deleted(self) -> None:
        """Delete the session waiting for its undo time to end from the store (its undo time
        is over, another one is deleted, or the dialog closes)."""
        record = self.pending_delete
        if record is None:
            return
        self.undo_timer.stop()
        self.pending_delete = None
        self.undo_button.setVisible(False)
        try:
            self.local_db.delete_session(record.id)
        except StorageError as exc:  # gone meanwhile, or the store cannot be written
            log.warning("deleting session %s: %s", record.id, exc)
            if not self.closed:
                self.message.setText(str(exc))
            return
        if not self.closed:
            self.message.setText(f"Deleted {record.label()} (no longer undoable).")

    def open_report(self, opener: Opener | None = None) -> SessionFileTask | None:
        """Open report: write the chosen session's report and show it in the system viewer
        (``opener``, else :attr:`opener`, else the system's)."""
        record = self.selected_session()
        if record is None:
            return None
        self.task = open_session_report(
            self, self.db_path, record, self._opened, opener or self.opener
        )
        return self.task

    def _opened(self, path: str, opened: bool) -> None:
        self.message.setText(opened_text(path, opened))

    def annotate(self) -> AnnotateForm | None:
        """Notes and pain…: the form for the chosen session (window-modal, not blocking); OK
        stores the notes and rating and shows them in its row."""
        record = self.selected_session()
        if record is None or self.from_clinic:
            return None
        form = AnnotateForm(record, self)
        form.accepted.connect(lambda: self._store_annotation(record.id, form))
        self.annotate_form = form
        form.open()
        return form

    def _store_annotation(self, session_id: int, form: AnnotateForm) -> None:
        try:
            record = annotate_session(
                self.local_db, session_id, form.notes.toPlainText(), form.pain_after()
            )
        except StorageError as exc:
            self.message.setText(f"Not saved: {exc}")
            return
        self.refresh()
        self._select(session_id)
        self.message.setText(f"Saved the notes and pain-after rating of {record.label()}.")

    def _select(self, session_id: int) -> None:
        """Choose the row of ``session_id`` (when shown)."""
        for row, point in enumerate(reversed(self.points)):
            if point.session_id == session_id:
                self.table.selectRow(row)

    def write_report(self, ask_path: AskPath | None = None) -> SessionFileTask | None:
        """Report… on the chosen session."""
        record = self.selected_session()
        if record is None:
            return None
        self.task = write_session_report(self, self.db_path, record, self._saved, ask_path)
        return self.task

    def export(
        self, choice: ExportChoice | None = None, ask_path: AskPath | None = None
    ) -> SessionFileTask | None:
        """Export… the chosen session."""
        record = self.selected_session()
        if record is None:
            return None
        self.task = export_session_file(self, self.db_path, record, self._saved, choice, ask_path)
        return self.task

    def _saved(self, path: str) -> None:
        self.message.setText(f"Saved {path}")

    def _save_goal(self) -> None:
        subject = self.current_subject()
        if subject is None:
            return
        try:
            if self.course_week is None:  # else the course's prescription sets the goal
                self.db.set_weekly_goal(subject, self.goal.value() or None)
            self.db.set_reminder(subject, self.reminder.text().strip() or None)
        except StorageError as exc:
            self.message.setText(str(exc))
            return
        self.message.setText("Saved.")
        self.refresh()

    def done(self, result: int) -> None:
        self.closed = True
        self.purge_deleted()  # the undo ends with the dialog
        if self.db is not self.local_db:
            self.db.close()
        self.local_db.close()
        super().done(result)
