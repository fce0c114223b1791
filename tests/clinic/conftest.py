"""Fixtures with a throwaway PostgreSQL server (pg_server.py) for the clinic tests.

``pg_cluster`` (session-scoped) starts one server for the test run and removes it at the end;
``Cluster.stop()`` / ``start()`` stop and restart it (a server gone mid-sync). ``clinic_url``
gives each test a fresh database owned by the admin role.

Without the server binaries (Debian: ``apt-get install postgresql``) or psycopg the tests that
need the server skip with one line per file; under CI (``CI=true``) that is a failure instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from pg_server import ADMIN, Cluster, ServerError, absent, create_cluster


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Outside CI, the tests that need the server skip with one line per file, said once."""
    reason = absent()
    if reason is None or _in_ci():
        return
    mark = pytest.mark.skip(reason=reason)
    for item in items:
        if "pg_cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(mark)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """A PostgreSQL server for the whole test session, removed at its end."""
    reason = absent()
    if reason is not None:
        if _in_ci():
            pytest.fail(f"{reason} (CI must have it: .ci/run installs it)")
        pytest.skip(reason)
    try:
        cluster = create_cluster()
    except ServerError as exc:
        pytest.fail(str(exc))
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def clinic_url(pg_cluster: Cluster) -> str:
    """A fresh empty database (its own name per test) on the throwaway server."""
    name = f"clinic_{uuid.uuid4().hex[:12]}"
    pg_cluster.sql(f"CREATE DATABASE {name} OWNER {ADMIN}")
    return pg_cluster.url(name)
