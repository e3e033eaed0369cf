"""Integration fixtures: a store with the deployledger schema and no data, on both backends.

`store_url` (tests/conftest.py) gives an *empty* store: a new SQLite file, or a brand-new
PostgreSQL database. Tests about creating the schema use it directly. Creating and
dropping a PostgreSQL database costs about half a second, though, so tests that only need
a migrated store with no events use `ready_url`: a copy of a SQLite store migrated once
per session, or one migrated PostgreSQL database per session, emptied (TRUNCATE ...
RESTART IDENTITY) before each test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import create_database, drop_database, empty_postgres, migrated_sqlite

from deployledger import Ledger

# The PostgreSQL side carries the `postgres` marker, so `-m "not postgres"` leaves it out.
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def migrated_postgres(postgres_admin_dsn: str, postgres_template: str) -> Iterator[str]:
    """One PostgreSQL database for the session, with the deployledger schema."""
    url = create_database(postgres_admin_dsn, prefix="dl_itest", template=postgres_template)
    yield url
    drop_database(postgres_admin_dsn, url)


@pytest.fixture
def sqlite_ready_url(tmp_path: Path) -> str:
    """A new SQLite store with the deployledger schema."""
    return migrated_sqlite(tmp_path / "ledger.db")


@pytest.fixture
def postgres_ready_url(migrated_postgres: str) -> str:
    """The session's PostgreSQL store, emptied."""
    empty_postgres(migrated_postgres)
    return migrated_postgres


@pytest.fixture(params=BACKENDS)
def ready_url(request: pytest.FixtureRequest) -> str:
    """A store with the deployledger schema and no events, on each backend."""
    return str(request.getfixturevalue(f"{request.param}_ready_url"))


@pytest.fixture
def ledger(ready_url: str) -> Iterator[Ledger]:
    """An open ledger on a store with no events; closed afterwards."""
    with Ledger.open(ready_url) as opened:
        yield opened
