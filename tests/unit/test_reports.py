"""The wire model `WorkloadDeploymentStatus` and its parser (`parse_report`, `parse_reports`)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from typing import Any

import pytest
import support
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from deployledger import DeployLedgerError, InvalidReport, WorkloadDeploymentStatus, parse_report
from deployledger.domain.messages.reports import DEFAULT_MAX_MESSAGE_BYTES, parse_reports

MIB = 1024 * 1024
CONTRACT_FIELDS = [
    "tenantId",
    "poolName",
    "workloadName",
    "workloadRtId",
    "success",
    "statusMessage",
    "messageId",
    "reportedAt",
]


UPGRADE_FAILED = "Error: UPGRADE FAILED: timed out waiting for the condition"
# A valid camelCase report of a failed attempt: `support.report`, with other defaults.
wire = partial(support.report, success=False, message=UPGRADE_FAILED)


def pascal(key: str) -> str:
    return key[0].upper() + key[1:]


def snake(key: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()


def camel(key: str) -> str:
    return key


CASINGS: dict[str, Callable[[str], str]] = {"camel": camel, "pascal": pascal, "snake": snake}


def recase(report: dict[str, Any], casing: Callable[[str], str]) -> dict[str, Any]:
    return {casing(k): v for k, v in report.items()}


def problems_of(data: Any, **kwargs: Any) -> list[tuple[str, str]]:
    with pytest.raises(InvalidReport) as info:
        parse_report(data, **kwargs)
    return [(p.field, p.reason) for p in info.value.problems]


def problem_fields(data: Any, **kwargs: Any) -> list[str]:
    return [field for field, _ in problems_of(data, **kwargs)]


class TestKeyCasing:
    @pytest.mark.parametrize("casing", CASINGS.values(), ids=CASINGS.keys())
    def test_every_field_is_read_in_camel_pascal_and_snake_case(
        self, casing: Callable[[str], str]
    ) -> None:
        report = wire(messageId="m-1", reportedAt="2024-05-01T12:00:00+02:00")
        parsed = parse_report(recase(report, casing))
        assert parsed.tenant_id == "t1"
        assert parsed.pool_name == "pool-a"
        assert parsed.workload_name == "billing-api"
        assert parsed.workload_rt_id == "64f1c0ffee0000000000beef"
        assert parsed.success is False
        assert parsed.status_message == report["statusMessage"]
        assert parsed.message_id == "m-1"
        assert parsed.reported_at == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)

    def test_snake_case_names_map_to_the_contract_names(self) -> None:
        assert [snake(f) for f in CONTRACT_FIELDS] == [
            "tenant_id",
            "pool_name",
            "workload_name",
            "workload_rt_id",
            "success",
            "status_message",
            "message_id",
            "reported_at",
        ]

    def test_casings_may_be_mixed_within_one_report(self) -> None:
        parsed = parse_report(
            {"TenantId": "t1", "workload_name": "w", "workloadRtId": "r", "Success": True}
        )
        assert (parsed.tenant_id, parsed.workload_name, parsed.workload_rt_id) == ("t1", "w", "r")
        assert parsed.success is True

    def test_one_field_given_twice_with_different_values_is_an_error(self) -> None:
        fields = problem_fields({**wire(), "TenantId": "t2"})
        assert fields == ["(report)"]

    def test_one_field_given_twice_with_the_same_value_is_accepted(self) -> None:
        assert parse_report({**wire(), "TenantId": "t1"}).tenant_id == "t1"


class TestPoolName:
    def test_an_absent_pool_name_means_the_pool_is_unknown(self) -> None:
        assert parse_report(wire(poolName=...)).pool_name is None

    def test_a_null_pool_name_means_the_pool_is_unknown(self) -> None:
        assert parse_report(wire(poolName=None)).pool_name is None

    def test_a_given_pool_name_is_kept(self) -> None:
        assert parse_report(wire(poolName="eu-west")).pool_name == "eu-west"


class TestOptionalMessageIdAndReportedAt:
    def test_both_are_none_when_absent(self) -> None:
        parsed = parse_report(wire())
        assert parsed.message_id is None
        assert parsed.reported_at is None

    def test_both_may_be_null(self) -> None:
        parsed = parse_report(wire(messageId=None, reportedAt=None))
        assert parsed.message_id is None
        assert parsed.reported_at is None

    def test_a_message_id_is_kept(self) -> None:
        assert parse_report(wire(messageId="op-42/attempt-1")).message_id == "op-42/attempt-1"

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("2024-05-01T12:34:56Z", datetime(2024, 5, 1, 12, 34, 56, tzinfo=UTC)),
            (
                "2024-05-01T12:34:56.123456+02:00",
                datetime(2024, 5, 1, 12, 34, 56, 123456, tzinfo=timezone(timedelta(hours=2))),
            ),
            (
                "2024-05-01T12:34:56-05:30",
                datetime(2024, 5, 1, 12, 34, 56, tzinfo=timezone(-timedelta(hours=5, minutes=30))),
            ),
        ],
    )
    def test_a_reported_at_with_a_zone_keeps_its_instant_and_offset(
        self, text: str, expected: datetime
    ) -> None:
        parsed = parse_report(wire(reportedAt=text)).reported_at
        assert parsed == expected
        assert parsed is not None
        assert parsed.utcoffset() == expected.utcoffset()

    @pytest.mark.parametrize(
        "text", ["2024-05-01T12:34:56", "2024-05-01T12:34:56.5", "2024-05-01 12:34:56"]
    )
    def test_a_naive_reported_at_is_an_error(self, text: str) -> None:
        assert problems_of(wire(reportedAt=text)) == [
            ("reportedAt", "must include a time zone (for example Z or +02:00)")
        ]

    @pytest.mark.parametrize("value", ["yesterday", "", "2024-13-01T00:00:00Z", True, [], {}])
    def test_a_reported_at_that_is_no_timestamp_is_an_error(self, value: Any) -> None:
        assert problem_fields(wire(reportedAt=value)) == ["reportedAt"]

    @pytest.mark.parametrize("value", [1714566896, "1714566896"])
    def test_a_unix_time_number_is_not_an_iso_8601_reported_at(self, value: Any) -> None:
        assert problem_fields(wire(reportedAt=value)) == ["reportedAt"]


class TestSuccess:
    @pytest.mark.parametrize("value", [True, False])
    def test_a_json_boolean_is_accepted(self, value: bool) -> None:
        assert parse_report(wire(success=value)).success is value

    @pytest.mark.parametrize(
        ("value", "kind"),
        [
            ("true", "a string"),
            ("false", "a string"),
            (1, "a number"),
            (0, "a number"),
            (1.0, "a number"),
            (None, "null"),
        ],
    )
    def test_anything_but_a_json_boolean_is_an_error(self, value: Any, kind: str) -> None:
        assert problems_of(wire(success=value)) == [
            ("success", f"must be a JSON boolean (true or false), got {kind}")
        ]

    def test_json_text_true_as_a_string_is_an_error(self) -> None:
        text = json.dumps(wire(success="true"))
        assert problem_fields(text) == ["success"]

    def test_a_missing_success_is_an_error(self) -> None:
        assert problems_of(wire(success=...)) == [("success", "is required")]


IDENTIFIERS = ["tenantId", "workloadName", "workloadRtId"]


class TestIdentifiers:
    @pytest.mark.parametrize("field", IDENTIFIERS)
    @pytest.mark.parametrize(
        "value", ["", " ", "\t", "\u3000 \u00a0", "\n"], ids=["empty", "space", "tab", "wide", "nl"]
    )
    def test_an_empty_or_blank_identifier_is_an_error(self, field: str, value: str) -> None:
        assert problem_fields(wire(**{field: value})) == [field]

    @pytest.mark.parametrize("field", IDENTIFIERS)
    def test_an_identifier_of_256_characters_is_accepted(self, field: str) -> None:
        parsed = parse_report(wire(**{field: "x" * 256}))
        assert parsed.to_wire()[field] == "x" * 256

    @pytest.mark.parametrize("field", IDENTIFIERS)
    def test_the_256_character_limit_counts_characters_not_bytes(self, field: str) -> None:
        value = "\U0001f680" * 256  # 1 KiB of UTF-8, 256 characters
        assert parse_report(wire(**{field: value})).to_wire()[field] == value

    @pytest.mark.parametrize("field", IDENTIFIERS)
    def test_an_identifier_of_257_characters_is_an_error(self, field: str) -> None:
        assert problem_fields(wire(**{field: "x" * 257})) == [field]

    @pytest.mark.parametrize("field", IDENTIFIERS)
    @pytest.mark.parametrize("char", ["\x00", "\x1f", "\x7f", "\x85", "\r", "\x1b"])
    def test_an_identifier_with_a_control_character_is_an_error(
        self, field: str, char: str
    ) -> None:
        assert problem_fields(wire(**{field: f"ab{char}cd"})) == [field]

    @pytest.mark.parametrize("field", IDENTIFIERS)
    @pytest.mark.parametrize("value", [42, 4.2, True, ["t1"], {"id": "t1"}, None])
    def test_an_identifier_that_is_not_a_string_is_an_error(self, field: str, value: Any) -> None:
        assert problem_fields(wire(**{field: value})) == [field]

    @pytest.mark.parametrize("field", IDENTIFIERS)
    def test_a_missing_identifier_is_an_error(self, field: str) -> None:
        dropped: dict[str, Any] = {field: ...}
        assert problems_of(wire(**dropped)) == [(field, "is required")]

    @pytest.mark.parametrize("field", IDENTIFIERS)
    def test_unicode_identifiers_without_control_characters_are_accepted(self, field: str) -> None:
        value = "租户-Ωμέγα-\U0001f9ea"
        assert parse_report(wire(**{field: value})).to_wire()[field] == value

    @pytest.mark.parametrize("field", [*IDENTIFIERS, "poolName", "messageId"])
    def test_an_identifier_with_a_lone_surrogate_is_an_error(self, field: str) -> None:
        text = json.dumps(wire(**{field: "ab\ud800cd"}))  # JSON: "ab\ud800cd"
        assert problem_fields(text) == [field]


class TestStatusMessage:
    @pytest.mark.parametrize(
        "message",
        [
            None,
            "",
            "\x00",
            "before\x00after",
            "Error: UPGRADE FAILED: release x failed\n\tline two\r\n  indented\n",
            "   leading and trailing spaces   ",
            "\n\n\n",
            "部署失败 🚀 — ошибка — خطأ",
            "e\u0301 and \u00e9 stay distinct (no NFC)",
            "\ufeffBOM\u200bzero width\u2028line sep",
            "\U0010ffff\U0001f600",
            "\x1b[31mred\x1b[0m",
        ],
    )
    def test_the_message_is_kept_exactly_as_sent(self, message: str | None) -> None:
        assert parse_report(wire(statusMessage=message)).status_message == message
        text = json.dumps(wire(statusMessage=message))
        assert parse_report(text).status_message == message

    def test_an_absent_message_is_none(self) -> None:
        assert parse_report(wire(statusMessage=...)).status_message is None

    def test_the_default_limit_is_one_mebibyte_of_utf8(self) -> None:
        assert DEFAULT_MAX_MESSAGE_BYTES == MIB
        assert parse_report(wire(statusMessage="x" * MIB)).status_message == "x" * MIB

    def test_one_byte_over_one_mebibyte_is_kept_cut_in_the_middle(self) -> None:
        parsed = parse_report(wire(statusMessage="x" * (MIB + 1)))
        assert parsed.message_truncated
        assert len((parsed.status_message or "").encode()) <= MIB
        assert f"of {MIB + 1} (sha256" in (parsed.status_message or "")
        assert not parse_report(wire(statusMessage="x" * MIB)).message_truncated

    def test_one_byte_over_one_mebibyte_is_an_error_when_oversized_are_rejected(self) -> None:
        assert problems_of(wire(statusMessage="x" * (MIB + 1)), reject_oversized=True) == [
            ("statusMessage", f"is {MIB + 1} bytes of UTF-8, over the limit of {MIB} bytes")
        ]

    def test_the_limit_counts_utf8_bytes_not_characters(self) -> None:
        fits = "é" * (MIB // 2)  # two bytes each
        assert parse_report(wire(statusMessage=fits)).status_message == fits
        assert problem_fields(wire(statusMessage=fits + "é"), reject_oversized=True) == [
            "statusMessage"
        ]
        assert problem_fields(
            wire(statusMessage="\U0001f600" * (MIB // 4 + 1)), reject_oversized=True
        ) == ["statusMessage"]
        assert parse_report(wire(statusMessage=fits + "é")).message_truncated

    def test_the_limit_can_be_configured(self) -> None:
        assert parse_report(wire(statusMessage="ab€"), max_message_bytes=5).status_message == "ab€"
        assert problems_of(
            wire(statusMessage="abc€"), max_message_bytes=5, reject_oversized=True
        ) == [("statusMessage", "is 6 bytes of UTF-8, over the limit of 5 bytes")]

    def test_a_configured_limit_may_be_larger_than_the_default(self) -> None:
        big = "x" * (MIB + 10)
        assert parse_report(wire(statusMessage=big), max_message_bytes=2 * MIB).status_message
        assert problem_fields(wire(statusMessage=big), reject_oversized=True) == ["statusMessage"]

    def test_the_configured_limit_applies_to_every_report_of_a_batch(self) -> None:
        with pytest.raises(InvalidReport) as info:
            parse_reports(
                [wire(statusMessage="1234"), wire(statusMessage="12345")],
                max_message_bytes=4,
                reject_oversized=True,
            )
        assert [(p.report, p.field) for p in info.value.problems] == [(2, "statusMessage")]

    @pytest.mark.parametrize("value", [42, True, ["line"], {"text": "x"}])
    def test_a_message_that_is_neither_null_nor_a_string_is_an_error(self, value: Any) -> None:
        assert problem_fields(wire(statusMessage=value)) == ["statusMessage"]

    def test_a_message_with_a_lone_surrogate_is_an_error(self) -> None:
        text = json.dumps(wire(statusMessage="bad \udc80 half"))  # JSON: "bad \udc80 half"
        assert problems_of(text) == [
            ("statusMessage", "contains a lone UTF-16 surrogate, which is not valid Unicode")
        ]


class TestUnknownFields:
    def test_unknown_extra_fields_are_ignored(self) -> None:
        extra = {**wire(), "clusterName": "c1", "Success2": "yes", "nested": {"a": [1, 2]}, "": 0}
        assert parse_report(extra) == parse_report(wire())

    def test_fields_of_the_related_contracts_are_ignored(self) -> None:
        report = {**wire(), "poolRtId": "p1", "workloadType": 1, "repositoryPassword": "hunter2"}
        parsed = parse_report(report)
        assert "hunter2" not in json.dumps(parsed.to_wire())


class TestInvalidReportListsEveryProblem:
    def test_every_broken_field_is_listed_with_its_contract_name(self) -> None:
        broken = {
            "tenant_id": "",
            "WorkloadName": 7,
            "workloadRtId": "a\x00b",
            "success": "true",
            "PoolName": "p\x07",
            "status_message": 12,
            "message_id": " ",
            "ReportedAt": "2024-05-01T12:00:00",
        }
        assert sorted(problem_fields(broken)) == sorted(CONTRACT_FIELDS)

    def test_an_empty_object_lists_every_required_field(self) -> None:
        assert problems_of({}) == [
            ("tenantId", "is required"),
            ("workloadName", "is required"),
            ("workloadRtId", "is required"),
            ("success", "is required"),
        ]

    def test_the_error_message_names_every_problem(self) -> None:
        with pytest.raises(InvalidReport) as info:
            parse_report({"success": 1})
        text = str(info.value)
        for field in ("tenantId", "workloadName", "workloadRtId", "success"):
            assert f"{field}: " in text

    def test_invalid_report_is_a_deployledger_error_and_a_value_error(self) -> None:
        with pytest.raises(InvalidReport) as info:
            parse_report({})
        assert isinstance(info.value, DeployLedgerError)
        assert isinstance(info.value, ValueError)

    def test_problems_in_a_batch_carry_their_one_based_report_number(self) -> None:
        with pytest.raises(InvalidReport) as info:
            parse_reports([wire(), wire(success="no", tenantId=""), wire(), wire(workloadName=...)])
        assert [(p.report, p.field) for p in info.value.problems] == [
            (2, "tenantId"),
            (2, "success"),
            (4, "workloadName"),
        ]
        assert str(info.value.problems[2]) == "report 4: workloadName: is required"

    def test_a_valid_batch_parses_in_order(self) -> None:
        reports = parse_reports(iter([wire(workloadRtId="a"), wire(workloadRtId="b")]))
        assert [r.workload_rt_id for r in reports] == ["a", "b"]

    def test_an_empty_batch_parses_to_an_empty_list(self) -> None:
        assert parse_reports([]) == []


class TestInputForms:
    def test_a_dict_a_json_string_json_bytes_and_a_model_parse_alike(self) -> None:
        report = wire(messageId="m", reportedAt="2024-05-01T12:00:00Z")
        from_dict = parse_report(report)
        assert parse_report(json.dumps(report)) == from_dict
        assert parse_report(json.dumps(report, ensure_ascii=False).encode()) == from_dict
        assert parse_report(from_dict) == from_dict

    def test_json_bytes_in_utf16_are_decoded(self) -> None:
        report = wire(statusMessage="héllo 🚀")
        assert parse_report(json.dumps(report).encode("utf-16")).status_message == "héllo 🚀"

    def test_a_model_is_revalidated_against_the_message_limit(self) -> None:
        model = parse_report(wire(statusMessage="x" * 100))
        assert problem_fields(model, max_message_bytes=10, reject_oversized=True) == [
            "statusMessage"
        ]
        assert parse_report(model, max_message_bytes=50).message_truncated

    @pytest.mark.parametrize(
        "text", ["", "{", "{'tenantId': 't1'}", "not json", b"\xff\xfe\xfa", "{}}"]
    )
    def test_text_that_is_not_json_is_an_error(self, text: str | bytes) -> None:
        problems = problems_of(text)
        assert len(problems) == 1
        assert problems[0][0] == "(report)"
        assert problems[0][1].startswith("not valid JSON")

    @pytest.mark.parametrize(
        ("text", "kind"),
        [("[]", "an array"), ('"x"', "a string"), ("3", "a number"), ("null", "null")],
    )
    def test_json_that_is_not_an_object_is_an_error(self, text: str, kind: str) -> None:
        assert problems_of(text) == [("(report)", f"a report must be a JSON object, got {kind}")]

    @pytest.mark.parametrize("value", [[wire()], None, 3, 4.5, True, ("a", "b")])
    def test_a_python_value_that_is_not_a_mapping_is_an_error(self, value: Any) -> None:
        assert problem_fields(value) == ["(report)"]


class TestTheModel:
    def test_the_model_is_immutable(self) -> None:
        parsed = parse_report(wire())
        with pytest.raises(ValidationError):
            parsed.tenant_id = "other"  # type: ignore[misc]

    def test_to_wire_writes_every_contract_field_in_camel_case(self) -> None:
        sent = wire(messageId="m", reportedAt="2024-05-01T12:00:00+02:00")
        assert sorted(sent) == sorted(CONTRACT_FIELDS)
        assert parse_report(sent).to_wire() == sent

    def test_the_model_validates_by_itself_with_snake_case_names(self) -> None:
        model = WorkloadDeploymentStatus.model_validate(
            {"tenant_id": "t", "workload_name": "w", "workload_rt_id": "r", "success": True}
        )
        assert model.pool_name is None


# -- properties -------------------------------------------------------------------------

# Identifiers: any Unicode that is not a control character nor a lone surrogate.
identifier = st.text(
    st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=256
).filter(lambda s: s.strip() == s != "")
# Messages: anything encodable, with NUL, newlines and astral characters made likely.
message_char = st.one_of(
    st.characters(exclude_categories=["Cs"]),
    st.sampled_from(["\x00", "\n", "\r\n", "\t", "\U0001f680", "\U0010ffff", "漢", "\u2028"]),
)


def status_messages(max_chars: int) -> st.SearchStrategy[str | None]:
    return st.none() | st.lists(message_char, max_size=max_chars).map("".join)


zone = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
aware_datetime = st.builds(
    lambda naive, tz: naive.replace(tzinfo=tz),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)),
    zone,
)
ABSENT = object()


@st.composite
def valid_reports(draw: st.DrawFn, max_message_chars: int = 200) -> dict[str, Any]:
    report: dict[str, Any] = {
        "tenantId": draw(identifier),
        "workloadName": draw(identifier),
        "workloadRtId": draw(identifier),
        "success": draw(st.booleans()),
    }
    optional = {
        "poolName": draw(st.sampled_from([ABSENT, None]) | identifier),
        "statusMessage": draw(st.just(ABSENT) | status_messages(max_message_chars)),
        "messageId": draw(st.sampled_from([ABSENT, None]) | identifier),
        "reportedAt": draw(st.sampled_from([ABSENT, None]) | aware_datetime),
    }
    report.update({k: v for k, v in optional.items() if v is not ABSENT})
    return report


def encoded(report: dict[str, Any], how: str) -> str | bytes:
    text = json.dumps(
        report,
        ensure_ascii=how == "ascii",
        default=lambda value: value.isoformat(),
    )
    return text.encode() if how == "bytes" else text


class TestProperties:
    @settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
    @given(
        report=valid_reports(),
        casing=st.sampled_from(sorted(CASINGS)),
        how=st.sampled_from(["ascii", "unicode", "bytes"]),
    )
    def test_any_valid_report_round_trips_through_json_exactly(
        self, report: dict[str, Any], casing: str, how: str
    ) -> None:
        parsed = parse_report(encoded(recase(report, CASINGS[casing]), how))
        assert parsed.tenant_id == report["tenantId"]
        assert parsed.workload_name == report["workloadName"]
        assert parsed.workload_rt_id == report["workloadRtId"]
        assert parsed.success is report["success"]
        assert parsed.pool_name == report.get("poolName")
        assert parsed.status_message == report.get("statusMessage")
        assert parsed.message_id == report.get("messageId")
        expected_at = report.get("reportedAt")
        assert parsed.reported_at == expected_at
        if expected_at is not None:
            assert parsed.reported_at is not None
            assert parsed.reported_at.utcoffset() == expected_at.utcoffset()
        if parsed.status_message is not None:
            assert parsed.status_message.encode("utf-8") == report["statusMessage"].encode()

    @settings(max_examples=200)
    # Valid messages stay within 16 characters (at most 64 bytes), the limit used here.
    @given(
        data=st.data(),
        report=valid_reports(max_message_chars=16),
        casing=st.sampled_from(sorted(CASINGS)),
    )
    def test_any_set_of_broken_fields_yields_exactly_one_problem_per_broken_field(
        self, data: st.DataObject, report: dict[str, Any], casing: str
    ) -> None:
        broken = data.draw(st.sets(st.sampled_from(sorted(BREAKERS)), min_size=1))
        for field in sorted(broken):
            value = data.draw(st.sampled_from(BREAKERS[field]), label=field)
            if value is ...:
                report.pop(field, None)
            else:
                report[field] = value
        text = encoded(recase(report, CASINGS[casing]), "ascii")
        fields = problem_fields(text, max_message_bytes=64, reject_oversized=True)
        assert sorted(fields) == sorted(broken)


_BAD_IDENTIFIER = [
    ...,
    "",
    "   ",
    "x" * 257,
    "a\x00b",
    "\x1f",
    "x\x7f",
    5,
    None,
    True,
    ["a"],
    " x",
    "x ",
    "x\u3000",
]
BREAKERS: dict[str, list[Any]] = {
    "tenantId": _BAD_IDENTIFIER,
    "workloadName": _BAD_IDENTIFIER,
    "workloadRtId": _BAD_IDENTIFIER,
    "success": [..., "true", "false", 1, 0, None, [], {}],
    "poolName": ["   ", "p\x07", "x" * 257, 5, False, ["p"]],
    "statusMessage": ["x" * 65, "é" * 33, 5, True, ["m"], {"m": 1}, "\ud800"],
    "messageId": ["", "  ", "m\n", "x" * 257, 5, ["m"], "m ", " m"],
    "reportedAt": ["2024-05-01T12:00:00", "2024-05-01", "not a time", "", True, []],
}


def test_breakers_cover_every_contract_field() -> None:
    assert sorted(BREAKERS) == sorted(CONTRACT_FIELDS)


class TestStrictInput:
    def test_a_blank_pool_says_how_to_send_an_unknown_pool(self) -> None:
        assert problems_of(wire(poolName="  ")) == [
            ("poolName", 'must not be blank; leave it out, or send null or "" for an unknown pool')
        ]
        assert parse_report(wire(poolName="")).pool_name is None

    @pytest.mark.parametrize("value", [" t1", "t1 ", "\tt1", "t1\u00a0"])
    def test_an_id_with_surrounding_whitespace_is_an_error_that_shows_it(self, value: str) -> None:
        assert problems_of(wire(tenantId=value)) == [
            ("tenantId", f"must not start or end with whitespace, got {value!r}")
        ]

    def test_a_key_given_twice_in_one_object_is_an_error(self) -> None:
        text = '{"tenantId": "t1", "tenantId": "t2", "workloadName": "w", "workloadRtId": "r", '
        text += '"success": true}'
        assert problems_of(text) == [
            ("(report)", "not valid JSON: duplicate key 'tenantId' in one JSON object")
        ]

    def test_a_nested_key_given_twice_is_an_error_too(self) -> None:
        body = json.dumps(wire())[:-1] + ', "extra": {"a": 1, "a": 2}}'
        assert problem_fields(body) == ["(report)"]
