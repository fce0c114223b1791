"""The clinic's two group roles and what each may do (docs/clinic.md, "Roles").

Both are NOLOGIN group roles: the administrator makes a login role per station or clinician and
grants it one of them (``CREATE ROLE desk1 LOGIN IN ROLE biofeedback_station``).

- ``biofeedback_station`` reads and inserts what sync needs and updates only the rows sync
  upserts (subjects, courses, prescriptions, sessions and their phases and markers, outcomes);
  samples and the threshold log are written once. It deletes nothing.
- ``biofeedback_clinician`` reads everything and annotates: adds markers and edits their label
  and note, adds and edits questionnaires (outcomes), edits the notes of subjects, courses and
  sessions. It deletes
  nothing either.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from biofeedback.clinic.schema import PG_SCHEMA, TABLES
from biofeedback.errors import ClinicError

if TYPE_CHECKING:
    import psycopg

STATION_ROLE = "biofeedback_station"
CLINICIAN_ROLE = "biofeedback_clinician"
ROLES = (STATION_ROLE, CLINICIAN_ROLE)

_ALL = tuple(t.name for t in TABLES)

#: role -> (privilege, tables); a privilege may name columns: "UPDATE (notes)".
GRANTS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    STATION_ROLE: (
        ("SELECT", (*_ALL, "schema_migrations")),
        ("INSERT", _ALL),
        (
            "UPDATE",
            ("subjects", "courses", "prescriptions", "sessions", "phases", "markers", "outcomes"),
        ),
    ),
    CLINICIAN_ROLE: (
        ("SELECT", (*_ALL, "schema_migrations")),
        ("INSERT", ("markers", "outcomes")),
        ("UPDATE (label, note)", ("markers",)),
        ("UPDATE", ("outcomes",)),
        ("UPDATE (notes)", ("subjects", "courses", "sessions")),
    ),
}


def role_statements() -> list[str]:
    """GRANT statements of both roles (run after every migration: new tables need them too)."""
    statements = []
    for role, grants in GRANTS.items():
        statements.append(f"GRANT USAGE ON SCHEMA {PG_SCHEMA} TO {role}")
        for privilege, tables in grants:
            names = ", ".join(f"{PG_SCHEMA}.{t}" for t in tables)
            statements.append(f"GRANT {privilege} ON {names} TO {role}")
    return statements


def ensure_roles(conn: psycopg.Connection[Any]) -> list[str]:
    """Create the group roles that do not exist yet and grant them their privileges; returns
    the roles created. Run inside the migrating transaction."""
    created = []
    for role in ROLES:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
            continue
        conn.execute(f"CREATE ROLE {role} NOLOGIN")
        created.append(role)
    for statement in role_statements():
        conn.execute(statement)
    return created


def roles_advice(role_missing: bool) -> ClinicError:
    """The error for a user who may not create or grant the roles."""
    if role_missing:
        return ClinicError(
            "creating the roles needs CREATEROLE: run 'biofeedback clinic init' as a user with "
            f"it, or have the administrator run 'CREATE ROLE {STATION_ROLE} NOLOGIN' and "
            f"'CREATE ROLE {CLINICIAN_ROLE} NOLOGIN' first"
        )
    return ClinicError(
        "granting the roles their privileges needs the owner of the clinic schema: run "
        "'biofeedback clinic init' as the database's owner"
    )
