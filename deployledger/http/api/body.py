"""Reading a request body within limits: at most `max_bytes` (413 as soon as it is
exceeded, from `Content-Length` or while reading), within `timeout` seconds (408), and
JSON only (415 for another media type, 400 for text that is not JSON)."""

from __future__ import annotations

import json
from typing import Any

import anyio
from fastapi import Request

from deployledger import MAX_JSON_DEPTH, nested_too_deep
from deployledger.http.problems import HTTPProblem

JSON_TYPES = ("application/json",)


def _too_large(limit: int) -> HTTPProblem:
    return HTTPProblem(
        413,
        f"the request body is over the limit of {limit:,} bytes; send fewer messages per request",
        kind="body-too-large",
        title="Content too large",
        headers={"Connection": "close"},
    )


def check_media_type(request: Request) -> None:
    """415 unless the body is JSON (`application/json` or `application/*+json`; a request
    with no Content-Type is taken as JSON)."""
    given = request.headers.get("content-type")
    if given is None:
        return
    media = given.split(";", 1)[0].strip().lower()
    if media in JSON_TYPES or (media.startswith("application/") and media.endswith("+json")):
        return
    raise HTTPProblem(
        415,
        f"the body must be JSON (Content-Type: application/json), not {media or 'empty'!r}",
        kind="unsupported-media-type",
        title="Unsupported media type",
    )


async def read_body(request: Request, max_bytes: int, timeout: float) -> bytes:
    """The whole body, or 413 / 408 / 400 (a bad Content-Length)."""
    length = request.headers.get("content-length")
    if length is not None:
        if not length.strip().isdigit():
            raise HTTPProblem(400, f"invalid Content-Length {length!r}", kind="bad-request")
        if int(length) > max_bytes:
            raise _too_large(max_bytes)
    body = bytearray()
    try:
        with anyio.fail_after(timeout):
            async for chunk in request.stream():
                body += chunk
                if len(body) > max_bytes:
                    raise _too_large(max_bytes)
    except TimeoutError:
        raise HTTPProblem(
            408,
            f"the request body did not arrive within {timeout:g} seconds",
            kind="request-timeout",
            title="Request timeout",
            headers={"Connection": "close"},
        ) from None
    return bytes(body)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"duplicate key {key!r} in one JSON object")
        found[key] = value
    return found


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


TOO_DEEP = f"nested deeper than {MAX_JSON_DEPTH} levels"


def decode(body: bytes) -> Any:
    """The JSON value of the body; 400 with the reason when it is not valid JSON (a key
    given twice in one object counts as invalid: JSON parsers disagree on which wins; a
    message nested deeper than `record` takes, too)."""
    try:
        value = json.loads(
            body, object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant
        )
        messages = value if isinstance(value, list) else [value]
        if not any(nested_too_deep(message) for message in messages):
            return value
        reason = TOO_DEEP
    except RecursionError:
        reason = TOO_DEEP
    except (ValueError, UnicodeDecodeError) as e:
        reason = str(e)
    raise HTTPProblem(
        400, f"the body is not valid JSON: {reason}", kind="invalid-json", title="Invalid JSON"
    )
