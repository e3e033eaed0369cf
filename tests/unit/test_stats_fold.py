"""The delivery metrics fold (`deployledger.domain.insights.stats`) against a plain model of its
written definitions, on random outcome sequences; and its quantiles against `statistics`."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stats_model import model, model_quantile

from deployledger.domain.insights.stats import DeliveryStats, OutcomeRow, days_of, fold, quantile

T0 = datetime(2026, 3, 1, tzinfo=UTC)


outcome_lists = st.lists(
    st.tuples(
        st.sampled_from(["t1", "t2"]),
        st.sampled_from(["w1", "w2", "w3"]),
        st.integers(0, 10 * 24 * 60),  # minutes after T0
        st.booleans(),
        st.none() | st.floats(0, 3600, allow_nan=False),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(
    outcome_lists,
    st.integers(0, 9 * 24 * 60),
    st.integers(1, 5 * 24 * 60),
)
def test_the_fold_agrees_with_a_plain_model_of_the_definitions(
    raw: list[tuple[str, str, int, bool, float | None]], start: int, length: int
) -> None:
    rows = [
        OutcomeRow(n, t, w, w, None, None, T0 + timedelta(minutes=m), ok, d)
        for n, (t, w, m, ok, d) in enumerate(raw, start=1)
    ]
    since = T0 + timedelta(minutes=start)
    until = since + timedelta(minutes=length)
    found = fold(
        by="tenant",
        since=since,
        until=until,
        before=[r for r in rows if r.occurred_at < since],
        during=[r for r in rows if since <= r.occurred_at < until],
    )
    expected = model(rows, since, until)
    assert {s.key for s in found} == set(expected)
    calendar = days_of(since, until)
    for s in found:
        e = expected[str(s.key)]
        outcomes = e["s"] + e["f"]
        assert (s.successes, s.failures, s.unrecovered) == (e["s"], e["f"], e["unrec"])
        assert s.deployment_frequency == pytest.approx(e["s"] / (length / 1440))
        assert s.change_failure_rate == (e["f"] / outcomes if outcomes else None)
        assert s.recoveries == len(e["rec"])
        assert s.recovery_median == model_quantile(e["rec"], 0.5)
        assert s.recovery_p90 == pytest.approx(model_quantile(e["rec"], 0.9))
        assert s.duration_median == model_quantile(e["dur"], 0.5)
        assert s.duration_p90 == pytest.approx(model_quantile(e["dur"], 0.9))
        assert [d.day for d in s.days] == calendar
        assert [(d.successes, d.failures) for d in s.days] == [
            (e["days"][(day, True)], e["days"][(day, False)]) for day in calendar
        ]


@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=50))
def test_the_median_is_the_statistics_median(values: list[float]) -> None:
    assert quantile(values, 0.5) == pytest.approx(statistics.median(values))


@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=50))
def test_the_p90_is_the_inclusive_decile_of_statistics(values: list[float]) -> None:
    deciles = statistics.quantiles(values, n=10, method="inclusive")
    assert quantile(values, 0.9) == pytest.approx(deciles[8], abs=1e-6)


def test_no_values_have_no_quantile() -> None:
    assert quantile([], 0.5) is None


def test_the_json_names_the_dora_measures_in_camel_case() -> None:
    [s] = fold(
        by="pool",
        since=T0,
        until=T0 + timedelta(days=2),
        before=[],
        during=[OutcomeRow(1, "t", "w", "n", None, "c", T0, False, 12.0)],
        overdue=[(None, None)],
    )
    assert isinstance(s, DeliveryStats)
    got = s.to_json()
    assert got["key"] is None
    assert got["changeFailureRate"] == 1.0
    assert got["unrecovered"] == 1
    assert got["overdue"] == 1
    assert got["durationMedianSeconds"] == 12.0
    assert got["since"] == T0.isoformat()
    assert got["days"] == [
        {"day": "2026-03-01", "successes": 0, "failures": 1},
        {"day": "2026-03-02", "successes": 0, "failures": 0},
    ]
