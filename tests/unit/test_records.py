"""What the ledger answers, as the contract's camelCase JSON (receipts, states, attempts)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from deployledger import (
    Attempt,
    DeploymentState,
    LifecycleEntry,
    Overdue,
    Receipt,
    WorkloadState,
)

AT = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
PLUS_TWO = datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))


class TestJSONForms:
    def test_a_receipt_has_exactly_the_contract_keys(self) -> None:
        receipt = Receipt("t1", "rt", 3, 42, AT, DeploymentState.ERROR, False)
        assert receipt.to_json() == {
            "kind": "outcome",
            "tenantId": "t1",
            "workloadRtId": "rt",
            "attempt": 3,
            "position": 42,
            "recordedAt": "2024-05-01T12:00:00.123456+00:00",
            "state": "Error",
            "duplicate": False,
            "messageTruncated": False,
        }

    def test_a_state_has_exactly_the_contract_keys(self) -> None:
        state = WorkloadState(
            "t1", "rt", "api", None, DeploymentState.DEPLOYED, None, 2, 1, 0, AT, AT, None
        )
        assert state.to_json() == {
            "tenantId": "t1",
            "workloadRtId": "rt",
            "workloadName": "api",
            "poolName": None,
            "state": "Deployed",
            "statusMessage": None,
            "attempts": 2,
            "failures": 1,
            "consecutiveFailures": 0,
            "lastAttemptAt": "2024-05-01T12:00:00.123456+00:00",
            "lastSuccessAt": "2024-05-01T12:00:00.123456+00:00",
            "lastFailureAt": None,
            "poolRtId": None,
            "workloadType": None,
            "deployedChartName": None,
            "deployedChartVersion": None,
            "pendingChartName": None,
            "pendingChartVersion": None,
            "requestedAt": None,
            "lastDurationSeconds": None,
            "undeployedAt": None,
        }
        assert state.pending_age() is None

    def test_a_history_item_has_exactly_the_contract_keys(self) -> None:
        attempt = Attempt(
            "t1",
            "rt",
            1,
            AT,
            PLUS_TWO,
            False,
            DeploymentState.ERROR,
            "boom\x00",
            "api",
            "p",
            "m",
            7,
            category="unknown",
            fingerprint="0123456789ab",
        )
        assert attempt.to_json() == {
            "kind": "outcome",
            "attempt": 1,
            "recordedAt": "2024-05-01T12:00:00.123456+00:00",
            "reportedAt": "2024-05-01T14:00:00+02:00",
            "success": False,
            "state": "Error",
            "statusMessage": "boom\x00",
            "workloadName": "api",
            "poolName": "p",
            "messageId": "m",
            "position": 7,
            "messageTruncated": False,
            "chartName": None,
            "chartVersion": None,
            "requestPosition": None,
            "durationSeconds": None,
            "helmOperation": None,
            "exitCode": None,
            "category": "unknown",
            "fingerprint": "0123456789ab",
        }

    def test_every_json_form_serialises_and_keeps_the_message_exactly(self) -> None:
        attempt = Attempt(
            "t1", "rt", 1, AT, None, False, DeploymentState.ERROR, "\x00\n🚀", "api", None, None, 1
        )
        assert json.loads(json.dumps(attempt.to_json()))["statusMessage"] == "\x00\n🚀"
        assert datetime.fromisoformat(attempt.to_json()["recordedAt"]) == AT


class TestLifecycleForms:
    def test_a_receipt_of_a_request_has_no_attempt_number(self) -> None:
        receipt = Receipt("t1", "rt", None, 9, AT, DeploymentState.PENDING, True, "request")
        assert receipt.to_json() == {
            "kind": "request",
            "tenantId": "t1",
            "workloadRtId": "rt",
            "attempt": None,
            "position": 9,
            "recordedAt": "2024-05-01T12:00:00.123456+00:00",
            "state": "Pending",
            "duplicate": True,
            "messageTruncated": False,
        }

    def test_a_pending_state_knows_its_age(self) -> None:
        state = WorkloadState(
            "t1",
            "rt",
            "api",
            None,
            DeploymentState.PENDING,
            None,
            0,
            0,
            0,
            None,
            None,
            None,
            pending_chart_name="billing",
            pending_chart_version="1.2.3",
            requested_at=AT,
        )
        assert state.pending_age(AT + timedelta(minutes=4, seconds=2)) == timedelta(
            minutes=4, seconds=2
        )
        assert state.to_json()["requestedAt"] == "2024-05-01T12:00:00.123456+00:00"
        assert state.to_json()["pendingChartVersion"] == "1.2.3"

    def test_a_request_entry_shows_what_was_stored_and_no_more(self) -> None:
        entry = LifecycleEntry(
            "request",
            "t1",
            "rt",
            5,
            AT,
            PLUS_TWO,
            "api",
            "m-1",
            pool_rt_id="pool-1",
            workload_type="Adapter",
            chart_name="billing",
            chart_version=None,
            repository_url="https://charts.example.com",
            is_reconciliation=False,
            ingress_enabled=True,
            hostname="h.example.com",
            receives_cluster_secrets=False,
            secret_paths=("db.password",),
            overrides=(("image.tag", "v1"),),
            values_digest="sha256:ab",
            values_changed=True,
        )
        assert entry.occurred_at == PLUS_TWO
        assert entry.to_json() == {
            "kind": "request",
            "position": 5,
            "recordedAt": "2024-05-01T12:00:00.123456+00:00",
            "reportedAt": "2024-05-01T14:00:00+02:00",
            "workloadName": "api",
            "messageId": "m-1",
            "poolRtId": "pool-1",
            "workloadType": "Adapter",
            "chartName": "billing",
            "chartVersion": None,
            "repositoryUrl": "https://charts.example.com",
            "isReconciliation": False,
            "ingressEnabled": True,
            "hostname": "h.example.com",
            "receivesClusterSecrets": False,
            "secretPaths": ["db.password"],
            "overrides": [{"path": "image.tag", "value": "v1"}],
            "valuesDigest": "sha256:ab",
            "valuesChanged": True,
        }

    def test_progress_and_undeploy_entries(self) -> None:
        step = LifecycleEntry("progress", "t1", "rt", 6, AT, None, "api", None, message="x\x00")
        assert step.to_json()["message"] == "x\x00"
        assert step.to_json()["messageTruncated"] is False
        gone = LifecycleEntry("undeploy", "t1", "rt", 7, AT, None, "api", None, pool_rt_id="p")
        assert gone.to_json() == {
            "kind": "undeploy",
            "position": 7,
            "recordedAt": "2024-05-01T12:00:00.123456+00:00",
            "reportedAt": None,
            "workloadName": "api",
            "messageId": None,
            "poolRtId": "p",
            "workloadType": None,
        }

    def test_an_overdue_deploy_gives_its_age_in_seconds(self) -> None:
        late = Overdue(
            "t1",
            "rt",
            "api",
            "pool-a",
            "pool-rt-1",
            "billing",
            "1.2.3",
            AT,
            timedelta(minutes=20, milliseconds=1),
            "waiting",
        )
        assert late.to_json() == {
            "tenantId": "t1",
            "workloadRtId": "rt",
            "workloadName": "api",
            "poolName": "pool-a",
            "poolRtId": "pool-rt-1",
            "chartName": "billing",
            "chartVersion": "1.2.3",
            "requestedAt": "2024-05-01T12:00:00.123456+00:00",
            "ageSeconds": 1200.001,
            "progressMessage": "waiting",
        }
