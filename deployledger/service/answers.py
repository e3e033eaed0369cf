"""The answers the facade gives, built from the aggregate, its events, and the
projection's rows of one workload's events (the timeline)."""

from __future__ import annotations

from deployledger.domain.workload.aggregate import NewEvent, Workload
from deployledger.domain.workload.fold import FOLDED_FIELDS
from deployledger.domain.workload.records import Receipt, TimelineEntry, WorkloadState
from deployledger.domain.workload.state import DeploymentState
from deployledger.projections.project import EventRecord, project
from deployledger.projections.rows import attempt_from_row, entry_from_row


def receipt(
    workload: Workload,
    attempt: int | None,
    event: Workload.Event | NewEvent,
    position: int,
    *,
    duplicate: bool,
) -> Receipt:
    """Where a message landed: its new event, or (a duplicate) the original one."""
    fields = event.fields if isinstance(event, NewEvent) else vars(event)
    return Receipt(
        tenant_id=workload.tenant_id,
        workload_rt_id=workload.workload_rt_id,
        attempt=attempt,
        position=position,
        recorded_at=event.timestamp,
        state=event.state_after(),
        duplicate=duplicate,
        kind=event.KIND,
        message_truncated=bool(fields.get("message_truncated", False)),
    )


def state_of(workload: Workload) -> WorkloadState:
    folded = {name: getattr(workload, name) for name in FOLDED_FIELDS}
    folded["state"] = DeploymentState(folded["state"])
    return WorkloadState(
        tenant_id=workload.tenant_id, workload_rt_id=workload.workload_rt_id, **folded
    )


def timeline_of(records: list[EventRecord]) -> list[TimelineEntry]:
    """One workload's events as its timeline, oldest first, by the read model's own
    projection (so the two always agree)."""
    changes = project(records, {})
    entries: list[TimelineEntry] = [attempt_from_row(row) for row in changes.attempts]
    entries += [entry_from_row(row) for row in changes.lifecycle]
    entries.sort(key=lambda entry: entry.position)
    return entries
