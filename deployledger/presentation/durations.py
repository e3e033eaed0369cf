"""Durations: as tables and pages show them (`45s`, `4m 12s`, `1h 3m`, `2d 3h`, `< 1s`),
and as JSON and CSV carry them (plain decimal seconds, never `6.4e-05`). Pure. (As people
write them, `90s`, `15m`, `1h30m`: `deployledger.parse_duration`.)"""

from __future__ import annotations

import math

from deployledger.domain.decimals import plain_number


def format_duration(seconds: float | None) -> str:
    """`< 1s`, `45s`, `4m 12s`, `15m`, `1h 3m`, `2d 3h`: the two largest units (the second
    left out when 0), rounded down to the second; `-` for None. Never `0.0s`. A negative
    duration (a sender's clock ahead of ours) keeps its sign."""
    if seconds is None:
        return "-"
    if not math.isfinite(seconds):
        return "-"
    if abs(seconds) < 1:
        return "< 1s"
    if seconds < 0:
        return "-" + format_duration(-seconds)
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    first = next(i for i, (amount, _) in enumerate(parts) if amount)
    shown = [(amount, unit) for amount, unit in parts[first : first + 2] if amount]
    return " ".join(f"{amount}{unit}" for amount, unit in shown)


__all__ = ["decimal_seconds", "format_duration", "plain_number"]


def decimal_seconds(seconds: float | None) -> str:
    """A duration for CSV: plain decimal seconds; "" for None."""
    return "" if seconds is None else plain_number(seconds)
