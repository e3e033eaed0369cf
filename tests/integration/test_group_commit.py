"""Group commit (issue 22, section 1): `Ledger.writer()` appends many calls' messages in one
transaction, and each call gets the answer it would have had alone.

- Property: any sequence of calls (single messages and arrays, over a few workloads, with
  repeated messageIds: duplicates, and reused ids with other content: conflicts) written as
  one group stores exactly what `record_many` call by call stores, with the same answers
  (receipts, or the same error), the same per-workload order and contiguous attempts. On
  both backends.
- Concurrency: threads writing through one writer store every acknowledged message once.
- A call alone is not held back by the wait; the queue is bounded (503 when full); a store
  outage fails every queued call at once.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import report, request

from deployledger import DeployLedgerError, Ledger, Receipt, StoreUnavailable
from deployledger.domain.messages.inbox import parse_messages

RTS = ["rt-a", "rt-b", "rt-c"]
IDS = [None, None, "m1", "m2", "m3"]

MESSAGE = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["outcome", "outcome", "request"]),
        "rt": st.sampled_from(RTS),
        "id": st.sampled_from(IDS),
        "success": st.booleans(),
        "text": st.sampled_from(["", "boom", "Error: UPGRADE FAILED: timed out"]),
    }
)
CALLS = st.lists(st.lists(MESSAGE, min_size=1, max_size=3), min_size=1, max_size=8)
COUNTER = itertools.count()


def body(tenant: str, m: dict[str, Any]) -> dict[str, Any]:
    extra = {"messageId": m["id"]} if m["id"] else {}
    if m["kind"] == "request":
        return request(m["rt"], tenant=tenant, version=f"1.{len(m['text'])}.0", **extra)
    return report(
        m["rt"],
        tenant=tenant,
        success=m["success"],
        message=None if m["success"] else m["text"] or "failed",
        **extra,
    )


def outcome(answer: list[Receipt] | DeployLedgerError) -> Any:
    """An answer without what differs between two tenants' runs (positions, times)."""
    if isinstance(answer, DeployLedgerError):
        problems = getattr(answer, "problems", ())
        return (
            type(answer).__name__,
            [(p.field, p.report, _same_tenant(p.reason)) for p in problems],
        )
    return [(r.workload_rt_id, r.attempt, r.kind, r.duplicate, r.state) for r in answer]


def _same_tenant(reason: str) -> str:
    return (
        reason.replace("/g-", "/x-")
        .replace("/s-", "/x-")
        .replace(" g-", " x-")
        .replace(" s-", " x-")
    )


def history(ledger: Ledger, tenant: str) -> dict[str, list[tuple[Any, ...]]]:
    found = {}
    for rt in RTS:
        timeline = ledger.timeline(tenant, rt) if ledger.current(tenant, rt) else []
        found[rt] = [(e.kind, getattr(e, "attempt", None), e.message_id) for e in timeline]
    return found


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(calls=CALLS)
def test_a_group_stores_what_calls_one_by_one_store(ledger: Ledger, calls: list[Any]) -> None:
    n = next(COUNTER)
    grouped, alone = f"g-{n}", f"s-{n}"

    def parsed(tenant: str, call: list[dict[str, Any]]) -> list[Any]:
        return parse_messages([body(tenant, m) for m in call])

    group_answers = ledger._record_group([parsed(grouped, c) for c in calls])
    one_by_one: list[list[Receipt] | DeployLedgerError] = []
    for call in calls:
        try:
            one_by_one.append(ledger.record_many(parsed(alone, call)))
        except DeployLedgerError as e:
            one_by_one.append(e)
    assert [outcome(a) for a in group_answers] == [outcome(a) for a in one_by_one]
    assert history(ledger, grouped) == history(ledger, alone)
    for rt in RTS:
        attempts = (
            [a.attempt for a in ledger.history(grouped, rt)] if ledger.current(grouped, rt) else []
        )
        assert sorted(attempts) == list(range(1, len(attempts) + 1))
    # Positions follow the calls' order, and within a call the input order.
    positions = [
        r.position
        for a in group_answers
        if not isinstance(a, DeployLedgerError)
        for r in a
        if not r.duplicate
    ]
    assert positions == sorted(positions)


def test_threads_through_one_writer_store_every_message_once(ledger: Ledger) -> None:
    sizes: list[int] = []
    errors: list[BaseException] = []
    got: dict[str, Receipt] = {}
    lock = threading.Lock()

    def client(number: int, writer: Any) -> None:
        try:
            for i in range(40):
                key = f"c{number}-{i}"
                receipt = writer.record(report(f"rt-{i % 5}", tenant="grp", messageId=key))
                again = writer.record(report(f"rt-{i % 5}", tenant="grp", messageId=key))
                assert again.duplicate
                assert (again.position, again.attempt) == (receipt.position, receipt.attempt)
                with lock:
                    got[key] = receipt
        except BaseException as e:
            errors.append(e)

    with ledger.writer(max_wait=0.005, on_commit=lambda size, _s: sizes.append(size)) as writer:
        threads = [threading.Thread(target=client, args=(n, writer)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    assert not errors, errors[:3]
    assert len(got) == 320
    assert max(sizes) > 1, "no batch held more than one message: nothing was grouped"
    for rt in (f"rt-{i}" for i in range(5)):
        history = ledger.history("grp", rt, limit=1000)
        assert sorted(a.attempt for a in history) == list(range(1, len(history) + 1))
        assert len({a.message_id for a in history}) == len(history)
    assert sum(len(ledger.history("grp", f"rt-{i}", limit=1000)) for i in range(5)) == 320


def test_a_call_alone_is_committed_without_waiting_for_the_timer(ledger: Ledger) -> None:
    with ledger.writer(max_wait=2.0) as writer:
        writer.record(report("rt-warm", tenant="solo"))
        began = time.monotonic()
        writer.record(report("rt-solo", tenant="solo"))
        took = time.monotonic() - began
    assert took < 1.0, f"a single call waited {took:.2f} s: the 2 s timer held it"


def test_a_conflict_fails_its_own_call_only(ledger: Ledger) -> None:
    ledger.record(report("rt-x", tenant="cf", messageId="same", success=True))
    calls = [
        parse_messages([report("rt-x", tenant="cf", messageId="ok-1")]),
        parse_messages([report("rt-x", tenant="cf", messageId="same", success=False, message="x")]),
        parse_messages([report("rt-y", tenant="cf", messageId="ok-2")]),
    ]
    first, second, third = ledger._record_group(calls)
    assert isinstance(first, list)
    assert isinstance(third, list)
    assert type(second).__name__ == "IdempotencyConflict"
    assert [a.attempt for a in ledger.history("cf", "rt-x")] == [2, 1]


def test_a_full_queue_answers_store_unavailable(ledger: Ledger) -> None:
    release = threading.Event()
    entered = threading.Event()

    def slow_commit(calls: list[Any]) -> list[Any]:
        entered.set()
        release.wait(30)
        return ledger._record_group(calls)

    from deployledger.service.groupcommit import GroupWriter

    writer = GroupWriter(slow_commit, parse=parse_messages, max_queue=2, timeout=30)
    results: list[Any] = []

    def send(i: int) -> None:
        try:
            results.append(writer.record(report(f"rt-q{i}", tenant="q")))
        except StoreUnavailable as e:
            results.append(e)

    first = threading.Thread(target=send, args=(0,))
    first.start()
    assert entered.wait(10)
    waiting = [threading.Thread(target=send, args=(i,)) for i in (1, 2)]
    for t in waiting:
        t.start()
    deadline = time.monotonic() + 10
    while writer.queued() < 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    with pytest.raises(StoreUnavailable, match="write queue is full"):
        writer.record(report("rt-q3", tenant="q"))
    release.set()
    for t in [first, *waiting]:
        t.join(30)
    writer.close()
    assert all(isinstance(r, Receipt) for r in results), results
    assert ledger.current("q", "rt-q3") is None  # the refused call stored nothing


def test_a_store_error_fails_the_batch_and_every_queued_call_at_once(ledger: Ledger) -> None:
    entered = threading.Event()
    release = threading.Event()

    def failing(calls: list[Any]) -> list[Any]:
        entered.set()
        release.wait(30)
        raise StoreUnavailable("store is unavailable: the test took it away")

    from deployledger.service.groupcommit import GroupWriter

    writer = GroupWriter(failing, parse=parse_messages, timeout=30)
    results: list[Any] = []

    def send(i: int) -> None:
        began = time.monotonic()
        try:
            writer.record(report(f"rt-f{i}", tenant="f"))
        except StoreUnavailable as e:
            results.append((e, time.monotonic() - began))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(4)]
    threads[0].start()
    assert entered.wait(10)
    for t in threads[1:]:
        t.start()
    time.sleep(0.2)
    release.set()
    for t in threads:
        t.join(30)
    writer.close()
    assert len(results) == 4
    assert all(took < 5 for _e, took in results), results
