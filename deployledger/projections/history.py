"""The fleet at a past moment: one history row per folded event. Pure.

A workload's events are folded in position order. Each gets an *effective time*: the
running maximum of `occurred_at` (the sender's reportedAt, else the recording time) over
the workload's events so far, so that effective times never go backwards even when a
sender's clock does. The state as of an instant T is the state after the workload's last
event whose effective time is <= T; a workload with no such event did not exist yet.

Registration is not a history event: a workload appears with its first message (which is
stored in the same transaction). Events of unknown topics are skipped, as by the fold.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from deployledger.domain.workload.fold import FOLDED_FIELDS

# The state columns a history row keeps, besides its identity, position and effective time.
HISTORY_FIELDS = (*FOLDED_FIELDS, "status_message_exact")


def _utc(value: datetime) -> datetime:
    # SQLite hands stored timestamps back without a zone: they are UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def advance(state: dict[str, Any], occurred_at: datetime) -> datetime:
    """Move the workload's effective time (`state["effective_at"]`) to `occurred_at` unless
    it is already later; return the new effective time."""
    previous = state.get("effective_at")
    occurred = _utc(occurred_at)
    effective = occurred if previous is None else max(_utc(previous), occurred)
    state["effective_at"] = effective
    return effective


def history_row(state: Mapping[str, Any], position: int) -> dict[str, Any]:
    """The history row of the event at `position`: the workload's state right after it."""
    row = {name: state[name] for name in HISTORY_FIELDS}
    row.update(
        position=position,
        tenant_id=state["tenant_id"],
        workload_rt_id=state["workload_rt_id"],
        effective_at=state["effective_at"],
    )
    return row


def memberships(row: Mapping[str, Any]) -> set[tuple[str, str, str]]:
    """(pool, tenant, runtime id) for each pool name or pool runtime id the row names: the
    pools a workload was ever in, which the fleet-at-T query starts from."""
    return {
        (pool, row["tenant_id"], row["workload_rt_id"])
        for pool in (row["pool_name"], row["pool_rt_id"])
        if pool is not None
    }
