"""Fixtures for the end-to-end tests of the installed `deployledger` console script."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support import CLI, EXAMPLE_RT_ID, EXAMPLE_TENANT, EXAMPLES, Cli, Runner

# The PostgreSQL side carries the `postgres` marker, so `-m "not postgres"` leaves it out.
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def cli() -> Cli:
    """The runner for the installed console script (checked to exist once)."""
    assert Path(CLI).is_file(), f"console script not installed at {CLI}"
    return Runner()


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty store ready for `record`: a SQLite URL (its file and schema are created by
    the first `record`), or a fresh PostgreSQL database with the schema (a copy of one
    migrated once per session; tests/e2e/test_e2e_errors.py runs `migrate` itself)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return str(request.getfixturevalue("postgres_migrated"))


@pytest.fixture
def recorded(store: str, cli: Cli) -> str:
    """A store holding examples/reports.jsonl."""
    cli("record", EXAMPLES, store=store)
    return store


@pytest.fixture(scope="session")
def examples() -> list[dict[str, Any]]:
    """The reports of examples/reports.jsonl, in file order."""
    lines = EXAMPLES.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="session")
def checkout(examples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The 7 reports of acme-prod/checkout-api, oldest first."""
    reports = [
        r
        for r in examples
        if r["tenantId"] == EXAMPLE_TENANT and r["workloadRtId"] == EXAMPLE_RT_ID
    ]
    assert len(reports) == 7
    return reports
