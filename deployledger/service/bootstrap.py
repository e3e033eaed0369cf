"""Wiring, in one place: the concrete event store and read model from store URLs.

`Ledger.open` calls `wire()` and builds the facade from what it returns; this module does
not import the facade, so the service layer has no import cycle.
"""

from __future__ import annotations

from typing import NamedTuple

from deployledger.domain.messages.reports import DEFAULT_MAX_MESSAGE_BYTES
from deployledger.domain.storeurl import StoreURL, parse_store_url
from deployledger.errors import InvalidStoreURL
from deployledger.service.ports import EventStorePort, ReadModelPort, StandbyPort
from deployledger.service.sinks import Sinks
from deployledger.service.tokens import Tokens
from deployledger.store.database import make_engine, migrate
from deployledger.store.events.eventstore import EventStore
from deployledger.store.readmodel.model import ReadModel
from deployledger.store.sinks import SinkStore
from deployledger.store.standby import Standby
from deployledger.store.tokens import TokenStore


class Wiring(NamedTuple):
    """The parts of a `Ledger`: its two ports, its token store, its message size limit, the
    standby queries go to (`read_url`), if any, and its notification sinks."""

    events: EventStorePort
    read_model: ReadModelPort
    tokens: Tokens
    max_message_bytes: int
    standby: StandbyPort | None = None
    sinks: Sinks | None = None


def wire(
    url: str,
    *,
    create: bool | None,
    lock_timeout: float | None,
    connect_timeout: float | None,
    max_message_bytes: int | None,
    snapshot_interval: int,
    cache_size: int,
    read_model_url: str | None,
    read_url: str | None = None,
) -> Wiring:
    """The parts of a `Ledger` on the store at `url`; see `Ledger.open` for the arguments."""
    timeouts = {"lock_timeout": lock_timeout, "connect_timeout": connect_timeout}
    events_url = parse_store_url(url).with_settings(**timeouts)
    if max_message_bytes is None:
        max_message_bytes = events_url.max_message_bytes or DEFAULT_MAX_MESSAGE_BYTES
    for name, value in (
        ("max_message_bytes", max_message_bytes),
        ("snapshot_interval", snapshot_interval),
    ):
        if value <= 0:
            raise InvalidStoreURL(f"{name} must be positive, got {value}")
    if cache_size < 0:
        raise InvalidStoreURL(f"cache_size must not be negative, got {cache_size}")
    if create is None:
        create = not events_url.is_postgres
    read_model_at = events_url
    if read_model_url is not None:
        read_model_at = parse_store_url(read_model_url).with_settings(**timeouts)
        if create:
            engine = make_engine(read_model_at, single_connection=True)
            try:
                migrate(read_model_at, engine)
            finally:
                engine.dispose()
    standby = None
    if read_url is not None:
        standby = Standby(
            _standby_url(events_url, read_url, read_model_url).with_settings(**timeouts)
        )
    events = EventStore(events_url, create=create, snapshot_interval=snapshot_interval)
    return Wiring(
        events,
        ReadModel(events, read_model_at),
        Tokens(TokenStore(events_url)),
        max_message_bytes,
        standby,
        Sinks(SinkStore(read_model_at), events.max_position),
    )


def _standby_url(events_url: StoreURL, read_url: str, read_model_url: str | None) -> StoreURL:
    """The read store's URL, checked: a PostgreSQL standby of a PostgreSQL store, which
    holds the read model beside the events."""
    at = parse_store_url(read_url)
    if not (events_url.is_postgres and at.is_postgres):
        raise InvalidStoreURL(
            "a read store is a streaming standby of the store's PostgreSQL primary: both "
            "must be postgresql:// URLs (SQLite has no standby; read the store itself)"
        )
    if read_model_url is not None:
        raise InvalidStoreURL(
            "a read store cannot be combined with a separate read model: the standby holds "
            "the read model replicated with the events"
        )
    return at
