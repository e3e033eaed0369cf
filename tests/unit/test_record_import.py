"""The import behind `record` (`deployledger.cli.importing`): batches, what is said about
what was committed, and the check of one report. No I/O."""

from __future__ import annotations

from typing import Any

import pytest
from support import report

from deployledger import WorkloadDeploymentStatus
from deployledger.cli.importing import BATCH_CHARACTERS, Entry, Limits, Rejected, Tally, batches
from deployledger.cli.inputs import RawReport


def entry(number: int, *, source: int = 0, line: int | None = None, weight: int = 300) -> Entry:
    line = number if line is None else line
    return Entry(source, number, line, line, report(), None, weight)


def numbers(found: list[tuple[list[Entry], bool]]) -> list[tuple[list[int], bool]]:
    return [([e.number for e in batch], last) for batch, last in found]


class TestBatches:
    def test_consecutive_reports_in_batches_of_the_size_the_last_one_said_to_be_last(
        self,
    ) -> None:
        found = list(batches([entry(n) for n in range(1, 6)], 2))
        assert numbers(found) == [([1, 2], False), ([3, 4], False), ([5], True)]

    def test_a_full_last_batch_is_known_to_be_last_once_the_input_ended(self) -> None:
        assert numbers(list(batches([entry(n) for n in range(1, 5)], 2))) == [
            ([1, 2], False),
            ([3, 4], True),
        ]
        assert list(batches([], 2)) == []

    def test_a_batch_with_a_problem_is_refused_whole_after_the_batches_before_it(self) -> None:
        items: list[Entry | list[str]] = [entry(1), entry(2), entry(3), ["report 4: bad"]]
        items += [entry(5), ["report 6: worse"], entry(7)]
        given = batches(items, 3)
        assert numbers([next(given)]) == [([1, 2, 3], False)]
        with pytest.raises(Rejected) as refused:
            next(given)
        assert refused.value.problems == ["report 4: bad", "report 6: worse"]

    def test_large_messages_end_a_batch_early(self) -> None:
        big = BATCH_CHARACTERS // 2
        found = list(batches([entry(n, weight=big) for n in range(1, 6)], 100))
        assert numbers(found) == [([1, 2], False), ([3, 4], False), ([5], True)]


class TestTally:
    def test_nothing_committed_is_said_plainly(self) -> None:
        assert Tally(["-"]).summary() == "nothing was stored"

    def test_one_input_says_how_many_of_how_many_and_up_to_which_line(self) -> None:
        tally = Tally(["-"])
        tally.total = 200_000
        tally.add([entry(n) for n in range(1, 120_001)])
        assert tally.summary() == (
            "committed 120,000 of 200,000 reports (lines 1–120000); "
            "nothing after line 120000 was stored"
        )
        assert not tally.complete

    def test_the_last_line_is_where_the_last_report_ends(self) -> None:
        tally = Tally(["a.json"])
        last = Entry(0, 1, 2, 9, report(), None, 300)  # a pretty-printed object, lines 2-9
        tally.add([last])
        assert tally.summary() == (
            "committed 1 report (lines 1–9); nothing after line 9 was stored"
        )
        assert not tally.complete  # the total is not known
        tally.total = 1
        assert tally.complete

    def test_several_inputs_are_named(self) -> None:
        tally = Tally(["a.jsonl", "b\x1b[31m.jsonl"])
        tally.add([entry(1), entry(2), entry(1, source=1)])
        assert tally.summary() == (
            "committed 3 reports (a.jsonl lines 1–2, b\\x1b[31m.jsonl line 1); "
            "nothing after b\\x1b[31m.jsonl line 1 was stored"
        )


class TestLimits:
    def test_a_valid_report_becomes_an_entry_carrying_the_parsed_report(self) -> None:
        found = Limits().check(RawReport(report(), 3, 7, 9), 1)
        assert isinstance(found, Entry)
        assert (found.source, found.number, found.line, found.last_line) == (1, 3, 7, 9)
        assert isinstance(found.send, WorkloadDeploymentStatus)
        assert found.cut is None

    @pytest.mark.parametrize("value", ['{"tenantId": "t1"}', [report()], None])
    def test_anything_but_an_object_is_a_problem_even_json_text(self, value: Any) -> None:
        found = Limits().check(RawReport(value, 2, 5), 0)
        assert isinstance(found, list)
        assert len(found) == 1
        assert str(found[0]).startswith(
            "report 2 (line 5): (report): a report must be a JSON object, got "
        )

    def test_an_oversized_message_goes_in_as_sent_with_its_size(self) -> None:
        raw = report(success=False, message="é" * 600)
        del raw["statusMessage"]
        raw["status_message"] = "é" * 600  # any spelling of the key
        found = Limits(max_message_bytes=1000).check(RawReport(raw, 1, 1), 0)
        assert isinstance(found, Entry)
        assert found.cut == 1200
        assert found.send is raw  # the ledger cuts it again, and keeps the flag

    def test_reject_oversized_makes_it_a_problem(self) -> None:
        raw = report(success=False, message="x" * 1001)
        found = Limits(max_message_bytes=1000, reject_oversized=True).check(RawReport(raw, 4, 4), 0)
        assert isinstance(found, list)
        assert [str(p) for p in found] == [
            "report 4 (line 4): statusMessage: is 1001 bytes of UTF-8, over the limit of 1000 bytes"
        ]
