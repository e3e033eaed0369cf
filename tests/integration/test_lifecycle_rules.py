"""The lifecycle rules (docs/lifecycle-rules.md), each on the three paths, both backends.

Each rule is a short sequence of messages and the state it must leave. The state is read
from the aggregate (`current()`), from the projection (`workloads()`) and again from the
projection after the set-based rebuild (whose run-time check also compares it with the
Python fold). Nothing a later message says nothing about may be lost.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pytest
from support import TENANT, progress, report, request, undeploy

from deployledger import DeploymentState, Ledger

RT = "rt-rules"


def at(minutes: int, seconds: int = 0) -> str:
    return f"2026-11-01T10:{minutes:02d}:{seconds:02d}Z"


@dataclass(frozen=True)
class Rule:
    name: str
    messages: list[dict[str, Any]]
    expected: dict[str, Any]
    # Each attempt's (chart_name, chart_version, duration), oldest first.
    attempts: list[tuple[str | None, str | None, float | None]] = field(default_factory=list)


RULES = [
    Rule(
        "a success closing a request deploys its chart and measures its duration",
        [request(RT, version="1.0.0", reportedAt=at(0)), report(RT, reportedAt=at(1, 30))],
        {
            "state": DeploymentState.DEPLOYED,
            "deployed_chart_version": "1.0.0",
            "pending_chart_name": None,
            "last_duration": 90.0,
        },
        [("billing", "1.0.0", 90.0)],
    ),
    Rule(
        "a success with no request open keeps the deployed chart and the last duration",
        [
            request(RT, version="1.0.0", reportedAt=at(0)),
            report(RT, reportedAt=at(1, 30)),
            report(RT, reportedAt=at(5)),
        ],
        {
            "state": DeploymentState.DEPLOYED,
            "deployed_chart_name": "billing",
            "deployed_chart_version": "1.0.0",
            "last_duration": 90.0,
            "attempts": 2,
        },
        [("billing", "1.0.0", 90.0), (None, None, None)],
    ),
    Rule(
        "a success with no request ever deploys no known chart",
        [report(RT, reportedAt=at(1))],
        {"state": DeploymentState.DEPLOYED, "deployed_chart_name": None, "last_duration": None},
        [(None, None, None)],
    ),
    Rule(
        "a failure keeps the chart deployed before it",
        [
            request(RT, version="1.0.0", reportedAt=at(0)),
            report(RT, reportedAt=at(1)),
            request(RT, version="2.0.0", reportedAt=at(2)),
            report(RT, success=False, message="Error: boom", reportedAt=at(2, 45)),
        ],
        {
            "state": DeploymentState.ERROR,
            "deployed_chart_version": "1.0.0",
            "pending_chart_name": None,
            "status_message": "Error: boom",
            "last_duration": 45.0,
        },
        [("billing", "1.0.0", 60.0), ("billing", "2.0.0", 45.0)],
    ),
    Rule(
        "an undeploy followed by a success without a request leaves no chart deployed",
        [
            request(RT, version="1.0.0", reportedAt=at(0)),
            report(RT, reportedAt=at(1)),
            undeploy(RT, reportedAt=at(2)),
            report(RT, reportedAt=at(3)),
        ],
        {
            "state": DeploymentState.DEPLOYED,
            "deployed_chart_name": None,
            "last_duration": 60.0,
            "undeployed_at_set": True,
        },
        [("billing", "1.0.0", 60.0), (None, None, None)],
    ),
    Rule(
        "an undeploy closes the open request: the next outcome measures nothing",
        [
            request(RT, version="1.0.0", reportedAt=at(0)),
            undeploy(RT, reportedAt=at(1)),
            report(RT, success=False, message="Error: late", reportedAt=at(2)),
        ],
        {
            "state": DeploymentState.ERROR,
            "deployed_chart_name": None,
            "pending_chart_name": None,
            "last_duration": None,
        },
        [(None, None, None)],
    ),
    Rule(
        "of two requests in a row the outcome closes the second",
        [
            request(RT, version="1.0.0", reportedAt=at(0)),
            request(RT, version="2.0.0", reportedAt=at(1)),
            report(RT, reportedAt=at(1, 20)),
        ],
        {
            "state": DeploymentState.DEPLOYED,
            "deployed_chart_version": "2.0.0",
            "pending_chart_name": None,
            "last_duration": 20.0,
        },
        [("billing", "2.0.0", 20.0)],
    ),
    Rule(
        "progress keeps the open request and shows its text",
        [
            request(RT, version="1.0.0", reportedAt=at(0)),
            progress(RT, "Pod x waiting: ImagePullBackOff", reportedAt=at(1)),
        ],
        {
            "state": DeploymentState.PENDING,
            "pending_chart_version": "1.0.0",
            "status_message": "Pod x waiting: ImagePullBackOff",
            "requested_at_set": True,
        },
    ),
    Rule(
        "progress after an outcome keeps the deployed chart, the counters and the times",
        [
            request(RT, version="1.0.0", reportedAt=at(0)),
            report(RT, reportedAt=at(1)),
            report(RT, success=False, message="Error: boom", reportedAt=at(2)),
            progress(RT, "Pod x waiting", reportedAt=at(3)),
        ],
        {
            "state": DeploymentState.PENDING,
            "status_message": "Pod x waiting",
            "deployed_chart_version": "1.0.0",
            "pending_chart_name": None,
            "attempts": 2,
            "failures": 1,
            "consecutive_failures": 1,
            "last_duration": 60.0,
            "last_success_at_set": True,
            "last_failure_at_set": True,
        },
        [("billing", "1.0.0", 60.0), (None, None, None)],
    ),
]


def observed(state: Any) -> dict[str, Any]:
    fields = dataclasses.asdict(state)
    for name in ("undeployed_at", "requested_at", "last_success_at", "last_failure_at"):
        fields[f"{name}_set"] = fields[name] is not None
    return fields


@pytest.mark.parametrize("rule", RULES, ids=[r.name for r in RULES])
def test_each_lifecycle_rule_holds_on_the_aggregate_the_projection_and_the_rebuild(
    ledger: Ledger, rule: Rule
) -> None:
    for message in rule.messages:
        ledger.record(message)
    current = ledger.current(TENANT, RT)
    assert current is not None
    aggregate = observed(current)
    assert {k: aggregate[k] for k in rule.expected} == rule.expected
    (row,) = ledger.workloads(tenant_id=TENANT)
    assert observed(row) == aggregate
    attempts = [(a.chart_name, a.chart_version, a.duration) for a in ledger.history(TENANT, RT)]
    assert attempts[::-1] == rule.attempts
    audited = ledger.audit(tenant_id=TENANT, limit=100).items
    ledger.rebuild()  # set-based, and checked against the Python fold before the switch
    (rebuilt,) = ledger.workloads(tenant_id=TENANT)
    assert observed(rebuilt) == aggregate
    assert ledger.audit(tenant_id=TENANT, limit=100).items == audited
