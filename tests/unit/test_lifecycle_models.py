"""The wire models of the lifecycle messages around the status report: the deploy request
(`WorkloadDeployed`), progress (`WorkloadDeploymentProgress`), the undeploy request
(`WorkloadUndeployed`), and `parse_message`, which tells the four kinds apart by `kind`."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deployledger import (
    InvalidReport,
    WorkloadDeployed,
    WorkloadDeploymentProgress,
    WorkloadDeploymentStatus,
    WorkloadUndeployed,
    parse_message,
)

TENANT, NAME, RT_ID = "acme-prod", "checkout-api", "64f1c0ffee0000000000beef"
SECRET_VALUE = "fake-db-password-0001"  # obviously fake: nothing here is a real secret


def request(**fields: Any) -> dict[str, Any]:
    """A valid deploy request with every field set, in the upstream camelCase; a keyword
    sets a field by its camelCase name, `...` drops it."""
    body: dict[str, Any] = {
        "kind": "request",
        "tenantId": TENANT,
        "poolRtId": "6512a0c4e1b2f3004a5d6e71",
        "workloadName": NAME,
        "workloadRtId": RT_ID,
        "workloadType": "Application",
        "repositoryUrl": "https://charts.acme.example/stable",
        "repositoryUsername": "fake-user",
        "repositoryPassword": "fake-repo-password",
        "chartName": "checkout-api",
        "chartVersion": "4.3.1",
        "isReconciliation": False,
        "valuesYaml": "replicaCount: 3\nfake: yaml-body\n",
        "values": [
            {"path": "image.tag", "value": "4.3.1", "isSecret": False},
            {"path": "database.password", "value": SECRET_VALUE, "isSecret": True},
        ],
        "receivesClusterSecrets": True,
        "ingressEnabled": True,
        "hostname": "checkout.acme.example",
        "messageId": "ctl-1",
        "reportedAt": "2026-11-24T15:20:05.112Z",
        **fields,
    }
    return {k: v for k, v in body.items() if v is not ...}


def progress(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "progress",
        "tenantId": TENANT,
        "workloadName": NAME,
        "workloadRtId": RT_ID,
        "message": "Pod checkout-api-7d9f6c5b8-x2k4q container 'app' waiting: ContainerCreating",
        "messageId": "op-1",
        "reportedAt": "2026-11-24T15:20:41.377Z",
        **fields,
    }
    return {k: v for k, v in body.items() if v is not ...}


def undeploy(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "undeploy",
        "tenantId": TENANT,
        "poolRtId": "6512a0c4e1b2f3004a5d6e71",
        "workloadName": NAME,
        "workloadRtId": RT_ID,
        "workloadType": "Adapter",
        "messageId": "ctl-2",
        "reportedAt": "2026-11-27T16:45:02.733Z",
        **fields,
    }
    return {k: v for k, v in body.items() if v is not ...}


BUILDERS: dict[str, Callable[..., dict[str, Any]]] = {
    "request": request,
    "progress": progress,
    "undeploy": undeploy,
}
MODELS = {
    "request": WorkloadDeployed,
    "progress": WorkloadDeploymentProgress,
    "undeploy": WorkloadUndeployed,
}


def parsed(data: dict[str, Any]) -> Any:
    return parse_message(data)


def problems_of(data: Any) -> list[tuple[str, str]]:
    with pytest.raises(InvalidReport) as info:
        parse_message(data)
    return [(p.field, p.reason) for p in info.value.problems]


def problem_fields(data: Any) -> list[str]:
    return [field for field, _ in problems_of(data)]


def pascal(key: str) -> str:
    return key[0].upper() + key[1:]


def snake(key: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()


CASINGS: dict[str, Callable[[str], str]] = {
    "camel": lambda key: key,
    "pascal": pascal,
    "snake": snake,
}


def recase(data: Any, casing: Callable[[str], str]) -> Any:
    """Every key of `data`, nested ones too, in another casing."""
    if isinstance(data, dict):
        return {casing(k): recase(v, casing) for k, v in data.items()}
    if isinstance(data, list):
        return [recase(v, casing) for v in data]
    return data


# ---------------------------------------------------------------------------------------
# Keys in any casing


class TestKeyCasing:
    @pytest.mark.parametrize("casing", CASINGS.values(), ids=CASINGS.keys())
    def test_every_request_field_is_read_in_camel_pascal_and_snake_case(
        self, casing: Callable[[str], str]
    ) -> None:
        got = parsed(recase(request(), casing))
        assert isinstance(got, WorkloadDeployed)
        assert got.stored_fields() == parsed(request()).stored_fields()
        assert got.stored_fields() == {
            "tenant_id": TENANT,
            "workload_rt_id": RT_ID,
            "workload_name": NAME,
            "pool_rt_id": "6512a0c4e1b2f3004a5d6e71",
            "workload_type": "Application",
            "chart_name": "checkout-api",
            "chart_version": "4.3.1",
            "repository_url": "https://charts.acme.example/stable",
            "is_reconciliation": False,
            "ingress_enabled": True,
            "hostname": "checkout.acme.example",
            "receives_cluster_secrets": True,
            "secret_paths": ["database.password"],
            "overrides": [{"path": "image.tag", "value": "4.3.1"}],
            "values_digest": parsed(request()).values_digest(),
            "message_id": "ctl-1",
            "reported_at": datetime(2026, 11, 24, 15, 20, 5, 112000, tzinfo=UTC),
        }
        assert got.repository_password is not None
        assert got.repository_password.get_secret_value() == "fake-repo-password"
        assert got.repository_username is not None
        assert got.repository_username.get_secret_value() == "fake-user"
        assert got.values_yaml is not None
        assert got.values_yaml.get_secret_value() == "replicaCount: 3\nfake: yaml-body\n"

    @pytest.mark.parametrize("kind", ["progress", "undeploy"])
    @pytest.mark.parametrize("casing", CASINGS.values(), ids=CASINGS.keys())
    def test_progress_and_undeploy_fields_are_read_in_every_casing(
        self, kind: str, casing: Callable[[str], str]
    ) -> None:
        data = BUILDERS[kind]()
        got = parsed(recase(data, casing))
        assert isinstance(got, MODELS[kind])
        assert got.stored_fields() == parsed(data).stored_fields()
        assert got.message_id is not None

    @settings(max_examples=60)
    @given(st.data())
    def test_any_casing_of_any_key_with_underscores_or_hyphens_reads_alike(
        self, data: st.DataObject
    ) -> None:
        """Keys match whatever their letters' case, and with `_` or `-` between words."""

        def variant(key: str) -> str:
            words = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", key)
            text = data.draw(st.sampled_from(["", "_", "-"])).join(words)
            flips = data.draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
            return "".join(
                c.upper() if flip else c.lower() for c, flip in zip(text, flips, strict=True)
            )

        def vary(value: Any) -> Any:
            if isinstance(value, dict):
                return {variant(k): vary(v) for k, v in value.items()}
            if isinstance(value, list):
                return [vary(v) for v in value]
            return value

        kind = data.draw(st.sampled_from(sorted(BUILDERS)))
        original = BUILDERS[kind]()
        got = parsed(vary(original))
        assert isinstance(got, MODELS[kind])
        assert got.stored_fields() == parsed(original).stored_fields()

    def test_one_field_given_twice_with_different_values_is_an_error(self) -> None:
        assert problem_fields({**request(), "ChartName": "other"}) == ["(report)"]

    def test_one_field_given_twice_with_the_same_value_is_accepted(self) -> None:
        got = parsed({**request(), "ChartName": "checkout-api"})
        assert got.chart_name == "checkout-api"


# ---------------------------------------------------------------------------------------
# Every problem at once, with field paths


class TestEveryProblemIsListed:
    def test_every_broken_field_of_a_request_is_listed_with_its_path(self) -> None:
        data = request(
            tenantId="",
            chartName=1,
            workloadType=2,
            isReconciliation="true",
            ingressEnabled=1,
            repositoryPassword=5,
            values=[
                {"path": "ok", "value": "v", "isSecret": False},
                {"path": "b", "value": 1, "isSecret": "true"},
                {"value": "no path"},
            ],
            reportedAt="yesterday",
        )
        fields = problem_fields(data)
        assert sorted(fields) == sorted(
            [
                "tenantId",
                "chartName",
                "workloadType",
                "isReconciliation",
                "ingressEnabled",
                "repositoryPassword",
                "values[1].value",
                "values[1].isSecret",
                "values[2].path",
                "reportedAt",
            ]
        )

    def test_a_request_without_its_required_fields_names_each(self) -> None:
        got = problems_of({"kind": "request"})
        assert sorted(got) == sorted(
            (field, "is required")
            for field in ["tenantId", "workloadName", "workloadRtId", "chartName"]
        )

    def test_progress_without_its_required_fields_names_each(self) -> None:
        got = problems_of({"kind": "progress"})
        assert sorted(got) == sorted(
            (field, "is required")
            for field in ["tenantId", "workloadName", "workloadRtId", "message"]
        )

    def test_an_undeploy_without_its_required_fields_names_each(self) -> None:
        got = problems_of({"kind": "undeploy"})
        assert sorted(got) == sorted(
            (field, "is required") for field in ["tenantId", "workloadName", "workloadRtId"]
        )

    def test_the_error_message_names_every_problem(self) -> None:
        with pytest.raises(InvalidReport) as info:
            parse_message(request(chartName=..., values=[{"path": "a", "isSecret": "yes"}]))
        text = str(info.value)
        assert "chartName: is required" in text
        assert "values[0].isSecret: must be a JSON boolean (true or false), got a string" in text

    def test_a_values_list_that_is_not_an_array_is_an_error(self) -> None:
        assert problem_fields(request(values="image.tag=1")) == ["values"]
        assert problem_fields(request(values={"path": "a"})) == ["values"]

    def test_a_values_item_that_is_not_an_object_is_an_error(self) -> None:
        assert problem_fields(request(values=["image.tag=1"])) == ["values[0]"]

    def test_a_batch_numbers_the_problems_of_each_message(self) -> None:
        from deployledger.domain.messages.inbox import parse_messages

        with pytest.raises(InvalidReport) as info:
            parse_messages([request(), progress(message=...), undeploy(tenantId=" ")])
        assert [(p.report, p.field) for p in info.value.problems] == [
            (2, "message"),
            (3, "tenantId"),
        ]


# ---------------------------------------------------------------------------------------
# Strict types

BOOLEANS = ["isReconciliation", "receivesClusterSecrets", "ingressEnabled"]


class TestStrictTypes:
    @pytest.mark.parametrize("field", BOOLEANS)
    @pytest.mark.parametrize("value", [True, False, None])
    def test_a_json_boolean_or_null_is_accepted(self, field: str, value: bool | None) -> None:
        got = parsed(request(**{field: value}))
        assert getattr(got, snake(field)) is value

    @pytest.mark.parametrize("field", BOOLEANS)
    @pytest.mark.parametrize(
        ("value", "kind"), [("true", "a string"), ("false", "a string"), (1, "a number")]
    )
    def test_anything_but_a_boolean_is_an_error(self, field: str, value: Any, kind: str) -> None:
        assert problems_of(request(**{field: value})) == [
            (field, f"must be a JSON boolean (true or false), got {kind}")
        ]

    @pytest.mark.parametrize("value", ["true", 1, 0, None])
    def test_is_secret_must_be_a_boolean(self, value: Any) -> None:
        data = request(values=[{"path": "a", "value": "v", "isSecret": value}])
        assert problem_fields(data) == ["values[0].isSecret"]

    def test_is_secret_defaults_to_false(self) -> None:
        got = parsed(request(values=[{"path": "a", "value": "v"}]))
        assert got.overrides() == [{"path": "a", "value": "v"}]
        assert got.secret_paths() == []

    @pytest.mark.parametrize(
        "field", ["chartName", "chartVersion", "hostname", "poolRtId", "repositoryUrl"]
    )
    @pytest.mark.parametrize("value", [1, 1.5, True, ["x"], {"x": 1}])
    def test_a_string_field_given_another_type_is_an_error(self, field: str, value: Any) -> None:
        assert problem_fields(request(**{field: value})) == [field]

    @pytest.mark.parametrize("field", ["repositoryUsername", "repositoryPassword", "valuesYaml"])
    @pytest.mark.parametrize(("value", "kind"), [(1, "a number"), (True, "a boolean")])
    def test_a_secret_text_field_given_another_type_is_an_error(
        self, field: str, value: Any, kind: str
    ) -> None:
        assert problems_of(request(**{field: value})) == [(field, f"must be a string, got {kind}")]

    @pytest.mark.parametrize("value", [1, True, ["v"]])
    def test_an_override_value_must_be_a_string_or_null(self, value: Any) -> None:
        data = request(values=[{"path": "a", "value": value, "isSecret": False}])
        assert problem_fields(data) == ["values[0].value"]

    def test_an_override_value_may_be_null(self) -> None:
        got = parsed(request(values=[{"path": "a", "value": None, "isSecret": False}]))
        assert got.overrides() == [{"path": "a", "value": None}]

    @pytest.mark.parametrize("value", [1, None, ["x"]])
    def test_a_progress_message_must_be_a_string(self, value: Any) -> None:
        assert problem_fields(progress(message=value)) == ["message"]

    def test_a_progress_message_is_kept_exactly_as_sent(self) -> None:
        text = "  Pod x container 'y' waiting: ImagePullBackOff\n\x00 🚀  "
        assert parsed(progress(message=text)).message == text


# ---------------------------------------------------------------------------------------
# Identifiers

ID_FIELDS = {
    "request": [
        "tenantId",
        "workloadName",
        "workloadRtId",
        "chartName",
        "messageId",
        "poolRtId",
        "chartVersion",
        "hostname",
    ],
    "progress": ["tenantId", "workloadName", "workloadRtId", "messageId"],
    "undeploy": ["tenantId", "workloadName", "workloadRtId", "messageId", "poolRtId"],
}
ID_CASES = [(kind, field) for kind, fields in ID_FIELDS.items() for field in fields]


class TestIdentifiers:
    @pytest.mark.parametrize(("kind", "field"), ID_CASES)
    @pytest.mark.parametrize("value", [" ", "\t", "\u3000"], ids=["space", "tab", "wide"])
    def test_a_blank_identifier_is_an_error(self, kind: str, field: str, value: str) -> None:
        assert problem_fields(BUILDERS[kind](**{field: value})) == [field]

    @pytest.mark.parametrize(("kind", "field"), ID_CASES)
    def test_256_characters_are_accepted_and_257_are_not(self, kind: str, field: str) -> None:
        got = parsed(BUILDERS[kind](**{field: "é" * 256}))
        assert getattr(got, snake(field)) == "é" * 256
        assert problems_of(BUILDERS[kind](**{field: "x" * 257})) == [
            (field, "must be at most 256 characters, got 257")
        ]

    @pytest.mark.parametrize(("kind", "field"), ID_CASES)
    @pytest.mark.parametrize("char", ["\x00", "\x1f", "\x7f", "\x85", "\n"])
    def test_a_control_character_is_an_error(self, kind: str, field: str, char: str) -> None:
        assert problem_fields(BUILDERS[kind](**{field: f"ab{char}cd"})) == [field]

    @pytest.mark.parametrize(("kind", "field"), ID_CASES)
    def test_surrounding_whitespace_is_an_error(self, kind: str, field: str) -> None:
        assert problem_fields(BUILDERS[kind](**{field: " ab"})) == [field]

    @pytest.mark.parametrize(
        ("kind", "field"), [(k, f) for k, f in ID_CASES if f not in ("chartVersion",)]
    )
    @pytest.mark.parametrize("value", [42, True, ["x"]])
    def test_an_identifier_that_is_not_a_string_is_an_error(
        self, kind: str, field: str, value: Any
    ) -> None:
        assert problem_fields(BUILDERS[kind](**{field: value})) == [field]

    @pytest.mark.parametrize(
        ("kind", "field"),
        [
            ("request", "poolRtId"),
            ("request", "chartVersion"),
            ("request", "hostname"),
            ("undeploy", "poolRtId"),
        ],
    )
    @pytest.mark.parametrize("value", ["", None, ...], ids=["empty", "null", "absent"])
    def test_optional_ids_empty_null_or_absent_are_none(
        self, kind: str, field: str, value: Any
    ) -> None:
        assert getattr(parsed(BUILDERS[kind](**{field: value})), snake(field)) is None

    def test_an_empty_chart_version_means_the_newest(self) -> None:
        got = parsed(request(chartVersion=""))
        assert got.chart_version is None
        assert got.stored_fields()["chart_version"] is None

    def test_a_values_path_is_an_identifier_too(self) -> None:
        data = request(values=[{"path": " ", "value": "v"}, {"path": "a\x00", "value": "v"}])
        assert problem_fields(data) == ["values[0].path", "values[1].path"]


# ---------------------------------------------------------------------------------------
# Unknown keys, optional messageId and reportedAt


class TestUnknownKeys:
    @pytest.mark.parametrize("kind", sorted(BUILDERS))
    def test_unknown_keys_are_ignored(self, kind: str) -> None:
        data = BUILDERS[kind]()
        extra = {**data, "foo": 1, "TenantIdx": "x", "statusMessage": "n/a", "nested": {"a": [1]}}
        assert parsed(extra).stored_fields() == parsed(data).stored_fields()

    def test_unknown_keys_of_an_override_are_ignored(self) -> None:
        data = request(values=[{"path": "a", "value": "v", "isSecret": False, "comment": 1}])
        assert parsed(data).overrides() == [{"path": "a", "value": "v"}]

    def test_fields_of_the_other_kinds_are_ignored(self) -> None:
        got = parsed({**progress(), "chartName": 5, "success": "no", "values": 1})
        assert isinstance(got, WorkloadDeploymentProgress)


class TestOptionalMessageIdAndReportedAt:
    @pytest.mark.parametrize("kind", sorted(BUILDERS))
    @pytest.mark.parametrize("value", [None, ...], ids=["null", "absent"])
    def test_both_are_none_when_null_or_absent(self, kind: str, value: Any) -> None:
        got = parsed(BUILDERS[kind](messageId=value, reportedAt=value))
        assert got.message_id is None
        assert got.reported_at is None

    @pytest.mark.parametrize("kind", sorted(BUILDERS))
    def test_both_are_kept_when_given(self, kind: str) -> None:
        got = parsed(BUILDERS[kind](messageId="m/1", reportedAt="2026-11-24T16:20:05+01:00"))
        assert got.message_id == "m/1"
        assert got.reported_at == datetime(2026, 11, 24, 15, 20, 5, tzinfo=UTC)
        assert got.reported_at.utcoffset() == timedelta(hours=1)
        assert got.reported_at.tzinfo == timezone(timedelta(hours=1))

    @pytest.mark.parametrize("kind", sorted(BUILDERS))
    @pytest.mark.parametrize(
        "value", ["2026-11-24T15:20:05", "yesterday", "", 1764000000, "1764000000", True]
    )
    def test_a_reported_at_that_is_no_zoned_timestamp_is_an_error(
        self, kind: str, value: Any
    ) -> None:
        assert problem_fields(BUILDERS[kind](reportedAt=value)) == ["reportedAt"]

    @pytest.mark.parametrize("kind", sorted(BUILDERS))
    def test_an_empty_message_id_is_an_error(self, kind: str) -> None:
        assert problem_fields(BUILDERS[kind](messageId="")) == ["messageId"]


# ---------------------------------------------------------------------------------------
# WorkloadType


class TestWorkloadType:
    @pytest.mark.parametrize("kind", ["request", "undeploy"])
    @pytest.mark.parametrize(
        ("value", "label"),
        [
            ("Adapter", "Adapter"),
            ("Application", "Application"),
            ("adapter", "Adapter"),
            ("APPLICATION", "Application"),
            ("aPpLiCaTiOn", "Application"),
            (0, "Adapter"),
            (1, "Application"),
            (None, None),
        ],
    )
    def test_a_label_in_any_casing_or_the_enum_integer_is_accepted(
        self, kind: str, value: Any, label: str | None
    ) -> None:
        got = parsed(BUILDERS[kind](workloadType=value))
        assert got.workload_type == label
        assert got.stored_fields()["workload_type"] == label

    @pytest.mark.parametrize("kind", ["request", "undeploy"])
    def test_an_absent_workload_type_is_none(self, kind: str) -> None:
        assert parsed(BUILDERS[kind](workloadType=...)).workload_type is None

    @pytest.mark.parametrize("kind", ["request", "undeploy"])
    @pytest.mark.parametrize(
        "value", [True, False, 2, -1, 1.0, 0.0, "0", "1", "Adaptor", " Adapter", "", [0], {}]
    )
    def test_anything_else_is_an_error(self, kind: str, value: Any) -> None:
        fields = problems_of(BUILDERS[kind](workloadType=value))
        assert [f for f, _ in fields] == ["workloadType"]
        assert fields[0][1].startswith('must be "Adapter" or "Application" (or 0 or 1)')


# ---------------------------------------------------------------------------------------
# kind


class TestKind:
    @pytest.mark.parametrize("kind", sorted(BUILDERS))
    def test_kind_picks_the_model(self, kind: str) -> None:
        assert type(parsed(BUILDERS[kind]())) is MODELS[kind]

    @pytest.mark.parametrize("value", ["REQUEST", "Request", " request "])
    def test_kind_in_any_casing_is_accepted(self, value: str) -> None:
        assert isinstance(parsed(request(kind=value)), WorkloadDeployed)

    @pytest.mark.parametrize("key", ["Kind", "KIND", "kind"])
    def test_the_kind_key_in_any_casing_is_read(self, key: str) -> None:
        data = {key if k == "kind" else k: v for k, v in progress().items()}
        assert isinstance(parsed(data), WorkloadDeploymentProgress)

    def test_an_outcome_with_kind_is_an_outcome(self) -> None:
        got = parsed(
            {"kind": "outcome", "tenantId": "t", "workloadName": "w", "workloadRtId": "r"}
            | {"success": False, "statusMessage": "Error: x"}
        )
        assert isinstance(got, WorkloadDeploymentStatus)
        assert got.status_message == "Error: x"

    @pytest.mark.parametrize("key", ["success", "Success", "SUCCESS"])
    def test_a_message_without_kind_but_with_success_is_an_outcome(self, key: str) -> None:
        got = parsed({"tenantId": "t", "workloadName": "w", "workloadRtId": "r", key: True})
        assert isinstance(got, WorkloadDeploymentStatus)

    def test_without_kind_a_broken_success_still_makes_an_outcome(self) -> None:
        data = {"tenantId": "t", "workloadName": "w", "workloadRtId": "r", "success": "yes"}
        assert problem_fields(data) == ["success"]

    @pytest.mark.parametrize("kind", sorted(BUILDERS))
    def test_a_message_without_kind_or_success_is_an_error_naming_kind(self, kind: str) -> None:
        data = BUILDERS[kind](kind=...)
        got = problems_of(data)
        assert [f for f, _ in got] == ["kind"]
        assert '"kind"' in got[0][1]
        assert all(k in got[0][1] for k in ('"request"', '"progress"', '"undeploy"'))

    @pytest.mark.parametrize(
        ("value", "shown"),
        [("deploy", "'deploy'"), ("", "''"), (1, "a number"), (None, "null"), (["request"], "")],
    )
    def test_a_bad_kind_is_an_error(self, value: Any, shown: str) -> None:
        got = problems_of(request(kind=value))
        assert [f for f, _ in got] == ["kind"]
        assert got[0][1].startswith('must be "request", "progress", "outcome" or "undeploy"')
        assert got[0][1].endswith(shown)

    def test_a_kind_given_twice_with_different_values_is_an_error(self) -> None:
        assert problem_fields({**request(), "Kind": "progress"}) == ["kind"]

    def test_a_kind_given_twice_with_the_same_value_is_accepted(self) -> None:
        assert isinstance(parsed({**request(), "Kind": "request"}), WorkloadDeployed)

    @pytest.mark.parametrize("value", ["[]", "1", '"request"', "null"])
    def test_a_message_that_is_not_an_object_is_an_error(self, value: str) -> None:
        assert problem_fields(value) == ["(report)"]

    def test_invalid_json_is_an_error(self) -> None:
        assert problem_fields('{"kind": "request",') == ["(report)"]

    @pytest.mark.parametrize("kind", sorted(BUILDERS))
    def test_a_dict_json_text_json_bytes_and_a_model_parse_alike(self, kind: str) -> None:
        data = BUILDERS[kind]()
        model = parsed(data)
        for form in (json.dumps(data), json.dumps(data).encode(), model):
            got = parse_message(form)
            assert type(got) is MODELS[kind]
            assert got.stored_fields() == model.stored_fields()


# ---------------------------------------------------------------------------------------
# The repository URL


class TestRepositoryUrl:
    @pytest.mark.parametrize(
        ("given", "stored"),
        [
            ("https://charts.acme.example/stable", "https://charts.acme.example/stable"),
            ("https://u:p@charts.acme.example/stable", "https://charts.acme.example/stable"),
            ("https://u@charts.acme.example", "https://charts.acme.example"),
            ("https://:p@charts.acme.example/", "https://charts.acme.example/"),
            (
                "http://fake-user:fake%40pw@charts.acme.example:8443/x?y=1#z",
                "http://charts.acme.example:8443/x?y=1#z",
            ),
            ("oci://u:p@registry.acme.example/charts", "oci://registry.acme.example/charts"),
            ("https://u:p@ss@charts.acme.example/", "https://charts.acme.example/"),
            ("https://[u:p@charts.acme.example/x", "https://charts.acme.example/x"),
            ("https://charts.acme.example/x@y", "https://charts.acme.example/x@y"),
            ("", None),
            (None, None),
        ],
    )
    def test_credentials_are_removed_and_the_rest_kept(
        self, given: str | None, stored: str | None
    ) -> None:
        got = parsed(request(repositoryUrl=given))
        assert got.repository_url == stored
        assert got.stored_fields()["repository_url"] == stored

    @pytest.mark.parametrize("password", ["p/ss", "p?ss", "p#ss", "p@ss/x?y#z"])
    def test_a_password_with_a_delimiter_is_removed_too(self, password: str) -> None:
        got = parsed(request(repositoryUrl=f"https://u:{password}@charts.acme.example/x"))
        assert got.repository_url is not None
        assert "ss@" not in got.repository_url

    @pytest.mark.parametrize(
        "url",
        [
            f"https://u:{SECRET_VALUE}@x.example/\x00",
            f" https://u:{SECRET_VALUE}@x.example",
            f"https://u:{SECRET_VALUE}@x.example/" + "a" * 2048,
        ],
        ids=["control", "whitespace", "too-long"],
    )
    def test_an_unusable_url_is_an_error_that_does_not_echo_it(self, url: str) -> None:
        with pytest.raises(InvalidReport) as info:
            parse_message(request(repositoryUrl=url))
        assert [p.field for p in info.value.problems] == ["repositoryUrl"]
        assert SECRET_VALUE not in str(info.value)


# ---------------------------------------------------------------------------------------
# The values digest

override = st.fixed_dictionaries(
    {
        "path": st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1),
        "value": st.none() | st.text(max_size=20),
        "isSecret": st.booleans(),
    }
)
values_yaml = st.none() | st.text(max_size=40)


def digest_of(values: list[dict[str, Any]], yaml: str | None, **fields: Any) -> str:
    return str(parsed(request(values=values, valuesYaml=yaml, **fields)).values_digest())


class TestValuesDigest:
    def test_the_digest_is_sha256_hex(self) -> None:
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", parsed(request()).values_digest())

    def test_equal_values_give_equal_digests_whatever_else_differs(self) -> None:
        a = parsed(request())
        b = parsed(
            recase(
                request(
                    chartVersion="9.9.9",
                    repositoryPassword="other-fake",
                    repositoryUsername="other-user",
                    repositoryUrl="https://elsewhere.example",
                    messageId="ctl-99",
                    tenantId="other-tenant",
                ),
                pascal,
            )
        )
        assert a.values_digest() == b.values_digest()

    def test_a_changed_secret_value_changes_the_digest(self) -> None:
        values = request()["values"]
        changed = [values[0], {**values[1], "value": SECRET_VALUE + "x"}]
        assert digest_of(values, "a: 1") != digest_of(changed, "a: 1")

    def test_the_digest_reveals_no_value(self) -> None:
        got = parsed(request())
        assert SECRET_VALUE not in got.values_digest()

    @settings(max_examples=150)
    @given(st.lists(override, max_size=4), values_yaml)
    def test_the_same_values_always_give_the_same_digest(
        self, values: list[dict[str, Any]], yaml: str | None
    ) -> None:
        assert digest_of(values, yaml) == digest_of([dict(v) for v in values], yaml)
        assert digest_of(values, yaml) == digest_of(recase(values, pascal), yaml)

    @settings(max_examples=300)
    @given(st.lists(override, min_size=1, max_size=4), values_yaml, st.data())
    def test_any_change_to_any_value_changes_the_digest(
        self, values: list[dict[str, Any]], yaml: str | None, data: st.DataObject
    ) -> None:
        """The digest ignores nothing: a path, a value, a secret flag, the YAML, the order,
        one override more or less."""
        before = digest_of(values, yaml)
        index = data.draw(st.integers(0, len(values) - 1))
        what = data.draw(
            st.sampled_from(["path", "value", "isSecret", "yaml", "add", "drop", "swap"])
        )
        after_values = [dict(v) for v in values]
        after_yaml = yaml
        if what == "path":
            after_values[index]["path"] += "x"
        elif what == "value":
            old = after_values[index]["value"]
            after_values[index]["value"] = "" if old is None else None
        elif what == "isSecret":
            after_values[index]["isSecret"] = not after_values[index]["isSecret"]
        elif what == "yaml":
            after_yaml = data.draw(values_yaml.filter(lambda y: y != yaml))
        elif what == "add":
            after_values.insert(index, data.draw(override))
        elif what == "drop":
            del after_values[index]
        else:
            other = data.draw(st.integers(0, len(values) - 1))
            after_values[index], after_values[other] = after_values[other], after_values[index]
            if after_values == values:
                return  # the same two overrides swapped: nothing changed
        assert digest_of(after_values, after_yaml) != before

    def test_an_empty_yaml_and_no_yaml_are_told_apart(self) -> None:
        assert digest_of([], "") != digest_of([], None)

    def test_secret_and_non_secret_overrides_are_kept_apart_in_order(self) -> None:
        got = parsed(
            request(
                values=[
                    {"path": "a", "value": "1", "isSecret": False},
                    {"path": "s1", "value": "fake-s1", "isSecret": True},
                    {"path": "b", "value": None, "isSecret": False},
                    {"path": "s2", "value": "fake-s2", "isSecret": True},
                ]
            )
        )
        assert got.secret_paths() == ["s1", "s2"]
        assert got.overrides() == [{"path": "a", "value": "1"}, {"path": "b", "value": None}]


# ---------------------------------------------------------------------------------------
# Secrets never shown


def secret_request(canary: str) -> dict[str, Any]:
    """A request with `canary` in every secret-bearing field (percent-encoded in the URL's
    userinfo, as RFC 3986 wants it; the raw form is tested in `TestRepositoryUrl`)."""
    url_secret = quote(canary, safe="")
    return request(
        repositoryUrl=f"https://{url_secret}-user:{url_secret}-urlpw@charts.acme.example/stable",
        repositoryUsername=f"{canary}-username",
        repositoryPassword=f"{canary}-password",
        valuesYaml=f"db:\n  password: {canary}-yaml\n",
        values=[
            {"path": "image.tag", "value": "4.3.1", "isSecret": False},
            {"path": "database.password", "value": f"{canary}-value", "isSecret": True},
            {"path": "api.token", "value": f"{canary}-token", "isSecret": True},
        ],
    )


def shown_forms(model: WorkloadDeployed) -> dict[str, str]:
    """Everything a model shows of itself without being asked for a secret."""
    fields = model.stored_fields()
    return {
        "repr": repr(model),
        "str": str(model),
        "model_dump_json": model.model_dump_json(),
        "model_dump": repr(model.model_dump()),
        "model_dump(json)": json.dumps(model.model_dump(mode="json")),
        "values repr": repr(model.values),
        "stored_fields repr": repr(fields),
        "stored_fields json": json.dumps(fields, default=str),
        "overrides": repr(model.overrides()),
        "secret_paths": repr(model.secret_paths()),
        "digest": model.values_digest(),
        "format": f"{model}|{model!r}|{model.values[1]}",
    }


class TestSecretsAreNeverShown:
    def test_no_secret_in_any_shown_form_and_the_rest_is_there(self) -> None:
        canary = f"cnry{uuid.uuid4().hex}"
        model = parsed(secret_request(canary))
        for name, text in shown_forms(model).items():
            assert canary not in text, name
        fields = model.stored_fields()
        assert fields["secret_paths"] == ["database.password", "api.token"]
        assert fields["overrides"] == [{"path": "image.tag", "value": "4.3.1"}]
        assert fields["repository_url"] == "https://charts.acme.example/stable"
        assert "database.password" in repr(model)
        # The secrets are held, and given only when asked for.
        assert model.repository_password is not None
        assert model.repository_password.get_secret_value() == f"{canary}-password"

    @settings(max_examples=100)
    @given(st.text(min_size=1, max_size=30))
    def test_any_secret_text_is_hidden(self, tail: str) -> None:
        canary = f"cnry{uuid.uuid4().hex}{tail}"
        model = parsed(secret_request(canary))
        for name, text in shown_forms(model).items():
            assert canary not in text, name
            assert quote(canary, safe="") not in text, name

    def test_an_invalid_request_does_not_echo_its_secrets(self) -> None:
        canary = f"cnry{uuid.uuid4().hex}"
        data = secret_request(canary)
        data["values"].append({"value": f"{canary}-orphan", "isSecret": True})  # no path
        data["values"].append({"path": "x", "value": f"{canary}-flag", "isSecret": "true"})
        data["repositoryUrl"] = f"https://u:{canary}\x00@charts.acme.example/"
        data["chartName"] = ""
        with pytest.raises(InvalidReport) as info:
            parse_message(data)
        fields = [p.field for p in info.value.problems]
        assert fields == ["repositoryUrl", "chartName", "values[3].path", "values[4].isSecret"]
        assert canary not in str(info.value)
        assert canary not in repr(info.value)
        assert canary not in repr(info.value.problems)

    @pytest.mark.parametrize("field", ["repositoryPassword", "repositoryUsername", "valuesYaml"])
    def test_a_secret_of_the_wrong_type_is_not_echoed(self, field: str) -> None:
        canary = f"cnry{uuid.uuid4().hex}"
        with pytest.raises(InvalidReport) as info:
            parse_message(request(**{field: [canary]}))
        assert [p.field for p in info.value.problems] == [field]
        assert canary not in str(info.value)
