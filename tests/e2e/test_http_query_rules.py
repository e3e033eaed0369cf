"""The query parameters of every GET route, on SQLite and PostgreSQL: a repeated `tenant`
means any of them, any other repeated parameter answers 422 naming it (never "the last one
wins"), the export refuses `limit` and `cursor`, and a read's problem names its parameter
and never speaks of storing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from http_support import Tokens, bearer, in_process, problem_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import report, request

from deployledger import Ledger

TENANTS = ("acme", "globex", "initech")
TIMEOUT = "Error: UPGRADE FAILED: timed out waiting for the condition"


@pytest.fixture
def api(migrated_url: str) -> Iterator[tuple[TestClient, Tokens]]:
    long_ago = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    with in_process(migrated_url) as (client, tokens), Ledger.open(migrated_url) as ledger:
        for tenant in TENANTS:
            ledger.record_many(
                [
                    report(f"rt-{tenant}", tenant=tenant, success=False, message=TIMEOUT),
                    request(f"late-{tenant}", tenant=tenant, reportedAt=long_ago),
                ]
            )
        yield client, tokens


def answer(client: TestClient, token: str, path: str, query: list[tuple[str, str]]) -> Any:
    return client.get(path, params=tuple(query), headers=bearer(token))


def tenants_in(path: str, body: Any, text: str) -> set[str]:
    if path == "/v1/audit/export":
        return {line.split(",")[0] for line in text.splitlines()[1:]}  # tenantId first
    if path == "/v1/failures":
        return {t for group in body for t in group["tenants"]}
    if path == "/v1/stats":
        return {row["key"] for row in body}
    return {row["tenantId"] for row in body}


FLEET_WIDE = ["/v1/workloads", "/v1/audit", "/v1/overdue", "/v1/failures", "/v1/stats"]
FLEET_WIDE += ["/v1/audit/export"]


@pytest.mark.parametrize("path", FLEET_WIDE)
def test_a_repeated_tenant_means_any_of_them(api: tuple[TestClient, Tokens], path: str) -> None:
    client, tokens = api
    extra = [("olderThan", "1h")] if path == "/v1/overdue" else []
    both = answer(client, tokens.admin, path, [("tenant", "acme"), ("tenant", "initech"), *extra])
    assert both.status_code == 200, both.text
    body = None if path == "/v1/audit/export" else both.json()
    assert tenants_in(path, body, both.text) == {"acme", "initech"}
    # A tenant-bound token asking for its own and another's sees its own only.
    mine = answer(client, tokens.acme, path, [("tenant", "acme"), ("tenant", "initech"), *extra])
    body = None if path == "/v1/audit/export" else mine.json()
    assert tenants_in(path, body, mine.text) == {"acme"}


def get_routes(client: TestClient) -> list[tuple[str, list[str]]]:
    """Every GET route of the OpenAPI document with a query parameter, and their names."""
    paths = client.get("/openapi.json").json()["paths"]
    found = []
    for path, operations in paths.items():
        params = operations.get("get", {}).get("parameters", [])
        names = [p["name"] for p in params if p["in"] == "query"]
        if names:
            found.append((path.replace("{tenant}", "acme").replace("{rtId}", "rt-acme"), names))
    return found


def test_every_get_route_with_query_parameters_is_covered(api: tuple[TestClient, Tokens]) -> None:
    client, _ = api
    covered = {path for path, _ in get_routes(client)}
    assert covered >= {*FLEET_WIDE, "/v1/workloads/acme/rt-acme"}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_other_repeated_parameter_answers_422_naming_it(
    api: tuple[TestClient, Tokens], data: st.DataObject
) -> None:
    client, tokens = api
    path, names = data.draw(st.sampled_from(get_routes(client)))
    name = data.draw(st.sampled_from([n for n in names if n != "tenant"]))
    first, second = data.draw(
        st.lists(st.sampled_from(["1", "24h", "x", ""]), min_size=2, max_size=2)
    )
    response = answer(client, tokens.admin, path, [(name, first), (name, second)])
    problem = problem_of(response, 422)
    assert problem["problems"] == [
        {"index": None, "field": name, "reason": "is given 2 times: give it once"}
    ]
    assert "stored" not in problem["detail"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "5"}, "limit"),
        ({"cursor": "abc"}, "cursor"),
        ({"limit": "5", "format": "jsonl"}, "limit"),
    ],
)
def test_the_export_refuses_limit_and_cursor(
    api: tuple[TestClient, Tokens], query: dict[str, str], field: str
) -> None:
    client, tokens = api
    response = client.get("/v1/audit/export", params=query, headers=bearer(tokens.admin))
    (item,) = problem_of(response, 422)["problems"]
    assert item["field"] == field
    assert "GET /v1/audit" in item["reason"]


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("/v1/audit", {"cursor": "not-a-cursor"}, "cursor"),
        ("/v1/audit", {"limit": "many"}, "limit"),
        ("/v1/audit", {"since": "yesterday"}, "since"),
        ("/v1/audit", {"category": "no-such"}, "category"),
        ("/v1/workloads", {"state": "sleeping"}, "state"),
        ("/v1/workloads", {"tenant": "a\x00"}, "tenant"),
        ("/v1/overdue", {"olderThan": "soon"}, "olderThan"),
        ("/v1/failures", {"limit": "0"}, "limit"),
        ("/v1/stats", {"since": "1h", "until": "2h"}, "since"),
        ("/v1/workloads/acme/rt-acme/history", {"before": "0"}, "before"),
    ],
)
def test_a_reads_problem_names_its_parameter_and_never_speaks_of_storing(
    api: tuple[TestClient, Tokens], path: str, query: dict[str, str], field: str
) -> None:
    client, tokens = api
    problem = problem_of(client.get(path, params=query, headers=bearer(tokens.admin)), 422)
    assert [p["field"] for p in problem["problems"]] == [field]
    assert "stored" not in problem["detail"]
    assert problem["detail"] == "1 problem in the request"


def test_a_writes_problem_still_says_nothing_was_stored(api: tuple[TestClient, Tokens]) -> None:
    client, tokens = api
    response = client.post("/v1/reports", json={"tenantId": "acme"}, headers=bearer(tokens.admin))
    assert problem_of(response, 422)["detail"].endswith("; nothing was stored")
