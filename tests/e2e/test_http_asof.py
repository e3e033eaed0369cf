"""`at` on `GET /v1/workloads` and `GET /v1/workloads/{tenant}/{rtId}` (issue 10, section 3),
on both backends: the same JSON as `status --at` / `show --at`, as the library answers it,
with a tenant-bound token seeing only its tenants as they were then."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from http_support import Tokens, bearer, in_process, problem_of
from support import EXAMPLES, report, run_in_process
from test_http_reads import get, lines

from deployledger import Ledger

THEN = "2026-11-19T12:00:00Z"
TENANTS = ("acme", "globex", "initech")


@pytest.fixture
def api(migrated_url: str) -> Iterator[tuple[TestClient, Tokens, str]]:
    with in_process(migrated_url) as (client, tokens):
        answer = client.post("/v1/reports", json=lines(EXAMPLES), headers=bearer(tokens.admin))
        assert answer.status_code == 201, answer.text
        yield client, tokens, migrated_url


def test_the_fleet_and_one_workload_then_are_the_json_of_the_cli(
    api: tuple[TestClient, Tokens, str],
) -> None:
    client, tokens, url = api
    tenant, rt_id = "acme-prod", "64f1c0ffee0000000000beef"
    status = run_in_process("status", "--at", THEN, "--json", store=url).json()
    show = run_in_process("show", tenant, rt_id, "--at", THEN, "--json", store=url).json()
    assert get(client, tokens.admin, "/v1/workloads", at=THEN) == status
    assert get(client, tokens.admin, f"/v1/workloads/{tenant}/{rt_id}", at=THEN) == show
    assert status != get(client, tokens.admin, "/v1/workloads")
    assert (
        show["attempts"] < get(client, tokens.admin, f"/v1/workloads/{tenant}/{rt_id}")["attempts"]
    )


def test_filters_apply_to_the_states_of_then(api: tuple[TestClient, Tokens, str]) -> None:
    client, tokens, url = api
    with Ledger.open(url) as ledger:
        for params in (
            {"state": "error"},
            {"pool": "pool-us-east-2"},
            {"tenant": "initech", "state": "deployed"},
            {"tenant": "nobody"},
        ):
            wanted = ledger.workloads(
                tenant_id=params.get("tenant"),
                pool_name=params.get("pool"),
                state=params.get("state"),
                at=ledger_time(THEN),
            )
            found = get(client, tokens.admin, "/v1/workloads", at=THEN, **params)
            assert found == [s.to_json() for s in wanted], params
            assert found or params == {"tenant": "nobody"}


def ledger_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_bad_moment_is_422_and_a_workload_not_there_yet_is_404(
    api: tuple[TestClient, Tokens, str],
) -> None:
    client, tokens, _ = api
    for path in ("/v1/workloads", "/v1/workloads/acme-prod/64f1c0ffee0000000000beef"):
        for bad in ("yesterday", "2026-13-01", "99999999999d"):
            answer = client.get(path, params={"at": bad}, headers=bearer(tokens.admin))
            assert problem_of(answer, 422)["problems"][0]["field"] == "at"
    early = client.get(
        "/v1/workloads/acme-prod/64f1c0ffee0000000000beef",
        params={"at": "2026-11-01T00:00:00Z"},
        headers=bearer(tokens.admin),
    )
    assert "by 2026-11-01" in problem_of(early, 404)["detail"]


def test_a_tenant_bound_token_sees_only_its_tenants_then(migrated_url: str) -> None:
    with in_process(migrated_url) as (client, tokens):
        sent = [report("rt-1", tenant=t, reportedAt="2026-01-01T00:00:00Z") for t in TENANTS]
        assert (
            client.post("/v1/reports", json=sent, headers=bearer(tokens.admin)).status_code == 201
        )
        at = "2026-01-02T00:00:00Z"

        def seen(rows: list[dict[str, Any]]) -> set[str]:
            return {r["tenantId"] for r in rows}

        assert seen(get(client, tokens.admin, "/v1/workloads", at=at)) == {
            "acme",
            "globex",
            "initech",
        }
        assert seen(get(client, tokens.acme, "/v1/workloads", at=at)) == {"acme"}
        assert seen(get(client, tokens.two, "/v1/workloads", at=at)) == {"acme", "globex"}
        assert get(client, tokens.acme, "/v1/workloads", at=at, tenant="globex") == []
        assert get(client, tokens.acme, "/v1/workloads", at="2025-12-31T00:00:00Z") == []
        theirs = client.get(
            "/v1/workloads/globex/rt-1", params={"at": at}, headers=bearer(tokens.acme)
        )
        unknown = client.get(
            "/v1/workloads/globex/rt-9", params={"at": at}, headers=bearer(tokens.admin)
        )
        assert problem_of(theirs, 404)["detail"] == problem_of(unknown, 404)["detail"].replace(
            "rt-9", "rt-1"
        )
