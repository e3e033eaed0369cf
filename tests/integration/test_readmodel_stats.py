"""`Ledger.stats` on both backends: a small fleet whose metrics are worked out by hand, and
random fleets against a plain model of the definitions (tests/stats_model.py holds it).

The hand-computed fleet (period 2026-01-10 00:00 to 2026-01-13 00:00 UTC, three days):

- a/w1 (pool p1): fails 01-09 10:00 (before the period), fails 01-10 02:00, is requested at
  05:50 and succeeds at 06:00 (duration 600 s; recovery from 01-09 10:00: 20 h), succeeds
  01-11 00:00.
- a/w2 (pool p2): succeeds 01-10 01:00, fails 01-11 12:00 and 01-12 12:00: unrecovered.
- b/w3 (pool p1): fails 01-10 00:00, succeeds 01:00 (recovery 1 h), fails 02:00, is requested
  at 03:00 and succeeds 04:00 (duration 3600 s, recovery 2 h); succeeds 01-13 00:00 (at
  `until`: outside).
- b/w4 (pool p3): fails 01-05 and nothing since: unrecovered, without outcomes in the period.
- a/w5: a deploy request of 2026-01-01 that never got an outcome: overdue now.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from stats_model import HAND_FLEET, SINCE, UNTIL, model, model_quantile
from support import report, request

from deployledger import DeliveryStats, InvalidQuery, Ledger
from deployledger.domain.insights.stats import OutcomeRow


@pytest.fixture
def hand(migrated_url: str) -> Iterator[Ledger]:
    with Ledger.open(migrated_url, create=True) as ledger:
        ledger.record_many(HAND_FLEET)
        yield ledger


def by_key(found: list[DeliveryStats]) -> dict[str | None, DeliveryStats]:
    return {s.key: s for s in found}


def test_metrics_per_tenant_are_the_hand_computed_ones(hand: Ledger) -> None:
    found = by_key(hand.stats(since=SINCE, until=UNTIL))
    assert list(found) == ["a", "b"]
    a, b = found["a"], found["b"]
    assert (a.successes, a.failures, a.deployment_frequency, a.change_failure_rate) == (
        3,
        3,
        1.0,
        0.5,
    )
    assert (a.recoveries, a.recovery_median, a.recovery_p90) == (1, 72000.0, 72000.0)
    assert (a.unrecovered, a.overdue) == (1, 1)
    assert (a.duration_median, a.duration_p90) == (600.0, 600.0)
    assert [(d.day.day, d.successes, d.failures) for d in a.days] == [
        (10, 2, 1),
        (11, 1, 1),
        (12, 0, 1),
    ]
    assert (b.successes, b.failures, b.change_failure_rate) == (2, 2, 0.5)
    assert b.deployment_frequency == pytest.approx(2 / 3)
    assert (b.recoveries, b.recovery_median) == (2, 5400.0)
    assert b.recovery_p90 == pytest.approx(6840.0)
    assert (b.unrecovered, b.overdue, b.duration_median) == (1, 0, 3600.0)
    assert [(d.successes, d.failures) for d in b.days] == [(2, 2), (0, 0), (0, 0)]


def test_metrics_per_pool_workload_and_chart(hand: Ledger) -> None:
    pools = by_key(hand.stats(since=SINCE, until=UNTIL, by="pool"))
    assert list(pools) == ["p1", "p2", "p3", "pool-rt-1"]
    assert (pools["p1"].successes, pools["p1"].failures, pools["p1"].recoveries) == (4, 3, 3)
    assert pools["p1"].recovery_median == 7200.0
    assert (pools["p2"].unrecovered, pools["p3"].unrecovered) == (1, 1)
    assert pools["p3"].outcomes == 0
    assert pools["p3"].change_failure_rate is None
    assert pools["pool-rt-1"].overdue == 1  # the request names its pool by runtime id
    workloads = by_key(hand.stats(since=SINCE, until=UNTIL, by="workload"))
    assert list(workloads) == ["a/w1", "a/w2", "a/w5", "b/w3", "b/w4"]
    assert workloads["a/w1"].name == "name-w1"
    assert workloads["a/w5"].overdue == 1
    charts = by_key(hand.stats(since=SINCE, until=UNTIL, by="chart"))
    assert list(charts) == ["billing", "other", None]
    assert (charts["billing"].successes, charts["billing"].duration_median) == (1, 600.0)
    assert charts[None].successes + charts[None].failures == 8


def test_filters_by_one_or_several_tenants_and_by_pool(hand: Ledger) -> None:
    assert [s.key for s in hand.stats(since=SINCE, until=UNTIL, tenant_id="b")] == ["b"]
    both = hand.stats(since=SINCE, until=UNTIL, tenant_id=["b", "a"])
    assert [s.key for s in both] == ["a", "b"]
    assert hand.stats(since=SINCE, until=UNTIL, tenant_id=[]) == []
    p1 = by_key(hand.stats(since=SINCE, until=UNTIL, pool="p1"))
    assert (p1["a"].successes, p1["a"].failures, p1["a"].unrecovered) == (2, 1, 0)


def test_a_run_that_began_before_since_is_measured_from_its_first_failure(hand: Ledger) -> None:
    later = hand.stats(since=SINCE + timedelta(hours=3), until=UNTIL, tenant_id="a")
    # w1's run began 01-09 10:00; the period starts 01-10 03:00; it ended 01-10 06:00.
    assert later[0].recovery_median == 72000.0
    assert later[0].failures == 2


def test_since_may_be_a_duration_ago_and_bad_arguments_are_refused(hand: Ledger) -> None:
    # Nothing occurred in the last day; w5's request is overdue, w2 and w4 still broken.
    recent = by_key(hand.stats(since=timedelta(days=1)))
    assert [(s.outcomes, s.overdue, s.unrecovered) for s in recent.values()] == [
        (0, 1, 1),
        (0, 0, 1),
    ]
    with pytest.raises(InvalidQuery, match="time zone"):
        hand.stats(since=datetime(2026, 1, 1))  # naive on purpose
    with pytest.raises(InvalidQuery, match="by must be"):
        hand.stats(by="cluster")
    with pytest.raises(InvalidQuery, match="before until"):
        hand.stats(since=UNTIL, until=SINCE)
    with pytest.raises(InvalidQuery, match="NUL"):
        hand.stats(tenant_id=["a", "b\x00"])


def test_random_fleets_agree_with_the_plain_model(migrated_url: str) -> None:
    """Random outcomes (clocks out of order too) of a few workloads; random windows."""
    rng = random.Random(11)
    with Ledger.open(migrated_url, create=True) as ledger:
        for example in range(6):
            tenants = [f"r{example}-{uuid.uuid4().hex[:6]}-{n}" for n in range(2)]
            sent = []
            for _ in range(rng.randint(0, 80)):
                tenant, rtid = rng.choice(tenants), rng.choice(["w1", "w2", "w3"])
                when = datetime(2026, 2, 1, tzinfo=UTC) + timedelta(minutes=rng.randint(0, 14400))
                if rng.random() < 0.2:
                    sent.append(request(rtid, tenant=tenant, reportedAt=when.isoformat()))
                sent.append(
                    report(
                        rtid, tenant=tenant, success=rng.random() < 0.6, reportedAt=when.isoformat()
                    )
                )
            ledger.record_many(sent)
            rows = [
                OutcomeRow(
                    a.position,
                    a.tenant_id,
                    a.workload_rt_id,
                    a.workload_name,
                    a.pool_name,
                    a.chart_name,
                    a.occurred_at,
                    a.success,
                    a.duration,
                )
                for a in ledger.audit_iter(tenant_id=tenants)
            ]
            for _ in range(4):
                since = datetime(2026, 2, 1, tzinfo=UTC) + timedelta(minutes=rng.randint(0, 12000))
                until = since + timedelta(minutes=rng.randint(1, 6000))
                found = ledger.stats(since=since, until=until, tenant_id=tenants)
                expected = model(rows, since, until)
                assert {s.key for s in found} == set(expected)
                for s in found:
                    e = expected[str(s.key)]
                    assert (s.successes, s.failures, s.unrecovered) == (e["s"], e["f"], e["unrec"])
                    assert s.recovery_median == model_quantile(e["rec"], 0.5)
                    assert s.duration_p90 == pytest.approx(model_quantile(e["dur"], 0.9))
