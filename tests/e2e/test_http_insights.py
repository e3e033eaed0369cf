"""`GET /v1/stats` and `GET /v1/audit/export` through FastAPI's TestClient, on SQLite and
PostgreSQL: the library's answers (the CLI's output), streamed exports that round-trip
through Python's csv module, and tenant isolation for tenant-bound tokens."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from http_support import Tokens, bearer, in_process, problem_of
from stats_model import HAND_FLEET, SINCE, UNTIL
from support import report, run_in_process
from test_e2e_output import EVERYTHING, csv_messages

from deployledger import Ledger

MESSAGES = [None, "", 'two\nlines, "quoted"', "nul\x00inside \\0", EVERYTHING]


@pytest.fixture
def api(migrated_url: str) -> Iterator[tuple[TestClient, Tokens, str]]:
    with in_process(migrated_url) as (client, tokens):
        with Ledger.open(migrated_url) as ledger:
            for tenant in ("acme", "globex", "initech"):
                ledger.record_many(
                    [
                        report(f"{tenant}-{n}", tenant=tenant, success=n % 2 == 0, message=m)
                        for n, m in enumerate(MESSAGES)
                    ]
                )
        yield client, tokens, migrated_url


def fetch(client: TestClient, token: str, path: str, **params: Any) -> Any:
    answer = client.get(path, params=params, headers=bearer(token))
    assert answer.status_code == 200, answer.text
    return answer


def test_the_csv_export_is_the_cli_export(api: tuple[TestClient, Tokens, str]) -> None:
    client, tokens, url = api
    answer = fetch(client, tokens.admin, "/v1/audit/export", format="csv")
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.text == run_in_process("audit", "--all", store=url).out
    rows = list(csv.DictReader(io.StringIO(answer.text, newline="")))
    assert len(rows) == 3 * len(MESSAGES)
    assert csv_messages(answer.text)[: len(MESSAGES)] == [m or "" for m in reversed(MESSAGES)]


def test_the_jsonl_export_follows_the_filters(api: tuple[TestClient, Tokens, str]) -> None:
    client, tokens, url = api
    answer = fetch(client, tokens.admin, "/v1/audit/export", format="jsonl", failed="true")
    assert answer.headers["content-type"] == "application/x-ndjson"
    got = [json.loads(line) for line in answer.text.split("\n") if line]
    cli = run_in_process("audit", "--all", "--failed", "-o", "jsonl", store=url).json_lines()
    assert got == cli
    assert {r["success"] for r in got} == {False}
    assert [r["statusMessage"] for r in got if r["tenantId"] == "acme"] == [
        MESSAGES[3],
        MESSAGES[1],
    ]


def test_a_tenant_bound_token_exports_only_its_tenants(
    api: tuple[TestClient, Tokens, str],
) -> None:
    client, tokens, _ = api
    two = [
        json.loads(line)
        for line in fetch(client, tokens.two, "/v1/audit/export", format="jsonl").text.split("\n")
        if line
    ]
    assert {r["tenantId"] for r in two} == {"acme", "globex"}
    assert [r["position"] for r in two] == sorted((r["position"] for r in two), reverse=True)
    other = fetch(client, tokens.acme, "/v1/audit/export", tenant="initech").text
    assert other.count("\r\n") == 1  # the header alone


def test_bad_export_queries_are_problems(api: tuple[TestClient, Tokens, str]) -> None:
    client, tokens, _ = api
    for params in ({"format": "xml"}, {"since": "soon"}, {"failed": "1", "succeeded": "1"}):
        answer = client.get("/v1/audit/export", params=params, headers=bearer(tokens.admin))
        problem_of(answer, 422)
    problem_of(client.get("/v1/audit/export"), 401)
    problem_of(client.get("/v1/stats", headers=bearer(tokens.acme_write)), 403)


def test_stats_are_the_library_answer_and_tenant_scoped(migrated_url: str) -> None:
    with in_process(migrated_url) as (client, tokens):
        with Ledger.open(migrated_url) as ledger:
            ledger.record_many(
                [
                    {**m, "tenantId": "acme" if m["tenantId"] == "a" else "globex"}
                    for m in HAND_FLEET
                ]
            )
            expected = [s.to_json() for s in ledger.stats(since=SINCE, until=UNTIL, by="pool")]
            acme = [s.to_json() for s in ledger.stats(since=SINCE, until=UNTIL, tenant_id="acme")]
        period = {"since": SINCE.isoformat(), "until": UNTIL.isoformat()}
        got = fetch(client, tokens.admin, "/v1/stats", by="pool", **period).json()
        assert got == expected
        assert fetch(client, tokens.acme, "/v1/stats", **period).json() == acme
        assert fetch(client, tokens.acme, "/v1/stats", tenant="globex", **period).json() == []
        problem_of(client.get("/v1/stats", params={"by": "x"}, headers=bearer(tokens.admin)), 422)
        problem_of(
            client.get(
                "/v1/stats", params={"since": "1d", "until": "2d"}, headers=bearer(tokens.admin)
            ),
            422,
        )
