"""`GET /v1/failures` and the audit's `category`/`fingerprint` filters over HTTP, on
SQLite and PostgreSQL: the library's answer, and tenant isolation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from http_support import Tokens, bearer, in_process, problem_of
from support import report

from deployledger import Ledger
from deployledger.domain.insights.failures import fingerprint

TIMEOUT = "Error: UPGRADE FAILED: timed out waiting for the condition"
LOCK = "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress"


@pytest.fixture
def api(migrated_url: str) -> Iterator[tuple[TestClient, Tokens, Ledger]]:
    with in_process(migrated_url) as (client, tokens), Ledger.open(migrated_url) as ledger:
        ledger.record_many(
            [
                report("rt-1", tenant="acme", success=False, message=TIMEOUT),
                report("rt-2", tenant="acme", success=False, message=TIMEOUT, pool="pool-b"),
                report("rt-1", tenant="globex", success=False, message=TIMEOUT),
                report("rt-9", tenant="initech", success=False, message=LOCK),
                report("rt-3", tenant="acme", success=True),
            ]
        )
        yield client, tokens, ledger


def get(client: TestClient, token: str, path: str, **params: Any) -> Any:
    answer = client.get(path, params=params, headers=bearer(token))
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_failures_answer_the_librarys_groups(api: tuple[TestClient, Tokens, Ledger]) -> None:
    client, tokens, ledger = api
    assert get(client, tokens.admin, "/v1/failures") == [g.to_json() for g in ledger.failures()]
    assert get(client, tokens.admin, "/v1/failures", category="lock-held", since="1d") == [
        g.to_json() for g in ledger.failures(category="lock-held")
    ]
    assert get(client, tokens.admin, "/v1/failures", pool="pool-b")[0]["attempts"] == 1


def test_a_tenant_bound_token_sees_only_its_tenants_failures(
    api: tuple[TestClient, Tokens, Ledger],
) -> None:
    client, tokens, ledger = api
    mine = get(client, tokens.two, "/v1/failures")
    assert mine == [g.to_json() for g in ledger.failures(tenant_id=["acme", "globex"])]
    assert {t for g in mine for t in g["tenants"]} == {"acme", "globex"}
    only = get(client, tokens.acme, "/v1/failures")
    assert [(g["attempts"], g["tenants"]) for g in only] == [(2, ["acme"])]
    assert get(client, tokens.acme, "/v1/failures", tenant="initech") == []


def test_audit_filters_by_category_and_fingerprint(
    api: tuple[TestClient, Tokens, Ledger],
) -> None:
    client, tokens, _ = api
    rows = get(client, tokens.admin, "/v1/audit", fingerprint=fingerprint(TIMEOUT))
    assert sorted((r["tenantId"], r["workloadRtId"]) for r in rows) == [
        ("acme", "rt-1"),
        ("acme", "rt-2"),
        ("globex", "rt-1"),
    ]
    rows = get(client, tokens.two, "/v1/audit", category="lock-held")
    assert rows == []
    assert len(get(client, tokens.admin, "/v1/audit", category="lock-held")) == 1


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/failures", {"category": "nope"}),
        ("/v1/failures", {"since": "yesterday"}),
        ("/v1/failures", {"limit": "0"}),
        ("/v1/audit", {"category": "nope"}),
    ],
)
def test_bad_parameters_are_problems_not_crashes(
    api: tuple[TestClient, Tokens, Ledger], path: str, params: dict[str, str]
) -> None:
    client, tokens, _ = api
    answer = client.get(path, params=params, headers=bearer(tokens.admin))
    assert answer.status_code in (400, 422), answer.text
    problem_of(answer, answer.status_code)


def test_failures_need_a_token(api: tuple[TestClient, Tokens, Ledger]) -> None:
    client, _, _ = api
    assert client.get("/v1/failures").status_code == 401


def test_failures_cover_the_last_24_hours_unless_since_is_given(
    api: tuple[TestClient, Tokens, Ledger],
) -> None:
    client, tokens, ledger = api
    old = (datetime.now(UTC) - timedelta(hours=30)).isoformat()
    ledger.record(report("rt-7", tenant="initech", success=False, message=LOCK, reportedAt=old))
    (recent,) = get(client, tokens.admin, "/v1/failures", category="lock-held")
    assert recent["attempts"] == 1
    (both,) = get(client, tokens.admin, "/v1/failures", category="lock-held", since="2d")
    assert both["attempts"] == 2
    (since,) = [
        p
        for p in client.get("/openapi.json").json()["paths"]["/v1/failures"]["get"]["parameters"]
        if p["name"] == "since"
    ]
    assert since["schema"]["default"] == "24h"
    assert "last 24 hours" in since["description"]
