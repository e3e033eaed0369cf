"""Durations as people write them (`90s`, `15m`, `1h30m`, `1d`) and as tables show them
(`45s`, `4m 12s`, `1h 30m`, `2d 3h`). Pure."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)\s*([smhdw])", re.IGNORECASE)
_WHOLE = re.compile(r"^\s*(?:\d+\s*[smhdw]\s*)+$", re.IGNORECASE)
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# More than this is surely a typo, and timedelta itself ends near 2.7 million years.
MAX_DURATION = timedelta(days=365 * 100)


def parse_duration(text: str) -> timedelta:
    """`90s`, `15m`, `2h`, `1d`, `2w`, or units in a row (`1h30m`, `1d 12h`); ValueError
    with a one-line reason for anything else."""
    if not _WHOLE.match(text):
        raise ValueError(
            f"{text!r} is not a duration: use a number and a unit (s, m, h, d, w), "
            "like 90s, 15m, 2h, 1d or 1h30m"
        )
    seconds = sum(int(n) * _SECONDS[unit.lower()] for n, unit in _PART.findall(text))
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"{text!r} is too long a duration (at most 100 years)")
    return timedelta(seconds=seconds)


def format_duration(seconds: float | None) -> str:
    """`0.4s`, `9.5s`, `45s`, `4m 12s`, `15m`, `1h 30m`, `2d 3h`: the two largest units
    (the second left out when 0), rounded down; `-` for None. A negative duration (a
    sender's clock ahead of ours) keeps its sign."""
    if seconds is None:
        return "-"
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if seconds < 10:
        return f"{int(seconds * 10) / 10:.1f}s"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    first = next(i for i, (amount, _) in enumerate(parts) if amount)
    shown = [(amount, unit) for amount, unit in parts[first : first + 2] if amount]
    return " ".join(f"{amount}{unit}" for amount, unit in shown)
