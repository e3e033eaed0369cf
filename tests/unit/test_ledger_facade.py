"""The facade's own logic over in-memory fakes of its two ports: no database.

Duplicates, the optimistic retry on a version conflict, the cache and the argument
errors live in `Ledger` itself; these tests pin them without any storage.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.utils import get_topic
from support import report

from deployledger import InvalidQuery, InvalidStoreURL, Ledger, StoreURL, WorkloadNotFound
from deployledger.domain.auditfilter import AuditFilter
from deployledger.domain.records import AuditPage, RebuildResult, WorkloadState
from deployledger.domain.state import DeploymentState
from deployledger.domain.workload import NewEvent, Workload
from deployledger.errors import WriteConflict
from deployledger.projections.project import EventRecord
from deployledger.service.ports import EventStorePort, Positions, ReadModelPort


class FakeEventStore:
    """Events in a list; a version already taken raises `WriteConflict`, as the real one."""

    def __init__(self) -> None:
        self.url = StoreURL.parse("sqlite:///:memory:")
        self.events: list[Any] = []
        self.conflicts_to_inject = 0
        self.loads = 0
        self.saves = 0

    def _of(self, workload: UUID) -> list[Any]:
        return [e for e in self.events if e.originator_id == workload]

    def load(self, workload: UUID) -> Workload | None:
        self.loads += 1
        found: Any = None
        for event in self._of(workload):
            found = event.mutate(found)
        return found

    def existing(self, workloads: Sequence[UUID]) -> set[UUID]:
        return {w for w in workloads if self._of(w)}

    def fast_forward(self, workload: Workload) -> None:
        for event in self._of(workload.id):
            if event.originator_version > workload.version:
                event.mutate(workload)

    def save(self, events: Sequence[object], workloads: Sequence[Workload]) -> Positions:
        self.saves += 1
        # The ledger hands over `NewEvent`s (stored from their fields): keep event objects.
        pending: list[Any] = [e.to_event() if isinstance(e, NewEvent) else e for e in events]
        taken = {(e.originator_id, e.originator_version) for e in self.events}
        if self.conflicts_to_inject or any(
            (e.originator_id, e.originator_version) in taken for e in pending
        ):
            self.conflicts_to_inject = max(0, self.conflicts_to_inject - 1)
            raise WriteConflict("version taken")
        start = len(self.events)
        self.events.extend(pending)
        return {
            (e.originator_id, e.originator_version): start + n + 1 for n, e in enumerate(pending)
        }

    def event_at(self, workload: UUID, version: int) -> tuple[Workload.Event, int]:
        for position, event in enumerate(self.events, start=1):
            if (event.originator_id, event.originator_version) == (workload, version):
                return event, position
        raise LookupError(version)

    def attempts_upto(self, workload: UUID, version: int) -> int:
        return sum(
            isinstance(e, Workload.DeploymentAttempted) and e.originator_version <= version
            for e in self._of(workload)
        )

    def records_of(self, workload: UUID) -> list[EventRecord]:
        return [
            EventRecord(
                self.events.index(e) + 1,
                workload.hex,
                e.originator_version,
                get_topic(type(e)),
                dict(vars(e)),
            )
            for e in self._of(workload)
        ]

    def max_position(self) -> int:
        return len(self.events)

    def close(self) -> None:
        pass


class FakeReadModel:
    def __init__(self) -> None:
        self.closed = False

    def fleet(
        self, tenant_id: str | None, pool_name: str | None, state: DeploymentState | None
    ) -> list[WorkloadState]:
        return []

    def fleet_at(
        self, at: Any, tenant_ids: Any, pool_name: str | None, state: DeploymentState | None
    ) -> list[WorkloadState]:
        return []

    def state_at(self, tenant_id: str, workload_rt_id: str, at: Any) -> WorkloadState | None:
        return None

    def audit(self, query: AuditFilter, *, limit: int, cursor: str | None) -> AuditPage:
        return AuditPage([], None)

    def position(self) -> int:
        return 0

    def catch_up(self) -> int:
        return 0

    def wait_for(self, position: int, timeout: float) -> None:
        pass

    def follow(
        self, stop: threading.Event | None, *, poll_interval: float, **callbacks: Any
    ) -> None:
        pass

    def rebuild(self, progress: Any) -> RebuildResult:
        return RebuildResult(0, 0, 0, 0)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def store() -> FakeEventStore:
    return FakeEventStore()


@pytest.fixture
def ledger(store: FakeEventStore) -> Ledger:
    return Ledger(store, FakeReadModel())


def test_the_fakes_satisfy_the_ports() -> None:
    events: EventStorePort = FakeEventStore()
    read_model: ReadModelPort = FakeReadModel()
    assert Ledger(events, read_model).url.backend == "sqlite"


class TestWrites:
    def test_attempts_are_numbered_per_workload_and_positions_follow(self, ledger: Ledger) -> None:
        receipts = ledger.record_many([report("a"), report("b"), report("a", success=False)])
        assert [(r.workload_rt_id, r.attempt) for r in receipts] == [("a", 1), ("b", 1), ("a", 2)]
        assert receipts[2].state is DeploymentState.ERROR

    def test_a_repeated_message_id_is_a_duplicate_of_the_original_attempt(
        self, ledger: Ledger, store: FakeEventStore
    ) -> None:
        first = ledger.record(report("a", messageId="m-1"))
        ledger.record(report("a"))
        again = ledger.record(report("a", messageId="m-1"))
        assert again.duplicate
        assert (again.attempt, again.position) == (first.attempt, first.position)
        assert store.max_position() == 3  # registration and two attempts: nothing more

    def test_a_version_conflict_reloads_and_replays_the_batch(
        self, ledger: Ledger, store: FakeEventStore
    ) -> None:
        ledger.record(report("a"))
        store.conflicts_to_inject = 2
        receipt = ledger.record(report("a", success=False))
        assert receipt.attempt == 2
        assert store.saves == 4  # one, then two conflicts and the winning try

    def test_a_conflict_that_never_ends_gives_up_with_write_conflict(
        self, store: FakeEventStore
    ) -> None:
        store.url = StoreURL.parse("sqlite:///:memory:?lock_timeout=0.05")
        ledger = Ledger(store, FakeReadModel())
        store.conflicts_to_inject = 10**9
        with pytest.raises(WriteConflict, match="gave up after"):
            ledger.record(report("a"))

    def test_a_cached_workload_is_not_loaded_again(
        self, ledger: Ledger, store: FakeEventStore
    ) -> None:
        for _ in range(5):
            ledger.record(report("a"))
        assert store.loads == 1  # only the first, cold write loads; the rest use the cache

    def test_another_writers_events_are_seen_by_current(
        self, ledger: Ledger, store: FakeEventStore
    ) -> None:
        ledger.record(report("a"))
        other = Ledger(store, FakeReadModel())
        other.record(report("a", success=False, message="boom"))
        state = ledger.get("t1", "a")
        assert (state.attempts, state.status_message) == (2, "boom")


class TestReads:
    def test_get_raises_workload_not_found_for_an_unknown_workload(self, ledger: Ledger) -> None:
        assert ledger.current("t1", "nope") is None
        with pytest.raises(WorkloadNotFound, match="t1/nope"):
            ledger.get("t1", "nope")

    def test_history_is_newest_first_and_honours_limit_and_before(self, ledger: Ledger) -> None:
        ledger.record_many([report("a", message=f"m{n}") for n in range(1, 5)])
        assert [a.attempt for a in ledger.history("t1", "a")] == [4, 3, 2, 1]
        assert [a.attempt for a in ledger.history("t1", "a", limit=2, before_attempt=4)] == [3, 2]

    def test_a_negative_history_limit_is_an_invalid_query(self, ledger: Ledger) -> None:
        with pytest.raises(InvalidQuery, match="limit"):
            ledger.history("t1", "a", limit=-1)

    def test_an_unknown_state_filter_is_an_invalid_query(self, ledger: Ledger) -> None:
        with pytest.raises(InvalidQuery, match="unknown state"):
            ledger.workloads(state="sideways")

    def test_close_closes_both_ports(self, store: FakeEventStore) -> None:
        read_model = FakeReadModel()
        Ledger(store, read_model).close()
        assert read_model.closed


@pytest.mark.parametrize(
    ("option", "value"),
    [("max_message_bytes", 0), ("snapshot_interval", -1), ("cache_size", -1)],
)
def test_open_rejects_a_bad_setting_with_invalid_store_url(option: str, value: int) -> None:
    with pytest.raises(InvalidStoreURL, match=option):
        Ledger.open("sqlite:///:memory:", **{option: value})
