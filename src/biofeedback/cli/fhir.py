"""``biofeedback fhir export``: a subject's course as an HL7 FHIR R4 Bundle (JSON) for a clinic's
record system: a pseudonymous Patient (never the name), the questionnaires as
QuestionnaireResponses, pain ratings (LOINC 72514-3), scores and one summary Observation per
session. The codes and URIs: docs/fhir.md.
"""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``fhir`` command."""
    parser = subparsers.add_parser(
        "fhir",
        description="Write a subject's data as an HL7 FHIR R4 Bundle (JSON): a pseudonymous "
        "Patient (the subject id, never the name), one QuestionnaireResponse per questionnaire, "
        "pain ratings as LOINC 72514-3 Observations, scores, and one summary Observation per "
        "session (resting and training uV RMS, %% below target, recovery time). Exporting "
        "twice gives the same resource ids (see docs/fhir.md).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    actions.required = True
    export = actions.add_parser("export", help="write one subject's data as a FHIR R4 Bundle")
    export.add_argument("--subject", required=True, metavar="ID", help="the subject, e.g. P001")
    export.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="file to write (e.g. P001-fhir.json)"
    )
    export.add_argument(
        "--course-uid",
        metavar="UID",
        help="only this course's sessions and questionnaires (the uid shown by "
        "'course show --json'; default: everything stored about the subject)",
    )
    export.add_argument("--json", action="store_true", help="print one JSON object")
    export.set_defaults(handler=_export)


def _export(args: argparse.Namespace) -> int:
    from biofeedback.cli.common import open_existing_store
    from biofeedback.errors import StorageError
    from biofeedback.interop.fhir import write_bundle

    if args.course_uid is not None and not args.course_uid.strip():
        raise StorageError("--course-uid is empty: give a course's uid (see 'course show --json')")
    with open_existing_store() as db:
        result = write_bundle(db, args.subject, args.output, course_uid=args.course_uid)
    print(json.dumps(result.to_dict()) if args.json else result.text())
    return 0
