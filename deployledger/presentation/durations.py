"""Durations: as tables and pages show them (`45s`, `4m 12s`, `1h 3m`, `2d 3h`, `< 1s`),
and as JSON and CSV carry them (plain decimal seconds, never `6.4e-05`). Pure. (As people
write them, `90s`, `15m`, `1h30m`: `deployledger.parse_duration`.)"""

from __future__ import annotations

import json
import math
import re
import secrets
from typing import Any

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


__all__ = ["decimal_seconds", "format_duration", "plain_json", "plain_number"]


def decimal_seconds(seconds: float | None) -> str:
    """A duration for CSV: plain decimal seconds; "" for None."""
    return "" if seconds is None else plain_number(seconds)


def plain_json(
    value: Any, *, separators: tuple[str, str] | None = None, allow_nan: bool = True
) -> str:
    """`json.dumps(value, ensure_ascii=False)`, with every float written as plain decimal
    text that reads back as the same float (`plain_number`: `0.000064`, not `6.4e-05`;
    `10000000000000000.0`, not `1e+16`). What the CLI's JSON and the HTTP service's JSON
    answers and JSON Lines export write."""
    text = json.dumps(value, ensure_ascii=False, separators=separators, allow_nan=allow_nan)
    if _EXPONENT.search(text) is None:  # rare: only then look for the floats themselves
        return text
    raw: dict[str, str] = {}
    text = json.dumps(
        _plain_floats(value, raw), ensure_ascii=False, separators=separators, allow_nan=allow_nan
    )
    for token, number in raw.items():
        text = text.replace(json.dumps(token), number, 1)
    return text


# What json.dumps writes for a float in exponent notation (`6.4e-05`, `1e+16`); it may also
# match inside a string, which only costs the slower path.
_EXPONENT = re.compile(r"\d[eE][-+]?\d")


def _plain_floats(value: Any, raw: dict[str, str]) -> Any:
    """`value` with each float that Python writes in exponent notation replaced by a unique
    placeholder string (kept in `raw` with its plain decimal text)."""
    if isinstance(value, float):
        if math.isfinite(value) and "e" in repr(value):
            token = f"\x00{secrets.token_hex(8)}\x00"
            raw[token] = plain_number(value)
            return token
        return value
    if isinstance(value, dict):
        return {k: _plain_floats(v, raw) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_floats(v, raw) for v in value]
    return value
