"""`deployledger stats` through the installed CLI, on both backends: the same numbers as
`Ledger.stats` (checked against a hand-computed fleet in tests/integration), as JSON, CSV
and a table with a bar per day; bad input is one line and exit 2."""

from __future__ import annotations

import csv
import io

import pytest
from stats_model import HAND_FLEET, SINCE, UNTIL
from support import Cli, sqlite_only

from deployledger import Ledger

PERIOD = ("--since", SINCE.isoformat(), "--until", UNTIL.isoformat())


@pytest.fixture
def fleet(migrated_url: str) -> str:
    with Ledger.open(migrated_url, create=True) as ledger:
        ledger.record_many(HAND_FLEET)
    return migrated_url


def test_json_is_the_library_answer(fleet: str, cli: Cli) -> None:
    for by in ("tenant", "pool", "workload", "chart"):
        got = cli("stats", *PERIOD, "--by", by, "--json", store=fleet).json()
        with Ledger.open(fleet) as ledger:
            expected = [s.to_json() for s in ledger.stats(since=SINCE, until=UNTIL, by=by)]
        assert got == expected


def test_tenant_filters_repeat_and_csv_has_one_row_per_group(fleet: str, cli: Cli) -> None:
    out = cli("stats", *PERIOD, "--tenant", "b", "--tenant", "a", "-o", "csv", store=fleet).out
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    assert [(r["key"], r["successes"], r["failures"], r["unrecovered"]) for r in rows] == [
        ("a", "3", "3", "1"),
        ("b", "2", "2", "1"),
    ]
    assert rows[0]["changeFailureRate"] == "0.5"
    one = cli("stats", *PERIOD, "--tenant", "b", "--json", store=fleet).json()
    assert [g["key"] for g in one] == ["b"]


def test_the_table_shows_each_group_and_its_days_as_bars(fleet: str, cli: Cli) -> None:
    out = cli("stats", *PERIOD, "--by", "pool", store=fleet).out
    lines = out.splitlines()
    assert "3 day(s)" in lines[0]
    header = lines[1].split()
    assert header[:4] == ["POOL", "OUTCOMES", "DEPLOYS/DAY", "CHANGE"]
    p1 = next(line for line in lines if line.lstrip().startswith("p1 "))
    assert "7" in p1.split()  # outcomes
    assert "42.9%" in p1  # 3 failures of 7
    assert "2h" in p1  # recovery median (of 1 h, 2 h, 20 h)
    bars = lines[lines.index(p1) + 1]
    assert bars.strip().startswith("x")
    assert p1.rstrip().endswith("+ █▃")  # day 1: 3 successes (the busiest), day 2: 1 (3/8)
    assert "\x1b" not in out  # no colours on a pipe


def test_an_empty_period_says_so(fleet: str, cli: Cli) -> None:
    result = cli(
        "stats", "--since", "2020-01-01", "--until", "2020-02-01", "--tenant", "b", store=fleet
    )
    assert result.out == ""
    assert "no outcomes" in result.err


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--by", "cluster"), "--by"),
        (("--since", "last tuesday"), "--since"),
        (("--since", "2026-02-01", "--until", "2026-01-01"), "before until"),
        (("--tenant", "a\x01b", "--json"), None),
    ],
)
@sqlite_only("migrated_url")
def test_bad_input_is_one_line_and_exit_2(
    fleet: str, cli: Cli, args: tuple[str, ...], said: str | None
) -> None:
    if said is None:  # a control character is no error: it matches no tenant
        assert cli("stats", *args, store=fleet).json() == []
        return
    result = cli("stats", *args, store=fleet, expect=2)
    assert said in result.err
    assert len(result.err.strip().splitlines()) == 1
