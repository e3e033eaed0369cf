"""Shared fixtures: a real PostgreSQL database per test session, and store URLs.

PostgreSQL tests run against `DEPLOYLEDGER_TEST_POSTGRES`
(default `postgresql://postgres@127.0.0.1:5432/test`); the session creates its
own database there and drops it at the end. Outside CI, an unreachable server
skips those tests with one line of reason. With `CI=true` it fails the run, and
any skipped test fails the session.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

ADMIN_DSN = os.environ.get(
    "DEPLOYLEDGER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
BACKENDS = ["sqlite", "postgres"]


def _with_db(dsn: str, dbname: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + dbname))


def _postgres_reason() -> str | None:
    try:
        with psycopg.connect(ADMIN_DSN, connect_timeout=3):
            return None
    except psycopg.Error as e:
        return f"PostgreSQL not reachable at {_with_db(ADMIN_DSN, '')}: {str(e).strip()}"


@pytest.fixture(scope="session")
def postgres_admin_dsn() -> str:
    reason = _postgres_reason()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"CI=true requires PostgreSQL: {reason}", pytrace=False)
        pytest.skip(reason)
    return ADMIN_DSN


def create_database(admin_dsn: str, prefix: str = "dl_test") -> str:
    """Create a fresh, uniquely named database; return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return _with_db(admin_dsn, name)


def drop_database(admin_dsn: str, url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def fresh_postgres(postgres_admin_dsn: str) -> Iterator[str]:
    """A brand-new, empty PostgreSQL database for one test, dropped afterwards."""
    url = create_database(postgres_admin_dsn)
    yield url
    drop_database(postgres_admin_dsn, url)


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty store for one test: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return str(request.getfixturevalue("fresh_postgres"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI, a skipped test is a failure: PostgreSQL tests must really run."""
    if not IN_CI:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped:
        print(f"\nCI=true: {skipped} test(s) were skipped; every test must run in CI.")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
