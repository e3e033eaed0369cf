"""The projection: a plain function from events to read-model row changes. No I/O.

The runner owns the transactions; this module only says what each event does to
the `workload_state` and `deployment_attempts` rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from deployledger.domain.fold import fold_attempt, registered
from deployledger.domain.state import DeploymentState
from deployledger.domain.workload import Workload, attempt_number

REGISTERED = Workload.Registered.TOPIC
ATTEMPTED = Workload.DeploymentAttempted.TOPIC


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
    """Row changes for one batch: new attempt rows, and the final state row per workload."""

    attempts: list[dict[str, Any]] = field(default_factory=list)
    states: dict[str, dict[str, Any]] = field(default_factory=dict)  # by workload_id hex
    new_states: set[str] = field(default_factory=set)


def new_state(record: EventRecord) -> dict[str, Any]:
    return {
        "tenant_id": record.data["tenant_id"],
        "workload_rt_id": record.data["workload_rt_id"],
        "workload_id": record.workload_id,
        **registered(),
        "status_message_exact": None,
        "last_position": record.position,
    }


def _utc(value: datetime | None) -> datetime | None:
    # Stored in UTC: SQLite's DateTime keeps the wall-clock time and drops the offset.
    return None if value is None else value.astimezone(UTC)


def attempt_row(record: EventRecord) -> dict[str, Any]:
    data = record.data
    text, exact = encode_message(data["status_message"])
    success = bool(data["success"])
    return {
        "position": record.position,
        "tenant_id": data["tenant_id"],
        "workload_rt_id": data["workload_rt_id"],
        "attempt": attempt_number(record.version),
        "recorded_at": data["timestamp"],
        "reported_at": _utc(data["reported_at"]),
        "occurred_at": _utc(data["reported_at"] or data["timestamp"]),
        "success": success,
        "state": int(DeploymentState.after_attempt(success)),
        "status_message": text,
        "status_message_exact": exact,
        "workload_name": data["workload_name"],
        "pool_name": data["pool_name"],
        "message_id": data["message_id"],
        "message_truncated": bool(data.get("message_truncated", False)),  # 0.1.0: never
    }


def fold_row(state: dict[str, Any], row: dict[str, Any]) -> None:
    """Apply one attempt row to a workload's state row, in place, by the domain's fold."""
    fold_attempt(
        state,
        success=row["success"],
        workload_name=row["workload_name"],
        pool_name=row["pool_name"],
        status_message=row["status_message"],
        at=row["occurred_at"],
    )
    state["status_message_exact"] = row["status_message_exact"]
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
        if record.topic != ATTEMPTED:
            continue
        row = attempt_row(record)
        changes.attempts.append(row)
        state = changes.states.get(key)
        if state is None:
            found = existing.get(key)
            if found is None:  # registration not seen (should not happen): derive identity
                state = new_state(record)
                changes.new_states.add(key)
            else:
                state = dict(found)
            changes.states[key] = state
        fold_row(state, row)
    return changes
