"""Seconds in CSV and JSON are plain decimals, never in exponent notation, on SQLite and
PostgreSQL: a deploy that took 64 microseconds reads `0.000064` (Python and both databases
write `6.4e-05` by default) in the library's export (`audit --all`, written by the database),
in `audit -o csv|json` and in `history -o csv`, and reads back as the same float."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from support import TENANT, report, request

from deployledger import Ledger
from deployledger.cli import cli
from deployledger.domain.decimals import plain_number

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
TOOK = [0.000064, 0.000001, 0.5, 162.25, 30.0]


def run(url: str, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--store", url, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture
def url(migrated_url: str) -> str:
    with Ledger.open(migrated_url, create=True) as ledger:
        for number, seconds in enumerate(TOOK):
            rt = f"rt-{number}"
            at = T0 + timedelta(hours=number)
            ledger.record(request(rt, reportedAt=at.isoformat()))
            done = at + timedelta(seconds=seconds)
            ledger.record(report(rt, success=True, reportedAt=done.isoformat()))
    return migrated_url


def durations_in_csv(text: str) -> list[str]:
    rows = list(csv.DictReader(io.StringIO(text)))
    return [row["durationSeconds"] for row in rows if row["durationSeconds"]]


def test_every_csv_and_json_writes_plain_decimal_seconds(url: str) -> None:
    expected = sorted(plain_number(s) for s in TOOK)
    assert "0.000064" in expected
    with Ledger.open(url) as ledger:
        export = b"".join(ledger.audit_csv()).decode()
    for text in (export, run(url, "audit", "--all"), run(url, "audit", "-o", "csv")):
        assert "e-0" not in text
        assert sorted(durations_in_csv(text)) == expected
    history = run(url, "history", TENANT, "rt-0", "-o", "csv")
    assert durations_in_csv(history) == ["0.000064"]
    as_json = run(url, "audit", "-o", "json")
    assert "e-0" not in as_json
    assert '"durationSeconds": 0.000064' in as_json
    assert sorted(row["durationSeconds"] for row in json.loads(as_json)) == sorted(TOOK)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_plain_number_reads_back_as_the_same_float_and_has_no_exponent(value: float) -> None:
    text = plain_number(value)
    assert "e" not in text.lower()
    assert float(text) == value
