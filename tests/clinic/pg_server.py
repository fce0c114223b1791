"""A throwaway PostgreSQL server (tests/clinic's fixtures, and benchmarks that add this folder to
``sys.path``): ``initdb`` and ``pg_ctl start`` in a private temp folder, listening on a unix
socket there and on a free loopback port (TLS on it when openssl is here: ``ca_file`` verifies
it as ``localhost``), trust authentication except for :data:`PASSWORD_ROLE` (scram), fsync off
unless asked. As root (CI) the server runs as the system user :data:`SERVER_USER`, made with
``useradd --system`` when missing, since PostgreSQL refuses to run as root.

    cluster = create_cluster()
    cluster.sql("CREATE DATABASE emg")
    url = cluster.url("emg")          # or cluster.tcp_url("emg", sslmode="verify-full", ...)
    cluster.stop(); cluster.start()   # a server gone and back
    cluster.destroy()
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

#: The system user the server runs as when the tests run as root.
SERVER_USER = "biofeedback-test"
#: The cluster's superuser (trust login on the socket).
ADMIN = "biofeedback_admin"
#: A login role that must give a password (scram), for the login-refused tests.
PASSWORD_ROLE = "biofeedback_pw"
PASSWORD = "s3cret-for-tests"
START_TIMEOUT_S = 60.0


NO_SERVER = "no PostgreSQL server (/usr/lib/postgresql/*/bin/initdb): apt-get install postgresql"
NO_PSYCOPG = "psycopg is not installed: pip install -e '.[test]'"


class ServerError(RuntimeError):
    """The throwaway server could not be made or started."""


def initdb_paths() -> list[str]:
    """The server's initdb of every installed version, the newest last."""
    return sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )


def absent() -> str | None:
    """Why a throwaway server cannot run here (None: it can)."""
    if not initdb_paths():
        return NO_SERVER
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return NO_PSYCOPG
    return None


def server_user() -> pwd.struct_passwd | None:
    """The account to run the server as (None: ourselves, when we are not root)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        pass
    made = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_USER],
        capture_output=True,
        text=True,
    )
    try:
        return pwd.getpwnam(SERVER_USER)  # made now, or by a test run next to this one
    except KeyError:
        raise ServerError(
            f"cannot create the system user {SERVER_USER}: {made.stderr.strip()}"
        ) from None


@dataclass
class Cluster:
    """A throwaway server: a unix socket in :attr:`root` and TCP on 127.0.0.1 at :attr:`port`
    (with TLS when openssl made a certificate: :attr:`ca_file` verifies it as ``localhost``)."""

    bin_dir: Path
    root: Path
    port: int
    user: pwd.struct_passwd | None
    ca_file: Path | None = None
    #: fsync off: fast, and a crash of the machine loses the cluster (it is thrown away anyway)
    fsync: bool = False
    #: a login role that must give a password, and its password
    password_role: str = PASSWORD_ROLE
    password: str = PASSWORD

    @property
    def socket_dir(self) -> Path:
        return self.root

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def url(self, dbname: str = "postgres", user: str = ADMIN) -> str:
        """A URL over the unix socket."""
        return f"postgresql://{user}@/{dbname}?host={self.socket_dir}&port={self.port}"

    def tcp_url(self, dbname: str = "postgres", user: str = ADMIN, **params: str) -> str:
        """A URL over loopback TCP; ``params`` are libpq options (``sslmode="verify-full"``)."""
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"postgresql://{user}@localhost:{self.port}/{dbname}" + (
            f"?{query}" if query else ""
        )

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

    def start(self) -> None:
        """Start the server and wait (with a deadline) until it accepts connections."""
        options = f"-k {self.socket_dir} -p {self.port} -c listen_addresses=127.0.0.1"
        options += "" if self.fsync else " -F"
        if self.ca_file is not None:
            options += " -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key"
        log = str(self.root / "server.log")
        self.run("pg_ctl", "start", "-D", str(self.data_dir), "-l", log, "-W", "-o", options)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.ready():
            if time.monotonic() > deadline:
                raise ServerError(
                    f"PostgreSQL did not start within {START_TIMEOUT_S:g} s:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def destroy(self) -> None:
        """Stop the server at once and remove its folder."""
        self.run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "immediate", check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``mode="immediate"``: as if it crashed); waits until it is down."""
        self.run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", mode, "-t", "60")


def _init(cluster: Cluster) -> None:
    data = cluster.data_dir
    cluster.run("initdb", "-D", str(data), "-U", ADMIN, "--auth=trust", "-E", "UTF8", "--locale=C")
    (data / "pg_hba.conf").write_text(
        f"local all {PASSWORD_ROLE} scram-sha-256\n"
        "local all all trust\n"
        "host all all 127.0.0.1/32 trust\n"
    )
    cluster.ca_file = _make_certificates(cluster)


def _openssl(cwd: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=cwd)


def _make_certificates(cluster: Cluster) -> Path | None:
    """A test CA and a server certificate for ``localhost`` signed by it (None without openssl);
    also ``other-ca.crt``, a CA that did not sign it."""
    if shutil.which("openssl") is None:
        return None
    certs = cluster.root / "certs"
    certs.mkdir()
    new = ("req", "-newkey", "rsa:2048", "-nodes", "-days", "2")
    for ca in ("ca", "other-ca"):
        _openssl(
            certs, *new, "-x509", "-keyout", f"{ca}.key", "-out", f"{ca}.crt", "-subj", f"/CN={ca}"
        )
    _openssl(certs, *new, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (certs / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    sign = "x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt"
    _openssl(certs, *sign.split(), "-days", "2", "-extfile", "san.ext")
    for name in ("server.crt", "server.key"):
        target = cluster.data_dir / name
        shutil.copy(certs / name, target)
        target.chmod(0o600)
        if cluster.user is not None:
            os.chown(target, cluster.user.pw_uid, cluster.user.pw_gid)
    return certs / "ca.crt"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def create_cluster(fsync: bool = False) -> Cluster:
    """Make and start a throwaway server in a new private temp folder (remove it with
    :meth:`Cluster.destroy`). As root, the server runs as :data:`SERVER_USER`."""
    reason = absent()
    if reason is not None:
        raise ServerError(reason)
    user = server_user()
    root = Path(tempfile.mkdtemp(prefix="biofeedback-pg-"))  # 0700, outside pytest's root-only tree
    if user is not None:
        os.chown(root, user.pw_uid, user.pw_gid)
    cluster = Cluster(Path(initdb_paths()[-1]).parent, root, free_port(), user, fsync=fsync)
    try:
        _init(cluster)
        cluster.start()
        cluster.sql(f"CREATE ROLE {PASSWORD_ROLE} LOGIN PASSWORD '{PASSWORD}'")
    except BaseException:
        cluster.destroy()
        raise
    return cluster
