"""Query parameters that are times or durations, as the CLI takes them. Pure.

- a duration: seconds (`900`, `90.5`) or units in a row (`90s`, `15m`, `2h`, `1d`, `1h30m`);
- a time: ISO-8601 (no zone means UTC), or a duration ago (`90m`, `24h`, `7d`).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

_PART = re.compile(r"(\d+)\s*([smhdw])", re.IGNORECASE)
_WHOLE = re.compile(r"^\s*(?:\d+\s*[smhdw]\s*)+$", re.IGNORECASE)
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_SECONDS = 100 * 365 * 86400


def parse_duration(text: str) -> timedelta:
    """Seconds, or `90s`, `15m`, `2h`, `1d`, `2w`, `1h30m`; ValueError with a reason."""
    try:
        seconds = float(text)
    except ValueError:
        if not _WHOLE.match(text):
            raise ValueError(
                f"{text!r} is not a duration: use seconds (900) or a number and a unit "
                "(s, m, h, d, w), like 90s, 15m, 2h, 1d or 1h30m"
            ) from None
        seconds = sum(int(n) * _SECONDS[unit.lower()] for n, unit in _PART.findall(text))
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{text!r} is not a duration of 0 or more seconds")
    if seconds > MAX_SECONDS:
        raise ValueError(f"{text!r} is too long a duration (at most 100 years)")
    return timedelta(seconds=seconds)


def parse_when(text: str, now: datetime) -> datetime:
    """An ISO-8601 time (no zone: UTC) or a duration ago; ValueError with a reason."""
    if _WHOLE.match(text):
        return now - parse_duration(text)
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is neither an ISO-8601 time nor a duration like 90m, 24h, 7d"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
