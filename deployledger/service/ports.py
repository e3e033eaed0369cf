"""The two ports the facade depends on: an event store and a read model.

`deployledger.store` implements them on SQLite and PostgreSQL; a test may pass
in-memory fakes. Neither port leaks a driver or eventsourcing type.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Protocol
from uuid import UUID

from deployledger.domain.records import AuditPage, AuditQuery, RebuildResult, WorkloadState
from deployledger.domain.state import DeploymentState
from deployledger.domain.storeurl import StoreURL
from deployledger.domain.workload import Workload

# A stored event's place: (workload id, version) -> global position.
Positions = dict[tuple[UUID, int], int]
Progress = Callable[[int, int], None]


class EventStorePort(Protocol):
    """Workload aggregates in and out of the event store."""

    url: StoreURL

    def load(self, workload: UUID) -> Workload | None:
        """The workload from every stored event (or a snapshot and the rest); None if new."""

    def existing(self, workloads: Sequence[UUID]) -> set[UUID]:
        """Which of these workloads have any events."""

    def fast_forward(self, workload: Workload) -> None:
        """Apply, in place, the events stored after `workload.version`."""

    def save(self, events: Sequence[object], workloads: Sequence[Workload]) -> Positions:
        """Store `events` in one transaction, in their order (so global positions follow it);
        `WriteConflict` if a version is taken. `workloads` are those the events came from."""

    def events_with_positions(
        self, workload: UUID, *, min_version: int, max_version: int | None, limit: int | None
    ) -> list[tuple[Workload.DeploymentAttempted, int]]:
        """The workload's attempt events, newest first, each with its global position."""

    def max_position(self) -> int:
        """The highest global position stored (0 when empty)."""

    def close(self) -> None:
        """Finish background work and release every connection."""


class ReadModelPort(Protocol):
    """The projected tables: queries, and keeping them up to date."""

    def fleet(
        self, tenant_id: str | None, pool_name: str | None, state: DeploymentState | None
    ) -> list[WorkloadState]:
        """Every workload's current state, filtered, by tenant then runtime id."""

    def audit(self, query: AuditQuery, *, limit: int, cursor: str | None) -> AuditPage:
        """Attempts matching `query`, newest first, one page."""

    def position(self) -> int:
        """The last event position applied."""

    def catch_up(self) -> int:
        """Apply every event recorded so far; return how many."""

    def wait_for(self, position: int, timeout: float) -> None:
        """Block until `position` is applied, or raise `ProjectionBehind`."""

    def follow(
        self,
        stop: threading.Event | None,
        *,
        poll_interval: float,
        on_leader: Callable[[], None] | None = None,
        on_standby: Callable[[], None] | None = None,
    ) -> None:
        """Keep the tables live until `stop` is set; say when this follower stands by
        (another is active) and when it leads."""

    def rebuild(self, progress: Progress | None) -> RebuildResult:
        """Rebuild beside the live tables, verify, switch."""

    def close(self) -> None:
        """Release every connection."""
