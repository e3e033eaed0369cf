"""The projection: a plain function from events to read-model row changes. No I/O.

The runner owns the transactions; this module only says what each event does to the
`workload_state`, `deployment_attempts` and `lifecycle_events` rows. `Ledger.timeline()`
runs the same function over one workload's events, so history and read model agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from deployledger.domain.insights.failures import categorize, fingerprint
from deployledger.domain.messages.truncation import helm_failure
from deployledger.domain.workload.aggregate import Workload
from deployledger.domain.workload.fold import fold_event, registered
from deployledger.domain.workload.kinds import EventKind
from deployledger.domain.workload.state import DeploymentState
from deployledger.projections.history import advance, history_row, memberships

REGISTERED = Workload.Registered.TOPIC
ATTEMPTED = Workload.DeploymentAttempted.TOPIC
REQUESTED = Workload.DeploymentRequested.TOPIC
PROGRESSED = Workload.DeploymentProgressed.TOPIC
UNDEPLOYED = Workload.Undeployed.TOPIC
_OUTCOME, _REQUEST, _PROGRESS = (
    EventKind.OUTCOME.word,
    EventKind.REQUEST.word,
    EventKind.PROGRESS.word,
)
LIFECYCLE = {
    REQUESTED: EventKind.REQUEST.word,
    PROGRESSED: EventKind.PROGRESS.word,
    UNDEPLOYED: EventKind.UNDEPLOY.word,
}


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One stored event as the projection sees it: position, identity, topic, decoded state."""

    position: int
    workload_id: str  # the aggregate id, 32 hex digits
    version: int
    topic: str
    data: dict[str, Any]


def encode_message(message: str | None) -> tuple[str | None, bytes | None]:
    """(searchable text, exact bytes or None). NUL cannot live in PostgreSQL `text`, so a
    message holding one is searchable with U+FFFD in its place and kept exactly as bytes."""
    if message is None or "\x00" not in message:
        return message, None
    return message.replace("\x00", "\ufffd"), message.encode("utf-8")


def decode_message(text: str | None, exact: bytes | None) -> str | None:
    """The exact message back from its two columns."""
    return bytes(exact).decode("utf-8") if exact is not None else text


@dataclass(slots=True)
class Changes:
    """Row changes for one batch: new attempt and lifecycle rows, and the final state row
    per workload."""

    attempts: list[dict[str, Any]] = field(default_factory=list)
    lifecycle: list[dict[str, Any]] = field(default_factory=list)
    states: dict[str, dict[str, Any]] = field(default_factory=dict)  # by workload_id hex
    new_states: set[str] = field(default_factory=set)
    history: list[dict[str, Any]] = field(default_factory=list)  # the state after each event
    pools: set[tuple[str, str, str]] = field(default_factory=set)  # (pool, tenant, rt id)


def new_state(record: EventRecord) -> dict[str, Any]:
    return {
        "tenant_id": record.data["tenant_id"],
        "workload_rt_id": record.data["workload_rt_id"],
        "workload_id": record.workload_id,
        **registered(),
        "status_message_exact": None,
        "request_position": None,
        "last_position": record.position,
        "effective_at": None,
    }


def failure_fields(
    success: bool, message: str | None
) -> tuple[str | None, int | None, str | None, str | None]:
    """An outcome's helm operation and exit code, and (failures only) its category and
    fingerprint, by the domain's rules."""
    operation, exit_code = helm_failure(message)
    if success:
        return operation, exit_code, None, None
    return operation, exit_code, categorize(message), fingerprint(message)


def attempt_row(record: EventRecord) -> dict[str, Any]:
    """An outcome's row, before the fold numbers it and correlates it with its request."""
    data = record.data
    text, exact = encode_message(data["status_message"])
    success = bool(data["success"])
    operation, exit_code, category, fingerprint_ = failure_fields(success, data["status_message"])
    return {
        "position": record.position,
        "tenant_id": data["tenant_id"],
        "workload_rt_id": data["workload_rt_id"],
        "attempt": 0,
        "recorded_at": data["timestamp"],
        "reported_at": data["reported_at"],  # the sender's offset; stored in UTC
        "occurred_at": data["reported_at"] or data["timestamp"],
        "success": success,
        "state": int(DeploymentState.after_attempt(success)),
        "status_message": text,
        "status_message_exact": exact,
        "workload_name": data["workload_name"],
        "pool_name": data["pool_name"],
        "message_id": data["message_id"],
        "message_truncated": bool(data.get("message_truncated", False)),  # 0.1.0: never
        "chart_name": None,
        "chart_version": None,
        "request_position": None,
        "duration": None,
        "helm_operation": operation,
        "exit_code": exit_code,
        "category": category,
        "fingerprint": fingerprint_,
    }


def fold_row(state: dict[str, Any], row: dict[str, Any]) -> None:
    """Apply one attempt row to a workload's state row, in place, by the domain's fold;
    the row gets its attempt number and what it learned from the request it closed."""
    request_position = state["request_position"]
    # An outcome's version in its stream is not folded: 0 stands for it.
    correlation = fold_event(state, _OUTCOME, row, version=0, at=row["occurred_at"]).correlation
    row["attempt"] = state["attempts"]
    if correlation.request_version is not None:
        row["chart_name"] = correlation.chart_name
        row["chart_version"] = correlation.chart_version
        row["request_position"] = request_position
        row["duration"] = correlation.duration
    state["request_position"] = None
    state["status_message_exact"] = row["status_message_exact"]
    state["last_position"] = row["position"]


def lifecycle_row(record: EventRecord, kind: str) -> dict[str, Any]:
    """A request's, progress message's or undeploy's row (the fold fills `values_changed`)."""
    data = record.data
    text, exact = encode_message(data.get("message"))
    return {
        "position": record.position,
        "tenant_id": data["tenant_id"],
        "workload_rt_id": data["workload_rt_id"],
        "kind": kind,
        "recorded_at": data["timestamp"],
        "reported_at": data["reported_at"],  # the sender's offset; stored in UTC
        "occurred_at": data["reported_at"] or data["timestamp"],
        "workload_name": data["workload_name"],
        "message_id": data["message_id"],
        "pool_rt_id": data.get("pool_rt_id"),
        "workload_type": data.get("workload_type"),
        "chart_name": data.get("chart_name"),
        "chart_version": data.get("chart_version"),
        "repository_url": data.get("repository_url"),
        "is_reconciliation": data.get("is_reconciliation"),
        "ingress_enabled": data.get("ingress_enabled"),
        "hostname": data.get("hostname"),
        "receives_cluster_secrets": data.get("receives_cluster_secrets"),
        "secret_paths": _json_or_none(data.get("secret_paths")),
        "overrides": _json_or_none(data.get("overrides")),
        "values_digest": data.get("values_digest"),
        "values_changed": None,
        "message": text,
        "message_exact": exact,
        "message_truncated": bool(data.get("message_truncated", False)),
    }


def _json_or_none(value: Any) -> str | None:
    # Compact, as the event stores it: the set-based rebuild copies that text as it is.
    return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def fold_lifecycle_row(state: dict[str, Any], row: dict[str, Any], version: int) -> None:
    """Apply a request, progress or undeploy row to a workload's state row, in place."""
    kind = row["kind"]
    folded = fold_event(state, kind, row, version=version, at=row["occurred_at"])
    if kind == _REQUEST:
        row["values_changed"] = folded.values_changed
        state["request_position"] = row["position"]
        state["status_message_exact"] = None
    elif kind == _PROGRESS:
        state["status_message_exact"] = row["message_exact"]
    else:
        state["request_position"] = None
        state["status_message_exact"] = None
    state["last_position"] = row["position"]


def project(records: list[EventRecord], existing: dict[str, dict[str, Any]]) -> Changes:
    """The row changes for a batch of events, given the current state rows they touch.

    `existing` maps workload_id hex to its current state row (it is not modified).
    Events of unknown topics are skipped, so that newer writers cannot break older readers.
    """
    changes = Changes()
    for record in records:
        key = record.workload_id
        if record.topic == REGISTERED:
            if key not in changes.states and key not in existing:
                changes.states[key] = new_state(record)
                changes.new_states.add(key)
            continue
        kind = LIFECYCLE.get(record.topic)
        if record.topic != ATTEMPTED and kind is None:
            continue
        state = changes.states.get(key)
        if state is None:
            found = existing.get(key)
            if found is None:  # registration not seen (should not happen): derive identity
                state = new_state(record)
                changes.new_states.add(key)
            else:
                state = dict(found)
            changes.states[key] = state
        # The pools of the state before this event are known memberships already: they
        # were recorded by the event that set them.
        known = (state["pool_name"], state["pool_rt_id"])
        if kind is None:
            row = attempt_row(record)
            fold_row(state, row)
            changes.attempts.append(row)
        else:
            row = lifecycle_row(record, kind)
            fold_lifecycle_row(state, row, record.version)
            changes.lifecycle.append(row)
        advance(state, row["occurred_at"])
        step = history_row(state, record.position)
        changes.history.append(step)
        changes.pools |= {m for m in memberships(step) if m[0] not in known}
    return changes
