"""Course templates: a planned series of clinic sessions (one protocol each) and home practice.

A template is data, like a protocol: a TOML file listing the clinic sessions in order (number,
title, protocol) and the home practice between them (protocol, sessions per week, minutes). The
built-in one, ``six-session-back-neck``, lives in ``training/library/courses/``; a course
(another part of the app) refers to a template by name and turns it into a plan and a home-practice
prescription. Every protocol a template names is loaded and validated with it, so a template
that validates can be run. The format is described in docs/protocols.md ("Course templates").
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from biofeedback.core.tomlfile import TomlChecker, TomlKind, parse_toml_text, read_toml_file
from biofeedback.errors import ProtocolFileError
from biofeedback.training.outcome_schedule import DEFAULT_SCHEDULE, OutcomeSchedule, parse_schedule
from biofeedback.training.protocol import Protocol, load_protocol

LIBRARY_PACKAGE = "biofeedback.training"
FORMAT_VERSION = 1
COURSE_FILE = TomlKind(
    what="course template",
    error=ProtocolFileError,
    max_bytes=64 * 1024,
    max_depth=4,
    size_hint="A template lists sessions, not their phases",
    syntax_hint='(text needs quotes, e.g. protocol = "course-2-down-training")',
    depth_hint="sessions hold plain values (see docs/protocols.md)",
)
_TOP_KEYS = (
    "format",
    "name",
    "title",
    "description",
    "weeks_between_sessions",
    "sessions",
    "home_practice",
    "outcomes",
)
_SESSION_KEYS = ("number", "title", "protocol")
_HOME_KEYS = ("protocol", "sessions_per_week", "minutes")


@dataclass(frozen=True)
class TemplateSession:
    """One planned clinic session of a template."""

    number: int
    title: str
    protocol: Protocol

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "number": self.number,
            "title": self.title,
            "protocol": self.protocol.name,
            "duration_s": self.protocol.duration_s,
            "step_phases": sum(1 for p in self.protocol.phases if p.is_step),
        }


@dataclass(frozen=True)
class HomePractice:
    """The home practice between clinic sessions."""

    protocol: Protocol
    sessions_per_week: int
    minutes: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "protocol": self.protocol.name,
            "sessions_per_week": self.sessions_per_week,
            "minutes": self.minutes,
        }


@dataclass(frozen=True)
class CourseTemplate:
    """A validated course template."""

    name: str
    title: str
    description: str
    weeks_between_sessions: int
    sessions: tuple[TemplateSession, ...]
    home_practice: HomePractice | None
    source: str
    #: when the course's questionnaires are due (the ``[outcomes]`` table; default if absent)
    outcomes: OutcomeSchedule = DEFAULT_SCHEDULE

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "weeks_between_sessions": self.weeks_between_sessions,
            "sessions": [s.to_dict() for s in self.sessions],
            "home_practice": self.home_practice.to_dict() if self.home_practice else None,
            "outcomes": self.outcomes.to_dict(),
            "source": self.source,
        }


def template_names() -> list[str]:
    """Names of the built-in course templates, sorted."""
    folder = resources.files(LIBRARY_PACKAGE).joinpath("library", "courses")
    return sorted(e.name[: -len(".toml")] for e in folder.iterdir() if e.name.endswith(".toml"))


def load_template(name_or_path: str | Path) -> CourseTemplate:
    """A built-in template by name, or a template file (its protocols by name or path)."""
    text = str(name_or_path)
    if text in template_names():
        data = resources.files(LIBRARY_PACKAGE).joinpath("library", "courses", f"{text}.toml")
        raw = parse_toml_text(data.read_bytes(), f"{text}.toml", COURSE_FILE)
        return _Parser(f"{text}.toml", None).template(raw, f"builtin:{text}")
    path = Path(text).expanduser()
    if not (path.suffix == ".toml" or path.is_file()):
        raise ProtocolFileError(
            f"unknown course template {text!r}: choose one of {', '.join(template_names())}, "
            "or give the path of a .toml file"
        )
    raw, filename, source = read_toml_file(path, COURSE_FILE)
    return _Parser(filename, path.parent).template(raw, source)


class _Parser(TomlChecker):
    def __init__(self, filename: str, base_dir: Path | None) -> None:
        super().__init__(filename, ProtocolFileError)
        self.base_dir = base_dir

    def template(self, raw: dict[str, Any], source: str) -> CourseTemplate:
        self.check_keys(raw, _TOP_KEYS, "")
        if raw.get("format", FORMAT_VERSION) != FORMAT_VERSION or isinstance(
            raw.get("format"), bool
        ):
            raise self.fail(
                "", f"format {raw['format']!r} is not supported: this version reads format = 1"
            )
        name = self.text(raw, "name", "")
        if not name:
            raise self.fail("", "missing required key 'name' (e.g. name = \"my-course\")")
        sessions_raw = raw.get("sessions")
        if not isinstance(sessions_raw, list) or not sessions_raw:
            raise self.fail("", "sessions must be a non-empty list: write each as [[sessions]]")
        sessions = [self.session(item, i) for i, item in enumerate(sessions_raw, start=1)]
        home = None
        if "home_practice" in raw:
            home = self.home(raw["home_practice"])
        return CourseTemplate(
            name=name,
            title=self.text(raw, "title", "", name),
            description=self.text(raw, "description", ""),
            weeks_between_sessions=self.integer(raw, "weeks_between_sessions", "", 1, 1, 8),
            sessions=tuple(sessions),
            home_practice=home,
            source=source,
            outcomes=self.outcomes(raw.get("outcomes", {})),
        )

    def outcomes(self, value: Any) -> OutcomeSchedule:
        table = self.table(value, "[outcomes]")
        try:
            return parse_schedule(table, "[outcomes]")
        except ProtocolFileError as exc:
            raise self.fail("", str(exc)) from None

    def protocol(self, table: Any, where: str) -> Protocol:
        ref = self.text(table, "protocol", where)
        if not ref:
            raise self.fail(
                where, "missing required key 'protocol' (a protocol name or a .toml file)"
            )
        if ref.endswith(".toml") and self.base_dir is not None and not Path(ref).is_absolute():
            ref = str(self.base_dir / ref)
        try:
            return load_protocol(ref)
        except ProtocolFileError as exc:
            raise self.fail(where, f"protocol {ref!r}: {exc}") from None

    def session(self, item: Any, i: int) -> TemplateSession:
        where = f"session {i}"
        table = self.table(item, where)
        self.check_keys(table, _SESSION_KEYS, where)
        number = self.integer(table, "number", where, i, 1, 52)
        if number != i:
            raise self.fail(where, f"number {number} must be {i}: list the sessions in order")
        title = self.text(table, "title", where)
        return TemplateSession(number, title or f"Session {i}", self.protocol(table, where))

    def home(self, value: Any) -> HomePractice:
        where = "[home_practice]"
        table = self.table(value, where)
        self.check_keys(table, _HOME_KEYS, where)
        return HomePractice(
            protocol=self.protocol(table, where),
            sessions_per_week=self.integer(table, "sessions_per_week", where, 5, 1, 14),
            minutes=self.integer(table, "minutes", where, 10, 1, 120),
        )
