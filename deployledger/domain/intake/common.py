"""What the intake mappers share: their answer, derived identities, small field checks. Pure.

A mapper turns one foreign event (a Flux event, a CloudEvent) into a lifecycle message as
`POST /v1/reports` takes it (a camelCase dict with `kind`), or into a reason it was
ignored. Every problem of the input is listed, as `InvalidReport` problems.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from deployledger.errors import Problem

RT_ID_HEX = 24  # as long as the upstream runtime ids (a 24-hex ObjectId)


@dataclass(frozen=True, slots=True)
class IntakeResult:
    """What one intake request gives: the lifecycle messages to record (camelCase wire
    dicts with `kind`, validated again by `parse_message` when recorded), the index of
    the event each came from (0-based in a batch), and, for each event that stores
    nothing, why (`(index, reason)`)."""

    messages: tuple[dict[str, Any], ...] = ()
    ignored: tuple[tuple[int, str], ...] = field(default=())
    sources: tuple[int, ...] = ()


def derived_id(prefix: str, *parts: str, length: int = 32) -> str:
    """A stable hex id from `parts`: SHA-256 of their compact JSON array (so no two lists of
    parts share one text: `("a\x00", "b")` and `("a", "\x00b")` differ), with `prefix` in
    front when given."""
    text = json.dumps(list(parts), separators=(",", ":")).encode("ascii")
    return prefix + hashlib.sha256(text).hexdigest()[:length]


def text_at(
    data: Mapping[str, Any],
    key: str,
    path: str,
    problems: list[Problem],
    *,
    required: bool = True,
    report: int | None = None,
) -> str | None:
    """`data[key]` when it is a non-blank string; else a problem (or None when optional
    and absent)."""
    value = data.get(key)
    if value is None:
        if required:
            problems.append(Problem(path, "is required", report=report))
        return None
    if not isinstance(value, str) or not value.strip():
        problems.append(Problem(path, "must be a non-empty string", report=report))
        return None
    return value


def timestamp_at(
    data: Mapping[str, Any],
    key: str,
    path: str,
    problems: list[Problem],
    *,
    required: bool = True,
    report: int | None = None,
) -> str | None:
    """`data[key]` when it is an RFC 3339 timestamp with a zone; else a problem."""
    value = text_at(data, key, path, problems, required=required, report=report)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None or "T" not in value.upper():
        problems.append(
            Problem(
                path, f"must be an RFC 3339 timestamp with a zone, got {value!r}", report=report
            )
        )
        return None
    return value
