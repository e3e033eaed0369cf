"""Durations as tables show them (`45s`, `4m 12s`, `1h 30m`, `2d 3h`). Pure. (As people
write them, `90s`, `15m`, `1h30m`: `deployledger.parse_duration`.)"""

from __future__ import annotations


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
