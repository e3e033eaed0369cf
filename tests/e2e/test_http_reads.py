"""The read endpoints through FastAPI's TestClient, on SQLite and PostgreSQL: the CLI's JSON
shapes, filters, the audit's `Link` pages, and tenant isolation (404 for another tenant's
workload, fleet-wide queries filtered to the token's tenants)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from http_support import Tokens, bearer, in_process, problem_of
from support import EXAMPLES, REPO, report, request, run_in_process

from deployledger import Ledger

LIFECYCLE = REPO / "examples" / "lifecycle.jsonl"
TENANTS = ("acme", "globex", "initech")


def lines(path: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture
def api(migrated_url: str) -> Iterator[tuple[TestClient, Tokens, str]]:
    with in_process(migrated_url) as (client, tokens):
        yield client, tokens, migrated_url


def get(client: TestClient, token: str, path: str, **params: Any) -> Any:
    answer = client.get(path, params=params, headers=bearer(token))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    return answer.json()


def record_examples(client: TestClient, tokens: Tokens) -> None:
    for path in (EXAMPLES, LIFECYCLE):
        answer = client.post("/v1/reports", json=lines(path), headers=bearer(tokens.admin))
        assert answer.status_code == 201, answer.text


def test_reads_give_the_json_of_the_cli(api: tuple[TestClient, Tokens, str]) -> None:
    client, tokens, url = api
    record_examples(client, tokens)
    tenant, rt_id = "acme-prod", "64f1c0ffee0000000000beef"
    cli = {
        "status": run_in_process("status", "--json", store=url).json(),
        "show": run_in_process("show", tenant, rt_id, "--json", store=url).json(),
        "history": run_in_process("history", tenant, rt_id, "--json", store=url).json(),
        "attempts": run_in_process(
            "history", tenant, rt_id, "--attempts", "--json", store=url
        ).json(),
        "audit": run_in_process("audit", "--limit", "20", "--json", store=url).json(),
        "failed": run_in_process(
            "audit", "--failed", "--tenant", tenant, "--json", store=url
        ).json(),
        "overdue": run_in_process("overdue", "--older-than", "1m", "--json", store=url).json(),
    }
    admin = tokens.admin
    assert get(client, admin, "/v1/workloads") == cli["status"]
    assert get(client, admin, f"/v1/workloads/{tenant}/{rt_id}") == cli["show"]
    assert get(client, admin, f"/v1/workloads/{tenant}/{rt_id}/history") == cli["history"]
    assert {"request", "outcome"} <= {e["kind"] for e in cli["history"]}
    attempts = get(client, admin, f"/v1/workloads/{tenant}/{rt_id}/history", attempts="true")
    assert attempts == cli["attempts"]
    assert get(client, admin, "/v1/audit", limit=20) == cli["audit"]
    assert get(client, admin, "/v1/audit", failed="true", tenant=tenant) == cli["failed"]
    overdue = get(client, admin, "/v1/overdue", olderThan="1m")
    assert cli["overdue"]

    def ages(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k != "ageSeconds"} for r in rows]

    assert ages(overdue) == ages(cli["overdue"])
    for row, then in zip(overdue, cli["overdue"], strict=True):
        assert row["ageSeconds"] >= then["ageSeconds"] - 60  # the CLI ran earlier


def test_the_fleet_filters_as_status_does(api: tuple[TestClient, Tokens, str]) -> None:
    client, tokens, url = api
    record_examples(client, tokens)
    with Ledger.open(url) as ledger:
        for params in (
            {"tenant": "acme-prod"},
            {"state": "error"},
            {"state": "Pending"},
            {"pool": "pool-eu-west-1"},
            {"tenant": "acme-prod", "state": "deployed"},
            {"tenant": "nobody"},
        ):
            wanted = ledger.workloads(
                tenant_id=params.get("tenant"),
                pool_name=params.get("pool"),
                state=params.get("state"),
            )
            found = get(client, tokens.admin, "/v1/workloads", **params)
            assert found == [s.to_json() for s in wanted], params
    bad = client.get("/v1/workloads", params={"state": "sunny"}, headers=bearer(tokens.admin))
    assert "sunny" in problem_of(bad, 422)["problems"][0]["reason"]


def test_history_pages_and_unknown_workloads(api: tuple[TestClient, Tokens, str]) -> None:
    client, tokens, _ = api
    record_examples(client, tokens)
    path = "/v1/workloads/acme-prod/64f1c0ffee0000000000beef/history"
    every = get(client, tokens.admin, path, attempts="true")
    assert [e["attempt"] for e in every] == list(range(len(every), 0, -1))
    assert get(client, tokens.admin, path, attempts="true", limit=2) == every[:2]
    assert get(client, tokens.admin, path, before=3) == every[-2:]
    assert get(client, tokens.admin, path, before=1) == []  # known workload: an empty page
    timeline = get(client, tokens.admin, path, limit=3)
    assert len(timeline) == 3
    unknown = client.get("/v1/workloads/acme-prod/nope/history", headers=bearer(tokens.admin))
    assert "acme-prod/nope" in problem_of(unknown, 404)["detail"]
    problem_of(client.get("/v1/workloads/acme-prod/nope", headers=bearer(tokens.admin)), 404)
    zero = client.get(path, params={"limit": 0}, headers=bearer(tokens.admin))
    assert problem_of(zero, 422)["problems"][0]["field"] == "limit"


def pages(client: TestClient, token: str, **params: Any) -> list[list[dict[str, Any]]]:
    """Every page of /v1/audit, following the Link headers."""
    found = []
    answer = client.get("/v1/audit", params=params, headers=bearer(token))
    while True:
        assert answer.status_code == 200, answer.text
        found.append(answer.json())
        link = answer.headers.get("link")
        if link is None:
            return found
        target, rel = link.split(";")
        assert rel.strip() == 'rel="next"'
        next_url = target.strip().removeprefix("<").removesuffix(">")
        assert next_url.startswith("/v1/audit?")
        query = parse_qs(urlsplit(next_url).query)
        for name, value in params.items():  # the filters carry over
            assert query[name] == [str(value)]
        answer = client.get(next_url, headers=bearer(token))


def test_the_audit_pages_by_link_and_filters_as_audit_does(
    api: tuple[TestClient, Tokens, str],
) -> None:
    client, tokens, url = api
    record_examples(client, tokens)
    with Ledger.open(url) as ledger:
        every = [a.to_audit_json() for a in ledger.audit(limit=10_000).items]
        failed = [a.to_audit_json() for a in ledger.audit(success=False, limit=10_000).items]
        grep = [a.to_audit_json() for a in ledger.audit(grep="another op", limit=10_000).items]
    walked = pages(client, tokens.admin, limit=4)
    assert all(len(page) == 4 for page in walked[:-1])
    assert [row for page in walked for row in page] == every
    assert [r for p in pages(client, tokens.admin, limit=3, failed="true") for r in p] == failed
    assert get(client, tokens.admin, "/v1/audit", grep="ANOTHER OP") == grep
    ok = get(client, tokens.admin, "/v1/audit", succeeded="true", limit=10_000)
    assert ok
    assert all(r["success"] for r in ok)
    day_ago = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    relative = get(client, tokens.admin, "/v1/audit", since="1d", limit=10_000)
    assert relative == get(client, tokens.admin, "/v1/audit", since=day_ago, limit=10_000)
    newest = every[0]["reportedAt"] or every[0]["recordedAt"]
    since = get(client, tokens.admin, "/v1/audit", since=newest, limit=10_000)
    assert [r["position"] for r in since] == [every[0]["position"]]
    until = get(client, tokens.admin, "/v1/audit", until=newest, limit=10_000)
    assert len(until) == len(every) - 1
    naive = newest.replace("+00:00", "").replace("Z", "")
    assert get(client, tokens.admin, "/v1/audit", since=naive, limit=10_000) == since
    wl = get(
        client, tokens.admin, "/v1/audit", workload="checkout-api", rtId="64f1c0ffee0000000000beef"
    )
    assert wl
    assert {r["workloadName"] for r in wl} == {"checkout-api"}
    for params, field in (
        ({"failed": "true", "succeeded": "true"}, "failed"),
        ({"since": "yesterday"}, "since"),
        ({"until": "3 days"}, "until"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"limit": 10_001}, "limit"),
    ):
        bad = client.get("/v1/audit", params=params, headers=bearer(tokens.admin))
        assert problem_of(bad, 422)["problems"][0]["field"] == field, params


def test_overdue_takes_seconds_or_a_duration(api: tuple[TestClient, Tokens, str]) -> None:
    client, tokens, _ = api
    now = datetime.now(UTC)
    sent = [
        request("late", tenant="acme", reportedAt=(now - timedelta(hours=2)).isoformat()),
        request("soon", tenant="acme", reportedAt=(now - timedelta(minutes=5)).isoformat()),
    ]
    assert client.post("/v1/reports", json=sent, headers=bearer(tokens.admin)).status_code == 201

    def ids(rows: list[dict[str, Any]]) -> list[str]:
        return [r["workloadRtId"] for r in rows]

    assert ids(get(client, tokens.admin, "/v1/overdue")) == ["late"]  # default 15m
    assert ids(get(client, tokens.admin, "/v1/overdue", olderThan="60")) == ["late", "soon"]
    assert ids(get(client, tokens.admin, "/v1/overdue", olderThan="1h30m")) == ["late"]
    assert ids(get(client, tokens.admin, "/v1/overdue", olderThan="3h")) == []
    assert ids(get(client, tokens.admin, "/v1/overdue", olderThan="0", tenant="other")) == []
    for bad in ("1h30", "-5", "nan", "soon", "99999999999999999999d"):
        answer = client.get("/v1/overdue", params={"olderThan": bad}, headers=bearer(tokens.admin))
        assert problem_of(answer, 422)["problems"][0]["field"] == "olderThan", bad


@pytest.fixture
def tenants(api: tuple[TestClient, Tokens, str]) -> tuple[TestClient, Tokens, str]:
    """Workloads in acme, globex and initech: 15 outcomes each, interleaved, and one
    overdue request each."""
    client, tokens, url = api
    old = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    batch = []
    for n in range(15):
        for tenant in TENANTS:
            batch.append(report(f"rt-{n % 4}", tenant=tenant, success=n % 3 != 0, message=f"m{n}"))
    batch += [request("waiting", tenant=t, reportedAt=old) for t in TENANTS]
    assert client.post("/v1/reports", json=batch, headers=bearer(tokens.admin)).status_code == 201
    return client, tokens, url


def test_another_tenants_workload_is_404_like_an_unknown_one(
    tenants: tuple[TestClient, Tokens, str],
) -> None:
    client, tokens, _ = tenants
    assert client.get("/v1/workloads/acme/rt-1", headers=bearer(tokens.acme)).status_code == 200
    for path in ("/v1/workloads/globex/rt-1", "/v1/workloads/globex/rt-1/history"):
        theirs = problem_of(client.get(path, headers=bearer(tokens.acme)), 404)
        unknown = problem_of(
            client.get(path.replace("rt-1", "rt-9"), headers=bearer(tokens.admin)), 404
        )
        assert theirs["type"] == unknown["type"]
        assert theirs["title"] == unknown["title"]
        assert theirs["detail"] == unknown["detail"].replace("rt-9", "rt-1")
    # The same answer whether the other tenant exists or not.
    never = problem_of(client.get("/v1/workloads/nobody/rt-1", headers=bearer(tokens.acme)), 404)
    assert never["detail"] == theirs["detail"].replace("globex", "nobody")


def test_fleet_wide_queries_see_only_the_tokens_tenants(
    tenants: tuple[TestClient, Tokens, str],
) -> None:
    client, tokens, _ = tenants

    def seen(rows: list[dict[str, Any]]) -> set[str]:
        return {r["tenantId"] for r in rows}

    assert seen(get(client, tokens.admin, "/v1/workloads")) == set(TENANTS)
    assert seen(get(client, tokens.acme, "/v1/workloads")) == {"acme"}
    assert get(client, tokens.acme, "/v1/workloads", tenant="globex") == []
    assert seen(get(client, tokens.two, "/v1/workloads")) == {"acme", "globex"}
    assert seen(get(client, tokens.two, "/v1/workloads", state="error")) == {"acme", "globex"}
    assert seen(get(client, tokens.acme, "/v1/audit", limit=1000)) == {"acme"}
    assert get(client, tokens.acme, "/v1/audit", tenant="initech") == []
    assert seen(get(client, tokens.acme, "/v1/overdue")) == {"acme"}
    assert seen(get(client, tokens.two, "/v1/overdue")) == {"acme", "globex"}
    assert get(client, tokens.two, "/v1/overdue", tenant="initech") == []
    assert seen(get(client, tokens.admin, "/v1/overdue")) == set(TENANTS)


@pytest.mark.parametrize("filters", [{}, {"failed": "true"}, {"grep": "m1"}])
def test_a_token_of_two_tenants_pages_through_both_exactly(
    tenants: tuple[TestClient, Tokens, str], filters: dict[str, str]
) -> None:
    client, tokens, _ = tenants
    wanted = [
        r
        for r in get(client, tokens.admin, "/v1/audit", limit=10_000, **filters)
        if r["tenantId"] in ("acme", "globex")
    ]
    assert wanted
    for limit in (1, 4, 7, 1000):
        walked = pages(client, tokens.two, limit=limit, **filters)
        assert all(len(page) == limit for page in walked[:-1])
        assert [row for page in walked for row in page] == wanted, limit
    # A merged cursor is not a single tenant's, nor the other way around.
    link = client.get("/v1/audit", params={"limit": 2}, headers=bearer(tokens.two)).headers
    cursor = parse_qs(urlsplit(link["link"].split(";")[0].strip("<>")).query)["cursor"][0]
    answer = client.get("/v1/audit", params={"cursor": cursor}, headers=bearer(tokens.acme))
    problem_of(answer, 422)
    single = client.get("/v1/audit", params={"limit": 2}, headers=bearer(tokens.acme)).headers
    theirs = parse_qs(urlsplit(single["link"].split(";")[0].strip("<>")).query)["cursor"][0]
    problem_of(client.get("/v1/audit", params={"cursor": theirs}, headers=bearer(tokens.two)), 422)
    problem_of(client.get("/v1/audit", params={"cursor": "m.!!"}, headers=bearer(tokens.two)), 422)


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/v1/workloads", "pool"),
        ("/v1/workloads", "tenant"),
        ("/v1/audit", "grep"),
        ("/v1/audit", "workload"),
        ("/v1/overdue", "pool"),
    ],
)
def test_a_nul_in_a_filter_is_422_on_every_backend(
    api: tuple[TestClient, Tokens, str], path: str, name: str
) -> None:
    client, tokens, _ = api
    answer = client.get(path, params={name: "a\x00b"}, headers=bearer(tokens.admin))
    problem = problem_of(answer, 422)
    assert problem["problems"] == [
        {"index": None, "field": name, "reason": "must not contain a NUL character"}
    ]
