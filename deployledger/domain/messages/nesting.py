"""How deeply a message may nest: one limit for every way in (`record`, `POST /v1/reports`).

A message is flat; a sender nesting hundreds of levels deep is a mistake or an attack, and
Python's parser would stop at a depth that varies with its own stack. So a JSON value nested
deeper than `MAX_JSON_DEPTH` levels (the message's own object is level 1) is invalid JSON,
wherever it arrives.
"""

from __future__ import annotations

from typing import Any

MAX_JSON_DEPTH = 64


def nested_too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether `value` holds objects or arrays nested more than `limit` levels deep, level
    by level (no recursion, so any depth the parser produced is measured the same way)."""
    level = [value]
    for _ in range(limit):
        level = [
            inner
            for outer in level
            if isinstance(outer, dict | list)
            for inner in (outer.values() if isinstance(outer, dict) else outer)
        ]
        if not any(isinstance(inner, dict | list) for inner in level):
            return False
    return True
