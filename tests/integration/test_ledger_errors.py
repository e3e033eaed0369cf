"""Store errors: StoreUnavailable for a dead server or a lock wait, never a password shown."""

from __future__ import annotations

import sqlite3
import threading
import time
import traceback
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest
from support import PASSWORD, RT_ID, TENANT, report, with_password

from deployledger import (
    DeployLedgerError,
    Ledger,
    SchemaMissing,
    StoreMisconfigured,
    StoreUnavailable,
)
from deployledger.domain.storeurl import parse_store_url

CLOSED_PORT_URL = f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/x"


def everything_shown(error: BaseException) -> str:
    """Every text a caller, a log or a traceback could show for this error."""
    shown = [str(error), repr(error), *map(str, error.args), *map(repr, error.args)]
    shown.append("".join(traceback.format_exception(error)))
    return "\n".join(shown)


def raised_by(call: Callable[[], object]) -> BaseException:
    """Whatever `call` raises (it must raise)."""
    try:
        call()
    except Exception as error:
        return error
    raise AssertionError("the call did not raise")


class TestUnreachableServer:
    @pytest.mark.parametrize("create", [False, True], ids=["open", "open-create"])
    def test_a_closed_port_raises_store_unavailable_quickly(self, create: bool) -> None:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as info:
            Ledger.open(CLOSED_PORT_URL, create=create)
        assert time.monotonic() - started < 10
        assert isinstance(info.value, DeployLedgerError)
        assert "127.0.0.1:1" in str(info.value)  # it says which store, redacted

    @pytest.mark.parametrize("create", [False, True], ids=["open", "open-create"])
    def test_the_error_never_shows_the_password(self, create: bool) -> None:
        error = raised_by(lambda: Ledger.open(CLOSED_PORT_URL, create=create).close())
        assert PASSWORD not in everything_shown(error)

    def test_a_missing_database_raises_store_misconfigured_without_the_password(
        self, postgres_admin_dsn: str
    ) -> None:
        url = with_password(postgres_admin_dsn.rsplit("/", 1)[0] + "/dl_no_such_database")
        with pytest.raises(StoreMisconfigured) as info:  # permanent: a retry cannot fix it
            Ledger.open(url)
        assert PASSWORD not in everything_shown(info.value)

    def test_a_ledger_repr_never_shows_the_password(self, fresh_postgres: str) -> None:
        url = with_password(fresh_postgres)
        assert PASSWORD in url
        with Ledger.open(url, create=True) as ledger:
            ledger.record(report())
            assert PASSWORD not in repr(ledger)
            assert PASSWORD not in str(ledger)
            assert PASSWORD not in repr(ledger.url)
            assert PASSWORD not in ledger.url.redacted()

    def test_schema_missing_never_shows_the_password(self, fresh_postgres: str) -> None:
        with pytest.raises(SchemaMissing) as info:
            Ledger.open(with_password(fresh_postgres))
        assert PASSWORD not in everything_shown(info.value)


class TestDroppedConnections:
    def test_after_the_server_drops_every_connection_the_ledger_recovers(
        self, postgres_ready_url: str, postgres_admin_dsn: str
    ) -> None:
        dbname = postgres_ready_url.rsplit("/", 1)[1]
        with Ledger.open(postgres_ready_url) as ledger:
            assert [ledger.record(report()).attempt for _ in range(2)] == [1, 2]
            with psycopg.connect(postgres_admin_dsn, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (dbname,),
                )
            attempts: list[int | None] = []
            failures = 0
            while len(attempts) < 3:
                try:
                    attempts.append(ledger.record(report()).attempt)
                except StoreUnavailable:  # retryable: each dead pooled connection, at most once
                    failures += 1
                    assert failures <= 6, "the ledger does not recover from dropped connections"
            assert attempts == [3, 4, 5]
            assert [a.attempt for a in ledger.history(TENANT, RT_ID)] == [5, 4, 3, 2, 1]


class TestLockTimeout:
    @pytest.mark.parametrize("how", ["keyword", "url"])
    def test_postgres_gives_up_on_a_held_table_lock_after_the_lock_timeout(
        self, postgres_ready_url: str, how: str
    ) -> None:
        ready_url = postgres_ready_url
        with Ledger.open(ready_url) as warm:
            warm.record(report())
        kwargs: dict[str, Any]
        url, kwargs = (ready_url, {"lock_timeout": 0.5})
        if how == "url":
            url, kwargs = (f"{ready_url}?lock_timeout=0.5", {})
        with Ledger.open(url, **kwargs) as ledger:
            assert ledger.current(TENANT, RT_ID) is not None  # cached, attempt 1
            with psycopg.connect(ready_url) as holder:
                holder.execute("LOCK TABLE deployledger_events IN EXCLUSIVE MODE")
                started = time.monotonic()
                with pytest.raises(StoreUnavailable):
                    ledger.record_many([report(), report(workloadRtId="other")])
                waited = time.monotonic() - started
                holder.rollback()
            assert 0.4 <= waited < 5
            assert len(ledger.history(TENANT, RT_ID)) == 1
            assert ledger.history(TENANT, "other") == []
            # retryable: once the lock is gone the same call works, with no gap in attempts
            receipts = ledger.record_many([report(), report(workloadRtId="other")])
            assert [r.attempt for r in receipts] == [2, 1]

    def test_sqlite_gives_up_on_a_held_write_lock_after_the_lock_timeout(
        self, sqlite_ready_url: str
    ) -> None:
        ready_url = sqlite_ready_url
        with Ledger.open(ready_url, lock_timeout=0.5) as ledger:
            ledger.record(report())
            path = parse_store_url(ready_url).path
            with closing(sqlite3.connect(path, isolation_level=None)) as holder:
                holder.execute("BEGIN IMMEDIATE")
                started = time.monotonic()
                with pytest.raises(StoreUnavailable):
                    ledger.record(report())
                waited = time.monotonic() - started
                holder.execute("ROLLBACK")
            assert waited < 5
            assert len(ledger.history(TENANT, RT_ID)) == 1
            assert ledger.record(report()).attempt == 2

    def test_postgres_never_waits_forever_by_default(self, ready_url: str) -> None:
        with Ledger.open(ready_url) as ledger:
            assert 0 < ledger.url.lock_timeout < float("inf")

    def test_a_writer_blocked_only_briefly_succeeds(self, postgres_ready_url: str) -> None:
        ready_url = postgres_ready_url
        with Ledger.open(ready_url, lock_timeout=5) as ledger, psycopg.connect(ready_url) as holder:
            holder.execute("LOCK TABLE deployledger_events IN EXCLUSIVE MODE")
            release = threading.Timer(0.3, holder.rollback)
            release.start()
            try:
                assert ledger.record(report()).attempt == 1
            finally:
                release.join()


class TestMissingStore:
    def test_opening_a_missing_sqlite_file_without_create_is_schema_missing(
        self, tmp_path: Path
    ) -> None:
        with pytest.raises(SchemaMissing):
            Ledger.open(f"sqlite:///{tmp_path}/absent.db", create=False)

    def test_sqlite_creates_its_store_by_default(self, tmp_path: Path) -> None:
        with Ledger.open(f"sqlite:///{tmp_path}/new.db") as ledger:
            assert ledger.record(report()).attempt == 1
        with Ledger.open(f"sqlite:///{tmp_path}/new.db", create=False) as ledger:
            assert len(ledger.history(TENANT, RT_ID)) == 1
