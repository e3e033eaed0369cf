"""Store errors say what the caller can do: retry (`StoreUnavailable`), fix the store
(`StoreMisconfigured`, `SchemaMissing`), each in one line that names the cause.

The table of real failures is in tests/store_failures.py; the CLI runs it too
(tests/e2e/test_e2e_exit_codes.py). Here: the library's error class and message, and the
classification itself, on driver errors made for real and wrapped as the libraries do.
"""

from __future__ import annotations

import sqlite3
import threading
import traceback
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import psycopg
import pytest
from eventsourcing import persistence as es
from sqlalchemy import exc as sa_exc
from store_conditions import PASSWORD, Case, Situation, Where, read_only
from store_failures import cases
from support import RT_ID, TENANT, report

from deployledger import (
    DeployLedgerError,
    Ledger,
    SchemaMissing,
    StoreMisconfigured,
    StoreUnavailable,
    WriteConflict,
)
from deployledger.domain.storeurl import parse_store_url
from deployledger.store.errors import translate


@pytest.fixture
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Where:
    return Where(
        tmp_path,
        lambda: str(request.getfixturevalue("postgres_admin_dsn")),
        template=lambda: str(request.getfixturevalue("postgres_template")),
        dropper=lambda: request.getfixturevalue("dropper"),
    )


def everything_shown(error: BaseException) -> str:
    """Every text a caller, a log or a traceback could show for this error."""
    shown = [str(error), repr(error), *map(str, error.args), *map(repr, error.args)]
    shown.append("".join(traceback.format_exception(error)))
    return "\n".join(shown)


def run(situation: Situation) -> None:
    """What the CLI command `situation.op` asks of the library."""
    create = {"migrate": True, "record": None}.get(situation.op, False)
    with Ledger.open(situation.url, create=create, read_model_url=situation.read_model) as ledger:
        calls: dict[str, Callable[[], object]] = {
            "migrate": lambda: None,
            "record": lambda: ledger.record(report()),
            "status": ledger.workloads,
            "show": lambda: ledger.get(TENANT, RT_ID),
            "history": lambda: ledger.history(TENANT, RT_ID),
            "audit": ledger.audit,
        }
        calls[situation.op]()


@pytest.mark.parametrize("case", cases())
def test_each_store_failure_raises_the_error_that_says_what_to_do(case: Case, where: Where) -> None:
    with case.setup(where) as situation:
        if situation.error is None:
            run(situation)
            return
        with pytest.raises(DeployLedgerError) as info:
            run(situation)
    error = info.value
    assert type(error) is situation.error, f"{type(error).__name__}: {error}"
    message = str(error)
    assert "\n" not in message
    for fragment in situation.says:
        assert fragment in message
    for secret in situation.never_says:
        assert secret not in everything_shown(error)
    assert "create=True" not in message  # advice that works for the CLI and Python alike


def test_a_read_only_file_stores_nothing_and_answers_again_once_writable(where: Where) -> None:
    url = where.sqlite()
    path = Path(url.removeprefix("sqlite:///"))

    with read_only(path), pytest.raises(StoreMisconfigured):
        run(Situation(url, "record", StoreMisconfigured, 2))
    with Ledger.open(url) as ledger:
        assert ledger.max_position() == 0
        assert ledger.record(report()).attempt == 1


class TestRetryableFailures:
    def test_a_terminated_backend_is_retryable_and_the_ledger_writes_on_without_an_error(
        self, postgres_ready_url: str, postgres_admin_dsn: str
    ) -> None:
        # The error a session gets when the server ends it (57P01) is retryable ...
        with psycopg.connect(postgres_ready_url, autocommit=True) as victim:
            with psycopg.connect(postgres_admin_dsn, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s, 10000)", (victim.info.backend_pid,))
            with pytest.raises(psycopg.Error) as caught:
                victim.execute("SELECT 1")
        said = translate(parse_store_url(postgres_ready_url), caught.value)
        assert isinstance(said, StoreUnavailable)
        assert "administrator command" in str(said)
        # ... and the ledger does not even show it: its idle writer and pooled connections
        # that the server ended are replaced before they are used.
        dbname = postgres_ready_url.rsplit("/", 1)[1]
        with Ledger.open(postgres_ready_url) as ledger:
            ledger.record(report())
            with psycopg.connect(postgres_admin_dsn, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (dbname,),
                )
            assert ledger.record(report()).attempt == 2

    def test_a_write_conflict_stays_retryable(self) -> None:
        assert issubclass(WriteConflict, StoreUnavailable)


def serialization_failure(url: str) -> psycopg.Error:
    """A real 40001: two repeatable-read transactions update one row."""
    with psycopg.connect(url, autocommit=True) as setup:
        setup.execute("CREATE TABLE IF NOT EXISTS dl_rows (id int PRIMARY KEY, v int)")
        setup.execute("INSERT INTO dl_rows VALUES (1, 0), (2, 0) ON CONFLICT DO NOTHING")
    with psycopg.connect(url) as first, psycopg.connect(url, autocommit=True) as second:
        first.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        first.execute("SELECT v FROM dl_rows WHERE id = 1").fetchone()
        second.execute("UPDATE dl_rows SET v = v + 1 WHERE id = 1")
        try:
            first.execute("UPDATE dl_rows SET v = v + 1 WHERE id = 1")
        except psycopg.Error as e:
            return e
    raise AssertionError("no serialization failure")


def deadlock(url: str) -> psycopg.Error:
    """A real 40P01: two transactions lock two rows in opposite orders."""
    serialization_failure(url)  # the table
    found: list[psycopg.Error] = []
    with psycopg.connect(url) as first, psycopg.connect(url) as second:
        first.execute("SET deadlock_timeout = '100ms'")
        second.execute("SET deadlock_timeout = '100ms'")
        first.execute("UPDATE dl_rows SET v = v + 1 WHERE id = 1")
        second.execute("UPDATE dl_rows SET v = v + 1 WHERE id = 2")
        ready = threading.Event()

        def other() -> None:
            ready.set()
            try:
                second.execute("UPDATE dl_rows SET v = v + 1 WHERE id = 1")
            except psycopg.Error as e:
                found.append(e)
                second.rollback()

        thread = threading.Thread(target=other)
        thread.start()
        ready.wait()
        try:
            first.execute("UPDATE dl_rows SET v = v + 1 WHERE id = 2")
        except psycopg.Error as e:
            found.append(e)
            first.rollback()
        thread.join(timeout=30)
    assert len(found) == 1, found
    return found[0]


def wrapped(error: BaseException, how: str) -> BaseException:
    """`error` as a driver raises it, or as eventsourcing or SQLAlchemy wrap it."""
    if how == "driver":
        return error
    if how == "eventsourcing":
        try:
            raise es.OperationalError(str(error)) from error
        except es.OperationalError as e:
            return e
    return sa_exc.OperationalError("SELECT 1", {}, error)


WRAPPERS = ["driver", "eventsourcing", "sqlalchemy"]


class TestClassification:
    @pytest.mark.parametrize("how", WRAPPERS)
    @pytest.mark.parametrize(
        ("make", "sqlstate"),
        [(serialization_failure, "40001"), (deadlock, "40P01")],
        ids=["serialization-failure", "deadlock"],
    )
    def test_a_lost_transaction_is_retryable_whatever_wraps_it(
        self,
        fresh_postgres: str,
        make: Callable[[str], psycopg.Error],
        sqlstate: str,
        how: str,
    ) -> None:
        error = make(fresh_postgres)
        assert error.sqlstate == sqlstate
        url = parse_store_url(fresh_postgres)
        assert isinstance(translate(url, wrapped(error, how)), StoreUnavailable)

    @pytest.mark.parametrize("how", WRAPPERS)
    def test_a_permission_error_is_permanent_even_wrapped_as_operational(
        self, fresh_postgres: str, how: str
    ) -> None:
        # Our recorder wraps every psycopg error as eventsourcing's OperationalError: the
        # SQLSTATE decides, not the class.
        with psycopg.connect(fresh_postgres, autocommit=True) as conn:
            conn.execute("CREATE ROLE dl_errors_visitor_c")
            try:
                conn.execute("SET ROLE dl_errors_visitor_c")
                with pytest.raises(psycopg.Error) as info:
                    conn.execute("CREATE TABLE public.not_allowed (x int)")
            finally:
                conn.execute("RESET ROLE")
                conn.execute("DROP ROLE dl_errors_visitor_c")
        assert info.value.sqlstate == "42501"
        error = translate(parse_store_url(fresh_postgres), wrapped(info.value, how))
        assert isinstance(error, StoreMisconfigured)
        assert "permission denied" in str(error)

    @pytest.mark.parametrize("how", WRAPPERS)
    def test_a_missing_table_is_schema_missing_whatever_wraps_it(
        self, fresh_postgres: str, how: str
    ) -> None:
        with psycopg.connect(fresh_postgres) as conn, pytest.raises(psycopg.Error) as info:
            conn.execute("SELECT * FROM deployledger_events")
        error = translate(parse_store_url(fresh_postgres), wrapped(info.value, how))
        assert isinstance(error, SchemaMissing)
        assert "migrate" in str(error)

    @pytest.mark.parametrize("how", WRAPPERS)
    def test_sqlite_busy_is_retryable_and_read_only_is_not(self, tmp_path: Path, how: str) -> None:
        path = tmp_path / "x.db"
        url = parse_store_url(f"sqlite:///{path}")
        with closing(sqlite3.connect(path, isolation_level=None)) as holder:
            holder.execute("CREATE TABLE t (x int)")
            holder.execute("BEGIN IMMEDIATE")
            with (
                closing(sqlite3.connect(path, timeout=0.05)) as other,
                pytest.raises(sqlite3.Error) as busy,
            ):
                other.execute("INSERT INTO t VALUES (1)")
            holder.execute("ROLLBACK")
        with (
            closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as reader,
            pytest.raises(sqlite3.Error) as readonly,
        ):
            reader.execute("INSERT INTO t VALUES (1)")
        assert getattr(busy.value, "sqlite_errorname", "") == "SQLITE_BUSY"
        assert getattr(readonly.value, "sqlite_errorname", "").startswith("SQLITE_READONLY")
        assert isinstance(translate(url, wrapped(busy.value, how)), StoreUnavailable)
        assert isinstance(translate(url, wrapped(readonly.value, how)), StoreMisconfigured)

    def test_an_unknown_driver_error_is_neither_retryable_nor_a_fix_it_error(
        self, fresh_postgres: str
    ) -> None:
        with psycopg.connect(fresh_postgres) as conn, pytest.raises(psycopg.Error) as info:
            conn.execute("SELECT 1/0")
        error = translate(parse_store_url(fresh_postgres), info.value)
        assert type(error) is DeployLedgerError
        assert "division by zero" in str(error)

    def test_no_message_shows_the_password(self) -> None:
        url = parse_store_url(f"postgresql://app:{PASSWORD}@127.0.0.1:1/db")
        refused = psycopg.OperationalError(f"FATAL:  role with {PASSWORD} does not exist")
        for error in (translate(url, refused), translate(url, wrapped(refused, "sqlalchemy"))):
            assert PASSWORD not in everything_shown(error)
