"""The payload each sink kind receives for one delivery. Pure: bytes and headers, no I/O.

- `cdevents`: a CloudEvent 1.0 in structured mode carrying a CDEvent (`service.deployed`
  for a workload's first success, `service.upgraded` for a later one, `service.removed`
  for an undeploy), spec 0.4.1 (types `.0.2.0`, context `version`) or 0.5.0 (types
  `.0.3.0`, context `specversion`).
- `webhook`: the attempt's row as the HTTP API renders it (`GET /v1/audit`), with its
  headline, optionally a Slack-compatible `text`; signed with HMAC-SHA256 given a secret.
- `grafana`: an annotation for `POST /api/annotations`; the secret is the API key.

A `cdevents` sink's secret, if any, is sent as `Authorization: Bearer` (a broker's token, or
another deployledger's API token for its CloudEvents intake).

Every delivery carries its stable id, the event's position, in `X-Deployledger-Delivery`
(and as the CloudEvent's `id`), so that a receiver can drop a repeat.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from deployledger.domain.sinks import DeliveryItem, Outgoing, Sink
from deployledger.presentation.headline import parse_headline

CLOUDEVENTS_TYPE = "application/cloudevents+json"
DELIVERY_HEADER = "X-Deployledger-Delivery"
SIGNATURE_HEADER = "X-Deployledger-Signature"
USER_AGENT = "deployledger-sink/1"
SOURCE = "/deployledger"
_TYPE_VERSION = {"0.4.1": "0.2.0", "0.5.0": "0.3.0"}
_CONTEXT_FIELD = {"0.4.1": "version", "0.5.0": "specversion"}


def delivery_id(item: DeliveryItem) -> str:
    """The stable id of a delivery: the event's position in the log."""
    return str(item.position)


def _iso(at: datetime) -> str:
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def headline(item: DeliveryItem) -> str:
    """One line about the event: the status message's headline, or what happened."""
    if item.attempt is None:
        return "undeployed"
    text = str(parse_headline(item.attempt.status_message))
    return text or ("deployed" if item.attempt.success else "failed")


def purl(name: str, version: str | None) -> str:
    """A package URL for a chart: `pkg:generic/<name>@<version>` (the version if known)."""
    out = f"pkg:generic/{quote(name, safe='')}"
    return out if not version else f"{out}@{quote(version, safe='')}"


def cdevent_type(item: DeliveryItem, spec: str) -> str | None:
    """The CDEvent type for `item`, or None for an event CDEvents has no type for (a
    failed outcome: there is no service-level "deploy failed")."""
    if item.attempt is None:
        verb = "removed"
    elif not item.attempt.success:
        return None
    else:
        verb = "deployed" if item.first_success else "upgraded"
    return f"dev.cdevents.service.{verb}.{_TYPE_VERSION[spec]}"


def cdevent(item: DeliveryItem, spec: str) -> dict[str, Any] | None:
    """The CDEvent (context and subject) for `item`, or None (see `cdevent_type`)."""
    kind = cdevent_type(item, spec)
    if kind is None:
        return None
    source = f"{SOURCE}/{quote(item.tenant_id, safe='')}"
    content: dict[str, Any] = {
        "environment": {"id": item.pool_name or item.tenant_id, "source": source}
    }
    if item.attempt is not None:
        content["artifactId"] = purl(item.chart_name or item.workload_name, item.chart_version)
    return {
        "context": {
            _CONTEXT_FIELD[spec]: spec,
            "id": delivery_id(item),
            "source": source,
            "type": kind,
            "timestamp": _iso(item.occurred_at),
        },
        "subject": {
            "id": item.workload_rt_id,
            "source": source,
            "type": "service",
            "content": content,
        },
        "customData": {
            "tenantId": item.tenant_id,
            "workloadName": item.workload_name,
            "poolName": item.pool_name,
            "position": item.position,
        },
        "customDataContentType": "application/json",
    }


def cloudevent(item: DeliveryItem, spec: str) -> dict[str, Any] | None:
    """The structured-mode CloudEvent carrying `cdevent(item, spec)`, or None."""
    data = cdevent(item, spec)
    if data is None:
        return None
    context = data["context"]
    return {
        "specversion": "1.0",
        "id": context["id"],
        "source": context["source"],
        "type": context["type"],
        "subject": item.workload_rt_id,
        "time": context["timestamp"],
        "datacontenttype": "application/json",
        "data": data,
    }


def webhook_body(item: DeliveryItem, *, slack_text: bool = False) -> dict[str, Any]:
    """The attempt's row as `GET /v1/audit` shows it, plus `event`, `id` and `headline`
    (an undeploy: the workload, its time and position); `text` for Slack if asked."""
    if item.attempt is not None:
        body: dict[str, Any] = {"event": "outcome", **item.attempt.to_audit_json()}
    else:
        body = {
            "event": "undeploy",
            "tenantId": item.tenant_id,
            "workloadRtId": item.workload_rt_id,
            "workloadName": item.workload_name,
            "poolName": item.pool_name,
            "occurredAt": _iso(item.occurred_at),
            "position": item.position,
        }
    body["id"] = delivery_id(item)
    body["headline"] = headline(item)
    if slack_text:
        body["text"] = slack_line(item)
    return body


def slack_line(item: DeliveryItem) -> str:
    """`[tenant] workload (pool): state: headline`, for Slack's `text`."""
    where = f" ({item.pool_name})" if item.pool_name else ""
    state = {"deployed": "deployed", "error": "FAILED", "undeployed": "undeployed"}[item.state]
    category = item.attempt.category if item.attempt is not None else None
    extra = f" [{category}]" if category else ""
    said = headline(item)
    tail = f": {said}" if said not in ("deployed", "undeployed") else ""
    return f"[{item.tenant_id}] {item.workload_name}{where} {state}{extra}{tail}"


def annotation(item: DeliveryItem) -> dict[str, Any]:
    """A Grafana annotation: time in ms, tags (tenant, pool, workload, state, category)."""
    category = item.attempt.category if item.attempt is not None else None
    tags = [
        f"tenant:{item.tenant_id}",
        f"pool:{item.pool_name or '-'}",
        f"workload:{item.workload_name}",
        f"state:{item.state}",
    ]
    if category:
        tags.append(f"category:{category}")
    at = item.occurred_at if item.occurred_at.tzinfo else item.occurred_at.replace(tzinfo=UTC)
    return {"time": int(at.timestamp() * 1000), "tags": tags, "text": slack_line(item)}


def grafana_url(url: str) -> str:
    """The annotations endpoint under a Grafana base URL (kept if already given)."""
    base = url.rstrip("/")
    return base if base.endswith("/api/annotations") else base + "/api/annotations"


def signature(secret: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of the body>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def outgoing(sink: Sink, item: DeliveryItem) -> Outgoing | None:
    """The request that delivers `item` to `sink`, or None if this kind sends nothing for it
    (a failed outcome to a `cdevents` sink)."""
    headers = {DELIVERY_HEADER: delivery_id(item), "User-Agent": USER_AGENT}
    if sink.kind == "cdevents":
        event = cloudevent(item, sink.spec)
        if event is None:
            return None
        headers["Content-Type"] = CLOUDEVENTS_TYPE
        if sink.secret:  # a broker's (or another deployledger's) bearer token
            headers["Authorization"] = f"Bearer {sink.secret}"
        return Outgoing(sink.url, _bytes(event), headers)
    if sink.kind == "grafana":
        headers["Content-Type"] = "application/json"
        if sink.secret:
            headers["Authorization"] = f"Bearer {sink.secret}"
        return Outgoing(grafana_url(sink.url), _bytes(annotation(item)), headers)
    body = _bytes(webhook_body(item, slack_text=sink.slack_text))
    headers["Content-Type"] = "application/json"
    if sink.secret:
        headers[SIGNATURE_HEADER] = signature(sink.secret, body)
    return Outgoing(sink.url, body, headers)
