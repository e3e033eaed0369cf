"""Shared fixtures: a real PostgreSQL database per test session, and store URLs.

PostgreSQL tests run against `DEPLOYLEDGER_TEST_POSTGRES`
(default `postgresql://postgres@127.0.0.1:5432/test`); the session creates its
own database there and drops it at the end. Outside CI, an unreachable server
skips those tests with one line of reason. With `CI=true` it fails the run, and
any skipped test fails the session.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import create_database, drop_database, postgres_unreachable
from timeouts import pytest_timeout_set_timer  # noqa: F401  # a hook: every test's time limit

ADMIN_DSN = os.environ.get(
    "DEPLOYLEDGER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# The PostgreSQL side carries the `postgres` marker, so `-m "not postgres"` leaves it out.
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def postgres_admin_dsn() -> str:
    reason = postgres_unreachable(ADMIN_DSN)
    if reason is not None:
        if IN_CI:
            pytest.fail(f"CI=true requires PostgreSQL: {reason}", pytrace=False)
        pytest.skip(reason)
    return ADMIN_DSN


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
