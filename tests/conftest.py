"""Shared fixtures: a real PostgreSQL database per test session, and store URLs.

PostgreSQL tests run against `DEPLOYLEDGER_TEST_POSTGRES`
(default `postgresql://postgres@127.0.0.1:5432/test`); the session creates its
own database there and drops it at the end. Outside CI, an unreachable server
skips those tests with one line of reason. With `CI=true` it fails the run, and
any skipped test fails the session.

Migrating a store costs a quarter of a second on SQLite and a second on PostgreSQL, and
dropping a PostgreSQL database waits for a server checkpoint. So a migrated store is
migrated once per session (per xdist worker) and copied for each test (`migrated_sqlite`,
`postgres_migrated`: `CREATE DATABASE ... TEMPLATE`), and the databases of the tests are
dropped a batch at a time, several at once (`DatabaseDropper`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import (
    DatabaseDropper,
    create_database,
    drop_database,
    migrated_sqlite,
    postgres_unreachable,
    wait_until_unused,
)
from timeouts import pytest_timeout_set_timer  # noqa: F401  # a hook: every test's time limit

from deployledger import Ledger

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


@pytest.fixture(scope="session")
def dropper(postgres_admin_dsn: str) -> Iterator[DatabaseDropper]:
    """Drops the databases of the tests a batch at a time; the last ones at the end."""
    dropping = DatabaseDropper(postgres_admin_dsn)
    yield dropping
    failed = dropping.close()
    assert not failed, "databases not dropped:\n" + "\n".join(failed)


@pytest.fixture
def fresh_postgres(postgres_admin_dsn: str, dropper: DatabaseDropper) -> Iterator[str]:
    """A brand-new, empty PostgreSQL database for one test, dropped afterwards."""
    url = create_database(postgres_admin_dsn)
    yield url
    dropper.drop(url)


@pytest.fixture(scope="session")
def postgres_template(postgres_admin_dsn: str) -> Iterator[str]:
    """A PostgreSQL database with the deployledger schema, migrated once per session, that
    nothing stays connected to: only `postgres_migrated` copies it."""
    url = create_database(postgres_admin_dsn, prefix="dl_tmpl")
    with Ledger.open(url, create=True):
        pass
    wait_until_unused(postgres_admin_dsn, url)
    yield url
    drop_database(postgres_admin_dsn, url)


@pytest.fixture
def postgres_migrated(
    postgres_admin_dsn: str, postgres_template: str, dropper: DatabaseDropper
) -> Iterator[str]:
    """A new PostgreSQL database for one test, with the deployledger schema and no data
    (a copy of `postgres_template`), dropped afterwards."""
    url = create_database(postgres_admin_dsn, template=postgres_template)
    yield url
    dropper.drop(url)


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty store for one test: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return str(request.getfixturevalue("fresh_postgres"))


@pytest.fixture(params=BACKENDS)
def migrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store with the deployledger schema and no events, for one test: a copy of a SQLite
    store migrated once per process, or of the migrated PostgreSQL template. For the tests
    that are not about making the schema (those take `store_url`)."""
    if request.param == "sqlite":
        return migrated_sqlite(tmp_path / "ledger.db")
    return str(request.getfixturevalue("postgres_migrated"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The `slow` tests first (a stable sort: pytest-randomly's order within each part), so
    that under pytest-xdist (`--dist worksteal`) the longest ones start early and the short
    ones fill in around them, instead of one long test running alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI, a skipped test is a failure: PostgreSQL tests must really run."""
    if not IN_CI:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped:
        print(f"\nCI=true: {skipped} test(s) were skipped; every test must run in CI.")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
