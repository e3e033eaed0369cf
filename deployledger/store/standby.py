"""A streaming standby of the store, read only: its events and its replicated read model.

PostgreSQL replicates the whole database, so a standby holds the events and the read model
the primary's follower projected (with the tracking position, in the same transactions).
Nothing here writes: the read model never catches up by itself (the primary's follower
does, and replication brings the rows), and no snapshot is written. Both are opened on
first use, so a command that only writes never connects to the standby.
"""

from __future__ import annotations

import threading

from sqlalchemy import text

from deployledger.domain.storeurl import StoreURL
from deployledger.store.errors import translated
from deployledger.store.events.eventstore import EventStore
from deployledger.store.readmodel.model import ReadModel

# Seconds since the last transaction the standby replayed was committed on the primary;
# 0 on a server that is not in recovery (a primary, or a promoted standby).
REPLAY_DELAY = text(
    "SELECT CASE WHEN pg_is_in_recovery() THEN "
    "greatest(0, extract(epoch FROM now() - pg_last_xact_replay_timestamp())) END"
)


class StandbyReadModel(ReadModel):
    """The replicated read model: queries as they stand, never a catch-up."""

    def catch_up(self) -> int:
        return 0

    def replay_delay(self) -> float:
        with translated(self.url), self.engine.connect() as conn:
            value = conn.execute(REPLAY_DELAY).scalar()
        return 0.0 if value is None else float(value)


class Standby:
    """The events and read model of a standby at `url`, opened on first use."""

    def __init__(self, url: StoreURL) -> None:
        self.url = url
        self._lock = threading.Lock()
        self._events: EventStore | None = None
        self._read_model: StandbyReadModel | None = None

    @property
    def events(self) -> EventStore:
        with self._lock:
            if self._events is None:
                # No snapshot is ever written from here: snapshots are made on save only.
                self._events = EventStore(self.url, create=False)
            return self._events

    @property
    def read_model(self) -> StandbyReadModel:
        events = self.events
        with self._lock:
            if self._read_model is None:
                self._read_model = StandbyReadModel(events, self.url)
            return self._read_model

    def replay_delay(self) -> float:
        """Seconds since the primary committed the last transaction this standby replayed
        (0 when it is not in recovery)."""
        return self.read_model.replay_delay()

    def close(self) -> None:
        with self._lock:
            if self._read_model is not None:
                self._read_model.close()
            if self._events is not None:
                self._events.close()
