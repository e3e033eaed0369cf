"""The two ports the facade depends on: an event store and a read model.

`deployledger.store` implements them on SQLite and PostgreSQL; a test may pass
in-memory fakes. Neither port leaks a driver or eventsourcing type.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID

from deployledger.domain.auditfilter import AuditFilter
from deployledger.domain.insights.failure_groups import FailureGroup, ReclassifyResult
from deployledger.domain.insights.stats import DeliveryStats
from deployledger.domain.storeurl import StoreServer, StoreURL
from deployledger.domain.tlog.report import LogStatus, Recomputed, StoredCheckpoint, Tampering
from deployledger.domain.workload.aggregate import Workload
from deployledger.domain.workload.records import (
    Attempt,
    AuditPage,
    Overdue,
    RebuildResult,
    WorkloadState,
)
from deployledger.domain.workload.state import DeploymentState
from deployledger.errors import StoreUnavailable
from deployledger.projections.project import EventRecord

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
        `WriteConflict` if a version is taken. `workloads` are those the events came from.
        An event is a library event object, or a `NewEvent` of `Workload.append()` (stored
        exactly as its event object would be: `NewEvent.to_event()`)."""

    def event_at(self, workload: UUID, version: int) -> tuple[Workload.Event, int]:
        """The workload's event at `version`, with its global position."""

    def attempts_upto(self, workload: UUID, version: int) -> int:
        """How many outcomes the workload has at versions <= `version`."""

    def records_of(self, workload: UUID) -> list[EventRecord]:
        """Every event of one workload, oldest first, as projections see them."""

    def max_position(self) -> int:
        """The highest global position stored (0 when empty)."""

    def server(self) -> StoreServer | None:
        """The server writes go to (PostgreSQL), or None (SQLite)."""

    def close(self) -> None:
        """Finish background work and release every connection."""


class ReadModelPort(Protocol):
    """The projected tables: queries, and keeping them up to date."""

    def fleet(
        self, tenant_id: str | None, pool_name: str | None, state: DeploymentState | None
    ) -> list[WorkloadState]:
        """Every workload's current state, filtered, by tenant then runtime id."""

    def fleet_at(
        self,
        at: datetime,
        tenant_ids: Sequence[str] | None,
        pool_name: str | None,
        state: DeploymentState | None,
    ) -> list[WorkloadState]:
        """Every workload's state as of `at` (of these tenants), filtered, by tenant then
        runtime id; workloads without an event by then are left out."""

    def state_at(self, tenant_id: str, workload_rt_id: str, at: datetime) -> WorkloadState | None:
        """One workload's state as of `at`; None if it had no event by then."""

    def overdue(
        self, older_than: timedelta, tenant_id: str | None, pool: str | None
    ) -> list[Overdue]:
        """Workloads whose open deploy request is older than `older_than`, oldest first."""

    def audit(self, query: AuditFilter, *, limit: int, cursor: str | None) -> AuditPage:
        """Attempts matching `query`, newest first, one page."""

    def failures(
        self,
        *,
        since: datetime | None,
        tenant_id: str | Sequence[str] | None,
        pool: str | None,
        category: str | None,
        limit: int | None,
    ) -> list[FailureGroup]:
        """Fingerprint groups of the failed outcomes matching the filters, largest first."""

    def reclassify(self, *, force: bool) -> ReclassifyResult:
        """Rewrite stored categories and fingerprints derived by older rules."""

    def audit_iter(self, query: AuditFilter) -> Iterator[Attempt]:
        """Every attempt matching `query`, newest first, in constant memory."""

    def audit_csv(self, query: AuditFilter) -> Iterator[bytes]:
        """The same as UTF-8 CSV in chunks, the header first (see `domain.export`)."""

    def stats(
        self,
        *,
        by: str,
        since: datetime,
        until: datetime,
        tenants: Sequence[str] | None,
        pool: str | None,
    ) -> list[DeliveryStats]:
        """The delivery metrics per group over `since <= occurred_at < until`."""

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
        on_batch: Progress | None = None,
        on_idle: Callable[[], None] | None = None,
        on_outage: Callable[[StoreUnavailable], None] | None = None,
    ) -> None:
        """Keep the tables live until `stop` is set; say when this follower stands by
        (another is active) and when it leads; call `on_batch(applied, position)` after
        each batch and `on_idle()` after each round of catching up. An outage calls
        `on_outage(error)`, then the follower reconnects and resumes."""

    def rebuild(self, progress: Progress | None) -> RebuildResult:
        """Rebuild beside the live tables, verify, switch."""

    @property
    def log(self) -> LogPort:
        """The tamper-evident log kept beside the read model."""

    def close(self) -> None:
        """Release every connection."""


class StandbyPort(Protocol):
    """A streaming standby of the store (`--read-store`): its events and its replicated read
    model, only ever read (the read model never catches up by itself there)."""

    @property
    def events(self) -> EventStorePort:
        """The standby's events."""

    @property
    def read_model(self) -> ReadModelPort:
        """The standby's read model, as replicated."""

    def replay_delay(self) -> float:
        """Seconds since the primary committed the last transaction the standby replayed."""

    def close(self) -> None:
        """Release every connection."""


class LogPort(Protocol):
    """The tamper-evident log's storage: its state, checkpoints, leaves, and the events
    recomputed into a tree."""

    def sync(self) -> LogStatus:
        """Bring the log up to the read model's position (unless its tables were emptied
        after a checkpoint); return its state."""

    def status(self) -> LogStatus:
        """The stored log as it is."""

    def write_checkpoint(
        self, note_for: Callable[[int, bytes], tuple[str, datetime, str]]
    ) -> StoredCheckpoint:
        """Sync, then store the note `note_for(size, root)` builds, in one transaction."""

    def checkpoints(self) -> list[StoredCheckpoint]:
        """Every stored checkpoint, oldest first."""

    def max_event_position(self) -> int:
        """The highest event position stored."""

    def recompute(self, upto: int, sizes: Collection[int]) -> Recomputed:
        """The tree over the events at positions <= `upto`, with the root at each size."""

    def locate(self, upto: int, *, leaves_damaged: bool) -> list[Tampering]:
        """Every difference between those events and the logged leaves."""

    def attempt_positions(
        self,
        tenant_id: str,
        *,
        workload_rt_id: str | None = None,
        attempt: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[int]:
        """Positions of a tenant's outcome events matching the filters, in order."""

    def leaf_indexes(self, positions: list[int]) -> dict[int, int]:
        """The leaf index of each of these positions the log holds."""

    def leaf_hashes(self, size: int) -> list[bytes]:
        """The stored hashes of the first `size` leaves."""

    def leaves_at(self, positions: list[int]) -> dict[int, bytes]:
        """The canonical leaf bytes of the events stored at these positions."""
