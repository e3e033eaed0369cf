"""Plain-text rendering for the CLI: tables and key/value blocks, terminal-safe."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from deployledger import Attempt, Receipt, WorkloadState

_SAFE = {"\n", "\t"}


def safe(text: str, *, keep: set[str] = _SAFE) -> str:
    """Escape control characters (ANSI sequences, NUL, ...) so a message cannot drive the
    terminal; newlines and tabs are kept unless excluded."""
    out = []
    for char in text:
        code = ord(char)
        if char not in keep and (code < 0x20 or 0x7F <= code < 0xA0):
            out.append(f"\\x{code:02x}")
        else:
            out.append(char)
    return "".join(out)


def first_line(message: str | None, width: int = 100) -> str:
    if not message:
        return ""
    line = safe(message.splitlines()[0] if message.splitlines() else "", keep=set())
    more = len(message.splitlines()) > 1
    if len(line) > width:
        return line[: width - 1] + "…"
    return line + (" …" if more else "")


def when(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def key(tenant_id: str, workload_rt_id: str) -> str:
    return f"{safe(tenant_id, keep=set())}/{safe(workload_rt_id, keep=set())}"


def receipt_line(receipt: Receipt) -> str:
    verb = "duplicate" if receipt.duplicate else "recorded"
    return (
        f"{verb} {key(receipt.tenant_id, receipt.workload_rt_id)} "
        f"attempt {receipt.attempt} {receipt.state.label}"
    )


def indent(text: str, prefix: str) -> str:
    lines = safe(text).split("\n")
    return "\n".join([lines[0], *(prefix + line for line in lines[1:])])


def state_block(state: WorkloadState) -> str:
    pad = " " * 18
    rows = [
        ("workload", safe(state.workload_name or "-")),
        ("pool", safe(state.pool_name or "-")),
        ("state", state.state.label),
        (
            "attempts",
            f"{state.attempts} ({state.failures} failed, {state.consecutive_failures} in a row)",
        ),
        ("last attempt", when(state.last_attempt_at)),
        ("last success", when(state.last_success_at)),
        ("last failure", when(state.last_failure_at)),
        ("message", indent(state.status_message, pad) if state.status_message else "-"),
    ]
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


def history_table(attempts: Sequence[Attempt], *, full: bool) -> str:
    headers = ["ATTEMPT", "OCCURRED AT", "STATE", "MESSAGE"]
    rows = [
        [
            str(a.attempt),
            when(a.occurred_at),
            a.state.label,
            "" if full else first_line(a.status_message),
        ]
        for a in attempts
    ]
    lines = table(headers, rows, right={0}).split("\n")
    if not full:
        return "\n".join(lines)
    out = [lines[0]]
    for line, a in zip(lines[1:], attempts, strict=True):
        body = "    " + indent(a.status_message, "    ") if a.status_message else "    -"
        out += [line, body]
    return "\n".join(out)


def to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def fleet_table(states: Sequence[WorkloadState]) -> str:
    headers = ["TENANT", "WORKLOAD RT ID", "WORKLOAD", "POOL", "STATE", "ATTEMPTS", "FAILED"]
    headers += ["IN A ROW", "LAST ATTEMPT"]
    rows = [
        [
            safe(s.tenant_id, keep=set()),
            safe(s.workload_rt_id, keep=set()),
            safe(s.workload_name or "-", keep=set()),
            safe(s.pool_name or "-", keep=set()),
            s.state.label,
            str(s.attempts),
            str(s.failures),
            str(s.consecutive_failures),
            when(s.last_attempt_at),
        ]
        for s in states
    ]
    return table(headers, rows, right={5, 6, 7})


def audit_table(attempts: Sequence[Attempt]) -> str:
    headers = ["POSITION", "OCCURRED AT", "WORKLOAD", "NAME", "POOL", "ATTEMPT", "STATE"]
    headers += ["MESSAGE"]
    rows = [
        [
            str(a.position),
            when(a.occurred_at),
            key(a.tenant_id, a.workload_rt_id),
            safe(a.workload_name, keep=set()),
            safe(a.pool_name or "-", keep=set()),
            str(a.attempt),
            a.state.label,
            first_line(a.status_message, width=80),
        ]
        for a in attempts
    ]
    return table(headers, rows, right={0, 5})


AUDIT_COLUMNS = [
    "tenantId",
    "workloadRtId",
    "attempt",
    "recordedAt",
    "reportedAt",
    "success",
    "state",
    "statusMessage",
    "workloadName",
    "poolName",
    "messageId",
    "position",
    "messageTruncated",
]
