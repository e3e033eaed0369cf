"""A batch is validated one pydantic-core call per kind; what it answers is exactly what
validating each message alone answers: the same models, or the same numbered problems."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_lifecycle_models import progress, request, undeploy

from deployledger import InvalidReport
from deployledger.domain.messages import inbox
from deployledger.domain.messages.inbox import parse_message, parse_messages


def outcome(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tenantId": "acme-prod",
        "poolName": "eu-1",
        "workloadName": "checkout-api",
        "workloadRtId": "64f1c0ffee0000000000beef",
        "success": False,
        "statusMessage": "UPGRADE FAILED: timed out waiting for the condition",
        **fields,
    }
    return {k: v for k, v in body.items() if v is not ...}


BUILDERS = [request, progress, undeploy, outcome]
# Each change makes one field of any kind wrong, or leaves it as it is.
BREAKS: list[dict[str, Any]] = [
    {},
    {},
    {"tenantId": " "},
    {"workloadRtId": 7},
    {"messageId": ""},
    {"reportedAt": "yesterday"},
    {"tenantId": ...},
]
MESSAGES = st.builds(
    lambda build, change, tag: (
        build(**change) if build is not outcome or change else outcome(messageId=tag)
    ),
    st.sampled_from(BUILDERS),
    st.sampled_from(BREAKS),
    st.text(alphabet="abc123", min_size=1, max_size=6),
) | st.sampled_from([None, 3, "text", ["a list"]])


def one_by_one(items: list[Any]) -> tuple[list[Any], list[tuple[int | None, str, str]]]:
    parsed: list[Any] = []
    problems: list[tuple[int | None, str, str]] = []
    for number, item in enumerate(items, start=1):
        try:
            parsed.append(parse_message(item))
        except InvalidReport as e:
            problems += [(number, p.field, p.reason) for p in e.problems]
    return parsed, problems


@settings(max_examples=60, deadline=None)
@given(st.lists(MESSAGES, min_size=2, max_size=8))
def test_a_batch_answers_what_each_message_alone_answers(items: list[Any]) -> None:
    expected, problems = one_by_one(items)
    if problems:
        with pytest.raises(InvalidReport) as info:
            parse_messages(items)
        assert [(p.report, p.field, p.reason) for p in info.value.problems] == problems
    else:
        assert parse_messages(items) == expected


def test_a_valid_batch_of_mixed_kinds_takes_one_call_per_kind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    real = inbox._parse_batch

    def counting(items: list[Any], context: dict[str, Any]) -> Any:
        calls.append(len(items))
        return real(items, context)

    monkeypatch.setattr(inbox, "_parse_batch", counting)
    monkeypatch.setattr(inbox, "parse_message", None)  # never called for a valid batch
    items = [request(), progress(), outcome(), undeploy(), outcome(success=True)]
    got = parse_messages(items)
    assert calls == [5]
    assert [inbox.kind_of(m) for m in got] == [
        "request",
        "progress",
        "outcome",
        "undeploy",
        "outcome",
    ]
