"""Course > Course…: a subject's course of treatment, for the clinician.

One dialog holds what ``biofeedback subjects``, ``course`` and ``outcomes`` do on the command
line: the subject (add one, edit its name and notes, see its notes), the course with its prescription history (start, change the
prescription from a day, edit the details, end), home practice per week against the
prescription, the questionnaires with the change from baseline (record one), and the files
exchanged with the patient's computer (course report, bundle out and in). The rows come from
:mod:`biofeedback.gui.course_model` (no Qt), which reads the store with the same functions as the
commands, so both show the same numbers. A failure is one line in the dialog or in the form that
caused it; the form stays open with what was typed.
"""

from __future__ import annotations

import datetime as dt
import logging
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from biofeedback.errors import BiofeedbackError, StorageError
from biofeedback.gui import course_model as model
from biofeedback.gui.clinician_view import ElidedLabel
from biofeedback.gui.course_forms import (
    CourseForm,
    DetailsForm,
    EndCourseForm,
    PrescriptionForm,
    RecordChoiceForm,
    StartCourseForm,
    SubjectForm,
    pydate,
)
from biofeedback.gui.store_job import StoreJob
from biofeedback.gui.theme import PALETTE, color, font
from biofeedback.storage import courses as store
from biofeedback.storage.database import Database
from biofeedback.storage.outcomes import OutcomeRecord
from biofeedback.training.adherence import (
    INTERRUPTED_MIN_FRACTION,
    MINUTES_MET_FRACTION,
    Adherence,
)
from biofeedback.training.outcome_schedule import DueOutcome

if TYPE_CHECKING:
    from biofeedback.training.course_template import CourseTemplate

log = logging.getLogger(__name__)

REPORT_FILTER = "PDF (*.pdf);;HTML (*.html)"
BUNDLE_FILTER = "Biofeedback bundles (*.bfbundle);;All files (*)"
#: The verdict shown in the calm colour; one saying "worse" is shown in the soft amber.
GOOD_VERDICT = "important improvement"
#: Longest notes shown in the details (all of them in the tooltip).
NOTES_SHOWN_CHARS = 160
#: How long adding or editing a subject waits for a store another program keeps busy (then the
#: form says so and keeps what was typed; the dialog must not freeze for the store's full wait).
SUBJECT_WRITE_WAIT_S = 3.0
#: Width of the lines of the subject notes' tooltip.
NOTES_TOOLTIP_WIDTH = 80


def _table(columns: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(columns)
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
    table.horizontalHeader().setStretchLastSection(True)
    table.setWordWrap(False)
    return table


def _cell(text: str, right: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    if right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    if text in (GOOD_VERDICT, "yes", "in force"):
        item.setForeground(color(PALETTE.calm))
    elif "worse" in text:
        item.setForeground(color(PALETTE.tense))
    return item


def _fill(table: QTableWidget, rows: list[list[str]], right: tuple[int, ...] = ()) -> None:
    """Rows of text into a table; the columns in ``right`` (numbers) right-aligned."""
    table.clearSpans()
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            table.setItem(r, c, _cell(text, c in right))
    _fit_columns(table)


def _fit_columns(table: QTableWidget) -> None:
    """Every column as wide as its contents but the last, which fills what is left of the
    width (stretched; its text elided, whole in its tooltip where it can be long), so that a
    long last cell never pushes the table wider than the dialog."""
    for c in range(table.columnCount() - 1):
        table.resizeColumnToContents(c)


def _short(text: str) -> str:
    """One line of at most :data:`NOTES_SHOWN_CHARS` characters."""
    line = " ".join(text.split())
    return line if len(line) <= NOTES_SHOWN_CHARS else line[: NOTES_SHOWN_CHARS - 1] + "…"


def _notes_tooltip(notes: str) -> str:
    """The whole notes, each paragraph wrapped (a tooltip never one screen-wide line)."""
    return "\n".join(
        textwrap.fill(line, NOTES_TOOLTIP_WIDTH) if line.strip() else ""
        for line in notes.strip().splitlines()
    )


def _button(text: str, slot: Callable[[], Any], tip: str = "") -> QPushButton:
    button = QPushButton(text)
    button.clicked.connect(slot)
    if tip:
        button.setToolTip(tip)
    return button


class CourseDialog(QDialog):
    """The course of one subject: details, prescription, adherence, questionnaires, files."""

    def __init__(
        self,
        subject: str = "",
        db_path: str | Path | None = None,
        today: dt.date | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Course of treatment")
        self.db_path = db_path
        self.db = Database(db_path)
        self.today_fixed = today
        self.course: store.Course | None = None
        self.adherence: Adherence | None = None
        self.outcome_records: list[OutcomeRecord] = []
        self.due: list[DueOutcome] = []
        self.form: CourseForm | None = None
        self.questionnaire: QDialog | None = None
        self.job: StoreJob | None = None  # the last report or bundle task (kept while it runs)
        self.busy = False
        self.closed = False
        self.clinic_sessions = 0
        self.subject = QComboBox()
        self.subject.setMinimumWidth(260)
        self.subject.currentIndexChanged.connect(self._subject_chosen)
        self.subject_notes = ElidedLabel()
        self.subject_notes.setObjectName("muted")
        self.headline = QLabel()
        self.headline.setFont(font(14, bold=True))
        self.headline.setWordWrap(True)
        self.tabs = QTabWidget()
        self.tabs.addTab(self._course_tab(), "Course")
        self.tabs.addTab(self._practice_tab(), "Home practice")
        self.tabs.addTab(self._outcomes_tab(), "Questionnaires")
        self.message = QLabel()
        self.message.setWordWrap(True)
        self._build_layout()
        self._fit_screen()
        self.load_subjects(subject)
        #: the subject asked for when it is not in the store yet (proposed by Add subject…)
        self.proposed = subject if subject and self.current_subject() != subject else ""
        if self.proposed:
            self.show_message(f"{subject} is not a subject here yet: Add subject… adds it.")

    # -- layout ----------------------------------------------------------------------------------
    def _build_layout(self) -> None:
        top = QHBoxLayout()
        top.addWidget(QLabel("Subject"))
        top.addWidget(self.subject, 1)
        self.add_subject_button = _button("Add subject…", self.add_subject)
        self.edit_subject_button = _button(
            "Edit subject…", self.edit_subject, "Change the chosen subject's name and notes"
        )
        top.addWidget(self.add_subject_button)
        top.addWidget(self.edit_subject_button)
        self.thought_records = QCheckBox("Include thought records")
        self.thought_records.setToolTip(
            "The patient's own thought records and reflections are private: off by default"
        )
        self.report_button = _button("Course report…", self.write_report)
        export_label, import_label = model.bundle_labels(None)  # set by the station role
        self.export_button = _button(
            export_label,
            self.export_bundle,
            "Write this subject's course, questionnaires and sessions into one file",
        )
        self.import_button = _button(
            import_label,
            self.import_bundle,
            "Merge a file written by the other computer (clinic or home) into this data dir",
        )
        files = QHBoxLayout()
        for widget in (self.report_button, self.thought_records):
            files.addWidget(widget)
        files.addStretch(1)
        files.addWidget(self.export_button)
        files.addWidget(self.import_button)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.subject_notes)
        layout.addWidget(self.headline)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(files)
        bottom = QHBoxLayout()
        bottom.addWidget(self.message, 1)
        bottom.addWidget(close)
        layout.addLayout(bottom)

    def _course_tab(self) -> QWidget:
        page = QWidget()
        self.details = QFormLayout()
        self.details.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.prescriptions = _table(model.PRESCRIPTION_COLUMNS)
        self.start_button = _button("Start course…", self.start_course)
        self.change_button = _button("Change prescription…", self.change_prescription)
        self.edit_button = _button("Edit details…", self.edit_details)
        self.end_button = _button("End course…", self.end_course)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.change_button, self.edit_button, self.end_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        heading = QLabel("Home-practice prescription, oldest first")
        heading.setObjectName("muted")
        layout = QVBoxLayout(page)
        layout.addLayout(self.details)
        layout.addWidget(heading)
        layout.addWidget(self.prescriptions, 1)
        layout.addLayout(buttons)
        return page

    def _practice_tab(self) -> QWidget:
        page = QWidget()
        self.this_week = QLabel()
        self.this_week.setFont(font(16, bold=True))
        self.streaks = QLabel()
        self.streaks.setWordWrap(True)
        self.adherence_table = _table(model.ADHERENCE_COLUMNS)
        rules = QLabel(
            "Home sessions only, newest week first. Interrupted: counted, and too short to "
            f"count (under {INTERRUPTED_MIN_FRACTION:.0%} of the prescribed minutes). Met: the "
            f"sessions, and {MINUTES_MET_FRACTION:.0%} of the minutes, prescribed for that week."
        )
        rules.setWordWrap(True)
        rules.setObjectName("muted")
        layout = QVBoxLayout(page)
        layout.addWidget(self.this_week)
        layout.addWidget(self.streaks)
        layout.addWidget(self.adherence_table, 1)
        layout.addWidget(rules)
        return page

    def _outcomes_tab(self) -> QWidget:
        page = QWidget()
        self.outcomes_table = _table(model.OUTCOME_COLUMNS)
        self.due_label = QLabel()
        self.due_label.setWordWrap(True)
        self.record_button = _button("Record questionnaire…", self.record_questionnaire)
        note = QLabel(
            "Change from baseline (the first questionnaire labelled baseline) with the "
            "instrument's threshold of an important change, as 'biofeedback outcomes show'."
        )
        note.setWordWrap(True)
        note.setObjectName("muted")
        row = QHBoxLayout()
        row.addWidget(self.record_button)
        row.addWidget(self.due_label, 1)
        layout = QVBoxLayout(page)
        layout.addWidget(self.outcomes_table, 1)
        layout.addWidget(note)
        layout.addLayout(row)
        return page

    def _fit_screen(self) -> None:
        """About 1040 x 680, never larger than the screen (a 1366 x 768 laptop)."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        area = screen.availableGeometry() if screen is not None else None
        width, height = 1040, 680
        if area is not None:
            width, height = min(width, area.width() - 40), min(height, area.height() - 60)
        self.resize(width, height)

    # -- reading ---------------------------------------------------------------------------------
    @property
    def today(self) -> dt.date:
        return self.today_fixed or dt.date.today()

    def current_subject(self) -> str:
        return str(self.subject.currentData() or "")

    def load_subjects(self, select: str = "") -> None:
        """Fill the subject list from the store and choose ``select`` (else keep the choice)."""
        wanted = select or self.current_subject()
        self.subject.blockSignals(True)
        self.subject.clear()
        for row in self.db.list_subjects():
            self.subject.addItem(model.subject_label(row), str(row["id"]))
        index = self.subject.findData(wanted) if wanted else -1
        self.subject.setCurrentIndex(max(index, 0) if self.subject.count() else -1)
        self.subject.blockSignals(False)
        self.refresh()

    def _subject_chosen(self) -> None:
        self.show_message("")  # what was said was about the subject before
        self.refresh()

    def refresh(self) -> None:
        """Reload the chosen subject's course, adherence and questionnaires."""
        subject = self.current_subject()
        try:
            self._load(subject)
        except BiofeedbackError as exc:
            self.show_message(str(exc), error=True)
            self.course = None
        self._show_subject_notes(subject)
        self._show_course(subject)
        self._show_practice()
        self._show_outcomes()
        self._enable()

    def _load(self, subject: str) -> None:
        from biofeedback.storage.outcomes import list_outcomes

        self.course, self.adherence, self.outcome_records, self.due = None, None, [], []
        if not subject:
            return
        courses = store.list_courses(self.db, subject)
        self.course = store.open_course(self.db, subject) or (courses[-1] if courses else None)
        if self.course is not None:
            self.adherence = store.adherence(self.db, self.course, self.today)
            self.clinic_sessions = model.clinic_done(store.course_sessions(self.db, self.course.id))
        self.outcome_records = list_outcomes(self.db, subject)
        self.due = self._due(subject)

    def _due(self, subject: str) -> list[DueOutcome]:
        """What the course's schedule asks at the next clinic session (none when it cannot
        say: the reason is logged, the rest of the dialog still shows)."""
        try:
            return store.due_outcomes(
                self.db, subject, "session-start", self.today, setting="clinic"
            )
        except BiofeedbackError as exc:
            log.warning("questionnaires due for %s not known: %s", subject, exc)
            return []

    def _show_subject_notes(self, subject: str) -> None:
        """The chosen subject's notes on one line (elided; the whole notes in the tooltip)."""
        row = self.db.get_subject(subject) if subject else None
        notes = str((row or {}).get("notes") or "").strip()
        self.subject_notes.setVisible(row is not None)
        if not notes:
            self.subject_notes.setText("Notes: none (Edit subject… adds them)")
            self.subject_notes.setToolTip("")
            return
        self.subject_notes.setText("Notes: " + " ".join(notes.split()))
        self.subject_notes.setToolTip(_notes_tooltip(notes))

    def _show_course(self, subject: str) -> None:
        while self.details.rowCount():
            self.details.removeRow(0)
        if not subject:
            self.headline.setText("No subjects yet: add one with “Add subject…”.")
        else:
            self.headline.setText(model.headline(subject, self.course, self.adherence))
        if self.course is None:
            self.prescriptions.setRowCount(0)
            return
        for label, value in model.course_details(self.course, self.clinic_sessions, self.today):
            text = QLabel(_short(value))
            if text.text() != value:
                text.setToolTip(value)
            text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.details.addRow(label, text)
        _fill(self.prescriptions, model.prescription_rows(self.course, self.today), (1, 2))

    def _show_practice(self) -> None:
        result = self.adherence
        if result is None:
            self.this_week.setText("No course: home practice is counted within a course.")
            self.streaks.setText("")
            self.adherence_table.setRowCount(0)
            return
        state = "" if self.course is None or self.course.is_open else " (the course has ended)"
        self.this_week.setText(f"Home practice: {result.this_week_text()}{state}")
        self.streaks.setText(f"Streaks: {model.streak_text(result)}")
        _fill(self.adherence_table, model.adherence_rows(result), (2, 3, 4, 6))

    def _show_outcomes(self) -> None:
        table = self.outcomes_table
        table.clearSpans()
        table.setRowCount(0)
        groups = model.outcome_groups(self.outcome_records, model.instrument_loader())
        empty = "No questionnaires yet. " if self.current_subject() and not groups else ""
        self.due_label.setText(empty + model.due_text(self.due))
        for title, rows in groups:
            header = table.rowCount()
            table.insertRow(header)
            item = QTableWidgetItem(title)
            item.setFont(font(12, bold=True))
            table.setItem(header, 0, item)
            table.setSpan(header, 0, 1, table.columnCount())
            for row in rows:
                self._outcome_row(row)
        _fit_columns(table)

    def _outcome_row(self, row: model.OutcomeRow) -> None:
        table = self.outcomes_table
        r = table.rowCount()
        table.insertRow(r)
        note = row.cells[model.NOTE_COLUMN]
        for c, text in enumerate(row.cells):
            item = _cell(text, c in (3, 4))
            if note and c in (3, model.NOTE_COLUMN):  # the value and its note (elided there)
                item.setToolTip(note)
            table.setItem(r, c, item)

    def _enable(self) -> None:
        has_subject = bool(self.current_subject())
        self.edit_subject_button.setEnabled(has_subject)
        is_open = self.course is not None and self.course.is_open
        busy = self.busy  # a report or bundle is being written or read
        self.start_button.setEnabled(has_subject and not is_open)
        for b in (self.change_button, self.edit_button, self.end_button):
            b.setEnabled(is_open)
        self.record_button.setEnabled(has_subject)
        self.report_button.setEnabled(self.course is not None and not busy)
        self.export_button.setEnabled(has_subject and not busy)
        self.import_button.setEnabled(not busy)
        export_label, import_label = model.bundle_labels(store.station_role(self.db))
        self.export_button.setText(export_label)
        self.import_button.setText(import_label)

    def show_message(self, text: str, error: bool = False) -> None:
        """One line under the tabs (errors in the alert colour)."""
        colour = PALETTE.lost if error else PALETTE.text_muted
        self.message.setStyleSheet(f"color: {colour};")
        self.message.setText(text)

    # -- forms -----------------------------------------------------------------------------------
    def _open_form(self, form: CourseForm) -> CourseForm:
        self.form = form
        form.open()
        return form

    def add_subject(self) -> CourseForm:
        """Add subject…: the same checks as ``biofeedback subjects add``."""
        form = SubjectForm(self._add_subject, self)
        form.subject_id.setText(self.proposed)
        return self._open_form(form)

    def _add_subject(self, form: SubjectForm) -> None:
        subject, name, notes = form.values()
        # the window's words for a taken id, not the CLI's
        if subject and self.db.get_subject(subject) is not None:
            raise StorageError(
                f"subject {subject} exists already: choose it in the Subject list, then "
                "Edit subject… changes its name and notes"
            )
        with self.db.short_busy_wait(SUBJECT_WRITE_WAIT_S):
            subject = self.db.add_subject(subject, name or None, notes)
        self.proposed = ""
        self.load_subjects(subject)
        self.show_message(f"Added subject {subject}.")

    def edit_subject(self) -> CourseForm | None:
        """Edit subject…: the chosen subject's name and notes (as ``subjects edit``)."""
        subject = self.current_subject()
        row = self.db.get_subject(subject) if subject else None
        if row is None:
            return None
        return self._open_form(SubjectForm(self._edit_subject, self, subject=row))

    def _edit_subject(self, form: SubjectForm) -> None:
        subject, name, notes = form.values()
        with self.db.short_busy_wait(SUBJECT_WRITE_WAIT_S):
            self.db.edit_subject(subject, name, notes)
        self.load_subjects(subject)
        self.show_message(f"Saved subject {subject}.")

    def start_course(self) -> CourseForm | None:
        """Start course…: details, a template, the first prescription."""
        from biofeedback.training.course_template import template_names

        subject = self.current_subject()
        if not subject:
            return None
        return self._open_form(StartCourseForm(subject, template_names(), self._start, self))

    def _start(self, form: StartCourseForm) -> None:
        start = pydate(form.start.date())
        template = self._template(form.template_name())
        details = form.details()
        store.start_course(
            self.db,
            self.current_subject(),
            start,
            form.prescription(start),
            template=template.name if template is not None else "",
            outcome_schedule=template.outcomes if template is not None else None,
            **details,
        )
        note = ""
        if store.station_role(self.db) is None:  # as 'course start': this is the clinic
            store.set_station_role(self.db, "clinic")
            note = " This data dir now records clinic sessions by default."
        self.refresh()
        self.show_message(f"Started the course of {self.current_subject()} on {start}.{note}")

    @staticmethod
    def _template(name: str) -> CourseTemplate | None:
        """The chosen template with every instrument of its schedule checked, or None."""
        if not name:
            return None
        from biofeedback.outcomes.instrument import load_instrument
        from biofeedback.training.course_template import load_template

        template = load_template(name)
        for instrument in template.outcomes.instruments():
            load_instrument(instrument)
        return template

    def change_prescription(self) -> CourseForm | None:
        """Change prescription…: dated, from a day on."""
        if self.course is None or not self.course.is_open:
            return None
        return self._open_form(PrescriptionForm(self.course, self._change, self))

    def _change(self, form: PrescriptionForm) -> None:
        assert self.course is not None
        day = pydate(form.valid_from.date())
        rx = store.change_prescription(self.db, self.course, day, form.changes())
        self.refresh()
        self.show_message(f"Prescription from {rx.valid_from}: {model.rx_text(rx)}.")

    def edit_details(self) -> CourseForm | None:
        """Edit details…: clinician, muscle, site, planned clinic sessions, notes."""
        if self.course is None or not self.course.is_open:
            return None
        return self._open_form(DetailsForm(self.course, self._edit, self))

    def _edit(self, form: DetailsForm) -> None:
        assert self.course is not None
        store.edit_course(self.db, self.course, form.details())
        self.refresh()
        self.show_message("Course details saved.")

    def end_course(self) -> CourseForm | None:
        """End course…: asks for the last day first."""
        if self.course is None or not self.course.is_open:
            return None
        return self._open_form(EndCourseForm(self.course, self._end, self))

    def _end(self, form: EndCourseForm) -> None:
        course = store.end_course(self.db, self.current_subject(), form.end_date())
        self.refresh()
        self.show_message(f"Ended the course of {course.subject_id} on {course.end_date}.")

    # -- questionnaires --------------------------------------------------------------------------
    def record_questionnaire(self) -> CourseForm | None:
        """Record questionnaire…: choose the instrument and timepoint, then ask it."""
        from biofeedback.errors import InstrumentFileError
        from biofeedback.outcomes.instrument import list_instruments

        if not self.current_subject():
            return None
        errors: list[InstrumentFileError] = []
        instruments = list_instruments(errors)
        if errors:
            self.show_message(f"Left out: {errors[0]}", error=True)
        done = self.clinic_sessions if self.course is not None else 0
        return self._open_form(
            RecordChoiceForm(
                instruments,
                lambda ident: model.next_timepoint(self.outcome_records, ident, done, self.due),
                self._ask,
                self,
                preselect=self.due[0].instrument if self.due else "",
            )
        )

    def _ask(self, form: RecordChoiceForm) -> None:
        from biofeedback.outcomes.results import normalize_timepoint

        text = form.timepoint.currentText()
        timepoint = normalize_timepoint(text) if text.strip() else ""
        instrument = form.chosen()
        form.accepted.connect(lambda: self.ask(instrument, timepoint))

    def ask(self, instrument: Any, timepoint: str) -> QDialog:
        """The questionnaire, one item per screen (:mod:`biofeedback.gui.questionnaire`); the
        answers are stored when the last item is answered, nothing when it is cancelled."""
        from biofeedback.gui.questionnaire import QuestionnaireDialog

        dialog = QuestionnaireDialog(instrument, self)
        dialog.setWindowTitle(f"{instrument.name} – {timepoint or 'no timepoint'}")
        dialog.accepted.connect(lambda: self._store_answers(dialog, instrument, timepoint))
        self.questionnaire = dialog
        dialog.open()
        return dialog

    def _store_answers(self, dialog: Any, instrument: Any, timepoint: str) -> None:
        subject = self.current_subject()
        if dialog.outcome is None or self.closed:
            return
        try:
            record_id = model.store_questionnaire(
                self.db, subject, instrument, dialog.outcome[0], timepoint
            )
        except BiofeedbackError as exc:
            self.show_message(f"{instrument.name} was not stored: {exc}", error=True)
            return
        self.refresh()
        self.tabs.setCurrentIndex(2)
        label = f" ({timepoint})" if timepoint else ""
        self.show_message(
            f"Stored questionnaire {record_id}: {instrument.id}{label} for {subject}."
        )

    # -- files -----------------------------------------------------------------------------------
    def _run(self, what: str, work: Callable[..., Any], done: Callable[[Any], None]) -> None:
        """Run a store task on a worker thread; the dialog stays responsive meanwhile (one at a
        time: the file buttons wait until it is done)."""
        if self.busy:
            return
        job = StoreJob(self.db_path, work, name=what.lower())
        job.done.connect(lambda result: self._job_done(done, result))
        job.failed.connect(lambda text: self._job_failed(text))
        job.progressed.connect(lambda n, total: self.show_message(f"{what}: {n:g} of {total:g}"))
        self.job, self.busy = job, True
        self.show_message(f"{what}…")
        self._enable()
        job.start()

    def _job_done(self, done: Callable[[Any], None], result: Any) -> None:
        self.busy = False
        if self.closed:
            return
        self._enable()
        done(result)

    def _job_failed(self, text: str) -> None:
        self.busy = False
        if self.closed:
            return
        self._enable()
        self.show_message(text, error=True)

    def write_report(self) -> None:
        """Course report…: PDF or HTML (by the suffix), thought records only when ticked."""
        subject = self.current_subject()
        if self.course is None:
            return
        name = f"{subject}-course-{self.today.isoformat()}.pdf"
        path, chosen = QFileDialog.getSaveFileName(self, "Course report", name, REPORT_FILTER)
        if not path:
            return
        if Path(path).suffix.lower() not in (".pdf", ".html"):
            path += ".html" if chosen.startswith("HTML") else ".pdf"
        thoughts = self.thought_records.isChecked()
        course_id = self.course.id

        def work(db: Database, _progress: Any) -> Path:
            from biofeedback.reports.course import write_course_report

            return write_course_report(
                db, subject, path, thought_records=thoughts, course_id=course_id
            )

        self._run("Writing the course report", work, lambda p: self.show_message(f"Wrote {p}."))

    def export_bundle(self) -> None:
        """Send to clinician… (Send to patient… at a clinic): one file with this subject's course,
        questionnaires, sessions."""
        subject = self.current_subject()
        if not subject:
            return
        name = f"{subject}-{self.today.isoformat()}.bfbundle"
        title = self.export_button.text().rstrip("…")
        path, _ = QFileDialog.getSaveFileName(self, title, name, BUNDLE_FILTER)
        if not path:
            return

        def work(db: Database, progress: Callable[[int, int], None]) -> Any:
            from biofeedback.storage.bundle import export_bundle

            return export_bundle(db, subject, path, progress=progress)

        self._run(
            "Writing the file",
            work,
            lambda info: self.show_message(f"Wrote {info.path}: {info.text()}"),
        )

    def import_bundle(self, path: str | None = None) -> None:
        """Import from patient… (Import from clinic… at home): the file's contents are shown
        first; Yes merges them."""
        from biofeedback.storage.bundle import read_bundle_info

        title = self.import_button.text().rstrip("…")
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, title, "", BUNDLE_FILTER)
        if not path:
            return
        try:
            info = read_bundle_info(path)
        except BiofeedbackError as exc:
            self.show_message(str(exc), error=True)
            return
        answer = QMessageBox.question(
            self, title, f"{info.text()}\n\nImport it into this data dir?"
        )
        if answer != QMessageBox.StandardButton.Yes:
            return

        def work(db: Database, progress: Callable[[int, int], None]) -> Any:
            from biofeedback.storage.bundle import import_bundle

            return import_bundle(db, path, progress=progress)

        self._run("Importing", work, self._imported)

    def _imported(self, result: Any) -> None:
        self.load_subjects(result.subject_id)
        self.show_message(result.text())

    def done(self, result: int) -> None:
        self.closed = True
        self.db.close()
        super().done(result)


def station_bundle_labels(db_path: str | Path | None) -> tuple[str, str]:
    """The Course menu's bundle entries by the data dir's station role (as the dialog's buttons,
    :func:`course_model.bundle_labels`); creates no store where there is none."""
    from biofeedback.storage.database import existing_database_path

    try:
        with Database(existing_database_path(db_path)) as db:
            return model.bundle_labels(store.station_role(db))
    except BiofeedbackError as exc:  # no store yet, or one that cannot be read: the default
        log.info("station role not read: %s", exc)
        return model.bundle_labels(None)


def open_course_dialog(
    parent: QWidget, db_path: str | Path | None, subject: str = ""
) -> CourseDialog:
    """Show the course dialog, with ``subject`` chosen when it is in the store."""
    dialog = CourseDialog(subject, db_path, parent=parent)
    dialog.show()
    return dialog
