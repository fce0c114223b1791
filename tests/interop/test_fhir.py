"""``biofeedback fhir export``: the Bundle validates with the FHIR R4 models of ``fhir.resources``
(a test dependency only), and what it says equals the store: questionnaire answers, pain
ratings, scores and the per-session measures. The subject's name and private answers never
leave; ids are the same in every export; bad input is one line and exit 2."""

from __future__ import annotations

import datetime as dt
import json
import math
import statistics
from collections.abc import Iterator
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path
from typing import Any

import pytest

from biofeedback.cli import main
from biofeedback.interop import fhir
from biofeedback.outcomes.instrument import load_instrument
from biofeedback.storage.courses import list_courses
from biofeedback.storage.database import Database
from biofeedback.storage.outcomes import add_outcome, list_outcomes, record_answers
from biofeedback.storage.progress import session_point

SIM = "sim://?scenario=learner&speed=max&seed=5"
NAME = "Ann Example"
SECRET = "my boss will think I am lazy"  # a thought record: private to the subject


def _cli(*argv: str) -> int:
    with redirect_stdout(StringIO()):
        return main(list(argv))


def _home_session(db: Database, course_id: int) -> int:
    """A home session of the first course with measures known exactly (no samples)."""
    record = db.get_session(1)  # any stored stream description will do
    started = dt.datetime(2026, 10, 5, 18, 0).timestamp()
    sid = db.create_session(
        "P1", "course-home-practice", record.info, course_id=course_id, setting="home",
        started_at=started, pain_before=7, pain_after=5, muscle="upper trapezius", side="left",
    )  # fmt: skip
    summary = {
        "baseline_uv": 12.5,
        "training_pct_below": 55.25,
        "recovery_s": 4.2,
        "pct_excluded": 1.5,
        "responses": [{"kind": "thought-record", "answers": {"thought": SECRET}}],
    }
    db.finish_session(sid, "interrupted", summary)
    db.save_phases(
        sid,
        [
            {"name": "baseline", "kind": "baseline", "median_uv": 12.5, "start_s": 0, "duration_s": 60},
            {"name": "trial 1", "kind": "train", "median_uv": 9.0, "start_s": 60, "duration_s": 240},
            {"name": "trial 2", "kind": "train", "median_uv": 11.5, "start_s": 300, "duration_s": 240},
        ],
        origin_index=0,
    )  # fmt: skip
    record_answers(
        db, "P1", load_instrument("pain-nrs"), {"now": 7, "average": 6, "worst": 8},
        timepoint="baseline", session_id=sid, taken_at=started - 60,
    )  # fmt: skip
    return sid


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A data dir: subject P1 (with a name), an ended course with one home session and a
    questionnaire, an open course with one recorded clinic session and three questionnaires."""
    home = tmp_path_factory.mktemp("fhir-store")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BIOFEEDBACK_HOME", str(home))
        at = ("--data-dir", str(home))
        assert _cli(*at, "subjects", "add", "P1", "--name", NAME) == 0
        practice = ("--sessions-per-week", "5", "--minutes", "12")
        assert (
            _cli(*at, "course", "start", "--subject", "P1", "--start", "2026-10-01", *practice) == 0
        )
        assert _cli(*at, "course", "end", "--subject", "P1", "--on", "2026-10-31") == 0
        assert (
            _cli(*at, "course", "start", "--subject", "P1", "--start", "2026-11-01", *practice) == 0
        )
        assert _cli(*at, "record", "--source", SIM, "--protocol", "course-home-practice",
                    "--subject", "P1", "--setting", "clinic", "--pain-before", "6",
                    "--pain-after", "3.5") == 0  # fmt: skip
        with Database(home / "biofeedback.sqlite") as db:
            _home_session(db, list_courses(db, "P1")[0].id)
        for answers in (
            ("pain-nrs", "--session", "1", "--answers", "now=6", "average=5", "worst=8"),
            ("pgic", "--answers", "change=much better"),
            ("psfs", "--partial", "--answers", "activity1=lifting a box", "rating1=4"),
        ):
            assert _cli(*at, "outcomes", "record", "--subject", "P1", "--instrument", *answers) == 0
        yield home


def export(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[Path, dict[str, Any]]:
    path = tmp_path / "P1-fhir.json"
    code = main(
        ["--data-dir", str(store), "fhir", "export", "--subject", "P1", "-o", str(path), *extra]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith(f"Wrote {path} (P1: 1 Patient, ")
    return path, json.loads(path.read_text(encoding="utf-8"))


def resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def by_url(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["fullUrl"]: e["resource"] for e in bundle["entry"]}


def test_the_bundle_validates_with_the_fhir_r4_models(store, tmp_path, capsys) -> None:
    from fhir.resources import __fhir_version__, construct_fhir_element
    from fhir.resources.bundle import Bundle

    assert __fhir_version__ == "4.0.1", "install the test extra: fhir.resources 6.4 (FHIR R4)"
    path, data = export(store, tmp_path, capsys)
    bundle = Bundle.parse_raw(path.read_bytes())
    assert bundle.type == "collection" and len(bundle.entry) == len(data["entry"])
    for entry in data["entry"]:
        resource = entry["resource"]
        model = construct_fhir_element(resource["resourceType"], resource)
        assert json.loads(model.json()) == resource  # nothing dropped or changed by the model
        assert entry["fullUrl"] == f"urn:uuid:{resource['id']}"
    urls = by_url(data)
    text = path.read_text(encoding="utf-8")
    references = set(_references(data))
    assert references and references <= set(urls), "every reference resolves inside the Bundle"
    assert '"reference"' in text and path.stat().st_mode & 0o077 == 0


def _references(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference":
                yield str(value)
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for value in node:
            yield from _references(value)


def _answer(answer: dict[str, Any]) -> float | str:
    if "valueCoding" in answer:
        return float(answer["valueCoding"]["code"])
    if "valueString" in answer:
        return str(answer["valueString"])
    return float(answer.get("valueInteger", answer.get("valueDecimal")))


def test_questionnaire_answers_equal_the_store(store, tmp_path, capsys) -> None:
    _, data = export(store, tmp_path, capsys)
    with Database(store / "biofeedback.sqlite") as db:
        stored = {r.uid: r for r in list_outcomes(db, "P1")}
    responses = resources(data, "QuestionnaireResponse")
    assert len(responses) == len(stored) == 4
    for qr in responses:
        record = stored[qr["identifier"]["value"]]
        assert qr["questionnaire"] == f"{fhir.QUESTIONNAIRE_BASE}{record.instrument}|1"
        assert qr["status"] == "completed"
        assert dt.datetime.fromisoformat(qr["authored"]).timestamp() == math.floor(record.taken_at)
        answers = {i["linkId"]: _answer(i["answer"][0]) for i in qr["item"]}
        assert answers == {k: v for k, v in record.answers.items() if v is not None}
    pgic = next(qr for qr in responses if "/pgic|" in qr["questionnaire"])
    assert pgic["item"][0]["answer"][0]["valueCoding"]["display"] == "Much better"
    psfs = next(qr for qr in responses if "/psfs|" in qr["questionnaire"])
    assert psfs["item"][1]["text"] == "How able are you today to do: lifting a box?"


def test_questionnaires_in_the_bundle_describe_the_answers(store, tmp_path, capsys) -> None:
    _, data = export(store, tmp_path, capsys)
    forms = {f"{q['url']}|{q['version']}": q for q in resources(data, "Questionnaire")}
    assert len(forms) == 3  # pain-nrs, pgic, psfs: each once
    value_of_type = {"integer": "valueInteger", "string": "valueString", "choice": "valueCoding"}
    for qr in resources(data, "QuestionnaireResponse"):
        items = {i["linkId"]: i for i in forms[qr["questionnaire"]]["item"]}
        for answered in qr["item"]:
            item = items[answered["linkId"]]
            (answer,) = answered["answer"]
            assert list(answer) == [value_of_type[item["type"]]]
            if item["type"] == "choice":
                assert {"valueCoding": answer["valueCoding"]} in item["answerOption"]
    psfs = next(q for q in forms.values() if q["url"].endswith("/psfs"))
    rating = next(i for i in psfs["item"] if i["linkId"] == "rating1")
    assert rating["enableWhen"] == [
        {"question": "activity1", "operator": "exists", "answerBoolean": True}
    ]


def test_pain_ratings_equal_the_store(store, tmp_path, capsys) -> None:
    _, data = export(store, tmp_path, capsys)
    pain = [
        o for o in resources(data, "Observation")
        if {"system": fhir.LOINC, "code": fhir.PAIN_LOINC, "display": fhir.PAIN_LOINC_DISPLAY}
        in o["code"]["coding"]
    ]  # fmt: skip
    found = sorted((o["code"]["coding"][1]["code"], o["valueQuantity"]["value"]) for o in pain)
    expected = []
    with Database(store / "biofeedback.sqlite") as db:
        for record in list_outcomes(db, "P1", "pain-nrs"):
            expected += [(f"pain-nrs.{k}", v) for k, v in record.answers.items()]
        for session in db.list_sessions("P1"):
            expected += [("pain-before", session.pain_before), ("pain-after", session.pain_after)]
    assert found == sorted(expected) and len(found) == 10
    assert all(o["valueQuantity"]["code"] == "{score}" for o in pain)
    urls = by_url(data)
    before = [o for o in pain if o["code"]["coding"][1]["code"] == "pain-before"]
    # the pain-nrs 'now' answered with a session is the same rating: linked to its questionnaire
    for obs in before:
        (source,) = obs["derivedFrom"]
        qr = urls[source["reference"]]
        assert _answer(qr["item"][0]["answer"][0]) == obs["valueQuantity"]["value"]
    assert not any(
        "derivedFrom" in o for o in pain if o["code"]["coding"][1]["code"] == "pain-after"
    )


def test_scores_are_observations_derived_from_their_questionnaire(store, tmp_path, capsys) -> None:
    _, data = export(store, tmp_path, capsys)
    urls = by_url(data)
    scores = [
        o for o in resources(data, "Observation") if o["code"]["coding"][0]["system"] == fhir.SCORE_SYSTEM
    ]  # fmt: skip
    with Database(store / "biofeedback.sqlite") as db:
        stored = {r.uid: r for r in list_outcomes(db, "P1")}
    assert len(scores) == sum(len(r.scores) for r in stored.values())
    for obs in scores:
        qr = urls[obs["derivedFrom"][0]["reference"]]
        record = stored[qr["identifier"]["value"]]
        instrument, score_id = obs["code"]["coding"][0]["code"].split(".", 1)
        assert instrument == record.instrument
        value = record.scores[score_id]["value"]
        if value is None:  # the PSFS needs three rated activities
            assert obs["dataAbsentReason"]["coding"][0]["code"] == "not-performed"
            assert "not scored" in obs["note"][0]["text"] and "valueQuantity" not in obs
        else:
            assert obs["valueQuantity"]["value"] == value
    assert any("dataAbsentReason" in o for o in scores)


def _components(obs: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for component in obs.get("component", []):
        code = component["code"]["coding"][0]["code"]
        if "valueQuantity" in component:
            out[code] = component["valueQuantity"]["value"]
        else:
            out[code] = component["valueCodeableConcept"]["coding"][0]["code"]
    return out


def test_session_observations_equal_the_session_points(store, tmp_path, capsys) -> None:
    _, data = export(store, tmp_path, capsys)
    summaries = {
        o["identifier"][0]["value"]: o
        for o in resources(data, "Observation")
        if o["code"]["coding"][0]["code"] == "session-summary"
    }
    with Database(store / "biofeedback.sqlite") as db:
        sessions = db.list_sessions("P1")
        assert set(summaries) == {s.uid for s in sessions}
        for session in sessions:
            obs = summaries[session.uid]
            point = session_point(session, db.phases(session.id))
            values = _components(obs)
            assert values.get("resting-uv") == point.baseline_uv
            train = [p["median_uv"] for p in db.phases(session.id) if p["kind"] == "train"]
            assert values.get("training-uv") == (statistics.median(train) if train else None)
            assert values.get("pct-below-target") == point.pct_below
            assert values.get("recovery-time") == point.recovery_s
            assert values.get("pct-excluded") == point.pct_excluded
            assert values["setting"] == session.setting
            assert obs["category"][0]["coding"][0]["code"] == "procedure"
            assert dt.datetime.fromisoformat(obs["effectivePeriod"]["start"]).timestamp() == (
                math.floor(session.started_at)
            )
            assert len(obs["hasMember"]) == 2  # pain before and after
    home = next(o for o in summaries.values() if _components(o)["setting"] == "home")
    assert _components(home)["training-uv"] == pytest.approx(10.25)  # median of 9.0 and 11.5
    assert _components(home)["recovery-time"] == 4.2
    assert home["note"][0]["text"].startswith("The session was interrupted")
    assert home["bodySite"]["text"] == "upper trapezius, left"
    clinic = next(o for o in summaries.values() if _components(o)["setting"] == "clinic")
    assert {"resting-uv", "training-uv", "pct-below-target"} <= set(_components(clinic))
    units = {
        c["valueQuantity"]["unit"]
        for o in summaries.values()
        for c in o["component"]
        if "valueQuantity" in c
    }
    assert units == {"uV", "%", "s"}


def test_the_name_and_private_answers_stay_here(store, tmp_path, capsys) -> None:
    path, data = export(store, tmp_path, capsys)
    text = path.read_text(encoding="utf-8")
    assert NAME not in text and "Ann" not in text and SECRET not in text
    (patient,) = resources(data, "Patient")
    assert set(patient) == {"resourceType", "id", "meta", "identifier"}
    assert patient["identifier"] == [{"use": "usual", "system": fhir.SUBJECT_SYSTEM, "value": "P1"}]


def test_ids_are_the_same_in_every_export(store, tmp_path, capsys) -> None:
    _, first = export(store, tmp_path, capsys)
    with Database(store / "biofeedback.sqlite") as db:
        later = fhir.build_bundle(db, "P1", clock=lambda: 2e9)
    assert later["timestamp"] != first["timestamp"]
    assert {**later, "timestamp": None} == {**first, "timestamp": None}
    ids = [e["resource"]["id"] for e in first["entry"]]
    assert len(set(ids)) == len(ids)


def test_one_course_only(store, tmp_path, capsys) -> None:
    with Database(store / "biofeedback.sqlite") as db:
        first, second = list_courses(db, "P1")
    _, data = export(store, tmp_path, capsys, "--course-uid", first.uid)
    assert len(resources(data, "QuestionnaireResponse")) == 1
    (qr,) = resources(data, "QuestionnaireResponse")
    assert qr["partOf"][0]["reference"] in by_url(data)  # the home session it was asked in
    _, data = export(store, tmp_path, capsys, "--course-uid", second.uid.upper())
    assert len(resources(data, "QuestionnaireResponse")) == 3
    sessions = [
        o
        for o in resources(data, "Observation")
        if o["code"]["coding"][0]["code"] == "session-summary"
    ]
    assert [_components(o)["setting"] for o in sessions] == ["clinic"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--subject", "P404", "-o", "{tmp}/x.json"], "there is no subject P404"),
        (["--subject", "Ann Example", "-o", "{tmp}/x.json"], "is not allowed"),
        (["--subject", "P1", "-o", "{tmp}/no/such/x.json"], "does not exist"),
        (["--subject", "P1", "-o", "{store}/biofeedback.sqlite"], "refusing to write"),
        (["--subject", "P1", "-o", "{tmp}"], "is a folder"),
        (["--subject", "P1", "-o", "{tmp}/x.json", "--course-uid", "abc"], "has no course 'abc'"),
        (["--subject", "P1", "-o", "{tmp}/x.json", "--course-uid", " "], "--course-uid is empty"),
        (["-o", "{tmp}/x.json"], "--subject"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    store, tmp_path, capsys, argv: list[str], message: str
) -> None:
    where = {"tmp": str(tmp_path), "store": str(store)}
    try:
        code = main(
            ["--data-dir", str(store), "fhir", "export", *(a.format(**where) for a in argv)]
        )
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and message in err and "Traceback" not in err
    assert err.startswith("biofeedback: ") and err.count("\n") <= 2  # argparse adds a hint line
    assert not (tmp_path / "x.json").exists()


def test_no_store_is_one_line_and_creates_nothing(tmp_path, capsys) -> None:
    empty = tmp_path / "empty"
    code = main(
        [
            "--data-dir",
            str(empty),
            "fhir",
            "export",
            "--subject",
            "P1",
            "-o",
            str(tmp_path / "x.json"),
        ]
    )
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and not empty.exists()


def test_a_subject_with_nothing_stored_is_a_patient_only(tmp_path, capsys) -> None:
    assert _cli("subjects", "add", "P2", "--name", NAME) == 0
    path = tmp_path / "P2.json"
    assert main(["fhir", "export", "--subject", "P2", "-o", str(path), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == {"path": str(path), "subject_id": "P2", "counts": {"Patient": 1}}
    data = json.loads(path.read_text(encoding="utf-8"))
    assert [e["resource"]["resourceType"] for e in data["entry"]] == ["Patient"]
    assert NAME not in path.read_text(encoding="utf-8")


def test_an_instrument_this_machine_does_not_have(tmp_path) -> None:
    """A clinic's licensed instrument whose file is not here: answers as stored, no wording."""
    from fhir.resources import construct_fhir_element

    with Database() as db:
        add_outcome(
            db, "P3", "clinic-odi", "2.1b", "0" * 64, {"q1": 2.5, "q2": 5, "q3": None},
            {"percent": {"name": "Disability (%)", "value": 37.5, "note": ""}}, timepoint="s2",
        )  # fmt: skip
        data = fhir.build_bundle(db, "P3")
    (qr,) = resources(data, "QuestionnaireResponse")
    assert not resources(data, "Questionnaire")
    assert qr["questionnaire"].endswith("/Questionnaire/clinic-odi|2.1b")
    assert qr["item"] == [
        {"linkId": "q1", "answer": [{"valueDecimal": 2.5}]},
        {"linkId": "q2", "answer": [{"valueInteger": 5}]},
    ]
    assert qr["extension"] == [{"url": fhir.TIMEPOINT_EXTENSION, "valueString": "s2"}]
    (score,) = resources(data, "Observation")
    assert score["code"]["coding"][0]["code"] == "clinic-odi.percent"
    assert score["valueQuantity"]["value"] == 37.5
    for entry in data["entry"]:
        construct_fhir_element(entry["resource"]["resourceType"], entry["resource"])
