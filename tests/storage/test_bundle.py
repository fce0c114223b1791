"""Bundles (storage/bundle.py): a subject's course, questionnaires and sessions carried between
data dirs in one checksummed file, merged by uid and revision, all or nothing."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import stat
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from storage_helpers import myoware_info, synthetic_counts

from biofeedback.core.types import Flag
from biofeedback.errors import StorageError
from biofeedback.storage import bundle
from biofeedback.storage.bundle import export_bundle, import_bundle, read_bundle_info
from biofeedback.storage.courses import change_prescription, end_course, list_courses, start_course
from biofeedback.storage.database import Database
from biofeedback.storage.outcomes import add_outcome, list_outcomes
from biofeedback.training.adherence import Prescription

START = dt.date(2026, 11, 2)


def record(db: Database, subject: str = "P001", n: int = 3000, seed: int = 0, **meta) -> int:
    """A finished session: blocks with a gap, NaN and flags, a marker, a phase, a threshold."""
    sid = db.create_session(subject, "plain", myoware_info(), {"mains_hz": 50.0}, **meta)
    x = synthetic_counts(n, seed=seed)
    flags = np.zeros(n, dtype=np.uint16)
    x[5, 1] = np.nan
    flags[7] = int(Flag.CLIPPED)
    with db.transaction() as conn:
        half = n // 2
        db.write_block(conn, sid, 0, x[:half], flags[:half])
        db.write_block(conn, sid, half + 50, x[half:], flags[half:])  # a gap of 50 samples
    db.add_marker(sid, 100, "start", "first")
    db.save_phases(sid, [{"name": "baseline", "start_index": 0, "end_index": 1000, "mean": 3.5}])
    db.log_threshold(sid, 10, None, 5.0, "baseline")
    db.finish_session(sid, summary={"responses": {"thought": "it will hurt"}})
    return sid


@pytest.fixture
def home(tmp_path: Path) -> Database:
    db = Database(tmp_path / "home" / "biofeedback.sqlite")
    db.add_subject("P001", name="Ann Example", notes="neck pain")
    rx = Prescription(START, 5, 12, None, ("course-home-practice",))
    course = start_course(db, "P001", START, rx, clinician="Dr K", muscle="upper trapezius")
    change_prescription(
        db, list_courses(db, "P001")[0], START + dt.timedelta(days=14), {"minutes_per_session": 15}
    )
    sid = record(db, course_id=course, setting="home")
    record(db, seed=1, course_id=course, setting="home")
    add_outcome(
        db,
        "P001",
        "pain-nrs",
        "1",
        "abc",
        {"pain": 6},
        {"pain": {"value": 6}},
        timepoint="baseline",
        session_id=sid,
    )
    yield db
    db.close()


@pytest.fixture
def clinic(tmp_path: Path) -> Database:
    db = Database(tmp_path / "clinic" / "biofeedback.sqlite")
    yield db
    db.close()


def dump(db: Database) -> str:
    """Everything in the store, as SQL (to show that nothing changed)."""
    conn = sqlite3.connect(db.path)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def by_uid(db: Database) -> dict[str, object]:
    return {s.uid: s for s in db.list_sessions("P001")}


def test_round_trip_into_an_empty_data_dir(
    home: Database, clinic: Database, tmp_path: Path
) -> None:
    path = tmp_path / "P001.bfbundle"
    seen: list[tuple[int, int]] = []
    info = export_bundle(home, "P001", path, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 2), (2, 2)]
    assert info.counts == {"sessions": 2, "courses": 1, "outcomes": 1, "samples": 6000}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and info.bytes == path.stat().st_size
    with zipfile.ZipFile(path) as zf:
        assert all(b"Ann Example" not in zf.read(n) for n in zf.namelist())  # the name stays home
    result = import_bundle(clinic, path)
    assert result.text() == (
        "P001: 2 sessions added, 0 replaced, 0 already here; 1 questionnaire added; course added"
    )
    assert clinic.get_subject("P001")["name"] is None
    assert clinic.get_subject("P001")["notes"] == "neck pain"
    there, here = by_uid(home), by_uid(clinic)
    assert set(there) == set(here)
    for uid, a in there.items():
        b = here[uid]
        assert (a.revision, a.updated_at, a.status, a.setting, a.summary) == (
            b.revision, b.updated_at, b.status, b.setting, b.summary,
        )  # fmt: skip
        first_a, xa, fa = home.read_samples(a.id)
        first_b, xb, fb = clinic.read_samples(b.id)
        assert first_a == first_b and np.array_equal(xa, xb, equal_nan=True)
        assert np.array_equal(fa, fb) and np.isnan(xb).any()
        for what in ("markers", "phases", "threshold_log"):
            strip = lambda rows: [{k: v for k, v in r.items() if k != "id"} for r in rows]  # noqa: E731
            assert strip(getattr(home, what)(a.id)) == strip(getattr(clinic, what)(b.id))
    course_a, course_b = list_courses(home, "P001")[0], list_courses(clinic, "P001")[0]
    assert course_a.to_dict() | {"id": 0} == course_b.to_dict() | {"id": 0}
    assert all(s.course_id == course_b.id for s in here.values())
    out_a, out_b = list_outcomes(home, "P001")[0], list_outcomes(clinic, "P001")[0]
    assert (out_a.uid, out_a.answers, out_a.scores) == (out_b.uid, out_b.answers, out_b.scores)
    assert clinic.get_session(out_b.session_id).uid == home.get_session(out_a.session_id).uid
    assert clinic.integrity_check() == "ok"


def test_importing_twice_adds_nothing(home: Database, clinic: Database, tmp_path: Path) -> None:
    path = tmp_path / "P001.bfbundle"
    export_bundle(home, "P001", path)
    import_bundle(clinic, path)
    before = dump(clinic)
    again = import_bundle(clinic, path)
    assert again.sessions_added == again.outcomes_added == again.courses_added == 0
    assert again.sessions_already == 2 and again.outcomes_already == 1
    assert dump(clinic) == before


def test_a_newer_copy_replaces_an_older_one_and_an_older_one_is_ignored(
    home: Database, clinic: Database, tmp_path: Path
) -> None:
    first, second = tmp_path / "1.bfbundle", tmp_path / "2.bfbundle"
    export_bundle(home, "P001", first)
    import_bundle(clinic, first)
    sid = home.list_sessions("P001")[0].id
    home.update_session(sid, notes="felt better", pain_after=2)
    home.add_marker(sid, 2000, "phone rang")
    export_bundle(home, "P001", second)
    result = import_bundle(clinic, second)
    assert (result.sessions_replaced, result.sessions_already) == (1, 1)
    mine = home.get_session(sid)
    copy = clinic.get_session(clinic.session_id_for_uid(mine.uid))
    assert (copy.notes, copy.pain_after, copy.revision) == ("felt better", 2, mine.revision)
    assert [m["label"] for m in clinic.markers(copy.id)] == ["start", "phone rang"]
    assert clinic.read_samples(copy.id)[1].shape == (3050, 3)  # samples kept (gap filled)
    before = dump(clinic)
    old = import_bundle(clinic, first)  # the older file again: nothing goes back
    assert old.sessions_replaced == 0 and dump(clinic) == before


def test_a_copy_changed_here_is_kept(home: Database, clinic: Database, tmp_path: Path) -> None:
    path = tmp_path / "P001.bfbundle"
    export_bundle(home, "P001", path)
    import_bundle(clinic, path)
    uid = home.list_sessions("P001")[0].uid
    clinic.update_session(clinic.session_id_for_uid(uid), notes="clinician's note")
    result = import_bundle(clinic, path)
    assert result.sessions_local_newer == 1 and not result.conflicts
    assert "1 kept (the copy here is newer)" in result.text()
    assert clinic.get_session(clinic.session_id_for_uid(uid)).notes == "clinician's note"


def test_a_session_changed_on_both_sides_keeps_both(
    home: Database, clinic: Database, tmp_path: Path
) -> None:
    path, back = tmp_path / "P001.bfbundle", tmp_path / "back.bfbundle"
    export_bundle(home, "P001", path)
    import_bundle(clinic, path)
    session = home.list_sessions("P001")[0]
    clinic_id = clinic.session_id_for_uid(session.uid)
    clinic.update_session(clinic_id, notes="seen at the clinic")
    home.update_session(session.id, notes="done at home")
    home.add_marker(session.id, 1500, "cramp")  # more changes at home: a higher revision
    export_bundle(home, "P001", back)
    result = import_bundle(clinic, back)
    assert len(result.conflicts) == 1 and result.conflicts[0][0] == session.uid
    assert "1 changed on both sides (both copies kept)" in result.text()
    kept = clinic.get_session(clinic_id)
    copy = clinic.get_session(clinic.session_id_for_uid(result.conflicts[0][1]))
    assert kept.notes == "seen at the clinic"
    assert copy.notes == f"conflict copy of {session.uid} from bundle back.bfbundle; done at home"
    assert copy.course_id is None and copy.summary["conflict_copy_of"] == session.uid
    assert [m["label"] for m in clinic.markers(copy.id)] == ["start", "cramp"]
    assert np.array_equal(
        clinic.read_samples(copy.id)[1], home.read_samples(session.id)[1], equal_nan=True
    )
    before = dump(clinic)
    assert import_bundle(clinic, back).sessions_already == 2 and dump(clinic) == before


def test_equal_revisions_with_different_content_are_a_conflict(
    home: Database, clinic: Database, tmp_path: Path
) -> None:
    path = tmp_path / "P001.bfbundle"
    export_bundle(home, "P001", path)
    import_bundle(clinic, path)
    # as if the copies here had come another way (no note of the bundle) and been changed once,
    # while the bundle's have been changed once elsewhere: the same revision, other content
    with clinic.transaction() as conn:
        conn.execute("DELETE FROM store_settings WHERE key LIKE 'bundle-base:%'")
        conn.execute("UPDATE sessions SET notes = 'x'")  # the trigger bumps the revision
        conn.execute("UPDATE sessions SET revision = revision - 1")  # back to the bundle's
    result = import_bundle(clinic, path)
    assert len(result.conflicts) == 2 and len(clinic.list_sessions("P001")) == 4


def test_a_session_still_recording_is_stored_as_interrupted_until_the_finished_copy_comes(
    home: Database, clinic: Database, tmp_path: Path
) -> None:
    live = home.create_session("P001", "plain", myoware_info(), {}, setting="home")
    with home.transaction() as conn:
        home.write_block(conn, live, 0, synthetic_counts(500), np.zeros(500, dtype=np.uint16))
    early, late = tmp_path / "early.bfbundle", tmp_path / "late.bfbundle"
    export_bundle(home, "P001", early)
    result = import_bundle(clinic, early)
    assert result.recording_closed == 1 and "1 still recording there" in result.text()
    uid = home.get_session(live).uid
    copy = clinic.get_session(clinic.session_id_for_uid(uid))
    assert copy.status == "interrupted" and "still recording" in copy.summary["interrupted_reason"]
    assert clinic.recover_interrupted() == []
    again = import_bundle(clinic, early)
    assert again.sessions_already == 3 and again.recording_closed == 0
    home.finish_session(live)
    export_bundle(home, "P001", late)
    assert import_bundle(clinic, late).sessions_replaced == 1
    assert clinic.get_session(copy.id).status == "complete"


def test_another_open_course_here_refuses_the_import(
    home: Database, clinic: Database, tmp_path: Path
) -> None:
    path = tmp_path / "P001.bfbundle"
    export_bundle(home, "P001", path)
    clinic.add_subject("P001")
    start_course(clinic, "P001", START, Prescription(START, 3, 10, None, ()))
    before = dump(clinic)
    with pytest.raises(StorageError, match=r"another open course here .* nothing was imported"):
        import_bundle(clinic, path)
    assert dump(clinic) == before
    end_course(clinic, "P001", START)
    assert import_bundle(clinic, path).sessions_added == 2
    assert len(list_courses(clinic, "P001")) == 2


def test_a_newer_course_updates_the_details_and_prescriptions(
    home: Database, clinic: Database, tmp_path: Path
) -> None:
    first, second = tmp_path / "1.bfbundle", tmp_path / "2.bfbundle"
    export_bundle(home, "P001", first)
    import_bundle(clinic, first)
    course = list_courses(home, "P001")[0]
    change_prescription(home, course, START + dt.timedelta(days=14), {"sessions_per_week": 3})
    change_prescription(home, course, START + dt.timedelta(days=28), {"sessions_per_week": 4})
    export_bundle(home, "P001", second)
    result = import_bundle(clinic, second)
    assert (result.courses_updated, result.prescriptions_added, result.prescriptions_updated) == (
        1,
        1,
        1,
    )
    assert [p.to_dict() for p in list_courses(clinic, "P001")[0].prescriptions] == [
        p.to_dict() for p in list_courses(home, "P001")[0].prescriptions
    ]


def test_dry_run_reports_and_changes_nothing(
    home: Database, clinic: Database, tmp_path: Path
) -> None:
    path = tmp_path / "P001.bfbundle"
    export_bundle(home, "P001", path)
    before = dump(clinic)
    result = import_bundle(clinic, path, dry_run=True)
    assert result.sessions_added == 2 and result.text().startswith("dry run, nothing changed: ")
    assert dump(clinic) == before


def test_show_reads_the_manifest_only(home: Database, tmp_path: Path) -> None:
    path = tmp_path / "P001.bfbundle"
    export_bundle(home, "P001", path)
    info = read_bundle_info(path)
    assert info.subject_id == "P001" and info.counts["sessions"] == 2
    assert info.course is not None and info.course["start_date"] == START.isoformat()
    assert info.text().startswith(
        "P001: 2 sessions, 1 questionnaire, course from 2026-11-02 (open)"
    )
    assert json.loads(json.dumps(info.to_dict()))["format_version"] == bundle.FORMAT_VERSION


# -- damaged and foreign files -------------------------------------------------------------------------
def rewrite(path: Path, target: Path, change) -> None:
    """Copy a bundle, passing every member through ``change(name, data) -> data | None``."""
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(target, "w") as dst:
        for name in src.namelist():
            data = change(name, src.read(name))
            if data is not None:
                dst.writestr(name, data)


@pytest.fixture
def exported(home: Database, tmp_path: Path) -> Path:
    path = tmp_path / "P001.bfbundle"
    export_bundle(home, "P001", path)
    return path


def refused(clinic: Database, path: Path, match: str) -> None:
    before = dump(clinic)
    with pytest.raises(StorageError, match=match) as err:
        import_bundle(clinic, path)
    assert "\n" not in str(err.value) and "nothing was imported" in str(err.value)
    assert dump(clinic) == before


def test_a_flipped_byte_is_refused(exported: Path, clinic: Database, tmp_path: Path) -> None:
    raw = bytearray(exported.read_bytes())
    with zipfile.ZipFile(exported) as zf:
        member = next(i for i in zf.infolist() if i.filename.endswith(".chunks"))
    raw[member.header_offset + 30 + len(member.filename) + 40] ^= 0x01  # in the stored samples
    flipped = tmp_path / "flipped.bfbundle"
    flipped.write_bytes(bytes(raw))
    refused(clinic, flipped, "is damaged")


def test_a_member_that_does_not_match_its_checksum_is_refused(
    exported: Path, clinic: Database, tmp_path: Path
) -> None:
    target = tmp_path / "changed.bfbundle"

    def change(name: str, data: bytes) -> bytes:
        return data.replace(b'"neck pain"', b'"back pain"') if name == "subject.json" else data

    rewrite(exported, target, change)
    refused(clinic, target, r"subject.json does not match its checksum\): export it again")


def test_a_truncated_file_is_refused(exported: Path, clinic: Database, tmp_path: Path) -> None:
    cut = tmp_path / "cut.bfbundle"
    cut.write_bytes(exported.read_bytes()[: exported.stat().st_size // 2])
    refused(clinic, cut, "not a ZIP file, or cut short")


def test_not_a_zip_file_is_refused(clinic: Database, tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    refused(clinic, text, "is not a biofeedback bundle")
    with pytest.raises(StorageError, match="there is no bundle file"):
        import_bundle(clinic, tmp_path / "missing.bfbundle")


def test_another_zip_file_is_refused(clinic: Database, tmp_path: Path) -> None:
    other = tmp_path / "photos.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("manifest.json", json.dumps({"format": "something-else"}))
    refused(clinic, other, "manifest names another format")


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("format_version", 2, r"newer biofeedback \(bundle format 2, this one reads 1\)"),
        ("schema_version", 99, r"newer biofeedback \(schema 99"),
    ],
)
def test_a_newer_format_is_refused(
    exported: Path, clinic: Database, tmp_path: Path, key: str, value: int, match: str
) -> None:
    target = tmp_path / "future.bfbundle"

    def change(name: str, data: bytes) -> bytes:
        if name != "manifest.json":
            return data
        return json.dumps({**json.loads(data), key: value}).encode()

    rewrite(exported, target, change)
    refused(clinic, target, match)
    with pytest.raises(StorageError, match=match):
        read_bundle_info(target)


def test_an_extra_member_is_refused(exported: Path, clinic: Database, tmp_path: Path) -> None:
    target = tmp_path / "extra.bfbundle"
    rewrite(exported, target, lambda name, data: data)
    with zipfile.ZipFile(target, "a") as zf:
        zf.writestr("../../evil.sh", b"rm -rf /")
    refused(clinic, target, "do not match its manifest")


def test_the_size_limits_are_checked_before_reading(
    exported: Path, clinic: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bundle, "MAX_TOTAL_BYTES", 1000)
    refused(clinic, exported, "would unpack to .* bytes: at most 1000")
    monkeypatch.setattr(bundle, "MAX_MANIFEST_BYTES", 100)
    refused(clinic, exported, "manifest.json of .* bytes: at most 100")


def test_export_refuses_the_store_and_an_unknown_subject(home: Database, tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="refusing to write"):
        export_bundle(home, "P001", home.path)
    with pytest.raises(StorageError, match="no subject P404"):
        export_bundle(home, "P404", tmp_path / "x.bfbundle")
    assert not (tmp_path / "x.bfbundle").exists()


def test_the_manifest_of_the_most_sessions_allowed_fits_its_limit() -> None:
    import io

    uid = "0123456789abcdef" * 2
    brief = {"uid": uid, "started_at": 1.8e9 + 0.123456, "status": "interrupted",
             "setting": "clinic", "protocol": "p" * 200, "revision": 10**6, "samples": 10**9}  # fmt: skip
    member = {"sha256": "f" * 64, "size": 10**10}
    members = {f"sessions/{i:032x}.{ext}": member for i in range(bundle.MAX_SESSIONS) for ext in ("json", "chunks")}  # fmt: skip
    with zipfile.ZipFile(io.BytesIO(), "w") as zf:
        manifest = bundle._write_manifest(
            zf,
            "P001",
            {"sessions": bundle.MAX_SESSIONS},
            [],
            [brief] * bundle.MAX_SESSIONS,
            members,
        )
        assert len(zf.read("manifest.json")) < bundle.MAX_MANIFEST_BYTES
    assert len(manifest["members"]) + 4 <= bundle.MAX_MEMBERS


def forge(path: Path, target: Path, name_part: str, change) -> None:
    """A bundle made by hand: members changed and the manifest's checksums made to match."""
    import hashlib

    with zipfile.ZipFile(path) as src:
        members = {n: src.read(n) for n in src.namelist()}
    manifest = json.loads(members.pop("manifest.json"))
    for name in members:
        if name_part in name:
            members[name] = change(members[name])
            manifest["members"][name] = {
                "sha256": hashlib.sha256(members[name]).hexdigest(),
                "size": len(members[name]),
            }
    with zipfile.ZipFile(target, "w") as dst:
        for name, data in members.items():
            dst.writestr(name, data)
        dst.writestr("manifest.json", json.dumps(manifest))


def _json_change(edit):
    def change(data: bytes) -> bytes:
        value = json.loads(data)
        edit(value)
        return json.dumps(value).encode()

    return change


def _bad_info(doc: dict) -> None:
    doc["row"]["info_json"] = "{}"


def _bad_date(courses: list) -> None:
    courses[0]["start_date"] = "02/11/2026"


def _bad_answers(outcomes: list) -> None:
    outcomes[0]["answers_json"] = "[1, 2"


def _unknown_codec(data: bytes) -> bytes:
    head = bytearray(data)
    head[12 + 12 : 12 + 16] = (9).to_bytes(4, "little")  # the first block's codec
    return bytes(head)


@pytest.mark.parametrize(
    ("member", "change", "match"),
    [
        (
            ".json",
            _json_change(lambda d: _bad_info(d) if "row" in d else None),
            "stream description",
        ),
        ("courses.json", _json_change(_bad_date), "write the date as YYYY-MM-DD"),
        ("outcomes.json", _json_change(_bad_answers), "answers or scores unreadable"),
        (".chunks", _unknown_codec, "codec 9, unknown here: update biofeedback"),
    ],
)
def test_a_consistent_bundle_with_unreadable_contents_is_refused(
    exported: Path, clinic: Database, tmp_path: Path, member: str, change, match: str
) -> None:
    target = tmp_path / "forged.bfbundle"
    forge(exported, target, member, change)
    refused(clinic, target, match)


def test_importing_its_own_export_changes_nothing(home: Database, tmp_path: Path) -> None:
    path = tmp_path / "P001.bfbundle"
    export_bundle(home, "P001", path)
    before = dump(home)
    result = import_bundle(home, path)
    assert (result.sessions_already, result.outcomes_already, result.courses_updated) == (2, 1, 0)
    assert dump(home) == before


def test_other_samples_drop_the_envelope_overview_made_from_the_old_ones(
    home: Database, clinic: Database, tmp_path: Path
) -> None:
    if not clinic._query("SELECT name FROM sqlite_master WHERE name = 'overviews'"):
        pytest.skip("this store keeps no envelope overviews (schema 5)")
    live = home.create_session("P001", "plain", myoware_info(), {}, setting="home")
    with home.transaction() as conn:
        home.write_block(conn, live, 0, synthetic_counts(500), np.zeros(500, dtype=np.uint16))
    early, late = tmp_path / "early.bfbundle", tmp_path / "late.bfbundle"
    export_bundle(home, "P001", early)
    import_bundle(clinic, early)
    copy = clinic.session_id_for_uid(home.get_session(live).uid)
    kept = clinic.session_id_for_uid(home.list_sessions("P001")[0].uid)
    with clinic.transaction() as conn:
        for sid in (copy, kept):
            conn.execute(
                "INSERT INTO overviews (session_id, bin_samples, first_index, end_index, "
                "n_samples, n_bins, n_outputs, pipeline_sha256, data, created_at) "
                "VALUES (?, 10, 0, 500, 500, 50, 1, 'x', x'00', 0)",
                (sid,),
            )
    with home.transaction() as conn:
        home.write_block(conn, live, 500, synthetic_counts(500), np.zeros(500, dtype=np.uint16))
    home.finish_session(live)
    home.update_session(home.list_sessions("P001")[0].id, notes="same samples")
    export_bundle(home, "P001", late)
    assert import_bundle(clinic, late).sessions_replaced == 2
    left = clinic._query("SELECT session_id FROM overviews")
    assert [r[0] for r in left] == [kept]  # the samples of the other one changed


def test_a_folder_is_not_a_bundle_file(clinic: Database, tmp_path: Path) -> None:
    with pytest.raises(StorageError, match=r"is a folder, not a bundle file: give the file"):
        import_bundle(clinic, tmp_path)
    with pytest.raises(StorageError, match=r"is a folder, not a bundle file"):
        read_bundle_info(tmp_path)


def test_declared_sizes_over_the_limit_are_refused_as_too_large(
    exported: Path, clinic: Database, tmp_path: Path
) -> None:
    target = tmp_path / "huge.bfbundle"

    def change(name: str, data: bytes) -> bytes:
        if name != "manifest.json":
            return data
        manifest = json.loads(data)
        manifest["members"]["subject.json"]["size"] = 10**13
        return json.dumps(manifest).encode()

    rewrite(exported, target, change)
    refused(clinic, target, rf"would unpack to \d+ bytes: at most {bundle.MAX_TOTAL_BYTES}")
    with pytest.raises(StorageError, match="would unpack to"):
        read_bundle_info(target)
