"""Every use of an eventsourcing internal, fenced in one module.

Checked against eventsourcing 9.5.6 (the dependency is pinned `>=9.5,<9.6`). Each
assumption below has a test in `tests/integration/test_eventsourcing_compat.py` that
fails if an upgrade breaks it; nothing else in deployledger touches these names.

1. `@retry`-decorated recorder methods keep the undecorated function as `__wrapped__`
   (functools.wraps): `unretried()`.
2. The SQLite datastore's pool reads `pool.lock_timeout` (seconds) when it opens a
   connection, so it may be set after construction, and a float works:
   `set_sqlite_lock_timeout()`.
3. The SQLite pool exposes `db_name` and `is_sqlite_memory_mode`, and the SQLite
   recorder its `insert_events_statement` with four `?` parameters (originator id as
   hex, version, topic, state): `sqlite_db_name()`, `sqlite_memory_mode()`,
   `sqlite_insert_statement()`.
4. An event's `mutate(aggregate)` returns the aggregate it applied to, and a snapshot's
   `mutate(None)` builds one: `replay()`.
5. `Aggregate.collect_events()` drains the pending events, and `EventStore.put(events)`
   stores them in one transaction, in the given order, returning one `Recording` (with
   the notification id) per event: `store_events()`.
6. The default transcoder encodes a `datetime` as `{"_type_": "datetime_iso",
   "_data_": isoformat}`: `decode_datetime()`, on the projections' hot path.
7. `Snapshot.take()` copies `vars(aggregate)` into `state`, and `Snapshot.mutate()` builds
   the aggregate from `state`: `WorkloadSnapshot` packs the idempotency window there.
8. `Application.construct_env`, `construct_factory` and `construct_recorder` are the hooks
   that build the environment, factory and recorder (`deployledger.store.events.eventstore`).
9. `PostgresDatastore.get_connection()` yields dict-row connections, and
   `SQLiteDatastore.transaction(commit=False)` yields a cursor: `EventStore.query`.
10. The library's PostgreSQL events table is `<application name>_events`, SQLite's is
    `stored_events`, and their DDL is what migration 0001 writes.
11. `Mapper.to_stored_event()` stores `vars(event)` without the originator id and version,
    plus `class_version` when above 1, encoded by the transcoder (then compressed and
    encrypted if configured), under the topic of the event's class; the `JSONTranscoder`
    encodes with `separators=(",", ":")` and `ensure_ascii=False`, and a registered type
    as `{"_type_": name, "_data_": encoded}`: `StateEncoder`, which the bulk path uses
    instead of building event objects. `EventStore.put()` is `insert_events()` of the
    mapped events: `insert_stored()`.
12. The PostgreSQL datastore's pool opens lazily and passes its `kwargs` dict to
    `psycopg.connect` for each new connection, so libpq settings the library has no
    environment key for (`target_session_attrs`) may be added after construction:
    `set_postgres_connect_kwargs()`.

(psycopg_pool's internals, which the PostgreSQL datastore's pool is: `reconnect.py`.)
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar, cast
from uuid import UUID

from eventsourcing.domain import Aggregate, Snapshot
from eventsourcing.persistence import (
    DatetimeAsISO,
    JSONTranscoder,
    Mapper,
    Recording,
    StoredEvent,
)
from eventsourcing.persistence import EventStore as LibraryEventStore
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore
from eventsourcing.utils import get_topic, register_topic

from deployledger.domain.workload.fold import FOLD_RULES, registered

CHECKED_VERSION = "9.5.6"
F = TypeVar("F", bound=Callable[..., Any])
A = TypeVar("A", bound=Aggregate)


def unretried(method: F) -> F:
    """The function under the library's `@retry`: the caller decides about retries."""
    return cast(F, method.__wrapped__)  # type: ignore[attr-defined]


def set_sqlite_lock_timeout(datastore: SQLiteDatastore, seconds: float) -> None:
    """Wait at most `seconds` for SQLite's lock (the environment takes whole seconds only)."""
    datastore.pool.lock_timeout = seconds  # type: ignore[assignment]


def set_postgres_connect_kwargs(datastore: PostgresDatastore, kwargs: dict[str, Any]) -> None:
    """Connect with exactly these libpq keywords (the host list, its ports, and
    `target_session_attrs`), keeping the library's own (row factory)."""
    current = datastore.pool.kwargs
    assert isinstance(current, dict), "the library passes a dict of connect keywords"
    current.update(kwargs)


def sqlite_db_name(datastore: SQLiteDatastore) -> str:
    return datastore.pool.db_name


def sqlite_memory_mode(datastore: SQLiteDatastore) -> bool:
    return datastore.pool.is_sqlite_memory_mode


def sqlite_insert_statement(recorder: SQLiteApplicationRecorder) -> str:
    return recorder.insert_events_statement


def replay(snapshot: Any, events: Iterable[Any], aggregate: Any = None) -> Any:
    """Apply `snapshot` (if any), then `events`, to `aggregate`; return the result.

    A plain loop: the library's projector checks a runtime Protocol on every event,
    which costs more than applying it.
    """
    if snapshot is not None:
        aggregate = snapshot.mutate(None)
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


def store_events(events: LibraryEventStore[UUID], pending: Sequence[Any]) -> list[Recording[UUID]]:
    """Store events, collected with `Aggregate.collect_events()`, in one transaction and in
    the given order.

    `Application.save()` would add runtime protocol checks and snapshot bookkeeping per
    call that the ledger does not need (it snapshots itself), and would order the events
    by aggregate, not as they happened.
    """
    return events.put(list(pending))


def insert_stored(events: LibraryEventStore[UUID], stored: Sequence[StoredEvent]) -> list[int]:
    """Insert stored events in one transaction, in the given order; return their
    notification ids, in that order."""
    return list(events.recorder.insert_events(list(stored)) or [])


class StateEncoder:
    """Stored events made from an event's class and fields, byte for byte what
    `mapper.to_stored_event()` makes of the event object.

    With the library's default mapper (a `JSONTranscoder`, no compressor, no cipher, and
    `datetime` as `datetime_iso`), the fields are encoded by the C JSON encoder directly,
    their datetimes transcoded in place, with no callback per value; any other mapper,
    or a value the plain encoder refuses, goes through the mapper's own transcoder.
    """

    def __init__(self, mapper: Mapper[UUID]) -> None:
        self.mapper = mapper
        transcoder = mapper.transcoder
        dates = transcoder.types.get(datetime) if isinstance(transcoder, JSONTranscoder) else None
        self.direct = (
            type(transcoder) is JSONTranscoder
            and type(dates) is DatetimeAsISO
            and dates.name == "datetime_iso"
            and mapper.compressor is None
            and mapper.cipher is None
        )
        self._encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
        self._topics: dict[type, tuple[str, int]] = {}

    def stored_event(
        self, cls: type, originator_id: UUID, version: int, fields: dict[str, Any]
    ) -> StoredEvent:
        """The stored event of an event of class `cls` with these fields (in the class's
        field order, without the originator id and version)."""
        known = self._topics.get(cls)
        if known is None:
            known = self._topics[cls] = (get_topic(cls), getattr(cls, "class_version", 1))
        topic, class_version = known
        state = dict(fields)
        if class_version > 1:
            state["class_version"] = class_version
        return StoredEvent(originator_id, version, topic, self._state(state))

    def _state(self, state: dict[str, Any]) -> bytes:
        if self.direct:
            plain = {
                key: {"_type_": "datetime_iso", "_data_": value.isoformat()}
                if type(value) is datetime
                else value
                for key, value in state.items()
            }
            try:
                return self._encode(plain).encode("utf8")
            except TypeError:
                pass  # a value of another type: the transcoder knows it, or says why not
        mapper = self.mapper
        data = mapper.transcoder.encode(state)
        if mapper.compressor:
            data = mapper.compressor.compress(data)
        if mapper.cipher:
            data = mapper.cipher.encrypt(data)
        return data


def decode_datetime(value: Any) -> Any:
    """A transcoded timestamp back to a `datetime`; other values unchanged."""
    if isinstance(value, dict):
        if value.get("_type_") != "datetime_iso":
            raise ValueError(f"not a transcoded datetime: {value!r}")
        return datetime.fromisoformat(value["_data_"])
    return value


class WorkloadSnapshot(Snapshot):
    """A workload's state at a version. The idempotency window, the bulk of a long
    history's snapshot, is packed as one newline-joined string of ids (ids hold no
    control characters) and a list of event versions: far cheaper to encode and
    decode than a JSON object with 10,000 keys.

    Snapshots written before the lifecycle events packed attempt numbers instead
    (`message_window`); their streams held outcomes only, so attempt n was version n + 1.
    State fields added since take their registered values."""

    TOPIC = "deployledger:Workload.Snapshot"

    @classmethod
    def take(cls, aggregate: Any) -> Any:
        snapshot = super().take(aggregate)
        window: dict[str, int] = snapshot.state.pop("message_ids")  # a copy of vars()
        snapshot.state["message_versions"] = ["\n".join(window), list(window.values())]
        snapshot.state["fold_rules"] = FOLD_RULES
        return snapshot

    def mutate(self, aggregate: Any) -> Any:
        state = {**registered(), **self.state}
        state.pop("fold_rules", None)
        versions = state.pop("message_versions", None)
        attempts = state.pop("message_window", None)
        if attempts is not None:  # written before lifecycle events: attempt n is version n + 1
            versions = [attempts[0], [n + 1 for n in attempts[1]]]
        if versions is not None:
            ids, numbers = versions
            keys = ids.split("\n") if ids else []
            state["message_ids"] = dict(zip(keys, numbers, strict=True))
        return Snapshot.mutate(dataclasses.replace(self, state=state), aggregate)


register_topic(WorkloadSnapshot.TOPIC, WorkloadSnapshot)


def folded_under_current_rules(snapshot: Any) -> bool:
    """Whether a snapshot's state was folded under the current fold rules (`FOLD_RULES`);
    snapshots written before the rules were versioned were not."""
    return bool(snapshot.state.get("fold_rules") == FOLD_RULES)
