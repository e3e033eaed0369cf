"""Realistic report streams, and the equivalent raw rows for the floors.

Reports are the wire form a controller hands over: camelCase dicts, each with a
distinct `messageId`. A floor row carries the same bytes the library stores for
that report (the event's JSON), so that floor and library write similar rows.
"""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

Report = dict[str, Any]
Row = tuple[uuid.UUID, int, str, bytes]

ATTEMPT_TOPIC = "deployledger:Workload.DeploymentAttempted"
_NAMESPACE = uuid.UUID("0b6c3d9e-4f1a-4c55-9a07-be7c40000000")
_STAMP = {"_type_": "datetime_iso", "_data_": "2025-11-24T10:12:31.123456+00:00"}

TENANTS = ["acme-prod", "acme-staging", "globex", "initech", "umbrella", "hooli", "stark", "wayne"]
POOLS = ["pool-eu-west-1", "pool-eu-central-1", "pool-us-east-1", "pool-ap-south-1"]

SHORT_SUCCESS = 'Release "{name}" has been upgraded. Happy Helming!'
SHORT_FAILURE = "Error: UPGRADE FAILED: context deadline exceeded"

_SUCCESS_NOTES = (
    'Release "{name}" has been upgraded. Happy Helming!\n'
    "NAME: {name}\n"
    "LAST DEPLOYED: Mon Nov 24 10:12:31 2025\n"
    "NAMESPACE: {ns}\n"
    "STATUS: deployed\n"
    "REVISION: {rev}\n"
    "TEST SUITE: None\n"
)
_NOTES_EXTRA = (
    "NOTES:\n"
    "1. Get the application URL by running these commands:\n"
    '  export POD_NAME=$(kubectl get pods --namespace {ns} -l "app.kubernetes.io/name={name}"'
    ' -o jsonpath="{{.items[0].metadata.name}}")\n'
    '  echo "Visit http://127.0.0.1:8080 to use your application"\n'
    "  kubectl --namespace {ns} port-forward $POD_NAME 8080:80\n"
)
_DEBUG = [
    "history.go:56: [debug] getting history for release {name}",
    "upgrade.go:144: [debug] preparing upgrade for {name}",
    "upgrade.go:152: [debug] performing update for {name}",
    "upgrade.go:324: [debug] creating upgraded release for {name}",
    "client.go:338: [debug] checking 7 resources for changes",
    'client.go:617: [debug] Looks like there are no changes for Service "{name}"',
    'client.go:628: [debug] Patch Deployment "{name}" in namespace {ns}',
    "wait.go:48: [debug] beginning wait for 7 resources with timeout of 5m0s",
    "ready.go:277: [debug] Deployment is not ready: {ns}/{name}. "
    "0 out of 2 expected pods are ready",
]
_ERRORS = [
    "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress",
    "Error: UPGRADE FAILED: context deadline exceeded",
    "Error: UPGRADE FAILED: post-upgrade hooks failed: job failed: BackoffLimitExceeded",
    'Error: UPGRADE FAILED: cannot patch "{name}" with kind Deployment: Deployment.apps "{name}" '
    "is invalid: spec.selector: Invalid value: v1.LabelSelector{{MatchLabels:map[string]string{{"
    '"app.kubernetes.io/instance":"{name}", "app.kubernetes.io/name":"{name}"}}, '
    "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}}: field is immutable",
    "Error: UPGRADE FAILED: template: {name}/templates/deployment.yaml:42:28: executing "
    '"{name}/templates/deployment.yaml" at <.Values.image.tag>: nil pointer evaluating '
    "interface {{}}.tag",
    "Error: INSTALLATION FAILED: rendered manifests contain a resource that already exists. "
    'Unable to continue with install: Service "{name}" in namespace "{ns}" exists and cannot be '
    "imported into the current release: invalid ownership metadata; label validation error: "
    'missing key "app.kubernetes.io/managed-by": must be set to "Helm"; annotation validation '
    'error: missing key "meta.helm.sh/release-name": must be set to "{name}"',
]


def workload_uuid(tenant_id: str, workload_rt_id: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"{tenant_id}\x00{workload_rt_id}")


def rt_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(96):024x}"


def message_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def report(
    tenant_id: str,
    workload_rt_id: str,
    name: str,
    pool: str | None,
    *,
    success: bool,
    message: str | None,
    rng: random.Random,
) -> Report:
    return {
        "tenantId": tenant_id,
        "poolName": pool,
        "workloadName": name,
        "workloadRtId": workload_rt_id,
        "success": success,
        "statusMessage": message,
        "messageId": message_id(rng),
    }


def short_reports(
    tenant_id: str, workload_rt_id: str, count: int, rng: random.Random
) -> list[Report]:
    """Reports whose stored event is about 330 bytes: one in five is a failure."""
    name = "billing-api"
    out = []
    for i in range(count):
        success = i % 5 != 4
        text = (SHORT_SUCCESS if success else SHORT_FAILURE).format(name=name)
        out.append(
            report(
                tenant_id, workload_rt_id, name, POOLS[0], success=success, message=text, rng=rng
            )
        )
    return out


def helm_message(success: bool, name: str, ns: str, revision: int, rng: random.Random) -> str:
    """Helm's output: release notes on success (~100-400 bytes), a debug log and an error
    on failure (~200-2,000 bytes), multi-line, as helm prints them."""
    if success:
        text = _SUCCESS_NOTES.format(name=name, ns=ns, rev=revision)
        if rng.random() < 0.3:
            text += _NOTES_EXTRA.format(name=name, ns=ns)
        return text
    target = rng.randint(200, 2_000)
    error = rng.choice(_ERRORS).format(name=name, ns=ns)
    lines: list[str] = []
    size = len(error)
    while size < target:
        line = rng.choice(_DEBUG).format(name=name, ns=ns)
        lines.append(line)
        size += len(line) + 1
    lines.append(error)
    return "\n".join(lines)


def history_reports(
    tenant_id: str, workload_rt_id: str, count: int, rng: random.Random
) -> list[Report]:
    """A long, realistic history of one workload: about a third of attempts fail."""
    name, ns = "orders-worker", "orders"
    out = []
    for i in range(count):
        success = rng.random() >= 0.35
        text = helm_message(success, name, ns, i + 1, rng)
        out.append(
            report(
                tenant_id, workload_rt_id, name, POOLS[1], success=success, message=text, rng=rng
            )
        )
    return out


def batch_reports(total: int, per_workload: int, rng: random.Random) -> list[Report]:
    """`total` reports over `total // per_workload` workloads, as they would arrive: each
    round has one report per workload, in shuffled order; a third of attempts fail."""
    workloads = []
    for w in range(max(1, total // per_workload)):
        tenant = TENANTS[w % len(TENANTS)]
        workloads.append(
            (tenant, rt_id(rng), f"svc-{w:04d}", POOLS[w % len(POOLS)], f"ns-{w % 50}")
        )
    out: list[Report] = []
    revision = 0
    while len(out) < total:
        revision += 1
        order = list(workloads)
        rng.shuffle(order)
        for tenant, rtid, name, pool, ns in order:
            if len(out) == total:
                break
            success = rng.random() >= 0.35
            text = helm_message(success, name, ns, revision, rng)
            out.append(report(tenant, rtid, name, pool, success=success, message=text, rng=rng))
    return out


def event_state(r: Report) -> bytes:
    """The JSON the library stores for this report's event (same fields, same size)."""
    return json.dumps(
        {
            "timestamp": _STAMP,
            "tenant_id": r["tenantId"],
            "workload_rt_id": r["workloadRtId"],
            "workload_name": r["workloadName"],
            "pool_name": r["poolName"],
            "success": r["success"],
            "status_message": r["statusMessage"],
            "message_id": r["messageId"],
            "reported_at": None,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")


def floor_rows(reports: list[Report], first_version: int = 2) -> list[Row]:
    """One raw row per report: (workload uuid, version, topic, event JSON); versions count
    up per workload from `first_version`, as the library's do."""
    versions: dict[uuid.UUID, int] = {}
    rows = []
    for r in reports:
        wid = workload_uuid(r["tenantId"], r["workloadRtId"])
        version = versions.get(wid, first_version)
        versions[wid] = version + 1
        rows.append((wid, version, ATTEMPT_TOPIC, event_state(r)))
    return rows
