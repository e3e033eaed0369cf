"""Any of the four lifecycle messages, told apart by `kind`, validated. Pure.

`kind` is `request`, `progress`, `outcome` or `undeploy` (any casing). A message without
`kind` is an outcome when it has `success` (the report as upstream sends it); any other
message without `kind` is refused, naming the field to add.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from deployledger.domain.messages.lifecycle import (
    WorkloadDeployed,
    WorkloadDeploymentProgress,
    WorkloadUndeployed,
    names_of,
)
from deployledger.domain.messages.reports import (
    DEFAULT_MAX_MESSAGE_BYTES,
    WorkloadDeploymentStatus,
    decode_json,
    json_kind,
    parse_report,
    problems_of,
)
from deployledger.errors import InvalidReport, Problem

Message = (
    WorkloadDeployed | WorkloadDeploymentProgress | WorkloadDeploymentStatus | WorkloadUndeployed
)
MessageInput = Message | Mapping[str, Any] | str | bytes

MODELS: dict[str, type[BaseModel]] = {
    "request": WorkloadDeployed,
    "progress": WorkloadDeploymentProgress,
    "outcome": WorkloadDeploymentStatus,
    "undeploy": WorkloadUndeployed,
}
KINDS = tuple(MODELS)
_KIND_OF = {model: kind for kind, model in MODELS.items()}


def kind_of(message: Message) -> str:
    """`request`, `progress`, `outcome` or `undeploy`."""
    return _KIND_OF[type(message)]


def _normal(key: str) -> str:
    return key.replace("_", "").replace("-", "").lower()


# A batch repeats the same few keys in every message: short ones are normalised once.
_normal_cached = lru_cache(maxsize=1024)(_normal)


def _kind(data: Mapping[str, Any]) -> str:
    given = []
    success = False
    for key, value in data.items():
        if isinstance(key, str):
            name = _normal_cached(key) if len(key) <= 64 else _normal(key)
            if name == "kind":
                given.append(value)
            elif name == "success":
                success = True
    if not given:
        if success:
            return "outcome"
        raise InvalidReport(
            [
                Problem(
                    "kind",
                    'is required: add "kind": "request", "progress", "outcome" or "undeploy" '
                    '(a message with "success" is an outcome)',
                )
            ]
        )
    value = given[0]
    if (
        isinstance(value, str)
        and value.strip().lower() in MODELS
        and len(set(map(str, given))) == 1
    ):
        return value.strip().lower()
    shown = repr(value) if isinstance(value, str) else json_kind(value)
    raise InvalidReport(
        [Problem("kind", f'must be "request", "progress", "outcome" or "undeploy", got {shown}')]
    )


def parse_message(
    data: MessageInput,
    *,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    reject_oversized: bool = False,
) -> Message:
    """Validate one message of any kind, given as a model, a mapping, or JSON text/bytes.
    Raises `InvalidReport` listing every problem found."""
    if isinstance(data, str | bytes | bytearray):
        data = decode_json(data)
    if isinstance(data, WorkloadDeploymentStatus):
        return parse_report(
            data, max_message_bytes=max_message_bytes, reject_oversized=reject_oversized
        )
    if isinstance(data, WorkloadDeployed | WorkloadUndeployed):
        return data
    if isinstance(data, WorkloadDeploymentProgress):
        if len(data.message) * 4 <= max_message_bytes:
            return data
        data = {**data.model_dump(exclude={"message_truncated"}), "kind": "progress"}
    if not isinstance(data, Mapping):
        raise InvalidReport(
            [Problem("(report)", f"a message must be a JSON object, got {json_kind(data)}")]
        )
    kind = _kind(data)
    if kind == "outcome":
        return parse_report(
            data, max_message_bytes=max_message_bytes, reject_oversized=reject_oversized
        )
    model = MODELS[kind]
    problems: list[Problem] = []
    try:
        parsed = model.model_validate(
            data,
            context={"max_message_bytes": max_message_bytes, "reject_oversized": reject_oversized},
        )
    except ValidationError as e:
        problems = problems_of(e, names_of(model))
    if problems:
        # Raised outside the handler, so that the pydantic error, which holds the raw input
        # (secrets, for a request), is not even kept as the exception's context.
        raise InvalidReport(problems)
    assert isinstance(parsed, WorkloadDeployed | WorkloadDeploymentProgress | WorkloadUndeployed)
    return parsed


# One validator per kind for a whole list of messages: a batch is checked in pydantic-core
# with one call per kind, not one Python call per message.
_LISTS: dict[str, TypeAdapter[list[Any]]] = {
    "request": TypeAdapter(list[WorkloadDeployed]),
    "progress": TypeAdapter(list[WorkloadDeploymentProgress]),
    "outcome": TypeAdapter(list[WorkloadDeploymentStatus]),
    "undeploy": TypeAdapter(list[WorkloadUndeployed]),
}


def _parse_batch(items: list[Any], context: dict[str, Any]) -> list[Message] | None:
    """A batch of mappings validated one call per kind, in input order; None when any item
    is not a mapping or is invalid (the caller then checks them one by one, to list every
    problem with its message's number)."""
    by_kind: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            return None
        try:
            by_kind.setdefault(_kind(item), []).append(index)
        except InvalidReport:
            return None
    parsed: list[Any] = [None] * len(items)
    for kind, indexes in by_kind.items():
        try:
            valid = _LISTS[kind].validate_python([items[i] for i in indexes], context=context)
        except ValidationError:
            return None  # the error holds the raw input (secrets): not kept
        for index, message in zip(indexes, valid, strict=True):
            parsed[index] = message
    return parsed


def parse_messages(
    items: Iterable[MessageInput],
    *,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    reject_oversized: bool = False,
) -> list[Message]:
    """Validate a batch; on failure `InvalidReport` lists every problem of every message."""
    items = list(items)
    if len(items) > 1:
        context = {"max_message_bytes": max_message_bytes, "reject_oversized": reject_oversized}
        batch = _parse_batch(items, context)
        if batch is not None:
            return batch
    messages: list[Message] = []
    problems: list[Problem] = []
    for number, item in enumerate(items, start=1):
        try:
            messages.append(
                parse_message(
                    item, max_message_bytes=max_message_bytes, reject_oversized=reject_oversized
                )
            )
        except InvalidReport as e:
            problems.extend(
                Problem(p.field, p.reason, report=number, line=p.line) for p in e.problems
            )
    if problems:
        raise InvalidReport(problems)
    return messages
