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

# An attempt row's keys, in order: `history`'s columns (and the export's, after the tenant
# and workload ids).
ATTEMPT_COLUMNS = (
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
)
AUDIT_CSV_COLUMNS = ("tenantId", "workloadRtId", *ATTEMPT_COLUMNS, "statusMessageEscaped")


def csv_row(attempt: Attempt) -> list[Any]:
    """The CSV cells of one attempt, for Python's csv writer (None writes an empty field)."""
    row = attempt.to_audit_json()
    message = row["statusMessage"]
    escaped = isinstance(message, str) and "\x00" in message
    if escaped:
        row["statusMessage"] = escape_nul(message)
    cells = [csv_cell(row[name]) for name in AUDIT_CSV_COLUMNS[:-1]]
    return [*cells, "true" if escaped else "false"]


def csv_cell(value: Any) -> Any:
    """One CSV cell, by the rules every CSV of deployledger follows (this export and the
    CLI's `-o csv`): booleans true/false, floats as plain decimals (`0.000064`, never
    `6.4e-05`); anything else as it is (None: the csv writer's empty field)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isfinite(value):
        return plain_number(value)
    return value


def escape_nul(text: str) -> str:
    """A message as a CSV keeps it when it holds a NUL: NUL as `\\0`, a backslash as `\\\\`."""
    return text.replace("\\", "\\\\").replace("\x00", "\\0")
