"""The event store: eventsourcing's SQLite or PostgreSQL module, chosen by the store URL.

Differences from the library's defaults, and why:
- the environment is never read: the configuration is passed as `env=`;
- PostgreSQL waits for the table lock at most `lock_timeout` (the library's 0 waits forever);
- PostgreSQL calls are not retried blindly ten times: a failure surfaces as `StoreUnavailable`
  at once, and the caller decides;
- the schema is created only on request, by the Alembic migrations under an advisory
  lock, so that replicas starting at once cannot race; the library never creates tables.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, cast
from uuid import UUID

import psycopg
from eventsourcing import persistence as es
from eventsourcing.application import Application
from eventsourcing.persistence import ApplicationRecorder, Recording, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore, PostgresFactory
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore, SQLiteFactory
from eventsourcing.utils import Environment
from psycopg import sql
from sqlalchemy import Engine

from deployledger.domain.storeurl import StoreURL
from deployledger.domain.workload import Workload
from deployledger.errors import SchemaMissing
from deployledger.projections.project import EventRecord
from deployledger.store.database import make_engine, migrate, pg_connect
from deployledger.store.errors import translated

APP_NAME = "deployledger"


def events_table(url: StoreURL) -> str:
    """The stored-events table: eventsourcing names it after the application on PostgreSQL."""
    return f"{APP_NAME}_events" if url.is_postgres else "stored_events"


class _PostgresRecorder(PostgresApplicationRecorder):
    """The library's recorder, writing through one function call, with a millisecond
    lock timeout and no blind retries."""

    def __init__(
        self,
        datastore: PostgresDatastore,
        *,
        events_table_name: str,
        lock_ms: int,
        url: StoreURL,
    ):
        super().__init__(datastore, events_table_name=events_table_name)
        self._url = url
        self._writer: psycopg.Connection[Any] | None = None
        self._writing = threading.Lock()
        self._lock_timeout = f"{lock_ms}ms"
        self._insert_call = sql.SQL(
            "SELECT * FROM {}.deployledger_insert_events("
            "%b::uuid[], %b::bigint[], %b::text[], %b::bytea[], %s)"
        ).format(sql.Identifier(datastore.schema))

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int]:
        """Lock, notify and insert in one statement, one round trip (migration 0003)."""
        params = (
            [e.originator_id for e in stored_events],
            [e.originator_version for e in stored_events],
            [e.topic for e in stored_events],
            [e.state for e in stored_events],
            self._lock_timeout,
        )
        with self._writing:
            try:
                conn = self._connection()
                rows = conn.execute(self._insert_call, params, prepare=True).fetchall()
            except psycopg.IntegrityError as e:
                raise es.IntegrityError(str(e)) from e
            except psycopg.Error as e:
                if self._writer is not None and (self._writer.broken or self._writer.closed):
                    self._writer = None
                raise es.OperationalError(str(e)) from e
            return [row[0] for row in rows]

    def _connection(self) -> psycopg.Connection[Any]:
        # Writes go through one dedicated autocommit connection: the call is one round
        # trip, and the pool's checkout and reset would cost about as much again.
        if self._writer is None or self._writer.closed:
            self._writer = pg_connect(self._url)
        return self._writer

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # The library retries these ten times on any operational error, which turns a
    # lock timeout or a dead server into a minute-long hang. Callers retry instead.
    select_events = PostgresApplicationRecorder.select_events.__wrapped__
    select_notifications = PostgresApplicationRecorder.select_notifications.__wrapped__
    max_notification_id = PostgresApplicationRecorder.max_notification_id.__wrapped__


class _SQLiteRecorder(SQLiteApplicationRecorder):
    """The library's recorder, writing through one dedicated connection.

    Every write is BEGIN IMMEDIATE, the inserts, COMMIT on a connection kept for writing,
    instead of a trip through the library's reader/writer pool; reads still use the pool.
    """

    def __init__(self, datastore: SQLiteDatastore, *, lock_timeout: float) -> None:
        super().__init__(datastore)
        self._lock_timeout = lock_timeout
        self._writer: sqlite3.Connection | None = None
        self._writing = threading.Lock()

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int]:
        if self.datastore.pool.is_sqlite_memory_mode:
            return super().insert_events(stored_events, **kwargs) or []
        with self._writing:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                ids = [
                    conn.execute(
                        self.insert_events_statement,
                        (e.originator_id.hex, e.originator_version, e.topic, e.state),  # type: ignore[union-attr]
                    ).lastrowid
                    or 0
                    for e in stored_events
                ]
                conn.execute("COMMIT")
            except sqlite3.Error as e:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(e, sqlite3.IntegrityError):
                    raise es.IntegrityError(e) from e
                raise es.OperationalError(e) from e
            return ids

    def _connection(self) -> sqlite3.Connection:
        if self._writer is None:
            self._writer = sqlite3.connect(
                self.datastore.pool.db_name,
                uri=True,
                check_same_thread=False,
                isolation_level=None,
                timeout=self._lock_timeout,
            )
            self._writer.execute("PRAGMA synchronous=FULL")
        return self._writer

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


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
            factory.datastore.pool.lock_timeout = self.url.lock_timeout  # type: ignore[assignment]
        return factory

    def construct_recorder(self) -> ApplicationRecorder:
        if isinstance(self.factory, SQLiteFactory):
            return _SQLiteRecorder(self.factory.datastore, lock_timeout=self.url.lock_timeout)
        if not isinstance(self.factory, PostgresFactory):
            return super().construct_recorder()
        return _PostgresRecorder(
            self.factory.datastore,
            events_table_name=events_table(self.url),
            lock_ms=max(1, round(self.url.lock_timeout * 1000)),
            url=self.url,
        )


def _env(url: StoreURL) -> dict[str, str]:
    # Tables are created once, by the migrations, never by the library on start-up.
    env = {"IS_SNAPSHOTTING_ENABLED": "y", "CREATE_TABLE": "n"}
    if url.is_postgres:
        env.update(
            PERSISTENCE_MODULE="eventsourcing.postgres",
            POSTGRES_DBNAME=url.dbname,
            POSTGRES_HOST=url.host,
            POSTGRES_PORT=str(url.port),
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


class EventStore:
    """Workload aggregates in and out of the event store, with driver errors translated."""

    def __init__(self, url: StoreURL, *, create: bool) -> None:
        self.url = url
        with translated(url):
            self._keepalive: Engine | None = None
            if create:
                engine = make_engine(url, single_connection=True)
                try:
                    migrate(url, engine)
                finally:
                    if url.memory:  # a shared-cache memory database lives while a connection does
                        self._keepalive = engine
                    else:
                        engine.dispose()
            elif url.is_postgres:
                _check_postgres(url)
            elif not url.memory:
                _check_sqlite(url)
            self.app = LedgerApplication(url)

    def close(self) -> None:
        if isinstance(self.app.recorder, _SQLiteRecorder | _PostgresRecorder):
            self.app.recorder.close()
        self.app.close()
        if self._keepalive is not None:
            self._keepalive.dispose()

    def load(self, workload: UUID) -> Workload | None:
        """The workload from its latest snapshot and the events after it; None if unknown."""
        # A plain replay loop: the library's projector checks a runtime Protocol on every
        # event, which costs more than applying it.
        assert self.app.snapshots is not None
        with translated(self.url):
            found: Any = None
            for snapshot in self.app.snapshots.get(workload, desc=True, limit=1):
                found = snapshot.mutate(None)  # type: ignore[attr-defined]
            after = found.version if found is not None else None
            for event in self.app.events.get(workload, gt=after):
                found = event.mutate(found)  # type: ignore[attr-defined]
            return cast(Workload | None, found)

    def existing(self, workloads: Sequence[UUID]) -> set[UUID]:
        """Which of these workloads have any events (one query per 500, not two per id)."""
        found: set[UUID] = set()
        for start in range(0, len(workloads), 500):
            chunk = tuple(workloads[start : start + 500])
            marks = ", ".join("?" * len(chunk))
            rows = self.query(
                "SELECT originator_id FROM {events} "
                f"WHERE originator_version = 1 AND originator_id IN ({marks})",
                chunk,
            )
            found.update(_as_uuid(row[0]) for row in rows)
        return found

    def fast_forward(self, workload: Workload) -> None:
        """Apply, in place, the events other writers stored after `workload.version`."""
        with translated(self.url):
            for event in self.app.events.get(workload.id, gt=workload.version):
                event.mutate(workload)  # type: ignore[attr-defined]

    def save(self, workloads: Sequence[Workload]) -> list[Recording[UUID]]:
        """Store every pending event of every workload in one transaction.

        Goes to the event store directly: `Application.save()` adds runtime protocol checks
        and snapshot bookkeeping per call that the ledger does not need (it snapshots itself).
        """
        events = [event for workload in workloads for event in workload.collect_events()]
        with translated(self.url):
            return self.app.events.put(events)

    def snapshot(self, workload: Workload) -> Callable[[], None]:
        """Capture the workload's state now; return the call that stores it.

        The capture is cheap (the one mutable container is copied), so that the costly
        part, encoding and writing a long history's idempotency window, can run later,
        off the caller's path.
        """
        assert self.app.snapshots is not None
        snapshots = self.app.snapshots
        snapshot = Workload.Snapshot.take(workload)  # copies what later records change

        def store() -> None:
            with translated(self.url):
                snapshots.put([snapshot])

        return store

    def events_with_positions(
        self, workload: UUID, *, min_version: int, max_version: int | None, limit: int | None
    ) -> list[tuple[Workload.DeploymentAttempted, int]]:
        """The workload's attempt events, newest first, each with its global position."""
        rows = self._select_desc(workload, min_version, max_version, limit)
        out = []
        for position, version, topic, state in rows:
            stored = StoredEvent(workload, version, topic, bytes(state))
            event = self.app.mapper.to_domain_event(stored)
            assert isinstance(event, Workload.DeploymentAttempted)
            out.append((event, position))
        return out

    def _select_desc(
        self, workload: UUID, min_version: int, max_version: int | None, limit: int | None
    ) -> list[tuple[Any, ...]]:
        upper = max_version if max_version is not None else 2**62
        return self.query(
            "SELECT {position}, originator_version, topic, state FROM {events} "
            "WHERE originator_id = ? AND originator_version BETWEEN ? AND ? "
            "ORDER BY originator_version DESC LIMIT ?",
            (workload, min_version, upper, -1 if limit is None else limit),
        )

    def query(self, template: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """Run a read-only query on the events table, written once for both backends:
        `{events}` is the table, `{position}` its global-position column, `?` a parameter,
        and `LIMIT -1` means no limit on both."""
        with translated(self.url):
            datastore = cast(Any, self.app.factory).datastore
            if self.url.is_postgres:
                table = f'"{self.url.schema}"."{events_table(self.url)}"'
                text = template.format(events=table, position="notification_id")
                pg = cast(PostgresDatastore, datastore)
                with pg.get_connection() as conn, conn.cursor() as cur:
                    limit_all = tuple(None if p == -1 else p for p in params)
                    cur.execute(text.replace("?", "%s"), limit_all, prepare=True)
                    return [tuple(row.values()) for row in cur.fetchall()]
            text = template.format(events=events_table(self.url), position="rowid")
            lite = cast(SQLiteDatastore, datastore)
            with lite.transaction(commit=False) as cur:
                cur.execute(text, tuple(p.hex if isinstance(p, UUID) else p for p in params))
                return [tuple(row) for row in cur.fetchall()]

    def max_position(self) -> int:
        """The highest global position recorded so far (0 when empty)."""
        with translated(self.url):
            return self.app.recorder.max_notification_id() or 0


def _check_postgres(url: StoreURL) -> None:
    """Fail fast on an unreachable server, and clearly on a database never migrated."""
    with pg_connect(url) as conn:
        row = conn.execute(
            "SELECT to_regclass(%s)", (f'"{url.schema}"."{events_table(url)}"',)
        ).fetchone()
    if row is None or row[0] is None:
        raise SchemaMissing(
            f"store {url.redacted()} has no deployledger schema; "
            "run `deployledger migrate` (or open with create=True) first"
        )


def _check_sqlite(url: StoreURL) -> None:
    import sqlite3
    from pathlib import Path

    if not Path(url.path).exists():
        raise SchemaMissing(f"store {url.redacted()} does not exist; record a report first")
    with contextlib.closing(sqlite3.connect(f"file:{url.path}?mode=ro", uri=True)) as conn:
        found = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'stored_events'"
        ).fetchone()
    if found is None:
        raise SchemaMissing(f"store {url.redacted()} has no deployledger schema")


def _as_uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


def read_after(store: EventStore, position: int, limit: int) -> list[EventRecord]:
    """Up to `limit` events after global `position`, in order, decoded for projections.

    Gaps in the positions (PostgreSQL sequences skip on failed inserts) are simply passed
    over: the recorder's table lock makes insert order equal commit order.
    """
    rows = store.query(
        "SELECT {position}, originator_id, originator_version, topic, state FROM {events} "
        "WHERE {position} > ? ORDER BY {position} LIMIT ?",
        (position, limit),
    )
    decode = store.app.mapper.transcoder.decode
    return [
        EventRecord(
            at,
            originator if isinstance(originator, str) else originator.hex,
            version,
            topic,
            _decode_attempt(state) if topic == _ATTEMPTED else decode(bytes(state)),
        )
        for at, originator, version, topic, state in rows
    ]


_ATTEMPTED = Workload.DeploymentAttempted.TOPIC


def _decode_attempt(state: bytes) -> dict[str, Any]:
    """The hot path of projections: an attempt's state holds two transcoded values, both
    timestamps, so plain JSON and two `fromisoformat` calls replace the generic decoder."""
    data: dict[str, Any] = json.loads(state)
    for key in ("timestamp", "reported_at"):
        value = data.get(key)
        if isinstance(value, dict):
            assert value["_type_"] == "datetime_iso", value
            data[key] = datetime.fromisoformat(value["_data_"])
    return data


def attempt_counts(store: EventStore, upto: int) -> dict[str, int]:
    """Per workload (id hex), the number of attempts among events at positions <= `upto`."""
    rows = store.query(
        "SELECT originator_id, MAX(originator_version) FROM {events} "
        "WHERE {position} <= ? GROUP BY originator_id",
        (upto,),
    )
    return {_as_uuid(originator).hex: version - 1 for originator, version in rows}
