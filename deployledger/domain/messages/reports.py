"""The wire model of `WorkloadDeploymentStatusDto` and the report parser.

Keys are matched case-insensitively and without underscores, so camelCase
(`tenantId`, the upstream JSON), PascalCase (`TenantId`) and snake_case
(`tenant_id`) all work. Unknown keys are ignored. `StatusMessage` is kept
exactly as sent; nothing is trimmed or normalised.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    StrictBool,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from deployledger.domain.messages.truncation import cut_middle
from deployledger.errors import InvalidReport, Problem

DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024
MAX_ID_LENGTH = 256

# Contract name (camelCase, as the upstream JSON writes it) of each field.
CONTRACT_NAMES: dict[str, str] = {
    "tenant_id": "tenantId",
    "pool_name": "poolName",
    "workload_name": "workloadName",
    "workload_rt_id": "workloadRtId",
    "success": "success",
    "status_message": "statusMessage",
    "message_id": "messageId",
    "reported_at": "reportedAt",
}
_NUMERIC = re.compile(r"^\s*[+-]?\d+(\.\d*)?\s*$")


def _normal_key(key: str) -> str:
    return key.replace("_", "").replace("-", "").lower()


class KeyMap:
    """Matches a message's keys to field names: camelCase, PascalCase, snake_case, or any
    casing with `_`/`-`; unknown keys are dropped. `names` maps field name to contract name."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names
        self._by_key = {name.replace("_", ""): name for name in names}
        # The usual spellings, looked up before normalising (a hot path: every key).
        self._exact: dict[str, str] = {}
        for name, camel in names.items():
            self._exact.update({name: name, camel: name, camel[0].upper() + camel[1:]: name})

    def match(self, data: Any, what: str) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise PydanticCustomError(
                "not_an_object",
                "{what} must be a JSON object, got {kind}",
                {"what": what, "kind": json_kind(data)},
            )
        fields: dict[str, Any] = {}
        for key, value in data.items():
            name = self._exact.get(key) if isinstance(key, str) else None
            if name is None and isinstance(key, str):
                name = self._by_key.get(_normal_key(key))
            if name is None:
                continue  # unknown extra fields are ignored
            if name in fields and fields[name] != value:
                raise PydanticCustomError(
                    "conflicting_keys",
                    "field {field} is given twice with different values",
                    {"field": self.names[name]},
                )
            fields[name] = value
        return fields


OUTCOME_KEYS = KeyMap(CONTRACT_NAMES)
# Unicode category Cc is exactly these two ranges.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _has_lone_surrogate(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _check_identifier(value: str) -> str:
    if _has_lone_surrogate(value):
        raise PydanticCustomError(
            "lone_surrogate", "contains a lone UTF-16 surrogate, which is not valid Unicode"
        )
    if not value.strip():
        raise PydanticCustomError("blank", "must not be empty or blank")
    if value != value.strip():
        raise PydanticCustomError(
            "surrounding_whitespace",
            "must not start or end with whitespace, got {value}",
            {"value": repr(value)},
        )
    if len(value) > MAX_ID_LENGTH:
        raise PydanticCustomError(
            "too_long",
            "must be at most {limit} characters, got {length}",
            {"limit": MAX_ID_LENGTH, "length": len(value)},
        )
    control = _CONTROL.search(value)
    if control is not None:
        raise PydanticCustomError(
            "control_char",
            "must not contain control characters (found {char} at index {index})",
            {"char": f"U+{ord(control.group()):04X}", "index": control.start()},
        )
    return value


Identifier = Annotated[StrictStr, AfterValidator(_check_identifier)]


def _limits(info: ValidationInfo) -> tuple[int, bool]:
    """(max_message_bytes, reject_oversized) from the validation context."""
    context = info.context if isinstance(info.context, Mapping) else {}
    limit = int(context.get("max_message_bytes", DEFAULT_MAX_MESSAGE_BYTES))
    return limit, bool(context.get("reject_oversized", False))


def cut_if_oversized(fields: dict[str, Any], field: str, info: ValidationInfo) -> None:
    """Keep an oversized message, cut in the middle, unless the caller rejects them."""
    message = fields.get(field)
    limit, reject = _limits(info)
    if reject or not isinstance(message, str) or len(message) <= limit // 4:
        return
    if _has_lone_surrogate(message) or len(message.encode("utf-8")) <= limit:
        return  # not valid text (the field check says so), or within the limit
    fields[field] = cut_middle(message, limit)
    fields["message_truncated"] = True


def timestamp_text(value: Any) -> Any:
    """Only an ISO-8601 string is a timestamp: JSON has no time type, and a Unix number
    would be ambiguous."""
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, str) and not _NUMERIC.match(value):
        return value
    raise PydanticCustomError(
        "timestamp_type",
        "must be an ISO-8601 timestamp with a time zone, got {kind}",
        {"kind": json_kind(value)},
    )


def check_message(value: str | None, info: ValidationInfo) -> str | None:
    """A free-text message: valid Unicode, and within the size limit when the caller
    rejects oversized ones (otherwise it was cut to the limit before, by `cut_if_oversized`)."""
    if value is None:
        return None
    if _has_lone_surrogate(value):
        raise PydanticCustomError(
            "lone_surrogate", "contains a lone UTF-16 surrogate, which is not valid Unicode"
        )
    limit, reject = _limits(info)
    size = len(value.encode("utf-8"))
    if reject and size > limit:
        raise PydanticCustomError(
            "too_long",
            "is {size} bytes of UTF-8, over the limit of {limit} bytes",
            {"size": size, "limit": limit},
        )
    return value


class WorkloadDeploymentStatus(BaseModel):
    """One status report from the operator after a `helm upgrade --install`.

    `success=True` means helm exited cleanly (state Deployed); `False` means it
    threw (state Error) and `status_message` carries its stderr.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=False)

    tenant_id: Identifier
    workload_name: Identifier
    workload_rt_id: Identifier
    success: StrictBool
    pool_name: Identifier | None = None
    status_message: StrictStr | None = None
    message_id: Identifier | None = None
    reported_at: AwareDatetime | None = None
    # Not a contract field: set when the status message was over the limit and its middle
    # was cut (see `deployledger.domain.messages.truncation`). Never read from the input.
    message_truncated: bool = False

    @model_validator(mode="before")
    @classmethod
    def _match_keys(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, WorkloadDeploymentStatus):
            return data
        fields = OUTCOME_KEYS.match(data, "a report")
        if fields.get("pool_name") == "":
            fields["pool_name"] = None  # an empty pool is an unknown pool
        cut_if_oversized(fields, "status_message", info)
        return fields

    @field_validator("reported_at", mode="before")
    @classmethod
    def _timestamp_text(cls, value: Any) -> Any:
        return timestamp_text(value)

    @field_validator("status_message")
    @classmethod
    def _check_message(cls, value: str | None, info: ValidationInfo) -> str | None:
        return check_message(value, info)

    def to_wire(self) -> dict[str, Any]:
        """The report as the upstream camelCase JSON object."""
        out: dict[str, Any] = {}
        for name, contract in CONTRACT_NAMES.items():
            value = getattr(self, name)
            if isinstance(value, datetime):
                value = value.isoformat()
            out[contract] = value
        return out


def json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


_REASONS: dict[str, str] = {
    "missing": "is required",
    "bool_type": "must be a JSON boolean (true or false)",
    "string_type": "must be a string",
    "timezone_aware": "must include a time zone (for example Z or +02:00)",
    "datetime_type": "must be an ISO-8601 timestamp with a time zone",
    "datetime_parsing": "must be an ISO-8601 timestamp with a time zone",
    "datetime_from_date_parsing": "must be an ISO-8601 timestamp with a time zone",
}


def _field_path(loc: tuple[int | str, ...], names: Mapping[str, str]) -> str:
    """`values.2.is_secret` -> `values[2].isSecret`: the contract's names, JSON-path-like."""
    if not loc:
        return "(report)"
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            name = names.get(part) or CONTRACT_NAMES.get(part) or _camel(part)
            path += f".{name}" if path else name
    return path


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


def _problem(error: ErrorDetails, names: Mapping[str, str]) -> Problem:
    field = _field_path(error["loc"], names)
    reason = _REASONS.get(error["type"], error["msg"])
    if field == "poolName" and error["type"] == "blank":  # "" is accepted: say how
        reason = 'must not be blank; leave it out, or send null or "" for an unknown pool'
    if error["type"] in ("bool_type", "string_type") and "input" in error:
        reason += f", got {json_kind(error['input'])}"
    if error["type"] in ("datetime_parsing", "datetime_from_date_parsing"):
        reason += f", got {error.get('input')!r}"
    return Problem(field=field, reason=reason)


def problems_of(exc: ValidationError, names: Mapping[str, str] = CONTRACT_NAMES) -> list[Problem]:
    """Every problem of a validation error, with contract field names and plain reasons.
    Input values are never echoed (they may be secrets), except an unparsable timestamp."""
    seen: set[tuple[str, str]] = set()
    problems = []
    for error in exc.errors(include_url=False):
        problem = _problem(error, names)
        if (problem.field, problem.reason) not in seen:  # unions repeat themselves
            seen.add((problem.field, problem.reason))
            problems.append(problem)
    return problems


ReportInput = WorkloadDeploymentStatus | Mapping[str, Any] | str | bytes


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"duplicate key {key!r} in one JSON object")
        found[key] = value
    return found


def loads_strict(text: str | bytes | bytearray) -> Any:
    """`json.loads`, except that a key given twice in one object is an error (ValueError),
    not silently the last value."""
    return json.loads(text, object_pairs_hook=_no_duplicate_keys)


def decode_json(data: str | bytes | bytearray) -> Any:
    """JSON text to a value, or `InvalidReport` saying why it is not valid JSON. The
    decoder's error (which holds the whole input text) is not kept as its context."""
    try:
        return loads_strict(data)
    except RecursionError:
        reason = "nested too deeply"
    except (ValueError, UnicodeDecodeError) as e:
        reason = "a number has too many digits" if "digits" in str(e) else str(e)
    raise InvalidReport([Problem("(report)", f"not valid JSON: {reason}")])


def parse_report(
    data: ReportInput,
    *,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    reject_oversized: bool = False,
) -> WorkloadDeploymentStatus:
    """Validate one report given as a model, a mapping, or JSON text/bytes.

    A status message over `max_message_bytes` is kept with its middle cut out
    (`message_truncated` is then true), or, with `reject_oversized`, is a problem.
    Raises `InvalidReport` listing every problem found.
    """
    if isinstance(data, str | bytes | bytearray):
        data = decode_json(data)
    was_cut = False
    if isinstance(data, WorkloadDeploymentStatus):
        message = data.status_message
        if message is None or len(message) * 4 <= max_message_bytes:
            return data  # validated when it was built; only the size limit may differ
        was_cut = data.message_truncated
        data = data.to_wire()
    try:
        parsed = WorkloadDeploymentStatus.model_validate(
            data,
            context={"max_message_bytes": max_message_bytes, "reject_oversized": reject_oversized},
        )
    except ValidationError as e:
        problems = problems_of(e)
    else:
        problems = []
    if problems:
        # Raised outside the handler: the pydantic error (which holds the raw input) is not
        # even kept as the exception's context.
        raise InvalidReport(problems)
    if was_cut and not parsed.message_truncated:  # cut before, and fits now: still cut
        parsed = parsed.model_copy(update={"message_truncated": True})
    return parsed


def parse_reports(
    items: Iterable[ReportInput],
    *,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    reject_oversized: bool = False,
) -> list[WorkloadDeploymentStatus]:
    """Validate a batch; on failure `InvalidReport` lists every problem of every report."""
    reports: list[WorkloadDeploymentStatus] = []
    problems: list[Problem] = []
    for number, item in enumerate(items, start=1):
        try:
            reports.append(
                parse_report(
                    item, max_message_bytes=max_message_bytes, reject_oversized=reject_oversized
                )
            )
        except InvalidReport as e:
            problems.extend(
                Problem(p.field, p.reason, report=number, line=p.line) for p in e.problems
            )
    if problems:
        raise InvalidReport(problems)
    return reports
