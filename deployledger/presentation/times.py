"""Times as people read them: to the second, `2024-05-01T12:00:00Z` in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo


def when(value: datetime | None, zone: tzinfo = UTC) -> str:
    """A time to the second in `zone`: `2024-05-01T12:00:00Z` in UTC, else with its offset;
    `-` for None."""
    if value is None:
        return "-"
    local = value.astimezone(zone)
    if zone is UTC:
        return local.strftime("%Y-%m-%dT%H:%M:%SZ")
    return local.isoformat(timespec="seconds")
