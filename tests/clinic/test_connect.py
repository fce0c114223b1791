"""Connection strings, credentials by libpq's rules, the configured clinic, and one-line errors
(``clinic`` commands exit 2 with one line, never a traceback)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from biofeedback.cli import main
from biofeedback.clinic.connect import (
    check_conninfo,
    clinic_errors,
    configured_clinic,
    connect,
    has_password,
    redact,
    resolve_clinic,
)
from biofeedback.clinic.migrate import init_clinic
from biofeedback.errors import ClinicError


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(code: int, err: str) -> str:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("biofeedback: "), err
    return lines[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("conninfo", "message"),
    [
        ("", "the clinic is empty"),
        ("   ", "the clinic is empty"),
        ("http://db.clinic/emg", "is not a PostgreSQL connection string"),
        ("db.clinic", "is not a PostgreSQL connection string"),
        ("host=db dbname='unterminated", "malformed"),
        ("postgresql://u@h/db?nonsense_option=1", "malformed"),
    ],
)
def test_bad_connection_strings(conninfo: str, message: str) -> None:
    with pytest.raises(ClinicError, match=message):
        check_conninfo(conninfo)


def test_passwords_are_found_and_redacted() -> None:
    assert has_password("postgresql://u:pw@h/db") and has_password("host=h password=pw")
    assert not has_password("postgresql://u@h/db") and not has_password("service=clinic")
    assert redact("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    assert redact("host=h password='a b' dbname=x") == "host=h password=*** dbname=x"


def test_set_refuses_a_password_and_keeps_the_rest(capsys) -> None:
    code, _, err = run(capsys, "clinic", "set", "postgresql://desk1:hunter2@db.clinic/emg")
    line = _one_line_error(code, err)
    assert "pgpass" in line and "hunter2" not in line
    assert configured_clinic() is None
    code, out, _ = run(
        capsys, "clinic", "set", "postgresql://desk1@db.clinic/emg?sslmode=verify-full"
    )
    assert code == 0 and "desk1@db.clinic/emg" in out
    code, out, _ = run(capsys, "clinic", "show", "--json")
    assert json.loads(out)["clinic"] == "postgresql://desk1@db.clinic/emg?sslmode=verify-full"
    assert resolve_clinic(None) == configured_clinic()
    assert run(capsys, "clinic", "set", "none")[0] == 0
    assert configured_clinic() is None
    assert "no clinic configured" in run(capsys, "clinic", "show")[1]


def test_status_without_a_clinic_says_how_to_set_one(capsys) -> None:
    line = _one_line_error(*run(capsys, "clinic", "status")[::2])
    assert "no clinic is configured" in line and "clinic set URL" in line


def test_server_down_is_one_line(capsys) -> None:
    url = f"postgresql://desk1@127.0.0.1:{_free_port()}/emg?connect_timeout=5"
    line = _one_line_error(*run(capsys, "clinic", "init", url)[::2])
    assert (
        "cannot reach the clinic desk1@127.0.0.1" in line and "check that the server runs" in line
    )


def test_a_missing_database_says_createdb(pg_cluster) -> None:
    with pytest.raises(ClinicError, match=r"does not exist: create it on the server \(createdb"):
        connect(pg_cluster.url("no_such_db"))


def test_a_missing_password_points_to_pgpass(pg_cluster, clinic_url, tmp_path, monkeypatch) -> None:
    dbname = urlsplit(clinic_url).path.lstrip("/")
    role, password = pg_cluster.password_role, pg_cluster.password
    url = pg_cluster.url(dbname, user=role)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "missing"))
    with pytest.raises(ClinicError, match=r"refused the login .*pgpass file"):
        connect(url)
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"*:*:*:{role}:wrong\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    with pytest.raises(ClinicError, match=r"refused the login .*password authentication failed"):
        connect(url)
    passfile.write_text(f"*:*:*:{role}:{password}\n")
    with connect(url) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == role


def test_a_service_name_reaches_the_clinic(
    pg_cluster, clinic_url, tmp_path: Path, monkeypatch, capsys
) -> None:
    dbname = urlsplit(clinic_url).path.lstrip("/")
    services = tmp_path / "pg_service.conf"
    services.write_text(
        f"[clinic]\nhost={pg_cluster.socket_dir}\nport={pg_cluster.port}\ndbname={dbname}\n"
        "user=biofeedback_admin\n"
    )
    monkeypatch.setenv("PGSERVICEFILE", str(services))
    code, out, _ = run(capsys, "clinic", "init", "service=clinic", "--json")
    assert code == 0 and json.loads(out)["version"] == 5
    assert run(capsys, "clinic", "set", "service=clinic")[0] == 0
    code, out, _ = run(capsys, "clinic", "status", "--json")
    status = json.loads(out)
    assert code == 0 and status["version"] == 5 and status["clinic"] == "service clinic"
    code, _, err = run(capsys, "clinic", "status", "service=nowhere")
    assert "nowhere" in _one_line_error(code, err)


def test_init_text_and_status_text(clinic_url: str, capsys) -> None:
    code, out, _ = run(capsys, "clinic", "init", clinic_url)
    assert code == 0 and "schema created at version 5" in out and clinic_url not in out
    assert init_clinic(clinic_url).applied == []
    code, out, _ = run(capsys, "clinic", "status", clinic_url)
    assert code == 0 and "schema version 5; 0 subjects, 0 sessions" in out


def test_tls_verify_full_checks_the_server_certificate(pg_cluster, clinic_url) -> None:
    if pg_cluster.ca_file is None:
        pytest.skip("no openssl to make a test certificate")
    dbname = urlsplit(clinic_url).path.lstrip("/")
    good = pg_cluster.tcp_url(dbname, sslmode="verify-full", sslrootcert=str(pg_cluster.ca_file))
    with connect(good) as conn:
        assert conn.info.pgconn.ssl_in_use
    other_ca = pg_cluster.ca_file.with_name("other-ca.crt")
    bad = pg_cluster.tcp_url(dbname, sslmode="verify-full", sslrootcert=str(other_ca))
    with pytest.raises(ClinicError, match=r"failed the TLS check \(.*certificate.*sslrootcert"):
        connect(bad)
    # the right certificate for another host name: db.example reached at 127.0.0.1
    wrong_name = good.replace("@localhost:", "@db.example:") + "&hostaddr=127.0.0.1"
    with pytest.raises(ClinicError, match=r"failed the TLS check \(.*does not match host name"):
        connect(wrong_name)


def test_a_restarted_server_is_reached_again(pg_cluster, clinic_url) -> None:
    init_clinic(clinic_url)
    pg_cluster.stop()
    try:
        with pytest.raises(ClinicError, match="cannot reach the clinic"):
            connect(clinic_url)
    finally:
        pg_cluster.start()
    assert init_clinic(clinic_url).applied == []


@pytest.mark.parametrize("action", ["init", "status", "set"])
def test_a_bad_url_on_the_command_line_is_one_line(capsys, action: str) -> None:
    line = _one_line_error(*run(capsys, "clinic", action, "http://db.clinic/emg")[::2])
    assert "is not a PostgreSQL connection string: give a URL like postgresql://" in line


def test_a_connection_lost_while_working_is_one_line(pg_cluster, clinic_url) -> None:
    init_clinic(clinic_url)
    lost = r"lost the connection to the clinic .*run it again"
    with connect(clinic_url, autocommit=True) as conn:
        pg_cluster.sql(f"SELECT pg_terminate_backend({conn.info.backend_pid})")
        with pytest.raises(ClinicError, match=lost), clinic_errors(clinic_url):
            conn.execute("SELECT count(*) FROM sessions")
    refused = r"refused it \(.*no_such_table"
    with (
        connect(clinic_url, autocommit=True) as conn,
        pytest.raises(ClinicError, match=refused),
        clinic_errors(clinic_url),
    ):
        conn.execute("SELECT * FROM no_such_table")
