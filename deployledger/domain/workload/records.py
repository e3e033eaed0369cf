"""What the ledger answers: receipts, current states and history items.

Each has `to_json()`, the contract's camelCase JSON object, with timestamps
in ISO-8601 with a zone and `state` as the enum's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from deployledger.domain.workload.state import DeploymentState


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True, slots=True)
class Receipt:
    """The answer to `record()`: where the message landed, or that it was a duplicate.

    `kind` is `request`, `progress`, `outcome` or `undeploy`; `attempt` is the outcome's
    attempt number (None for the other kinds); `state` is the state that message leaves;
    `message_truncated` says that its status or progress message was stored with its middle
    cut out (over the store's `max_message_bytes`)."""

    tenant_id: str
    workload_rt_id: str
    attempt: int | None
    position: int
    recorded_at: datetime
    state: DeploymentState
    duplicate: bool
    kind: str = "outcome"
    message_truncated: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "tenantId": self.tenant_id,
            "workloadRtId": self.workload_rt_id,
            "attempt": self.attempt,
            "position": self.position,
            "recordedAt": _iso(self.recorded_at),
            "state": self.state.label,
            "duplicate": self.duplicate,
            "messageTruncated": self.message_truncated,
        }


@dataclass(frozen=True, slots=True)
class WorkloadState:
    """The current state of one workload, derived from all its events.

    `requested_at` and the pending chart are set while a deploy request is open (no
    outcome and no undeploy yet); `last_duration` is the seconds from request to outcome
    of the latest outcome that closed a request."""

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
    pool_rt_id: str | None = None
    workload_type: str | None = None
    deployed_chart_name: str | None = None
    deployed_chart_version: str | None = None
    pending_chart_name: str | None = None
    pending_chart_version: str | None = None
    requested_at: datetime | None = None
    last_duration: float | None = None
    undeployed_at: datetime | None = None

    def pending_age(self, now: datetime | None = None) -> timedelta | None:
        """How long the open deploy request has waited for its outcome (None if none)."""
        if self.requested_at is None:
            return None
        return (now or datetime.now(UTC)) - self.requested_at

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
            "poolRtId": self.pool_rt_id,
            "workloadType": self.workload_type,
            "deployedChartName": self.deployed_chart_name,
            "deployedChartVersion": self.deployed_chart_version,
            "pendingChartName": self.pending_chart_name,
            "pendingChartVersion": self.pending_chart_version,
            "requestedAt": _iso(self.requested_at),
            "lastDurationSeconds": self.last_duration,
            "undeployedAt": _iso(self.undeployed_at),
        }


@dataclass(frozen=True, slots=True)
class Attempt:
    """One helm attempt (an outcome) of one workload, as recorded.

    When it closed a deploy request: that request's chart, its position, and the seconds
    from request to outcome. `helm_operation` and `exit_code` are read from a message in
    the upstream operator's format (`helm {operation} failed with exit code {N}. ...`).
    A failure has its `category` and `fingerprint` (`deployledger.domain.insights.failures`);
    a success has neither."""

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
    chart_name: str | None = None
    chart_version: str | None = None
    request_position: int | None = None
    duration: float | None = None
    helm_operation: str | None = None
    exit_code: int | None = None
    category: str | None = None
    fingerprint: str | None = None

    kind = "outcome"

    @property
    def occurred_at(self) -> datetime:
        """When the attempt happened: the sender's `reportedAt` when given, else the time it
        was recorded (the sender's clock may be skewed; both are kept)."""
        return self.reported_at or self.recorded_at

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "outcome",
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
            "chartName": self.chart_name,
            "chartVersion": self.chart_version,
            "requestPosition": self.request_position,
            "durationSeconds": self.duration,
            "helmOperation": self.helm_operation,
            "exitCode": self.exit_code,
            "category": self.category,
            "fingerprint": self.fingerprint,
        }

    def to_audit_json(self) -> dict[str, Any]:
        """The history item plus the workload it belongs to, for fleet-wide listings."""
        return {"tenantId": self.tenant_id, "workloadRtId": self.workload_rt_id, **self.to_json()}


@dataclass(frozen=True, slots=True)
class LifecycleEntry:
    """A deploy request, progress message or undeploy in a workload's timeline.

    A request keeps no secret: only the secret override paths, the non-secret overrides,
    and `values_digest`; `values_changed` says whether it differs from the previous
    request's (None for the first request)."""

    kind: str  # request, progress or undeploy
    tenant_id: str
    workload_rt_id: str
    position: int
    recorded_at: datetime
    reported_at: datetime | None
    workload_name: str
    message_id: str | None
    pool_rt_id: str | None = None
    workload_type: str | None = None
    chart_name: str | None = None
    chart_version: str | None = None
    repository_url: str | None = None
    is_reconciliation: bool | None = None
    ingress_enabled: bool | None = None
    hostname: str | None = None
    receives_cluster_secrets: bool | None = None
    secret_paths: tuple[str, ...] = ()
    overrides: tuple[tuple[str, str | None], ...] = ()
    values_digest: str | None = None
    values_changed: bool | None = None
    message: str | None = None
    message_truncated: bool = False

    @property
    def occurred_at(self) -> datetime:
        return self.reported_at or self.recorded_at

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "position": self.position,
            "recordedAt": _iso(self.recorded_at),
            "reportedAt": _iso(self.reported_at),
            "workloadName": self.workload_name,
            "messageId": self.message_id,
        }
        if self.kind == "request":
            out.update(
                poolRtId=self.pool_rt_id,
                workloadType=self.workload_type,
                chartName=self.chart_name,
                chartVersion=self.chart_version,
                repositoryUrl=self.repository_url,
                isReconciliation=self.is_reconciliation,
                ingressEnabled=self.ingress_enabled,
                hostname=self.hostname,
                receivesClusterSecrets=self.receives_cluster_secrets,
                secretPaths=list(self.secret_paths),
                overrides=[{"path": p, "value": v} for p, v in self.overrides],
                valuesDigest=self.values_digest,
                valuesChanged=self.values_changed,
            )
        elif self.kind == "progress":
            out.update(message=self.message, messageTruncated=self.message_truncated)
        else:
            out.update(poolRtId=self.pool_rt_id, workloadType=self.workload_type)
        return out

    def to_audit_json(self) -> dict[str, Any]:
        return {"tenantId": self.tenant_id, "workloadRtId": self.workload_rt_id, **self.to_json()}


TimelineEntry = Attempt | LifecycleEntry


@dataclass(frozen=True, slots=True)
class Overdue:
    """A deploy whose outcome never came: the workload's latest request has had no outcome
    and no undeploy for `age` (as of the query)."""

    tenant_id: str
    workload_rt_id: str
    workload_name: str | None
    pool_name: str | None
    pool_rt_id: str | None
    chart_name: str | None
    chart_version: str | None
    requested_at: datetime
    age: timedelta
    progress_message: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "tenantId": self.tenant_id,
            "workloadRtId": self.workload_rt_id,
            "workloadName": self.workload_name,
            "poolName": self.pool_name,
            "poolRtId": self.pool_rt_id,
            "chartName": self.chart_name,
            "chartVersion": self.chart_version,
            "requestedAt": _iso(self.requested_at),
            "ageSeconds": round(self.age.total_seconds(), 3),
            "progressMessage": self.progress_message,
        }


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
