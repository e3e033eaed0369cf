"""A reused messageId with other content is an error; oversized messages are kept, cut."""

from __future__ import annotations

import hashlib

import pytest
from support import report

from deployledger import IdempotencyConflict, InvalidReport, Ledger

MIB = 1024 * 1024


class TestIdempotencyConflicts:
    def test_the_same_content_again_is_a_duplicate(self, ledger: Ledger) -> None:
        first = ledger.record(report("rt", success=False, message="boom", messageId="m-1"))
        again = ledger.record(report("rt", success=False, message="boom", messageId="m-1"))
        assert again.duplicate
        assert (again.attempt, again.position) == (first.attempt, first.position)

    def test_other_content_is_a_conflict_that_names_the_earlier_attempt(
        self, ledger: Ledger
    ) -> None:
        ledger.record(report("rt", success=True, messageId="m-1"))
        before = ledger.max_position()
        with pytest.raises(IdempotencyConflict) as raised:
            ledger.record(report("rt", success=False, message="boom", messageId="m-1"))
        assert isinstance(raised.value, InvalidReport)
        assert "'m-1' was already recorded as attempt 1 of t1/rt" in str(raised.value)
        assert raised.value.problems[0].field == "messageId"
        assert ledger.max_position() == before
        assert ledger.get("t1", "rt").attempts == 1

    def test_a_conflict_in_a_batch_stores_nothing_of_the_batch(self, ledger: Ledger) -> None:
        ledger.record(report("rt", messageId="m-1"))
        before = ledger.max_position()
        batch = [
            report("other"),
            report("rt", messageId="m-2"),
            report("rt", success=False, messageId="m-1"),
        ]
        with pytest.raises(IdempotencyConflict) as raised:
            ledger.record_many(batch)
        assert raised.value.problems[0].report == 3
        assert ledger.max_position() == before
        assert ledger.current("t1", "other") is None
        # The ledger is still consistent: the next write lands where it should.
        assert ledger.record(report("rt", messageId="m-2")).attempt == 2

    def test_a_conflict_within_one_batch_is_found_too(self, ledger: Ledger) -> None:
        with pytest.raises(IdempotencyConflict):
            ledger.record_many(
                [report("rt", messageId="m-1"), report("rt", success=False, messageId="m-1")]
            )
        assert ledger.max_position() == 0

    def test_a_conflict_with_an_attempt_before_a_snapshot_is_found(self, ready_url: str) -> None:
        with Ledger.open(ready_url, snapshot_interval=3) as ledger:
            ledger.record_many([report("rt", messageId=f"m-{n}") for n in range(7)])
        with Ledger.open(ready_url, snapshot_interval=3) as ledger:  # cold: from a snapshot
            assert ledger.record(report("rt", messageId="m-0")).duplicate
            with pytest.raises(IdempotencyConflict, match="attempt 1 of"):
                ledger.record(report("rt", message="other", messageId="m-0"))


class TestOversizedMessages:
    def test_an_oversized_message_is_kept_cut_in_the_middle(self, ledger: Ledger) -> None:
        message = "head " + "x" * MIB + " Error: UPGRADE FAILED: the real error"
        receipt = ledger.record(report("rt", success=False, message=message))
        attempt = ledger.history("t1", "rt")[0]
        stored = attempt.status_message or ""
        assert attempt.message_truncated
        assert len(stored.encode()) <= MIB
        assert stored.startswith("head x")
        assert stored.endswith(" Error: UPGRADE FAILED: the real error")
        assert hashlib.sha256(message.encode()).hexdigest() in stored
        assert f"of {len(message.encode())} (sha256" in stored
        audited = ledger.audit().items[0]
        assert audited.message_truncated
        assert audited.status_message == stored
        assert audited.to_json()["messageTruncated"] is True
        assert receipt.state.label == "Error"

    def test_a_message_within_the_limit_is_not_marked(self, ledger: Ledger) -> None:
        ledger.record(report("rt", message="x" * 100))
        assert not ledger.history("t1", "rt")[0].message_truncated
        assert ledger.audit().items[0].to_json()["messageTruncated"] is False

    def test_reject_oversized_restores_the_rejection(self, ready_url: str) -> None:
        with Ledger.open(ready_url, max_message_bytes=1000, reject_oversized=True) as ledger:
            with pytest.raises(InvalidReport, match="over the limit of 1000 bytes"):
                ledger.record(report("rt", message="x" * 1001))
            assert ledger.max_position() == 0

    def test_the_limit_comes_from_the_store_url_when_not_given(self, ready_url: str) -> None:
        joiner = "&" if "?" in ready_url else "?"
        with Ledger.open(f"{ready_url}{joiner}max_message_bytes=2000") as ledger:
            assert ledger.max_message_bytes == 2000
            ledger.record(report("rt", message="y" * 5000))
            assert len((ledger.history("t1", "rt")[0].status_message or "").encode()) <= 2000
        with Ledger.open(
            f"{ready_url}{joiner}max_message_bytes=2000", max_message_bytes=9000
        ) as ledger:
            assert ledger.max_message_bytes == 9000
