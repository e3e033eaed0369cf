"""The one module that checks the arguments of the read calls (`deployledger.domain.arguments`):
durations, times, limits, tenants and text, and the `AuditFilter` built from them. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deployledger import AuditFilter, InvalidQuery, check_limit, parse_duration, parse_when
from deployledger.domain.arguments import (
    MAX_DURATION,
    check_duration,
    check_tenants,
    check_text,
    check_time,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class TestDurations:
    @pytest.mark.parametrize(
        ("text", "seconds"),
        [
            ("900", 900),
            ("90.5", 90.5),
            ("0", 0),
            ("90s", 90),
            ("15m", 900),
            ("15M", 900),
            ("2h", 7200),
            ("1d", 86400),
            ("2w", 1209600),
            ("1h30m", 5400),
            ("1d 12h", 129600),
            (" 1H30M ", 5400),
            ("90m30s", 5430),
        ],
    )
    def test_a_duration_is_units_in_a_row_or_bare_seconds(self, text: str, seconds: float) -> None:
        assert parse_duration(text) == timedelta(seconds=seconds)

    @pytest.mark.parametrize(
        "text",
        ["", "m", "1h30", "1.5h", "-5m", "15 minutes", "2x", "h1", "1h-30m", "5 parsecs", "soon"],
    )
    def test_anything_else_is_refused_with_one_line_that_shows_the_forms(self, text: str) -> None:
        with pytest.raises(InvalidQuery, match="is not a duration") as raised:
            parse_duration(text)
        message = str(raised.value)
        assert "\n" not in message
        assert repr(text) in message
        assert "1h30m" in message
        assert "900" in message

    @pytest.mark.parametrize("text", ["-5", "nan", "inf", "-inf", "1e400"])
    def test_a_negative_or_endless_number_of_seconds_is_refused(self, text: str) -> None:
        with pytest.raises(InvalidQuery, match="0 or more seconds"):
            parse_duration(text)

    @pytest.mark.parametrize("text", ["99999999999d", "99999999999999999999d", "5300w", "4e9"])
    def test_an_absurd_duration_is_refused_not_an_overflow(self, text: str) -> None:
        with pytest.raises(InvalidQuery, match="too long"):
            parse_duration(text)

    @given(st.lists(st.tuples(st.integers(0, 500), st.sampled_from("smhdwSMHDW")), min_size=1))
    def test_units_in_a_row_add_up(self, parts: list[tuple[int, str]]) -> None:
        text = "".join(f"{n}{unit}" for n, unit in parts)
        seconds = sum(n * UNITS[unit.lower()] for n, unit in parts)
        if seconds <= MAX_DURATION.total_seconds():
            assert parse_duration(text) == timedelta(seconds=seconds)
        else:
            with pytest.raises(InvalidQuery, match="too long"):
                parse_duration(text)

    @given(st.text(max_size=12))
    def test_any_text_is_a_duration_or_one_invalid_query(self, text: str) -> None:
        message = ""
        try:
            found = parse_duration(text)
        except InvalidQuery as e:
            message = str(e)
        else:
            assert timedelta(0) <= found <= MAX_DURATION
        assert "\n" not in message

    def test_a_timedelta_is_checked_by_the_same_rule(self) -> None:
        assert check_duration(timedelta(minutes=5), "older_than") == timedelta(minutes=5)
        with pytest.raises(InvalidQuery, match="older_than must be a timedelta"):
            check_duration("1h30m", "older_than")  # text is the entry points' to parse
        with pytest.raises(InvalidQuery, match="older_than must not be a negative duration"):
            check_duration(timedelta(seconds=-1), "older_than")
        with pytest.raises(InvalidQuery, match="older_than must be a timedelta"):
            check_duration(15, "older_than")
        with pytest.raises(InvalidQuery, match="too long"):
            check_duration(MAX_DURATION + timedelta(seconds=1), "older_than")


class TestTimes:
    def test_a_time_is_iso_8601_or_a_duration_ago(self) -> None:
        assert parse_when("90m", NOW) == NOW - timedelta(minutes=90)
        assert parse_when("1h30m", NOW) == NOW - timedelta(hours=1, minutes=30)
        assert parse_when("2026-11-01T10:00:00+02:00", NOW) == datetime(2026, 11, 1, 8, tzinfo=UTC)
        assert parse_when("2026-11-01T10:00:00", NOW) == datetime(2026, 11, 1, 10, tzinfo=UTC)
        assert parse_when("2026-11-01", NOW) == datetime(2026, 11, 1, tzinfo=UTC)

    @pytest.mark.parametrize("text", ["900", "2026", "90.5", "yesterday", "3 days", "2026-13-01"])
    def test_a_bare_number_or_anything_else_is_refused(self, text: str) -> None:
        with pytest.raises(InvalidQuery, match="neither an ISO-8601 time nor a duration"):
            parse_when(text, NOW)

    @given(st.integers(0, 5000), st.sampled_from("smhdw"))
    def test_a_duration_ago_is_now_less_that_duration(self, n: int, unit: str) -> None:
        assert parse_when(f"{n}{unit}", NOW) == NOW - timedelta(seconds=n * UNITS[unit])

    @given(st.datetimes(timezones=st.just(UTC)))
    def test_an_iso_time_reads_back_as_itself(self, when: datetime) -> None:
        assert parse_when(when.isoformat(), NOW) == when

    @given(st.datetimes())
    def test_an_iso_time_without_a_zone_is_utc(self, when: datetime) -> None:
        assert parse_when(when.isoformat(), NOW) == when.replace(tzinfo=UTC)

    def test_a_time_value_is_aware_or_refused(self) -> None:
        aware = datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=2)))
        assert check_time(aware, "since") is aware
        assert check_time(None, "since") is None
        assert check_time(timedelta(hours=1), "since", NOW) == NOW - timedelta(hours=1)
        with pytest.raises(InvalidQuery, match="since 2026-01-01T00:00:00 needs a time zone"):
            check_time(datetime(2026, 1, 1), "since")
        with pytest.raises(InvalidQuery, match="since must be a datetime, got int"):
            check_time(5, "since")
        with pytest.raises(InvalidQuery, match="since must not be a negative duration"):
            check_time(timedelta(seconds=-1), "since")
        with pytest.raises(InvalidQuery, match="since must be a datetime, got str"):
            check_time("24h", "since")
        with pytest.raises(InvalidQuery, match="until must be a datetime, got timedelta"):
            check_time(timedelta(hours=1), "until", ago=False)

    def test_a_duration_back_before_the_year_1_is_an_invalid_query(self) -> None:
        early = datetime(1, 1, 2, tzinfo=UTC)
        with pytest.raises(InvalidQuery, match="before the year 1"):
            check_time(timedelta(days=2), "since", early)


class TestLimits:
    @given(st.integers(1, 10_000))
    def test_a_limit_in_range_is_itself(self, limit: int) -> None:
        assert check_limit(limit, highest=10_000) == limit

    @given(st.one_of(st.integers(max_value=0), st.integers(min_value=10_001)))
    def test_a_limit_out_of_range_says_the_range(self, limit: int) -> None:
        with pytest.raises(InvalidQuery) as raised:
            check_limit(limit, highest=10_000)
        assert str(raised.value) == f"limit must be an integer from 1 to 10000, got {limit}"

    @pytest.mark.parametrize("value", [True, False, 1.0, "5", None])
    def test_a_limit_is_an_integer_not_a_bool_or_text(self, value: object) -> None:
        with pytest.raises(InvalidQuery, match="limit must be an integer of 1 or more"):
            check_limit(value)

    def test_zero_is_allowed_where_the_call_allows_an_empty_answer(self) -> None:
        assert check_limit(0, lowest=0) == 0
        with pytest.raises(InvalidQuery, match="limit must be an integer of 0 or more, got -1"):
            check_limit(-1, lowest=0)


class TestText:
    def test_tenants_are_one_text_or_a_sequence_of_text(self) -> None:
        assert check_tenants("acme") == ("acme",)
        assert check_tenants(["acme", "globex"]) == ("acme", "globex")
        assert check_tenants(None) is None
        with pytest.raises(InvalidQuery, match="tenant_id must be text or a sequence"):
            check_tenants(5)
        with pytest.raises(InvalidQuery, match="each tenant_id must be text"):
            check_tenants(["acme", 5])
        with pytest.raises(InvalidQuery, match="tenant_id must not contain NUL"):
            check_tenants(["acme", "a\x00b"])

    def test_text_holds_no_nul_or_lone_surrogate_except_a_grep_may_hold_nul(self) -> None:
        with pytest.raises(InvalidQuery, match="pool must not contain NUL"):
            check_text("pool", "a\x00")
        with pytest.raises(InvalidQuery, match="lone surrogate"):
            check_text("pool", "\ud800")
        check_text("grep", "a\x00", nul=True)


class TestAuditFilter:
    def test_it_is_built_from_loose_values_into_checked_ones(self) -> None:
        where = AuditFilter(tenants="acme", pools=["p1", "p2"], category="IMAGE-PULL")
        assert where.tenants == ("acme",)
        assert where.pools == ("p1", "p2")
        assert where.category == "image-pull"

    def test_it_is_frozen_and_compares_by_value(self) -> None:
        assert AuditFilter(tenants=["a"]) == AuditFilter(tenants=("a",))
        with pytest.raises(AttributeError):
            AuditFilter().grep = "x"  # type: ignore[misc]

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"tenants": "a\x00"}, "tenants must not contain NUL"),
            ({"workload_rt_id": 5}, "workload_rt_id must be text"),
            ({"since": datetime(2026, 1, 1)}, "since 2026-01-01T00:00:00 needs a time zone"),
            ({"success": "no"}, "success must be a bool"),
            ({"category": "nope"}, "unknown failure category 'nope'"),
        ],
    )
    def test_a_filter_that_cannot_be_used_is_refused_when_built(
        self, fields: dict[str, object], message: str
    ) -> None:
        with pytest.raises(InvalidQuery, match=message):
            AuditFilter(**fields)  # type: ignore[arg-type]
