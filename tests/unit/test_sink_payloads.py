"""The sinks' payloads, filters and backoff: pure, with hypothesis where inputs vary."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deployledger import Attempt, DeploymentState, InvalidQuery, Sink, SinkFilter
from deployledger.domain.sinks import DeliveryItem, backoff_delay, check_spec, check_url
from deployledger.presentation.sinks import (
    annotation,
    cdevent,
    cloudevent,
    outgoing,
    purl,
    webhook_body,
)

pytestmark = pytest.mark.timeout(60)

ids = st.text(st.characters(codec="utf-8"), min_size=1, max_size=40)
AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@st.composite
def items(draw: st.DrawFn, kind: str | None = None) -> DeliveryItem:
    chosen = kind or draw(st.sampled_from(["success", "failure", "undeploy"]))
    tenant, rt_id, name = draw(ids), draw(ids), draw(ids)
    pool = draw(st.none() | ids)
    position = draw(st.integers(1, 2**62))
    at = AT + timedelta(seconds=draw(st.integers(-(10**8), 10**8)))
    chart = draw(st.none() | ids)
    version = draw(st.none() | ids)
    attempt = None
    if chosen != "undeploy":
        success = chosen == "success"
        attempt = Attempt(
            tenant_id=tenant,
            workload_rt_id=rt_id,
            attempt=draw(st.integers(1, 1000)),
            recorded_at=at,
            reported_at=None,
            success=success,
            state=DeploymentState.after_attempt(success),
            status_message=None if success else draw(st.text(max_size=200)),
            workload_name=name,
            pool_name=pool,
            message_id=None,
            position=position,
            category=None if success else "other",
            fingerprint=None if success else "0123456789ab",
        )
    return DeliveryItem(
        position=position,
        tenant_id=tenant,
        workload_rt_id=rt_id,
        workload_name=name,
        pool_name=pool,
        occurred_at=at,
        attempt=attempt,
        first_success=draw(st.booleans()),
        chart_name=chart,
        chart_version=version,
    )


class TestCDEvents:
    @settings(max_examples=60, deadline=None)
    @given(item=items(), spec=st.sampled_from(["0.4.1", "0.5.0"]))
    def test_every_field_the_spec_requires_is_present(self, item: DeliveryItem, spec: str) -> None:
        event = cdevent(item, spec)
        if item.state == "error":
            assert event is None  # CDEvents has no service-level "deploy failed"
            return
        assert event is not None
        context, subject = event["context"], event["subject"]
        version_field = {"0.4.1": "version", "0.5.0": "specversion"}[spec]
        assert context[version_field] == spec
        for name in ("id", "source", "type", "timestamp"):
            assert isinstance(context[name], str)
            assert context[name]
        assert context["id"] == str(item.position)
        verb = "removed" if item.state == "undeployed" else None
        verb = verb or ("deployed" if item.first_success else "upgraded")
        suffix = {"0.4.1": "0.2.0", "0.5.0": "0.3.0"}[spec]
        assert context["type"] == f"dev.cdevents.service.{verb}.{suffix}"
        assert subject["id"] == item.workload_rt_id
        assert subject["content"]["environment"]["id"]
        if verb != "removed":
            assert subject["content"]["artifactId"].startswith("pkg:generic/")
        datetime.fromisoformat(context["timestamp"])

    @settings(max_examples=30, deadline=None)
    @given(item=items("success"))
    def test_the_cloudevent_is_structured_mode_with_the_cdevent_as_data(
        self, item: DeliveryItem
    ) -> None:
        event = cloudevent(item, "0.4.1")
        assert event is not None
        assert event["specversion"] == "1.0"
        assert event["id"] == str(item.position)
        assert event["type"] == event["data"]["context"]["type"]
        out = outgoing(Sink("ce", "cdevents", "http://h/e"), item)
        assert out is not None
        assert out.headers["Content-Type"] == "application/cloudevents+json"
        assert "Authorization" not in out.headers
        assert json.loads(out.body) == event
        signed = outgoing(Sink("ce", "cdevents", "http://h/e", secret="tok"), item)
        assert signed is not None
        assert signed.headers["Authorization"] == "Bearer tok"

    def test_a_purl_escapes_what_it_must(self) -> None:
        assert purl("my chart", "1.0.0+build/1") == "pkg:generic/my%20chart@1.0.0%2Bbuild%2F1"
        assert purl("billing", None) == "pkg:generic/billing"


class TestWebhookAndGrafana:
    @settings(max_examples=40, deadline=None)
    @given(item=items(), secret=st.none() | st.text(min_size=1, max_size=20))
    def test_a_webhook_is_the_row_signed_with_the_secret(
        self, item: DeliveryItem, secret: str | None
    ) -> None:
        out = outgoing(Sink("h", "webhook", "http://h/x", secret=secret, slack_text=True), item)
        assert out is not None
        body = json.loads(out.body)
        assert body["id"] == str(item.position)
        assert body["position"] == item.position
        assert isinstance(body["headline"], str)
        assert isinstance(body["text"], str)
        if item.attempt is not None:
            assert body["category"] == item.attempt.category
            assert body["fingerprint"] == item.attempt.fingerprint
        expected = hmac.new((secret or "").encode(), out.body, hashlib.sha256).hexdigest()
        assert out.headers.get("X-Deployledger-Signature") == (
            f"sha256={expected}" if secret else None
        )

    def test_the_webhook_row_is_the_api_s_audit_row(self) -> None:
        item = _failure("Error: UPGRADE FAILED: context deadline exceeded")
        body = webhook_body(item)
        assert item.attempt is not None
        assert {k: body[k] for k in item.attempt.to_audit_json()} == item.attempt.to_audit_json()
        assert body["headline"] == "Error: UPGRADE FAILED: context deadline exceeded"
        assert "text" not in body

    @settings(max_examples=40, deadline=None)
    @given(item=items())
    def test_an_annotation_has_its_time_in_ms_and_the_tags(self, item: DeliveryItem) -> None:
        note = annotation(item)
        assert note["time"] == int(item.occurred_at.timestamp() * 1000)
        tags = dict(tag.split(":", 1) for tag in note["tags"])
        assert tags["tenant"] == item.tenant_id
        assert tags["state"] == item.state
        assert tags["workload"] == item.workload_name
        assert "pool" in tags
        assert isinstance(note["text"], str)

    def test_grafana_posts_to_the_annotations_api_with_the_key(self) -> None:
        out = outgoing(Sink("g", "grafana", "https://g.example/", secret="k"), _failure("x"))
        assert out is not None
        assert out.url == "https://g.example/api/annotations"
        assert out.headers["Authorization"] == "Bearer k"


def _failure(message: str) -> DeliveryItem:
    attempt = Attempt(
        tenant_id="t",
        workload_rt_id="w",
        attempt=1,
        recorded_at=AT,
        reported_at=None,
        success=False,
        state=DeploymentState.ERROR,
        status_message=message,
        workload_name="billing",
        pool_name="p",
        message_id=None,
        position=7,
        category="wait-timeout",
        fingerprint="0123456789ab",
    )
    return DeliveryItem(7, "t", "w", "billing", "p", AT, attempt)


class TestSettings:
    @given(
        st.builds(
            SinkFilter,
            tenant=st.lists(st.from_regex(r"[a-z0-9-]{1,8}", fullmatch=True), max_size=2).map(
                tuple
            ),
            state=st.lists(st.sampled_from(["deployed", "error", "undeployed"]), max_size=2).map(
                lambda s: tuple(dict.fromkeys(s))
            ),
        )
    )
    def test_a_filter_reads_back_its_own_text(self, where: SinkFilter) -> None:
        parsed = SinkFilter.parse(where.text())
        assert (
            parsed.text()
            == SinkFilter(tenant=tuple(dict.fromkeys(where.tenant)), state=where.state).text()
        )

    def test_a_bad_filter_lists_every_problem(self) -> None:
        with pytest.raises(InvalidQuery) as caught:
            SinkFilter.parse("colour=red,state=sad,oops")
        assert "colour" in str(caught.value)
        assert "sad" in str(caught.value)
        assert "oops" in str(caught.value)

    def test_a_password_in_the_url_is_never_shown(self) -> None:
        sink = Sink("h", "webhook", "https://bot:s3cret@hooks.example/x?y=1")
        assert sink.shown_url == "https://bot:***@hooks.example/x?y=1"
        assert "s3cret" not in str(sink.to_json())

    @pytest.mark.parametrize("url", ["ftp://x", "http://", "x", "http://h:0/", "http://h:99999/"])
    def test_bad_urls_are_refused(self, url: str) -> None:
        with pytest.raises(InvalidQuery):
            check_url(url)

    @pytest.mark.parametrize(
        ("given_spec", "sent"), [("0.4", "0.4.1"), ("0.4.1", "0.4.1"), ("0.5.x", "0.5.0")]
    )
    def test_spec_versions_name_the_two_supported(self, given_spec: str, sent: str) -> None:
        assert check_spec(given_spec) == sent

    @given(st.integers(1, 40), st.floats(0.001, 10), st.floats(0, 0.999))
    def test_backoff_grows_with_failures_and_stays_in_bounds(
        self, failures: int, base: float, unit: float
    ) -> None:
        delay = backoff_delay(failures, base, unit)
        bound = min(300.0, base * 2.0 ** (failures - 1))
        assert 0.1 * bound <= delay <= bound
