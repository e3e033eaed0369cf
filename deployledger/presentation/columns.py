"""Every table's columns, decided once for the CLI and the dashboard.

- The data columns: the JSON keys of each answer, in order, as `-o csv` writes them (its
  header row) and as `-o json|jsonl` gives them (`STATE_COLUMNS` for `status` and `show`,
  `HISTORY_COLUMNS` / `TIMELINE_COLUMNS` for `history`, `AUDIT_COLUMNS`, `OVERDUE_COLUMNS`,
  `FAILURE_COLUMNS`, `STATS_COLUMNS`, `SINK_COLUMNS`, `RECEIPT_COLUMNS` for `record`);
  `MESSAGE_COLUMNS` are the free-text ones a CSV escapes when they hold a NUL.
- The dashboard's table headers (`FLEET_HEADERS`, `OVERDUE_HEADERS`, `stats_headers(by)`):
  each column's label, css class and tooltip, and the JSON key of the answer it shows, so
  a page and `-o csv` of the same view name the same data.
"""

from __future__ import annotations

from dataclasses import dataclass

from deployledger.domain.insights.export import ATTEMPT_COLUMNS

RECEIPT_COLUMNS = (
    "kind",
    "tenantId",
    "workloadRtId",
    "attempt",
    "position",
    "recordedAt",
    "state",
    "duplicate",
    "messageTruncated",
)
STATE_COLUMNS = (
    "tenantId",
    "workloadRtId",
    "workloadName",
    "poolName",
    "state",
    "statusMessage",
    "attempts",
    "failures",
    "consecutiveFailures",
    "lastAttemptAt",
    "lastSuccessAt",
    "lastFailureAt",
    "poolRtId",
    "workloadType",
    "deployedChartName",
    "deployedChartVersion",
    "pendingChartName",
    "pendingChartVersion",
    "requestedAt",
    "lastDurationSeconds",
    "undeployedAt",
)
HISTORY_COLUMNS = ATTEMPT_COLUMNS  # the export's, after the tenant and workload ids
AUDIT_COLUMNS = ("tenantId", "workloadRtId", *HISTORY_COLUMNS)
# A timeline mixes outcomes (the history columns) with requests, progress and undeploys:
# their keys follow, and a row leaves empty what its kind does not have. Lists (secret
# paths, overrides) are written as JSON text.
TIMELINE_COLUMNS = (
    *HISTORY_COLUMNS,
    "poolRtId",
    "workloadType",
    "repositoryUrl",
    "isReconciliation",
    "ingressEnabled",
    "hostname",
    "receivesClusterSecrets",
    "secretPaths",
    "overrides",
    "valuesDigest",
    "valuesChanged",
    "message",
)
OVERDUE_COLUMNS = (
    "tenantId",
    "workloadRtId",
    "workloadName",
    "poolName",
    "poolRtId",
    "chartName",
    "chartVersion",
    "requestedAt",
    "ageSeconds",
    "progressMessage",
)
FAILURE_COLUMNS = (
    "fingerprint",
    "category",
    "attempts",
    "workloads",
    "stillFailing",
    "tenants",
    "pools",
    "firstSeen",
    "lastSeen",
    "template",
    "exampleTenantId",
    "exampleWorkloadRtId",
    "example",
)
# One row per group; its days are written as JSON text.
STATS_COLUMNS = (
    "by",
    "key",
    "name",
    "since",
    "until",
    "outcomes",
    "successes",
    "failures",
    "deploymentFrequencyPerDay",
    "changeFailureRate",
    "recoveries",
    "recoveryMedianSeconds",
    "recoveryP90Seconds",
    "unrecovered",
    "durationMedianSeconds",
    "durationP90Seconds",
    "overdue",
    "days",
)
SINK_COLUMNS = (
    "name",
    "kind",
    "url",
    "filter",
    "spec",
    "slackText",
    "maxAttempts",
    "backoffSeconds",
    "timeoutSeconds",
    "hasSecret",
    "position",
    "createdAt",
    "delivered",
    "failures",
    "lastError",
    "deadLetters",
    "lagEvents",
)
# The free-text columns a CSV escapes when they hold a NUL, each flagged by `<name>Escaped`.
MESSAGE_COLUMNS = ("statusMessage", "message", "progressMessage")


@dataclass(frozen=True, slots=True)
class Header:
    """One column of a dashboard table: its `<th>` label, css class and tooltip (`title`),
    and `key`, the JSON key (in the view's data columns) of what it shows."""

    label: str
    css: str
    key: str
    title: str = ""


# The fleet page (`/`), the view of `status`.
FLEET_HEADERS = (
    Header("Tenant", "c-tenant", "tenantId"),
    Header("Workload", "c-name", "workloadName"),
    Header("Pool", "c-pool", "poolName"),
    Header("State", "c-state", "state"),
    Header("Chart", "c-chart", "deployedChartName"),
    Header("Att.", "num", "attempts", "attempts"),
    Header("Fail", "num", "failures", "failed attempts"),
    Header("Row", "num", "consecutiveFailures", "failures in a row"),
    Header("Last attempt", "c-ago", "lastAttemptAt"),
    Header("Reason", "c-reason", "statusMessage"),
)
# The overdue page, the view of `overdue`.
OVERDUE_HEADERS = (
    Header("Tenant", "c-tenant", "tenantId"),
    Header("Workload", "c-name", "workloadName"),
    Header("Pool", "c-pool", "poolName"),
    Header("Chart", "c-chart", "chartName"),
    Header("Requested at", "c-when", "requestedAt"),
    Header("Waiting", "c-age", "ageSeconds"),
    Header("Last progress", "c-reason", "progressMessage"),
)
# The stats page's table (after its first column, the group: see `stats_headers`).
_STATS_HEADERS = (
    Header("Deploys", "num", "outcomes", "deployments"),
    Header("Failed", "num", "failures"),
    Header("CFR", "c-age", "changeFailureRate", "change-failure rate"),
    Header("Recovery", "c-age", "recoveryMedianSeconds", "recovery time, median"),
    Header("p90", "c-age", "recoveryP90Seconds", "recovery time, p90"),
    Header("Unrec.", "num", "unrecovered", "failures not recovered from"),
    Header("Duration", "c-age", "durationMedianSeconds", "deploy duration, median"),
    Header("p90", "c-age", "durationP90Seconds", "deploy duration, p90"),
    Header("Overdue", "num", "overdue"),
)


def stats_headers(by: str) -> tuple[Header, ...]:
    """The stats page's table, the view of `stats --by BY`: the group (`Tenant`, `Pool`),
    then its metrics."""
    return (Header(by.capitalize(), "c-tenant", "key"), *_STATS_HEADERS)
