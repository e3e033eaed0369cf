"""SQLAlchemy engines for the read model, and schema management through Alembic."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
import weakref
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.datetime import DatetimeDumper
from sqlalchemy import URL, Connection, Engine, create_engine, event, text
from sqlalchemy.pool import NullPool, StaticPool

from deployledger.domain.storeurl import StoreURL
from deployledger.migrations import HEAD
from deployledger.store.errors import READ_ONLY_SQLSTATE, translated
from deployledger.store.readmodel.queries import contains_ci

# Serialises schema changes across processes (PostgreSQL advisory lock key).
SCHEMA_LOCK_KEY = 0x6465706C6F79  # "deploy"


# The store URL each engine was made for, so that its errors name the right database.
_ENGINE_URLS: weakref.WeakKeyDictionary[Engine, StoreURL] = weakref.WeakKeyDictionary()


def engine_url(engine: Engine, default: StoreURL) -> StoreURL:
    """The store URL `engine` was made for by `make_engine`, else `default`."""
    return _ENGINE_URLS.get(engine, default)


class UTCDatetimeDumper(DatetimeDumper):
    """Aware datetimes sent to PostgreSQL as text in UTC: the same instant, but never with
    the sender's offset, which Python takes up to 24 hours and `timestamptz` refuses over
    15:59 (a report's `reportedAt` of `+19:19` once stopped the projection)."""

    def dump(self, obj: datetime) -> bytes | bytearray | memoryview | None:
        if obj.tzinfo is not None:
            with contextlib.suppress(OverflowError):  # past year 9999 in UTC: sent as it is
                obj = obj.astimezone(UTC)
        return super().dump(obj)


# Registered once for every psycopg connection (the instant is unchanged, so this is safe
# for an embedding program's own connections too); binary COPY already sends UTC.
psycopg.adapters.register_dumper(datetime, UTCDatetimeDumper)


def make_engine(url: StoreURL, *, single_connection: bool = False) -> Engine:
    """An engine on the store's database: WAL + synchronous=FULL on SQLite; on PostgreSQL
    the store's schema on the search path and the same bounded lock timeout."""
    engine = _make_engine(url, single_connection=single_connection)
    _ENGINE_URLS[engine] = url
    return engine


def _make_engine(url: StoreURL, *, single_connection: bool) -> Engine:
    if url.is_postgres:
        lock_ms = max(1, round(url.lock_timeout * 1000))
        sa_url = URL.create("postgresql+psycopg", database=url.dbname)
        # The whole host list and target_session_attrs go to libpq as they are.
        engine = create_engine(
            sa_url,
            pool_size=max(1, url.pool_size),
            max_overflow=5,
            pool_pre_ping=True,
            connect_args={
                **url.dsn_kwargs(),
                "options": f"-c search_path={url.schema} -c lock_timeout={lock_ms}",
            },
        )
        event.listen(engine, "handle_error", _drop_read_only_connection)
        return engine
    if url.memory:
        engine = create_engine(
            f"sqlite:///{url.path}&uri=true",
            poolclass=StaticPool,
            connect_args={"check_same_thread": False, "uri": True},
        )
    else:
        engine = create_engine(
            f"sqlite:///{url.path}",
            poolclass=NullPool if single_connection else None,
            connect_args={"timeout": url.lock_timeout, "check_same_thread": False},
        )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if not url.memory:
            _use_wal(cursor, url.lock_timeout)
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={int(url.lock_timeout * 1000)}")
        cursor.close()
        dbapi_connection.create_function("dl_contains_ci", 2, contains_ci, deterministic=True)

    return engine


def _use_wal(cursor: sqlite3.Cursor, wait: float) -> None:
    """Put the database file in WAL mode (it stays so: every later connection finds it).
    Switching takes the file's exclusive lock, and SQLite answers "database is locked" at
    once instead of calling the busy handler when another connection holds a lock, as when
    processes open a new store at the same moment: ask again until `wait` seconds."""
    deadline = time.monotonic() + wait
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() >= deadline:
                raise
            time.sleep(0.005)


def _drop_read_only_connection(context: Any) -> None:
    """A server that refuses a write as read-only (SQLSTATE 25006) is a standby, or a
    primary demoted by a failover: its connection is dropped like a dead one, so that the
    next checkout reconnects through the host list to the primary."""
    if getattr(context.original_exception, "sqlstate", None) == READ_ONLY_SQLSTATE:
        context.is_disconnect = True


MIGRATE_WAIT_MS = 120_000  # SQLite: how long `migrate` waits for another one to finish
_MIGRATING = threading.Lock()  # Alembic's command API keeps process-global state


def migrate(url: StoreURL, engine: Engine) -> None:
    """Create or upgrade everything (event store and read model) to the latest revision.

    Serialised across processes (PostgreSQL: an advisory lock; SQLite: the database's write
    lock, taken first) and threads, so that replicas starting at once cannot race; the
    others wait, then find nothing left to do.
    """
    if not url.is_postgres and not url.memory:
        with translated(url), engine.connect() as conn:
            if _revision(conn) == HEAD:  # the usual case: nothing to wait for
                return
    with translated(url), engine.begin() as conn:
        if url.is_postgres:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK_KEY})
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{url.schema}"'))
        else:
            # Waiting for another process's migration is expected here, and it can take
            # longer than a write's lock timeout on a busy machine.
            conn.exec_driver_sql(f"PRAGMA busy_timeout={MIGRATE_WAIT_MS}")
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            if _revision(conn) != HEAD:
                from deployledger.migrations import runner  # Alembic loads only when needed

                with _MIGRATING:
                    runner.upgrade(conn)
        finally:
            if not url.is_postgres:
                conn.exec_driver_sql(f"PRAGMA busy_timeout={int(url.lock_timeout * 1000)}")


def _revision(conn: Connection) -> str | None:
    if not conn.dialect.has_table(conn, "alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def pg_connect(url: StoreURL) -> psycopg.Connection[Any]:
    """A plain autocommit psycopg connection (probes, advisory locks, LISTEN)."""
    kwargs: dict[str, Any] = url.dsn_kwargs()
    return psycopg.connect(**kwargs, autocommit=True)


def aware(value: datetime | None) -> datetime | None:
    """A time read back from a row, in UTC (SQLite gives naive ones)."""
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


class LazyEngine:
    """Owns one engine on `url`, made on first use (a store that only some commands touch
    connects only for them)."""

    def __init__(self, url: StoreURL) -> None:
        self.url = url
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                self._engine = make_engine(self.url)
            return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
