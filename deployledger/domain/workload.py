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

from deployledger.domain.fold import fold_attempt, registered
from deployledger.domain.reports import WorkloadDeploymentStatus

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
        message_truncated: bool

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Release 0.1.0 events: no message was ever cut (an oversized one was refused)."""
            state["message_truncated"] = False

        @property
        def occurred_at(self) -> datetime:
            """When the attempt happened: the sender's `reportedAt`, else the recording time."""
            return self.reported_at or self.timestamp

        def same_report(self, report: WorkloadDeploymentStatus) -> bool:
            """Whether `report` says exactly what this attempt recorded (a true resend)."""
            return (
                self.workload_name == report.workload_name
                and self.pool_name == report.pool_name
                and self.success == report.success
                and self.status_message == report.status_message
                and self.reported_at == report.reported_at
            )

        def apply(self, aggregate: Any) -> None:
            assert isinstance(aggregate, Workload)
            aggregate._apply_attempt(self)

    # The folded state (see `deployledger.domain.fold`), set in `__init__`.
    workload_name: str | None
    pool_name: str | None
    state: int
    status_message: str | None
    attempts: int
    failures: int
    consecutive_failures: int
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_failure_at: datetime | None

    def __init__(self, tenant_id: str, workload_rt_id: str) -> None:
        self.tenant_id = tenant_id
        self.workload_rt_id = workload_rt_id
        vars(self).update(registered())
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
            message_truncated=report.message_truncated,
        )
        event = self.pending_events[-1]
        assert isinstance(event, Workload.DeploymentAttempted)
        return event

    def _apply_attempt(self, event: DeploymentAttempted) -> None:
        fold_attempt(
            vars(self),
            success=event.success,
            workload_name=event.workload_name,
            pool_name=event.pool_name,
            status_message=event.status_message,
            at=event.occurred_at,
        )
        if event.message_id is not None:
            self.message_ids[event.message_id] = self.attempts
            if len(self.message_ids) > IDEMPOTENCY_WINDOW:
                del self.message_ids[next(iter(self.message_ids))]


def attempt_number(originator_version: int) -> int:
    """Attempt n is the workload's event at version n + 1 (version 1 registers it)."""
    return originator_version - 1
