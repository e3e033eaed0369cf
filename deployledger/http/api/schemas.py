"""Pydantic models of the API's JSON, for `/openapi.json` only: every schema with examples.

The routes answer with the library's own `to_json()` shapes (the CLI's `--json`); these
models describe them. Request bodies are validated by the library (`parse_message`), not
here: keys in any casing, every problem listed. Timestamps are ISO-8601 with a zone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

State = Literal["Undeployed", "Pending", "Deployed", "Error"]
WorkloadType = Literal["Adapter", "Application"]
RT_ID = "64f1c0ffee0000000000beef"
AT = "2026-11-30T10:50:12.123456+00:00"


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    """The config of a model: camelCase names on the wire, and its examples."""
    return ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        json_schema_extra={"examples": list(examples)},
    )


# -- request bodies ----------------------------------------------------------------------

OUTCOME_EXAMPLE = {
    "kind": "outcome",
    "tenantId": "acme-prod",
    "poolName": "pool-eu-west-1",
    "workloadName": "checkout-api",
    "workloadRtId": RT_ID,
    "success": False,
    "statusMessage": "Error: UPGRADE FAILED: context deadline exceeded",
    "messageId": "op-7f3a-0001",
    "reportedAt": "2026-11-30T10:50:12+00:00",
}
REQUEST_EXAMPLE = {
    "kind": "request",
    "tenantId": "acme-prod",
    "poolRtId": "6601de00000000000000e1a1",
    "workloadName": "checkout-api",
    "workloadRtId": RT_ID,
    "workloadType": "Application",
    "repositoryUrl": "https://charts.acme.example/stable",
    "chartName": "checkout-api",
    "chartVersion": "4.2.1",
    "isReconciliation": False,
    "valuesYaml": "replicaCount: 2\n",
    "values": [{"path": "image.tag", "value": "4.2.1", "isSecret": False}],
    "receivesClusterSecrets": False,
    "ingressEnabled": True,
    "hostname": "shop.acme.example",
    "messageId": "ctl-req-0042",
}
PROGRESS_EXAMPLE = {
    "kind": "progress",
    "tenantId": "acme-prod",
    "workloadName": "checkout-api",
    "workloadRtId": RT_ID,
    "message": "Pod checkout-api-7d9f container 'app' waiting: ImagePullBackOff",
}
UNDEPLOY_EXAMPLE = {
    "kind": "undeploy",
    "tenantId": "acme-prod",
    "poolRtId": "6601de00000000000000e1a1",
    "workloadName": "checkout-api",
    "workloadRtId": RT_ID,
    "workloadType": "Application",
}


class _Identity(BaseModel):
    model_config = _examples()
    tenant_id: str = Field(min_length=1, max_length=256, description="The tenant.")
    workload_name: str = Field(min_length=1, max_length=256)
    workload_rt_id: str = Field(min_length=1, max_length=256, description="The runtime id.")
    message_id: str | None = Field(
        None, max_length=256, description="Makes retries idempotent (per workload)."
    )
    reported_at: datetime | None = Field(None, description="The sender's clock, with a zone.")


class OutcomeReport(_Identity):
    """The operator's status report after `helm upgrade --install` (an outcome). A message
    without `kind` that has `success` is an outcome."""

    model_config = _examples(OUTCOME_EXAMPLE)
    kind: Literal["outcome"] | None = "outcome"
    success: bool = Field(description="true: Deployed; false: Error (statusMessage: stderr).")
    pool_name: str | None = None
    status_message: str | None = Field(
        None, description="Kept exactly; over 1 MiB of UTF-8 its middle is cut out."
    )


class ValueOverride(BaseModel):
    """One values override of a deploy request; a secret one is never stored."""

    model_config = _examples({"path": "db.password", "value": "s3cret", "isSecret": True})
    path: str
    value: str | None = None
    is_secret: bool = False


class DeployRequest(_Identity):
    """The controller asks for `helm upgrade --install`. Credentials, secret values and
    `valuesYaml` are never stored (only a digest over the values)."""

    model_config = _examples(REQUEST_EXAMPLE)
    kind: Literal["request"]
    chart_name: str = Field(min_length=1, max_length=256)
    chart_version: str | None = Field(None, description='Absent or "": the newest.')
    pool_rt_id: str | None = None
    workload_type: WorkloadType | Literal[0, 1] | None = None
    repository_url: str | None = None
    repository_username: str | None = None
    repository_password: str | None = None
    is_reconciliation: bool | None = None
    values_yaml: str | None = None
    values: list[ValueOverride] | None = None
    receives_cluster_secrets: bool | None = None
    ingress_enabled: bool | None = None
    hostname: str | None = None


class ProgressMessage(_Identity):
    """The operator's progress while helm runs."""

    model_config = _examples(PROGRESS_EXAMPLE)
    kind: Literal["progress"]
    message: str = Field(description="Kept exactly; over 1 MiB its middle is cut out.")


class UndeployMessage(_Identity):
    """The controller asks for `helm uninstall`."""

    model_config = _examples(UNDEPLOY_EXAMPLE)
    kind: Literal["undeploy"]
    pool_rt_id: str | None = None
    workload_type: WorkloadType | Literal[0, 1] | None = None


BODY_MODELS: tuple[type[BaseModel], ...] = (
    OutcomeReport,
    DeployRequest,
    ProgressMessage,
    UndeployMessage,
)

# -- answers -------------------------------------------------------------------------------


class Receipt(BaseModel):
    """Where a message landed (`duplicate`: it was stored before, by an earlier request)."""

    model_config = _examples(
        {
            "kind": "outcome",
            "tenantId": "acme-prod",
            "workloadRtId": RT_ID,
            "attempt": 7,
            "position": 59,
            "recordedAt": AT,
            "state": "Error",
            "duplicate": False,
            "messageTruncated": False,
        }
    )
    kind: Literal["request", "progress", "outcome", "undeploy"]
    tenant_id: str
    workload_rt_id: str
    attempt: int | None = Field(description="The outcome's attempt number; null otherwise.")
    position: int = Field(description="Global position in the event store.")
    recorded_at: datetime
    state: State = Field(description="The state the message leaves.")
    duplicate: bool
    message_truncated: bool = Field(
        description="The status or progress message was stored with its middle cut out "
        "(it was over the store's max_message_bytes)."
    )


class IgnoredEvent(BaseModel):
    """An intake event that stored nothing, and why (`index` 0-based in a batch; null
    for a single event)."""

    model_config = _examples(
        {"index": 1, "reason": "com.example.build: not a service deploy event"},
    )
    index: int | None
    reason: str


class IntakeAnswer(BaseModel):
    """What an intake request recorded (the receipts) and what it ignored."""

    model_config = _examples(
        {
            "receipts": [
                {
                    "kind": "outcome",
                    "tenantId": "acme-prod",
                    "workloadRtId": RT_ID,
                    "attempt": 7,
                    "position": 59,
                    "recordedAt": AT,
                    "state": "Deployed",
                    "duplicate": False,
                    "messageTruncated": False,
                }
            ],
            "ignored": [],
        },
        {
            "receipts": [],
            "ignored": [
                {"index": None, "reason": "Kustomization events are not deploys; only HelmRelease"}
            ],
        },
    )
    receipts: list[Receipt]
    ignored: list[IgnoredEvent]


STATE_EXAMPLE = {
    "tenantId": "acme-prod",
    "workloadRtId": RT_ID,
    "workloadName": "checkout-api",
    "poolName": "pool-eu-west-1",
    "state": "Pending",
    "statusMessage": None,
    "attempts": 2,
    "failures": 1,
    "consecutiveFailures": 0,
    "lastAttemptAt": "2026-11-30T11:48:35+00:00",
    "lastSuccessAt": "2026-11-30T11:48:35+00:00",
    "lastFailureAt": "2026-11-30T10:50:12+00:00",
    "poolRtId": "6601de00000000000000e1a1",
    "workloadType": "Application",
    "deployedChartName": "checkout-api",
    "deployedChartVersion": "4.2.0",
    "pendingChartName": "checkout-api",
    "pendingChartVersion": "4.2.1",
    "requestedAt": "2026-11-30T13:15:00+00:00",
    "lastDurationSeconds": 95.0,
    "undeployedAt": None,
}


class WorkloadState(BaseModel):
    """The current state of one workload (`deployledger show --json`)."""

    model_config = _examples(STATE_EXAMPLE)
    tenant_id: str
    workload_rt_id: str
    workload_name: str | None
    pool_name: str | None
    state: State
    status_message: str | None
    attempts: int
    failures: int
    consecutive_failures: int
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_failure_at: datetime | None
    pool_rt_id: str | None
    workload_type: str | None
    deployed_chart_name: str | None
    deployed_chart_version: str | None
    pending_chart_name: str | None
    pending_chart_version: str | None
    requested_at: datetime | None = Field(description="Set while a deploy request is open.")
    last_duration_seconds: float | None
    undeployed_at: datetime | None


ATTEMPT_EXAMPLE = {
    "kind": "outcome",
    "attempt": 1,
    "recordedAt": AT,
    "reportedAt": "2026-11-30T10:50:12+00:00",
    "success": False,
    "state": "Error",
    "statusMessage": (
        "helm upgrade --install checkout-api failed with exit code 1. "
        "stderr: Error: UPGRADE FAILED: context deadline exceeded"
    ),
    "workloadName": "checkout-api",
    "poolName": "pool-eu-west-1",
    "messageId": "op-7f3a-0001",
    "position": 12,
    "messageTruncated": False,
    "chartName": "checkout-api",
    "chartVersion": "4.2.0",
    "requestPosition": 9,
    "durationSeconds": 252.1,
    "helmOperation": "upgrade --install checkout-api",
    "exitCode": 1,
    "category": "wait-timeout",
    "fingerprint": "d2739c6e1525",
}


class _Attempt(BaseModel):
    model_config = _examples()
    kind: Literal["outcome"]
    attempt: int
    recorded_at: datetime
    reported_at: datetime | None
    success: bool
    state: State
    status_message: str | None
    workload_name: str
    pool_name: str | None
    message_id: str | None
    position: int
    message_truncated: bool
    chart_name: str | None
    chart_version: str | None
    request_position: int | None
    duration_seconds: float | None
    helm_operation: str | None
    exit_code: int | None
    category: str | None = Field(
        description="The failure's category (see `GET /v1/failures`); null for a success"
    )
    fingerprint: str | None = Field(
        description="12 hex digits naming the failure's problem (its helm error with the "
        "variable parts masked, the operator's wrapper left out); null for a success"
    )


class Attempt(_Attempt):
    """One helm attempt (an outcome) of a workload (`history --attempts --json`)."""

    model_config = _examples(ATTEMPT_EXAMPLE)


class AuditRow(_Attempt):
    """An attempt anywhere in the fleet (`audit --json`): the attempt and its workload."""

    model_config = _examples({"tenantId": "acme-prod", "workloadRtId": RT_ID, **ATTEMPT_EXAMPLE})
    tenant_id: str
    workload_rt_id: str


_ENTRY = {
    "position": 9,
    "recordedAt": AT,
    "reportedAt": None,
    "workloadName": "checkout-api",
    "messageId": None,
}


class _Entry(BaseModel):
    model_config = _examples()
    position: int
    recorded_at: datetime
    reported_at: datetime | None
    workload_name: str
    message_id: str | None


class Override(BaseModel):
    """A non-secret values override, as stored."""

    model_config = _examples({"path": "image.tag", "value": "4.2.1"})
    path: str
    value: str | None


class RequestEntry(_Entry):
    """A deploy request in a timeline (never a secret: the secret paths only)."""

    model_config = _examples(
        {
            "kind": "request",
            **_ENTRY,
            "poolRtId": "6601de00000000000000e1a1",
            "workloadType": "Application",
            "chartName": "checkout-api",
            "chartVersion": "4.2.0",
            "repositoryUrl": "https://charts.acme.example/stable",
            "isReconciliation": False,
            "ingressEnabled": True,
            "hostname": "shop.acme.example",
            "receivesClusterSecrets": False,
            "secretPaths": ["db.password"],
            "overrides": [{"path": "image.tag", "value": "4.2.0"}],
            "valuesDigest": "sha256:" + "0de897b74650299b6301be8b9ba427e4" * 2,
            "valuesChanged": None,
        }
    )
    kind: Literal["request"]
    pool_rt_id: str | None
    workload_type: str | None
    chart_name: str | None
    chart_version: str | None
    repository_url: str | None
    is_reconciliation: bool | None
    ingress_enabled: bool | None
    hostname: str | None
    receives_cluster_secrets: bool | None
    secret_paths: list[str]
    overrides: list[Override]
    values_digest: str | None
    values_changed: bool | None = Field(description="null for the workload's first request.")


class ProgressEntry(_Entry):
    """A progress message in a timeline."""

    model_config = _examples(
        {
            "kind": "progress",
            **_ENTRY,
            "message": "Pod checkout-api-7d9f container 'app' waiting: ContainerCreating",
            "messageTruncated": False,
        }
    )
    kind: Literal["progress"]
    message: str | None
    message_truncated: bool


class UndeployEntry(_Entry):
    """An undeploy in a timeline."""

    model_config = _examples(
        {
            "kind": "undeploy",
            **_ENTRY,
            "poolRtId": "6601de00000000000000e1a1",
            "workloadType": "Application",
        }
    )
    kind: Literal["undeploy"]
    pool_rt_id: str | None
    workload_type: str | None


TimelineEntry = Annotated[
    Attempt | RequestEntry | ProgressEntry | UndeployEntry, Field(discriminator="kind")
]


class Overdue(BaseModel):
    """A deploy whose outcome never came back (`overdue --json`)."""

    model_config = _examples(
        {
            "tenantId": "acme-prod",
            "workloadRtId": RT_ID,
            "workloadName": "checkout-api",
            "poolName": "pool-eu-west-1",
            "poolRtId": "6601de00000000000000e1a1",
            "chartName": "checkout-api",
            "chartVersion": "4.2.1",
            "requestedAt": "2026-11-30T13:15:00+00:00",
            "ageSeconds": 1260.5,
            "progressMessage": "Pod checkout-api-7d9f container 'app' waiting: ImagePullBackOff",
        }
    )
    tenant_id: str
    workload_rt_id: str
    workload_name: str | None
    pool_name: str | None
    pool_rt_id: str | None
    chart_name: str | None
    chart_version: str | None
    requested_at: datetime
    age_seconds: float
    progress_message: str | None


class ProblemItem(BaseModel):
    """One problem of a 422: which message (0-based index in an array body; null for a
    single message or a query parameter), which field, and why."""

    model_config = _examples(
        {"index": 1, "field": "success", "reason": "must be a JSON boolean, got a string"}
    )
    index: int | None
    field: str
    reason: str


class Problem(BaseModel):
    """An error, as RFC 9457 `application/problem+json`."""

    model_config = _examples(
        {
            "type": "urn:deployledger:problem:invalid-request",
            "title": "Invalid request",
            "status": 422,
            "detail": "2 problems in the request; nothing was stored",
            "problems": [
                {"index": 0, "field": "tenantId", "reason": "must not be empty or blank"},
                {"index": 1, "field": "workloadRtId", "reason": "is required"},
            ],
        },
        {
            "type": "urn:deployledger:problem:store-unavailable",
            "title": "Store unavailable",
            "status": 503,
            "detail": "store postgresql://app@db:5432/ledger is unavailable: connection refused",
        },
    )
    type: str = Field(description="A URI: urn:deployledger:problem:NAME, or about:blank.")
    title: str
    status: int
    detail: str
    problems: list[ProblemItem] | None = Field(None, description="422 only: every problem.")


class Health(BaseModel):
    """The process is alive."""

    model_config = _examples({"status": "ok"})
    status: Literal["ok"]


class Readiness(BaseModel):
    """Whether the service can answer: the store is reachable and the read model's lag is
    under the threshold. `reason` says why not."""

    model_config = _examples(
        {
            "status": "ready",
            "store": "reachable",
            "readModelLagEvents": 0,
            "readModelLagSeconds": 0.0,
            "maxLagEvents": 10000,
            "server": "db-b:5432",
            "serverRole": "primary",
            "replicaLagEvents": 0,
            "replicaLagSeconds": 0.0,
            "reason": None,
        },
        {
            "status": "not ready",
            "store": "unavailable",
            "readModelLagEvents": None,
            "readModelLagSeconds": None,
            "maxLagEvents": 10000,
            "server": None,
            "serverRole": None,
            "replicaLagEvents": None,
            "replicaLagSeconds": None,
            "reason": "store postgresql://app@127.0.0.1:1/ledger is unavailable: ...",
        },
    )
    status: Literal["ready", "not ready"]
    store: Literal["reachable", "unavailable"]
    read_model_lag_events: int | None
    read_model_lag_seconds: float | None
    max_lag_events: int
    server: str | None = Field(
        None, description="PostgreSQL: the host:port writes go to (from the URL's host list)"
    )
    server_role: Literal["primary", "standby"] | None = Field(
        None, description="PostgreSQL: `standby` means no primary is reachable (503)"
    )
    replica_lag_events: int | None = Field(
        None,
        description="With a read store: events on the primary its read model has not applied "
        "yet (null without one)",
    )
    replica_lag_seconds: float | None = Field(
        None,
        description="With a read store, while it is behind: seconds since the primary "
        "committed the last transaction it replayed (0 when caught up; null without one)",
    )
    reason: str | None
