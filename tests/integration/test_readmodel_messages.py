"""Status messages and times stored exactly by the read model (issue 3), on both backends.

NUL (which PostgreSQL `text` rejects), 1 MiB texts and any Unicode must come back exactly
through `ledger.audit()`, `ledger.workloads()` and a rebuild. (Through `deployledger audit`
and `status`: tests/e2e.)
"""

from __future__ import annotations

from datetime import UTC, datetime

from support import EXACT_MESSAGES, MIB, exact_message_reports, report

from deployledger import Ledger


class TestExactMessages:
    def test_sizes_are_as_named(self) -> None:
        for name, message in EXACT_MESSAGES.items():
            if name.startswith("1mib"):
                assert message is not None
                assert len(message.encode("utf-8")) == MIB, name

    def test_every_message_round_trips_through_the_facade_and_a_rebuild(
        self, migrated_url: str
    ) -> None:
        with Ledger.open(migrated_url, create=True) as ledger:
            for sent in exact_message_reports():
                ledger.record(sent)

            audit = {a.workload_rt_id: a.status_message for a in ledger.audit(limit=100).items}
            fleet = {w.workload_rt_id: w.status_message for w in ledger.workloads()}
            ledger.rebuild()
            rebuilt = {a.workload_rt_id: a.status_message for a in ledger.audit(limit=100).items}
            refleet = {w.workload_rt_id: w.status_message for w in ledger.workloads()}

        assert audit == EXACT_MESSAGES
        assert fleet == EXACT_MESSAGES
        assert rebuilt == EXACT_MESSAGES
        assert refleet == EXACT_MESSAGES

    def test_a_message_grows_to_one_mebibyte_and_back_on_the_same_workload(
        self, migrated_url: str
    ) -> None:
        sequence = ["short", "ü" * (MIB // 2), "a\x00b", "x" * MIB, None, "done"]
        with Ledger.open(migrated_url, create=True) as ledger:
            for number, message in enumerate(sequence):
                ledger.record(report("rt-grow", message=message))
                state = ledger.workloads()[0]
                assert state.status_message == message, number
            history = [a.status_message for a in ledger.audit(workload_rt_id="rt-grow").items]
        assert history == sequence[::-1]


class TestExactTimes:
    def test_recorded_at_and_reported_at_keep_their_instants(self, migrated_url: str) -> None:
        with Ledger.open(migrated_url, create=True) as ledger:
            receipt = ledger.record(
                report("rt-time", tenant="acme", reportedAt="2024-01-01T12:00:00.123456+02:00")
            )
            item = ledger.audit().items[0]
            history = ledger.history("acme", "rt-time")[0]

        expected = datetime(2024, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)
        assert item.recorded_at == receipt.recorded_at
        assert history.reported_at == expected  # the event store has it right
        assert item.reported_at == expected
