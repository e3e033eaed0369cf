"""Every attempt row carries its failure category and fingerprint, in every format, on both
backends: the answer types, `history` and `audit` (table, JSON, CSV, JSONL), `audit --all`
(CSV and JSONL), the HTTP rows and the export. Null for a success; for a non-outcome the
timeline's CSV cell is empty. A wrapped and a bare form of one helm error share one.

The CLI runs in this process (click's CliRunner), HTTP through FastAPI's TestClient.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from http_support import Tokens, bearer, in_process
from support import report, request

from deployledger import Attempt, Ledger
from deployledger.cli import main
from deployledger.domain.insights.failures import categorize, fingerprint

TENANT = "acme"
BARE = "Error: UPGRADE FAILED: timed out waiting for the condition"
WRAPPED = "helm upgrade --install checkout failed with exit code 1. stderr: " + BARE
EXPECTED = {
    # runtime id: (category, fingerprint) of its one attempt
    "rt-ok": (None, None),
    "rt-bare": ("wait-timeout", fingerprint(BARE)),
    "rt-wrapped": ("wait-timeout", fingerprint(BARE)),
    "rt-odd": ("unknown", fingerprint("something odd")),
}


@pytest.fixture
def served(migrated_url: str) -> Iterator[tuple[str, TestClient, Tokens]]:
    with Ledger.open(migrated_url, create=True) as ledger:
        ledger.record(request("rt-ok", tenant=TENANT))
        ledger.record(report("rt-ok", tenant=TENANT))
        ledger.record(report("rt-bare", tenant=TENANT, success=False, message=BARE))
        ledger.record(report("rt-wrapped", tenant=TENANT, success=False, message=WRAPPED))
        ledger.record(report("rt-odd", tenant=TENANT, success=False, message="something odd"))
    with in_process(migrated_url) as (client, tokens):
        yield migrated_url, client, tokens


def cli(url: str, *args: str) -> str:
    """`deployledger --store URL ARGS...` in this process; its stdout (it must succeed)."""
    runner = CliRunner()
    code: Any = 0
    with runner.isolation() as (out, err, _):
        try:
            main(["--store", url, *args])
        except SystemExit as e:
            code = e.code
    assert code in (0, None), err.getvalue().decode()
    return str(out.getvalue().decode())


def by_rt(rows: list[dict[str, Any]], empty: Any = None) -> dict[str, tuple[Any, Any]]:
    """(category, fingerprint) of each outcome row by runtime id; `empty` reads as None."""
    found = {}
    for row in rows:
        if row.get("kind", "outcome") != "outcome":
            continue
        category, key = row["category"], row["fingerprint"]
        found[row["workloadRtId"]] = (
            None if category == empty else category,
            None if key == empty else key,
        )
    return found


def csv_rows(text: str) -> list[dict[str, Any]]:
    return list(csv.DictReader(io.StringIO(text)))


def jsonl_rows(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line]


def test_the_expectation_is_what_the_rules_say() -> None:
    for message, (category, key) in [
        (BARE, EXPECTED["rt-bare"]),
        (WRAPPED, EXPECTED["rt-wrapped"]),
    ]:
        assert (categorize(message), fingerprint(message)) == (category, key)


class TestEveryFormat:
    def test_the_answer_types(self, served: tuple[str, TestClient, Tokens]) -> None:
        url, _, _ = served
        with Ledger.open(url) as ledger:
            audited = ledger.audit(tenant_id=TENANT, limit=100).items
            assert {a.workload_rt_id: (a.category, a.fingerprint) for a in audited} == EXPECTED
            for rt, expected in EXPECTED.items():
                (attempt,) = ledger.history(TENANT, rt)
                assert (attempt.category, attempt.fingerprint) == expected
                timeline = ledger.timeline(TENANT, rt)
                outcomes = [e for e in timeline if isinstance(e, Attempt)]
                assert [(e.category, e.fingerprint) for e in outcomes] == [expected]
            exported = list(ledger.audit_iter(tenant_id=TENANT))
            assert {a.workload_rt_id: (a.category, a.fingerprint) for a in exported} == EXPECTED

    def test_the_cli(self, served: tuple[str, TestClient, Tokens]) -> None:
        url, _, _ = served
        assert by_rt(json.loads(cli(url, "audit", "--tenant", TENANT, "-o", "json"))) == EXPECTED
        assert by_rt(jsonl_rows(cli(url, "audit", "--tenant", TENANT, "-o", "jsonl"))) == EXPECTED
        assert by_rt(csv_rows(cli(url, "audit", "--tenant", TENANT, "-o", "csv")), "") == EXPECTED
        every = cli(url, "audit", "--all", "--tenant", TENANT, "-o", "csv")
        assert by_rt(csv_rows(every), "") == EXPECTED
        every = cli(url, "audit", "--all", "--tenant", TENANT, "-o", "jsonl")
        assert by_rt(jsonl_rows(every)) == EXPECTED
        for rt, expected in EXPECTED.items():
            for args in (["--attempts"], []):
                shown = json.loads(cli(url, "history", TENANT, rt, *args, "-o", "json"))
                rows = [{**row, "workloadRtId": rt} for row in shown]
                assert by_rt(rows) == {rt: expected}
            shown = csv_rows(cli(url, "history", TENANT, rt, "-o", "csv"))
            assert by_rt([{**row, "workloadRtId": rt} for row in shown], "") == {rt: expected}

    def test_the_tables_show_the_category(self, served: tuple[str, TestClient, Tokens]) -> None:
        url, _, _ = served
        table = cli(url, "audit", "--tenant", TENANT).splitlines()
        assert "CATEGORY" in table[0].split()
        assert sum("wait-timeout" in line for line in table) == 2
        for rt, (category, _) in EXPECTED.items():
            history = cli(url, "history", TENANT, rt).splitlines()
            column = history[0].index("CATEGORY")
            outcome = next(line for line in history[1:] if "outcome" in line)
            assert outcome[column:].split()[0] == (category or "-")

    def test_http(self, served: tuple[str, TestClient, Tokens]) -> None:
        _, client, tokens = served
        auth = bearer(tokens.admin)
        audit = client.get("/v1/audit", params={"tenant": TENANT}, headers=auth)
        assert audit.status_code == 200
        assert by_rt(audit.json()) == EXPECTED
        for rt, expected in EXPECTED.items():
            for params in ({"attempts": "true"}, {}):
                answer = client.get(
                    f"/v1/workloads/{TENANT}/{rt}/history", params=params, headers=auth
                )
                assert answer.status_code == 200
                assert by_rt([{**row, "workloadRtId": rt} for row in answer.json()]) == {
                    rt: expected
                }
        export = client.get("/v1/audit/export", params={"tenant": TENANT}, headers=auth)
        assert by_rt(csv_rows(export.text), "") == EXPECTED
        export = client.get(
            "/v1/audit/export", params={"tenant": TENANT, "format": "jsonl"}, headers=auth
        )
        assert by_rt(jsonl_rows(export.text)) == EXPECTED

    def test_the_openapi_schemas(self, served: tuple[str, TestClient, Tokens]) -> None:
        _, client, _ = served
        schemas = client.get("/openapi.json").json()["components"]["schemas"]
        for name in ("Attempt", "AuditRow"):
            properties = schemas[name]["properties"]
            assert {"category", "fingerprint"} <= set(properties)
            assert set(schemas[name]["required"]) >= {"category", "fingerprint"}
