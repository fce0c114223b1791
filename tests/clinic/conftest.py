"""A throwaway PostgreSQL server for the clinic tests.

``pg_cluster`` (session-scoped) runs ``initdb`` and ``pg_ctl start`` in a private temp folder,
listening only on a unix socket there, with trust authentication (and password authentication
for the one role :data:`PASSWORD_ROLE`, to test logins). CI runs as root and PostgreSQL refuses
to: then the server runs as the system user :data:`SERVER_USER` (made with ``useradd --system``
when missing). ``clinic_url`` gives each test a fresh database owned by the admin role.

Without the server binaries (Debian: ``apt-get install postgresql``) or psycopg the tests skip
with one line; under CI (``CI=true``) that is a failure instead.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

#: The system user the server runs as when the tests run as root.
SERVER_USER = "biofeedback-test"
#: The cluster's superuser (trust login on the socket).
ADMIN = "biofeedback_admin"
#: A login role that must give a password (scram), for the login-refused tests.
PASSWORD_ROLE = "biofeedback_pw"
PASSWORD = "s3cret-for-tests"
START_TIMEOUT_S = 60.0


def _missing(what: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} (CI must have it: .ci/run installs it)")
    pytest.skip(what)


def _bin_dir() -> Path:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if not found:
        _missing(
            "no PostgreSQL server (/usr/lib/postgresql/*/bin/initdb): apt-get install postgresql"
        )
    return Path(found[-1]).parent


def _server_user() -> pwd.struct_passwd | None:
    """The account to run the server as (None: ourselves, when we are not root)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVER_USER,
            ],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SERVER_USER)


@dataclass
class Cluster:
    """A running throwaway server."""

    bin_dir: Path
    root: Path
    port: int
    user: pwd.struct_passwd | None
    #: a login role that must give a password, and its password
    password_role: str = PASSWORD_ROLE
    password: str = PASSWORD

    @property
    def socket_dir(self) -> Path:
        return self.root

    def url(self, dbname: str = "postgres", user: str = ADMIN) -> str:
        return f"postgresql://{user}@/{dbname}?host={self.socket_dir}&port={self.port}"

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A server program (initdb, pg_ctl, ...) as the server's user."""
        kwargs = {"user": self.user.pw_uid, "group": self.user.pw_gid} if self.user else {}
        return subprocess.run(
            [str(self.bin_dir / args[0]), *args[1:]],
            check=check,
            capture_output=True,
            text=True,
            cwd=self.root,
            **kwargs,  # type: ignore[arg-type]
        )

    def sql(self, statement: str, dbname: str = "postgres", user: str = ADMIN) -> None:
        import psycopg

        with psycopg.connect(self.url(dbname, user), autocommit=True) as conn:
            conn.execute(statement)

    def ready(self) -> bool:
        probe = self.run(
            "pg_isready", "-h", str(self.socket_dir), "-p", str(self.port), check=False
        )
        return probe.returncode == 0

    def log_tail(self) -> str:
        log = self.root / "server.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"


def _start(cluster: Cluster) -> None:
    data = cluster.root / "data"
    cluster.run("initdb", "-D", str(data), "-U", ADMIN, "--auth=trust", "-E", "UTF8", "--locale=C")
    hba = data / "pg_hba.conf"
    hba.write_text(f"local all {PASSWORD_ROLE} scram-sha-256\nlocal all all trust\n")
    options = f"-k {cluster.socket_dir} -p {cluster.port} -c listen_addresses='' -F"
    cluster.run(
        "pg_ctl",
        "start",
        "-D",
        str(data),
        "-l",
        str(cluster.root / "server.log"),
        "-W",
        "-o",
        options,
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while not cluster.ready():
        if time.monotonic() > deadline:
            pytest.fail(
                f"PostgreSQL did not start within {START_TIMEOUT_S:g} s:\n{cluster.log_tail()}"
            )
        time.sleep(0.05)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """A PostgreSQL server for the whole test session, stopped at its end."""
    bin_dir = _bin_dir()
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _missing("psycopg is not installed: pip install -e '.[test]'")
    user = _server_user()
    root = Path(tempfile.mkdtemp(prefix="biofeedback-pg-"))  # 0700, outside pytest's root-only tree
    if user is not None:
        os.chown(root, user.pw_uid, user.pw_gid)
    cluster = Cluster(bin_dir, root, 5432, user)
    try:
        _start(cluster)
        cluster.sql(f"CREATE ROLE {PASSWORD_ROLE} LOGIN PASSWORD '{PASSWORD}'")
        yield cluster
    finally:
        cluster.run("pg_ctl", "stop", "-D", str(root / "data"), "-m", "immediate", check=False)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def clinic_url(pg_cluster: Cluster) -> str:
    """A fresh empty database (its own name per test) on the throwaway server."""
    name = f"clinic_{uuid.uuid4().hex[:12]}"
    pg_cluster.sql(f"CREATE DATABASE {name} OWNER {ADMIN}")
    return pg_cluster.url(name)
