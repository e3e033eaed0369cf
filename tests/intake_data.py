"""Test data of the intake (issue 23): Flux notification-controller events and CloudEvents
carrying CDEvents, written from the documented structures. No fixtures here.

- `flux_event(reason, ...)`: a HelmRelease event as the `generic` provider posts it;
  `FLUX_REASONS`: every HelmRelease reason and what it is stored as;
  `MALFORMED_FLUX`: bad payloads, each with the fields its 422 must name;
- `cdevent(predicate, version, ...)`: a CDEvents service event (0.4 or 0.5) as a
  structured CloudEvent; `binary(event)`: its binary-mode headers and body;
- `signed(body, secret)`: Flux's `generic-hmac` header for a body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

HMAC_SECRET = "flux-test-secret-0123456789"
CLUSTER = "prod-eu"
STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"

# reason -> severity and what it is stored as (None: ignored, 202).
FLUX_REASONS: dict[str, tuple[str, str | None]] = {
    "InstallSucceeded": ("info", "outcome"),
    "UpgradeSucceeded": ("info", "outcome"),
    "InstallFailed": ("error", "outcome"),
    "UpgradeFailed": ("error", "outcome"),
    "UninstallSucceeded": ("info", "undeploy"),
    "Progressing": ("info", "progress"),
    "TestSucceeded": ("info", None),
    "TestFailed": ("error", None),
    "RollbackSucceeded": ("info", None),
    "RollbackFailed": ("error", None),
    "UninstallFailed": ("error", None),
}
FLUX_MESSAGES = {
    "InstallSucceeded": "Helm install succeeded for release apps/podinfo.v1 with chart "
    "podinfo@6.5.0",
    "UpgradeSucceeded": "Helm upgrade succeeded for release apps/podinfo.v2 with chart "
    "podinfo@6.5.1",
    "InstallFailed": "Helm install failed for release apps/podinfo with chart podinfo@6.5.0: "
    "context deadline exceeded",
    "UpgradeFailed": "Helm upgrade failed for release apps/podinfo with chart podinfo@6.5.1: "
    'cannot patch "podinfo" with kind Deployment: field is immutable',
    "UninstallSucceeded": "Helm uninstall succeeded for release apps/podinfo.v2",
    "Progressing": "Running 'upgrade' action with timeout of 5m0s",
    "TestSucceeded": "Helm test succeeded for release apps/podinfo.v2 with chart "
    "podinfo@6.5.1: 1 test hook completed successfully",
    "TestFailed": "Helm test failed for release apps/podinfo.v2 with chart podinfo@6.5.1: "
    "pod podinfo-grpc-test failed",
    "RollbackSucceeded": "Helm rollback to previous release apps/podinfo.v1 with chart "
    "podinfo@6.5.0 succeeded",
    "RollbackFailed": "Helm rollback to previous release apps/podinfo.v1 failed: timed out",
    "UninstallFailed": "Helm uninstall failed for release apps/podinfo.v2: timed out",
}


def flux_event(
    reason: str = "InstallSucceeded",
    *,
    name: str = "podinfo",
    namespace: str = "apps",
    uid: str = "7f1d2c3b-0000-4000-8000-000000000001",
    revision: str | None = "6.5.0",
    timestamp: str = "2026-12-07T10:00:00Z",
    kind: str = "HelmRelease",
    **fields: Any,
) -> dict[str, Any]:
    """A Flux event as the notification-controller's `generic` provider posts it."""
    severity = FLUX_REASONS.get(reason, ("info", None))[0]
    event: dict[str, Any] = {
        "involvedObject": {
            "kind": kind,
            "namespace": namespace,
            "name": name,
            "uid": uid,
            "apiVersion": "helm.toolkit.fluxcd.io/v2",
            "resourceVersion": "123456",
        },
        "severity": severity,
        "timestamp": timestamp,
        "message": FLUX_MESSAGES.get(reason, f"{reason} happened"),
        "reason": reason,
        # as the helm-controller writes it: the key carries the API group
        "metadata": {} if revision is None else {"helm.toolkit.fluxcd.io/revision": revision},
        "reportingController": "helm-controller",
        "reportingInstance": "helm-controller-5d4f8b9c7-x2x7q",
    }
    event.update(fields)
    return event


def _without(event: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k not in keys}


# name -> (payload, the fields its 422 names)
MALFORMED_FLUX: dict[str, tuple[Any, set[str]]] = {
    "not an object": ([flux_event()], {"(body)"}),
    "no involvedObject": (
        _without(flux_event(), "involvedObject"),
        {"involvedObject", "involvedObject.kind", "involvedObject.namespace"}
        | {"involvedObject.name", "involvedObject.uid"},
    ),
    "everything wrong": (
        {
            "involvedObject": {"kind": "HelmRelease", "name": "", "namespace": 3},
            "severity": "fatal",
            "timestamp": "yesterday",
            "message": None,
            "reason": 7,
            "metadata": {"revision": 1},
        },
        {
            "involvedObject.name",
            "involvedObject.namespace",
            "involvedObject.uid",
            "severity",
            "timestamp",
            "message",
            "reason",
            "metadata",
        },
    ),
    "a timestamp without a zone": (
        flux_event(timestamp="2026-12-07T10:00:00"),
        {"timestamp"},
    ),
    "no reason, no severity": (
        _without(flux_event(), "reason", "severity"),
        {"reason", "severity"},
    ),
}


def signed(body: bytes, secret: str = HMAC_SECRET, hash_name: str = "sha256") -> str:
    """The `X-Signature` header Flux's `generic-hmac` provider sends with `body`."""
    digest = hmac.new(secret.encode(), body, getattr(hashlib, hash_name)).hexdigest()
    return f"{hash_name}={digest}"


def body_of(value: Any) -> bytes:
    return json.dumps(value).encode()


# ---------------------------------------------------------------------------------------
# CloudEvents and CDEvents

CDEVENTS_VERSIONS = {"0.4": ("0.2.0", "version", "0.4.1"), "0.5": ("0.3.0", "specversion", "0.5.0")}


def cdevent(
    predicate: str = "deployed",
    version: str = "0.4",
    *,
    event_id: str = "ce-0001",
    workload: str = "checkout",
    environment: str = "prod-eu",
    artifact: str | None = "pkg:helm/acme/checkout@1.2.3",
    timestamp: str = "2026-12-07T10:00:00Z",
) -> dict[str, Any]:
    """A CDEvents service event in a structured-mode CloudEvent (spec `version` 0.4 or 0.5)."""
    type_version, field, spec = CDEVENTS_VERSIONS[version]
    event_type = f"dev.cdevents.service.{predicate}.{type_version}"
    content: dict[str, Any] = {"environment": {"id": environment, "source": "/clusters"}}
    if artifact is not None:
        content["artifactId"] = artifact
    data = {
        "context": {
            field: spec,
            "id": event_id,
            "source": "/tekton/pipelines",
            "type": event_type,
            "timestamp": timestamp,
        },
        "subject": {"id": workload, "source": "/tekton/pipelines", "content": content},
    }
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "/tekton/pipelines",
        "type": event_type,
        "time": timestamp,
        "datacontenttype": "application/json",
        "data": data,
    }


def binary(event: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    """The event in binary mode: `ce-*` headers (and Content-Type) and the data as body."""
    headers = {
        f"ce-{key}": str(value)
        for key, value in event.items()
        if key not in ("data", "datacontenttype")
    }
    headers["content-type"] = event.get("datacontenttype", "application/json")
    return headers, json.dumps(event["data"]).encode()
