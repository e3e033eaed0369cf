"""The timeline tables of `history` and the table of `overdue` (`deployledger.cli.timeline`,
`deployledger.cli.overdue`): one row per entry of any kind, terminal-safe. No I/O."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from deployledger import Attempt, DeploymentState, LifecycleEntry, Overdue
from deployledger.cli import timeline
from deployledger.cli.overdue import overdue_table
from deployledger.domain.insights.failures import categorize, fingerprint

AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
UNSAFE = {"Cc", "Cf", "Cs", "Zl", "Zp"}
OPERATOR = (
    "helm upgrade --install my-release failed with exit code 1. stderr: "
    "Error: UPGRADE FAILED: timed out waiting for the condition"
)


def entry(kind: str, minutes: int, **fields: Any) -> LifecycleEntry:
    values: dict[str, Any] = {
        "kind": kind,
        "tenant_id": "t1",
        "workload_rt_id": "rt-1",
        "position": 100 - minutes,
        "recorded_at": AT,
        "reported_at": AT - timedelta(minutes=minutes),
        "workload_name": "billing-api",
        "message_id": None,
    }
    values.update(fields)
    return LifecycleEntry(**values)


def outcome(number: int, minutes: int, message: str | None, **fields: Any) -> Attempt:
    values: dict[str, Any] = {
        "tenant_id": "t1",
        "workload_rt_id": "rt-1",
        "attempt": number,
        "recorded_at": AT,
        "reported_at": AT - timedelta(minutes=minutes),
        "success": message is None,
        "state": DeploymentState.DEPLOYED if message is None else DeploymentState.ERROR,
        "status_message": message,
        "workload_name": "billing-api",
        "pool_name": "pool-a",
        "message_id": None,
        "position": 100 - minutes,
        # As the ledger derives them: a failure's category and fingerprint, none for a success.
        "category": None if message is None else categorize(message),
        "fingerprint": None if message is None else fingerprint(message),
    }
    values.update(fields)
    return Attempt(**values)


LIFECYCLE: list[Attempt | LifecycleEntry] = [
    entry("undeploy", 1),
    outcome(2, 5, None, chart_name="billing-api", chart_version="1.4.3", duration=90.0),
    entry("request", 7, chart_name="billing-api", chart_version="1.4.3", values_changed=False),
    outcome(
        1,
        10,
        OPERATOR,
        chart_name="billing-api",
        chart_version="1.4.2",
        duration=252.0,
        helm_operation="upgrade --install my-release",
        exit_code=1,
    ),
    entry("progress", 12, message="Pod x container 'y' waiting: ImagePullBackOff"),
    entry(
        "request",
        14,
        chart_name="billing-api",
        chart_version=None,
        is_reconciliation=True,
        repository_url="https://charts.example.com/stable",
        secret_paths=("db.password",),
        overrides=(("image.tag", "1.4.2"), ("debug", None)),
        values_digest="sha256:abc",
        ingress_enabled=True,
        hostname="billing.example",
    ),
]


class TestTimeline:
    def test_every_kind_is_a_row_with_its_state_chart_duration_helm_exit_category_and_message(
        self,
    ) -> None:
        assert timeline.history_table(LIFECYCLE, full=False, kinds=True).split("\n") == [
            "ATTEMPT  OCCURRED AT           KIND      STATE       CHART                 "
            "DURATION  HELM                          EXIT  CATEGORY      MESSAGE",
            "      -  2024-05-01T11:59:00Z  undeploy  Undeployed  -                     "
            "-         -                             -     -",
            "      2  2024-05-01T11:55:00Z  outcome   Deployed    billing-api 1.4.3     "
            "1m 30s    -                             -     -",
            "      -  2024-05-01T11:53:00Z  request   Pending     billing-api 1.4.3     "
            "-         -                             -     -             values unchanged",
            "      1  2024-05-01T11:50:00Z  outcome   Error       billing-api 1.4.2     "
            "4m 12s    upgrade --install my-release  1     wait-timeout  "
            "Error: UPGRADE FAILED: timed out waiting for the condition "
            "(helm upgrade --install my-release, exit…",
            "      -  2024-05-01T11:48:00Z  progress  Pending     -                     "
            "-         -                             -     -             "
            "Pod x container 'y' waiting: ImagePullBackOff",
            "      -  2024-05-01T11:46:00Z  request   Pending     billing-api (newest)  "
            "-         -                             -     -             "
            "first request, reconciliation",
        ]

    def test_values_say_changed_unchanged_or_first(self) -> None:
        assert timeline.values(entry("request", 1, values_changed=True)) == "values changed"
        assert timeline.values(entry("request", 1, values_changed=False)) == "values unchanged"
        assert timeline.values(entry("request", 1)) == "first request"

    def test_full_shows_whole_messages_and_what_a_request_asked_for(self) -> None:
        lines = timeline.history_table(LIFECYCLE, full=True, kinds=True).split("\n")
        rows = timeline.history_table(LIFECYCLE, full=False, kinds=True).split("\n")
        # Each row as in the table but for its message, then what it holds, indented.
        column = rows[0].index("MESSAGE")
        assert [lines[0], *lines[1:12:2]] == [rows[0], *(r[:column].rstrip() for r in rows[1:])]
        assert lines[2] == "    -"  # an undeploy
        assert lines[4] == "    -"  # an outcome without a message
        assert lines[6] == "    values unchanged"
        assert lines[8] == "    " + OPERATOR
        assert lines[10] == "    Pod x container 'y' waiting: ImagePullBackOff"
        assert lines[12:] == [
            "    first request, reconciliation",
            "    repository: https://charts.example.com/stable",
            "    values digest: sha256:abc",
            "    overrides: image.tag=1.4.2, debug=",
            "    secret paths: db.password",
            "    hostname: billing.example",
            "    ingress: enabled",
        ]

    def test_the_attempts_view_has_no_kind_column_and_outcomes_only(self) -> None:
        attempts = [e for e in LIFECYCLE if isinstance(e, Attempt)]
        lines = timeline.history_table(attempts, full=False).split("\n")
        assert lines[0].split()[:4] == ["ATTEMPT", "OCCURRED", "AT", "STATE"]
        assert "KIND" not in lines[0]
        assert [line.split()[0] for line in lines[1:]] == ["2", "1"]
        assert lines[2].split()[3:5] == ["billing-api", "1.4.2"]

    def test_times_follow_the_display_zone(self) -> None:
        shown = timeline.history_table(LIFECYCLE, full=False, zone=ZoneInfo("Asia/Tokyo"))
        assert "2024-05-01T20:59:00+09:00" in shown

    @given(
        text=st.text(st.characters(max_codepoint=0x3000), max_size=30),
        kind=st.sampled_from(["request", "progress", "undeploy"]),
    )
    def test_no_control_character_reaches_a_timeline(self, text: str, kind: str) -> None:
        shown_entry = entry(
            kind,
            3,
            message=text,
            chart_name=text or "c",
            chart_version=text,
            repository_url=text,
            hostname=text,
            secret_paths=(text,),
            overrides=((text, text),),
        )
        for full in (False, True):
            shown = timeline.history_table([shown_entry], full=full, kinds=True)
            # A whole message keeps its line breaks and tabs; nothing else gets through.
            kept = shown.replace("\n", "").replace("\t", "") if full else shown.replace("\n", "")
            assert not [c for c in kept if unicodedata.category(c) in UNSAFE]
            assert len(shown.split("\n")) == 2 or full


class TestOverdueTable:
    def test_one_row_per_overdue_deploy_with_its_age_and_last_progress(self) -> None:
        rows = [
            Overdue(
                "t1",
                "rt-1",
                "billing-api",
                None,
                "pool-rt-9",
                "billing-api",
                "1.4.4",
                AT - timedelta(hours=1),
                timedelta(hours=1, minutes=2, seconds=3),
                "Pod x waiting: \x1b[31mImagePullBackOff\nmore",
            ),
            Overdue("t2", "rt-2", None, "pool-a", None, "c", None, AT, timedelta(minutes=20), None),
        ]
        assert overdue_table(rows).split("\n") == [
            "TENANT  WORKLOAD RT ID  WORKLOAD     POOL       CHART              "
            "REQUESTED AT            AGE  PROGRESS",
            "t1      rt-1            billing-api  pool-rt-9  billing-api 1.4.4  "
            "2024-05-01T11:00:00Z  1h 2m  Pod x waiting: \\x1b[31mImagePullBackOff …",
            "t2      rt-2            -            pool-a     c (newest)         "
            "2024-05-01T12:00:00Z    20m",
        ]
