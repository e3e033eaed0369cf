"""How a message, a duration and a time read, decided once for every surface.

The CLI (`deployledger.cli`) and the dashboard (`deployledger.http.dashboard`) both import
this package, so `status`, `history`, the fleet page and the workload page never disagree:

- `headline`: the one line a table shows for a message (helm's `Error:` line; in the
  operator's `helm … failed with exit code N. stderr: …` wrapper, taken from the stderr,
  with the operation and exit code beside it);
- `display`: safe display, every control, C1, bidi and zero-width character shown visibly
  escaped (`\\x1b`, `\\u202e`), in a terminal table and in HTML alike;
- `durations`: `45s`, `4m 12s`, `1h 3m`, `< 1s` for people; plain decimal seconds (never
  exponent notation) for JSON and CSV (`plain_number`, `plain_json`);
- `times`: a time to the second, `2024-05-01T12:00:00Z` in UTC;
- `categories`: a failure's category and fingerprint, by the library's own rules;
- `csvcells`: a CSV cell (booleans, plain decimal seconds, a message's NUL escaped), by the
  rules of the library's audit export;
- `rows`: a workload row's reason and failure category;
- `columns`: every table's columns: the JSON keys of each answer, in order (`-o csv`'s
  header row), and the dashboard tables' headers, each naming the key it shows.

Pure: no I/O. It sits below the entry points and above the service (the layers contract in
`pyproject.toml`), and imports the public `deployledger` package and, so that each rule
lives once, the domain's failure rules and plain decimals.
"""

from deployledger.presentation.categories import category_of, fingerprint_of
from deployledger.presentation.columns import (
    AUDIT_COLUMNS,
    FAILURE_COLUMNS,
    FLEET_HEADERS,
    HISTORY_COLUMNS,
    MESSAGE_COLUMNS,
    OVERDUE_COLUMNS,
    OVERDUE_HEADERS,
    RECEIPT_COLUMNS,
    SINK_COLUMNS,
    STATE_COLUMNS,
    STATS_COLUMNS,
    TIMELINE_COLUMNS,
    Header,
    stats_headers,
)
from deployledger.presentation.csvcells import csv_cell, escape_nul
from deployledger.presentation.display import clip, escape_char, is_unsafe, one_line, safe
from deployledger.presentation.durations import (
    decimal_seconds,
    format_duration,
    plain_json,
    plain_number,
)
from deployledger.presentation.headline import Headline, headline, is_debug, parse_headline, summary
from deployledger.presentation.rows import failed_category, reason
from deployledger.presentation.times import when

__all__ = [
    "AUDIT_COLUMNS",
    "FAILURE_COLUMNS",
    "FLEET_HEADERS",
    "HISTORY_COLUMNS",
    "MESSAGE_COLUMNS",
    "OVERDUE_COLUMNS",
    "OVERDUE_HEADERS",
    "RECEIPT_COLUMNS",
    "SINK_COLUMNS",
    "STATE_COLUMNS",
    "STATS_COLUMNS",
    "TIMELINE_COLUMNS",
    "Header",
    "Headline",
    "category_of",
    "clip",
    "csv_cell",
    "decimal_seconds",
    "escape_char",
    "escape_nul",
    "failed_category",
    "fingerprint_of",
    "format_duration",
    "headline",
    "is_debug",
    "is_unsafe",
    "one_line",
    "parse_headline",
    "plain_json",
    "plain_number",
    "reason",
    "safe",
    "stats_headers",
    "summary",
    "when",
]
