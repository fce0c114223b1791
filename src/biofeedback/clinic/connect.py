"""Reaching the clinic database: connection strings, credentials and errors, by libpq's rules.

A clinic is named by a libpq connection string: a URL (``postgresql://station@db.clinic/emg``)
or keywords (``service=clinic``, ``host=db.clinic dbname=emg``). Passwords, TLS files and
defaults come from where libpq looks for them: the service file (``~/.pg_service.conf``,
``PGSERVICEFILE``), the password file (``~/.pgpass``, ``PGPASSFILE``) and the ``PG*``
environment. We never store a password: :func:`save_clinic` refuses a connection string that
holds one. docs/clinic.md.

psycopg is imported here, on first use, and only for clinic features (``pip install
"biofeedback[clinic]"``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from biofeedback.errors import ClinicError

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

#: The settings key (settings.json in the data folder) of the configured clinic.
SETTINGS_KEY = "clinic"
#: Seconds to wait for the server to answer before saying it cannot be reached.
CONNECT_TIMEOUT_S = 10
#: Longest connection string accepted.
MAX_CONNINFO_CHARS = 2000

_URL_SCHEMES = ("postgresql://", "postgres://")
_KEYWORD_RE = re.compile(r"^\s*[A-Za-z_]+\s*=")


def require_psycopg() -> Any:
    """The psycopg module; ClinicError (how to install it) when it is missing."""
    try:
        import psycopg
    except ImportError:
        raise ClinicError(
            'clinic features need psycopg: pip install "biofeedback[clinic]"'
        ) from None
    return psycopg


def check_conninfo(conninfo: str) -> dict[str, str]:
    """The keywords of a connection string (URL or ``key=value``); ClinicError when malformed."""
    text = conninfo.strip() if isinstance(conninfo, str) else ""
    if not text:
        raise ClinicError(
            "the clinic is empty: give a URL like postgresql://USER@HOST/DB or service=NAME"
        )
    if len(text) > MAX_CONNINFO_CHARS:
        raise ClinicError(
            f"the clinic connection string is longer than {MAX_CONNINFO_CHARS} characters"
        )
    if not text.startswith(_URL_SCHEMES) and not _KEYWORD_RE.match(text):
        raise ClinicError(
            f"{redact(text)!r} is not a PostgreSQL connection string: give a URL like "
            "postgresql://USER@HOST/DB or keywords like service=NAME"
        )
    psycopg = require_psycopg()
    try:
        parsed = psycopg.conninfo.conninfo_to_dict(text)
    except psycopg.ProgrammingError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "cannot be parsed"
        raise ClinicError(
            f"the clinic connection string is malformed ({reason}): give a URL like "
            "postgresql://USER@HOST/DB or keywords like service=NAME"
        ) from None
    return {str(k): str(v) for k, v in parsed.items() if v is not None}


def has_password(conninfo: str) -> bool:
    """Whether the connection string itself holds a password."""
    return "password" in check_conninfo(conninfo)


def redact(conninfo: str) -> str:
    """The connection string with any password replaced by ``***`` (for messages and logs)."""
    text = re.sub(r"(://[^:/@?#]*):[^@/?#]*@", r"\1:***@", conninfo)
    text = re.sub(r"(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", text)
    return text


def describe(conninfo: str) -> str:
    """Where a connection string leads, for one line of output: ``user@host:port/db`` as far as
    it says (the rest comes from libpq's defaults), or ``service NAME``."""
    parts = check_conninfo(conninfo)
    if "service" in parts and not {"host", "dbname"} & set(parts):
        return f"service {parts['service']}"
    user = f"{parts['user']}@" if "user" in parts else ""
    host = parts.get("host", "")
    port = f":{parts['port']}" if "port" in parts else ""
    return f"{user}{host}{port}/{parts.get('dbname', '')}"


def configured_clinic() -> str | None:
    """The clinic saved with ``biofeedback clinic set`` (None when there is none)."""
    from biofeedback.config import load_settings

    value = load_settings().get(SETTINGS_KEY)
    return value if isinstance(value, str) and value.strip() else None


def save_clinic(conninfo: str | None) -> None:
    """Remember the clinic (None forgets it). A password in it is refused: it would be kept in
    plain text; libpq reads it from a password file or service file instead."""
    from biofeedback.config import load_settings, save_settings

    values = load_settings()
    if conninfo is None:
        values.pop(SETTINGS_KEY, None)
    else:
        if has_password(conninfo):
            raise ClinicError(
                "the clinic URL holds a password, which would be stored in plain text: put the "
                "password in a pgpass file (~/.pgpass or PGPASSFILE) or a service file and give "
                "the URL without it"
            )
        values[SETTINGS_KEY] = conninfo.strip()
    save_settings(values)


def resolve_clinic(conninfo: str | None) -> str:
    """The clinic to use: ``conninfo`` (a ``--clinic`` option) or the configured one."""
    chosen = conninfo if conninfo is not None else configured_clinic()
    if chosen is None:
        raise ClinicError(
            "no clinic is configured: give its URL (postgresql://USER@HOST/DB) or set one with "
            "'biofeedback clinic set URL'"
        )
    check_conninfo(chosen)
    return chosen.strip()


def connect(conninfo: str, *, autocommit: bool = False) -> psycopg.Connection[Any]:
    """A connection to the clinic with the clinic schema on its search path.

    Every failure to connect (server down or unreachable, authentication, a missing database,
    TLS) raises :class:`ClinicError` with one line saying what to do.
    """
    # the schema module (and with it the local store's) loads when a connection is made, not
    # when the window only asks whether a clinic is configured
    from biofeedback.clinic.schema import PG_SCHEMA

    check_conninfo(conninfo)
    psycopg = require_psycopg()
    try:
        return psycopg.connect(
            conninfo,
            autocommit=autocommit,
            connect_timeout=CONNECT_TIMEOUT_S,
            application_name="biofeedback",
            options=f"-c search_path={PG_SCHEMA}",
        )
    except psycopg.Error as exc:
        raise ClinicError(connect_advice(exc, conninfo)) from None


def connect_advice(exc: BaseException, conninfo: str) -> str:
    """One line for a failed connection: what happened and what to do."""
    text = " ".join(str(exc).split())
    where = describe(conninfo)
    low = text.lower()
    if "password authentication failed" in low or "no password supplied" in low:
        advice = "check the user and put its password in a pgpass file (~/.pgpass or PGPASSFILE)"
        return f"the clinic {where} refused the login ({_short(text)}): {advice}"
    if "does not exist" in low and "database" in low:
        return (
            f"the clinic database {where} does not exist: create it on the server "
            "(createdb -O OWNER NAME), then run 'biofeedback clinic init URL'"
        )
    if "role" in low and "does not exist" in low:
        return f"the clinic {where} has no such user ({_short(text)}): ask its administrator for a login"
    if any(w in low for w in ("ssl", "certificate", "tls")):
        return (
            f"the clinic {where} failed the TLS check ({_short(text)}): give the clinic's root "
            "certificate (sslrootcert) and the host name its server certificate names "
            "(docs/clinic.md, TLS)"
        )
    if "pg_hba.conf" in low:
        return f"the clinic {where} does not let this machine in ({_short(text)}): ask its administrator"
    if "service" in low and ("not found" in low or "definition" in low):
        return f"{_short(text)}: define the service in ~/.pg_service.conf (or PGSERVICEFILE)"
    return (
        f"cannot reach the clinic {where} ({_short(text)}): check that the server runs and "
        "that host and port are right"
    )


def _short(text: str, limit: int = 160) -> str:
    text = text.removeprefix("connection failed: ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


@contextmanager
def clinic_errors(conninfo: str) -> Iterator[None]:
    """Turn what the server says while working (a connection lost, a refused statement) into
    one-line ClinicErrors; catch the errors you expect inside it."""
    psycopg = require_psycopg()
    where = describe(conninfo)
    try:
        yield
    except psycopg.OperationalError as exc:
        raise ClinicError(
            f"lost the connection to the clinic {where} ({_short(' '.join(str(exc).split()))}): "
            "nothing half done is kept; run it again when the server is back"
        ) from None
    except psycopg.Error as exc:
        log.debug("clinic %s refused a statement", where, exc_info=True)
        raise ClinicError(
            f"the clinic {where} refused it ({_short(' '.join(str(exc).split()))}): check that "
            "its schema was made by 'biofeedback clinic init' and not changed by hand"
        ) from None


@contextmanager
def sync_transaction(conn: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
    """A transaction whose writes keep the revisions they set: the clinic's revision triggers
    leave sessions alone in it (as a bundle import does locally). For sync, not for editing."""
    from biofeedback.clinic.schema import SYNC_SETTING

    with conn.transaction():
        conn.execute(f"SET LOCAL {SYNC_SETTING} = 'on'")
        yield conn
