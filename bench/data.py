"""The one report generator of every benchmark, and the raw rows the baselines write.

Reports are the wire form a controller hands over: camelCase dicts, each with a distinct
`messageId`. A baseline row carries the bytes the library stores for that report (the
event's JSON), so that baseline and library write rows of the same size.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

Report = dict[str, Any]
Row = tuple[uuid.UUID, int, str, bytes]  # workload uuid, version, topic, event JSON

ATTEMPT_TOPIC = "deployledger:Workload.DeploymentAttempted"
REGISTERED_TOPIC = "deployledger:Workload.Registered"
TENANTS = ["acme-prod", "acme-staging", "globex", "initech", "umbrella", "hooli", "stark", "wayne"]
POOLS = ["pool-eu-west-1", "pool-eu-central-1", "pool-us-east-1", "pool-ap-south-1"]
FAILURE_RATE = 0.30
HOT_SHARE = 0.01  # share of the stream that goes to the hot workload (index 0)
EPOCH = datetime(2025, 11, 1, tzinfo=UTC)
_NAMESPACE = uuid.UUID("0b6c3d9e-4f1a-4c55-9a07-be7c40000000")
_STAMP = {"_type_": "datetime_iso", "_data_": "2025-11-24T10:12:31.123456+00:00"}

_SHORT = (
    'Release "{name}" has been upgraded. Happy Helming!',
    "Error: UPGRADE FAILED: context deadline exceeded",
)
_NOTES = (
    'Release "{name}" has been upgraded. Happy Helming!\n'
    "NAME: {name}\nLAST DEPLOYED: {when}\nNAMESPACE: {ns}\nSTATUS: deployed\n"
    "REVISION: {rev}\nTEST SUITE: None\n"
)
_NOTES_EXTRA = (
    "NOTES:\n1. Get the application URL by running these commands:\n"
    '  export POD_NAME=$(kubectl get pods --namespace {ns} -l "app.kubernetes.io/name={name}"'
    ' -o jsonpath="{{.items[0].metadata.name}}")\n'
    "  kubectl --namespace {ns} port-forward $POD_NAME 8080:80\n"
)
_DEBUG = [
    "history.go:56: [debug] getting history for release {name}",
    "upgrade.go:144: [debug] preparing upgrade for {name}",
    "upgrade.go:152: [debug] performing update for {name}",
    "client.go:338: [debug] checking 7 resources for changes",
    'client.go:628: [debug] Patch Deployment "{name}" in namespace {ns}',
    "wait.go:48: [debug] beginning wait for 7 resources with timeout of 5m0s",
    "ready.go:277: [debug] Deployment is not ready: {ns}/{name}. 0 out of 2 expected pods ready",
]
_ERRORS = [
    "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress",
    "Error: UPGRADE FAILED: context deadline exceeded",
    "Error: UPGRADE FAILED: post-upgrade hooks failed: job failed: BackoffLimitExceeded",
    'Error: UPGRADE FAILED: cannot patch "{name}" with kind Deployment: Deployment.apps '
    '"{name}" is invalid: spec.selector: Invalid value: field is immutable',
    "Error: INSTALLATION FAILED: rendered manifests contain a resource that already exists. "
    'Unable to continue with install: Service "{name}" in namespace "{ns}" exists and cannot '
    "be imported into the current release: invalid ownership metadata",
    "Error: UPGRADE FAILED: timed out waiting for the condition – pods “{name}” not ready",
]


@dataclass(frozen=True)
class Workload:
    tenant: str
    rt_id: str
    name: str
    pool: str
    namespace: str


def fleet(size: int, seed: int) -> list[Workload]:
    """`size` workloads over 8 tenants and 4 pools; index 0 ("orders-api") is the hot one."""
    rng = random.Random(f"fleet:{seed}")
    return [
        Workload(
            TENANTS[w % len(TENANTS)],
            f"{rng.getrandbits(96):024x}",
            f"svc-{w:04d}" if w else "orders-api",
            POOLS[w % len(POOLS)],
            f"ns-{w % 50}",
        )
        for w in range(size)
    ]


def helm_message(rng: random.Random, w: Workload, success: bool, when: datetime) -> str:
    """Helm's output, 100-1,500 bytes: notes on success, a debug log and an error on failure."""
    fmt = {"name": w.name, "ns": w.namespace}
    if success:
        text = _NOTES.format(rev=rng.randint(1, 900), when=when.strftime("%c"), **fmt)
        return text + _NOTES_EXTRA.format(**fmt) if rng.random() < 0.4 else text
    target = rng.randint(100, 1_500)
    lines = [rng.choice(_ERRORS).format(**fmt)]
    size = len(lines[0])
    while True:
        line = rng.choice(_DEBUG).format(**fmt)
        if size + len(line) + 1 > target:
            return "\n".join(lines[1:] + lines[:1])
        lines.append(line)
        size += len(line) + 1


def report(
    rng: random.Random, w: Workload, success: bool, message: str, when: datetime | None = None
) -> Report:
    out: Report = {
        "tenantId": w.tenant,
        "poolName": w.pool,
        "workloadName": w.name,
        "workloadRtId": w.rt_id,
        "success": success,
        "statusMessage": message,
        "messageId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
    }
    if when is not None:
        out["reportedAt"] = when.isoformat()
    return out


def series(w: Workload, count: int, rng: random.Random, *, helm: bool) -> list[Report]:
    """`count` reports of one workload: helm's output with 30% failures, or (`helm=False`)
    one short line each, one in five a failure (a stored event of about 330 bytes)."""
    out = []
    for i in range(count):
        if helm:
            success = rng.random() >= FAILURE_RATE
            out.append(report(rng, w, success, helm_message(rng, w, success, EPOCH)))
        else:
            success = i % 5 != 4
            out.append(report(rng, w, success, _SHORT[not success].format(name=w.name)))
    return out


def stream(
    seed: int, workloads: list[Workload], start: int, count: int, hot_share: float = HOT_SHARE
) -> list[Report]:
    """Reports [start, start + count) of the fleet's stream, the same on every backend.

    The stream is made of blocks of `len(workloads)` reports. Block 0 (every block if
    `hot_share` is 0) is one report per workload in shuffled order, so it registers every
    workload; later blocks pick the hot workload with probability `hot_share`, else another.
    """
    out: list[Report] = []
    index, skip = divmod(start, len(workloads))
    while len(out) < count:
        out += _block(seed, workloads, index, hot_share)[skip:]
        index, skip = index + 1, 0
    return out[:count]


def _block(seed: int, workloads: list[Workload], index: int, hot_share: float) -> list[Report]:
    rng = random.Random(f"block:{seed}:{index}")
    size = len(workloads)
    picks = list(range(size))
    if index == 0 or not hot_share:
        rng.shuffle(picks)
    else:
        picks = [0 if rng.random() < hot_share else rng.randrange(1, size) for _ in picks]
    out = []
    for n, w in enumerate(picks):
        success = rng.random() >= FAILURE_RATE
        when = EPOCH + timedelta(seconds=(index * size + n) * 3)
        message = helm_message(rng, workloads[w], success, when)
        out.append(report(rng, workloads[w], success, message, when))
    return out


def event_state(r: Report) -> bytes:
    """The JSON the library stores for this report's event (same fields, same size)."""
    reported = r.get("reportedAt")
    state = {
        "timestamp": _STAMP,
        "tenant_id": r["tenantId"],
        "workload_rt_id": r["workloadRtId"],
        "workload_name": r["workloadName"],
        "pool_name": r["poolName"],
        "success": r["success"],
        "status_message": r["statusMessage"],
        "message_id": r["messageId"],
        "reported_at": reported and {"_type_": "datetime_iso", "_data_": reported},
    }
    return json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode()


def rows(reports: list[Report]) -> list[Row]:
    """One raw row per report; versions count up per workload from 2, as the library's do
    (version 1 registers the workload)."""
    versions: dict[uuid.UUID, int] = {}
    out = []
    for r in reports:
        wid = uuid.uuid5(_NAMESPACE, f"{r['tenantId']}\x00{r['workloadRtId']}")
        versions[wid] = versions.get(wid, 1) + 1
        out.append((wid, versions[wid], ATTEMPT_TOPIC, event_state(r)))
    return out


# -- the lifecycle: deploy requests, progress messages, outcomes that close them -------------

_PROGRESS = (
    "Pod {name}-{pod} container '{name}' waiting: ContainerCreating",
    "Pod {name}-{pod} container '{name}' waiting: ImagePullBackOff",
    "Pod {name}-{pod} container '{name}' waiting: CrashLoopBackOff (back-off 40s restarting "
    "failed container)",
    'Deployment "{name}" rollout: 1 of 2 updated replicas are available',
    "Pod {name}-{pod} not ready: readiness probe failed: HTTP probe failed with statuscode: 503",
    'Job "{name}-db-migrate" running: 0 of 1 completions',
)
_VALUES_YAML = (
    "replicaCount: 2\n"
    "image:\n  repository: registry.example.com/{tenant}/{name}\n  pullPolicy: IfNotPresent\n"
    "service:\n  type: ClusterIP\n  port: 8080\n"
    "resources:\n  requests:\n    cpu: 100m\n    memory: 256Mi\n  limits:\n    memory: 512Mi\n"
    'podAnnotations:\n  prometheus.io/scrape: "true"\n  prometheus.io/port: "9090"\n'
    "env:\n  - name: LOG_LEVEL\n    value: info\n  - name: DATABASE_HOST\n"
    "    value: postgres.{ns}.svc.cluster.local\n"
)


def pool_rt_id(pool: str) -> str:
    return uuid.uuid5(_NAMESPACE, pool).hex[:24]


def request(rng: random.Random, w: Workload, version: str, when: datetime) -> Report:
    """A realistic deploy request: chart, repository URL and credentials, base values YAML
    (about 400 bytes), 5 overrides of which one is a secret."""
    tag = f"{version}-{rng.getrandbits(28):07x}"
    return {
        "kind": "request",
        "tenantId": w.tenant,
        "poolRtId": pool_rt_id(w.pool),
        "workloadName": w.name,
        "workloadRtId": w.rt_id,
        "workloadType": "Application",
        "repositoryUrl": f"https://charts.example.com/{w.tenant}/stable",
        "repositoryUsername": "ci-deployer",
        "repositoryPassword": f"{rng.getrandbits(160):040x}",
        "chartName": w.name,
        "chartVersion": version,
        "isReconciliation": False,
        "valuesYaml": _VALUES_YAML.format(tenant=w.tenant, name=w.name, ns=w.namespace),
        "values": [
            {"path": "image.tag", "value": tag, "isSecret": False},
            {"path": "replicaCount", "value": str(rng.choice((2, 3, 4))), "isSecret": False},
            {"path": "resources.limits.memory", "value": "512Mi", "isSecret": False},
            {
                "path": "ingress.hosts[0].host",
                "value": f"{w.name}.{w.tenant}.example.com",
                "isSecret": False,
            },
            {
                "path": "database.password",
                "value": f"{rng.getrandbits(128):032x}",
                "isSecret": True,
            },
        ],
        "receivesClusterSecrets": True,
        "ingressEnabled": True,
        "hostname": f"{w.name}.{w.tenant}.example.com",
        "messageId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "reportedAt": when.isoformat(),
    }


def progress(rng: random.Random, w: Workload, when: datetime) -> Report:
    """A progress message from the operator while helm runs (60-120 bytes)."""
    pod = f"{rng.getrandbits(40):010x}"[:10] + "-" + f"{rng.getrandbits(20):05x}"
    return {
        "kind": "progress",
        "tenantId": w.tenant,
        "workloadName": w.name,
        "workloadRtId": w.rt_id,
        "message": rng.choice(_PROGRESS).format(name=w.name, pod=pod),
        "messageId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "reportedAt": when.isoformat(),
    }


def outcome(rng: random.Random, w: Workload, success: bool, message: str, when: datetime) -> Report:
    """An outcome; a failure in the upstream operator's format (`helm {operation} failed
    with exit code {N}. stderr: {stderr}`)."""
    if not success:
        message = f"helm upgrade --install {w.name} failed with exit code 1. stderr: {message}"
    return {**report(rng, w, success, message, when), "kind": "outcome"}


def undeploy(rng: random.Random, w: Workload, when: datetime) -> Report:
    """The controller's undeploy of `w`."""
    return {
        "kind": "undeploy",
        "tenantId": w.tenant,
        "poolRtId": pool_rt_id(w.pool),
        "workloadName": w.name,
        "workloadRtId": w.rt_id,
        "workloadType": "Application",
        "messageId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "reportedAt": when.isoformat(),
    }


def deploy(
    rng: random.Random, w: Workload, number: int, when: datetime, *, helm: bool, progresses: int
) -> list[Report]:
    """One deploy of `w`: its request, `progresses` progress messages, its outcome (helm's
    output with 30% failures, or with `helm=False` one short line, one in five a failure)."""
    version = f"1.{number // 10}.{number % 10}"
    out = [request(rng, w, version, when)]
    for k in range(progresses):
        out.append(progress(rng, w, when + timedelta(seconds=5 + 15 * k)))
    done = when + timedelta(seconds=rng.randint(30, 240))
    if helm:
        success = rng.random() >= FAILURE_RATE
        message = helm_message(rng, w, success, done)
    else:
        success = number % 5 != 4
        message = _SHORT[not success].format(name=w.name)
    out.append(outcome(rng, w, success, message, done))
    return out


def deploys(w: Workload, count: int, rng: random.Random, first: int = 0) -> list[list[Report]]:
    """`count` deploys of one workload, each request, one progress message, outcome (short
    messages), reported now."""
    now = datetime.now(UTC)
    return [deploy(rng, w, first + n, now, helm=False, progresses=1) for n in range(count)]


def lifecycle_stream(seed: int, workloads: list[Workload], block: int = 50) -> Iterator[Report]:
    """A fleet's lifecycle messages, endless: rounds of one deploy per workload (shuffled),
    each deploy a request, 1-2 progress messages (half each) and an outcome (helm's output,
    30% failures, in the operator's format). Deploys run `block` at a time: their requests
    come first, then their progress, then their outcomes, so that workloads interleave as
    concurrent deploys do. Take as many as needed (`itertools.islice`)."""
    rng = random.Random(f"lifecycle:{seed}")
    number = 0
    while True:
        order = list(workloads)
        rng.shuffle(order)
        for start in range(0, len(order), block):
            when = EPOCH + timedelta(seconds=number * 60)
            number += 1
            phases: list[list[Report]] = [[], [], [], []]
            for w in order[start : start + block]:
                messages = deploy(rng, w, number, when, helm=True, progresses=rng.randint(1, 2))
                phases[0].append(messages[0])
                phases[3].append(messages[-1])
                for k, message in enumerate(messages[1:-1], start=1):
                    phases[k].append(message)
            for phase in phases:
                yield from phase
