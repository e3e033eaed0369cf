"""`AuditFilter`: which attempts an audit query, its export or its CSV reads. Pure.

One value, built at the edge (the CLI's options, the HTTP query, a controller's code) and
passed down through `Ledger` to the read model's queries, so the filters are declared and
checked once (by `deployledger.domain.arguments`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from deployledger.domain import arguments
from deployledger.errors import InvalidQuery


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Filters of the attempts (outcomes) across the fleet; every one is optional and
    they combine with AND.

    `tenants` and `pools` match any of theirs (a single text is one of them); `since` <=
    occurred at < `until` (occurred at: the sender's reportedAt, else the recording time);
    `success` False for failures only, True for successes only; `grep` a case-insensitive
    substring of the status message; `category` and `fingerprint` failed outcomes of that
    failure category or fingerprint. Raises `InvalidQuery` for a filter that cannot be
    used, when it is built.
    """

    tenants: Sequence[str] | None = None
    pools: Sequence[str] | None = None
    workload_name: str | None = None
    workload_rt_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    success: bool | None = None
    grep: str | None = None
    category: str | None = None
    fingerprint: str | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "tenants", arguments.check_tenants(self.tenants, "tenants"))
        set_(self, "pools", arguments.check_tenants(self.pools, "pools"))
        arguments.check_texts(
            workload_name=self.workload_name,
            workload_rt_id=self.workload_rt_id,
            grep=self.grep,
            fingerprint=self.fingerprint,
        )
        set_(self, "since", arguments.check_time(self.since, "since"))
        set_(self, "until", arguments.check_time(self.until, "until", ago=False))
        if self.success is not None and not isinstance(self.success, bool):
            raise InvalidQuery(f"success must be a bool or None, got {self.success!r}")
        set_(self, "category", arguments.check_category(self.category))
