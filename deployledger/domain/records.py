"""What the ledger answers: receipts, current states and history items.

Each has `to_json()`, the contract's camelCase JSON object, with timestamps
in ISO-8601 with a zone and `state` as the enum's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from deployledger.domain.state import DeploymentState


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True, slots=True)
class Receipt:
    """The answer to `record()`: where the report landed, or that it was a duplicate."""

    tenant_id: str
    workload_rt_id: str
    attempt: int
    position: int
    recorded_at: datetime
    state: DeploymentState
    duplicate: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "tenantId": self.tenant_id,
            "workloadRtId": self.workload_rt_id,
            "attempt": self.attempt,
            "position": self.position,
            "recordedAt": _iso(self.recorded_at),
            "state": self.state.label,
            "duplicate": self.duplicate,
        }


@dataclass(frozen=True, slots=True)
class WorkloadState:
    """The current state of one workload, derived from all its attempts."""

    tenant_id: str
    workload_rt_id: str
    workload_name: str | None
    pool_name: str | None
    state: DeploymentState
    status_message: str | None
    attempts: int
    failures: int
    consecutive_failures: int
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_failure_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "tenantId": self.tenant_id,
            "workloadRtId": self.workload_rt_id,
            "workloadName": self.workload_name,
            "poolName": self.pool_name,
            "state": self.state.label,
            "statusMessage": self.status_message,
            "attempts": self.attempts,
            "failures": self.failures,
            "consecutiveFailures": self.consecutive_failures,
            "lastAttemptAt": _iso(self.last_attempt_at),
            "lastSuccessAt": _iso(self.last_success_at),
            "lastFailureAt": _iso(self.last_failure_at),
        }


@dataclass(frozen=True, slots=True)
class Attempt:
    """One helm attempt of one workload, as recorded."""

    tenant_id: str
    workload_rt_id: str
    attempt: int
    recorded_at: datetime
    reported_at: datetime | None
    success: bool
    state: DeploymentState
    status_message: str | None
    workload_name: str
    pool_name: str | None
    message_id: str | None
    position: int
    message_truncated: bool = False

    @property
    def occurred_at(self) -> datetime:
        """When the attempt happened: the sender's `reportedAt` when given, else the time it
        was recorded (the sender's clock may be skewed; both are kept)."""
        return self.reported_at or self.recorded_at

    def to_json(self) -> dict[str, Any]:
        return {
            "attempt": self.attempt,
            "recordedAt": _iso(self.recorded_at),
            "reportedAt": _iso(self.reported_at),
            "success": self.success,
            "state": self.state.label,
            "statusMessage": self.status_message,
            "workloadName": self.workload_name,
            "poolName": self.pool_name,
            "messageId": self.message_id,
            "position": self.position,
            "messageTruncated": self.message_truncated,
        }

    def to_audit_json(self) -> dict[str, Any]:
        """The history item plus the workload it belongs to, for fleet-wide listings."""
        return {"tenantId": self.tenant_id, "workloadRtId": self.workload_rt_id, **self.to_json()}


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters of an audit query; every one is optional and they combine with AND."""

    tenant_id: str | None = None
    pool_name: str | None = None
    workload_name: str | None = None
    workload_rt_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    success: bool | None = None
    grep: str | None = None


@dataclass(frozen=True, slots=True)
class AuditPage:
    """One page of audit results, newest first, and the cursor of the next page (or None)."""

    items: list[Attempt]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class RebuildResult:
    """What a rebuild did: events replayed, the position it switched at, and the
    workloads and attempt rows of the new read model."""

    events: int
    position: int
    workloads: int
    attempts: int
