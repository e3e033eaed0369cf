"""The write path under `Ledger.record_many` and its group-commit writer.

Messages are applied to their workloads in memory (duplicates answered from the stored
event, a reused `messageId` with other content refused), then appended in one transaction.
Concurrency is optimistic, per workload: a writer that lost the race to another process
reloads the workloads and applies its messages again on top, with jittered backoff, for at
most `lock_timeout` seconds. Workloads stay in the `WorkloadCache` between writes; one that
a failed write touched is left out of it, so that nothing unstored is ever remembered.
"""

from __future__ import annotations

import random
import time
from uuid import UUID

from deployledger.domain.messages.inbox import Message
from deployledger.domain.workload.aggregate import NewEvent, Workload, workload_id
from deployledger.domain.workload.records import Receipt
from deployledger.errors import DeployLedgerError, IdempotencyConflict, Problem, WriteConflict
from deployledger.service import answers
from deployledger.service.cache import WorkloadCache
from deployledger.service.groupcommit import Answer
from deployledger.service.ports import EventStorePort, Positions

MAX_WRITE_ATTEMPTS = 200  # and at most lock_timeout seconds of retrying
_NAMES = {"request": "deploy request", "progress": "progress message", "undeploy": "undeploy"}

# What one message does: its workload, the version of its event (the original's for a
# duplicate), its attempt number (outcomes only), and whether it is a duplicate.
_Plan = tuple[Workload, int, int | None, bool]


class _CallFailed(Exception):
    """One call of a group commit failed on its own (a conflicting messageId)."""

    def __init__(self, index: int, error: DeployLedgerError) -> None:
        super().__init__(str(error))
        self.index, self.error = index, error


class Appender:
    """Applies messages to their workloads and appends the new events (see the module)."""

    def __init__(self, store: EventStorePort, cache: WorkloadCache) -> None:
        self._store = store
        self._cache = cache

    def append(self, messages: list[Message]) -> list[Receipt]:
        """Parsed messages in one transaction, all or nothing; receipts in input order
        (see `Ledger.record_many`)."""
        if not messages:
            return []
        ids = [workload_id(m.tenant_id, m.workload_rt_id) for m in messages]
        with self._cache.locked(ids):
            try:
                return self._group_locked([0], [messages], {0: ids})[0]
            except _CallFailed as failed:
                raise failed.error from None

    def append_group(self, calls: list[list[Message]]) -> list[Answer]:
        """Several calls' messages in one transaction, each call's answer as `record_many`
        would give it alone, in this order. A call whose messages conflict is answered with
        its error and the rest are applied again without it; when other writers keep
        winning the race for the same workloads, each call is written alone."""
        answers_of: dict[int, Answer] = {}
        live = [i for i, call in enumerate(calls) if call]
        answers_of.update({i: [] for i, call in enumerate(calls) if not call})
        alone: list[int] = []
        while live:
            ids = {i: [workload_id(m.tenant_id, m.workload_rt_id) for m in calls[i]] for i in live}
            try:
                with self._cache.locked([key for i in live for key in ids[i]]):
                    answers_of.update(self._group_locked(live, calls, ids))
                live = []
            except _CallFailed as failed:
                answers_of[failed.index] = failed.error
                live.remove(failed.index)
            except WriteConflict as e:
                if len(live) == 1:
                    answers_of[live[0]] = e
                else:
                    alone = live
                live = []
            except DeployLedgerError as e:  # the store: every call of the batch failed
                answers_of.update({i: e for i in live})
                live = []
        for i in alone:
            try:
                answers_of[i] = self.append(calls[i])
            except DeployLedgerError as e:
                answers_of[i] = e
        return [answers_of[i] for i in range(len(calls))]

    def _group_locked(
        self, live: list[int], calls: list[list[Message]], ids: dict[int, list[UUID]]
    ) -> dict[int, list[Receipt]]:
        """The calls numbered `live` in one transaction (their workloads' locks held).
        A call that fails on its own raises `_CallFailed`; a conflict leaves every changed
        workload out of the cache (they were taken out of it), so nothing unstored is
        ever remembered."""
        unique_ids = list(dict.fromkeys(key for i in live for key in ids[i]))
        workloads = {key: self._cache.take(key) for key in unique_ids}
        deadline = time.monotonic() + self._store.url.lock_timeout
        for attempt in range(MAX_WRITE_ATTEMPTS):
            try:
                cold = [key for key in unique_ids if workloads[key] is None]
                known = self._store.existing(cold) if len(cold) > 1 else set(cold)
                for key in cold:
                    workloads[key] = self._store.load(key) if key in known else None
                fresh: dict[tuple[UUID, int], NewEvent] = {}
                numbers: dict[tuple[UUID, int], int] = {}
                plans: dict[int, list[_Plan]] = {}
                events: list[object] = []
                for i in live:
                    try:
                        plans[i], added, _ = self._apply(
                            calls[i], ids[i], workloads, fresh, numbers
                        )
                    except DeployLedgerError as e:
                        # The workloads hold this call's half-applied events: they stay out
                        # of the cache, and the others are applied again from the store.
                        raise _CallFailed(i, e) from None
                    events += added
                touched = [w for w in workloads.values() if w is not None]
                positions = self._store.save(events, touched) if events else {}
            except WriteConflict:
                # Another writer got there first: reload and replay the calls on top.
                workloads = dict.fromkeys(unique_ids)
                if time.monotonic() > deadline:
                    break
                # Full jitter, exponential up to 50 ms: losers spread out instead of
                # colliding again on the next version.
                time.sleep(random.uniform(0, min(0.05, 0.001 * 2 ** min(attempt, 6))))
                continue
            receipts = {
                i: [self._receipt(plan, positions, fresh) for plan in call_plans]
                for i, call_plans in plans.items()
            }
            for cached in workloads.values():
                if cached is not None:
                    self._cache.put(cached)
            return receipts
        raise WriteConflict(
            f"gave up after {attempt + 1} attempts: other writers kept changing "
            "the same workloads; retry later"
        )

    def _apply(
        self,
        messages: list[Message],
        ids: list[UUID],
        workloads: dict[UUID, Workload | None],
        fresh: dict[tuple[UUID, int], NewEvent] | None = None,
        numbers: dict[tuple[UUID, int], int] | None = None,
    ) -> tuple[list[_Plan], list[object], dict[tuple[UUID, int], NewEvent]]:
        """Append the events in memory, in input order: one plan per message, the new
        events in the order they are to be stored (so positions follow the input), and the
        new events by (workload, version).

        New events are `NewEvent`s of `Workload.append()`: folded into the workload and
        stored from their fields, with no event object built per message (only a new
        workload's registration is one).

        A `messageId` seen before is a duplicate when the content is the same, and an
        `IdempotencyConflict` (for the whole batch, before anything is stored) when not.
        `fresh` and `numbers` carry the new events of the requests before this one in a
        group commit.
        """
        plans: list[_Plan] = []
        events: list[object] = []
        # Shared by the requests of one group commit: a later one sees the earlier's events.
        fresh = {} if fresh is None else fresh
        numbers = {} if numbers is None else numbers  # attempt numbers of new outcomes
        conflicts: list[Problem] = []
        for number, (message, key) in enumerate(zip(messages, ids, strict=True), start=1):
            workload = workloads[key]
            if workload is None:
                workload = Workload.register(message.tenant_id, message.workload_rt_id)
                workloads[key] = workload
                events.extend(workload.collect_events())
            version = workload.version_for(message.message_id)
            if version is None:
                event = workload.append(message)
                events.append(event)
                version = event.originator_version
                fresh[(key, version)] = event
                attempt = workload.attempts if event.KIND == "outcome" else None
                if attempt is not None:
                    numbers[(key, version)] = attempt
                plans.append((workload, version, attempt, False))
                continue
            earlier: NewEvent | Workload.Event | None = fresh.get((key, version))
            if earlier is None:
                earlier = self._store.event_at(key, version)[0]
            attempt = None
            if earlier.KIND == "outcome":
                attempt = numbers.get((key, version)) or self._store.attempts_upto(key, version)
            if not earlier.same_as(message):
                where = f"{message.tenant_id}/{message.workload_rt_id}"
                what = (
                    f"attempt {attempt}" if attempt is not None else f"its {_NAMES[earlier.KIND]}"
                )
                reason = (
                    f"{message.message_id!r} was already recorded as {what} of {where}, "
                    "with different content"
                )
                conflicts.append(
                    Problem("messageId", reason, number if len(messages) > 1 else None)
                )
            plans.append((workload, version, attempt, True))
        if conflicts:
            raise IdempotencyConflict(conflicts)
        return plans, events, fresh

    def _receipt(
        self,
        plan: _Plan,
        positions: Positions,
        fresh: dict[tuple[UUID, int], NewEvent],
    ) -> Receipt:
        workload, version, attempt, duplicate = plan
        position = positions.get((workload.id, version))
        event: NewEvent | Workload.Event | None = fresh.get((workload.id, version))
        if event is None or position is None:  # a duplicate of a stored event
            event, position = self._store.event_at(workload.id, version)
        return answers.receipt(workload, attempt, event, position, duplicate=duplicate)
