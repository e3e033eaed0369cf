"""The CloudEvents HTTP protocol binding 1.0.2, receiving side: the events of one request.
Pure.

- binary mode: the context attributes in `ce-*` headers (percent-encoded), the body is
  the event's `data` and `Content-Type` its `datacontenttype`;
- structured mode: `Content-Type: application/cloudevents+json`, the whole event as one
  JSON object;
- batch mode: `Content-Type: application/cloudevents-batch+json`, a JSON array of events
  in the structured form.

Each event comes out as the structured form (a dict of attributes, with `data`), checked
against the CloudEvents 1.0 required attributes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from deployledger.domain.intake.common import text_at, timestamp_at
from deployledger.errors import InvalidReport, Problem

SPEC_VERSION = "1.0"
STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
HEADER_PREFIX = "ce-"
# Not data: the binary-mode body is `data` as it is, whatever these say.
REQUIRED = ("id", "source", "type")


def media_type(headers: Mapping[str, str]) -> str:
    """The media type of `Content-Type`, lower case, without parameters ("" if none)."""
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()


def is_json_media(media: str) -> bool:
    return media in ("", "application/json", "text/json") or (
        media.startswith("application/") and media.endswith("+json")
    )


def mode_of(headers: Mapping[str, str]) -> str:
    """`batch`, `structured` or `binary` (by the media type, then the `ce-specversion`
    header); `unknown` when the request is none of them."""
    media = media_type(headers)
    if media == BATCH:
        return "batch"
    if media == STRUCTURED:
        return "structured"
    if "ce-specversion" in headers:
        return "binary"
    return "unknown"


def events_of(headers: Mapping[str, str], body: Any) -> tuple[list[dict[str, Any]], bool]:
    """The events of a request, and whether it was a batch. `headers` have lower-case
    names; `body` is the decoded JSON body (the raw bytes for binary mode with data that
    is not JSON). Raises `InvalidReport` listing every problem."""
    mode = mode_of(headers)
    if mode == "unknown":
        raise InvalidReport(
            [
                Problem(
                    "Content-Type",
                    f"not a CloudEvent: send {STRUCTURED}, {BATCH}, or binary mode with a "
                    "ce-specversion header",
                )
            ]
        )
    if mode == "binary":
        event: dict[str, Any] = {
            name[len(HEADER_PREFIX) :]: unquote(value)
            for name, value in headers.items()
            if name.startswith(HEADER_PREFIX)
        }
        if "content-type" in headers:
            event["datacontenttype"] = headers["content-type"]
        event["data"] = body
        events, batch = [event], False
    elif mode == "structured":
        if not isinstance(body, dict):
            raise InvalidReport([Problem("(body)", "must be a JSON object (one CloudEvent)")])
        events, batch = [body], False
    else:
        if not isinstance(body, list):
            raise InvalidReport([Problem("(body)", "must be a JSON array of CloudEvents")])
        bad = [i for i, item in enumerate(body) if not isinstance(item, dict)]
        if bad:
            raise InvalidReport(
                [
                    Problem("(event)", "must be a JSON object (a CloudEvent)", report=i + 1)
                    for i in bad
                ]
            )
        events, batch = list(body), True
    prefix = HEADER_PREFIX if mode == "binary" else ""
    problems: list[Problem] = []
    for index, item in enumerate(events):
        report = index + 1 if batch else None
        problems += context_problems(item, prefix, report)
    if problems:
        raise InvalidReport(problems)
    return events, batch


def context_problems(event: Mapping[str, Any], prefix: str, report: int | None) -> list[Problem]:
    """Every problem of an event's context attributes (CloudEvents 1.0)."""
    problems: list[Problem] = []
    version = event.get("specversion")
    if version != SPEC_VERSION:
        got = "nothing" if version is None else repr(version)
        problems.append(
            Problem(f"{prefix}specversion", f"must be {SPEC_VERSION!r}, got {got}", report=report)
        )
    for name in REQUIRED:
        text_at(event, name, prefix + name, problems, report=report)
    for name in ("subject", "datacontenttype", "dataschema"):
        text_at(event, name, prefix + name, problems, required=False, report=report)
    timestamp_at(event, "time", prefix + "time", problems, required=False, report=report)
    if "data_base64" in event:
        problems.append(
            Problem("data_base64", "binary data is not taken: send JSON `data`", report=report)
        )
    return problems
