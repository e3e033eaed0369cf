"""Real store failures, one table of them, for the library tests (tests/integration/
test_store_errors.py) and the CLI tests (tests/e2e/test_e2e_exit_codes.py) alike.

Each case sets up one failure for real: a database or role that does not exist, a closed
port, a held lock, a missing directory, a dropped table, a read-only file. What cannot be
made on the test server (a refused password, a server starting up) comes from
`FakePostgres`, which answers as such a server does (tests/store_conditions.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest
from store_conditions import (
    CASES,
    FakePostgres,
    Setup,
    Situation,
    Where,
    as_role,
    case,
    checkpoint,
    read_only,
    role,
    with_password,
)
from support import database_url

from deployledger import Ledger, SchemaMissing, StoreMisconfigured, StoreUnavailable

# ---------------------------------------------------------------------------------------
# PostgreSQL


@case("missing-database", "postgres")
def _missing_database(where: Where) -> Iterator[Situation]:
    url = with_password(database_url(where.admin_dsn, "dl_errors_no_such_db"))
    yield Situation(
        url,
        "status",
        StoreMisconfigured,
        2,
        ('database "dl_errors_no_such_db" does not exist: create it, then run', "migrate"),
    )


@case("missing-database-migrate", "postgres")
def _missing_database_migrate(where: Where) -> Iterator[Situation]:
    url = with_password(database_url(where.admin_dsn, "dl_errors_no_such_db"))
    yield Situation(
        url, "migrate", StoreMisconfigured, 2, ('database "dl_errors_no_such_db" does not exist',)
    )


@case("missing-role", "postgres")
def _missing_role(where: Where) -> Iterator[Situation]:
    url = with_password(as_role(where.admin_dsn, "dl_errors_nobody"))
    yield Situation(
        url, "history", StoreMisconfigured, 2, ('role "dl_errors_nobody" does not exist',)
    )


@case("bad-password", "postgres")
def _bad_password(where: Where) -> Iterator[Situation]:
    message = 'password authentication failed for user "app"'
    with FakePostgres("28P01", message) as server:
        yield Situation(server.url(), "record", StoreMisconfigured, 2, (message,))


@case("no-hba-entry", "postgres")
def _no_hba_entry(where: Where) -> Iterator[Situation]:
    message = (
        'no pg_hba.conf entry for host "10.0.0.7", user "app", database "ledger", no encryption'
    )
    with FakePostgres("28000", message) as server:
        yield Situation(server.url(), "status", StoreMisconfigured, 2, (message,))


@case("no-connect-permission", "postgres")
def _no_connect_permission(where: Where) -> Iterator[Situation]:
    message = 'permission denied for database "ledger"'
    with FakePostgres("42501", message) as server:
        yield Situation(server.url(), "status", StoreMisconfigured, 2, (message,))


@case("permission-denied", "postgres")
def _permission_denied(where: Where) -> Iterator[Situation]:
    with where.database(records=1) as url, role(url, where.admin_dsn) as name:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"GRANT SELECT ON alembic_version, deployledger_events TO {name}")
        yield Situation(
            as_role(url, name), "status", StoreMisconfigured, 2, ("permission denied for table",)
        )


@case("read-only-database", "postgres")
def _read_only_database(where: Where) -> Iterator[Situation]:
    with where.database() as url:
        with psycopg.connect(where.admin_dsn, autocommit=True) as conn:
            dbname = url.rsplit("/", 1)[1]
            conn.execute(f"ALTER DATABASE {dbname} SET default_transaction_read_only = on")
        # A read-only server is a standby, or a primary a failover demoted: retry (exit 3).
        yield Situation(url, "record", StoreUnavailable, 3, ("read-only transaction", "read-write"))


@case("never-migrated", "postgres")
def _never_migrated(where: Where) -> Iterator[Situation]:
    with where.database(migrated=False) as url:
        yield Situation(url, "record", SchemaMissing, 2, ("no deployledger schema", "migrate"))


@case("dropped-table", "postgres")
def _dropped_table_postgres(where: Where) -> Iterator[Situation]:
    with where.database(records=1) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP TABLE workload_state")
        yield Situation(url, "status", SchemaMissing, 2, ('"workload_state" does not exist',))


@case("closed-port", "postgres")
def _closed_port(where: Where) -> Iterator[Situation]:
    url = with_password("postgresql://postgres@127.0.0.1:1/ledger")
    yield Situation(url, "show", StoreUnavailable, 3, ("unavailable", "Connection refused"))


@case("connect-timeout", "postgres")
def _connect_timeout(where: Where) -> Iterator[Situation]:
    with FakePostgres(None) as server:
        url = server.url() + "?connect_timeout=1"
        yield Situation(url, "status", StoreUnavailable, 3, ("unavailable", "timeout"))


@case("starting-up", "postgres")
def _starting_up(where: Where) -> Iterator[Situation]:
    message = "the database system is starting up"
    with FakePostgres("57P03", message) as server:
        yield Situation(server.url(), "history", StoreUnavailable, 3, (message,))


@case("too-many-connections", "postgres")
def _too_many_connections(where: Where) -> Iterator[Situation]:
    with where.database() as url, role(url, where.admin_dsn, "CONNECTION LIMIT 0") as name:
        says = ("unavailable", "too many connections for role")
        yield Situation(as_role(url, name), "status", StoreUnavailable, 3, says)


@case("server-full", "postgres")
def _server_full(where: Where) -> Iterator[Situation]:
    message = "sorry, too many clients already"  # max_connections reached (53300)
    with FakePostgres("53300", message) as server:
        yield Situation(server.url(), "record", StoreUnavailable, 3, ("too many clients",))


@case("lock-timeout", "postgres")
def _lock_timeout_postgres(where: Where) -> Iterator[Situation]:
    with where.database(records=1) as url, psycopg.connect(url) as holder:
        holder.execute("LOCK TABLE deployledger_events IN EXCLUSIVE MODE")
        yield Situation(f"{url}?lock_timeout=0.3", "record", StoreUnavailable, 3, ("lock timeout",))
        holder.rollback()


@case("read-model-never-migrated", "postgres")
def _read_model_never_migrated(where: Where) -> Iterator[Situation]:
    with where.database(records=1) as url, where.database(migrated=False) as read_model:
        yield Situation(
            url, "status", SchemaMissing, 2, (f"read model {read_model} ",), read_model=read_model
        )


@case("read-model-missing-database", "postgres")
def _read_model_missing_database(where: Where) -> Iterator[Situation]:
    read_model = database_url(where.admin_dsn, "dl_errors_no_such_rm")
    with where.database(records=1) as url:
        says = (f"read model {read_model}: ", 'database "dl_errors_no_such_rm" does not exist')
        yield Situation(url, "audit", StoreMisconfigured, 2, says, read_model=read_model)


# ---------------------------------------------------------------------------------------
# SQLite


@case("missing-directory", "sqlite")
def _missing_directory(where: Where) -> Iterator[Situation]:
    folder = where.tmp_path / "no" / "such"
    url = f"sqlite:///{folder / 'ledger.db'}"
    yield Situation(url, "record", StoreMisconfigured, 2, (f"directory {folder} does not exist",))


@case("missing-directory-read", "sqlite")
def _missing_directory_read(where: Where) -> Iterator[Situation]:
    folder = where.tmp_path / "no" / "such"
    url = f"sqlite:///{folder / 'ledger.db'}"
    yield Situation(url, "history", StoreMisconfigured, 2, (f"directory {folder} does not exist",))


@case("missing-file", "sqlite")
def _missing_file(where: Where) -> Iterator[Situation]:
    url = f"sqlite:///{where.tmp_path / 'absent.db'}"
    says = (f"file {where.tmp_path / 'absent.db'} does not exist", "migrate")
    yield Situation(url, "status", SchemaMissing, 2, says)


@case("not-a-database", "sqlite")
def _not_a_database(where: Where) -> Iterator[Situation]:
    path = where.tmp_path / "notes.txt"
    path.write_text("not a database, just notes\n" * 100)
    url = f"sqlite:///{path}"
    yield Situation(
        url, "record", StoreMisconfigured, 2, (f"file {path} is not a SQLite database",)
    )


@case("a-directory", "sqlite")
def _a_directory(where: Where) -> Iterator[Situation]:
    url = f"sqlite:///{where.tmp_path}"
    yield Situation(url, "show", StoreMisconfigured, 2, (f"{where.tmp_path} is a directory",))


@case("dropped-table", "sqlite")
def _dropped_table_sqlite(where: Where) -> Iterator[Situation]:
    url = where.sqlite(records=1)
    with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
        conn.execute("DROP TABLE workload_state")
    yield Situation(url, "status", SchemaMissing, 2, ("no such table: workload_state",))


@case("lock-timeout", "sqlite")
def _lock_timeout_sqlite(where: Where) -> Iterator[Situation]:
    url = where.sqlite(records=1)
    path = url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(path, isolation_level=None)) as holder:
        holder.execute("BEGIN IMMEDIATE")
        yield Situation(f"{url}?lock_timeout=0.3", "record", StoreUnavailable, 3, ("locked",))
        holder.execute("ROLLBACK")


@case("read-only-file-record", "sqlite")
def _read_only_file_record(where: Where) -> Iterator[Situation]:
    url = where.sqlite(records=1)
    path = Path(url.removeprefix("sqlite:///"))
    with read_only(path):
        yield Situation(url, "record", StoreMisconfigured, 2, (f"file {path} is read-only",))


@case("read-only-file-behind", "sqlite")
def _read_only_file_behind(where: Where) -> Iterator[Situation]:
    url = where.sqlite(records=2)  # recorded, never queried: the read model is behind
    path = Path(url.removeprefix("sqlite:///"))
    with read_only(path):
        says = (f"file {path} is read-only", "the read model must catch up on new events")
        yield Situation(url, "audit", StoreMisconfigured, 2, says)


def _read_only_file_answers(op: str) -> Setup:
    def setup(where: Where) -> Iterator[Situation]:
        url = where.sqlite(records=2)
        with Ledger.open(url) as ledger:
            ledger.catch_up()  # the read model is up to date: reading writes nothing
        path = Path(url.removeprefix("sqlite:///"))
        with read_only(path):
            yield Situation(url, op, None, 0)

    return setup


for _op in ("status", "show", "history", "audit"):
    case(f"read-only-file-{_op}-works", "sqlite")(_read_only_file_answers(_op))


@case("read-only-directory", "sqlite")
def _read_only_directory(where: Where) -> Iterator[Situation]:
    url = where.sqlite(records=1)
    with Ledger.open(url) as ledger:
        ledger.catch_up()
    checkpoint(url)  # no -wal or -shm file left beside the store
    folder = where.tmp_path / "store"
    with read_only(folder):
        says = (f"directory {folder} is not writable", "ledger.db-wal")
        yield Situation(url, "history", StoreMisconfigured, 2, says)


@case("read-only-directory-new-store", "sqlite")
def _read_only_directory_new_store(where: Where) -> Iterator[Situation]:
    folder = where.tmp_path / "store"
    folder.mkdir()
    with read_only(folder):
        says = (f"directory {folder} is not writable",)
        yield Situation(f"sqlite:///{folder / 'new.db'}", "record", StoreMisconfigured, 2, says)


@case("read-model-never-migrated", "sqlite")
def _read_model_never_migrated_sqlite(where: Where) -> Iterator[Situation]:
    url = where.sqlite(records=1)
    read_model = where.sqlite("read-model.db", migrated=False)
    with closing(sqlite3.connect(read_model.removeprefix("sqlite:///"))) as conn:
        conn.execute("CREATE TABLE unrelated (x INTEGER)")
    yield Situation(
        url, "status", SchemaMissing, 2, (f"read model {read_model} ",), read_model=read_model
    )


def cases(backend: str | None = None) -> list[Any]:
    """The cases as pytest params, ids `backend-name`."""
    return [
        pytest.param(c, id=f"{c.backend}-{c.name}") for c in CASES if backend in (None, c.backend)
    ]
