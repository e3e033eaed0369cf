"""The rebuild's run-time check that the rebuilt state rows are the fold of the events.

The set-based rebuild folds in SQL (`setfold`), a second implementation of the domain's
fold. Before the switch, every workload's row of the rebuilt `workload_state` table is
compared, column by column, with the row the projection's own per-event fold gives
(`fold_row` and `fold_lifecycle_row` over `deployledger.domain.workload.fold.fold_event`, and
the effective time: the calls the live runner makes). A history digest per workload (the sums of the
folded numbers over its history rows) covers the states between.

The Python fold reads the same events as the SQL did: the staged rows, decoded once (the
set-based path), or the stored events (the replay path). It skips what only the row
builders need (failure categories, fingerprints), so it costs a fraction of a replay.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, func, select, text

from deployledger.domain.workload.kinds import EventKind
from deployledger.errors import RebuildFailed
from deployledger.projections.project import (
    ATTEMPTED,
    LIFECYCLE,
    REGISTERED,
    EventRecord,
    encode_message,
    fold_lifecycle_row,
    fold_row,
    new_state,
)

# The folded numbers whose sums over a workload's history rows make its history digest.
DIGEST = ("state", "attempts", "failures", "consecutive_failures", "last_duration")
STREAM = 5000  # staged rows fetched at once
# Off only in the benchmark that measures what the check costs (bench/readmodel.py,
# `--only rebuild-foldcheck`); never a setting: a rebuild always checks.
_ENABLED = True

_OUTCOME, _REGISTERED = int(EventKind.OUTCOME), int(EventKind.REGISTERED)
_WORDS = {int(k): k.word for k in EventKind}
# One event, as the fold needs it: position, workload id, version, kind, tenant, runtime id,
# success, workload name, pool name, pool runtime id, workload type, chart name and version,
# values digest, message (searchable text), message (exact bytes or None), occurred at.
Event = tuple[Any, ...]
Difference = tuple[str, str, str, Any, Any]  # tenant, runtime id, column, rebuilt, folded
_STAGED = (
    "SELECT position, workload_id, version, kind, tenant_id, workload_rt_id, success, "
    "workload_name, pool_name, pool_rt_id, workload_type, chart_name, chart_version, "
    "values_digest, message, message_exact, occurred_at FROM rebuild_stage ORDER BY position"
)


@dataclass(slots=True)
class Expected:
    """What the fold of the events gives: each workload's state row (by workload id hex),
    and its history digest (by workload id hex)."""

    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    digests: dict[str, list[float]] = field(default_factory=dict)


def fold_events(events: Iterable[Event]) -> Expected:
    """Fold `events` (in position order) by the projection's per-event fold."""
    expected = Expected()
    states, digests = expected.states, expected.digests
    for event in events:
        position, key, version, kind, tenant, rt_id = event[:6]
        state = states.get(key)
        if state is None:
            record = EventRecord(
                position, key, version, REGISTERED, {"tenant_id": tenant, "workload_rt_id": rt_id}
            )
            state = states[key] = new_state(record)
            digests[key] = [0.0] * len(DIGEST)
        if kind == _REGISTERED:
            continue
        (_, _, _, _, _, _, success, name, pool, pool_rt, wtype, chart, version_, values, text_,
         exact, at) = event  # fmt: skip
        if kind == _OUTCOME:
            row = {
                "position": position,
                "success": bool(success),
                "workload_name": name,
                "pool_name": pool,
                "status_message": text_,
                "status_message_exact": exact,
                "occurred_at": at,
            }
            fold_row(state, row)
        else:
            row = {
                "position": position,
                "kind": _WORDS[kind],
                "workload_name": name,
                "pool_rt_id": pool_rt,
                "workload_type": wtype,
                "chart_name": chart,
                "chart_version": version_,
                "values_digest": values,
                "message": text_,
                "message_exact": exact,
                "occurred_at": at,
            }
            fold_lifecycle_row(state, row, version)
        # `advance` (the effective time: a running maximum), for times already in UTC.
        effective = state["effective_at"]
        if effective is None or at > effective:
            state["effective_at"] = at
        digest = digests[key]  # the sums of DIGEST, unrolled
        digest[0] += state["state"]
        digest[1] += state["attempts"]
        digest[2] += state["failures"]
        digest[3] += state["consecutive_failures"]
        digest[4] += state["last_duration"] or 0.0
    return expected


def staged_events(conn: Connection) -> Iterator[Event]:
    """The set-based rebuild's staged events (the temporary `rebuild_stage` table), with
    their staged UTC text times as datetimes."""
    found = conn.execute(text(_STAGED).execution_options(stream_results=True, yield_per=STREAM))
    parse = datetime.fromisoformat
    for row in found:
        at = row[16]
        yield (*row[:16], None if at is None else parse(at).replace(tzinfo=UTC))


def stored_events(records: Iterable[EventRecord]) -> Iterator[Event]:
    """Stored events decoded for projections, as the fold check takes them."""
    kinds = {t: int(EventKind.of_word(w)) for t, w in LIFECYCLE.items()}
    kinds.update({REGISTERED: _REGISTERED, ATTEMPTED: _OUTCOME})
    for r in records:
        kind = kinds.get(r.topic)
        if kind is None:
            continue
        data = r.data
        message, exact = encode_message(
            data.get("status_message" if kind == _OUTCOME else "message")
        )
        at = data.get("reported_at") or data.get("timestamp")
        yield (
            r.position,
            r.workload_id,
            r.version,
            kind,
            data["tenant_id"],
            data["workload_rt_id"],
            data.get("success"),
            data.get("workload_name"),
            data.get("pool_name"),
            data.get("pool_rt_id"),
            data.get("workload_type"),
            data.get("chart_name"),
            data.get("chart_version"),
            data.get("values_digest"),
            message,
            exact,
            at,
        )


def check(conn: Connection, states: Table, history: Table, expected: Expected) -> None:
    """Raise `RebuildFailed` unless every column of every row of `states`, and every
    workload's history digest in `history`, is what `expected` says; the message names the
    first workload and column that differ."""
    wrong: list[Difference] = []
    seen: set[str] = set()
    for row in conn.execute(select(states)).mappings():
        key = row["workload_id"]
        seen.add(key)
        want = expected.states.get(key)
        if want is None:
            wrong.append((row["tenant_id"], row["workload_rt_id"], "(row)", "present", "absent"))
            continue
        for column, value in row.items():
            if not _same(value, want[column]):
                wrong.append((row["tenant_id"], row["workload_rt_id"], column, value, want[column]))
    for key in expected.states.keys() - seen:
        want = expected.states[key]
        wrong.append((want["tenant_id"], want["workload_rt_id"], "(row)", "absent", "present"))
    if not wrong:
        wrong = _check_history(conn, history, expected)
    if wrong:
        tenant, rt_id, column, found, folded = wrong[0]
        more = f" ({len(wrong) - 1} more differences)" if len(wrong) > 1 else ""
        raise RebuildFailed(
            f"rebuilt read model disagrees with the fold of the events: workload "
            f"{_short(tenant)}/{_short(rt_id)}, column {column}: rebuilt {_short(found)}, "
            f"folded {_short(folded)}{more}; the live read model is untouched"
        )


def _check_history(conn: Connection, history: Table, expected: Expected) -> list[Difference]:
    sums = [func.coalesce(func.sum(history.c[name]), 0) for name in DIGEST]
    found = {
        (tenant, rt_id): values
        for tenant, rt_id, *values in conn.execute(
            select(history.c.tenant_id, history.c.workload_rt_id, *sums).group_by(
                history.c.tenant_id, history.c.workload_rt_id
            )
        )
    }
    wrong: list[Difference] = []
    for key, want in expected.states.items():
        ident = (want["tenant_id"], want["workload_rt_id"])
        got = found.get(ident, [0] * len(DIGEST))
        for name, value, folded in zip(DIGEST, got, expected.digests[key], strict=True):
            if not _close(float(value), folded):
                wrong.append((*ident, f"history {name} (sum)", value, folded))
    return wrong


def _same(value: Any, want: Any) -> bool:
    if isinstance(value, datetime) and isinstance(want, datetime):
        aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value
        return bool(aware == want)
    if isinstance(value, memoryview):
        value = bytes(value)
    return bool(value == want)


def _close(value: float, want: float) -> bool:
    # Sums of floats in another order: equal to a few units in the last place.
    return abs(value - want) <= 1e-9 * max(1.0, abs(want))


def _short(value: Any, limit: int = 80) -> str:
    shown = value if isinstance(value, str) and value in ("present", "absent") else repr(value)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"
