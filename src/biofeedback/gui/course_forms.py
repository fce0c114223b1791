"""The small forms of the course dialog: add or edit a subject, start a course, change the prescription,
edit the details, end the course, choose a questionnaire and its timepoint.

Every form runs its ``submit`` function when OK is pressed. A :class:`BiofeedbackError` it raises
(the store's own checks, the same as the command line's) is shown as one line inside the form,
which stays open with everything typed kept, so the clinician corrects one field and presses OK
again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from PySide6.QtCore import QDate
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from biofeedback.errors import BiofeedbackError
from biofeedback.gui.course_model import TIMEPOINT_CHOICES, protocol_names, template_defaults
from biofeedback.gui.theme import PALETTE
from biofeedback.outcomes.instrument import Instrument
from biofeedback.storage.courses import (
    MAX_MINUTES_PER_SESSION,
    MAX_PLANNED_CLINIC_SESSIONS,
    MAX_SESSIONS_PER_WEEK,
    MIN_MINUTES_PER_SESSION,
    Course,
)
from biofeedback.training.adherence import Prescription


def qdate(day: dt.date) -> QDate:
    return QDate(day.year, day.month, day.day)


def pydate(value: QDate) -> dt.date:
    return dt.date(value.year(), value.month(), value.day())


def date_edit(day: dt.date) -> QDateEdit:
    """A date field with a calendar, written YYYY-MM-DD."""
    edit = QDateEdit(qdate(day))
    edit.setCalendarPopup(True)
    edit.setDisplayFormat("yyyy-MM-dd")
    edit.setMinimumDate(QDate(2000, 1, 1))
    edit.setMaximumDate(QDate(2100, 12, 31))
    return edit


def spin(lo: int, hi: int, value: int, suffix: str = "") -> QSpinBox:
    box = QSpinBox()
    box.setRange(lo, hi)
    box.setValue(value)
    box.setSuffix(suffix)
    return box


#: What the add form says about ids and names.
SUBJECT_ADD_HELP = (
    "A pseudonymous id (e.g. P001: letters, digits, . _ -), not a name. The name is "
    "optional and stays in this data dir: it is never written to exports or reports."
)
#: Why the edit form does not offer to change the id.
SUBJECT_EDIT_HELP = (
    "The id cannot be changed here: the subject's sessions, courses and questionnaires, and "
    "the files already exchanged with the other computer, are filed under it. To use another "
    "id, add a new subject. The name is optional (empty removes it) and stays in this data dir."
)


def notes_edit(text: str = "") -> QPlainTextEdit:
    edit = QPlainTextEdit(text)
    edit.setFixedHeight(64)
    edit.setTabChangesFocus(True)
    return edit


class CourseForm(QDialog):
    """Fields in a form, one error line, OK / Cancel; ``submit(form)`` runs on OK."""

    def __init__(
        self,
        title: str,
        ok_text: str,
        submit: Callable[[Any], None],
        parent: QWidget | None = None,
        intro: str = "",
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.submit = submit
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet(f"color: {PALETTE.lost};")
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText(ok_text)
        buttons.accepted.connect(self.run_submit)
        buttons.rejected.connect(self.reject)
        self.layout_ = QVBoxLayout(self)
        if intro:
            label = QLabel(intro)
            label.setWordWrap(True)
            self.layout_.addWidget(label)
        self.layout_.addLayout(self.form)
        self.layout_.addWidget(self.error)
        self.layout_.addWidget(buttons)
        self.setMinimumWidth(460)

    def run_submit(self) -> None:
        """OK: run ``submit``; an error stays in the form (nothing typed is lost)."""
        try:
            self.submit(self)
        except BiofeedbackError as exc:
            self.error.setText(str(exc))
            return
        self.error.setText("")
        self.accept()


class SubjectForm(CourseForm):
    """A subject: pseudonymous id, optional name, notes. Without ``subject`` it adds a new one;
    with a stored subject's row it edits its name and notes (the id is shown, not editable)."""

    def __init__(
        self,
        submit: Callable[[Any], None],
        parent: QWidget | None = None,
        subject: Mapping[str, Any] | None = None,
    ) -> None:
        editing = subject is not None
        super().__init__(
            f"Edit subject {subject['id']}" if subject is not None else "Add subject",
            "Save" if editing else "Add subject",
            submit,
            parent,
            SUBJECT_EDIT_HELP if editing else SUBJECT_ADD_HELP,
        )
        self.subject_id = QLineEdit(str(subject["id"]) if subject is not None else "")
        self.subject_id.setPlaceholderText("e.g. P001")
        self.subject_id.setReadOnly(editing)
        self.name = QLineEdit(str(subject.get("name") or "") if subject is not None else "")
        self.name.setPlaceholderText("optional")
        self.notes = notes_edit(str(subject.get("notes") or "") if subject is not None else "")
        self.notes.setFixedHeight(96)
        self.form.addRow("Subject id", self.subject_id)
        self.form.addRow("Name", self.name)
        self.form.addRow("Notes", self.notes)
        if editing:
            self.name.setFocus()

    def values(self) -> tuple[str, str, str]:
        """The id, the name ("" for none) and the notes as typed (the store checks them)."""
        return self.subject_id.text().strip(), self.name.text().strip(), self.notes.toPlainText()


class _PrescriptionFields:
    """The home-practice fields shared by the start and change forms."""

    def add_prescription_fields(self, form: QFormLayout, rx: Prescription | None) -> None:
        self.protocols = QLineEdit(", ".join(rx.protocols) if rx else "")
        self.protocols.setPlaceholderText("e.g. course-home-practice (several: comma between)")
        self.per_week = spin(0, MAX_SESSIONS_PER_WEEK, rx.sessions_per_week if rx else 5)
        self.per_week.setSuffix(" sessions / week")
        self.minutes = spin(
            MIN_MINUTES_PER_SESSION,
            MAX_MINUTES_PER_SESSION,
            rx.minutes_per_session if rx else 12,
            " min / session",
        )
        self.has_until = QCheckBox("until")
        self.until = date_edit(rx.until if rx and rx.until else dt.date.today())
        self.has_until.setChecked(bool(rx and rx.until))
        self.until.setEnabled(self.has_until.isChecked())
        self.has_until.toggled.connect(self.until.setEnabled)
        until_row = QHBoxLayout()
        until_row.addWidget(self.has_until)
        until_row.addWidget(self.until, 1)
        until_hint = QLabel("(else as long as the course)")
        until_hint.setObjectName("muted")
        until_row.addWidget(until_hint)
        form.addRow("Protocol(s)", self.protocols)
        form.addRow("Sessions per week", self.per_week)
        form.addRow("Minutes per session", self.minutes)
        form.addRow("Home practice", until_row)

    def fill_prescription(self, rx: Prescription) -> None:
        self.protocols.setText(", ".join(rx.protocols))
        self.per_week.setValue(rx.sessions_per_week)
        self.minutes.setValue(rx.minutes_per_session)
        self.has_until.setChecked(rx.until is not None)
        if rx.until is not None:
            self.until.setDate(qdate(rx.until))

    def prescription(self, valid_from: dt.date) -> Prescription:
        """The prescription the fields say (protocols checked: each must load)."""
        return Prescription(
            valid_from=valid_from,
            sessions_per_week=self.per_week.value(),
            minutes_per_session=self.minutes.value(),
            until=pydate(self.until.date()) if self.has_until.isChecked() else None,
            protocols=protocol_names(self.protocols.text()),
        )


class _DetailFields:
    """The course details shared by the start and details forms (notes added last by each)."""

    def add_detail_fields(self, form: QFormLayout, course: Course | None) -> None:
        self.clinician = QLineEdit(course.clinician if course else "")
        self.muscle = QLineEdit(course.muscle if course else "")
        self.muscle.setPlaceholderText("e.g. upper trapezius")
        self.site = QLineEdit(course.electrode_site if course else "")
        self.site.setPlaceholderText("e.g. C7 left, 2 cm lateral")
        self.planned = spin(
            0, MAX_PLANNED_CLINIC_SESSIONS, (course.planned_clinic_sessions or 0) if course else 0
        )
        self.planned.setSpecialValueText("not set")
        self.notes = notes_edit(course.notes if course else "")
        form.addRow("Clinician", self.clinician)
        form.addRow("Muscle", self.muscle)
        form.addRow("Electrode site", self.site)
        form.addRow("Planned clinic sessions", self.planned)

    def details(self) -> dict[str, Any]:
        """The fields for :func:`biofeedback.storage.courses.edit_course` / ``start_course``."""
        return {
            "clinician": self.clinician.text(),
            "muscle": self.muscle.text(),
            "electrode_site": self.site.text(),
            "notes": self.notes.toPlainText(),
            "planned_clinic_sessions": self.planned.value() or None,
        }


class StartCourseForm(CourseForm, _DetailFields, _PrescriptionFields):
    """Open a course: details, an optional template and the first prescription."""

    def __init__(
        self,
        subject: str,
        templates: list[str],
        submit: Callable[[Any], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(f"Start a course for {subject}", "Start course", submit, parent)
        self.start = date_edit(dt.date.today())
        self.template = QComboBox()
        self.template.addItem("none", "")
        for name in templates:
            self.template.addItem(name, name)
        self.template.currentIndexChanged.connect(self._template_chosen)
        self.form.addRow("Start", self.start)
        self.form.addRow("Template", self.template)
        self.add_detail_fields(self.form, None)
        self.add_prescription_fields(self.form, None)
        self.form.addRow("Notes", self.notes)

    def template_name(self) -> str:
        return str(self.template.currentData() or "")

    def _template_chosen(self) -> None:
        """A template fills the planned sessions and its home practice (still editable)."""
        name = self.template_name()
        if not name:
            return
        try:
            values = template_defaults(name)
        except BiofeedbackError as exc:
            self.error.setText(str(exc))
            return
        self.error.setText("")
        self.planned.setValue(values["planned_clinic_sessions"])
        if "protocols" in values:
            self.protocols.setText(values["protocols"])
            self.per_week.setValue(values["sessions_per_week"])
            self.minutes.setValue(values["minutes"])


class PrescriptionForm(CourseForm, _PrescriptionFields):
    """A dated change of prescription: from a day on, the earlier one still holds before it."""

    def __init__(
        self, course: Course, submit: Callable[[Any], None], parent: QWidget | None = None
    ) -> None:
        super().__init__(
            f"Change the prescription of {course.subject_id}",
            "Change prescription",
            submit,
            parent,
            "The new prescription holds from the day given; earlier weeks are still judged "
            "against the one in force then. A change dated mid-week counts from the next "
            "Monday. A second change on the same day replaces the first.",
        )
        self.course = course
        today = max(dt.date.today(), course.start_date)
        self.valid_from = date_edit(today)
        self.valid_from.setMinimumDate(qdate(course.start_date))
        self.valid_from.dateChanged.connect(self._refill)
        self.form.addRow("From", self.valid_from)
        self.add_prescription_fields(self.form, course.prescription_on(today))

    def _refill(self) -> None:
        rx = self.course.prescription_on(pydate(self.valid_from.date()))
        if rx is not None:
            self.fill_prescription(rx)

    def changes(self) -> dict[str, Any]:
        """The fields for :func:`biofeedback.storage.courses.change_prescription`."""
        rx = self.prescription(pydate(self.valid_from.date()))
        return {
            "sessions_per_week": rx.sessions_per_week,
            "minutes_per_session": rx.minutes_per_session,
            "until": rx.until,
            "protocols": rx.protocols,
        }


class DetailsForm(CourseForm, _DetailFields):
    """The course's clinician, muscle, electrode site, planned clinic sessions and notes."""

    def __init__(
        self, course: Course, submit: Callable[[Any], None], parent: QWidget | None = None
    ) -> None:
        super().__init__(f"Course details of {course.subject_id}", "Save", submit, parent)
        self.add_detail_fields(self.form, course)
        self.form.addRow("Notes", self.notes)


class EndCourseForm(CourseForm):
    """Confirm the end of the open course, on a day."""

    def __init__(
        self, course: Course, submit: Callable[[Any], None], parent: QWidget | None = None
    ) -> None:
        super().__init__(
            f"End the course of {course.subject_id}",
            "End course",
            submit,
            parent,
            f"The course from {course.start_date.isoformat()} is closed on the day below. "
            "Sessions recorded afterwards belong to no course until a new one is started.",
        )
        self.end = date_edit(max(dt.date.today(), course.start_date))
        self.form.addRow("Last day", self.end)

    def end_date(self) -> dt.date:
        return pydate(self.end.date())


class RecordChoiceForm(CourseForm):
    """Which questionnaire, at which point of the course."""

    def __init__(
        self,
        instruments: list[Instrument],
        default_timepoint: Callable[[str], str],
        submit: Callable[[Any], None],
        parent: QWidget | None = None,
        preselect: str = "",
    ) -> None:
        super().__init__("Record a questionnaire", "Ask…", submit, parent)
        self.default_timepoint = default_timepoint
        self.instruments = instruments
        self.instrument = QComboBox()
        for instrument in instruments:
            self.instrument.addItem(f"{instrument.name} ({instrument.id})", instrument.id)
        self.timepoint = QComboBox()
        self.timepoint.setEditable(True)
        self.timepoint.addItems(TIMEPOINT_CHOICES)
        self.timepoint.setToolTip("baseline, session N, end, follow-up or a short label")
        self.instrument.currentIndexChanged.connect(self._suggest)
        self.form.addRow("Questionnaire", self.instrument)
        self.form.addRow("Timepoint", self.timepoint)
        self.instrument.setCurrentIndex(max(self.instrument.findData(preselect), 0))
        self._suggest()

    def _suggest(self) -> None:
        ident = self.instrument.currentData()
        if ident:
            self.timepoint.setCurrentText(self.default_timepoint(str(ident)))

    def chosen(self) -> Instrument:
        ident = self.instrument.currentData()
        return next(i for i in self.instruments if i.id == ident)
