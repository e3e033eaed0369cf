"""The event store: workload aggregates in and out of eventsourcing, errors translated.

Also the raw reads that projections and rebuilds make: events after a position,
decoded cheaply, and per-workload attempt counts.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, cast
from uuid import UUID

from eventsourcing import persistence as es
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore
from psycopg.rows import tuple_row
from sqlalchemy import Engine

from deployledger.domain.storeurl import StoreServer, StoreURL
from deployledger.domain.workload.aggregate import NewEvent, Workload
from deployledger.errors import DeployLedgerError, WriteConflict
from deployledger.projections.project import EventRecord
from deployledger.store.database import make_engine, migrate
from deployledger.store.errors import translated
from deployledger.store.events import compat
from deployledger.store.events.application import LedgerApplication, check_schema, events_table
from deployledger.store.events.recorders import (
    POOL_BROKEN_RETRIES,
    PostgresRecorder,
    retried_on_broken,
)

DEFAULT_SNAPSHOT_INTERVAL = 200

# A stored event's place: (workload id, version) -> global position.
Positions = dict[tuple[UUID, int], int]


class EventStore:
    """Workload aggregates in and out of the event store, with driver errors translated."""

    def __init__(
        self, url: StoreURL, *, create: bool, snapshot_interval: int = DEFAULT_SNAPSHOT_INTERVAL
    ) -> None:
        self.url = url
        self.snapshot_interval = snapshot_interval
        self._snapshots = ThreadPoolExecutor(max_workers=1, thread_name_prefix="snapshots")
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
            else:
                check_schema(url)
            self.app = LedgerApplication(url)
            self._encoder = compat.StateEncoder(self.app.mapper)

    def close(self) -> None:
        """Finish the snapshots under way, then release every connection.

        The wait wakes every 0.1 s: a signal to the process may be delivered to the
        snapshot thread (asleep in the database's lock wait), and Python runs its handler
        only when the main thread runs, which a plain join would not let it do."""
        with contextlib.suppress(RuntimeError):  # closed before
            drained = self._snapshots.submit(_nothing)  # runs after every queued snapshot
            while True:
                try:
                    drained.result(timeout=0.1)
                    break
                except FutureTimeout:
                    continue
        self._snapshots.shutdown(wait=True)
        self.app.close()
        if self._keepalive is not None:
            self._keepalive.dispose()

    def load(self, workload: UUID) -> Workload | None:
        """The workload from its latest snapshot and the events after it; None if unknown."""
        assert self.app.snapshots is not None
        with translated(self.url):
            snapshot = next(iter(self.app.snapshots.get(workload, desc=True, limit=1)), None)
            if snapshot is not None and not compat.folded_under_current_rules(snapshot):
                snapshot = None  # folded under older rules: replay every event
            after = snapshot.originator_version if snapshot is not None else None
            events = self.app.events.get(workload, gt=after)
            return cast(Workload | None, compat.replay(snapshot, events))

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
            compat.replay(None, self.app.events.get(workload.id, gt=workload.version), workload)

    def save(self, events: Sequence[object], workloads: Sequence[Workload]) -> Positions:
        """Store `events` in one transaction, in their order; return where each landed.
        Raises `WriteConflict` when another writer stored one of their versions first.

        Each event is a library event object (a workload's registration, say), or a
        `NewEvent` of `Workload.append()`, encoded from its fields straight to the bytes
        the library's mapper would write for the event object."""
        to_stored = self.app.mapper.to_stored_event
        encoder = self._encoder
        stored = [
            encoder.stored_event(e.event_class, e.originator_id, e.originator_version, e.fields)
            if type(e) is NewEvent
            else to_stored(cast(Any, e))
            for e in events
        ]
        try:
            with translated(self.url):
                ids = compat.insert_stored(self.app.events, stored)
        except es.IntegrityError as e:
            raise WriteConflict(f"another writer changed the same workload: {e}") from None
        new_events = Counter(s.originator_id for s in stored)
        for workload in workloads:
            if workload.id in new_events:
                self._maybe_snapshot(workload, new_events[workload.id])
        return {
            (cast(UUID, s.originator_id), s.originator_version): nid
            for s, nid in zip(stored, ids, strict=True)
        }

    def _maybe_snapshot(self, workload: Workload, new_events: int) -> None:
        # Snapshot whenever the version crossed a multiple of the interval, written by a
        # background thread so that a long history never slows a write. The capture is
        # cheap (the one mutable container is copied); encoding and writing the idempotency
        # window runs later. Snapshots are an optimisation: the events are committed, so a
        # failure there is harmless.
        interval = self.snapshot_interval
        if workload.version // interval <= (workload.version - new_events) // interval:
            return
        assert self.app.snapshots is not None
        snapshots = self.app.snapshots
        snapshot = compat.WorkloadSnapshot.take(workload)

        def store() -> None:
            with contextlib.suppress(DeployLedgerError), translated(self.url):
                snapshots.put([snapshot])

        self._snapshots.submit(store)

    def event_at(self, workload: UUID, version: int) -> tuple[Workload.Event, int]:
        """The workload's event at `version`, decoded by the library's mapper (upcasts
        included), with its global position."""
        rows = self.query(
            "SELECT {position}, topic, state FROM {events} "
            "WHERE originator_id = ? AND originator_version = ?",
            (workload, version),
        )
        position, topic, state = rows[0]
        event = self.app.mapper.to_domain_event(StoredEvent(workload, version, topic, bytes(state)))
        assert isinstance(event, Workload.Event)
        return event, position

    def attempts_upto(self, workload: UUID, version: int) -> int:
        """How many outcomes the workload has at versions <= `version`: the attempt number
        of the outcome at `version`."""
        rows = self.query(
            "SELECT COUNT(*) FROM {events} "
            "WHERE originator_id = ? AND originator_version <= ? AND topic = ?",
            (workload, version, _ATTEMPTED),
        )
        return int(rows[0][0])

    def records_of(self, workload: UUID) -> list[EventRecord]:
        """Every event of one workload, oldest first, decoded as projections see them."""
        rows = self.query(
            "SELECT {position}, originator_id, originator_version, topic, state FROM {events} "
            "WHERE originator_id = ? ORDER BY originator_version",
            (workload,),
        )
        return _records(self, rows)

    def query(self, template: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """Run a read-only query on the events table, written once for both backends:
        `{events}` is the table, `{position}` its global-position column, `?` a parameter,
        and `LIMIT -1` means no limit on both."""
        with translated(self.url):
            datastore = cast(Any, self.app.factory).datastore
            if self.url.is_postgres:
                table = qualified_events_table(self.url)
                text = template.format(events=table, position="notification_id")
                pg = cast(PostgresDatastore, datastore)
                limit_all = tuple(None if p == -1 else p for p in params)

                def run() -> list[tuple[Any, ...]]:
                    with pg.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
                        cur.execute(text.replace("?", "%s"), limit_all, prepare=True)
                        return cur.fetchall()

                # A read: asked again when a pooled connection turned out broken (a
                # restart or a failover leaves the pool full of them; each is discarded).
                return retried_on_broken(run, POOL_BROKEN_RETRIES)()
            text = template.format(events=events_table(self.url), position="rowid")
            lite = cast(SQLiteDatastore, datastore)
            with lite.transaction(commit=False) as cur:
                cur.execute(text, tuple(p.hex if isinstance(p, UUID) else p for p in params))
                return [tuple(row) for row in cur.fetchall()]

    def leaf_rows(self, after: int, upto: int, chunk: int) -> Iterator[list[tuple[Any, ...]]]:
        """Every stored event at positions in (after, upto], in order, `chunk` rows at a
        time, in one read transaction: (position, aggregate id, version, topic, state).
        The id is its 16 bytes on PostgreSQL, its hex text on SQLite (no UUID objects:
        this is the hot path of `verify`)."""
        with translated(self.url):
            datastore = cast(Any, self.app.factory).datastore
            if self.url.is_postgres:
                table = qualified_events_table(self.url)
                query = (
                    "SELECT notification_id, uuid_send(originator_id), originator_version, "
                    f"topic, state FROM {table} WHERE notification_id > %s "
                    "AND notification_id <= %s ORDER BY notification_id"
                )
                pg = cast(PostgresDatastore, datastore)
                with (
                    pg.get_connection() as conn,
                    conn.transaction(),
                    conn.cursor(name="leaf_rows", row_factory=tuple_row) as cur,
                ):
                    cur.itersize = chunk
                    cur.execute(query, (after, upto))
                    while rows := cur.fetchmany(chunk):
                        yield rows
                return
            lite = cast(SQLiteDatastore, datastore)
            with lite.transaction(commit=False) as wrapped:
                raw = wrapped.sqlite_cursor  # the library's wrapper has no fetchmany
                raw.row_factory = None
                raw.execute(
                    "SELECT rowid, originator_id, originator_version, topic, state "
                    f"FROM {events_table(self.url)} WHERE rowid > ? AND rowid <= ? ORDER BY rowid",
                    (after, upto),
                )
                while rows := raw.fetchmany(chunk):
                    yield rows

    def server(self) -> StoreServer | None:
        """PostgreSQL: the server writes go to, and whether it is the primary. SQLite: None."""
        recorder = self.app.recorder
        if not isinstance(recorder, PostgresRecorder):
            return None
        with translated(self.url):
            return recorder.server()

    def max_position(self) -> int:
        """The highest global position recorded so far (0 when empty)."""
        with translated(self.url):
            return self.app.recorder.max_notification_id() or 0


def _as_uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


def qualified_events_table(url: StoreURL) -> str:
    """The events table as SQL on the store's own database connection."""
    if url.is_postgres:
        return f'"{url.schema}"."{events_table(url)}"'
    return events_table(url)


def read_after(store: EventStore, position: int, limit: int) -> list[EventRecord]:
    """Up to `limit` events after global `position`, in order, decoded for projections.

    Gaps in the positions (PostgreSQL sequences skip on failed inserts) are simply passed
    over: the recorder's table lock makes insert order equal commit order.
    """
    return records_of_rows(store, rows_after(store, position, limit))


def rows_after(
    store: EventStore, position: int, limit: int, *, upto: int | None = None
) -> list[tuple[Any, ...]]:
    """Up to `limit` stored events after global `position` (and at or before `upto`), in
    order, as stored: (position, originator id, version, topic, state bytes)."""
    if upto is None:
        return store.query(
            "SELECT {position}, originator_id, originator_version, topic, state FROM {events} "
            "WHERE {position} > ? ORDER BY {position} LIMIT ?",
            (position, limit),
        )
    return store.query(
        "SELECT {position}, originator_id, originator_version, topic, state FROM {events} "
        "WHERE {position} > ? AND {position} <= ? ORDER BY {position} LIMIT ?",
        (position, upto, limit),
    )


def records_of_rows(store: EventStore, rows: list[tuple[Any, ...]]) -> list[EventRecord]:
    """Stored-event rows (as `rows_after` returns them) decoded for projections."""
    return _records(store, rows)


def _records(store: EventStore, rows: list[tuple[Any, ...]]) -> list[EventRecord]:
    decode = store.app.mapper.transcoder.decode
    return [
        EventRecord(
            at,
            originator if isinstance(originator, str) else originator.hex,
            version,
            topic,
            _decode_plain(state) if topic in _PLAIN else decode(bytes(state)),
        )
        for at, originator, version, topic, state in rows
    ]


_ATTEMPTED = Workload.DeploymentAttempted.TOPIC
_LIFECYCLE = (
    Workload.DeploymentRequested.TOPIC,
    Workload.DeploymentProgressed.TOPIC,
    Workload.Undeployed.TOPIC,
)
# Our own events: their only transcoded values are the two timestamps.
_PLAIN = frozenset((_ATTEMPTED, *_LIFECYCLE))


def _decode_plain(state: bytes) -> dict[str, Any]:
    """The hot path of projections: our events' state holds two transcoded values, both
    timestamps, so plain JSON and two `fromisoformat` calls replace the generic decoder."""
    data: dict[str, Any] = json.loads(state)
    data["timestamp"] = compat.decode_datetime(data["timestamp"])
    data["reported_at"] = compat.decode_datetime(data.get("reported_at"))
    return data


def attempt_counts(store: EventStore, upto: int) -> tuple[dict[str, int], int]:
    """Among events at positions <= `upto`: per workload (id hex), its number of outcomes;
    and the number of lifecycle events (requests, progress, undeploys)."""
    rows = store.query(
        "SELECT originator_id, topic, COUNT(*) FROM {events} "
        "WHERE {position} <= ? GROUP BY originator_id, topic",
        (upto,),
    )
    attempts: dict[str, int] = {}
    lifecycle = 0
    for originator, topic, count in rows:
        key = _as_uuid(originator).hex
        attempts[key] = attempts.get(key, 0) + (count if topic == _ATTEMPTED else 0)
        lifecycle += count if topic in _LIFECYCLE else 0
    return attempts, lifecycle


def _nothing() -> None:
    """A no-op job: done once every job queued before it is."""
