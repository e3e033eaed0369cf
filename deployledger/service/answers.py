"""The answers the facade gives, built from the aggregate and its events."""

from __future__ import annotations

from deployledger.domain.fold import FOLDED_FIELDS
from deployledger.domain.records import Attempt, Receipt, WorkloadState
from deployledger.domain.state import DeploymentState
from deployledger.domain.workload import Workload, attempt_number


def receipt(
    workload: Workload,
    attempt: int,
    event: Workload.DeploymentAttempted,
    position: int,
    *,
    duplicate: bool,
) -> Receipt:
    """Where a report landed: its new event, or (a duplicate) the original one."""
    return Receipt(
        tenant_id=workload.tenant_id,
        workload_rt_id=workload.workload_rt_id,
        attempt=attempt,
        position=position,
        recorded_at=event.timestamp,
        state=DeploymentState.after_attempt(event.success),
        duplicate=duplicate,
    )


def state_of(workload: Workload) -> WorkloadState:
    folded = {name: getattr(workload, name) for name in FOLDED_FIELDS}
    folded["state"] = DeploymentState(folded["state"])
    return WorkloadState(
        tenant_id=workload.tenant_id, workload_rt_id=workload.workload_rt_id, **folded
    )


def attempt_of(event: Workload.DeploymentAttempted, position: int) -> Attempt:
    return Attempt(
        tenant_id=event.tenant_id,
        workload_rt_id=event.workload_rt_id,
        attempt=attempt_number(event.originator_version),
        recorded_at=event.timestamp,
        reported_at=event.reported_at,
        success=event.success,
        state=DeploymentState.after_attempt(event.success),
        status_message=event.status_message,
        workload_name=event.workload_name,
        pool_name=event.pool_name,
        message_id=event.message_id,
        position=position,
        message_truncated=event.message_truncated,
    )
