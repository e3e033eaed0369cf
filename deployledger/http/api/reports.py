"""POST /v1/reports: one message, or an array of them (all or nothing, as `record_many`).

- 201 with the receipts (an object for an object body, an array for an array body), or 200
  when every message was already stored (all duplicates);
- 422 problem+json listing every problem (`index` 0-based in an array), nothing stored;
- `Idempotency-Key: <key>` is the `messageId` of a single message (a message that has its
  own `messageId` must carry the same one); the same key with a different body answers 422.
  An array body with the header answers 422: give each message its own `messageId`;
- 404 when a message is for a tenant the token does not hold (nothing stored);
- 503 with `Retry-After` when the store is unavailable, or the worker's write queue is full
  (group commit): send it again with the same key or `messageId`. A 2xx is only ever sent
  after the commit that holds the message; if a commit landed just before the connection
  was lost, the retry answers 200 with the original receipt.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Depends, Header, Request

from deployledger import GroupWriter, InvalidReport, Ledger, Receipt, parse_messages
from deployledger.http.api.body import check_media_type, decode, read_body
from deployledger.http.auth import Grant, require
from deployledger.http.jsonbody import PlainJSONResponse
from deployledger.http.metrics import Metrics
from deployledger.http.problems import HTTPProblem, invalid, report_problems
from deployledger.http.state import holder_of, ledger_of, settings_of

router = APIRouter(tags=["reports"])
KINDS = ("request", "progress", "outcome", "undeploy")
MAX_KEY_LENGTH = 256


def _normal(key: str) -> str:
    return key.replace("_", "").replace("-", "").lower()


def kind_guess(item: Any) -> str:
    """The kind of a (maybe invalid) message, for the metrics: its `kind`, else `outcome`
    when it has `success`, else `unknown`."""
    if not isinstance(item, Mapping):
        return "unknown"
    for key, value in item.items():
        if isinstance(key, str) and _normal(key) == "kind":
            text = value.strip().lower() if isinstance(value, str) else None
            return text if text in KINDS else "unknown"
    has_success = any(isinstance(k, str) and _normal(k) == "success" for k in item)
    return "outcome" if has_success else "unknown"


def idempotency_key(header: str | None) -> str | None:
    """The key of the `Idempotency-Key` header: a structured-field string (`"abc"`) or a
    bare token (`abc`); 422 when it is empty, too long or not printable ASCII."""
    if header is None:
        return None
    key = header.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if not key or len(key) > MAX_KEY_LENGTH or not all(" " <= c <= "~" for c in key):
        raise invalid(
            [
                {
                    "index": None,
                    "field": "Idempotency-Key",
                    "reason": f"must be 1 to {MAX_KEY_LENGTH} printable ASCII characters",
                }
            ]
        )
    return key


def with_key(message: dict[str, Any], key: str) -> dict[str, Any]:
    """The message with `messageId` set to the key (422 when it has a different one)."""
    given = [k for k in message if isinstance(k, str) and _normal(k) == "messageid"]
    for name in given:
        if message[name] is not None and message[name] != key:
            reason = (
                f"the message's messageId {message[name]!r} differs from the Idempotency-Key "
                f"{key!r}: send one of them, or the same value in both"
            )
            raise invalid([{"index": None, "field": "Idempotency-Key", "reason": reason}])
    return {**{k: v for k, v in message.items() if k not in given}, "messageId": key}


def _validate(ledger: Ledger, items: Sequence[Any], batch: bool) -> list[Any]:
    """Every message parsed (blocking: large messages take time; a batch is checked one
    pydantic-core call per kind), or 422 with every problem."""
    try:
        return parse_messages(
            items,
            max_message_bytes=ledger.max_message_bytes,
            reject_oversized=ledger.reject_oversized,
        )
    except InvalidReport as e:
        problems = [
            {
                "index": p.report - 1 if batch and p.report is not None else None,
                "field": p.field,
                "reason": p.reason,
            }
            for p in e.problems
        ]
    raise invalid(problems)


def _record(
    ledger: Ledger, writer: GroupWriter | None, metrics: Metrics, messages: list[Any]
) -> list[Receipt]:
    """Record the messages: through the worker's group-commit writer (appended with the
    other requests' in one transaction, answered after its commit), else alone."""
    started = time.perf_counter()
    receipts = writer.submit(messages) if writer is not None else ledger.record_many(messages)
    metrics.record_duration.observe(time.perf_counter() - started)
    metrics.clock.saw(max(r.position for r in receipts))
    return receipts


@router.post(
    "/v1/reports",
    summary="Record deployment messages",
    status_code=201,
    operation_id="recordReports",
)
async def record_reports(
    request: Request,
    grant: Annotated[Grant, Depends(require("write"))],
    idempotency: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="The messageId of a single message (not for an array body).",
        ),
    ] = None,
) -> PlainJSONResponse:
    """Record one message (a JSON object) or many (a JSON array, all or nothing) of any
    kind: deploy request, progress, outcome, undeploy. Keys in any casing."""
    settings = settings_of(request)
    metrics: Metrics = request.app.state.metrics
    key = idempotency_key(idempotency)
    check_media_type(request)
    body = decode(await read_body(request, settings.max_body_bytes, settings.body_timeout))
    batch = isinstance(body, list)
    items: list[Any] = body if batch else [body]
    try:
        if batch and key is not None:
            raise invalid(
                [
                    {
                        "index": None,
                        "field": "Idempotency-Key",
                        "reason": "is for a single message: give each message of an array "
                        "its own messageId instead",
                    }
                ]
            )
        if batch and not items:
            raise invalid([{"index": None, "field": "(body)", "reason": "the array is empty"}])
        if not batch and not isinstance(body, dict):
            reason = "must be a JSON object (one message) or an array of them"
            raise invalid([{"index": None, "field": "(body)", "reason": reason}])
        if key is not None:
            items = [with_key(body, key)]
        ledger = await ledger_of(request)
        messages = await to_thread.run_sync(_validate, ledger, items, batch)
        hidden = sorted({m.tenant_id for m in messages if not grant.sees(m.tenant_id)})
        if hidden:
            raise HTTPProblem(
                404,
                f"no tenant {hidden[0]!r} for this token; nothing was stored",
                kind="tenant-not-found",
                title="Tenant not found",
            )
        try:
            writer = holder_of(request).writer
            receipts = await to_thread.run_sync(_record, ledger, writer, metrics, messages)
        except InvalidReport as e:  # a messageId reused with other content
            raise invalid(report_problems(e, batch=batch)) from None
    except HTTPProblem as e:
        if e.status in (404, 422):
            for item in items:
                metrics.received(kind_guess(item), "rejected")
        raise
    for receipt in receipts:
        metrics.received(receipt.kind, "duplicate" if receipt.duplicate else "accepted")
    status = 200 if all(r.duplicate for r in receipts) else 201
    content = [r.to_json() for r in receipts] if batch else receipts[0].to_json()
    return PlainJSONResponse(content, status_code=status)
