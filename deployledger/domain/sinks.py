"""Notification sinks: where deploy events are sent, which ones, and how a delivery retries.

Pure: a sink's settings, its filter, what one delivery is about, and the backoff rule.
The payloads are built in `deployledger.presentation.sinks`; sending and the cursor live in
`deployledger.service.sinks` and `deployledger.store.sinks`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from deployledger.domain.workload.records import Attempt
from deployledger.errors import InvalidQuery

KINDS = ("cdevents", "webhook", "grafana")
CDEVENTS_SPECS = ("0.4.1", "0.5.0")
FILTER_KEYS = ("tenant", "pool", "workload", "state", "category")
# A filter's state: an outcome's (deployed = success, error = failure), or an undeploy.
FILTER_STATES = ("deployed", "error", "undeployed")
DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_BACKOFF = 1.0  # seconds before the first retry; doubled each time, up to BACKOFF_CAP
BACKOFF_CAP = 300.0
DEFAULT_TIMEOUT = 10.0  # seconds a sink has to answer one delivery
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True, slots=True)
class SinkFilter:
    """Which events a sink receives: each key given must match (a key given several times
    matches any of its values); an empty filter matches everything."""

    tenant: tuple[str, ...] = ()
    pool: tuple[str, ...] = ()
    workload: tuple[str, ...] = ()
    state: tuple[str, ...] = ()
    category: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> SinkFilter:
        """`tenant=acme,state=error` (comma-separated `key=value`); `InvalidQuery` listing
        every problem for anything else."""
        if text is None or not text.strip():
            return cls()
        values: dict[str, list[str]] = {k: [] for k in FILTER_KEYS}
        problems = []
        for part in text.split(","):
            key, eq, value = part.partition("=")
            key, value = key.strip(), value.strip()
            if not eq or not value:
                problems.append(f"{part.strip()!r} is not key=value")
            elif key not in values:
                problems.append(f"unknown key {key!r} (keys: {', '.join(FILTER_KEYS)})")
            elif key == "state" and value.lower() not in FILTER_STATES:
                problems.append(f"state {value!r} is not one of {', '.join(FILTER_STATES)}")
            else:
                values[key].append(value.lower() if key == "state" else value)
        if problems:
            raise InvalidQuery("bad filter: " + "; ".join(problems))
        return cls(**{k: tuple(dict.fromkeys(v)) for k, v in values.items()})

    def text(self) -> str:
        """The filter as `parse` reads it ("" for none)."""
        return ",".join(f"{k}={v}" for k in FILTER_KEYS for v in getattr(self, k))

    def matches(self, item: DeliveryItem) -> bool:
        checks = (
            (self.tenant, item.tenant_id),
            (self.pool, item.pool_name),
            (self.workload, item.workload_name),
            (self.state, item.state),
            (self.category, item.attempt.category if item.attempt else None),
        )
        return all(not wanted or value in wanted for wanted, value in checks)


@dataclass(frozen=True, slots=True)
class Sink:
    """A sink's settings and where its delivery stands. The secret is never shown: only
    whether there is one (`has_secret`)."""

    name: str
    kind: str
    url: str
    filter: SinkFilter = SinkFilter()
    spec: str = CDEVENTS_SPECS[0]  # cdevents: the spec version
    slack_text: bool = False  # webhook: add a Slack-compatible `text`
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    backoff: float = DEFAULT_BACKOFF
    timeout: float = DEFAULT_TIMEOUT
    secret: str | None = field(default=None, repr=False, compare=False)
    position: int = 0  # the cursor: every matching event up to here is delivered or dead
    created_at: datetime | None = None
    delivered: int = 0
    failures: int = 0  # of the delivery at the head, so far
    last_error: str | None = None
    next_try_at: datetime | None = None
    dead_letters: int = 0
    lag_events: int = 0  # events of the read model after the cursor (all kinds)

    @property
    def has_secret(self) -> bool:
        return bool(self.secret)

    @property
    def shown_url(self) -> str:
        """The URL with the password of its user info (if any) masked, for display."""
        return redacted_url(self.url)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "url": self.shown_url,
            "filter": self.filter.text(),
            "spec": self.spec if self.kind == "cdevents" else None,
            "slackText": self.slack_text,
            "maxAttempts": self.max_attempts,
            "backoffSeconds": self.backoff,
            "timeoutSeconds": self.timeout,
            "hasSecret": self.has_secret,
            "position": self.position,
            "createdAt": None if self.created_at is None else self.created_at.isoformat(),
            "delivered": self.delivered,
            "failures": self.failures,
            "lastError": self.last_error,
            "deadLetters": self.dead_letters,
            "lagEvents": self.lag_events,
        }


@dataclass(frozen=True, slots=True)
class DeliveryItem:
    """One event a sink may receive: an outcome (with its `attempt`) or an undeploy.

    `position` is the event's position in the log: the delivery's stable id. `first_success`
    says whether a successful outcome is the workload's first (since its last undeploy)."""

    position: int
    tenant_id: str
    workload_rt_id: str
    workload_name: str
    pool_name: str | None
    occurred_at: datetime
    attempt: Attempt | None = None  # None for an undeploy
    first_success: bool = False
    chart_name: str | None = None
    chart_version: str | None = None

    @property
    def state(self) -> str:
        if self.attempt is None:
            return "undeployed"
        return "deployed" if self.attempt.success else "error"

    @property
    def workload_key(self) -> tuple[str, str]:
        return (self.tenant_id, self.workload_rt_id)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A delivery given up after `attempts` failures; `sink retry` sends it again."""

    sink: str
    position: int
    tenant_id: str
    workload_rt_id: str
    attempts: int
    error: str
    dead_at: datetime
    retry: bool = False  # asked to be sent again

    def to_json(self) -> dict[str, Any]:
        return {
            "sink": self.sink,
            "position": self.position,
            "tenantId": self.tenant_id,
            "workloadRtId": self.workload_rt_id,
            "attempts": self.attempts,
            "error": self.error,
            "deadAt": self.dead_at.isoformat(),
            "retry": self.retry,
        }


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One HTTP request to a sink: a POST of `body` with `headers`, to `url`."""

    url: str
    body: bytes
    headers: dict[str, str]


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidQuery(
            f"sink name {name!r} must be 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_url(url: str) -> str:
    """An http(s) URL with a host, else `InvalidQuery`."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a bad port
    except ValueError as e:
        raise InvalidQuery(f"sink URL {url!r} cannot be read: {e}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidQuery(f"sink URL {url!r} must be an http:// or https:// URL with a host")
    if port == 0 or any(c.isspace() for c in url):
        raise InvalidQuery(f"sink URL {url!r} must be an http:// or https:// URL with a host")
    return url


def redacted_url(url: str) -> str:
    """`url` with the password of `user:password@` replaced by `***`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise InvalidQuery(f"unknown sink kind {kind!r}; expected one of {', '.join(KINDS)}")
    return kind


def check_spec(spec: str) -> str:
    """`0.4`/`0.4.x` send CDEvents 0.4.1, `0.5`/`0.5.x` send 0.5.0; `InvalidQuery` else."""
    for known in CDEVENTS_SPECS:
        if re.fullmatch(re.escape(known[:3]) + r"(\.\d+|\.x)?", spec.strip()):
            return known
    raise InvalidQuery(
        f"CDEvents spec {spec!r} is not supported; use 0.4.x (0.4.1) or 0.5.x (0.5.0)"
    )


def backoff_delay(failures: int, base: float, unit: float, cap: float = BACKOFF_CAP) -> float:
    """Seconds to wait after the `failures`-th failure: "full jitter" exponential backoff,
    `unit` (a random number in [0, 1)) times `base * 2**(failures-1)`, at most `cap`;
    never below a tenth of that bound, so that a retry never spins."""
    bound = min(cap, base * 2.0 ** max(0, failures - 1))
    return bound * (0.1 + 0.9 * unit)
