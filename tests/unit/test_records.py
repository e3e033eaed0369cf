"""What the ledger answers, as the contract's camelCase JSON (receipts, states, attempts)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from deployledger import Attempt, DeploymentState, Receipt, WorkloadState

AT = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
PLUS_TWO = datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))


class TestJSONForms:
    def test_a_receipt_has_exactly_the_contract_keys(self) -> None:
        receipt = Receipt("t1", "rt", 3, 42, AT, DeploymentState.ERROR, False)
        assert receipt.to_json() == {
            "tenantId": "t1",
            "workloadRtId": "rt",
            "attempt": 3,
            "position": 42,
            "recordedAt": "2024-05-01T12:00:00.123456+00:00",
            "state": "Error",
            "duplicate": False,
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
        }

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
        )
        assert attempt.to_json() == {
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
        }

    def test_every_json_form_serialises_and_keeps_the_message_exactly(self) -> None:
        attempt = Attempt(
            "t1", "rt", 1, AT, None, False, DeploymentState.ERROR, "\x00\n🚀", "api", None, None, 1
        )
        assert json.loads(json.dumps(attempt.to_json()))["statusMessage"] == "\x00\n🚀"
        assert datetime.fromisoformat(attempt.to_json()["recordedAt"]) == AT
