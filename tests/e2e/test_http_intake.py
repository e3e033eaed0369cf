"""POST /v1/intake/flux and /v1/intake/cloudevents through FastAPI's TestClient, on SQLite
and PostgreSQL: what each event stores, signatures, duplicates, every problem listed,
nothing stored on a refusal. One store per backend for the module; each test uses its own
workloads."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from http_support import Tokens, bearer, make_tokens, problem_of
from intake_data import (
    BATCH,
    CLUSTER,
    FLUX_REASONS,
    HMAC_SECRET,
    MALFORMED_FLUX,
    STRUCTURED,
    binary,
    body_of,
    cdevent,
    flux_event,
    signed,
)
from support import REPO, create_database, migrated_sqlite

from deployledger import Ledger, TokenNotFound
from deployledger.cli import cli as main_cli
from deployledger.domain.intake.flux import workload_rt_id
from deployledger.http import ServeSettings, create_app

FLUX = "/v1/intake/flux"
CLOUDEVENTS = "/v1/intake/cloudevents"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


class Api:
    def __init__(self, client: TestClient, tokens: Tokens, signing: str, url: str) -> None:
        self.client, self.tokens, self.signing, self.url = client, tokens, signing, url

    def flux(self, event: Any, query: str = f"?cluster={CLUSTER}", **headers: str) -> Any:
        body = body_of(event)
        sent = {"content-type": "application/json", **bearer(self.tokens.acme), **headers}
        return self.client.post(FLUX + query, content=body, headers=sent)

    def cloudevents(self, body: bytes, content_type: str, **headers: str) -> Any:
        sent = {"content-type": content_type, **bearer(self.tokens.acme), **headers}
        return self.client.post(CLOUDEVENTS, content=body, headers=sent)

    def workload(self, rt_id: str, tenant: str = "acme") -> dict[str, Any] | None:
        response = self.client.get(
            f"/v1/workloads/{tenant}/{rt_id}", headers=bearer(self.tokens.admin)
        )
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found


@pytest.fixture(scope="module", params=BACKENDS)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    dropper = None
    if request.param == "sqlite":
        url = migrated_sqlite(tmp_path_factory.mktemp("intake") / "ledger.db")
    else:
        dropper = request.getfixturevalue("dropper")
        admin = request.getfixturevalue("postgres_admin_dsn")
        template = request.getfixturevalue("postgres_template")
        url = create_database(admin, template=template)
    tokens = make_tokens(url)
    with Ledger.open(url) as ledger:
        _, signing = ledger.tokens.create(tenants=("acme",), name="flux-hmac")
        ledger.tokens.set_hmac_secret(signing, HMAC_SECRET)
    app = create_app(ServeSettings(store=url, follow=False, group_commit=False))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, tokens, signing, url)
    if dropper is not None:
        dropper.drop(url)


def unique(prefix: str = "w") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def flux_rt_id(name: str, namespace: str = "apps") -> str:
    return workload_rt_id(CLUSTER, namespace, name)


class TestFlux:
    def test_every_reason_is_stored_as_the_table_says(self, api: Api) -> None:
        name = unique()
        for step, reason in enumerate(FLUX_REASONS):
            event = flux_event(reason, name=name, timestamp=f"2026-12-07T10:00:{step:02d}Z")
            response = api.flux(event)
            stored = FLUX_REASONS[reason][1]
            if stored is None:
                assert response.status_code == 202, (reason, response.text)
                assert response.json()["receipts"] == []
            else:
                assert response.status_code == 201, (reason, response.text)
                assert [r["kind"] for r in response.json()["receipts"]] == [stored]
        state = api.workload(flux_rt_id(name))
        assert state is not None
        assert state["workloadName"] == f"apps/{name}"

    def test_a_success_deploys_a_failure_errs_and_an_uninstall_undeploys(self, api: Api) -> None:
        name = unique()
        rt_id = flux_rt_id(name)
        assert api.flux(flux_event("InstallSucceeded", name=name)).status_code == 201
        state = api.workload(rt_id)
        assert state is not None
        assert (state["state"], state["poolName"]) == ("Deployed", CLUSTER)
        failed = flux_event("UpgradeFailed", name=name, timestamp="2026-12-07T10:05:00Z")
        assert api.flux(failed).status_code == 201
        state = api.workload(rt_id)
        assert state is not None
        assert state["state"] == "Error"
        assert "field is immutable" in state["statusMessage"]
        history = api.client.get(
            f"/v1/workloads/acme/{rt_id}/history", headers=bearer(api.tokens.admin)
        ).json()
        failure = next(a for a in history if a["success"] is False)
        assert failure["category"] == "immutable-field"  # categorized like any other failure
        assert failure["fingerprint"]
        gone = flux_event("UninstallSucceeded", name=name, timestamp="2026-12-07T10:09:00Z")
        assert api.flux(gone).status_code == 201
        state = api.workload(rt_id)
        assert state is not None
        assert state["state"] == "Undeployed"

    def test_a_retried_event_is_a_duplicate(self, api: Api) -> None:
        event = flux_event(name=unique())
        first = api.flux(event)
        assert first.status_code == 201
        again = api.flux(event)
        assert again.status_code == 200
        assert again.json()["receipts"] == [{**first.json()["receipts"][0], "duplicate": True}]

    def test_other_kinds_answer_202_and_store_nothing(self, api: Api) -> None:
        name = unique()
        for kind in ("Kustomization", "GitRepository"):
            response = api.flux(flux_event(kind=kind, name=name))
            assert response.status_code == 202
            assert response.json()["ignored"][0]["reason"].startswith(kind)
        assert api.workload(flux_rt_id(name)) is None

    @pytest.mark.parametrize("case", sorted(MALFORMED_FLUX))
    def test_a_malformed_event_answers_422_with_every_problem(self, api: Api, case: str) -> None:
        payload, fields = MALFORMED_FLUX[case]
        body = problem_of(api.flux(payload), 422)
        assert {p["field"] for p in body["problems"]} == fields
        assert "nothing was stored" in body["detail"]

    def test_the_tenant_comes_from_the_query_and_must_be_the_tokens(self, api: Api) -> None:
        name = unique()
        event = flux_event(name=name)
        sent = {"Authorization": f"Bearer {api.tokens.admin}"}
        missing = problem_of(api.flux(event, **sent), 422)
        assert {p["field"] for p in missing["problems"]} == {"tenant"}
        response = api.flux(event, query=f"?cluster={CLUSTER}&tenant=globex", **sent)
        assert response.status_code == 201
        assert response.json()["receipts"][0]["tenantId"] == "globex"
        problem_of(api.flux(flux_event(name=unique()), query="?cluster=c&tenant=globex"), 404)
        assert api.workload(flux_rt_id(name)) is None  # acme's: nothing there

    def test_the_tenant_may_be_the_namespace(self, api: Api) -> None:
        query = f"?cluster={CLUSTER}&tenantFrom=namespace"
        event = flux_event(name=unique(), namespace="globex")
        admin = bearer(api.tokens.admin)
        response = api.flux(event, query=query, **admin)
        assert response.status_code == 201, response.text
        assert response.json()["receipts"][0]["tenantId"] == "globex"
        problem_of(api.flux(flux_event(name=unique(), namespace="globex"), query=query), 404)
        mine = api.flux(flux_event(name=unique(), namespace="acme"), query=query)
        assert mine.status_code == 201
        both = problem_of(api.flux(event, query=query + "&tenant=globex", **admin), 422)
        assert [p["field"] for p in both["problems"]] == ["tenantFrom"]

    def test_without_a_token_it_is_401(self, api: Api) -> None:
        response = api.client.post(FLUX, json=flux_event())
        problem_of(response, 401)


class TestFluxSignature:
    def send(self, api: Api, event: Any, signature: str | None, token: str | None = None) -> Any:
        body = body_of(event)
        headers = {"content-type": "application/json", **bearer(token or api.signing)}
        if signature is not None:
            headers["X-Signature"] = signature
        return api.client.post(FLUX + f"?cluster={CLUSTER}", content=body, headers=headers)

    def test_a_valid_signature_is_recorded(self, api: Api) -> None:
        event = flux_event(name=unique())
        assert self.send(api, event, signed(body_of(event))).status_code == 201

    @pytest.mark.parametrize("how", ["missing", "wrong secret", "other body", "bad header"])
    def test_a_bad_or_missing_signature_is_401_and_stores_nothing(self, api: Api, how: str) -> None:
        name = unique()
        event = flux_event(name=name)
        signature = {
            "missing": None,
            "wrong secret": signed(body_of(event), "not-the-secret-at-all"),
            "other body": signed(body_of(flux_event(name="other"))),
            "bad header": "sha256",
        }[how]
        response = self.send(api, event, signature)
        body = problem_of(response, 401)
        assert "nothing was stored" in body["detail"]
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert api.workload(flux_rt_id(name)) is None

    def test_a_signed_event_for_a_token_without_a_secret_is_401(self, api: Api) -> None:
        event = flux_event(name=unique())
        problem_of(self.send(api, event, signed(body_of(event)), api.tokens.acme), 401)


class TestCloudEvents:
    @pytest.mark.parametrize("version", ["0.4", "0.5"])
    def test_structured_binary_and_batch_modes_record_cdevents(
        self, api: Api, version: str
    ) -> None:
        one, two, three = unique(), unique(), unique()
        structured = cdevent("deployed", version, event_id=unique("id"), workload=one)
        response = api.cloudevents(json.dumps(structured).encode(), STRUCTURED)
        assert response.status_code == 201, response.text
        headers, body = binary(cdevent("upgraded", version, event_id=unique("id"), workload=two))
        response = api.client.post(
            CLOUDEVENTS, content=body, headers={**headers, **bearer(api.tokens.acme)}
        )
        assert response.status_code == 201, response.text
        batch = [
            cdevent("rolledback", version, event_id=unique("id"), workload=three),
            {**cdevent(event_id=unique("id")), "type": "com.example.other"},
            cdevent("removed", version, event_id=unique("id"), workload=one, artifact=None),
        ]
        response = api.cloudevents(json.dumps(batch).encode(), BATCH)
        assert response.status_code == 201, response.text
        assert [r["kind"] for r in response.json()["receipts"]] == ["outcome", "undeploy"]
        assert response.json()["ignored"][0]["index"] == 1
        states = {rt: api.workload(rt) for rt in (one, two, three)}
        assert {rt: s["state"] for rt, s in states.items() if s} == {
            one: "Undeployed",
            two: "Deployed",
            three: "Deployed",
        }
        rolled = states[three]
        assert rolled is not None
        assert rolled["statusMessage"].startswith("Rolled back:")

    def test_the_cloudevent_id_makes_a_retry_a_duplicate(self, api: Api) -> None:
        body = json.dumps(cdevent(event_id=unique("id"), workload=unique())).encode()
        assert api.cloudevents(body, STRUCTURED).status_code == 201
        assert api.cloudevents(body, STRUCTURED).status_code == 200

    def test_a_batch_with_a_bad_event_stores_nothing(self, api: Api) -> None:
        good = unique()
        bad = cdevent(event_id=unique("id"), workload=unique())
        del bad["data"]["subject"]["content"]["artifactId"]
        events = [cdevent(event_id=unique("id"), workload=good), bad]
        body = problem_of(api.cloudevents(json.dumps(events).encode(), BATCH), 422)
        assert [(p["index"], p["field"]) for p in body["problems"]] == [
            (1, "data.subject.content.artifactId")
        ]
        assert api.workload(good) is None

    def test_other_types_answer_202(self, api: Api) -> None:
        event = {**cdevent(event_id=unique("id")), "type": "dev.cdevents.taskrun.started.0.2.0"}
        response = api.cloudevents(json.dumps(event).encode(), STRUCTURED)
        assert response.status_code == 202
        assert response.json() == {
            "receipts": [],
            "ignored": [{"index": None, "reason": response.json()["ignored"][0]["reason"]}],
        }

    def test_what_is_not_a_cloudevent_is_422_and_bad_json_400(self, api: Api) -> None:
        problem_of(api.cloudevents(b"{}", "application/json"), 422)
        problem_of(api.cloudevents(b"{nope", STRUCTURED), 400)


def test_strict_mode_refuses_other_types(tmp_path: Path) -> None:
    url = migrated_sqlite(tmp_path / "strict.db")
    tokens = make_tokens(url)
    app = create_app(ServeSettings(store=url, follow=False, intake_strict=True))
    event = {**cdevent(), "type": "com.example.other"}
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post(
            CLOUDEVENTS,
            content=json.dumps(event).encode(),
            headers={"content-type": STRUCTURED, **bearer(tokens.acme)},
        )
    body = problem_of(response, 422)
    assert [p["field"] for p in body["problems"]] == ["type"]


def test_token_secret_sets_generates_and_clears_the_hmac_secret(tmp_path: Path) -> None:
    url = migrated_sqlite(tmp_path / "cli.db")
    with Ledger.open(url) as ledger:
        grant, _ = ledger.tokens.create(tenants=("acme",), name="flux")
    runner = CliRunner()
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(HMAC_SECRET + "\n")
    args = ["--store", url, "token", "secret", grant.token_id]
    made = runner.invoke(main_cli, [*args, "--from-file", str(secret_file)], catch_exceptions=False)
    assert made.exit_code == 0, made.output
    assert HMAC_SECRET not in made.output
    body = b"{}"
    with Ledger.open(url) as ledger:
        assert ledger.tokens.check_signature(grant.token_id, body, signed(body)) is None
    generated = runner.invoke(main_cli, [*args, "--generate"], catch_exceptions=False)
    assert generated.exit_code == 0
    new_secret = generated.stdout.strip()
    assert len(new_secret) >= 32
    with Ledger.open(url) as ledger:
        assert ledger.tokens.check_signature(grant.token_id, body, signed(body, new_secret)) is None
    listed = runner.invoke(main_cli, ["--store", url, "token", "list", "-o", "json"])
    assert new_secret not in listed.output
    cleared = runner.invoke(main_cli, [*args, "--clear"], catch_exceptions=False)
    assert cleared.exit_code == 0
    with Ledger.open(url) as ledger:
        assert ledger.tokens.check_signature(grant.token_id, body, None) is None
    short = runner.invoke(main_cli, [*args, "--from-file", "-"], input="short\n")
    assert short.exit_code != 0
    assert "at least 16 characters" in str(short.exception)  # main() prints it as one line
    neither = runner.invoke(main_cli, args)
    assert neither.exit_code == 2
    unknown = runner.invoke(main_cli, ["--store", url, "token", "secret", "0" * 12, "--clear"])
    assert isinstance(unknown.exception, TokenNotFound)


def curl_examples() -> list[tuple[dict[str, str], bytes]]:
    """The headers and inline bodies of the curl examples of docs/intake.md."""
    text = (REPO / "docs" / "intake.md").read_text(encoding="utf-8")
    found = []
    for command in re.split(r"\ncurl ", text)[1:]:
        command = command.split("\n\n", 1)[0].split("```", 1)[0]
        body = re.search(r"-d '(.*?)'", command, re.DOTALL)
        if body is None:
            continue
        headers = dict(
            (name.strip().lower(), value.strip())
            for name, value in re.findall(r"-H '([^:']+):([^']*)'", command)
        )
        headers.pop("authorization", None)
        found.append((headers, body.group(1).encode()))
    return found


def test_the_curl_examples_of_the_docs_are_recorded(api: Api) -> None:
    examples = curl_examples()
    assert len(examples) == 2
    for headers, body in examples:
        response = api.client.post(
            CLOUDEVENTS, content=body, headers={**headers, **bearer(api.tokens.acme)}
        )
        assert response.status_code in (200, 201), response.text
