"""The eventsourcing application behind the event store, built from a store URL.

Differences from the library's defaults, and why:
- the environment is never read: the configuration is passed as `env=`;
- the recorders are ours (`deployledger.store.events.recorders`), with bounded lock waits;
- the schema is created only on request, by the Alembic migrations under an advisory
  lock, so that replicas starting at once cannot race; the library never creates tables.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import ApplicationRecorder, EventStore
from eventsourcing.postgres import PostgresFactory
from eventsourcing.sqlite import SQLiteFactory
from eventsourcing.utils import Environment

from deployledger.domain.storeurl import StoreURL
from deployledger.errors import SchemaMissing, StoreMisconfigured
from deployledger.migrations import HEAD
from deployledger.store.database import pg_connect
from deployledger.store.errors import MIGRATE
from deployledger.store.events import compat, reconnect
from deployledger.store.events.recorders import (
    PostgresRecorder,
    PostgresSnapshotRecorder,
    SQLiteRecorder,
)

APP_NAME = "deployledger"
# Seconds between the event pool's tries to replace a lost connection, at most: after an
# outage or a failover, reads find a connection within this of the server's return.
RECONNECT_EVERY = 1.0


def events_table(url: StoreURL) -> str:
    """The stored-events table: eventsourcing names it after the application on PostgreSQL."""
    return f"{APP_NAME}_events" if url.is_postgres else "stored_events"


class LedgerApplication(Application[UUID]):
    """The eventsourcing application holding every workload's events."""

    name = APP_NAME

    def __init__(self, url: StoreURL) -> None:
        self.url = url
        super().__init__(env=_env(url))

    def construct_env(self, name: str, env: Any = None) -> Environment:
        # Unlike the base class, never merge os.environ: configuration is explicit.
        return Environment(name, dict(env or {}))

    def construct_factory(self, env: Environment) -> Any:
        factory = super().construct_factory(env)
        if isinstance(factory, SQLiteFactory):
            compat.set_sqlite_lock_timeout(factory.datastore, self.url.lock_timeout)
        elif isinstance(factory, PostgresFactory):
            compat.set_postgres_connect_kwargs(factory.datastore, self.url.dsn_kwargs())
            reconnect.cap_reconnect_delay(factory.datastore.pool, RECONNECT_EVERY)
        return factory

    def construct_recorder(self) -> ApplicationRecorder:
        if isinstance(self.factory, SQLiteFactory):
            return SQLiteRecorder(self.factory.datastore, lock_timeout=self.url.lock_timeout)
        if not isinstance(self.factory, PostgresFactory):
            return super().construct_recorder()
        return PostgresRecorder(
            self.factory.datastore,
            events_table_name=events_table(self.url),
            lock_ms=max(1, round(self.url.lock_timeout * 1000)),
            url=self.url,
        )

    def construct_snapshot_store(self) -> EventStore[UUID]:
        if not isinstance(self.factory, PostgresFactory):
            return super().construct_snapshot_store()
        recorder = PostgresSnapshotRecorder(
            self.factory.datastore, events_table_name=f"{APP_NAME}_snapshots"
        )
        return self.factory.event_store(mapper=self.mapper, recorder=recorder)

    def close(self) -> None:
        if isinstance(self.recorder, SQLiteRecorder | PostgresRecorder):
            self.recorder.close()
        super().close()


def _env(url: StoreURL) -> dict[str, str]:
    # Tables are created once, by the migrations, never by the library on start-up.
    env = {"IS_SNAPSHOTTING_ENABLED": "y", "CREATE_TABLE": "n"}
    if url.is_postgres:
        env.update(
            PERSISTENCE_MODULE="eventsourcing.postgres",
            POSTGRES_DBNAME=url.dbname,
            POSTGRES_HOST=str(url.dsn_kwargs()["host"]),  # libpq's list: "db-a,db-b"
            POSTGRES_PORT=str(url.dsn_kwargs()["port"]),
            POSTGRES_USER=url.user,
            POSTGRES_PASSWORD=url.password,
            POSTGRES_SCHEMA=url.schema,
            POSTGRES_CONNECT_TIMEOUT=str(max(1, round(url.connect_timeout))),
            POSTGRES_POOL_SIZE=str(url.pool_size),
            POSTGRES_MAX_OVERFLOW="10",
        )
    else:
        env.update(PERSISTENCE_MODULE="eventsourcing.sqlite", SQLITE_DBNAME=url.path)
    return env


def check_schema(url: StoreURL, *, what: str = "store") -> None:
    """Fail fast on an unreachable server, and clearly on a store never migrated.

    `what` names the database in messages: "store", or "read model" for a separate one.
    Driver errors propagate, for the caller to translate.
    """
    if url.memory:
        return
    where = f"{what} {url.redacted()}"
    if url.is_postgres:
        with pg_connect(url) as conn:
            row = conn.execute(
                "SELECT to_regclass(%s), to_regclass(%s)",
                (f'"{url.schema}"."{events_table(url)}"', f'"{url.schema}".alembic_version'),
            ).fetchone()
            if row is None or row[0] is None:
                raise SchemaMissing(f"{where} has no deployledger schema; {MIGRATE} first")
            found = None
            if row[1] is not None:
                found = conn.execute(f"SELECT max(version_num) FROM {row[1]}").fetchone()
        _check_revision(where, found[0] if found else None)
        return
    path = Path(url.path).absolute()
    if not path.parent.is_dir():
        raise StoreMisconfigured(f"{where}: directory {path.parent} does not exist")
    if path.is_dir():
        raise StoreMisconfigured(f"{where}: {path} is a directory, not a database file")
    if not path.exists():
        raise SchemaMissing(
            f"{where}: file {path} does not exist; record a report or {MIGRATE} first"
        )
    with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as conn:
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name IN ('stored_events', 'alembic_version')"
            )
        }
        if "stored_events" not in tables:
            raise SchemaMissing(f"{where} has no deployledger schema; {MIGRATE} first")
        found = None
        if "alembic_version" in tables:
            found = conn.execute("SELECT max(version_num) FROM alembic_version").fetchone()
    _check_revision(where, found[0] if found else None)


def _check_revision(where: str, revision: str | None) -> None:
    if revision != HEAD:
        raise SchemaMissing(
            f"{where} has schema revision {revision}, this release needs {HEAD}; {MIGRATE} first"
        )
