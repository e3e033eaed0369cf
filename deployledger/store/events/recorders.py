"""Our two recorders: eventsourcing's, with writes through one dedicated connection.

Differences from the library's recorders, and why:
- PostgreSQL writes are one call of the function of migration 0003 (lock, notify,
  insert), one round trip on a dedicated autocommit connection, waiting for the table
  lock at most `lock_timeout` (the library's 0 waits forever); a large batch is the same
  lock and notify, then a binary `COPY`, in one transaction on that connection;
- PostgreSQL reads are not retried blindly ten times: a failure surfaces at once, and
  the caller decides;
- SQLite writes are BEGIN IMMEDIATE, one `executemany` of the inserts, COMMIT on a
  connection kept for writing, instead of a trip through the library's reader/writer pool
  and one statement per event.
Both pass the library's own recorder contract suites (tests/integration/test_recorder_contracts.py).
"""

from __future__ import annotations

import contextlib
import functools
import select
import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import psycopg
import psycopg_pool
from eventsourcing import persistence as es
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
)
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore
from psycopg import sql

from deployledger.domain.storeurl import StoreServer, StoreURL
from deployledger.store.database import pg_connect
from deployledger.store.errors import READ_ONLY_SQLSTATE
from deployledger.store.events import compat

F = TypeVar("F", bound=Callable[..., Any])
# The events pool holds at most pool_size (5) + max_overflow (10) connections: one more call
# than that reaches a fresh one.
POOL_BROKEN_RETRIES = 16
# PostgreSQL: a batch of at least this many events is written by COPY (a few round trips,
# then the cheapest way in), a smaller one by the one-call insert function.
COPY_FROM = 500


def retried_on_broken(method: F, attempts: int) -> F:
    """`method`, called again at once (up to `attempts` calls in all) when it failed on a
    pooled connection that turned out broken (the pool discards it), never when no
    connection could be had in time (`PoolTimeout`): a dead server fails in one wait."""

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(1, attempts + 1):
            try:
                return method(*args, **kwargs)
            except (es.OperationalError, es.InterfaceError) as e:
                if attempt == attempts or isinstance(e.__cause__, psycopg_pool.PoolTimeout):
                    raise
        raise AssertionError("unreachable")

    return cast(F, call)


class PostgresRecorder(PostgresApplicationRecorder):
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
        table = sql.Identifier(datastore.schema, events_table_name)
        self._lock = sql.SQL(
            "SET LOCAL lock_timeout = {}; LOCK TABLE {} IN EXCLUSIVE MODE; NOTIFY {}"
        ).format(sql.Literal(self._lock_timeout), table, sql.Identifier(self.channel_name))
        self._last = sql.SQL("SELECT coalesce(max(notification_id), 0) FROM {}").format(table)
        self._copy = sql.SQL(
            "COPY {} (originator_id, originator_version, topic, state) FROM STDIN (FORMAT BINARY)"
        ).format(table)
        self._copied = sql.SQL(
            "SELECT notification_id FROM {} WHERE notification_id > %s ORDER BY notification_id"
        ).format(table)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int]:
        """Lock, notify and insert in one statement, one round trip (migration 0003); a
        large batch, `COPY_FROM` events or more, by `COPY` under the same lock."""
        if len(stored_events) >= COPY_FROM:
            return self._insert_by_copy(stored_events)
        params = (
            [e.originator_id for e in stored_events],
            [e.originator_version for e in stored_events],
            [e.topic for e in stored_events],
            [e.state for e in stored_events],
            self._lock_timeout,
        )
        if not stored_events:  # no lock, no NOTIFY for nothing
            return []
        with self._writing:
            try:
                conn = self._connection()
                rows = conn.execute(self._insert_call, params, prepare=True).fetchall()
            except psycopg.IntegrityError as e:
                raise es.IntegrityError(str(e)) from e
            except psycopg.Error as e:
                self._drop_writer_after(e)
                raise es.OperationalError(str(e)) from e
            return [row[0] for row in rows]

    def _insert_by_copy(self, stored_events: Sequence[StoredEvent]) -> Sequence[int]:
        """Lock and notify as the function does, then `COPY` the rows in binary, in one
        transaction. The table lock keeps every other writer out until the commit, so
        the rows past the largest notification id before the copy are exactly the copied
        ones, numbered in copy order by the sequence."""
        with self._writing:
            try:
                conn = self._connection()
                with conn.transaction():
                    conn.execute(self._lock)
                    row = conn.execute(self._last).fetchone()
                    last = int(row[0]) if row is not None else 0
                    with conn.cursor().copy(self._copy) as copy:
                        copy.set_types(["uuid", "int8", "text", "bytea"])
                        for e in stored_events:
                            copy.write_row(
                                (e.originator_id, e.originator_version, e.topic, e.state)
                            )
                    ids = [r[0] for r in conn.execute(self._copied, (last,)).fetchall()]
                    if len(ids) != len(stored_events):  # cannot happen under the lock
                        raise psycopg.DataError(
                            f"copied {len(stored_events)} events, found {len(ids)} new positions"
                        )
            except psycopg.IntegrityError as e:
                raise es.IntegrityError(str(e)) from e
            except psycopg.Error as e:
                self._drop_writer_after(e)
                raise es.OperationalError(str(e)) from e
            return ids

    def _connection(self) -> psycopg.Connection[Any]:
        # Writes go through one dedicated autocommit connection: the call is one round
        # trip, and the pool's checkout and reset would cost about as much again.
        writer = self._writer
        if writer is not None and not writer.closed and _closed_by_server(writer):
            # The server ended this idle session (a restart, a failover, a terminated
            # backend): it was never given the write, so a new connection can take it.
            with contextlib.suppress(psycopg.Error):
                writer.close()
        if self._writer is None or self._writer.closed:
            self._writer = pg_connect(self._url)
        return self._writer

    def server(self) -> StoreServer:
        """The server this recorder writes to (asked on the writing connection itself)."""
        with self._writing:
            for attempt in (1, 2):
                try:
                    conn = self._connection()
                    row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
                    host, port = conn.info.host, conn.info.port
                    break
                except psycopg.Error as e:
                    reused = self._writer is not None
                    self._drop_writer_after(e)
                    # A connection kept from before a failover is dead: ask once more, on a
                    # new one, before saying that no server answers.
                    if attempt == 2 or not reused or self._writer is not None:
                        raise es.OperationalError(str(e)) from e
            primary = row is not None and not row[0]
            if not primary:  # connect again next time: a failover may have promoted another
                self._writer = None
                conn.close()
            return StoreServer(host, int(port), primary)

    def _drop_writer_after(self, error: psycopg.Error) -> None:
        """Forget the writing connection if it broke, or if its server refused the write
        as read-only (a standby, or a primary a failover demoted): the next write connects
        again through the host list, to the primary."""
        writer = self._writer
        if writer is None:
            return
        if writer.broken or writer.closed or error.sqlstate == READ_ONLY_SQLSTATE:
            with contextlib.suppress(psycopg.Error):
                writer.close()
            self._writer = None

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # The library retries these ten times on any operational error, which turns a
    # lock timeout or a dead server into a minute-long hang. They are called again only
    # when a pooled connection turned out broken (a database restart leaves the pool full
    # of them, and each failed call discards one), never on a wait for a connection.
    select_events = retried_on_broken(
        compat.unretried(PostgresApplicationRecorder.select_events), attempts=POOL_BROKEN_RETRIES
    )
    select_notifications = retried_on_broken(
        compat.unretried(PostgresApplicationRecorder.select_notifications),
        attempts=POOL_BROKEN_RETRIES,
    )
    max_notification_id = retried_on_broken(
        compat.unretried(PostgresApplicationRecorder.max_notification_id),
        attempts=POOL_BROKEN_RETRIES,
    )


def _closed_by_server(conn: psycopg.Connection[Any]) -> bool:
    """Whether an idle connection has something to read: between statements a session
    that does not LISTEN is sent nothing, except the server's notice that it ends the
    session, or the end of the stream. One `select` with no wait."""
    try:
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
    except (OSError, ValueError, psycopg.Error):
        return True
    return bool(readable)


class PostgresSnapshotRecorder(PostgresAggregateRecorder):
    """The library's snapshot recorder, without its blind retries. A snapshot is read on
    every load of a workload, and the library's ten retries of a wait for a pooled
    connection (each up to `connect_timeout`) turned a database outage into a hang of up to
    a minute per request instead of a prompt `StoreUnavailable`. Connections the pool holds
    that a restart broke are still skipped: each failed call discards one."""

    select_events = retried_on_broken(
        compat.unretried(PostgresAggregateRecorder.select_events), attempts=POOL_BROKEN_RETRIES
    )
    insert_events = compat.unretried(PostgresAggregateRecorder.insert_events)


class SQLiteRecorder(SQLiteApplicationRecorder):
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
        if compat.sqlite_memory_mode(self.datastore):
            return super().insert_events(stored_events, **kwargs) or []
        if not stored_events:
            return []
        statement = compat.sqlite_insert_statement(self)
        rows = [
            (e.originator_id.hex, e.originator_version, e.topic, e.state)  # type: ignore[union-attr]
            for e in stored_events
        ]
        with self._writing:
            conn = self._connection()
            try:
                if len(rows) == 1:  # one statement is its own transaction (autocommit)
                    return [conn.execute(statement, rows[0]).lastrowid or 0]
                conn.execute("BEGIN IMMEDIATE")
                first = conn.execute(statement, rows[0]).lastrowid or 0
                if len(rows) > 1:
                    conn.executemany(statement, rows[1:])
                ids = _rowids(conn, self.events_table_name, rows, first)
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
                compat.sqlite_db_name(self.datastore),
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


def _rowids(conn: sqlite3.Connection, table: str, rows: list[Any], first: int) -> list[int]:
    """The rowids (notification ids) of `rows`, inserted in this order in the open write
    transaction, the first at `first`: consecutive, since SQLite gives a new row the largest
    rowid plus one and the transaction holds the write lock. Looked up row by row in the
    one case where that does not hold (the largest rowid reached 2**63 - 1)."""
    if len(rows) == 1:  # one insert: `first` is its rowid (the usual `record()`)
        return [first]
    last = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
    if last - first == len(rows) - 1:
        return list(range(first, last + 1))
    select = f"SELECT rowid FROM {table} WHERE originator_id = ? AND originator_version = ?"
    return [int(conn.execute(select, row[:2]).fetchone()[0]) for row in rows]
