"""The eventsourcing internals deployledger leans on, one test per numbered assumption in
`deployledger.store.events.compat`'s docstring: each fails if an upgrade of the library breaks it.

And `test_installed_eventsourcing_is_the_checked_minor_line`: an upgrade past the checked
minor line fails until someone re-checks the assumptions and moves `CHECKED_VERSION`.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import inspect
import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import eventsourcing
import psycopg
import pytest
from eventsourcing import persistence as es
from eventsourcing.application import Application
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import Recording, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore, PostgresFactory
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore, SQLiteFactory
from eventsourcing.utils import Environment
from psycopg.sql import SQL
from support import RT_ID, TENANT, create_database, drop_database, parsed_report

from deployledger.domain.storeurl import StoreURL, parse_store_url
from deployledger.domain.workload.aggregate import Workload
from deployledger.store.database import make_engine, migrate
from deployledger.store.events import compat
from deployledger.store.events.application import APP_NAME, LedgerApplication, events_table
from deployledger.store.events.eventstore import EventStore
from deployledger.store.events.recorders import (
    POOL_BROKEN_RETRIES,
    PostgresRecorder,
    SQLiteRecorder,
)

AT = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


@contextmanager
def ledger_app(url: str) -> Iterator[LedgerApplication]:
    app = LedgerApplication(parse_store_url(url))
    try:
        yield app
    finally:
        app.close()


_LIFECYCLE_FIELDS = (
    "pool_rt_id",
    "workload_type",
    "deployed_chart_name",
    "deployed_chart_version",
    "pending_chart_name",
    "pending_chart_version",
    "requested_at",
    "last_duration",
    "undeployed_at",
    "request_version",
    "values_digest",
)


def workload_with_attempts(*message_ids: str | None, rtid: str = RT_ID) -> Workload:
    """A new workload with one attempt per message id, its events still pending."""
    workload = Workload.register(TENANT, rtid)
    for n, message_id in enumerate(message_ids):
        workload.record(
            parsed_report(
                rtid,
                success=n % 2 == 0,
                messageId=message_id,
                reportedAt=(AT + timedelta(minutes=n)).isoformat(),
            )
        )
    return workload


# ---------------------------------------------------------------------------------------
# 1. `@retry`-decorated recorder methods keep the undecorated function as `__wrapped__`.

RETRIED = ["select_events", "select_notifications", "max_notification_id"]


class FailingDatastore:
    """A PostgreSQL datastore whose every connection fails, counting the attempts."""

    schema = "public"

    def __init__(self) -> None:
        self.attempts = 0

    @contextmanager
    def get_connection(self) -> Iterator[Any]:
        self.attempts += 1
        raise es.OperationalError("server went away")
        yield  # pragma: no cover


CALLS: dict[str, Callable[[Any, Any], Any]] = {
    "select_events": lambda method, stub: method(stub, uuid.uuid4()),
    "select_notifications": lambda method, stub: method(stub, 1, 10),
    "max_notification_id": lambda method, stub: method(stub),
}


@pytest.mark.parametrize("name", RETRIED)
def test_assumption_01_retried_methods_wrap_the_undecorated_function(name: str) -> None:
    decorated = getattr(PostgresApplicationRecorder, name)
    inner = getattr(decorated, "__wrapped__", None)
    assert inspect.isfunction(inner), f"{name} has no __wrapped__ function"
    assert inner is not decorated
    assert not hasattr(inner, "__wrapped__"), f"{name} is wrapped twice"
    assert inner.__qualname__ == decorated.__qualname__
    assert inspect.signature(inner) == inspect.signature(decorated)
    assert compat.unretried(decorated) is inner
    # What our recorder really runs: the undecorated function, called again only when a
    # pooled connection turned out broken (see `recorders.retried_on_broken`).
    ours = getattr(PostgresRecorder, name)
    assert getattr(ours, "__wrapped__", None) is inner

    # The undecorated function tries once: the error surfaces at once, not after ten
    # attempts and two seconds of waiting.
    stub = SimpleNamespace(
        datastore=FailingDatastore(),
        events_table_name="deployledger_events",
        select_events_statement=SQL("SELECT 1"),
        max_notification_id_statement=SQL("SELECT 1"),
    )
    started = time.monotonic()
    with pytest.raises(es.OperationalError):
        CALLS[name](inner, stub)
    assert stub.datastore.attempts == 1
    assert time.monotonic() - started < 0.1

    # Ours skips broken connections at once, a bounded number of times, without waiting.
    stub.datastore.attempts = 0
    started = time.monotonic()
    with pytest.raises(es.OperationalError):
        CALLS[name](ours, stub)
    assert stub.datastore.attempts == POOL_BROKEN_RETRIES
    assert time.monotonic() - started < 0.5


# ---------------------------------------------------------------------------------------
# 2. The SQLite pool reads `pool.lock_timeout` when it opens a connection; a float works.


def test_assumption_02_sqlite_pool_honours_a_float_lock_timeout_set_later(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "locked.db")
    with closing(sqlite3.connect(path, isolation_level=None)) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE t (x)")
    datastore = SQLiteDatastore(path)
    try:
        compat.set_sqlite_lock_timeout(datastore, 0.3)  # after construction
        assert datastore.pool.lock_timeout == 0.3
        with closing(sqlite3.connect(path, isolation_level=None)) as holder:
            holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
            started = time.monotonic()
            with (
                pytest.raises(es.OperationalError, match="locked"),
                datastore.transaction(commit=True) as cursor,
            ):
                cursor.execute("INSERT INTO t VALUES (1)")
            waited = time.monotonic() - started
            holder.execute("ROLLBACK")
        # 0.3 s, not the library's default of 5 s (nor 0 s: a float truncated to an int
        # would fall back to that default too).
        assert 0.25 <= waited < 2.0, waited
    finally:
        datastore.close()


# ---------------------------------------------------------------------------------------
# 3. The SQLite pool's `db_name` and `is_sqlite_memory_mode`; the SQLite recorder's
#    `insert_events_statement` with four `?` (originator id hex, version, topic, state).


def test_assumption_03_sqlite_pool_and_recorder_internals_have_the_expected_shape(
    sqlite_ready_url: str,
) -> None:
    memory = parse_store_url("sqlite:///:memory:")
    for name, in_memory in [(":memory:", True), (memory.path, True)]:
        datastore = SQLiteDatastore(name)
        assert compat.sqlite_db_name(datastore) == name
        assert compat.sqlite_memory_mode(datastore) is in_memory
        datastore.close()

    store = parse_store_url(sqlite_ready_url)
    with ledger_app(sqlite_ready_url) as app:
        datastore = app.factory.datastore  # type: ignore[attr-defined]
        assert compat.sqlite_db_name(datastore) == store.path
        assert compat.sqlite_memory_mode(datastore) is False
        recorder = app.recorder
        assert isinstance(recorder, SQLiteApplicationRecorder)
        statement = compat.sqlite_insert_statement(recorder)
        assert isinstance(statement, str)
        assert statement.count("?") == 4
        assert events_table(store) in statement

        # The four parameters, in that order, make a row the library reads back.
        originator = uuid.uuid4()
        with closing(sqlite3.connect(store.path, isolation_level=None)) as conn:
            conn.execute(statement, (originator.hex, 1, "a-topic", b"a-state"))
        assert recorder.select_events(originator) == [
            StoredEvent(originator, 1, "a-topic", b"a-state")
        ]


# ---------------------------------------------------------------------------------------
# 4. An event's `mutate(aggregate)` returns the aggregate it applied to (in place), and a
#    snapshot's `mutate(None)` builds one.


def test_assumption_04_replay_through_mutate() -> None:
    original = workload_with_attempts("m-1", "m-2", None, "m-4")
    events = list(original.collect_events())
    assert len(events) == 5

    rebuilt = compat.replay(None, events)
    assert isinstance(rebuilt, Workload)
    assert rebuilt == original  # Aggregate.__eq__: same type and same __dict__
    assert rebuilt.version == 5

    # Each event applies in place and returns the same object (fast_forward relies on it).
    partial = events[0].mutate(None)
    for event in events[1:3]:
        assert event.mutate(partial) is partial
    assert compat.replay(None, events[3:], partial) is partial
    assert partial == original

    # From a snapshot at version 3, then the events after it.
    at_three = compat.replay(None, events[:3])
    snapshot = compat.WorkloadSnapshot.take(at_three)
    assert compat.replay(snapshot, []) == at_three
    assert compat.replay(snapshot, events[3:]) == original


# ---------------------------------------------------------------------------------------
# 5. `collect_events()` drains the pending events; `EventStore.put()` stores them in one
#    transaction, in the given order, and returns one `Recording`, with its notification
#    id, per event.


def test_assumption_05_collect_events_and_put_return_recordings(ready_url: str) -> None:
    first = workload_with_attempts("m-1", "m-2")
    second = workload_with_attempts("m-1", rtid="other-rt")
    pending = [*first.pending_events, *second.pending_events]
    with ledger_app(ready_url) as app:
        recordings = compat.store_events(
            app.events, [*first.collect_events(), *second.collect_events()]
        )
        assert first.pending_events == []
        assert second.pending_events == []
        assert all(isinstance(r, Recording) for r in recordings)
        assert [r.domain_event for r in recordings] == pending
        assert [r.notification.id for r in recordings] == [1, 2, 3, 4, 5]
        assert [
            (r.notification.originator_id, r.notification.originator_version) for r in recordings
        ] == [(e.originator_id, e.originator_version) for e in pending]

        # One transaction: a conflict on one aggregate stores nothing of the others.
        first.record(parsed_report(messageId="m-3"))
        stale = compat.replay(None, app.events.get(second.id, lte=1))
        stale.record(parsed_report("other-rt", messageId="m-x"))  # version 2 again
        with pytest.raises(es.IntegrityError):
            compat.store_events(app.events, [*first.collect_events(), *stale.collect_events()])
        assert first.pending_events == []  # drained, even though nothing was stored
        assert app.recorder.max_notification_id() == 5
        assert len(list(app.events.get(first.id))) == 3

        # Stored in the order given, not grouped by aggregate.
        third = workload_with_attempts("m-1", rtid="third-rt").collect_events()
        fourth = workload_with_attempts(rtid="fourth-rt").collect_events()
        interleaved = [third[0], fourth[0], third[1]]
        recordings = compat.store_events(app.events, interleaved)
        assert [r.domain_event for r in recordings] == interleaved
        ids = [r.notification.id for r in recordings]
        assert ids == sorted(ids)  # PostgreSQL may skip ids after the failed insert above
        assert ids[0] > 5


# ---------------------------------------------------------------------------------------
# 6. The default transcoder encodes a datetime as {"_type_": "datetime_iso", "_data_": iso}.


def test_assumption_06_transcoder_encodes_datetimes_as_tagged_iso_strings(
    sqlite_ready_url: str,
) -> None:
    with ledger_app(sqlite_ready_url) as app:
        transcoder = app.mapper.transcoder
        for moment in [AT, AT.replace(microsecond=0), AT.astimezone(timezone(timedelta(hours=5)))]:
            encoded = json.loads(transcoder.encode({"at": moment}))
            assert encoded == {"at": {"_type_": "datetime_iso", "_data_": moment.isoformat()}}
            decoded = compat.decode_datetime(encoded["at"])
            assert decoded == moment
            assert decoded.utcoffset() == moment.utcoffset()

        # The hot path reads stored attempts as plain JSON (no compressor, no cipher).
        workload = workload_with_attempts("m-1")
        attempt = workload.collect_events()[1]
        assert isinstance(attempt, Workload.DeploymentAttempted)
        state = json.loads(app.mapper.to_stored_event(attempt).state)
        for field in ("timestamp", "reported_at"):
            assert set(state[field]) == {"_type_", "_data_"}
            assert compat.decode_datetime(state[field]) == getattr(attempt, field)


# ---------------------------------------------------------------------------------------
# 7. `Snapshot.take()` copies `vars(aggregate)` into `state`; `Snapshot.mutate()` builds
#    the aggregate from `state`. WorkloadSnapshot packs the idempotency window there.


def test_assumption_07_snapshot_state_is_a_copy_of_vars_and_round_trips(
    sqlite_ready_url: str,
) -> None:
    workload = workload_with_attempts("m-1", None, "m-3", "m-4")
    workload.collect_events()
    own = {k: v for k, v in vars(workload).items() if k not in ("_id", "_version")}
    own.pop("_pending_events")

    plain = Snapshot.take(workload)
    assert plain.state == own
    assert plain.state is not vars(workload)
    assert (plain.originator_id, plain.originator_version) == (workload.id, workload.version)
    assert plain.mutate(None) == workload

    window = dict(workload.message_ids)
    assert window == {"m-1": 2, "m-3": 4, "m-4": 5}  # message id -> event version
    snapshot = compat.WorkloadSnapshot.take(workload)
    assert "message_ids" not in snapshot.state
    assert snapshot.state["message_versions"] == ["m-1\nm-3\nm-4", [2, 4, 5]]
    assert workload.message_ids == window  # the aggregate is untouched
    workload.message_ids["m-5"] = 6  # later changes do not reach the snapshot
    assert snapshot.state["message_versions"] == ["m-1\nm-3\nm-4", [2, 4, 5]]
    del workload.message_ids["m-5"]

    rebuilt = snapshot.mutate(None)
    assert rebuilt == workload
    assert rebuilt.message_ids == window

    # A snapshot written before the lifecycle events packed attempt numbers (attempt n was
    # version n + 1) and had none of the lifecycle fields: it still loads to the same state.
    old_state = {k: v for k, v in snapshot.state.items() if k not in _LIFECYCLE_FIELDS}
    old_state.pop("message_versions")
    old_state["message_window"] = ["m-1\nm-3\nm-4", [1, 3, 4]]
    old = dataclasses.replace(snapshot, state=old_state)
    assert old.mutate(None) == workload

    # Through the application's mapper and back, as it is stored.
    with ledger_app(sqlite_ready_url) as app:
        stored = app.mapper.to_stored_event(snapshot)
        assert stored.topic == compat.WorkloadSnapshot.TOPIC
        restored = app.mapper.to_domain_event(stored)
        assert isinstance(restored, compat.WorkloadSnapshot)
        assert restored.mutate(None) == workload

    empty = Workload.register(TENANT, "no-messages")
    empty.collect_events()
    assert compat.WorkloadSnapshot.take(empty).mutate(None) == empty


# ---------------------------------------------------------------------------------------
# 8. `Application.construct_env`, `construct_factory` and `construct_recorder` are the hooks
#    that build the environment, factory and recorder.


def test_assumption_08_application_builds_through_the_construct_hooks(
    ready_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A setting from the process environment the library would merge in, and we must not.
    monkeypatch.setenv("COMPRESSOR_TOPIC", "eventsourcing.compressor:ZlibCompressor")
    calls: list[str] = []

    class Spy(LedgerApplication):
        def construct_env(self, name: str, env: Any = None) -> Environment:
            calls.append("construct_env")
            return super().construct_env(name, env)

        def construct_factory(self, env: Environment) -> Any:
            calls.append("construct_factory")
            return super().construct_factory(env)

        def construct_recorder(self) -> es.ApplicationRecorder:
            calls.append("construct_recorder")
            return super().construct_recorder()

    store = parse_store_url(ready_url)
    app = Spy(store)
    try:
        assert calls == ["construct_env", "construct_factory", "construct_recorder"]
        assert app.env.get("COMPRESSOR_TOPIC") is None
        assert app.mapper.compressor is None
        assert "COMPRESSOR_TOPIC" in Application.construct_env(app, app.name, {})  # the base
        assert app.recorder is app.events.recorder
        if store.is_postgres:
            assert isinstance(app.factory, PostgresFactory)
            assert type(app.recorder) is PostgresRecorder
        else:
            assert isinstance(app.factory, SQLiteFactory)
            assert type(app.recorder) is SQLiteRecorder
            assert app.factory.datastore.pool.lock_timeout == store.lock_timeout
    finally:
        app.close()


# ---------------------------------------------------------------------------------------
# 9. `PostgresDatastore.get_connection()` yields dict-row connections;
#    `SQLiteDatastore.transaction(commit=False)` yields a cursor.


def test_assumption_09_datastore_connections_and_cursors(ready_url: str) -> None:
    store = parse_store_url(ready_url)
    with ledger_app(ready_url) as app:
        datastore = app.factory.datastore  # type: ignore[attr-defined]
        if store.is_postgres:
            assert isinstance(datastore, PostgresDatastore)
            with datastore.get_connection() as conn, conn.cursor() as cur:
                cur.execute("SELECT %s::int AS one, %s::text AS two", (1, "x"), prepare=True)
                rows = cur.fetchall()
            assert rows == [{"one": 1, "two": "x"}]
            assert tuple(rows[0].values()) == (1, "x")
        else:
            assert isinstance(datastore, SQLiteDatastore)
            with datastore.transaction(commit=False) as cur:
                cur.execute("SELECT ? AS one, ? AS two", (1, "x"))
                rows = cur.fetchall()
            assert [tuple(row) for row in rows] == [(1, "x")]

    # And EventStore.query, written on those shapes, on each backend.
    events = EventStore(store, create=False)
    try:
        compat.store_events(events.app.events, workload_with_attempts("m-1").collect_events())
        found = events.query(
            "SELECT {position}, originator_version FROM {events} "
            "WHERE originator_version >= ? ORDER BY {position} LIMIT ?",
            (1, -1),
        )
        assert found == [(1, 1), (2, 2)]
    finally:
        events.close()


# ---------------------------------------------------------------------------------------
# 10. The library's events table is `<application name>_events` on PostgreSQL and
#     `stored_events` on SQLite, and their DDL is what migration 0001 writes.


def migrate_store(store: StoreURL) -> None:
    engine = make_engine(store, single_connection=True)
    try:
        migrate(store, engine)
    finally:
        engine.dispose()


def sqlite_schema(path: str, tables: list[str]) -> dict[str, Any]:
    """Columns, primary key, indexes and rowid-ness of `tables`."""
    found: dict[str, Any] = {}
    with closing(sqlite3.connect(path)) as conn:
        for table in tables:
            indexes = []
            for _, name, unique, origin, partial in conn.execute(
                'SELECT seq, name, "unique", origin, partial FROM pragma_index_list(?) '
                "ORDER BY name",
                (table,),
            ):
                columns = conn.execute(
                    "SELECT name, desc, coll, key FROM pragma_index_xinfo(?) ORDER BY seqno",
                    (name,),
                ).fetchall()
                indexes.append((name, unique, origin, partial, columns))
            found[table] = {
                "columns": conn.execute(
                    'SELECT cid, name, type, "notnull", dflt_value, pk, hidden '
                    "FROM pragma_table_xinfo(?) ORDER BY cid",
                    (table,),
                ).fetchall(),
                "table": conn.execute(
                    "SELECT type, ncol, wr, strict FROM pragma_table_list(?)", (table,)
                ).fetchall(),
                "indexes": indexes,
            }
    return found


def sqlite_tables(path: str) -> set[str]:
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {row[0] for row in rows}


def library_tables(factory: Any) -> list[str]:
    """Let the library build its events and snapshots tables, as `Application` would; their
    names."""
    try:
        recorder = factory.application_recorder()
        snapshots = factory.aggregate_recorder("snapshots")
    finally:
        factory.close()
    return [recorder.events_table_name, snapshots.events_table_name]


def test_assumption_10_sqlite_tables_are_what_the_library_creates(tmp_path: Path) -> None:
    ours = parse_store_url(f"sqlite:///{tmp_path / 'ours.db'}")
    migrate_store(ours)

    theirs = str(tmp_path / "library.db")
    tables = library_tables(SQLiteFactory(Environment(APP_NAME, {"SQLITE_DBNAME": theirs})))
    assert tables == [events_table(ours), "stored_snapshots"]
    assert sqlite_tables(theirs) == set(tables)
    assert set(tables) <= sqlite_tables(ours.path)

    expected = sqlite_schema(theirs, tables)
    assert sqlite_schema(ours.path, tables) == expected
    assert expected["stored_events"]["table"][0][2] == 0  # a rowid table: the position
    assert expected["stored_snapshots"]["table"][0][2] == 1  # WITHOUT ROWID


PG_CATALOG = {
    "columns": (
        "SELECT column_name, data_type, is_nullable, column_default "
        "FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %(t)s "
        "ORDER BY ordinal_position"
    ),
    "constraints": (
        "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = format('public.%%I', %(t)s::text)::regclass ORDER BY conname"
    ),
    "indexes": (
        "SELECT indexname, indexdef FROM pg_indexes "
        "WHERE schemaname = 'public' AND tablename = %(t)s ORDER BY indexname"
    ),
    "options": (
        "SELECT relkind, relpersistence, reloptions FROM pg_class "
        "WHERE oid = format('public.%%I', %(t)s::text)::regclass"
    ),
    "sequences": (
        "SELECT s.relname, q.seqtypid::regtype::text, q.seqstart, q.seqincrement "
        "FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
        "JOIN pg_sequence q ON q.seqrelid = s.oid "
        "WHERE d.refobjid = format('public.%%I', %(t)s::text)::regclass ORDER BY 1"
    ),
}
PG_TYPES = (
    "SELECT t.typname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod) "
    "FROM pg_type t JOIN pg_attribute a ON a.attrelid = t.typrelid "
    "WHERE t.typnamespace = 'public'::regnamespace AND t.typtype = 'c' "
    "AND t.typname LIKE 'stored_event%%' ORDER BY 1, 2"
)


def postgres_schema(url: str, tables: list[str]) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        found: dict[str, Any] = {
            table: {
                key: conn.execute(query, {"t": table}).fetchall()
                for key, query in PG_CATALOG.items()
            }
            for table in tables
        }
        found["types"] = conn.execute(PG_TYPES).fetchall()
    return found


@pytest.mark.postgres
def test_assumption_10_postgres_tables_are_what_the_library_creates(
    fresh_postgres: str, postgres_admin_dsn: str
) -> None:
    ours = parse_store_url(fresh_postgres)
    migrate_store(ours)

    theirs = create_database(postgres_admin_dsn, prefix="dl_compat_lib")
    try:
        lib = parse_store_url(theirs)
        env = {
            "POSTGRES_DBNAME": lib.dbname,
            "POSTGRES_HOST": lib.host,
            "POSTGRES_PORT": str(lib.port),
            "POSTGRES_USER": lib.user,
            "POSTGRES_PASSWORD": lib.password,
        }
        tables = library_tables(PostgresFactory(Environment(APP_NAME, env)))
        assert tables == [events_table(ours), f"{APP_NAME}_snapshots"]

        expected = postgres_schema(theirs, tables)
        assert expected[tables[0]]["columns"]  # the queries do see the tables
        assert len(expected["types"]) == 4  # stored_event_uuid's four attributes
        assert postgres_schema(fresh_postgres, tables) == expected

        # Deliberately not compared: the library also creates its own insert function,
        # which deployledger replaces with migration 0003's `deployledger_insert_events`.
        with psycopg.connect(theirs) as conn:
            functions = conn.execute(
                "SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace"
            ).fetchall()
        assert functions == [("es_insert_events_uuid",)]
    finally:
        drop_database(postgres_admin_dsn, theirs)


# ---------------------------------------------------------------------------------------
# 11. `Mapper.to_stored_event()` stores vars(event) less the id and version, plus
#     `class_version` above 1, encoded by the JSONTranscoder (",", ":" separators, no ASCII
#     escaping, registered types tagged); `EventStore.put()` is insert_events() of them.


def test_assumption_11_state_encoder_writes_what_the_mapper_writes(ready_url: str) -> None:
    with ledger_app(ready_url) as app:
        encoder = compat.StateEncoder(app.mapper)
        assert encoder.direct  # the application's mapper: the direct JSON path
        transcoder = app.mapper.transcoder
        assert isinstance(transcoder, es.JSONTranscoder)
        assert transcoder.encode({"a": "é", "b": [1, None]}) == '{"a":"é","b":[1,null]}'.encode()
        workload = workload_with_attempts("m-1", None)
        events = workload.collect_events()
        for event in events[1:]:
            assert isinstance(event, Workload.DeploymentAttempted)
            fields = {
                k: v
                for k, v in vars(event).items()
                if k not in ("originator_id", "originator_version")
            }
            ours = encoder.stored_event(
                type(event), event.originator_id, event.originator_version, fields
            )
            assert ours == app.mapper.to_stored_event(event)
            assert json.loads(ours.state)["class_version"] == 2
        ids = compat.insert_stored(app.events, [app.mapper.to_stored_event(e) for e in events])
        assert ids == sorted(ids)
        assert len(ids) == len(events)
        stored = list(app.events.recorder.select_events(workload.id))
        assert [s.originator_version for s in stored] == [1, 2, 3]


# ---------------------------------------------------------------------------------------
# The version these assumptions were checked against.


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".")[:3])


def test_installed_eventsourcing_is_the_checked_minor_line() -> None:
    installed = importlib.metadata.version("eventsourcing")
    assert getattr(eventsourcing, "__version__", installed) == installed
    checked = compat.CHECKED_VERSION
    assert version_tuple(installed)[:2] == version_tuple(checked)[:2], (
        f"eventsourcing {installed} is not in the {checked} line that "
        "deployledger.store.events.compat "
        "was checked against: re-check its assumptions, then update CHECKED_VERSION"
    )
    assert version_tuple(installed) >= version_tuple(checked), (
        f"eventsourcing {installed} is older than the checked {checked}"
    )
