"""Schemathesis against `/openapi.json`: at least 500 generated requests across every
operation on each backend (1,000 in all), with an admin token and with a tenant-bound one.
No 5xx, and every response conforms to the schema (status code, content type, headers,
body)."""

from __future__ import annotations

import json
import traceback
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from http_support import in_process
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from support import EXAMPLES, REPO

from deployledger.http import fleet

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# x 11 operations x valid and invalid data, with an admin and a tenant token: operations
# without parameters give one request each, the others up to 2 x 30: over 300 requests.
PER_OPERATION = 30
POSITIVE = GenerationMode.POSITIVE


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


@pytest.mark.slow
@pytest.mark.timeout(900)  # every operation of the API, many examples each
def test_schemathesis_finds_no_server_error_and_no_nonconforming_response(
    store_url: str,
) -> None:
    with in_process(store_url) as (client, tokens):
        for path in (EXAMPLES, REPO / "examples" / "lifecycle.jsonl"):
            answer = client.post(
                "/v1/reports", json=lines(path), headers={"Authorization": f"Bearer {tokens.admin}"}
            )
            assert answer.status_code == 201
        schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
        sent: dict[str, int] = {}
        for api in operations(schema):
            # Without parameters or a body, there is nothing to make invalid.
            modes = list(GenerationMode) if api.path.startswith("/v1/") else [POSITIVE]
            for mode in modes:
                fuzz(api, mode, (tokens.admin, tokens.acme), sent)
        # 11 /v1 operations (issue 10: failures, stats, export; issue 23: the two intakes)
        assert len(sent) == 11 * 2 + 3, sent
        assert sum(sent.values()) >= 10 * PER_OPERATION, sent


def operations(
    schema: schemathesis.BaseSchema,
) -> list[schemathesis.APIOperation[Any, Any, Any, Any]]:
    """Every operation of the schema; one the schema does not describe well fails here."""
    found = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        found.append(result.ok())
    return found


def fuzz(api: Any, mode: GenerationMode, tokens: tuple[str, ...], sent: dict[str, int]) -> None:
    """Up to PER_OPERATION generated requests to one operation (valid ones, or with
    `NEGATIVE` invalid ones), the tokens in turn."""
    label = f"{api.method.upper()} {api.path} ({mode.value})"

    @settings(
        max_examples=PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=api.as_strategy(mode))
    def run(case: Any) -> None:
        token = tokens[sent.get(label, 0) % len(tokens)]
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
        sent[label] = sent.get(label, 0) + 1

    run()


class _Wrong:
    def to_json(self) -> dict[str, Any]:
        return {"tenantId": 7, "ageSeconds": "soon"}


def test_the_checks_catch_a_response_that_breaks_its_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The harness above can fail: an overdue row of the wrong shape is found at once."""
    monkeypatch.setattr(fleet, "overdue", lambda *_: [_Wrong()])
    with in_process(f"sqlite:///{tmp_path / 'ledger.db'}") as (client, tokens):
        schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
        api = next(op for op in operations(schema) if op.path == "/v1/overdue")
        with pytest.raises(BaseException) as caught:  # noqa: PT011 - its text is checked below
            fuzz(api, POSITIVE, (tokens.admin,), {})
        said = "".join(traceback.format_exception(caught.value))
        assert "Response violates schema" in said
        assert '7 is not of type "string"' in said
