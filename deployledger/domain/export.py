"""The audit export's CSV (`Ledger.audit_csv`, `audit --all`, `GET /v1/audit/export`). Pure.

The columns of `audit -o csv`: the keys of `Attempt.to_audit_json()`, then
`statusMessageEscaped`. RFC 4180 (CRLF line ends, quoted where needed), read back exactly by
Python's csv module; times ISO-8601 in UTC; booleans true/false; empty fields for nulls. A
message holding a NUL is written escaped (NUL as `\\0`, a backslash as `\\\\`) and its row's
`statusMessageEscaped` says true.
"""

from __future__ import annotations

AUDIT_CSV_COLUMNS = (
    "tenantId",
    "workloadRtId",
    "kind",
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
    "chartName",
    "chartVersion",
    "requestPosition",
    "durationSeconds",
    "helmOperation",
    "exitCode",
    "statusMessageEscaped",
)
MESSAGE = AUDIT_CSV_COLUMNS.index("statusMessage")
POSITION = AUDIT_CSV_COLUMNS.index("position")
ESCAPED = AUDIT_CSV_COLUMNS.index("statusMessageEscaped")


def escaped_message(message: str | None) -> tuple[str | None, str]:
    """The CSV cell of a message, and its `statusMessageEscaped` cell."""
    if message is None or "\x00" not in message:
        return message, "false"
    return message.replace("\\", "\\\\").replace("\x00", "\\0"), "true"
