"""Creating and upgrading the clinic schema (``biofeedback clinic init``) and its status.

The clinic's versions are the local store's (schema.py): ``schema_migrations`` holds one row per
version applied, with when and by which biofeedback. Each version runs in the transaction that
records it, under an advisory lock, so two ``clinic init`` at once apply it once; a failure
leaves the database at the version before.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from biofeedback import __version__
from biofeedback.clinic.connect import clinic_errors, connect, describe, require_psycopg
from biofeedback.clinic.roles import ROLES, ensure_roles, roles_advice
from biofeedback.clinic.schema import (
    LATEST_VERSION,
    PG_SCHEMA,
    TABLES,
    pg_migration,
)
from biofeedback.errors import ClinicError

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

#: pg_advisory_xact_lock key of schema changes ("biofeedback" as a number).
_LOCK_KEY = 0x62696F66

_MIGRATIONS_TABLE = f"""CREATE TABLE IF NOT EXISTS {PG_SCHEMA}.schema_migrations (
    version     INTEGER PRIMARY KEY,
    applied_at  DOUBLE PRECISION NOT NULL,
    app_version TEXT NOT NULL
)"""


@dataclass
class InitResult:
    """What ``clinic init`` did."""

    clinic: str
    from_version: int
    version: int
    applied: list[int] = field(default_factory=list)
    roles_created: list[str] = field(default_factory=list)

    def text(self) -> str:
        if not self.applied:
            done = f"schema already at version {self.version}"
        elif self.from_version == 0:
            done = f"schema created at version {self.version}"
        else:
            done = f"schema migrated from version {self.from_version} to {self.version}"
        roles = f"; roles created: {', '.join(self.roles_created)}" if self.roles_created else ""
        return f"clinic {self.clinic}: {done}{roles}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ClinicStatus:
    """The clinic's schema version and what it holds."""

    clinic: str
    version: int
    counts: dict[str, int]
    roles: dict[str, bool]

    def text(self) -> str:
        held = ", ".join(f"{n} {name}" for name, n in self.counts.items())
        return f"clinic {self.clinic}: schema version {self.version}; {held}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def clinic_version(conn: psycopg.Connection[Any]) -> int:
    """The clinic schema's version; 0 when it has none yet."""
    if not _scalar(conn, "SELECT to_regclass(%s) IS NOT NULL", (f"{PG_SCHEMA}.schema_migrations",)):
        return 0
    found = _scalar(conn, f"SELECT max(version) FROM {PG_SCHEMA}.schema_migrations")
    return int(found) if found is not None else 0


def check_schema(conn: psycopg.Connection[Any], conninfo: str) -> int:
    """The clinic schema's version when this biofeedback can read and write it; ClinicError
    (what to do) when it has none, is older (not migrated yet) or newer than this one knows.
    For sync and readers, right after :func:`~biofeedback.clinic.connect.connect`."""
    version = clinic_version(conn)
    where = describe(conninfo)
    if version == 0:
        raise ClinicError(
            f"the clinic {where} has no biofeedback schema: run 'biofeedback clinic init URL' "
            "as the database's owner"
        )
    if version < LATEST_VERSION:
        raise ClinicError(
            f"the clinic {where} has schema version {version}, this biofeedback needs "
            f"{LATEST_VERSION}: have its owner run 'biofeedback clinic init URL'"
        )
    if version > LATEST_VERSION:
        raise ClinicError(
            f"the clinic {where} has schema version {version}, newer than this biofeedback "
            f"knows ({LATEST_VERSION}): update biofeedback on this machine"
        )
    return version


def migrate(conn: psycopg.Connection[Any], target: int = LATEST_VERSION) -> tuple[int, list[int]]:
    """Bring the clinic schema to ``target``: (the version found, the versions applied).

    ``conn`` must not be in a transaction (each version commits on its own).
    """
    psycopg = _psycopg_errors()
    applied: list[int] = []
    found = -1
    for version in range(1, target + 1):
        try:
            with conn.transaction():
                current = _locked_version(conn)
                found = current if found < 0 else found
                if current >= version:
                    continue
                for statement in pg_migration(version):
                    conn.execute(statement)
                conn.execute(
                    f"INSERT INTO {PG_SCHEMA}.schema_migrations VALUES (%s, %s, %s)",
                    (version, time.time(), __version__),
                )
                applied.append(version)
        except psycopg.InsufficientPrivilege:
            raise ClinicError(
                "this user may not create the clinic schema: run 'biofeedback clinic init' as "
                "the database's owner (createdb -O OWNER NAME)"
            ) from None
    return max(found, 0), applied


def _locked_version(conn: psycopg.Connection[Any]) -> int:
    """Take the schema lock, make sure the bookkeeping exists; the version (newer -> error)."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {PG_SCHEMA}")
    conn.execute(_MIGRATIONS_TABLE)
    version = clinic_version(conn)
    if version > LATEST_VERSION:
        raise ClinicError(
            f"the clinic schema is version {version}, newer than this biofeedback knows "
            f"({LATEST_VERSION}): update biofeedback on this machine"
        )
    return version


def init_clinic(conninfo: str, target: int = LATEST_VERSION) -> InitResult:
    """``clinic init``: create or migrate the schema, then create and grant the two roles."""
    psycopg = _psycopg_errors()
    with connect(conninfo, autocommit=True) as conn, clinic_errors(conninfo):
        before, applied = migrate(conn, target)
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
                missing = not all(_role_exists(conn, r) for r in ROLES)
                created = ensure_roles(conn)
        except psycopg.InsufficientPrivilege:
            raise roles_advice(missing) from None
        version = clinic_version(conn)
    log.info("clinic %s: version %d (applied %s)", describe(conninfo), version, applied)
    return InitResult(describe(conninfo), before, version, applied, created)


def clinic_status(conninfo: str) -> ClinicStatus:
    """The schema version, rows per table and whether the roles exist."""
    psycopg = _psycopg_errors()
    with connect(conninfo, autocommit=True) as conn, clinic_errors(conninfo):
        try:
            version = clinic_version(conn)
            if version == 0:
                check_schema(conn, conninfo)  # says to run clinic init
            counts = {
                t.name: int(_scalar(conn, f"SELECT count(*) FROM {PG_SCHEMA}.{t.name}"))
                for t in TABLES
                if t.since <= version
            }
            roles = {r: _role_exists(conn, r) for r in ROLES}
        except psycopg.InsufficientPrivilege:
            raise ClinicError(
                f"this user may not read the clinic {describe(conninfo)}: ask its administrator "
                "to grant it biofeedback_station or biofeedback_clinician"
            ) from None
    return ClinicStatus(describe(conninfo), version, counts, roles)


def _role_exists(conn: psycopg.Connection[Any], role: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is not None


def _psycopg_errors() -> Any:
    return require_psycopg().errors


def _scalar(conn: psycopg.Connection[Any], sql: str, params: tuple[Any, ...] = ()) -> Any:
    row = conn.execute(sql, params).fetchone()
    return row[0] if row else None
