"""/healthz, /readyz, /metrics and /openapi.json through FastAPI's TestClient; and the 503s
of a store that cannot be reached."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from http_support import Tokens, bearer, in_process, problem_of
from httpx2 import Response
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel
from support import report, request

from deployledger import Ledger
from deployledger.http import ServeSettings, create_app
from deployledger.http.api import failures as routes_failures
from deployledger.http.api import insights as routes_insights
from deployledger.http.api import schemas

UNREACHABLE = "postgresql://app@127.0.0.1:1/ledger?connect_timeout=2"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text exposition, by name and sorted labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_an_unreachable_store_answers_503_with_retry_after_and_the_process_stays_alive() -> None:
    app = create_app(ServeSettings(store=UNREACHABLE, follow=False))
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 503
        body = ready.json()
        assert body["status"] == "not ready"
        assert body["store"] == "unavailable"
        assert "unavailable" in body["reason"]
        assert "127.0.0.1" in body["reason"]
        token = bearer("dlt_0123456789ab_" + "A" * 43)
        for answer in (
            client.post("/v1/reports", json=report(), headers=token),
            client.get("/v1/workloads", headers=token),
            client.get("/v1/workloads/t1/rt", headers=token),
        ):
            problem = problem_of(answer, 503)
            assert problem["type"] == "urn:deployledger:problem:store-unavailable"
            assert answer.headers["retry-after"] == "1"
        # Without a token there is nothing to ask the store: 401 still.
        problem_of(client.get("/v1/workloads"), 401)
        metrics = client.get("/metrics")
        assert metrics.status_code == 200
        assert samples(metrics.text)[("deployledger_store_up", ())] == 0


def test_a_store_without_its_schema_is_not_ready(fresh_postgres: str) -> None:
    app = create_app(ServeSettings(store=fresh_postgres, follow=False))
    with TestClient(app, raise_server_exceptions=False) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert "migrate" in ready.json()["reason"]
        answer = client.get("/v1/workloads", headers=bearer("dlt_0123456789ab_" + "A" * 43))
        assert "migrate" in problem_of(answer, 500)["detail"]


def test_readiness_says_when_the_read_model_is_behind(store_url: str) -> None:
    with in_process(store_url, ready_max_lag_events=3) as (client, tokens):
        assert client.get("/readyz").json()["readModelLagEvents"] == 0
        with Ledger.open(store_url) as writer:  # another process's writes, not projected
            writer.record_many([report(f"rt-{n}", tenant="acme") for n in range(3)])
        # 3 workloads: 3 registrations and 3 outcomes, 6 events behind.
        first = client.get("/readyz")
        assert first.status_code == 503
        body = first.json()
        assert body["status"] == "not ready"
        assert body["store"] == "reachable"
        assert body["readModelLagEvents"] == 6
        assert "6 events behind" in body["reason"]
        time.sleep(0.3)
        later = client.get("/readyz").json()
        assert later["readModelLagSeconds"] >= 0.3
        lag = samples(client.get("/metrics").text)
        assert lag[("deployledger_read_model_lag_events", ())] == 6
        assert lag[("deployledger_read_model_lag_seconds", ())] >= 0.3
        assert client.get("/v1/workloads", headers=bearer(tokens.admin)).status_code == 200
        caught_up = client.get("/readyz")
        assert caught_up.status_code == 200
        on_postgres = store_url.startswith("postgresql")
        assert caught_up.json() == {
            "status": "ready",
            "store": "reachable",
            "readModelLagEvents": 0,
            "readModelLagSeconds": 0.0,
            "maxLagEvents": 3,
            "server": "127.0.0.1:5432" if on_postgres else None,
            "serverRole": "primary" if on_postgres else None,
            "replicaLagEvents": None,
            "replicaLagSeconds": None,
            "reason": None,
        }


def test_the_follower_keeps_the_read_model_live(store_url: str) -> None:
    with in_process(store_url, follow=True, poll_interval=0.1, ready_max_lag_events=0) as (
        client,
        _,
    ):
        with Ledger.open(store_url) as writer:
            writer.record(report(tenant="acme"))
        deadline = time.monotonic() + 20
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, client.get("/readyz").json()
            time.sleep(0.1)


def test_metrics_count_reports_requests_and_recording_time(store_url: str) -> None:
    with in_process(store_url) as (client, tokens):
        old = (datetime.now(UTC) - timedelta(hours=1)).isoformat()

        def post(body: object, token: str = tokens.acme) -> Response:
            return client.post("/v1/reports", json=body, headers=bearer(token))

        assert (
            post(
                [
                    request("a", tenant="acme", reportedAt=old),
                    report("b", tenant="acme", messageId="m"),
                ]
            ).status_code
            == 201
        )
        assert post(report("b", tenant="acme", messageId="m")).status_code == 200
        assert post([report("c", tenant="acme"), {"kind": "undeploy"}]).status_code == 422
        assert post(report("d", tenant="globex")).status_code == 404
        assert client.get("/v1/workloads", headers=bearer(tokens.acme)).status_code == 200
        assert client.get("/v1/workloads/acme/zzz", headers=bearer(tokens.acme)).status_code == 404
        assert client.get("/nowhere/at/all").status_code == 404
        answer = client.get("/metrics")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
        found = samples(answer.text)
        received = "deployledger_reports_received_total"
        assert {labels: value for (name, labels), value in found.items() if name == received} == {
            (("kind", "request"), ("outcome", "accepted")): 1,
            (("kind", "outcome"), ("outcome", "accepted")): 1,
            (("kind", "outcome"), ("outcome", "duplicate")): 1,
            (("kind", "outcome"), ("outcome", "rejected")): 2,
            (("kind", "undeploy"), ("outcome", "rejected")): 1,
        }
        requests = "deployledger_http_requests_total"

        def count(route: str, method: str, status: int) -> float:
            labels = (("method", method), ("route", route), ("status", str(status)))
            return found.get((requests, labels), 0)

        assert count("/v1/reports", "POST", 201) == 1
        assert count("/v1/reports", "POST", 200) == 1
        assert count("/v1/reports", "POST", 422) == 1
        assert count("/v1/reports", "POST", 404) == 1
        assert count("/v1/workloads", "GET", 200) == 1
        assert count("/v1/workloads/{tenant}/{rtId}", "GET", 404) == 1
        assert count("unmatched", "GET", 404) == 1
        assert found[("deployledger_record_duration_seconds_count", ())] == 2
        assert found[("deployledger_record_duration_seconds_sum", ())] > 0
        # Group commit (on by default): one batch per request here, of 2 messages then 1.
        assert found[("deployledger_commit_batch_messages_count", ())] == 2
        assert found[("deployledger_commit_batch_messages_sum", ())] == 3
        assert found[("deployledger_commit_seconds_count", ())] == 2
        assert found[("deployledger_overdue_workloads", ())] == 1
        assert found[("deployledger_read_model_lag_events", ())] == 0
        assert found[("deployledger_store_up", ())] == 1
        for name in ("deployledger_reports_received", "deployledger_http_requests"):
            assert f"# TYPE {name}_total counter" in answer.text
        assert "# TYPE deployledger_record_duration_seconds histogram" in answer.text


@pytest.fixture
def openapi(tmp_path: Any) -> Iterator[tuple[TestClient, Tokens, dict[str, Any]]]:
    with in_process(f"sqlite:///{tmp_path / 'ledger.db'}") as (client, tokens):
        answer = client.get("/openapi.json")
        assert answer.status_code == 200
        yield client, tokens, answer.json()


def test_openapi_has_an_example_for_every_schema_and_each_example_fits(
    openapi: tuple[TestClient, Tokens, dict[str, Any]],
) -> None:
    _, _, doc = openapi
    components = doc["components"]["schemas"]
    assert "HTTPValidationError" not in components
    for name, schema in components.items():
        assert schema.get("examples"), f"{name} has no example"
        models = {
            getattr(m, name)
            for m in (schemas, routes_failures, routes_insights)
            if isinstance(getattr(m, name, None), type) and issubclass(getattr(m, name), BaseModel)
        }
        assert len(models) == 1, f"{name}: {len(models)} models"
        model = models.pop()
        for example in schema["examples"]:
            model.model_validate(example)  # an example that does not fit its schema fails
    expected = {
        "Receipt",
        "WorkloadState",
        "Attempt",
        "AuditRow",
        "RequestEntry",
        "ProgressEntry",
        "UndeployEntry",
        "Overdue",
        "Problem",
        "ProblemItem",
        "OutcomeReport",
        "DeployRequest",
        "ProgressMessage",
        "UndeployMessage",
        "Health",
        "Readiness",
        "FailureGroupOut",
        "DeliveryStats",
        "DayCount",
        "IntakeAnswer",
        "IgnoredEvent",
    }
    assert expected <= set(components)
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_openapi_describes_every_operation_its_statuses_and_parameters(
    openapi: tuple[TestClient, Tokens, dict[str, Any]],
) -> None:
    _, _, doc = openapi
    operations = {
        (method.upper(), path): op
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
    }
    assert set(operations) == {
        ("POST", "/v1/reports"),
        ("POST", "/v1/intake/flux"),
        ("POST", "/v1/intake/cloudevents"),
        ("GET", "/v1/workloads"),
        ("GET", "/v1/workloads/{tenant}/{rtId}"),
        ("GET", "/v1/workloads/{tenant}/{rtId}/history"),
        ("GET", "/v1/audit"),
        ("GET", "/v1/overdue"),
        ("GET", "/v1/failures"),
        ("GET", "/v1/stats"),
        ("GET", "/v1/audit/export"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
    }
    for (method, path), op in operations.items():
        assert op.get("summary"), (method, path)
        assert op.get("description"), (method, path)
        assert op.get("operationId")
        for parameter in op.get("parameters", []):
            assert parameter.get("description"), (path, parameter["name"])
        for status, response in op["responses"].items():
            assert response.get("description")
            if int(status) >= 400:
                assert (
                    list(response["content"]) == ["application/problem+json"] or path == "/readyz"
                )
        if path.startswith("/v1/"):
            assert op["security"] == [{"bearer": []}]
            assert {"401", "403", "422", "503"} <= set(op["responses"])
    post = operations[("POST", "/v1/reports")]
    assert {"200", "201", "400", "404", "408", "413", "415", "422"} <= set(post["responses"])
    assert set(post["requestBody"]["content"]["application/json"]["examples"]) == {
        "outcome",
        "request",
        "progress",
        "undeploy",
        "batch",
    }


def test_the_documented_examples_are_recorded(
    openapi: tuple[TestClient, Tokens, dict[str, Any]],
) -> None:
    client, tokens, doc = openapi
    examples = doc["paths"]["/v1/reports"]["post"]["requestBody"]["content"]["application/json"][
        "examples"
    ]
    for name, example in examples.items():
        answer = client.post("/v1/reports", json=example["value"], headers=bearer(tokens.admin))
        assert answer.status_code in (200, 201), (name, answer.text)
