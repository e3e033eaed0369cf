"""The JSON keys that the deployment lifecycle (issue 8) added to each answer, written out:
what the CLI prints must have exactly the keys of `support` plus these (a union, so that the
tests stay right once `support` lists them too)."""

from __future__ import annotations

from support import AUDIT_KEYS, HISTORY_KEYS, RECEIPT_KEYS, STATE_KEYS

RECEIPT = RECEIPT_KEYS | {"kind"}
STATE = STATE_KEYS | {
    "poolRtId",
    "workloadType",
    "deployedChartName",
    "deployedChartVersion",
    "pendingChartName",
    "pendingChartVersion",
    "requestedAt",
    "lastDurationSeconds",
    "undeployedAt",
}
_OUTCOME = {
    "kind",
    "chartName",
    "chartVersion",
    "requestPosition",
    "durationSeconds",
    "helmOperation",
    "exitCode",
    "category",  # issue 20
    "fingerprint",
}
HISTORY = HISTORY_KEYS | _OUTCOME
AUDIT = AUDIT_KEYS | _OUTCOME

# A timeline entry that is not an outcome.
_ENTRY = {"kind", "position", "recordedAt", "reportedAt", "workloadName", "messageId"}
REQUEST = _ENTRY | {
    "poolRtId",
    "workloadType",
    "chartName",
    "chartVersion",
    "repositoryUrl",
    "isReconciliation",
    "ingressEnabled",
    "hostname",
    "receivesClusterSecrets",
    "secretPaths",
    "overrides",
    "valuesDigest",
    "valuesChanged",
}
PROGRESS = _ENTRY | {"message", "messageTruncated"}
UNDEPLOY = _ENTRY | {"poolRtId", "workloadType"}

# The CSV of a timeline: the outcome's columns in their JSON order, then these, then a flag
# per message column.
TIMELINE_EXTRA_COLUMNS = [
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
]
OVERDUE = [
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
]
