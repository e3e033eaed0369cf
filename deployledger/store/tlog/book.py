"""The tamper-evident log as the service sees it (`service.ports.LogPort`)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime

from sqlalchemy import Engine

from deployledger.domain.tlog.report import LogStatus, Recomputed, StoredCheckpoint, Tampering
from deployledger.store.events.eventstore import EventStore
from deployledger.store.tlog import access as logstore
from deployledger.store.tlog import verify as logverify
from deployledger.store.tlog.tree import LogState


class LogBook:
    """The log's tables in the read model's database, over the event store's events."""

    def __init__(self, events: EventStore, engine: Engine) -> None:
        self._events = events
        self._engine = engine

    def _status(self, state: LogState) -> LogStatus:
        rows, top, last = logstore.leaf_counts(self._events, self._engine)
        return LogStatus(state.stored, state.size, state.position, state.root(), rows, top, last)

    def sync(self) -> LogStatus:
        return self._status(logstore.sync(self._events, self._engine))

    def status(self) -> LogStatus:
        return self._status(logstore.state(self._engine, self._events))

    def write_checkpoint(
        self, note_for: Callable[[int, bytes], tuple[str, datetime, str]]
    ) -> StoredCheckpoint:
        return logstore.write_checkpoint(self._events, self._engine, note_for)[0]

    def checkpoints(self) -> list[StoredCheckpoint]:
        return logstore.checkpoints(self._events, self._engine)

    def max_event_position(self) -> int:
        return self._events.max_position()

    def recompute(self, upto: int, sizes: Collection[int]) -> Recomputed:
        return logverify.scan(self._events, upto, sizes)

    def locate(self, upto: int, *, leaves_damaged: bool) -> list[Tampering]:
        return logverify.locate(self._events, self._engine, upto, leaves_damaged=leaves_damaged)

    def attempt_positions(
        self,
        tenant_id: str,
        *,
        workload_rt_id: str | None = None,
        attempt: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[int]:
        return logstore.attempt_positions(
            self._events,
            self._engine,
            tenant_id,
            workload_rt_id=workload_rt_id,
            attempt=attempt,
            since=since,
            until=until,
        )

    def leaf_indexes(self, positions: list[int]) -> dict[int, int]:
        return logstore.leaf_index_of(self._events, self._engine, positions)

    def leaf_hashes(self, size: int) -> list[bytes]:
        return logstore.leaf_hashes(self._events, self._engine, size)

    def leaves_at(self, positions: list[int]) -> dict[int, bytes]:
        return logstore.leaves_at(self._events, positions)
