"""The CloudEvents binding and the CDEvents mapper (deployledger.domain.intake): the three
modes, both CDEvents spec versions, purls, malformed events, strict mode. No database."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from intake_data import BATCH, STRUCTURED, binary, cdevent

from deployledger import InvalidReport, cloudevents_intake, parse_message
from deployledger.domain.intake import parse_purl

VERSIONS = ("0.4", "0.5")


def structured(body: Any, **kwargs: Any) -> Any:
    return cloudevents_intake({"content-type": STRUCTURED}, body, tenant="acme", **kwargs)


def problems_of(raised: pytest.ExceptionInfo[InvalidReport]) -> set[tuple[int | None, str]]:
    return {(p.report, p.field) for p in raised.value.problems}


class TestCDEvents:
    @pytest.mark.parametrize("version", VERSIONS)
    @pytest.mark.parametrize("predicate", ["deployed", "upgraded"])
    def test_deployed_and_upgraded_are_successful_outcomes(
        self, predicate: str, version: str
    ) -> None:
        result, batch = structured(cdevent(predicate, version))
        assert batch is False
        (message,) = result.messages
        assert message["kind"] == "outcome"
        assert message["success"] is True
        assert (message["workloadRtId"], message["poolName"]) == ("checkout", "prod-eu")
        assert message["messageId"] == "ce-0001"
        assert (
            message["statusMessage"]
            == f"chart checkout version 1.2.3 (CDEvents service.{predicate})"
        )
        parse_message(message)

    @pytest.mark.parametrize("version", VERSIONS)
    def test_rolledback_is_a_successful_outcome_marked_as_a_rollback(self, version: str) -> None:
        (message,) = structured(cdevent("rolledback", version))[0].messages
        assert message["success"] is True
        assert message["statusMessage"].startswith("Rolled back: chart checkout version 1.2.3")

    @pytest.mark.parametrize("version", VERSIONS)
    def test_removed_is_an_undeploy_and_needs_no_artifact(self, version: str) -> None:
        (message,) = structured(cdevent("removed", version, artifact=None))[0].messages
        assert message["kind"] == "undeploy"
        assert message["poolRtId"] == "prod-eu"
        parse_message(message)

    def test_nanosecond_timestamps_as_go_writes_them_are_taken(self) -> None:
        event = cdevent(timestamp="2026-12-07T10:00:00.123456789Z")
        (message,) = structured(event)[0].messages
        assert parse_message(message).reported_at is not None

    def test_the_pool_may_be_mapped(self) -> None:
        (message,) = structured(cdevent(), pool="eu-pool")[0].messages
        assert message["poolName"] == "eu-pool"

    def test_other_types_are_ignored_or_refused_in_strict_mode(self) -> None:
        for event_type in ("dev.cdevents.pipelinerun.finished.0.2.0", "com.example.build"):
            event = {**cdevent(), "type": event_type}
            result, _ = structured(event)
            assert result.messages == ()
            assert result.ignored[0][1].startswith(event_type)
            with pytest.raises(InvalidReport) as raised:
                structured(event, strict=True)
            assert problems_of(raised) == {(None, "type")}

    def test_an_unknown_version_of_a_service_type_is_a_problem(self) -> None:
        event = cdevent()
        event["type"] = event["data"]["context"]["type"] = "dev.cdevents.service.deployed.0.1.0"
        with pytest.raises(InvalidReport) as raised:
            structured(event)
        assert problems_of(raised) == {(None, "type")}

    def test_every_problem_of_a_malformed_cdevent_is_listed(self) -> None:
        event = cdevent("deployed", "0.5")
        context, subject = event["data"]["context"], event["data"]["subject"]
        context["version"] = "0.4.1"  # the 0.4 field in a 0.5 event
        context["specversion"] = "0.4.1"
        del context["timestamp"]
        context["id"] = "another-id"
        subject["content"]["artifactId"] = "helm:checkout"
        del subject["content"]["environment"]["id"]
        subject["colour"] = "blue"
        with pytest.raises(InvalidReport) as raised:
            structured(event)
        assert problems_of(raised) == {
            (None, "data.context.version"),
            (None, "data.context.specversion"),
            (None, "data.context.timestamp"),
            (None, "data.context.id"),
            (None, "data.subject.content.artifactId"),
            (None, "data.subject.content.environment.id"),
            (None, "data.subject.colour"),
        }

    def test_no_data_is_a_problem(self) -> None:
        event = cdevent()
        del event["data"]
        with pytest.raises(InvalidReport) as raised:
            structured(event)
        assert problems_of(raised) == {(None, "data")}


class TestModes:
    @pytest.mark.parametrize("version", VERSIONS)
    def test_binary_mode_reads_the_ce_headers(self, version: str) -> None:
        headers, body = binary(cdevent("upgraded", version))
        result, batch = cloudevents_intake(headers, json.loads(body), tenant="acme")
        assert batch is False
        assert [m["messageId"] for m in result.messages] == ["ce-0001"]

    def test_binary_mode_headers_are_percent_decoded(self) -> None:
        event = cdevent(event_id="id with space")
        event["data"]["context"]["id"] = "id with space"
        headers, body = binary(event)
        headers["ce-id"] = "id%20with%20space"
        result, _ = cloudevents_intake(headers, json.loads(body), tenant="acme")
        assert result.messages[0]["messageId"] == "id with space"

    def test_binary_mode_with_other_data_is_ignored_when_the_type_is_not_taken(self) -> None:
        headers = {
            "ce-specversion": "1.0",
            "ce-id": "1",
            "ce-source": "/x",
            "ce-type": "com.example.text",
            "content-type": "text/plain",
        }
        result, _ = cloudevents_intake(headers, b"hello", tenant="acme")
        assert result.messages == ()

    def test_a_batch_maps_each_event_and_ignores_the_others(self) -> None:
        events = [
            cdevent("deployed", "0.4", event_id="a"),
            {**cdevent(event_id="b"), "type": "com.example.other"},
            cdevent("removed", "0.5", event_id="c", artifact=None),
        ]
        result, batch = cloudevents_intake({"content-type": BATCH}, events, tenant="acme")
        assert batch is True
        assert [m["messageId"] for m in result.messages] == ["a", "c"]
        assert result.sources == (0, 2)
        assert [i for i, _ in result.ignored] == [1]

    def test_a_batch_with_one_bad_event_is_refused_whole_with_every_problem(self) -> None:
        bad = cdevent(event_id="b")
        del bad["source"]
        bad["data"]["subject"].pop("id")
        events = [cdevent(event_id="a"), bad, {"specversion": "0.3"}]
        with pytest.raises(InvalidReport) as raised:
            cloudevents_intake({"content-type": BATCH}, events, tenant="acme")
        assert problems_of(raised) == {
            (2, "source"),
            (3, "specversion"),
            (3, "id"),
            (3, "source"),
            (3, "type"),
        }

    @pytest.mark.parametrize(
        ("headers", "body", "field"),
        [
            ({"content-type": "application/json"}, {}, "Content-Type"),
            ({"content-type": STRUCTURED}, [], "(body)"),
            ({"content-type": BATCH}, {}, "(body)"),
            ({"content-type": BATCH}, [1], "(event)"),
        ],
    )
    def test_a_request_that_is_not_a_cloudevent_is_a_problem(
        self, headers: dict[str, str], body: Any, field: str
    ) -> None:
        with pytest.raises(InvalidReport) as raised:
            cloudevents_intake(headers, body, tenant="acme")
        assert {p.field for p in raised.value.problems} == {field}

    def test_a_bad_time_and_base64_data_are_problems(self) -> None:
        event = {**cdevent(), "time": "noon", "data_base64": "AAAA"}
        with pytest.raises(InvalidReport) as raised:
            structured(event)
        assert {"time", "data_base64"} <= {p.field for p in raised.value.problems}


class TestPurl:
    @pytest.mark.parametrize(
        ("purl", "parts"),
        [
            ("pkg:helm/acme/checkout@1.2.3", ("helm", "checkout", "1.2.3")),
            ("pkg:helm/checkout@1.2.3?repository_url=x#sub", ("helm", "checkout", "1.2.3")),
            ("pkg:oci/podinfo@sha256%3Aabc", ("oci", "podinfo", "sha256:abc")),
            ("pkg:generic/tool", ("generic", "tool", None)),
        ],
    )
    def test_a_purl_gives_the_chart_name_and_version(
        self, purl: str, parts: tuple[str, str, str | None]
    ) -> None:
        found = parse_purl(purl)
        assert found is not None
        assert (found.type, found.name, found.version) == parts

    @pytest.mark.parametrize("text", ["helm/checkout@1", "pkg:", "pkg:helm", "pkg:/@1", "x"])
    def test_what_is_not_a_purl_is_none(self, text: str) -> None:
        assert parse_purl(text) is None

    @given(
        st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
        st.from_regex(r"[a-z0-9][a-z0-9._-]{0,30}", fullmatch=True),
        st.from_regex(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(-[a-z0-9.]{1,8})?", fullmatch=True),
    )
    def test_name_and_version_come_back_from_any_purl_made_of_them(
        self, namespace: str, name: str, version: str
    ) -> None:
        found = parse_purl(f"pkg:helm/{namespace}/{name}@{version}")
        assert found is not None
        assert (found.name, found.version) == (name, version)


@given(
    predicate=st.sampled_from(["deployed", "upgraded", "rolledback", "removed"]),
    version=st.sampled_from(VERSIONS),
    event_id=st.from_regex(r"[A-Za-z0-9-]{1,40}", fullmatch=True),
    workload=st.from_regex(r"[a-z0-9][a-z0-9-]{0,40}", fullmatch=True),
)
def test_every_valid_service_event_maps_to_a_valid_message(
    predicate: str, version: str, event_id: str, workload: str
) -> None:
    artifact = None if predicate == "removed" else "pkg:helm/acme/app@1.0.0"
    event = cdevent(predicate, version, event_id=event_id, workload=workload, artifact=artifact)
    (message,) = structured(event)[0].messages
    parsed = parse_message(message)
    assert (parsed.workload_rt_id, parsed.message_id) == (workload, event_id)
