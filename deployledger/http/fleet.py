"""Fleet-wide queries as a token may see them: a tenant-bound token sees only its tenants.

The library answers one tenant (or all) per query; for a token bound to several tenants
the answers of each are merged. Audit pages then carry a cursor of their own: `m.` and the
base64 of each tenant's library cursor (JSON), so the next page continues each tenant
exactly where the merged page stopped.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from deployledger import (
    Attempt,
    AuditFilter,
    AuditPage,
    InvalidQuery,
    Ledger,
    Overdue,
    WorkloadState,
)
from deployledger.http.auth import Grant

MERGED = "m."


Tenants = str | Sequence[str] | None


def tenants_for(grant: Grant, tenant: Tenants) -> list[str] | None:
    """The tenants to query: None for all (an admin without a filter), else a list: those
    the filter names (one, or any of several) that the token holds, maybe none."""
    if tenant is not None:
        asked = [tenant] if isinstance(tenant, str) else list(dict.fromkeys(tenant))
        return [one for one in asked if grant.sees(one)]
    if grant.admin:
        return None
    return sorted(set(grant.tenants))


def workloads(
    ledger: Ledger,
    grant: Grant,
    tenant: Tenants,
    pool: str | None,
    state: str | None,
    at: datetime | None = None,
) -> list[WorkloadState]:
    """The fleet (as of `at`, if given) over the tenants the token sees."""
    wanted = tenants_for(grant, tenant)
    if wanted == []:
        return []
    return ledger.workloads(tenant_id=wanted, pool_name=pool, state=state, at=at)


def overdue(
    ledger: Ledger, grant: Grant, older_than: Any, tenant: Tenants, pool: str | None
) -> list[Overdue]:
    wanted = tenants_for(grant, tenant)
    if wanted is None:
        return ledger.overdue(older_than=older_than, tenant_id=None, pool=pool)
    found: list[Overdue] = []
    for one in wanted:
        found += ledger.overdue(older_than=older_than, tenant_id=one, pool=pool)
    return sorted(found, key=lambda o: (o.requested_at, o.tenant_id, o.workload_rt_id))


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Attempt]
    next_cursor: str | None


def _encode(states: dict[str, str | None]) -> str:
    raw = json.dumps(states, separators=(",", ":"), sort_keys=True).encode()
    return MERGED + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, tenants: list[str]) -> dict[str, str | None]:
    """Each tenant's library cursor ("" to start, None when done)."""
    try:
        text = cursor.removeprefix(MERGED)
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        states = json.loads(raw)
        if not isinstance(states, dict) or not all(
            isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in states.items()
        ):
            raise ValueError
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidQuery(
            f"invalid cursor {cursor!r}: pass the value a previous page gave", "cursor"
        ) from None
    return {t: states.get(t) for t in tenants}


def audit(ledger: Ledger, grant: Grant, where: AuditFilter, limit: int, cursor: str | None) -> Page:
    """One page of `ledger.audit(where=where)` over the tenants the token sees (of
    `where.tenants`, the query's, if it names any)."""
    wanted = tenants_for(grant, where.tenants)

    def of(tenant: str | None) -> AuditFilter:
        return replace(where, tenants=None if tenant is None else (tenant,))

    if wanted is None or len(wanted) == 1:
        if cursor is not None and cursor.startswith(MERGED):
            raise InvalidQuery(
                f"invalid cursor {cursor!r}: pass the value a previous page gave", "cursor"
            )
        tenant = wanted[0] if wanted else None
        page = ledger.audit(where=of(tenant), limit=limit, cursor=cursor)
        return Page(page.items, page.next_cursor)
    if not wanted:
        return Page([], None)
    if cursor is not None and not cursor.startswith(MERGED):
        raise InvalidQuery(
            f"invalid cursor {cursor!r}: pass the value a previous page gave", "cursor"
        )
    states: dict[str, str | None] = _decode(cursor, wanted) if cursor else dict.fromkeys(wanted, "")
    pages: dict[str, AuditPage] = {}
    for tenant, state in states.items():
        if state is not None:
            pages[tenant] = ledger.audit(where=of(tenant), limit=limit, cursor=state or None)
    merged = heapq.merge(
        *([(tenant, a) for a in page.items] for tenant, page in pages.items()),
        key=lambda pair: -pair[1].position,
    )
    taken = [pair for _, pair in zip(range(limit), merged, strict=False)]
    for tenant, page in pages.items():
        used = sum(1 for t, _ in taken if t == tenant)
        if used == len(page.items):
            states[tenant] = page.next_cursor
        elif used:  # part of this tenant's page: a cursor right after the last one taken
            again = ledger.audit(where=of(tenant), limit=used, cursor=states[tenant] or None)
            states[tenant] = again.next_cursor
    more = any(state is not None for state in states.values())
    return Page([a for _, a in taken], _encode(states) if more else None)
