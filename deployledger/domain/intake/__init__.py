"""Events of other tools as lifecycle messages: Flux notification-controller events and
CloudEvents carrying CDEvents. Pure: the HTTP service reads the request, these map it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deployledger.domain.intake.cdevents import cdevent_message, parse_purl
from deployledger.domain.intake.cloudevents import events_of, is_json_media, media_type, mode_of
from deployledger.domain.intake.common import IntakeResult
from deployledger.domain.intake.flux import flux_intake
from deployledger.errors import InvalidReport, Problem

__all__ = [
    "IntakeResult",
    "cdevent_message",
    "cloudevents_intake",
    "events_of",
    "flux_intake",
    "is_json_media",
    "media_type",
    "mode_of",
    "parse_purl",
]


def cloudevents_intake(
    headers: Mapping[str, str],
    body: Any,
    *,
    tenant: str | None,
    pool: str | None = None,
    strict: bool = False,
) -> tuple[IntakeResult, bool]:
    """The messages of a CloudEvents request (binary, structured or batch mode) and
    whether it was a batch. CDEvents service events map; any other type is ignored, or
    with `strict` is a problem. All or nothing: `InvalidReport` lists every problem of
    every event, and then nothing is recorded."""
    events, batch = events_of(headers, body)
    messages: list[dict[str, Any]] = []
    sources: list[int] = []
    ignored: list[tuple[int, str]] = []
    problems: list[Problem] = []
    for index, event in enumerate(events):
        report = index + 1 if batch else None
        message, why, found = cdevent_message(event, tenant=tenant, pool=pool, report=report)
        if found:
            problems += found
        elif message is not None:
            messages.append(message)
            sources.append(index)
        elif strict:
            reason = f"{why}; strict mode takes only the CDEvents service events"
            problems.append(Problem("type", reason, report=report))
        else:
            ignored.append((index, why or f"{event['type']}: not taken"))
    if problems:
        raise InvalidReport(problems)
    return IntakeResult(tuple(messages), tuple(ignored), tuple(sources)), batch
