"""What `Ledger.failures()` and `Ledger.reclassify()` answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class FailureGroup:
    """Failed outcomes that share one fingerprint: one problem, however many workloads.

    `workloads` counts the distinct (tenant, workload runtime id) pairs among `attempts`;
    `still_failing` counts those of them whose current state is Error and whose latest
    outcome (a failure) has this fingerprint: no deploy request, success or undeploy came
    after the failure, and the latest failure is this same problem. `example` is the full
    message of the group's most recent attempt (`example_tenant_id`/`example_workload_rt_id`
    say whose); `template` is that message with its variable parts masked."""

    fingerprint: str
    category: str
    template: str
    attempts: int
    workloads: int
    still_failing: int
    tenants: tuple[str, ...]
    pools: tuple[str, ...]
    first_seen: datetime
    last_seen: datetime
    example: str | None
    example_tenant_id: str
    example_workload_rt_id: str

    def to_json(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "category": self.category,
            "template": self.template,
            "attempts": self.attempts,
            "workloads": self.workloads,
            "stillFailing": self.still_failing,
            "tenants": list(self.tenants),
            "pools": list(self.pools),
            "firstSeen": self.first_seen.isoformat(),
            "lastSeen": self.last_seen.isoformat(),
            "example": self.example,
            "exampleTenantId": self.example_tenant_id,
            "exampleWorkloadRtId": self.example_workload_rt_id,
        }


@dataclass(frozen=True, slots=True)
class ReclassifyResult:
    """What `reclassify` did: the rules version before (None if never recorded) and now,
    the failed outcomes examined, and how many of them got another category or
    fingerprint. Nothing is examined when the recorded version is already current."""

    previous_version: int | None
    version: int
    examined: int
    changed: int

    def to_json(self) -> dict[str, Any]:
        return {
            "previousVersion": self.previous_version,
            "version": self.version,
            "examined": self.examined,
            "changed": self.changed,
        }
