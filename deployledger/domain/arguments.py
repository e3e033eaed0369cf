"""The arguments of the read calls, checked in one place. Pure.

The library, the CLI and the HTTP service all check through these functions, so the same
input is accepted or refused alike everywhere, with the same `InvalidQuery` message. One
rule each:

- **text** (tenant, pool, workload name and runtime id, cursor, fingerprint, grep): None or
  text that both stores can compare. PostgreSQL cannot hold NUL in text and neither store
  can encode a lone surrogate; no stored report holds either in its ids and names, so such
  a filter can only be a mistake. (`grep` may hold NUL: status messages can.)
- **tenants**: one tenant, or a sequence of them (any of them); each is text as above.
- **limit**: an integer (not a bool) from a call's lowest (1, or 0 where an empty answer is
  allowed) to its highest, if it has one.
- **duration**: a `timedelta` from 0 to 100 years. Written as text (`--older-than`,
  `olderThan`): a number and a unit, or units in a row (`90s`, `15m`, `2h`, `1d`, `2w`,
  `1h30m`, `1d 12h`); a bare number is seconds (`900`, `90.5`), as a duration can only
  count time.
- **time**: a timezone-aware `datetime`, or a duration meaning that long ago. Written as
  text (`--since`, `since`, `--at`, ...): ISO-8601 (no zone means UTC), or a duration ago
  written with its units (`90m`, `24h`, `1h30m`, `7d`). A bare number is refused for a time:
  `2026` could be a year, and `900` seconds or minutes ago; write `900s` or `15m`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from deployledger.domain.insights.failures import CATEGORIES
from deployledger.errors import InvalidQuery

_PART = re.compile(r"(\d+)\s*([smhdw])", re.IGNORECASE)
_WHOLE = re.compile(r"^\s*(?:\d+\s*[smhdw]\s*)+$", re.IGNORECASE)
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# More than this is surely a typo, and timedelta itself ends near 2.7 million years.
MAX_DURATION = timedelta(days=365 * 100)
MAX_PAGE = 10_000  # the most attempts (or failure groups) one call answers


# -- text --------------------------------------------------------------------------------


def check_text(name: str, value: object, *, nul: bool = False) -> None:
    """Raise `InvalidQuery` unless `value` is None or a text both stores can compare.
    `nul` allows NUL: `grep` searches messages, which may hold it."""
    if value is None:
        return
    if not isinstance(value, str):
        raise InvalidQuery(f"{name} must be text, got {type(value).__name__}", parameter=name)
    if not nul and "\x00" in value:
        raise InvalidQuery(f"{name} must not contain NUL (\\x00)", parameter=name)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidQuery(
            f"{name} is not valid Unicode text (a lone surrogate)", parameter=name
        ) from None


def check_texts(**values: object) -> None:
    """`check_text` for each keyword, by its name (`grep` may hold NUL)."""
    for name, value in values.items():
        check_text(name, value, nul=name == "grep")


def check_tenants(value: object, name: str = "tenant_id") -> tuple[str, ...] | None:
    """One tenant or several, as a tuple in the given order (None: every tenant)."""
    if value is None:
        return None
    if isinstance(value, str):
        tenants: tuple[object, ...] = (value,)
    elif isinstance(value, Sequence | set | frozenset) and not isinstance(value, bytes):
        tenants = tuple(value)
    else:
        raise InvalidQuery(
            f"{name} must be text or a sequence of text, got {value!r}", parameter=name
        )
    for one in tenants:
        if not isinstance(one, str):
            raise InvalidQuery(f"each {name} must be text, got {one!r}", parameter=name)
        check_text(name, one)
    return tenants  # type: ignore[return-value]  # each checked to be str above


def check_category(value: object, name: str = "category") -> str | None:
    """A failure category (any case), lower-cased; None for none."""
    if value is None:
        return None
    if not isinstance(value, str) or value.lower() not in CATEGORIES:
        names = ", ".join(CATEGORIES)
        raise InvalidQuery(
            f"unknown failure category {value!r}; expected one of {names}", parameter=name
        )
    return value.lower()


# -- limits ------------------------------------------------------------------------------


def check_limit(
    value: object, *, lowest: int = 1, highest: int | None = None, name: str = "limit"
) -> int:
    """`value` as a limit: an integer (not a bool) from `lowest` to `highest` (if any)."""
    ok = isinstance(value, int) and not isinstance(value, bool)
    if ok and value >= lowest and (highest is None or value <= highest):  # type: ignore[operator]
        return value  # type: ignore[return-value]
    if highest is None:
        wanted = f"an integer of {lowest} or more"
    else:
        wanted = f"an integer from {lowest} to {highest}"
    raise InvalidQuery(f"{name} must be {wanted}, got {value!r}", parameter=name)


# -- durations and times -----------------------------------------------------------------


def parse_duration(text: str, name: str = "duration") -> timedelta:
    """A duration as text: seconds (`900`, `90.5`) or units in a row (`90s`, `15m`, `2h`,
    `1d`, `2w`, `1h30m`); `InvalidQuery` with a one-line reason for anything else."""
    try:
        seconds = float(text)
    except ValueError:
        if not _WHOLE.match(text):
            raise InvalidQuery(
                f"{text!r} is not a duration: use seconds (900) or a number and a unit "
                "(s, m, h, d, w), like 90s, 15m, 2h, 1d or 1h30m",
                parameter=name,
            ) from None
        seconds = sum(int(n) * _SECONDS[unit.lower()] for n, unit in _PART.findall(text))
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidQuery(f"{text!r} is not a duration of 0 or more seconds", parameter=name)
    if seconds > MAX_DURATION.total_seconds():
        raise InvalidQuery(f"{text!r} is too long a duration (at most 100 years)", parameter=name)
    return timedelta(seconds=seconds)


def check_duration(value: object, name: str = "duration") -> timedelta:
    """A `timedelta` from 0 to 100 years (text is the entry points' to read, with
    `parse_duration`: the library takes typed values)."""
    if not isinstance(value, timedelta):
        raise InvalidQuery(
            f"{name} must be a timedelta of 0 or more, got {value!r}", parameter=name
        )
    if value < timedelta(0):
        raise InvalidQuery(f"{name} must not be a negative duration, got {value}", parameter=name)
    if value > MAX_DURATION:
        raise InvalidQuery(
            f"{name} {value} is too long a duration (at most 100 years)", parameter=name
        )
    return value


def parse_when(text: str, now: datetime | None = None, name: str = "time") -> datetime:
    """A time as text: ISO-8601 (no zone means UTC), or a duration with its units ago
    (`90m`, `1h30m`, `7d`) before `now` (default: now); `InvalidQuery` with a reason."""
    if _WHOLE.match(text):
        return _ago(parse_duration(text, name), now, name, text)
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidQuery(
            f"{text!r} is neither an ISO-8601 time nor a duration like 90m, 24h, 7d",
            parameter=name,
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def check_time(
    value: object, name: str = "time", now: datetime | None = None, *, ago: bool = True
) -> datetime | None:
    """None, a timezone-aware `datetime`, or (with `ago`) a `timedelta` meaning that long
    before `now`. Text is the entry points' to read, with `parse_when`: the library takes
    typed values."""
    if value is None:
        return None
    if ago and isinstance(value, timedelta):
        return _ago(check_duration(value, name), now, name, str(value))
    if not isinstance(value, datetime):
        raise InvalidQuery(f"{name} must be a datetime, got {type(value).__name__}", parameter=name)
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidQuery(f"{name} {value.isoformat()} needs a time zone", parameter=name)
    return value


def check_period(since: datetime | None, until: datetime | None) -> None:
    """`since` before `until`, when both are given."""
    if since is not None and until is not None and since >= until:
        raise InvalidQuery(
            f"since ({since.isoformat()}) must be before until ({until.isoformat()})",
            parameter="since",
        )


def _ago(duration: timedelta, now: datetime | None, name: str, text: str) -> datetime:
    try:
        return (now or datetime.now(UTC)) - duration
    except OverflowError:
        raise InvalidQuery(f"{name} {text} reaches before the year 1", parameter=name) from None
