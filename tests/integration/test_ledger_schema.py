"""Creating the store's schema: once, on request, and safely when many start at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import (
    RT_ID,
    TENANT,
    open_with_create_in_child,
    postgres_tables,
    report,
    run_processes,
    run_threads,
    threaded_open_in_child,
)

from deployledger import Ledger, SchemaMissing


class TestPostgresSchema:
    def test_opening_an_empty_database_without_create_is_schema_missing(
        self, fresh_postgres: str
    ) -> None:
        with pytest.raises(SchemaMissing) as info:
            Ledger.open(fresh_postgres)
        assert "migrate" in str(info.value)
        assert postgres_tables(fresh_postgres) == set()

    def test_create_true_creates_the_schema_once_and_keeps_the_data(
        self, fresh_postgres: str
    ) -> None:
        with Ledger.open(fresh_postgres, create=True) as ledger:
            ledger.record(report())
        assert {"deployledger_events", "deployledger_snapshots"} <= postgres_tables(fresh_postgres)
        with Ledger.open(fresh_postgres, create=True) as ledger:  # again: changes nothing
            assert ledger.record(report()).attempt == 2
        with Ledger.open(fresh_postgres) as ledger:  # workers open without create
            assert [a.attempt for a in ledger.history(TENANT, RT_ID)] == [2, 1]

    def test_processes_opening_with_create_at_once_all_succeed(self, fresh_postgres: str) -> None:
        assert run_processes(4, open_with_create_in_child, fresh_postgres) == []
        with Ledger.open(fresh_postgres) as ledger:
            assert ledger.record(report()).attempt == 1

    def test_a_named_schema_holds_the_tables_and_leaves_public_alone(
        self, fresh_postgres: str
    ) -> None:
        url = f"{fresh_postgres}?schema=ops"
        with pytest.raises(SchemaMissing):
            Ledger.open(url)
        with Ledger.open(url, create=True) as ledger:
            ledger.record(report())
        assert {"deployledger_events", "deployledger_snapshots"} <= postgres_tables(
            fresh_postgres, "ops"
        )
        assert "deployledger_events" not in postgres_tables(fresh_postgres)
        with Ledger.open(url) as ledger:
            assert ledger.record(report()).attempt == 2
        with pytest.raises(SchemaMissing):
            Ledger.open(fresh_postgres)  # the public schema has no store

    def test_replicas_creating_a_named_schema_at_once_all_succeed(
        self, fresh_postgres: str
    ) -> None:
        for round_ in range(3):  # the race was likely, not certain, in any one round
            url = f"{fresh_postgres}?schema=ops{round_}"

            def create(_: int, url: str = url) -> None:
                with Ledger.open(url, create=True):
                    pass

            assert run_threads(8, create) == []


class TestSQLiteSchema:
    def test_processes_opening_a_new_store_at_once_all_succeed(self, tmp_path: Path) -> None:
        # The race (who switches the new file to WAL) was lost in about one round in five.
        for round_ in range(8):
            url = f"sqlite:///{tmp_path / f'new{round_}.db'}"
            assert run_processes(3, open_with_create_in_child, url) == []
            with Ledger.open(url) as ledger:
                assert ledger.record(report()).attempt == 1

    def test_threads_opening_a_new_store_at_once_all_succeed(self, tmp_path: Path) -> None:
        # in a child process, so that a crash cannot take the test session down with it
        assert run_processes(1, threaded_open_in_child, str(tmp_path), 2) == []
