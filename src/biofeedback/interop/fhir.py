"""One subject's course as an HL7 FHIR R4 Bundle (JSON), for a clinic's record system.

The Bundle (type ``collection``) holds a pseudonymous Patient (our subject id as an identifier,
never the name), the instruments answered as Questionnaires, one QuestionnaireResponse per stored
questionnaire, Observations derived from them (every score; every pain-nrs item as a LOINC
72514-3 pain rating), and per session one summary Observation (resting and training uV RMS,
% below target, recovery time, % excluded, setting) plus its pain before/after ratings. Values
come from the store only (:func:`biofeedback.storage.progress.session_point` for the session
measures), so they are the numbers the course report shows. What the patient wrote in thought
records and reflections (``summary["responses"]``) is never exported.

Resource ids are UUIDs derived from our stable uids (sessions, questionnaires) and the subject
id, so exporting twice gives the same ids; only ``Bundle.timestamp`` differs. This module builds
plain JSON with the standard library; the tests validate it with the ``fhir.resources`` models.
The code systems and URIs are described in docs/fhir.md.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from biofeedback.errors import InstrumentFileError, StorageError
from biofeedback.outcomes.instrument import Instrument, Item, Response, load_instrument
from biofeedback.outcomes.scoring import item_text
from biofeedback.reports.course_data import course_outcomes
from biofeedback.storage.courses import course_sessions, list_courses
from biofeedback.storage.database import Database, SessionRecord, utc_offset_minutes
from biofeedback.storage.outcomes import OutcomeRecord, list_outcomes
from biofeedback.storage.progress import SessionPoint, session_point
from biofeedback.storage.safe_output import open_output

#: The project's namespace for its identifiers and code systems (under the project's own home).
BASE = "https://github.com/biofeedback-developers/biofeedback/fhir"
SUBJECT_SYSTEM = f"{BASE}/subject-id"
SESSION_SYSTEM = f"{BASE}/session-uid"
OUTCOME_SYSTEM = f"{BASE}/outcome-uid"
MEASURE_SYSTEM = f"{BASE}/CodeSystem/session-measure"
SETTING_SYSTEM = f"{BASE}/CodeSystem/setting"
ITEM_SYSTEM = f"{BASE}/CodeSystem/outcome-item"
SCORE_SYSTEM = f"{BASE}/CodeSystem/outcome-score"
QUESTIONNAIRE_BASE = f"{BASE}/Questionnaire/"
TIMEPOINT_EXTENSION = f"{BASE}/StructureDefinition/timepoint"

LOINC = "http://loinc.org"
PAIN_LOINC = "72514-3"
PAIN_LOINC_DISPLAY = "Pain severity - 0-10 verbal numeric rating [Score] - Reported"
UCUM = "http://unitsofmeasure.org"
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
ABSENT_SYSTEM = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
SECURITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
#: The instrument whose items are pain ratings on 0-10 (LOINC 72514-3).
PAIN_INSTRUMENT = "pain-nrs"

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, BASE)

#: The session measures: code -> (display, SessionPoint attribute or "training_uv", UCUM unit).
SESSION_MEASURES: dict[str, tuple[str, str, str]] = {
    "resting-uv": ("Resting (baseline) surface EMG", "baseline_uv", "uV"),
    "training-uv": ("Surface EMG during training", "training_uv", "uV"),
    "pct-below-target": ("Time below the target during training", "pct_below", "%"),
    "recovery-time": ("Recovery time after a contraction", "recovery_s", "s"),
    "pct-excluded": ("Samples excluded as artefact or gap", "pct_excluded", "%"),
}

Resource = dict[str, Any]


@dataclass(frozen=True)
class FhirExport:
    """What ``fhir export`` wrote: the file and the number of resources of each type."""

    path: Path
    subject_id: str
    counts: dict[str, int] = field(default_factory=dict)

    def text(self) -> str:
        parts = ", ".join(f"{n} {kind}" for kind, n in self.counts.items())
        return f"Wrote {self.path} ({self.subject_id}: {parts})"

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "subject_id": self.subject_id, "counts": self.counts}


def resource_id(*parts: str) -> str:
    """A resource id that is the same in every export: a UUID from our own stable names."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


def fhir_time(when: float, offset_min: int | None = None) -> str:
    """A FHIR dateTime with its UTC offset, to the second (this machine's offset when the
    recording machine's is not known)."""
    offset = utc_offset_minutes(when) if offset_min is None else int(offset_min)
    zone = dt.timezone(dt.timedelta(minutes=offset))
    return dt.datetime.fromtimestamp(math.floor(when), zone).isoformat()


def training_uv(phases: Sequence[dict[str, Any]]) -> float | None:
    """The training level: the median of the train phases' median uV RMS (None without one)."""
    values = sorted(
        float(v)
        for p in phases
        if p.get("kind") == "train"
        and isinstance(v := p.get("median_uv"), int | float)
        and not isinstance(v, bool)
        and math.isfinite(v)
    )
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else 0.5 * (values[mid - 1] + values[mid])


def _ref(resource: Resource) -> dict[str, str]:
    return {"reference": f"urn:uuid:{resource['id']}"}


def _coding(system: str, code: str, display: str = "") -> dict[str, str]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def _category(code: str, display: str) -> list[dict[str, Any]]:
    return [{"coding": [_coding(CATEGORY_SYSTEM, code, display)]}]


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": _number(value), "unit": unit, "system": UCUM, "code": unit}


def patient(subject_id: str) -> Resource:
    """The pseudonymous Patient: our subject id as identifier, nothing else about the person."""
    return {
        "resourceType": "Patient",
        "id": resource_id("patient", subject_id),
        "meta": {"security": [_coding(SECURITY_SYSTEM, "PSEUDED", "pseudonymized")]},
        "identifier": [{"use": "usual", "system": SUBJECT_SYSTEM, "value": subject_id}],
    }


class _Instruments:
    """The instruments of the stored questionnaires, loaded once (None: not found here)."""

    def __init__(self) -> None:
        self._cache: dict[str, Instrument | None] = {}

    def get(self, record: OutcomeRecord) -> Instrument | None:
        if record.instrument not in self._cache:
            try:
                self._cache[record.instrument] = load_instrument(record.instrument)
            except InstrumentFileError:
                self._cache[record.instrument] = None
        found = self._cache[record.instrument]
        # another version's wording or choices would not describe these answers
        return found if found and found.version == record.instrument_version else None


def _choice(instrument_id: str, item: Item, value: float) -> dict[str, str]:
    """A choice as a Coding: its value as the code, its label as the display."""
    system = f"{BASE}/CodeSystem/{instrument_id}/{item.id}"
    return _coding(system, f"{value:g}", item.label_of(value))


def _whole(*values: float) -> bool:
    return all(float(v).is_integer() for v in values)


def _question(instrument: Instrument, item: Item) -> dict[str, Any]:
    """One item of a Questionnaire: its type, scale limits or choices, and when it is asked."""
    out: dict[str, Any] = {"linkId": item.id, "text": item.text}
    if item.response == Response.TEXT:
        out["type"] = "string"
    elif item.response == Response.CHOICE:
        out["type"] = "choice"
        out["answerOption"] = [
            {"valueCoding": _choice(instrument.id, item, c.value)} for c in item.choices
        ]
    else:
        whole = _whole(item.minimum, item.maximum, item.step)
        out["type"] = "integer" if whole else "decimal"
        kind = "valueInteger" if whole else "valueDecimal"
        out["extension"] = [
            {"url": f"http://hl7.org/fhir/StructureDefinition/{name}", kind: _number(limit)}
            for name, limit in (("minValue", item.minimum), ("maxValue", item.maximum))
        ]
    if item.ask_if:
        out["enableWhen"] = [{"question": item.ask_if, "operator": "exists", "answerBoolean": True}]
    return out


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def questionnaire(instrument: Instrument) -> Resource:
    """The instrument as a Questionnaire, so the responses' canonical URL resolves in the Bundle."""
    resource: Resource = {
        "resourceType": "Questionnaire",
        "id": resource_id("questionnaire", instrument.id, instrument.version),
        "url": f"{QUESTIONNAIRE_BASE}{instrument.id}",
        "version": instrument.version,
        "title": instrument.name,
        "status": "active",
        "subjectType": ["Patient"],
        "item": [_question(instrument, item) for item in instrument.items],
    }
    if instrument.instructions:
        resource["description"] = instrument.instructions
    if instrument.licence:
        resource["copyright"] = instrument.licence
    return resource


def _answer(value: float | str, item: Item | None, instrument_id: str) -> dict[str, Any]:
    if isinstance(value, str):
        return {"valueString": value}
    if item is not None and item.response == Response.CHOICE:
        return {"valueCoding": _choice(instrument_id, item, value)}
    if float(value).is_integer():
        return {"valueInteger": int(value)}
    return {"valueDecimal": value}


def _qr_items(record: OutcomeRecord, instrument: Instrument | None) -> list[dict[str, Any]]:
    known = {i.id: i for i in instrument.items} if instrument else {}
    items = []
    for item_id, value in record.answers.items():
        if value is None:
            continue  # not answered (or not asked): no item
        item = known.get(item_id)
        entry: dict[str, Any] = {"linkId": item_id}
        if item is not None and item.text:
            entry["text"] = item_text(item, record.answers)
        entry["answer"] = [_answer(value, item, record.instrument)]
        items.append(entry)
    return items


def questionnaire_response(
    record: OutcomeRecord,
    subject: Resource,
    instrument: Instrument | None,
    part_of: Resource | None = None,
) -> Resource:
    """One stored questionnaire with its raw answers (``linkId`` = our item id)."""
    resource: Resource = {
        "resourceType": "QuestionnaireResponse",
        "id": resource_id("outcome", record.uid),
        "identifier": {"system": OUTCOME_SYSTEM, "value": record.uid},
        "questionnaire": f"{QUESTIONNAIRE_BASE}{record.instrument}|{record.instrument_version}",
        "status": "completed",
        "subject": _ref(subject),
        "authored": fhir_time(record.taken_at),
    }
    if record.timepoint:
        resource["extension"] = [{"url": TIMEPOINT_EXTENSION, "valueString": record.timepoint}]
    if part_of is not None:
        resource["partOf"] = [_ref(part_of)]
    items = _qr_items(record, instrument)
    if items:
        resource["item"] = items
    return resource


def _observation(ident: str, subject: Resource, category: str, code: dict[str, Any]) -> Resource:
    display = {"survey": "Survey", "procedure": "Procedure"}[category]
    return {
        "resourceType": "Observation",
        "id": ident,
        "status": "final",
        "category": _category(category, display),
        "code": code,
        "subject": _ref(subject),
    }


def score_observations(record: OutcomeRecord, subject: Resource, qr: Resource) -> list[Resource]:
    """One Observation per score of the questionnaire, derived from its QuestionnaireResponse."""
    out = []
    for score_id, score in record.scores.items():
        name = str(score.get("name") or score_id)
        code = {"coding": [_coding(SCORE_SYSTEM, f"{record.instrument}.{score_id}", name)]}
        obs = _observation(
            resource_id("outcome", record.uid, "score", score_id), subject, "survey", code
        )
        obs["code"]["text"] = name
        obs["effectiveDateTime"] = qr["authored"]
        value = score.get("value")
        if isinstance(value, int | float) and not isinstance(value, bool):
            obs["valueQuantity"] = _quantity(value, "{score}")
        else:
            obs["dataAbsentReason"] = {"coding": [_coding(ABSENT_SYSTEM, "not-performed")]}
            if score.get("note"):
                obs["note"] = [{"text": str(score["note"])}]
        obs["derivedFrom"] = [_ref(qr)]
        out.append(obs)
    return out


def pain_observation(
    ident: str, subject: Resource, value: float, when: str, own: dict[str, str]
) -> Resource:
    """A 0-10 pain rating: LOINC 72514-3 plus our own code saying which rating it is."""
    code = {
        "coding": [_coding(LOINC, PAIN_LOINC, PAIN_LOINC_DISPLAY), own],
        "text": own.get("display") or PAIN_LOINC_DISPLAY,
    }
    obs = _observation(ident, subject, "survey", code)
    obs["effectiveDateTime"] = when
    obs["valueQuantity"] = _quantity(value, "{score}")
    return obs


def item_pain_observations(
    record: OutcomeRecord, subject: Resource, qr: Resource, instrument: Instrument | None
) -> list[Resource]:
    """The pain-nrs items answered (now, average, worst) as pain ratings, derived from the QR."""
    if record.instrument != PAIN_INSTRUMENT:
        return []
    texts = {i.id: i.text for i in instrument.items} if instrument else {}
    out = []
    for item_id, value in record.answers.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        own = _coding(ITEM_SYSTEM, f"{record.instrument}.{item_id}", texts.get(item_id, ""))
        ident = resource_id("outcome", record.uid, "item", item_id)
        obs = pain_observation(ident, subject, value, qr["authored"], own)
        obs["derivedFrom"] = [_ref(qr)]
        out.append(obs)
    return out


def _component(code: str, display: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"code": {"coding": [_coding(MEASURE_SYSTEM, code, display)], "text": display}, **value}


def session_components(
    record: SessionRecord, point: SessionPoint, train_uv: float | None
) -> list[dict[str, Any]]:
    """The session's measures as components (a measure the session did not have is left out)."""
    values = {**vars(point), "training_uv": train_uv}
    out = []
    for code, (display, attr, unit) in SESSION_MEASURES.items():
        value = values.get(attr)
        if value is not None:
            out.append(_component(code, display, {"valueQuantity": _quantity(value, unit)}))
    if record.setting:
        setting = {"coding": [_coding(SETTING_SYSTEM, record.setting, record.setting.title())]}
        out.append(_component("setting", "Setting", {"valueCodeableConcept": setting}))
    return out


def _session_end(record: SessionRecord) -> float:
    """The end of the recorded span by the sample clock (the wall clock's end when no sample was
    stored): a session replayed faster than real time still spans its recorded length."""
    if record.duration_s > 0 or record.ended_at is None:
        return record.started_at + record.duration_s
    return record.ended_at


def _session_notes(record: SessionRecord, point: SessionPoint) -> list[dict[str, str]]:
    notes = []
    if record.status == "interrupted":
        notes.append({"text": "The session was interrupted before its end."})
    if point.imported:
        notes.append({"text": f"Imported from a {point.imported} recording."})
    return notes


def session_observation(
    record: SessionRecord, phases: Sequence[dict[str, Any]], subject: Resource
) -> Resource:
    """One session's summary: period, protocol, muscle, and its measures as components."""
    point = session_point(record, phases)
    code = {
        "coding": [_coding(MEASURE_SYSTEM, "session-summary", "Surface EMG biofeedback session")],
        "text": "Surface EMG biofeedback session",
    }
    obs = _observation(resource_id("session", record.uid), subject, "procedure", code)
    obs["identifier"] = [{"system": SESSION_SYSTEM, "value": record.uid}]
    obs["effectivePeriod"] = {
        "start": fhir_time(record.started_at, record.utc_offset_min),
        "end": fhir_time(_session_end(record), record.utc_offset_min),
    }
    site = ", ".join(x for x in (record.muscle, record.side, record.electrode_site) if x)
    if site:
        obs["bodySite"] = {"text": site}
    if record.protocol:
        obs["method"] = {"text": f"protocol {record.protocol}"}
    notes = _session_notes(record, point)
    if notes:
        obs["note"] = notes
    components = session_components(record, point, training_uv(phases))
    if components:
        obs["component"] = components
    return obs


#: A pain-nrs QuestionnaireResponse of a session with its 'now' answer.
LinkedPain = tuple[Resource, object]


def _pain_sources(value: float, linked: Sequence[LinkedPain]) -> list[dict[str, str]]:
    """The pain-nrs questionnaires of this session whose 'now' is this rating (the window stores
    the questionnaire's answer as the session's pain too)."""
    return [_ref(qr) for qr, now in linked if now == value]


def session_pain_observations(
    record: SessionRecord, subject: Resource, summary: Resource, linked: Sequence[LinkedPain]
) -> list[Resource]:
    """The session's pain before and after (0-10) as pain ratings, members of its summary."""
    out = []
    for which, value, when in (
        ("pain-before", record.pain_before, record.started_at),
        ("pain-after", record.pain_after, _session_end(record)),
    ):
        if value is None:
            continue
        display = "Pain before the session" if which == "pain-before" else "Pain after the session"
        own = _coding(MEASURE_SYSTEM, which, display)
        ident = resource_id("session", record.uid, which)
        obs = pain_observation(ident, subject, value, fhir_time(when, record.utc_offset_min), own)
        sources = _pain_sources(value, linked)
        if sources:
            obs["derivedFrom"] = sources
        out.append(obs)
    if out:
        summary["hasMember"] = [_ref(obs) for obs in out]
    return out


def _selection(
    db: Database, subject_id: str, course_uid: str | None
) -> tuple[list[SessionRecord], list[OutcomeRecord]]:
    """The sessions (not still recording) and questionnaires to export."""
    db.require_subject(subject_id)
    if course_uid is None:
        sessions = db.list_sessions(subject_id)
        outcomes = list_outcomes(db, subject_id)
    else:
        uid = course_uid.strip().lower()
        course = next((c for c in list_courses(db, subject_id) if c.uid == uid), None)
        if course is None:
            raise StorageError(
                f"{subject_id} has no course {course_uid!r}: see the uid in "
                f"'biofeedback course show --subject {subject_id} --json'"
            )
        sessions = course_sessions(db, course.id)
        outcomes = course_outcomes(db, course)
    return [s for s in sessions if s.status != "recording"], outcomes


def _entry(resource: Resource) -> dict[str, Any]:
    return {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}


def _outcome_resources(
    outcomes: Sequence[OutcomeRecord], subject: Resource, summaries: dict[int, Resource]
) -> tuple[list[Resource], dict[int, list[LinkedPain]]]:
    """The instruments as Questionnaires, then the QRs with their derived Observations; the
    pain-nrs QRs per session they belong to."""
    instruments = _Instruments()
    forms: dict[str, Resource] = {}
    out: list[Resource] = []
    pain_by_session: dict[int, list[LinkedPain]] = {}
    for record in outcomes:
        instrument = instruments.get(record)
        if instrument is not None and instrument.id not in forms:
            forms[instrument.id] = questionnaire(instrument)
        part_of = summaries.get(record.session_id) if record.session_id is not None else None
        qr = questionnaire_response(record, subject, instrument, part_of)
        out += [qr, *item_pain_observations(record, subject, qr, instrument)]
        out += score_observations(record, subject, qr)
        if record.instrument == PAIN_INSTRUMENT and record.session_id in summaries:
            linked = (qr, record.answers.get("now"))
            pain_by_session.setdefault(int(record.session_id or 0), []).append(linked)
    return [*forms.values(), *out], pain_by_session


def build_bundle(
    db: Database,
    subject_id: str,
    *,
    course_uid: str | None = None,
    clock: Callable[[], float] = time.time,
) -> Resource:
    """The subject's data (one course's with ``course_uid``) as a FHIR R4 Bundle (a dict).
    StorageError (one line) for an unknown subject or course."""
    sessions, outcomes = _selection(db, subject_id, course_uid)
    subject = patient(subject_id)
    phases = {s.id: db.phases(s.id) for s in sessions}
    summaries = {s.id: session_observation(s, phases[s.id], subject) for s in sessions}
    outcome_resources, pain_qrs = _outcome_resources(outcomes, subject, summaries)
    session_resources: list[Resource] = []
    for record in sessions:
        summary = summaries[record.id]
        linked = pain_qrs.get(record.id, [])
        pain = session_pain_observations(record, subject, summary, linked)
        session_resources += [summary, *pain]
    resources = [subject, *outcome_resources, *session_resources]
    return {
        "resourceType": "Bundle",
        "id": resource_id("bundle", subject_id, course_uid or "all"),
        "type": "collection",
        "timestamp": fhir_time(clock()),
        "entry": [_entry(r) for r in resources],
    }


def write_bundle(
    db: Database, subject_id: str, path: Path | str, *, course_uid: str | None = None
) -> FhirExport:
    """Write :func:`build_bundle` as JSON to ``path`` (safely: see storage/safe_output.py)."""
    bundle = build_bundle(db, subject_id, course_uid=course_uid)
    data = json.dumps(bundle, ensure_ascii=False, allow_nan=False, indent=1) + "\n"
    with open_output(path, example=f"{subject_id}-fhir.json") as out:
        out.file.write(data.encode("utf-8"))
    counts = Counter(entry["resource"]["resourceType"] for entry in bundle["entry"])
    return FhirExport(out.path, subject_id, dict(counts))
