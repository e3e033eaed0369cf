"""The one fold: how an event changes a workload's state. Pure, and the only copy.

Both the `Workload` aggregate (state as attributes) and the read-model projection
(state as a row) call these functions on a mutable mapping of the same field names,
so `Ledger.current()` and `Ledger.workloads()` cannot disagree on the rule.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any

from deployledger.domain.state import DeploymentState

# The fields the fold owns; each side may keep more of its own (the idempotency
# window, the read model's last position and exact message bytes).
FOLDED_FIELDS = (
    "workload_name",
    "pool_name",
    "state",
    "status_message",
    "attempts",
    "failures",
    "consecutive_failures",
    "last_attempt_at",
    "last_success_at",
    "last_failure_at",
)


def registered() -> dict[str, Any]:
    """The state of a workload that has just been registered: no attempt yet."""
    return {
        "workload_name": None,
        "pool_name": None,
        "state": int(DeploymentState.UNDEPLOYED),
        "status_message": None,
        "attempts": 0,
        "failures": 0,
        "consecutive_failures": 0,
        "last_attempt_at": None,
        "last_success_at": None,
        "last_failure_at": None,
    }


def fold_attempt(
    state: MutableMapping[str, Any],
    *,
    success: bool,
    workload_name: str,
    pool_name: str | None,
    status_message: Any,
    at: datetime,
) -> None:
    """Apply one helm attempt to `state`, in place.

    `status_message` is stored as given: the aggregate keeps the text, the read model
    its searchable form. `at` is when the attempt occurred (the sender's `reportedAt`, else
    the recording time); it is kept in UTC.
    """
    at = at.astimezone(UTC)
    state["attempts"] += 1
    state["workload_name"] = workload_name
    state["pool_name"] = pool_name
    state["state"] = int(DeploymentState.after_attempt(success))
    state["status_message"] = status_message
    state["last_attempt_at"] = at
    if success:
        state["consecutive_failures"] = 0
        state["last_success_at"] = at
    else:
        state["failures"] += 1
        state["consecutive_failures"] += 1
        state["last_failure_at"] = at
