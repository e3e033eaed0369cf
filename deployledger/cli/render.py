"""Plain-text rendering for the CLI: tables and key/value blocks, terminal-safe."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

from deployledger import Attempt, DeploymentState, Receipt, WorkloadState
from deployledger.presentation import display, times
from deployledger.presentation.durations import format_duration, plain_json
from deployledger.presentation.headline import summary as summary
from deployledger.presentation.rows import reason as reason

_SAFE = display.KEEP
_NONE = display.NOTHING
UNSAFE_CATEGORIES = display.UNSAFE_CATEGORIES
is_unsafe = display.is_unsafe
replace_unsafe = display.replace_unsafe
escape_for_terminal = display.escape_char
safe = display.safe
clip = display.clip
one_line = display.one_line
when = times.when


def key(tenant_id: str, workload_rt_id: str) -> str:
    return f"{one_line(tenant_id)}/{one_line(workload_rt_id)}"


def receipt_line(receipt: Receipt) -> str:
    """`recorded t/rt attempt 3 Error` for an outcome (as before there were other kinds),
    `recorded t/rt request Pending` for a request, progress message or undeploy."""
    verb = "duplicate" if receipt.duplicate else "recorded"
    what = receipt.kind if receipt.attempt is None else f"attempt {receipt.attempt}"
    return f"{verb} {key(receipt.tenant_id, receipt.workload_rt_id)} {what} {receipt.state.label}"


def chart(name: str | None, version: str | None) -> str:
    """`checkout-api 1.4.2`; `checkout-api (newest)` when a request named no version;
    `-` for none. Terminal-safe, one line."""
    if name is None:
        return "-"
    return f"{one_line(name)} {one_line(version) if version else '(newest)'}"


def pending_age(state: WorkloadState, now: datetime | None = None) -> str:
    """How long the open deploy request has waited (`4m 12s`), `""` if none is open."""
    age = state.pending_age(now)
    return "" if age is None else format_duration(age.total_seconds())


def indent(text: str, prefix: str) -> str:
    lines = safe(text).split("\n")
    return "\n".join([lines[0], *(prefix + line for line in lines[1:])])


def state_block(state: WorkloadState, zone: tzinfo = UTC, now: datetime | None = None) -> str:
    """The workload's state, a field a line; `now` is when the pending age is measured to."""
    pad = " " * 18
    pending = "-"
    if state.requested_at is not None:
        pending = f"{pending_age(state, now)} (requested {when(state.requested_at, zone)})"
    rows = [
        ("workload", safe(state.workload_name or "-")),
        ("pool", safe(state.pool_name or "-")),
        ("state", state.state.label),
        ("deployed chart", chart(state.deployed_chart_name, state.deployed_chart_version)),
        ("pending chart", chart(state.pending_chart_name, state.pending_chart_version)),
        ("pending age", pending),
        (
            "attempts",
            f"{state.attempts} ({state.failures} failed, {state.consecutive_failures} in a row)",
        ),
        ("last attempt", when(state.last_attempt_at, zone)),
        ("last success", when(state.last_success_at, zone)),
        ("last failure", when(state.last_failure_at, zone)),
        # The last duration measured (an outcome closing a request), not necessarily the
        # last attempt's: an outcome with no request open measures nothing.
        ("last measured", format_duration(state.last_duration)),
    ]
    if state.undeployed_at is not None:
        rows.append(("undeployed at", when(state.undeployed_at, zone)))
    if state.state is DeploymentState.ERROR and state.status_message:
        rows.append(("reason", summary(state.status_message)))
    rows.append(("message", indent(state.status_message, pad) if state.status_message else "-"))
    head = key(state.tenant_id, state.workload_rt_id)
    return head + "\n" + "\n".join(f"  {name:<16}{value}" for name, value in rows)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, right: set[int]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths[i], len(cell))

    def fmt(row: Sequence[str]) -> str:
        cells = [
            (cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]))
            if i < len(row) - 1
            else cell
            for i, cell in enumerate(row)
        ]
        return "  ".join(cells).rstrip()

    return "\n".join([fmt(headers), *(fmt(r) for r in rows)])


def to_json(value: Any) -> str:
    """One line of JSON, exact, with no character a terminal could act on written raw: those
    json.dumps leaves as they are (DEL, C1, format characters, ...) become `\\uXXXX`. Numbers
    are plain decimals, never in exponent notation (`0.000064`, not `6.4e-05`)."""
    return replace_unsafe(plain_json(value), _json_escape, keep=_NONE)


def _json_escape(char: str) -> str:
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def fleet_table(
    states: Sequence[WorkloadState], zone: tzinfo = UTC, now: datetime | None = None
) -> str:
    """One row per workload; a PENDING FOR column (the age of the open deploy request)
    when any of them has one open."""
    pending = any(s.requested_at is not None for s in states)
    headers = ["TENANT", "WORKLOAD RT ID", "WORKLOAD", "POOL", "STATE", "ATTEMPTS", "FAILED"]
    headers += ["IN A ROW", "LAST ATTEMPT", *(["PENDING FOR"] if pending else []), "REASON"]
    rows = []
    for s in states:
        row = [
            one_line(s.tenant_id),
            one_line(s.workload_rt_id),
            one_line(s.workload_name or "-"),
            one_line(s.pool_name or "-"),
            s.state.label,
            str(s.attempts),
            str(s.failures),
            str(s.consecutive_failures),
            when(s.last_attempt_at, zone),
        ]
        if pending:
            row.append(pending_age(s, now) or "-")
        rows.append([*row, reason(s)])
    return table(headers, rows, right={5, 6, 7, 9} if pending else {5, 6, 7})


def audit_table(attempts: Sequence[Attempt], zone: tzinfo = UTC) -> str:
    headers = ["POSITION", "OCCURRED AT", "WORKLOAD", "NAME", "POOL", "ATTEMPT", "STATE"]
    headers += ["CATEGORY", "MESSAGE"]
    rows = [
        [
            str(a.position),
            when(a.occurred_at, zone),
            key(a.tenant_id, a.workload_rt_id),
            one_line(a.workload_name),
            one_line(a.pool_name or "-"),
            str(a.attempt),
            a.state.label,
            a.category or "-",
            summary(a.status_message, width=80),
        ]
        for a in attempts
    ]
    return table(headers, rows, right={0, 5})
