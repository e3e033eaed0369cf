"""A sender's time zone offset, however wide: Python takes offsets up to 24 hours, and
PostgreSQL's `timestamptz` refuses one over 15:59. The read model stores every time in UTC,
so such a report is projected, answered and rebuilt like any other (found by schemathesis:
a `reportedAt` of `+19:19` once stopped the projection on PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import report, request

from deployledger import Ledger

WIDE = ["+19:19", "-23:59", "+16:00", "+05:30", "Z"]


@pytest.mark.parametrize("offset", WIDE)
def test_a_wide_offset_is_projected_answered_and_rebuilt(ledger: Ledger, offset: str) -> None:
    sent = f"2026-11-20T10:00:00{offset}"
    instant = datetime.fromisoformat(sent).astimezone(UTC)
    ledger.record(request("rt-1", reportedAt=sent, messageId="req-1"))
    ledger.record(report("rt-1", reportedAt=sent, messageId="out-1"))
    ledger.catch_up()
    (attempt,) = ledger.audit(limit=10).items
    assert attempt.reported_at == instant
    before = [a.to_json() for a in ledger.audit_iter()]
    ledger.rebuild()
    assert [a.to_json() for a in ledger.audit_iter()] == before


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(minutes=st.integers(-(24 * 60 - 1), 24 * 60 - 1))
def test_any_offset_python_takes_is_stored_as_its_instant(ready_url: str, minutes: int) -> None:
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    sent = f"2026-11-20T10:00:00{sign}{hours:02d}:{rest:02d}"
    with Ledger.open(ready_url) as ledger:
        receipt = ledger.record(report(f"rt-{minutes}", reportedAt=sent, messageId=f"m{minutes}"))
        ledger.catch_up()
        state = ledger.current(receipt.tenant_id, receipt.workload_rt_id)
        assert state is not None
        assert state.last_attempt_at == datetime.fromisoformat(sent).astimezone(UTC)
