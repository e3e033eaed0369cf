"""Hypothesis strategies shared by the property tests: one lifecycle message over a few
workloads, in any kind, with messages that stress encoding and report times in any zone."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st
from support import progress, report, request, undeploy

from deployledger import Ledger

RT_IDS = ["rt-alpha", "rt-beta", "rt-gamma"]
ZONES = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
REPORTED_AT = st.one_of(
    st.none(),
    st.builds(
        lambda minutes, zone: (
            (datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=minutes))
            .astimezone(zone)
            .isoformat()
        ),
        st.integers(0, 10_000),
        st.sampled_from(ZONES),
    ),
)


def steps(*special_messages: str) -> st.SearchStrategy[dict[str, Any]]:
    """One step: its kind, workload, outcome and texts; messages are None, any text, or
    one of a few hard cases (NUL, emoji and line breaks, plus `special_messages`)."""
    messages = st.one_of(
        st.none(),
        st.text(st.characters(exclude_categories=["Cs"]), max_size=30),
        st.sampled_from(["", "\x00", "a\x00b", "🚀\r\n\t", *special_messages]),
    )
    return st.fixed_dictionaries(
        {
            "kind": st.sampled_from(["outcome", "outcome", "request", "progress", "undeploy"]),
            "chart": st.sampled_from(["1.0.0", "1.1.0", ""]),
            "rt": st.sampled_from(RT_IDS),
            "success": st.booleans(),
            "message": messages,
            "pool": st.one_of(st.none(), st.sampled_from(["pool-a", "pool-b"])),
            "name": st.sampled_from(["api", "api-renamed"]),
            "resend": st.booleans(),  # a messageId made from the content: resends are duplicates
            "reportedAt": REPORTED_AT,
        }
    )


def content_id(step: dict[str, Any]) -> str:
    """The same content always gets the same messageId (a true resend), other content another."""
    content = json.dumps({k: v for k, v in step.items() if k != "resend"}, sort_keys=True)
    return "m-" + hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def message(tenant: str, s: dict[str, Any], *, blank_version: str | None = "") -> dict[str, Any]:
    """The lifecycle message (request, progress, undeploy or outcome) a step sends; a request
    drawn with the chart version "" sends `blank_version` instead."""
    common = {
        "tenant": tenant,
        "name": s["name"],
        "messageId": content_id(s) if s["resend"] else None,
        "reportedAt": s["reportedAt"],
    }
    if s["kind"] == "request":
        version = s["chart"] or blank_version
        return request(s["rt"], version=version, poolRtId=s["pool"], **common)
    if s["kind"] == "progress":
        return progress(s["rt"], s["message"] or "waiting", **common)
    if s["kind"] == "undeploy":
        return undeploy(s["rt"], poolRtId=s["pool"], **common)
    return report(s["rt"], pool=s["pool"], success=s["success"], message=s["message"], **common)


def record_in_chunks(
    ledger: Ledger, tenant: str, steps: list[dict[str, Any]], sizes: list[int]
) -> None:
    """Record the steps' messages with `record_many`, in chunks of the given sizes (cycled)."""
    reports = [message(tenant, s) for s in steps]
    start, turn = 0, 0
    while start < len(reports):
        size = sizes[turn % len(sizes)]
        ledger.record_many(reports[start : start + size])
        start, turn = start + size, turn + 1
