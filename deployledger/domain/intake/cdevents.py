"""CDEvents service events (spec 0.4.x and 0.5.x) as lifecycle messages. Pure.

Written from the spec's facts (docs/intake.md has the table):
- `dev.cdevents.service.deployed|upgraded|rolledback.<v>` need `subject.id`,
  `subject.content.environment.id` and `subject.content.artifactId` (a purl);
  `dev.cdevents.service.removed.<v>` needs `subject.id` and the environment's id;
- spec 0.4.x: types end `.0.2.0` and the context's version field is `version`; 0.5.x:
  `.0.3.0` and `specversion`. The context also needs `id`, `source`, `type`, `timestamp`.

deployed/upgraded are successful outcomes; rolledback is a successful outcome whose status
message starts `Rolled back:` (the outcome contract has no rollback field); removed is an
undeploy. The chart name and version come from the purl, and are written in the status
message (the outcome contract has no chart fields). The CloudEvent `id` is the messageId.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from deployledger.domain.intake.cloudevents import is_json_media
from deployledger.domain.intake.common import text_at, timestamp_at
from deployledger.errors import Problem

PREFIX = "dev.cdevents."
SERVICE = re.compile(r"^dev\.cdevents\.service\.([a-z]+)\.(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)$")
PREDICATES = ("deployed", "upgraded", "rolledback", "removed")
# Type version -> (the context's version field, the spec release it belongs to).
VERSIONS = {"0.2.0": ("version", "0.4."), "0.3.0": ("specversion", "0.5.")}
CONTEXT_KEYS = frozenset({"id", "source", "type", "timestamp", "chainId", "links", "schemaUri"})
TOP_KEYS = frozenset({"context", "subject", "customData", "customDataContentType"})
SUBJECT_KEYS = frozenset({"id", "source", "type", "content"})
CONTENT_KEYS = frozenset({"environment", "artifactId"})
ENVIRONMENT_KEYS = frozenset({"id", "source"})
ROLLED_BACK = "Rolled back"


@dataclass(frozen=True, slots=True)
class Purl:
    """The parts of a package URL that matter here."""

    type: str
    name: str
    version: str | None


def parse_purl(text: str) -> Purl | None:
    """`pkg:type/namespace/name@version?qualifiers#subpath` (namespace optional), or None
    when it is not one."""
    if not text.startswith("pkg:"):
        return None
    rest = text[4:].lstrip("/").split("#", 1)[0].split("?", 1)[0]
    path, at, version = rest.rpartition("@")
    if not at:
        path, version = rest, ""
    segments = [s for s in path.split("/") if s]
    if len(segments) < 2 or not re.fullmatch(r"[A-Za-z.+-][A-Za-z0-9.+-]*", segments[0]):
        return None
    name = unquote(segments[-1])
    if not name.strip():
        return None
    return Purl(segments[0].lower(), name, unquote(version) or None)


def is_cdevent(event_type: str) -> bool:
    return event_type.startswith(PREFIX)


def _unknown(
    data: Mapping[str, Any], allowed: frozenset[str], path: str, report: int | None
) -> list[Problem]:
    return [
        Problem(
            f"{path}.{key}" if path else str(key), "is not a field of this event", report=report
        )
        for key in data
        if key not in allowed
    ]


def _object(
    data: Mapping[str, Any], key: str, path: str, problems: list[Problem], report: int | None
) -> Mapping[str, Any]:
    value = data.get(key)
    if isinstance(value, Mapping):
        return value
    reason = "is required" if value is None else "must be a JSON object"
    problems.append(Problem(path, reason, report=report))
    return {}


def cdevent_message(
    event: Mapping[str, Any],
    *,
    tenant: str | None,
    pool: str | None = None,
    report: int | None = None,
) -> tuple[dict[str, Any] | None, str | None, list[Problem]]:
    """(message, None, []) for a service event that maps; (None, why, []) for a CDEvent
    that is not mapped; (None, None, problems) for a malformed one. `event` is a checked
    CloudEvent (see `cloudevents.events_of`); `pool` overrides the environment's id."""
    event_type = event["type"]
    match = SERVICE.match(event_type)
    if match is None or match.group(1) not in PREDICATES:
        return None, f"{event_type}: not a service deploy event", []
    predicate, type_version = match.groups()
    if type_version not in VERSIONS:
        known = ", ".join(f".{v} (CDEvents {s}x)" for v, (_, s) in VERSIONS.items())
        reason = f"the type's version {type_version} is not taken; these are: {known}"
        return None, None, [Problem("type", reason, report=report)]
    version_field, release = VERSIONS[type_version]
    problems: list[Problem] = []
    media = event.get("datacontenttype")
    if isinstance(media, str) and not is_json_media(media.split(";", 1)[0].strip().lower()):
        problems.append(Problem("datacontenttype", "must be JSON for a CDEvent", report=report))
    data = event.get("data")
    if not isinstance(data, Mapping):
        problems.append(Problem("data", "is required, a JSON object (the CDEvent)", report=report))
        return None, None, problems
    problems += _unknown(data, TOP_KEYS, "data", report)
    context = _object(data, "context", "data.context", problems, report)
    problems += _unknown(context, CONTEXT_KEYS | {version_field}, "data.context", report)
    spec = text_at(context, version_field, f"data.context.{version_field}", problems, report=report)
    if spec is not None and not spec.startswith(release):
        problems.append(
            Problem(
                f"data.context.{version_field}",
                f"must be a CDEvents {release}x version for a .{type_version} type, got {spec!r}",
                report=report,
            )
        )
    for key in ("id", "source", "type"):
        value = text_at(context, key, f"data.context.{key}", problems, report=report)
        if key != "source" and value is not None and value != event[key]:
            problems.append(
                Problem(
                    f"data.context.{key}",
                    f"must be the CloudEvent's {key} {event[key]!r}, got {value!r}",
                    report=report,
                )
            )
    timestamp = timestamp_at(
        context, "timestamp", "data.context.timestamp", problems, report=report
    )
    subject = _object(data, "subject", "data.subject", problems, report)
    problems += _unknown(subject, SUBJECT_KEYS, "data.subject", report)
    workload = text_at(subject, "id", "data.subject.id", problems, report=report)
    if subject.get("type") not in (None, "service"):
        problems.append(Problem("data.subject.type", "must be 'service'", report=report))
    content = _object(subject, "content", "data.subject.content", problems, report)
    problems += _unknown(content, CONTENT_KEYS, "data.subject.content", report)
    environment = _object(
        content, "environment", "data.subject.content.environment", problems, report
    )
    problems += _unknown(environment, ENVIRONMENT_KEYS, "data.subject.content.environment", report)
    environment_id = text_at(
        environment, "id", "data.subject.content.environment.id", problems, report=report
    )
    purl = None
    if predicate != "removed":
        artifact = text_at(
            content, "artifactId", "data.subject.content.artifactId", problems, report=report
        )
        if artifact is not None:
            purl = parse_purl(artifact)
            if purl is None:
                problems.append(
                    Problem(
                        "data.subject.content.artifactId",
                        f"must be a package URL (pkg:type/name@version), got {artifact!r}",
                        report=report,
                    )
                )
    elif "artifactId" in content:
        text_at(content, "artifactId", "data.subject.content.artifactId", problems, report=report)
    if tenant is None:
        problems.append(
            Problem("tenant", "no tenant: give ?tenant=T or a single-tenant token", report=report)
        )
    if problems:
        return None, None, problems
    # Checked above (each None added a problem); the asserts are for the type checker.
    assert workload is not None
    assert environment_id is not None
    assert timestamp is not None
    assert tenant is not None
    common = {
        "tenantId": tenant,
        "workloadName": workload,
        "workloadRtId": workload,
        "messageId": event["id"],
        "reportedAt": timestamp,
    }
    if predicate == "removed":
        return {"kind": "undeploy", **common, "poolRtId": pool or environment_id}, None, []
    assert purl is not None
    chart = f"chart {purl.name}" + (f" version {purl.version}" if purl.version else "")
    if predicate == "rolledback":
        status = f"{ROLLED_BACK}: {chart} (CDEvents service.rolledback)"
    else:
        status = f"{chart} (CDEvents service.{predicate})"
    message = {
        "kind": "outcome",
        **common,
        "poolName": pool or environment_id,
        "success": True,
        "statusMessage": status,
    }
    return message, None, []
