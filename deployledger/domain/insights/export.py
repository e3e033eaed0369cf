"""The audit export's CSV (`Ledger.audit_csv`, `audit --all`, `GET /v1/audit/export`). Pure.

The columns of `audit -o csv`: the keys of `Attempt.to_audit_json()`, then
`statusMessageEscaped`. RFC 4180 (CRLF line ends, quoted where needed), read back exactly by
Python's csv module; times ISO-8601 in UTC; seconds as plain decimals (`0.000064`, never in
exponent notation); booleans true/false; empty fields for nulls. A
message holding a NUL is written escaped (NUL as `\\0`, a backslash as `\\\\`) and its row's
`statusMessageEscaped` says true.
"""

from __future__ import annotations

import math
from typing import Any

from deployledger.domain.decimals import plain_number
from deployledger.domain.workload.records import Attempt

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
    "category",
    "fingerprint",
    "statusMessageEscaped",
)


def csv_row(attempt: Attempt) -> list[Any]:
    """The CSV cells of one attempt, for Python's csv writer (None writes an empty field)."""
    row = attempt.to_audit_json()
    message = row["statusMessage"]
    escaped = isinstance(message, str) and "\x00" in message
    if escaped:
        row["statusMessage"] = message.replace("\\", "\\\\").replace("\x00", "\\0")
    cells = [_cell(row[name]) for name in AUDIT_CSV_COLUMNS[:-1]]
    return [*cells, "true" if escaped else "false"]


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isfinite(value):
        return plain_number(value)  # `0.000064`, never `6.4e-05`
    return value
