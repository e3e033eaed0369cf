"""The parser behind `record`, fuzzed: 10,000 malformed inputs in CI (350 elsewhere).

Each input of tests/malformed.py carries exactly one defect. Read as `record` reads its
input (`read_reports`, in chunks of the CLI's size) and checked as `record` checks each
value (`Limits.check`), it must give exactly one problem, shown on one line, and no valid
message: `record` then exits 2 with that line and stores nothing. The same inputs go
through the CLI on both backends in tests/e2e/test_e2e_fuzz.py, a few hundred per backend.
The number of examples here, shared out between the kinds of defect (one test each, so
that they can run side by side): `DEPLOYLEDGER_PARSER_FUZZ_EXAMPLES`, else 10,000 in CI
and 350 elsewhere.
"""

from __future__ import annotations

import io
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from malformed import DEFECTS, base

from deployledger import Problem
from deployledger.cli import render
from deployledger.cli.importing import Entry, Limits
from deployledger.cli.inputs import CHUNK, RawReport, read_reports

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
EXAMPLES = int(os.environ.get("DEPLOYLEDGER_PARSER_FUZZ_EXAMPLES", "10000" if IN_CI else "350"))
# Two kinds have a few dozen inputs at most (a missing field, a huge number), which
# hypothesis runs out of at once: the five others share the examples.
PER_DEFECT = -(-EXAMPLES // 5)


def problems_and_messages(data: bytes) -> tuple[list[Problem], list[Entry]]:
    """What `record` finds in `data` given on stdin: the problems, and the valid messages."""
    problems: list[Problem] = []
    valid: list[Entry] = []
    for item in read_reports(io.BytesIO(data).read1, CHUNK):
        if isinstance(item, RawReport):
            found = Limits().check(item, 0)
            if isinstance(found, Entry):
                valid.append(found)
            else:
                problems += found
        else:
            problems.append(item)
    return problems, valid


def one_line(problem: Problem) -> str:
    """The problem as `record` says it (`deployledger.cli.record`)."""
    return render.safe(str(problem), keep=set())


@pytest.mark.parametrize("defect", list(DEFECTS))
@settings(
    max_examples=PER_DEFECT,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
@given(data=st.data())
def test_each_malformed_input_is_exactly_one_problem_on_one_line_and_nothing_valid(
    defect: str, data: st.DataObject
) -> None:
    found = data.draw(DEFECTS[defect], label=defect)
    problems, valid = problems_and_messages(found)
    assert valid == [], found[:200]
    assert len(problems) == 1, (found[:200], problems)
    line = one_line(problems[0])
    assert line.strip()
    assert len(line.splitlines()) == 1, line


def test_the_harness_sees_a_valid_report_as_valid() -> None:
    problems, valid = problems_and_messages(json.dumps(base()).encode())
    assert problems == []
    assert [entry.number for entry in valid] == [1]


def test_the_harness_sees_each_problem_of_an_input_with_two() -> None:
    problems, valid = problems_and_messages(b"[1, 2]")
    assert [p.report for p in problems] == [1, 2]
    assert valid == []
