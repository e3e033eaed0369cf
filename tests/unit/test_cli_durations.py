"""Durations in and out of the CLI (`deployledger.cli.durations`): `--older-than 1h30m`,
and the `4m 12s` of tables. Pure."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deployledger.cli.durations import format_duration, parse_duration


class TestParse:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("90s", timedelta(seconds=90)),
            ("15m", timedelta(minutes=15)),
            ("2h", timedelta(hours=2)),
            ("1d", timedelta(days=1)),
            ("2w", timedelta(weeks=2)),
            ("1h30m", timedelta(hours=1, minutes=30)),
            ("1d 12h", timedelta(days=1, hours=12)),
            (" 1H30M ", timedelta(hours=1, minutes=30)),
            ("0s", timedelta(0)),
            ("90m30s", timedelta(minutes=90, seconds=30)),
        ],
    )
    def test_a_number_and_a_unit_or_units_in_a_row(self, text: str, expected: timedelta) -> None:
        assert parse_duration(text) == expected

    @pytest.mark.parametrize(
        "text", ["", "15", "m", "15 minutes", "1.5h", "-5m", "15m garbage", "2x", "h1", "1h-30m"]
    )
    def test_anything_else_is_refused_with_one_line_that_shows_the_forms(self, text: str) -> None:
        with pytest.raises(ValueError, match="is not a duration") as raised:
            parse_duration(text)
        message = str(raised.value)
        assert "\n" not in message
        assert repr(text) in message
        assert "1h30m" in message

    def test_an_absurd_duration_is_refused_not_an_overflow(self) -> None:
        with pytest.raises(ValueError, match="too long"):
            parse_duration("99999999999999999999d")


class TestFormat:
    @pytest.mark.parametrize(
        ("seconds", "shown"),
        [
            (None, "-"),
            (0, "0.0s"),
            (0.43, "0.4s"),
            (9.99, "9.9s"),
            (10, "10s"),
            (45.7, "45s"),
            (60, "1m"),
            (252, "4m 12s"),
            (900, "15m"),
            (5400, "1h 30m"),
            (3608, "1h"),
            (86400 * 2 + 3 * 3600 + 59, "2d 3h"),
            (-252, "-4m 12s"),
        ],
    )
    def test_the_two_largest_units_rounded_down(self, seconds: float | None, shown: str) -> None:
        assert format_duration(seconds) == shown

    @given(st.integers(min_value=10, max_value=10**9))
    def test_what_is_shown_parses_back_to_the_duration_less_under_one_second_unit(
        self, seconds: int
    ) -> None:
        # Two units are shown: what is left out is less than one of the unit after the first.
        shown = format_duration(seconds)
        back = parse_duration(shown.replace(" ", "")).total_seconds()
        after_the_first = {"d": 3600, "h": 60, "m": 1, "s": 1}[shown.split()[0][-1]]
        assert 0 <= seconds - back < after_the_first
