"""Read-model rows (or the projection's own row dicts) back into the answers. Pure.

Used by the read-model queries and by `Ledger.timeline()`, so both give the same objects.
Timestamps come back in UTC; SQLite hands them back without a zone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from deployledger.domain.workload.records import Attempt, LifecycleEntry, Overdue, WorkloadState
from deployledger.domain.workload.state import DeploymentState
from deployledger.projections.project import decode_message


def aware(value: datetime | None) -> datetime | None:
    """A stored timestamp with its zone (UTC) back."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def state_from_row(row: Mapping[Any, Any]) -> WorkloadState:
    return WorkloadState(
        tenant_id=row["tenant_id"],
        workload_rt_id=row["workload_rt_id"],
        workload_name=row["workload_name"],
        pool_name=row["pool_name"],
        state=DeploymentState(row["state"]),
        status_message=decode_message(row["status_message"], row["status_message_exact"]),
        attempts=row["attempts"],
        failures=row["failures"],
        consecutive_failures=row["consecutive_failures"],
        last_attempt_at=aware(row["last_attempt_at"]),
        last_success_at=aware(row["last_success_at"]),
        last_failure_at=aware(row["last_failure_at"]),
        pool_rt_id=row["pool_rt_id"],
        workload_type=row["workload_type"],
        deployed_chart_name=row["deployed_chart_name"],
        deployed_chart_version=row["deployed_chart_version"],
        pending_chart_name=row["pending_chart_name"],
        pending_chart_version=row["pending_chart_version"],
        requested_at=aware(row["requested_at"]),
        last_duration=row["last_duration"],
        undeployed_at=aware(row["undeployed_at"]),
    )


def attempt_from_row(row: Mapping[Any, Any]) -> Attempt:
    recorded_at = aware(row["recorded_at"])
    assert recorded_at is not None
    return Attempt(
        tenant_id=row["tenant_id"],
        workload_rt_id=row["workload_rt_id"],
        attempt=row["attempt"],
        recorded_at=recorded_at,
        reported_at=aware(row["reported_at"]),
        success=bool(row["success"]),
        state=DeploymentState(row["state"]),
        status_message=decode_message(row["status_message"], row["status_message_exact"]),
        workload_name=row["workload_name"],
        pool_name=row["pool_name"],
        message_id=row["message_id"],
        position=row["position"],
        message_truncated=bool(row["message_truncated"]),
        chart_name=row["chart_name"],
        chart_version=row["chart_version"],
        request_position=row["request_position"],
        duration=row["duration"],
        helm_operation=row["helm_operation"],
        exit_code=row["exit_code"],
        category=row["category"],
        fingerprint=row["fingerprint"],
    )


def entry_from_row(row: Mapping[Any, Any]) -> LifecycleEntry:
    recorded_at = aware(row["recorded_at"])
    assert recorded_at is not None
    overrides = json.loads(row["overrides"]) if row["overrides"] else []
    return LifecycleEntry(
        kind=row["kind"],
        tenant_id=row["tenant_id"],
        workload_rt_id=row["workload_rt_id"],
        position=row["position"],
        recorded_at=recorded_at,
        reported_at=aware(row["reported_at"]),
        workload_name=row["workload_name"],
        message_id=row["message_id"],
        pool_rt_id=row["pool_rt_id"],
        workload_type=row["workload_type"],
        chart_name=row["chart_name"],
        chart_version=row["chart_version"],
        repository_url=row["repository_url"],
        is_reconciliation=_bool(row["is_reconciliation"]),
        ingress_enabled=_bool(row["ingress_enabled"]),
        hostname=row["hostname"],
        receives_cluster_secrets=_bool(row["receives_cluster_secrets"]),
        secret_paths=tuple(json.loads(row["secret_paths"]) if row["secret_paths"] else ()),
        overrides=tuple((o["path"], o["value"]) for o in overrides),
        values_digest=row["values_digest"],
        values_changed=_bool(row["values_changed"]),
        message=decode_message(row["message"], row["message_exact"]),
        message_truncated=bool(row["message_truncated"]),
    )


def overdue_from_row(row: Mapping[Any, Any], now: datetime) -> Overdue:
    requested_at = aware(row["requested_at"])
    assert requested_at is not None
    age: timedelta = now - requested_at
    return Overdue(
        tenant_id=row["tenant_id"],
        workload_rt_id=row["workload_rt_id"],
        workload_name=row["workload_name"],
        pool_name=row["pool_name"],
        pool_rt_id=row["pool_rt_id"],
        chart_name=row["pending_chart_name"],
        chart_version=row["pending_chart_version"],
        requested_at=requested_at,
        age=age,
        progress_message=decode_message(row["status_message"], row["status_message_exact"]),
    )
