"""The wire models of the messages around the status report: the deploy request
(`WorkloadDeployedDto`), progress (`WorkloadDeploymentProgressDto`) and the undeploy
request (`WorkloadUndeployedDto`). Same rules as the report: keys in any casing,
unknown keys ignored, strict types, every problem listed.

A deploy request carries secrets in clear text: the repository credentials, the values
marked secret (decrypted by the controller) and `valuesYaml`, which may hold anything.
They are held as `SecretStr` (never shown by `repr` or `str`) only while the request is
validated and recorded: what is stored is `stored_fields()`, which keeps the secret
*paths*, the non-secret overrides and `values_digest()`, a SHA-256 over all the values.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, ClassVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    SecretStr,
    StrictBool,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from deployledger.domain.messages.reports import (
    Identifier,
    KeyMap,
    check_message,
    cut_if_oversized,
    json_kind,
    timestamp_text,
)

WORKLOAD_TYPES = ("Adapter", "Application")  # upstream enum values 0 and 1
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
MAX_URL_LENGTH = 2048


def _workload_type(value: Any) -> Any:
    """`"Adapter"`/`"Application"` (any casing) or the enum's integers 0/1, as the label."""
    if value is None:
        return None
    if isinstance(value, bool):
        pass  # not a number here, whatever Python says
    elif isinstance(value, int) and 0 <= value < 2:
        return WORKLOAD_TYPES[value]
    if isinstance(value, str):
        for label in WORKLOAD_TYPES:
            if value.lower() == label.lower():
                return label
    raise PydanticCustomError(
        "workload_type",
        'must be "Adapter" or "Application" (or 0 or 1), got {got}',
        {
            "got": json_kind(value)
            if isinstance(value, bool) or not isinstance(value, str | int)
            else repr(value)
        },
    )


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_DIGEST = re.compile(r"^(sha256|sha384|sha512):[0-9A-Fa-f]{32,}")
_HOST = re.compile(r"^[A-Za-z0-9._~%-]+(:\d*)?([/?#]|$)")


def without_credentials(url: str) -> str:
    """The URL with any `user:password@` removed, the rest kept as sent.

    The credentials end at the last `@` of the authority. A password may hold an unencoded
    `/`, `?` or `#`, and a URL may come without a scheme, so an `@` further on also ends
    them when what comes before holds no `/`, or holds `user:` before its first `/` and a
    host follows the `@`. An `@` in a path (`.../x@y`, an OCI digest `@sha256:...`) is kept.
    """
    scheme = _SCHEME.match(url)
    head = scheme.group() if scheme else ""
    rest = url[len(head) :]
    end = len(rest)
    while (at := rest.rfind("@", 0, end)) >= 0:
        before, after = rest[:at], rest[at + 1 :]
        if _DIGEST.match(after):
            end = at
            continue
        userinfo = "/" not in before or (":" in before.split("/", 1)[0] and _HOST.match(after))
        if userinfo:
            return head + after
        end = at
    return url


def _check_url(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if len(value) > MAX_URL_LENGTH or _CONTROL.search(value) or value != value.strip():
        raise PydanticCustomError(
            "url",
            "must be a URL of at most {limit} characters, without control characters or "
            "surrounding whitespace",
            {"limit": MAX_URL_LENGTH},
        )
    return without_credentials(value)


def _empty_is_none(value: Any) -> Any:
    return None if value == "" else value


class _Message(BaseModel):
    """What the lifecycle messages share: identity, idempotency and the sender's clock."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    KEYS: ClassVar[KeyMap]
    WHAT: ClassVar[str]

    tenant_id: Identifier
    workload_name: Identifier
    workload_rt_id: Identifier
    message_id: Identifier | None = None
    reported_at: AwareDatetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _match_keys(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, cls):
            return data
        fields = cls.KEYS.match(data, cls.WHAT)
        fields.pop("kind", None)
        return cls._prepare(fields, info)

    @classmethod
    def _prepare(cls, fields: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        return fields

    @field_validator("reported_at", mode="before")
    @classmethod
    def _timestamp_text(cls, value: Any) -> Any:
        return timestamp_text(value)


class ValueOverride(BaseModel):
    """One `Values[i]` of a deploy request: a values path, its value, and whether it is a
    secret. The value is a `SecretStr` in every case; only non-secret ones are stored."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    KEYS: ClassVar[KeyMap] = KeyMap({"path": "path", "value": "value", "is_secret": "isSecret"})

    path: Identifier
    value: SecretStr | None = None
    is_secret: StrictBool = False

    @model_validator(mode="before")
    @classmethod
    def _match_keys(cls, data: Any) -> Any:
        if isinstance(data, ValueOverride):
            return data
        return cls.KEYS.match(data, "a values override")

    @field_validator("value", mode="before")
    @classmethod
    def _string_value(cls, value: Any) -> Any:
        if value is None or isinstance(value, str | SecretStr):
            return value
        raise PydanticCustomError(
            "string_type", "must be a string, got {kind}", {"kind": json_kind(value)}
        )


REQUEST_NAMES = {
    "tenant_id": "tenantId",
    "pool_rt_id": "poolRtId",
    "workload_name": "workloadName",
    "workload_rt_id": "workloadRtId",
    "workload_type": "workloadType",
    "repository_url": "repositoryUrl",
    "repository_username": "repositoryUsername",
    "repository_password": "repositoryPassword",
    "chart_name": "chartName",
    "chart_version": "chartVersion",
    "is_reconciliation": "isReconciliation",
    "values_yaml": "valuesYaml",
    "values": "values",
    "receives_cluster_secrets": "receivesClusterSecrets",
    "ingress_enabled": "ingressEnabled",
    "hostname": "hostname",
    "message_id": "messageId",
    "reported_at": "reportedAt",
    "kind": "kind",
}


class WorkloadDeployed(_Message):
    """The deploy request (`WorkloadDeployedDto`): the controller asks the operator to run
    `helm upgrade --install`. The workload is Pending until the outcome arrives."""

    KEYS = KeyMap(REQUEST_NAMES)
    WHAT = "a deploy request"

    pool_rt_id: Identifier | None = None
    workload_type: str | None = None
    repository_url: StrictStr | None = None
    repository_username: SecretStr | None = None
    repository_password: SecretStr | None = None
    chart_name: Identifier
    chart_version: Identifier | None = None  # None (or "") means the newest
    is_reconciliation: StrictBool | None = None
    values_yaml: SecretStr | None = None
    values: tuple[ValueOverride, ...] = ()
    receives_cluster_secrets: StrictBool | None = None
    ingress_enabled: StrictBool | None = None
    hostname: Identifier | None = None

    @classmethod
    def _prepare(cls, fields: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        for name in ("pool_rt_id", "chart_version", "hostname"):
            fields[name] = _empty_is_none(fields.get(name))
        if fields.get("values") is None:
            fields.pop("values", None)
        return fields

    @field_validator("workload_type", mode="before")
    @classmethod
    def _type(cls, value: Any) -> Any:
        return _workload_type(value)

    @field_validator("repository_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _check_url(value)

    @field_validator("repository_username", "repository_password", "values_yaml", mode="before")
    @classmethod
    def _secret_text(cls, value: Any) -> Any:
        if value is None or isinstance(value, str | SecretStr):
            return value
        raise PydanticCustomError(
            "string_type", "must be a string, got {kind}", {"kind": json_kind(value)}
        )

    @field_validator("values", mode="before")
    @classmethod
    def _values_list(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return value
        raise PydanticCustomError(
            "list_type",
            "must be an array of objects with path, value and isSecret, got {kind}",
            {"kind": json_kind(value)},
        )

    def values_digest(self) -> str:
        """`sha256:<hex>` of the canonical JSON of `valuesYaml` and every override in order
        (secret or not): equal digests mean equal values, and nothing of them is revealed."""
        canonical = {
            "valuesYaml": None if self.values_yaml is None else self.values_yaml.get_secret_value(),
            "values": [
                {
                    "path": v.path,
                    "value": None if v.value is None else v.value.get_secret_value(),
                    "isSecret": v.is_secret,
                }
                for v in self.values
            ],
        }
        text = json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    def secret_paths(self) -> list[str]:
        return [v.path for v in self.values if v.is_secret]

    def overrides(self) -> list[dict[str, str | None]]:
        """The non-secret overrides, path and value, in order."""
        return [
            {"path": v.path, "value": None if v.value is None else v.value.get_secret_value()}
            for v in self.values
            if not v.is_secret
        ]

    def stored_fields(self) -> dict[str, Any]:
        """Everything of the request that is stored: no credential, no secret value, no
        `valuesYaml` (only their digest)."""
        return {
            "tenant_id": self.tenant_id,
            "workload_rt_id": self.workload_rt_id,
            "workload_name": self.workload_name,
            "pool_rt_id": self.pool_rt_id,
            "workload_type": self.workload_type,
            "chart_name": self.chart_name,
            "chart_version": self.chart_version,
            "repository_url": self.repository_url,
            "is_reconciliation": self.is_reconciliation,
            "ingress_enabled": self.ingress_enabled,
            "hostname": self.hostname,
            "receives_cluster_secrets": self.receives_cluster_secrets,
            "secret_paths": self.secret_paths(),
            "overrides": self.overrides(),
            "values_digest": self.values_digest(),
            "message_id": self.message_id,
            "reported_at": self.reported_at,
        }


class WorkloadDeploymentProgress(_Message):
    """Live diagnostics from the operator while helm still runs
    (`WorkloadDeploymentProgressDto`), e.g. `Pod x container 'y' waiting: ImagePullBackOff`."""

    KEYS = KeyMap(
        {
            "tenant_id": "tenantId",
            "workload_name": "workloadName",
            "workload_rt_id": "workloadRtId",
            "message": "message",
            "message_id": "messageId",
            "reported_at": "reportedAt",
            "kind": "kind",
        }
    )
    WHAT = "a progress message"

    message: StrictStr
    # Set when the message was over the size limit and its middle was cut; never read.
    message_truncated: bool = False

    @classmethod
    def _prepare(cls, fields: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        cut_if_oversized(fields, "message", info)
        return fields

    @field_validator("message")
    @classmethod
    def _check_message(cls, value: str, info: ValidationInfo) -> str | None:
        return check_message(value, info)

    def stored_fields(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "workload_rt_id": self.workload_rt_id,
            "workload_name": self.workload_name,
            "message": self.message,
            "message_truncated": self.message_truncated,
            "message_id": self.message_id,
            "reported_at": self.reported_at,
        }


class WorkloadUndeployed(_Message):
    """The controller asks the operator to `helm uninstall` (`WorkloadUndeployedDto`).
    No outcome report follows: the workload is Undeployed."""

    KEYS = KeyMap(
        {
            "tenant_id": "tenantId",
            "pool_rt_id": "poolRtId",
            "workload_name": "workloadName",
            "workload_rt_id": "workloadRtId",
            "workload_type": "workloadType",
            "message_id": "messageId",
            "reported_at": "reportedAt",
            "kind": "kind",
        }
    )
    WHAT = "an undeploy request"

    pool_rt_id: Identifier | None = None
    workload_type: str | None = None

    @classmethod
    def _prepare(cls, fields: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        fields["pool_rt_id"] = _empty_is_none(fields.get("pool_rt_id"))
        return fields

    @field_validator("workload_type", mode="before")
    @classmethod
    def _type(cls, value: Any) -> Any:
        return _workload_type(value)

    def stored_fields(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "workload_rt_id": self.workload_rt_id,
            "workload_name": self.workload_name,
            "pool_rt_id": self.pool_rt_id,
            "workload_type": self.workload_type,
            "message_id": self.message_id,
            "reported_at": self.reported_at,
        }


def names_of(model: type[BaseModel]) -> dict[str, str]:
    keys = getattr(model, "KEYS", None)
    return keys.names if isinstance(keys, KeyMap) else {}
