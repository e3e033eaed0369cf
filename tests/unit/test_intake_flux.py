"""The Flux mapper (deployledger.domain.intake.flux): every HelmRelease reason, the derived
identity, malformed events, and the `generic-hmac` signature check. No database."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from intake_data import (
    CLUSTER,
    FLUX_MESSAGES,
    FLUX_REASONS,
    HMAC_SECRET,
    MALFORMED_FLUX,
    body_of,
    flux_event,
    signed,
)

from deployledger import InvalidReport, flux_intake, parse_message
from deployledger.domain.intake.flux import message_id, workload_rt_id
from deployledger.domain.tokens import signature_problem


def one(event: Any, cluster: str = CLUSTER) -> dict[str, Any]:
    result = flux_intake(event, tenant="acme", cluster=cluster)
    assert not result.ignored
    assert len(result.messages) == 1
    return result.messages[0]


class TestReasons:
    @pytest.mark.parametrize("reason", sorted(FLUX_REASONS))
    def test_each_reason_is_stored_as_the_table_says(self, reason: str) -> None:
        stored = FLUX_REASONS[reason][1]
        result = flux_intake(flux_event(reason), tenant="acme", cluster=CLUSTER)
        if stored is None:
            assert result.messages == ()
            assert len(result.ignored) == 1
            assert result.ignored[0][1].startswith(reason)
        else:
            assert [m["kind"] for m in result.messages] == [stored]
            parse_message(result.messages[0])  # what is recorded is a valid message

    def test_successes_are_successful_outcomes_with_the_chart_version(self) -> None:
        for reason in ("InstallSucceeded", "UpgradeSucceeded"):
            message = one(flux_event(reason, revision="6.5.1"))
            assert message["success"] is True
            assert message["statusMessage"].endswith("(chart version 6.5.1)")
            assert message["poolName"] == CLUSTER

    def test_failures_carry_the_message_as_it_was_sent(self) -> None:
        for reason in ("InstallFailed", "UpgradeFailed"):
            message = one(flux_event(reason))
            assert message["success"] is False
            assert message["statusMessage"] == FLUX_MESSAGES[reason]

    def test_progress_carries_the_message(self) -> None:
        assert one(flux_event("Progressing"))["message"] == FLUX_MESSAGES["Progressing"]

    def test_an_unknown_reason_is_ignored(self) -> None:
        result = flux_intake(flux_event("ArtifactFailed"), tenant="acme", cluster=CLUSTER)
        assert result.messages == ()
        assert "not a HelmRelease reason that is mapped" in result.ignored[0][1]

    @pytest.mark.parametrize("kind", ["Kustomization", "GitRepository", "HelmChart"])
    def test_other_kinds_are_ignored_even_when_the_rest_is_wrong(self, kind: str) -> None:
        event = {"involvedObject": {"kind": kind}, "severity": 1}
        result = flux_intake(event, tenant=None)
        assert result.messages == ()
        assert kind in result.ignored[0][1]


class TestIdentity:
    def test_the_workload_is_derived_from_cluster_namespace_and_name(self) -> None:
        message = one(flux_event())
        assert message["tenantId"] == "acme"
        assert message["workloadName"] == "apps/podinfo"
        assert message["workloadRtId"] == workload_rt_id(CLUSTER, "apps", "podinfo")
        assert re.fullmatch("[0-9a-f]{24}", message["workloadRtId"])
        other = one(flux_event(), cluster="prod-us")
        assert other["workloadRtId"] != message["workloadRtId"]

    def test_a_retry_is_the_same_message_id_and_each_change_a_new_one(self) -> None:
        first = one(flux_event())["messageId"]
        assert one(flux_event())["messageId"] == first
        for changed in (
            flux_event(uid="another-uid"),
            flux_event(revision="6.5.1"),
            flux_event(timestamp="2026-12-07T10:00:01Z"),
            flux_event("InstallFailed"),
        ):
            assert one(changed)["messageId"] != first

    def test_the_cluster_and_revision_may_come_from_the_metadata(self) -> None:
        metadata = {"helm.toolkit.fluxcd.io/revision": "7.0.0", "cluster": "edge-1"}
        message = flux_intake(flux_event(metadata=metadata), tenant="acme").messages[0]
        assert message["workloadRtId"] == workload_rt_id("edge-1", "apps", "podinfo")
        assert message["statusMessage"].endswith("(chart version 7.0.0)")

    def test_the_tenant_may_be_the_namespace(self) -> None:
        event = flux_event(namespace="globex")
        result = flux_intake(event, tenant=None, cluster=CLUSTER, tenant_from_namespace=True)
        assert result.messages[0]["tenantId"] == "globex"

    def test_no_cluster_and_no_tenant_are_problems_of_a_mapped_event(self) -> None:
        with pytest.raises(InvalidReport) as raised:
            flux_intake(flux_event(), tenant=None)
        assert {p.field for p in raised.value.problems} == {"metadata.cluster", "tenant"}

    @given(
        st.text(min_size=1, max_size=40),
        st.text(min_size=1, max_size=40),
        st.text(min_size=1, max_size=40),
    )
    def test_rt_ids_are_stable_24_hex_and_tell_the_parts_apart(
        self, cluster: str, namespace: str, name: str
    ) -> None:
        made = workload_rt_id(cluster, namespace, name)
        assert made == workload_rt_id(cluster, namespace, name)
        assert re.fullmatch("[0-9a-f]{24}", made)
        assert made != workload_rt_id(cluster + namespace, "", name)

    def test_the_rt_id_is_the_documented_recipe(self) -> None:
        parts = ["flux", "prod-eu", "shop", "checkout"]
        text = json.dumps(parts, separators=(",", ":")).encode("ascii")
        assert workload_rt_id(*parts[1:]) == hashlib.sha256(text).hexdigest()[:24]

    @given(st.text(max_size=20), st.sampled_from(sorted(FLUX_REASONS)), st.text(max_size=10))
    def test_message_ids_are_a_function_of_the_event_identity(
        self, uid: str, reason: str, revision: str
    ) -> None:
        made = message_id(uid, reason, revision, "2026-12-07T10:00:00Z")
        assert made == message_id(uid, reason, revision, "2026-12-07T10:00:00Z")
        assert made.startswith("flux-")
        assert made != message_id(uid, reason, revision, "2026-12-07T10:00:01Z")


def refused_fields(message: dict[str, Any]) -> set[str]:
    try:
        parse_message(message)
    except InvalidReport as e:
        return {p.field for p in e.problems}
    return set()


_NAME = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?", fullmatch=True)


@given(
    reason=st.sampled_from(sorted(FLUX_REASONS)),
    name=_NAME,
    namespace=_NAME,
    uid=st.uuids().map(str),
    revision=st.one_of(
        st.none(), st.from_regex(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}", fullmatch=True)
    ),
    message=st.text(max_size=200),
)
def test_every_valid_event_maps_to_a_valid_message_or_is_ignored(
    reason: str, name: str, namespace: str, uid: str, revision: str | None, message: str
) -> None:
    event = flux_event(reason, name=name, namespace=namespace, uid=uid, revision=revision)
    event["message"] = message
    result = flux_intake(event, tenant="acme", cluster=CLUSTER)
    assert len(result.messages) + len(result.ignored) == 1
    for mapped in result.messages:
        # only the text of the message can be refused (a control character, say)
        assert refused_fields(mapped) <= {"statusMessage", "message"}
        assert mapped["kind"] == FLUX_REASONS[reason][1]


@pytest.mark.parametrize("case", sorted(MALFORMED_FLUX))
def test_a_malformed_event_lists_every_problem(case: str) -> None:
    payload, fields = MALFORMED_FLUX[case]
    with pytest.raises(InvalidReport) as raised:
        flux_intake(payload, tenant="acme", cluster=CLUSTER)
    assert {p.field for p in raised.value.problems} == fields


class TestSignature:
    def test_a_signature_of_the_body_with_the_secret_passes(self) -> None:
        body = body_of(flux_event())
        for name in ("sha224", "sha256", "sha384", "sha512"):
            assert signature_problem(signed(body, hash_name=name), body, HMAC_SECRET) is None

    @pytest.mark.parametrize(
        ("header", "said"),
        [
            (None, "is required"),
            ("", "is required"),
            ("md5=abc", "must be"),
            ("sha1=abc", "must be"),
            ("sha256", "must be"),
            ("sha256=00", "does not match"),
        ],
    )
    def test_a_missing_or_malformed_signature_fails(self, header: str | None, said: str) -> None:
        problem = signature_problem(header, b"{}", HMAC_SECRET)
        assert problem is not None
        assert said in problem

    def test_another_secret_or_a_changed_body_fails(self) -> None:
        body = body_of(flux_event())
        assert signature_problem(signed(body, "other-secret-0000000"), body, HMAC_SECRET)
        assert signature_problem(signed(body), body + b" ", HMAC_SECRET)
