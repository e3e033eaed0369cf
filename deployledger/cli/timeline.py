"""The tables of `history`: a workload's whole timeline (deploy requests, progress, outcomes,
undeploys) with a KIND column, or its attempts alone (`--attempts`). Terminal-safe.

Each row: the attempt number (outcomes; `-` otherwise), when it occurred, the state it
left, the chart (a request's, or the one of the request an outcome closed), how long the
request took to its outcome, the helm operation and exit code read from an operator's
failure message, a failure's category, and a one-line message: an outcome's or progress
message's headline, a request's `values changed` / `values unchanged` / `first request`.
`--full` prints under each row the whole message, or what a request asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, tzinfo

from deployledger import Attempt, DeploymentState, LifecycleEntry
from deployledger.cli.render import chart, indent, one_line, summary, table, when
from deployledger.presentation.durations import format_duration

Entry = Attempt | LifecycleEntry

# The state a request, progress message or undeploy leaves (see the fold's rules).
STATE_AFTER = {
    "request": DeploymentState.PENDING,
    "progress": DeploymentState.PENDING,
    "undeploy": DeploymentState.UNDEPLOYED,
}
_BODY = "    "


def history_table(
    entries: Sequence[Entry], *, full: bool, zone: tzinfo = UTC, kinds: bool = False
) -> str:
    """The rows of `entries` (newest first, as given); with `kinds`, a KIND column too (the
    timeline), else the attempts' table as it always was, plus CHART to EXIT."""
    headers = ["ATTEMPT", "OCCURRED AT", *(["KIND"] if kinds else []), "STATE", "CHART"]
    headers += ["DURATION", "HELM", "EXIT", "CATEGORY", "MESSAGE"]
    rows = []
    for entry in entries:
        row = _row(entry, zone)
        if not kinds:
            del row[2]
        if full:
            row[-1] = ""
        rows.append(row)
    lines = table(headers, rows, right={0}).split("\n")
    if not full:
        return "\n".join(lines)
    out = [lines[0]]
    for line, entry in zip(lines[1:], entries, strict=True):
        out += [line, body(entry)]
    return "\n".join(out)


def _row(entry: Entry, zone: tzinfo) -> list[str]:
    """ATTEMPT, OCCURRED AT, KIND, STATE, CHART, DURATION, HELM, EXIT, CATEGORY, MESSAGE."""
    occurred = when(entry.occurred_at, zone)
    if isinstance(entry, Attempt):
        return [
            str(entry.attempt),
            occurred,
            "outcome",
            entry.state.label,
            chart(entry.chart_name, entry.chart_version),
            format_duration(entry.duration),
            one_line(entry.helm_operation) if entry.helm_operation else "-",
            "-" if entry.exit_code is None else str(entry.exit_code),
            entry.category or "-",
            summary(entry.status_message),
        ]
    state = STATE_AFTER.get(entry.kind)
    what = ["-", occurred, one_line(entry.kind), "-" if state is None else state.label]
    if entry.kind == "request":
        chart_ = chart(entry.chart_name, entry.chart_version)
        return [*what, chart_, "-", "-", "-", "-", values(entry)]
    return [*what, "-", "-", "-", "-", "-", summary(entry.message)]


def values(request: LifecycleEntry) -> str:
    """`values changed`, `values unchanged` (since the workload's previous request) or
    `first request`; `, reconciliation` for a restore after a pool re-registration."""
    if request.values_changed is None:
        text = "first request"
    else:
        text = "values changed" if request.values_changed else "values unchanged"
    return text + (", reconciliation" if request.is_reconciliation else "")


def body(entry: Entry) -> str:
    """What `--full` prints under a row: the whole message, indented; for a request, what
    it asked for (never a secret: only what the ledger keeps)."""
    if isinstance(entry, Attempt):
        text = entry.status_message
    elif entry.kind == "request":
        return "\n".join(_BODY + line for line in _request_lines(entry))
    else:
        text = entry.message
    return _BODY + indent(text, _BODY) if text else _BODY + "-"


def _request_lines(request: LifecycleEntry) -> list[str]:
    details = [
        ("repository", request.repository_url),
        ("values digest", request.values_digest),
        ("overrides", ", ".join(f"{p}={v or ''}" for p, v in request.overrides) or None),
        ("secret paths", ", ".join(request.secret_paths) or None),
        ("workload type", request.workload_type),
        ("pool rt id", request.pool_rt_id),
        ("hostname", request.hostname),
        ("ingress", _flag(request.ingress_enabled, "enabled", "disabled")),
        ("cluster secrets", _flag(request.receives_cluster_secrets, "received", "not received")),
    ]
    lines = [f"{name}: {one_line(value)}" for name, value in details if value is not None]
    return [values(request), *lines]


def _flag(value: bool | None, yes: str, no: str) -> str | None:
    return None if value is None else (yes if value else no)
