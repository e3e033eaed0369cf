"""Durations as tables and pages show them (`deployledger.presentation.durations`): the `4m 12s`,
which `deployledger.parse_duration` reads back (the parser's own tests: `test_arguments`)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deployledger import parse_duration
from deployledger.presentation.durations import format_duration


class TestFormat:
    @pytest.mark.parametrize(
        ("seconds", "shown"),
        [
            (None, "-"),
            (0, "< 1s"),
            (0.000064, "< 1s"),
            (0.43, "< 1s"),
            (-0.5, "< 1s"),
            (1, "1s"),
            (9.99, "9s"),
            (10, "10s"),
            (45.7, "45s"),
            (60, "1m"),
            (252, "4m 12s"),
            (900, "15m"),
            (5400, "1h 30m"),
            (3780, "1h 3m"),
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
