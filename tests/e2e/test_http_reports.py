"""POST /v1/reports through FastAPI's TestClient, on SQLite and PostgreSQL: receipts and
their status codes, every problem listed, Idempotency-Key, body limits, media types,
tokens and tenants. Nothing is stored unless a 2xx says so."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from http_support import Tokens, bearer, in_process, problem_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import eventually, progress, report, request, undeploy

from deployledger import MAX_JSON_DEPTH, Ledger
from deployledger.cli import cli as main_cli


@pytest.fixture
def api(migrated_url: str) -> Iterator[tuple[TestClient, Tokens]]:
    with in_process(migrated_url) as made:
        yield made


def post(client: TestClient, token: str, body: Any, **headers: str) -> Any:
    return client.post("/v1/reports", json=body, headers={**bearer(token), **headers})


def stored(client: TestClient, tokens: Tokens) -> list[dict[str, Any]]:
    """Every audit row of the store (outcomes), as the admin sees them."""
    response = client.get("/v1/audit?limit=10000", headers=bearer(tokens.admin))
    assert response.status_code == 200
    rows: list[dict[str, Any]] = response.json()
    return rows


def fleet(client: TestClient, tokens: Tokens) -> list[dict[str, Any]]:
    response = client.get("/v1/workloads", headers=bearer(tokens.admin))
    assert response.status_code == 200
    rows: list[dict[str, Any]] = response.json()
    return rows


def test_one_message_answers_201_with_its_receipt_then_200_as_a_duplicate(
    api: tuple[TestClient, Tokens],
) -> None:
    client, tokens = api
    sent = report(tenant="acme", success=False, message="boom", messageId="m-1")
    first = post(client, tokens.acme, sent)
    assert first.status_code == 201
    assert first.headers["content-type"] == "application/json"
    receipt = first.json()
    assert receipt["kind"] == "outcome"
    assert receipt["attempt"] == 1
    assert receipt["state"] == "Error"
    assert receipt["duplicate"] is False
    assert receipt["messageTruncated"] is False
    assert (receipt["tenantId"], receipt["workloadRtId"]) == ("acme", sent["workloadRtId"])
    again = post(client, tokens.acme, sent)
    assert again.status_code == 200
    assert again.json() == {**receipt, "duplicate": True}
    assert len(stored(client, tokens)) == 1


def test_a_receipt_says_when_its_message_was_stored_cut(migrated_url: str) -> None:
    url = f"{migrated_url}{'&' if '?' in migrated_url else '?'}max_message_bytes=1000"
    with in_process(url) as (client, tokens):
        long = report(tenant="acme", success=False, message="x" * 2000, messageId="cut-1")
        short = report("rt-short", tenant="acme", success=False, message="boom")
        cut = post(client, tokens.acme, long)
        assert (cut.status_code, cut.json()["messageTruncated"]) == (201, True)
        again = post(client, tokens.acme, [long, short])
        assert again.status_code == 201
        assert [(r["duplicate"], r["messageTruncated"]) for r in again.json()] == [
            (True, True),
            (False, False),
        ]


def test_an_array_of_every_kind_answers_an_array_of_receipts_in_order(
    api: tuple[TestClient, Tokens],
) -> None:
    client, tokens = api
    batch = [
        request("rt-1", tenant="acme", messageId="r-1"),
        progress("rt-1", tenant="acme", messageId="p-1"),
        report("rt-1", tenant="acme", messageId="o-1"),
        undeploy("rt-2", tenant="acme", messageId="u-1"),
    ]
    answer = post(client, tokens.acme, batch)
    assert answer.status_code == 201
    receipts = answer.json()
    assert [r["kind"] for r in receipts] == ["request", "progress", "outcome", "undeploy"]
    assert [r["state"] for r in receipts] == ["Pending", "Pending", "Deployed", "Undeployed"]
    positions = [r["position"] for r in receipts]
    assert positions == sorted(positions)
    repeat = post(client, tokens.acme, batch)
    assert repeat.status_code == 200  # every one a duplicate
    assert [r["duplicate"] for r in repeat.json()] == [True] * 4
    assert [r["position"] for r in repeat.json()] == positions
    mixed = post(client, tokens.acme, [batch[0], report("rt-3", tenant="acme", messageId="o-3")])
    assert mixed.status_code == 201  # one new: 201, the other receipt says duplicate
    assert [r["duplicate"] for r in mixed.json()] == [True, False]
    # A single-element array still answers an array.
    single = post(client, tokens.acme, [report("rt-4", tenant="acme")])
    assert single.status_code == 201
    assert isinstance(single.json(), list)


def test_every_problem_is_listed_with_its_index_and_nothing_is_stored(
    api: tuple[TestClient, Tokens],
) -> None:
    client, tokens = api
    batch = [
        report("rt-1", tenant="acme"),
        report("rt-2", tenant="acme", success="true"),
        {"tenantId": " ", "workloadName": "api", "success": True},
        {"tenantId": "acme", "workloadName": "api", "workloadRtId": "x", "message": "m"},
    ]
    body = problem_of(post(client, tokens.acme, batch), 422)
    assert body["type"] == "urn:deployledger:problem:invalid-request"
    assert "nothing was stored" in body["detail"]
    found = {(p["index"], p["field"]) for p in body["problems"]}
    assert found == {(1, "success"), (2, "tenantId"), (2, "workloadRtId"), (3, "kind")}
    assert all(p["reason"] for p in body["problems"])
    assert fleet(client, tokens) == []
    # A single message: index null.
    one = problem_of(post(client, tokens.acme, report(tenant="acme", success=1)), 422)
    assert [(p["index"], p["field"]) for p in one["problems"]] == [(None, "success")]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (42, "must be a JSON object"),
        ("text", "must be a JSON object"),
        (None, "must be a JSON object"),
        ([], "the array is empty"),
    ],
)
def test_a_body_that_is_no_message_is_422(
    api: tuple[TestClient, Tokens], body: Any, reason: str
) -> None:
    client, tokens = api
    headers = {**bearer(tokens.acme), "content-type": "application/json"}
    answer = client.post("/v1/reports", content=json_text(body), headers=headers)
    problem = problem_of(answer, 422)
    assert reason in problem["problems"][0]["reason"]
    assert problem["problems"][0]["index"] is None


def test_the_idempotency_key_is_the_messageid_of_a_single_message(
    api: tuple[TestClient, Tokens],
) -> None:
    client, tokens = api
    sent = report("rt-k", tenant="acme", success=False, message="first")
    first = post(client, tokens.acme, sent, **{"Idempotency-Key": "key-1"})
    assert first.status_code == 201
    history = client.get("/v1/workloads/acme/rt-k/history", headers=bearer(tokens.acme)).json()
    assert [e["messageId"] for e in history] == ["key-1"]
    # A retry with the same key and body: a duplicate, whether the key is a bare token or a
    # structured-field string, and whether the body also says the messageId.
    for key, body in (
        ("key-1", sent),
        ('"key-1"', sent),
        ("key-1", {**sent, "messageId": "key-1"}),
        ("key-1", {**sent, "message_id": "key-1"}),
    ):
        retry = post(client, tokens.acme, body, **{"Idempotency-Key": key})
        assert retry.status_code == 200, retry.text
        assert retry.json() == {**first.json(), "duplicate": True}
    # The same key with another body: 422, nothing stored.
    other = post(
        client, tokens.acme, {**sent, "statusMessage": "second"}, **{"Idempotency-Key": "key-1"}
    )
    problem = problem_of(other, 422)
    assert problem["problems"][0]["field"] == "messageId"
    assert "different content" in problem["problems"][0]["reason"]
    # A key that contradicts the body's own messageId.
    clash = post(client, tokens.acme, {**sent, "messageId": "m-9"}, **{"Idempotency-Key": "k-9"})
    assert problem_of(clash, 422)["problems"][0]["field"] == "Idempotency-Key"
    # An array with the header: refused, it is for a single message.
    batch = post(client, tokens.acme, [sent], **{"Idempotency-Key": "key-2"})
    reason = problem_of(batch, 422)["problems"][0]["reason"]
    assert "single message" in reason
    for bad in ("", '""', "k" * 257, "tab\there"):
        answer = post(client, tokens.acme, sent, **{"Idempotency-Key": bad})
        assert problem_of(answer, 422)["problems"][0]["field"] == "Idempotency-Key", bad
    assert len(stored(client, tokens)) == 1


def test_a_message_for_a_tenant_the_token_does_not_hold_is_404_and_nothing_is_stored(
    api: tuple[TestClient, Tokens],
) -> None:
    client, tokens = api
    alone = post(client, tokens.acme, report(tenant="globex"))
    body = problem_of(alone, 404)
    assert "globex" in body["detail"]
    mixed = post(client, tokens.acme, [report("a", tenant="acme"), report("g", tenant="globex")])
    problem_of(mixed, 404)
    assert fleet(client, tokens) == []  # not even acme's
    assert post(client, tokens.admin, report(tenant="globex")).status_code == 201


def test_tokens_answer_401_without_a_valid_one_and_403_without_the_scope(
    api: tuple[TestClient, Tokens], migrated_url: str
) -> None:
    client, tokens = api
    sent = report(tenant="acme")
    missing = client.post("/v1/reports", json=sent)
    problem_of(missing, 401)
    assert missing.headers["www-authenticate"].startswith("Bearer")
    for header in (
        "Bearer nonsense",
        "Bearer dlt_000000000000_" + "A" * 43,
        f"Basic {tokens.acme}",
        "Bearer",
        f"Bearer {tokens.acme}x",
    ):
        answer = client.post("/v1/reports", json=sent, headers={"Authorization": header})
        problem_of(answer, 401)
        assert "Bearer" in answer.headers["www-authenticate"]
    read_only = problem_of(post(client, tokens.acme_read, sent), 403)
    assert "write" in read_only["detail"]
    assert (
        'error="insufficient_scope"'
        in client.post("/v1/reports", json=sent, headers=bearer(tokens.two)).headers[
            "www-authenticate"
        ]
    )
    write_only = client.get("/v1/workloads", headers=bearer(tokens.acme_write))
    assert "read" in problem_of(write_only, 403)["detail"]
    assert fleet(client, tokens) == []
    # The dashboard's cookie is a token too.
    client.cookies.set("deployledger_token", tokens.acme)
    assert client.get("/v1/workloads").status_code == 200
    client.cookies.clear()
    # A token revoked by another process: 401 once the service's cache of verified tokens
    # (5 seconds) has let it go.
    assert client.get("/v1/workloads", headers=bearer(tokens.acme)).status_code == 200
    with Ledger.open(migrated_url) as ledger:
        ledger.tokens.revoke(tokens.ids["acme"])
    revoked_at = time.monotonic()
    eventually(
        lambda: client.get("/v1/workloads", headers=bearer(tokens.acme)).status_code == 401,
        timeout=10,
        what="a revoked token to answer 401",
        every=0.25,
    )
    assert time.monotonic() - revoked_at < 7
    problem_of(post(client, tokens.acme, sent), 401)
    assert fleet(client, tokens) == []


def test_a_body_over_the_limit_is_413_while_it_is_read(migrated_url: str) -> None:
    limit = 64 * 1024
    with in_process(migrated_url, max_body_bytes=limit) as (client, tokens):
        big = report(tenant="acme", message="x" * limit)
        answer = post(client, tokens.acme, big)
        body = problem_of(answer, 413)
        assert f"{limit:,}" in body["detail"]

        # Without Content-Length (chunked), the limit holds while reading: the generator
        # is not even read to its end.
        sent_chunks = 0

        def chunks() -> Iterator[bytes]:
            nonlocal sent_chunks
            yield b'{"tenantId": "acme", "statusMessage": "'
            for _ in range(1000):
                sent_chunks += 1
                yield b"x" * 1024
            yield b'"}'

        streamed = client.post(
            "/v1/reports",
            content=chunks(),
            headers={**bearer(tokens.acme), "content-type": "application/json"},
        )
        problem_of(streamed, 413)
        assert fleet(client, tokens) == []
        # Just under the limit: accepted.
        fits = report(tenant="acme", message="y" * (limit - 1000))
        assert post(client, tokens.acme, fits).status_code == 201


def test_the_default_limit_is_8_mib(api: tuple[TestClient, Tokens]) -> None:
    client, tokens = api
    head = report(tenant="acme", message="")
    text = json_text(head)
    room = 8 * 1024 * 1024 - len(text)
    at_limit = text.replace('"statusMessage": ""', '"statusMessage": "' + "z" * room + '"')
    assert len(at_limit) == 8 * 1024 * 1024
    headers = {**bearer(tokens.acme), "content-type": "application/json"}
    accepted = client.post("/v1/reports", content=at_limit, headers=headers)
    assert accepted.status_code == 201, accepted.text
    over = client.post("/v1/reports", content=at_limit + " ", headers=headers)
    problem_of(over, 413)


def json_text(body: Any) -> str:
    return json.dumps(body)


@pytest.mark.parametrize(
    ("content", "media", "status"),
    [
        (b'{"a": 1', "application/json", 400),
        (b'{"a": 1, "a": 2}', "application/json", 400),
        (b"\xff\xfe\x00", "application/json", 400),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 400),
        (b"NaN", "application/json", 400),
        (b"tenantId=acme", "application/x-www-form-urlencoded", 415),
        (b"{}", "text/plain", 415),
        (b"<x/>", "application/xml", 415),
    ],
)
def test_a_body_that_is_not_json_is_400_or_415(
    api: tuple[TestClient, Tokens], content: bytes, media: str, status: int
) -> None:
    client, tokens = api
    answer = client.post(
        "/v1/reports", content=content, headers={**bearer(tokens.acme), "content-type": media}
    )
    problem_of(answer, status)


def nested(depth: int, array: bool) -> dict[str, Any]:
    """An outcome whose extra field makes it `depth` levels deep (its object is level 1)."""
    inner: Any = 1
    for _ in range(depth - 1):
        inner = [inner] if array else {"a": inner}
    return report("rt-deep", tenant="acme", extra=inner) if depth > 1 else report(tenant="acme")


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(depth=st.integers(60, 200), array=st.booleans(), batch=st.booleans())
def test_http_and_record_take_json_nested_as_deep_and_no_deeper(
    api: tuple[TestClient, Tokens], depth: int, array: bool, batch: bool
) -> None:
    client, tokens = api
    message = nested(depth, array)
    text = json.dumps([message] if batch else message)
    headers = {**bearer(tokens.acme), "content-type": "application/json"}
    answer = client.post("/v1/reports", content=text, headers=headers)
    cli = CliRunner().invoke(main_cli, ["--store", "sqlite:///:memory:", "record"], input=text)
    if depth <= MAX_JSON_DEPTH:
        assert answer.status_code in (200, 201), answer.text
        assert cli.exit_code == 0, cli.output
    else:
        problem = problem_of(answer, 400)
        too_deep = f"nested deeper than {MAX_JSON_DEPTH} levels"
        assert problem["detail"] == f"the body is not valid JSON: {too_deep}"
        assert cli.exit_code == 2
        assert f"invalid JSON: {too_deep}" in cli.output


def test_json_without_a_content_type_and_json_suffix_types_are_taken(
    api: tuple[TestClient, Tokens],
) -> None:
    client, tokens = api
    for rt_id, media in (
        ("a", None),
        ("b", "application/vnd.acme+json"),
        ("c", "application/json; charset=utf-8"),
    ):
        headers = bearer(tokens.acme)
        if media:
            headers["content-type"] = media
        body = json_text(report(rt_id, tenant="acme")).encode()
        answer = client.post("/v1/reports", content=body, headers=headers)
        assert answer.status_code == 201, (media, answer.text)
