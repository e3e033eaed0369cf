"""The one fold: how an event changes a workload's state. Pure, and the only copy.

Both the `Workload` aggregate (state as attributes) and the read-model projection
(state as a row) call these functions on a mutable mapping of the same field names,
so `Ledger.current()` and `Ledger.workloads()` cannot disagree on the rule.

The lifecycle: a deploy request makes the workload Pending and opens the request;
progress keeps it Pending with the progress text as its message; the outcome
(Deployed or Error) closes the open request; an undeploy makes it Undeployed. An outcome
that closes no request measures nothing and deploys no known chart: the last measured
duration and the deployed chart stay. The rules, one per case, are in
docs/lifecycle-rules.md.

`fold_event` is the one dispatch from an event (its kind and stored fields) to its
`fold_*` call; the aggregate and the projection both go through it.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from deployledger.domain.workload.kinds import EventKind
from deployledger.domain.workload.state import DeploymentState

# The version of these rules. A snapshot of the aggregate records the rules it was folded
# under; one folded under other rules is not used (the events are replayed instead).
# 2: a success with no open request keeps the deployed chart.
FOLD_RULES = 2

# The fields the fold owns that answers show; each side may keep more of its own (the
# idempotency window, the read model's last position and exact message bytes).
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
    "pool_rt_id",
    "workload_type",
    "deployed_chart_name",
    "deployed_chart_version",
    "pending_chart_name",
    "pending_chart_version",
    "requested_at",
    "last_duration",
    "undeployed_at",
)
# Folded too, but only for the fold's own use: the open request's version in the
# workload's stream, and the digest of the latest request's values.
INTERNAL_FIELDS = ("request_version", "values_digest")


def registered() -> dict[str, Any]:
    """The state of a workload that has just been registered: no attempt yet."""
    state: dict[str, Any] = dict.fromkeys(FOLDED_FIELDS + INTERNAL_FIELDS)
    state.update(
        state=int(DeploymentState.UNDEPLOYED), attempts=0, failures=0, consecutive_failures=0
    )
    return state


@dataclass(frozen=True, slots=True)
class Correlation:
    """What an outcome learns from the request it closes."""

    chart_name: str | None = None
    chart_version: str | None = None
    request_version: int | None = None
    duration: float | None = None  # seconds, from request to outcome


NO_REQUEST = Correlation()


@dataclass(frozen=True, slots=True)
class Folded:
    """What folding one event learned: for an outcome, the request it closed; for a
    request, whether its values differ from the previous request's (None: the first)."""

    correlation: Correlation = NO_REQUEST
    values_changed: bool | None = None


NOTHING = Folded()
_OUTCOME, _REQUEST, _PROGRESS, _UNDEPLOY = (
    EventKind.OUTCOME.word,
    EventKind.REQUEST.word,
    EventKind.PROGRESS.word,
    EventKind.UNDEPLOY.word,
)


def fold_event(
    state: MutableMapping[str, Any],
    kind: str,
    fields: Mapping[str, Any],
    *,
    version: int,
    at: datetime,
) -> Folded:
    """Apply one event of `kind` (an `EventKind` word) to `state`, in place.

    `fields` are the event's fields by their stored names (`success`, `workload_name`,
    `pool_name`, `status_message` of an outcome; `pool_rt_id`, `workload_type`,
    `chart_name`, `chart_version`, `values_digest` of a request or undeploy; `message` of a
    progress message); the values are kept as given. `version` is the event's version in
    its workload's stream, `at` when it occurred.
    """
    if kind == _OUTCOME:
        correlation = fold_attempt(
            state,
            success=fields["success"],
            workload_name=fields["workload_name"],
            pool_name=fields["pool_name"],
            status_message=fields["status_message"],
            at=at,
        )
        return NOTHING if correlation is NO_REQUEST else Folded(correlation)
    if kind == _REQUEST:
        changed = fold_request(
            state,
            workload_name=fields["workload_name"],
            pool_rt_id=fields["pool_rt_id"],
            workload_type=fields["workload_type"],
            chart_name=fields["chart_name"],
            chart_version=fields["chart_version"],
            values_digest=fields["values_digest"],
            version=version,
            at=at,
        )
        return NOTHING if changed is None else Folded(values_changed=changed)
    if kind == _PROGRESS:
        fold_progress(state, workload_name=fields["workload_name"], message=fields["message"])
        return NOTHING
    if kind == _UNDEPLOY:
        fold_undeploy(
            state,
            workload_name=fields["workload_name"],
            pool_rt_id=fields["pool_rt_id"],
            workload_type=fields["workload_type"],
            at=at,
        )
        return NOTHING
    raise ValueError(f"no fold for events of kind {kind!r}")


def fold_attempt(
    state: MutableMapping[str, Any],
    *,
    success: bool,
    workload_name: str,
    pool_name: str | None,
    status_message: Any,
    at: datetime,
) -> Correlation:
    """Apply one helm attempt (an outcome) to `state`, in place; return what it learned
    from the open request it closes (`NO_REQUEST` when none was open).

    `status_message` is stored as given: the aggregate keeps the text, the read model
    its searchable form. `at` is when the attempt occurred (the sender's `reportedAt`, else
    the recording time); it is kept in UTC.
    """
    at = at.astimezone(UTC)
    correlation = NO_REQUEST
    requested: datetime | None = state["requested_at"]
    if requested is not None:
        if requested.tzinfo is None:  # a read-model row from SQLite: stored in UTC
            requested = requested.replace(tzinfo=UTC)
        correlation = Correlation(
            chart_name=state["pending_chart_name"],
            chart_version=state["pending_chart_version"],
            request_version=state["request_version"],
            duration=(at - requested).total_seconds(),
        )
        state["last_duration"] = correlation.duration
        _close_request(state)
    state["attempts"] += 1
    state["workload_name"] = workload_name
    state["pool_name"] = pool_name
    state["state"] = int(DeploymentState.after_attempt(success))
    state["status_message"] = status_message
    state["last_attempt_at"] = at
    if success:
        state["consecutive_failures"] = 0
        state["last_success_at"] = at
        if correlation is not NO_REQUEST:
            # A success with no open request says nothing about the chart: the previously
            # deployed one (None after an undeploy) stays.
            state["deployed_chart_name"] = correlation.chart_name
            state["deployed_chart_version"] = correlation.chart_version
    else:
        state["failures"] += 1
        state["consecutive_failures"] += 1
        state["last_failure_at"] = at
    return correlation


def fold_request(
    state: MutableMapping[str, Any],
    *,
    workload_name: str,
    pool_rt_id: str | None,
    workload_type: str | None,
    chart_name: str,
    chart_version: str | None,
    values_digest: str,
    version: int,
    at: datetime,
) -> bool | None:
    """Apply a deploy request: Pending, with this request open. Returns whether its values
    differ from the previous request's (None for the workload's first request)."""
    changed = None if state["values_digest"] is None else state["values_digest"] != values_digest
    state["workload_name"] = workload_name
    if pool_rt_id is not None:
        state["pool_rt_id"] = pool_rt_id
    if workload_type is not None:
        state["workload_type"] = workload_type
    state["state"] = int(DeploymentState.PENDING)
    state["status_message"] = None
    state["pending_chart_name"] = chart_name
    state["pending_chart_version"] = chart_version
    state["requested_at"] = at.astimezone(UTC)
    state["request_version"] = version
    state["values_digest"] = values_digest
    return changed


def fold_progress(state: MutableMapping[str, Any], *, workload_name: str, message: Any) -> None:
    """Apply a progress message: Pending, with the progress text as the message."""
    state["workload_name"] = workload_name
    state["state"] = int(DeploymentState.PENDING)
    state["status_message"] = message


def fold_undeploy(
    state: MutableMapping[str, Any],
    *,
    workload_name: str,
    pool_rt_id: str | None,
    workload_type: str | None,
    at: datetime,
) -> None:
    """Apply an undeploy: Undeployed, no request open, nothing deployed."""
    state["workload_name"] = workload_name
    if pool_rt_id is not None:
        state["pool_rt_id"] = pool_rt_id
    if workload_type is not None:
        state["workload_type"] = workload_type
    _close_request(state)
    state["state"] = int(DeploymentState.UNDEPLOYED)
    state["status_message"] = None
    state["deployed_chart_name"] = None
    state["deployed_chart_version"] = None
    state["undeployed_at"] = at.astimezone(UTC)


def _close_request(state: MutableMapping[str, Any]) -> None:
    state["pending_chart_name"] = None
    state["pending_chart_version"] = None
    state["requested_at"] = None
    state["request_version"] = None
