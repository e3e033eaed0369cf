"""Flux notification-controller events (provider `generic` / `generic-hmac`) as lifecycle
messages. Pure.

The event (fluxcd/pkg `apis/event`): `involvedObject` {kind, namespace, name, uid,
apiVersion}, `severity`, `timestamp`, `message`, `reason`, `metadata` (strings),
`reportingController`, `reportingInstance`. Only HelmRelease events are recorded; an event
about another kind, or a HelmRelease reason that is not mapped, is ignored (a 2xx: the
notification-controller retries errors). docs/intake.md has the table and its reasons.

Identity:
- the workload's rt-id is the first 24 hex digits of SHA-256 over
  `flux NUL <cluster> NUL <namespace> NUL <name>`; its name is `<namespace>/<name>`;
- the pool is the cluster name;
- the `messageId` is `flux-` and 32 hex digits of SHA-256 over (uid, reason, revision,
  timestamp), so the controller's retries of one event are duplicates;
- the chart version is the metadata's `revision`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deployledger.domain.intake.common import (
    RT_ID_HEX,
    IntakeResult,
    derived_id,
    text_at,
    timestamp_at,
)
from deployledger.errors import InvalidReport, Problem

HELM_RELEASE = "HelmRelease"
SEVERITIES = ("info", "error", "trace")
SUCCEEDED = ("InstallSucceeded", "UpgradeSucceeded")
FAILED = ("InstallFailed", "UpgradeFailed")
UNDEPLOYED = ("UninstallSucceeded",)
PROGRESS = ("Progressing",)
# Mapped to nothing, each for the reason given (the same text as docs/intake.md).
IGNORED = {
    "TestSucceeded": "helm test ran after the outcome was recorded; the release is unchanged",
    "TestFailed": "helm test ran after the outcome was recorded; the release is unchanged "
    "(a remediation Flux starts sends its own rollback or uninstall event)",
    "RollbackSucceeded": "a remediation after a failed upgrade, already recorded as the "
    "failed outcome; the requested version did not deploy",
    "RollbackFailed": "a remediation after a failed upgrade, already recorded as the "
    "failed outcome",
    "UninstallFailed": "the release is still installed: nothing changed",
}
CLUSTER_KEYS = ("cluster", "clusterName")
REVISION_KEY = "revision"


def workload_rt_id(cluster: str, namespace: str, name: str) -> str:
    """The stable rt-id of a HelmRelease (24 hex digits)."""
    return derived_id("", "flux", cluster, namespace, name, length=RT_ID_HEX)


def message_id(uid: str, reason: str, revision: str | None, timestamp: str) -> str:
    """The `messageId` of one Flux event: the same for each retry of it."""
    return derived_id("flux-", uid, reason, revision or "", timestamp)


def _metadata_value(metadata: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    """The first of `keys` in the metadata, also with an API-group prefix
    (`helm.toolkit.fluxcd.io/revision`), as the event recorder writes it."""
    for key in keys:
        value = metadata.get(key)
        if isinstance(value, str) and value.strip():
            return value
    for full, value in metadata.items():
        named = isinstance(full, str) and full.rpartition("/")[2] in keys
        if named and isinstance(value, str) and value.strip():
            return value
    return None


def flux_intake(
    event: Any,
    *,
    tenant: str | None,
    cluster: str | None = None,
    tenant_from_namespace: bool = False,
) -> IntakeResult:
    """The lifecycle message of one Flux event, or why it is ignored.

    `tenant` is the tenant the event is for (from the token or the request), or with
    `tenant_from_namespace` the HelmRelease's namespace; `cluster` the cluster name
    (configured; else the event metadata's `cluster`). Raises `InvalidReport` listing
    every problem of a malformed event."""
    if not isinstance(event, Mapping):
        raise InvalidReport([Problem("(body)", "must be a JSON object (one Flux event)")])
    problems: list[Problem] = []
    involved = event.get("involvedObject")
    if not isinstance(involved, Mapping):
        problems.append(Problem("involvedObject", "is required, a JSON object"))
        involved = {}
    kind = text_at(involved, "kind", "involvedObject.kind", problems)
    if kind is not None and kind != HELM_RELEASE:
        return IntakeResult(ignored=((0, f"{kind} events are not deploys; only HelmRelease"),))
    namespace = text_at(involved, "namespace", "involvedObject.namespace", problems)
    name = text_at(involved, "name", "involvedObject.name", problems)
    uid = text_at(involved, "uid", "involvedObject.uid", problems)
    reason = text_at(event, "reason", "reason", problems)
    timestamp = timestamp_at(event, "timestamp", "timestamp", problems)
    severity = event.get("severity")
    if severity not in SEVERITIES:
        problems.append(Problem("severity", f"must be one of {', '.join(SEVERITIES)}"))
    message = event.get("message")
    if not isinstance(message, str):
        problems.append(Problem("message", "is required, a string"))
    metadata = event.get("metadata")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        problems.append(Problem("metadata", "must be an object of strings"))
        metadata = {}
    for key in ("reportingController", "reportingInstance"):
        if event.get(key) is not None and not isinstance(event.get(key), str):
            problems.append(Problem(key, "must be a string"))
    if problems:
        raise InvalidReport(problems)
    # Checked above (each None added a problem); the asserts are for the type checker.
    assert namespace is not None
    assert name is not None
    assert uid is not None
    assert reason is not None
    assert timestamp is not None
    assert isinstance(message, str)
    revision = _metadata_value(metadata, (REVISION_KEY,))
    if reason in IGNORED:
        return IntakeResult(ignored=((0, f"{reason}: {IGNORED[reason]}"),))
    if reason not in SUCCEEDED + FAILED + UNDEPLOYED + PROGRESS:
        return IntakeResult(ignored=((0, f"{reason}: not a HelmRelease reason that is mapped"),))
    if tenant_from_namespace:
        tenant = namespace
    cluster = cluster or _metadata_value(metadata, CLUSTER_KEYS)
    if cluster is None:
        problems.append(
            Problem(
                "metadata.cluster",
                "no cluster name: configure one (?cluster=NAME) or add `cluster` to the "
                "Alert's eventMetadata",
            )
        )
    if tenant is None:
        problems.append(Problem("tenant", "no tenant: give ?tenant=T or a single-tenant token"))
    if problems:
        raise InvalidReport(problems)
    assert cluster is not None
    assert tenant is not None
    common = {
        "tenantId": tenant,
        "workloadName": f"{namespace}/{name}",
        "workloadRtId": workload_rt_id(cluster, namespace, name),
        "messageId": message_id(uid, reason, revision, timestamp),
        "reportedAt": timestamp,
    }
    if reason in UNDEPLOYED:
        return IntakeResult(messages=({"kind": "undeploy", **common},), sources=(0,))
    if reason in PROGRESS:
        progress = {"kind": "progress", **common, "message": message}
        return IntakeResult(messages=(progress,), sources=(0,))
    success = reason in SUCCEEDED
    status = message
    if success and revision is not None:
        status = f"{message} (chart version {revision})" if message else f"chart version {revision}"
    return IntakeResult(
        messages=(
            {
                "kind": "outcome",
                **common,
                "poolName": cluster,
                "success": success,
                "statusMessage": status or None,
            },
        ),
        sources=(0,),
    )
