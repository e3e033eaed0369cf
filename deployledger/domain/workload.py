"""The `Workload` aggregate: one per (tenant, workload runtime id), one event per report.

Every event class has an explicit, stable `TOPIC`, so that renaming or moving
a class can never orphan stored events. Schema changes go through
`class_version` and `upcast_vN_vN+1` methods, as eventsourcing prescribes.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate
from eventsourcing.domain import Snapshot as LibrarySnapshot

from deployledger.domain.reports import WorkloadDeploymentStatus
from deployledger.domain.state import DeploymentState

# Idempotency: the latest IDEMPOTENCY_WINDOW message ids of each workload are
# remembered; a report carrying one of them is answered as a duplicate.
IDEMPOTENCY_WINDOW = 10_000

_NAMESPACE = UUID("5b0f2c3e-8d7a-4e8e-9c1a-6f0de910c0de")


@lru_cache(maxsize=65_536)
def workload_id(tenant_id: str, workload_rt_id: str) -> UUID:
    """The aggregate id: a uuid5 of the (tenant id, runtime id) pair.

    The pair is JSON-encoded so that no choice of separator can make two
    different pairs collide.
    """
    return uuid5(_NAMESPACE, json.dumps([tenant_id, workload_rt_id], ensure_ascii=False))


class Workload(Aggregate):
    """Everything known about one workload, derived from its events alone."""

    TOPIC = "deployledger:Workload"

    class Event(Aggregate.Event):
        TOPIC = "deployledger:Workload.Event"

    class Registered(Aggregate.Created):
        """The first event of every workload: who it is."""

        TOPIC = "deployledger:Workload.Registered"
        tenant_id: str
        workload_rt_id: str

    class DeploymentAttempted(Event):
        """One helm `upgrade --install` attempt, as the operator reported it."""

        TOPIC = "deployledger:Workload.DeploymentAttempted"
        tenant_id: str
        workload_rt_id: str
        workload_name: str
        pool_name: str | None
        success: bool
        status_message: str | None
        message_id: str | None
        reported_at: datetime | None

        def apply(self, aggregate: Any) -> None:
            assert isinstance(aggregate, Workload)
            aggregate._apply_attempt(self)

    class Snapshot(LibrarySnapshot):
        """A workload's state at a version. The idempotency window, the bulk of a long
        history's snapshot, is packed as one newline-joined string of ids (ids hold no
        control characters) and a list of attempt numbers: far cheaper to encode and
        decode than a JSON object with 10,000 keys."""

        TOPIC = "deployledger:Workload.Snapshot"

        @classmethod
        def take(cls, aggregate: Any) -> Any:
            snapshot = super().take(aggregate)
            window: dict[str, int] = snapshot.state.pop("message_ids")
            snapshot.state["message_window"] = ["\n".join(window), list(window.values())]
            return snapshot

        def mutate(self, aggregate: Any) -> Any:
            workload: Any = super().mutate(aggregate)
            packed = workload.__dict__.pop("message_window", None)
            if packed is not None:
                ids, attempts = packed
                keys = ids.split("\n") if ids else []
                workload.message_ids = dict(zip(keys, attempts, strict=True))
            return workload

    def __init__(self, tenant_id: str, workload_rt_id: str) -> None:
        self.tenant_id = tenant_id
        self.workload_rt_id = workload_rt_id
        self.workload_name: str | None = None
        self.pool_name: str | None = None
        self.state = int(DeploymentState.UNDEPLOYED)
        self.status_message: str | None = None
        self.attempts = 0
        self.failures = 0
        self.consecutive_failures = 0
        self.last_attempt_at: datetime | None = None
        self.last_success_at: datetime | None = None
        self.last_failure_at: datetime | None = None
        self.message_ids: dict[str, int] = {}

    @classmethod
    def register(cls, tenant_id: str, workload_rt_id: str) -> Workload:
        """Start the history of a workload never seen before."""
        return cls._create(
            cls.Registered,
            id=workload_id(tenant_id, workload_rt_id),
            tenant_id=tenant_id,
            workload_rt_id=workload_rt_id,
        )

    def attempt_for(self, message_id: str | None) -> int | None:
        """The attempt that recorded `message_id`, if it is within the window."""
        if message_id is None:
            return None
        return self.message_ids.get(message_id)

    def record_attempt(self, report: WorkloadDeploymentStatus) -> DeploymentAttempted:
        """Append one attempt. The caller checks for duplicates first."""
        assert (report.tenant_id, report.workload_rt_id) == (self.tenant_id, self.workload_rt_id)
        self.trigger_event(
            self.DeploymentAttempted,
            tenant_id=report.tenant_id,
            workload_rt_id=report.workload_rt_id,
            workload_name=report.workload_name,
            pool_name=report.pool_name,
            success=report.success,
            status_message=report.status_message,
            message_id=report.message_id,
            reported_at=report.reported_at,
        )
        event = self.pending_events[-1]
        assert isinstance(event, Workload.DeploymentAttempted)
        return event

    def _apply_attempt(self, event: DeploymentAttempted) -> None:
        self.attempts += 1
        self.workload_name = event.workload_name
        self.pool_name = event.pool_name
        self.state = int(DeploymentState.after_attempt(event.success))
        self.status_message = event.status_message
        self.last_attempt_at = event.timestamp
        if event.success:
            self.consecutive_failures = 0
            self.last_success_at = event.timestamp
        else:
            self.failures += 1
            self.consecutive_failures += 1
            self.last_failure_at = event.timestamp
        if event.message_id is not None:
            self.message_ids[event.message_id] = self.attempts
            if len(self.message_ids) > IDEMPOTENCY_WINDOW:
                del self.message_ids[next(iter(self.message_ids))]


def attempt_number(originator_version: int) -> int:
    """Attempt n is the workload's event at version n + 1 (version 1 registers it)."""
    return originator_version - 1
