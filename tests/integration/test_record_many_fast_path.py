"""`record_many()` writes events from their fields (`Workload.append()`, `NewEvent`), with no
event object per message. Proven against the library's own path, event by event: the
workload's `record()` (the library's `trigger_event`), then `EventStore.put()` one event per
transaction (the library's mapper).

With the same clock, both paths store the same rows, byte for byte, in the same order, and
every workload loads into exactly the same aggregate (`vars()` equal: the fold, versions,
timestamps and the idempotency window, here shrunk to 3 so that it overflows). The
ledger's side records in chunks, through warm (cached) and cold (freshly opened) ledgers,
with a snapshot every 3 versions. The rows the ledger wrote decode, with the library's own
mapper, into the very events the library's path built.
"""

from __future__ import annotations

import tempfile
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.cipher import AESCipher
from eventsourcing.compressor import ZlibCompressor
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    UUIDAsHex,
)
from eventsourcing.utils import Environment
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from steps import message as steps_message
from steps import steps
from support import migrated_sqlite, progress, report, request, undeploy

from deployledger import Ledger
from deployledger.domain.messages.inbox import parse_messages
from deployledger.domain.storeurl import parse_store_url
from deployledger.domain.workload import aggregate as workload_module
from deployledger.domain.workload.aggregate import NewEvent, Workload, workload_id
from deployledger.store.events import compat
from deployledger.store.events.eventstore import EventStore

WINDOW = 3  # the idempotency window, shrunk so that examples overflow it
STEP = steps('quote " and \\ backslash')
SCENARIO = st.tuples(
    st.lists(STEP, min_size=1, max_size=30), st.lists(st.integers(1, 8), min_size=1, max_size=5)
)
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def message(tenant: str, s: dict[str, Any]) -> dict[str, Any]:
    return steps_message(tenant, s, blank_version=None)


class Clock:
    """The events' clock: one microsecond later at every call, from the same start."""

    def __init__(self) -> None:
        self.ticks = 0

    def __call__(self) -> datetime:
        self.ticks += 1
        return datetime(2026, 11, 30, tzinfo=UTC) + timedelta(microseconds=self.ticks)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[], Clock]:
    """Make the events' timestamps a deterministic clock (snapshots keep the real one), and
    shrink the idempotency window; calling the fixture restarts the clock."""
    current = [Clock()]
    stamp = staticmethod(lambda: current[0]())
    monkeypatch.setattr(Workload.Event, "create_timestamp", stamp)
    monkeypatch.setattr(Workload.Registered, "create_timestamp", stamp)
    monkeypatch.setattr(workload_module, "IDEMPOTENCY_WINDOW", WINDOW)

    def restart() -> Clock:
        current[0] = Clock()
        return current[0]

    return restart


def event_by_event(raw: list[dict[str, Any]]) -> tuple[list[StoredEvent], dict[Any, Workload]]:
    """The library's own path, one event per transaction, into a scratch SQLite store:
    its stored rows in position order, and the aggregates it built."""
    with tempfile.TemporaryDirectory() as folder:
        store = EventStore(parse_store_url(migrated_sqlite(Path(folder) / "ref.db")), create=True)
        try:
            workloads: dict[Any, Workload] = {}
            for m in parse_messages(raw):
                key = workload_id(m.tenant_id, m.workload_rt_id)
                workload = workloads.get(key) or Workload.register(m.tenant_id, m.workload_rt_id)
                workloads[key] = workload
                if workload.version_for(m.message_id) is None:
                    workload.record(m)
                for event in workload.collect_events():
                    compat.store_events(store.app.events, [event])
            return rows_of(store), workloads
        finally:
            store.close()


def rows_of(store: EventStore, ids: set[Any] | None = None) -> list[StoredEvent]:
    rows = store.query(
        "SELECT originator_id, originator_version, topic, state FROM {events} ORDER BY {position}",
        (),
    )
    stored = [
        StoredEvent(
            uuid.UUID(str(r[0])) if not isinstance(r[0], uuid.UUID) else r[0],
            r[1],
            r[2],
            bytes(r[3]),
        )
        for r in rows
    ]
    return [s for s in stored if ids is None or s.originator_id in ids]


def in_chunks(url: str, raw: list[dict[str, Any]], sizes: list[int]) -> None:
    """`record_many()` in chunks; every other chunk by a freshly opened (cold) ledger."""
    ledger = Ledger.open(url, create=True, snapshot_interval=3)
    try:
        start, turn = 0, 0
        while start < len(raw):
            size = sizes[turn % len(sizes)]
            if turn % 2:
                ledger.close()
                ledger = Ledger.open(url, snapshot_interval=3)
            ledger.record_many(raw[start : start + size])
            start, turn = start + size, turn + 1
    finally:
        ledger.close()


def check_same(url: str, raw: list[dict[str, Any]], sizes: list[int], restart: Any) -> None:
    restart()
    reference, built = event_by_event(raw)
    restart()
    in_chunks(url, raw, sizes)
    store = EventStore(parse_store_url(url), create=False)
    try:
        written = rows_of(store, set(built))
        # The same rows, byte for byte, in the same order.
        assert written == reference
        # Decoded by the library's own mapper: the events the library built.
        mapper = store.app.mapper
        assert [mapper.to_domain_event(s) for s in written] == [
            mapper.to_domain_event(s) for s in reference
        ]
        # Loaded (from the latest snapshot and the events after it): the same aggregates.
        for key, expected in built.items():
            loaded = store.load(key)
            assert loaded is not None
            assert vars(loaded) == vars(expected)
    finally:
        store.close()


class TestFastPathEqualsTheLibrarysPath:
    @SETTINGS
    @given(scenario=SCENARIO)
    def test_same_rows_and_same_aggregates_as_event_by_event(
        self,
        ready_url: str,
        clock: Callable[[], Clock],
        scenario: tuple[list[dict[str, Any]], list[int]],
    ) -> None:
        steps, sizes = scenario
        if ready_url.startswith("postgresql"):
            tenant = f"tenant-{uuid.uuid4().hex[:10]}"
            check_same(ready_url, [message(tenant, s) for s in steps], sizes, clock)
            return
        with tempfile.TemporaryDirectory() as folder:
            url = migrated_sqlite(Path(folder) / "ledger.db")
            check_same(url, [message("tenant", s) for s in steps], sizes, clock)

    def test_a_large_batch_in_one_call(self, ready_url: str, clock: Callable[[], Clock]) -> None:
        """1,400 messages of every kind over 7 workloads, some resent, in one call: the
        PostgreSQL COPY path (500 events or more) and SQLite's executemany; the rows come
        in input order."""
        kinds = ["outcome", "request", "progress", "outcome", "undeploy", "outcome", "outcome"]
        steps = [
            {
                "kind": kinds[i % len(kinds)],
                "chart": "1.0.0",
                "rt": f"rt-{i % 7}",
                "success": i % 3 != 0,
                "message": f"message {i} ✓" if i % 5 else None,
                "pool": "pool-a",
                "name": "api",
                "resend": i % 11 == 0,
                "reportedAt": None if i % 2 else f"2026-11-01T{i % 24:02d}:00:00+02:00",
            }
            for i in range(1_400)
        ]
        steps += steps[::50]  # resends of messages of this batch: duplicates
        tenant = f"tenant-{uuid.uuid4().hex[:10]}"
        raw = [message(tenant, s) for s in steps]
        check_same(ready_url, raw, [len(raw)], clock)


def _library_mapper(**options: Any) -> Mapper[uuid.UUID]:
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return Mapper(transcoder=transcoder, **options)


class TestStateEncoder:
    """`compat.StateEncoder` writes what `mapper.to_stored_event()` writes for the event
    object, on its direct path and on the mapper's path alike."""

    def events(self) -> list[NewEvent]:
        workload = Workload.register("t", "rt")
        workload.collect_events()
        appended = []
        for raw in (
            report(
                "rt", tenant="t", message="naïve ✓ \x00", reportedAt="2026-11-01T00:00:00+05:30"
            ),
            request("rt", tenant="t", messageId="m-1"),
            progress("rt", tenant="t"),
            undeploy("rt", tenant="t", reportedAt="2026-11-02T00:00:00Z"),
        ):
            appended.append(workload.append(parse_messages([raw])[0]))
        return appended

    @pytest.mark.parametrize("option", ["default", "compressed", "encrypted"])
    def test_bytes_equal_the_mappers(self, option: str) -> None:
        options: dict[str, Any] = {}
        if option == "compressed":
            options["compressor"] = ZlibCompressor()
        if option == "encrypted":
            key = AESCipher.create_key(16)
            options["cipher"] = AESCipher(Environment(env={"CIPHER_KEY": key}))
        mapper = _library_mapper(**options)
        encoder = compat.StateEncoder(mapper)
        assert encoder.direct == (option == "default")
        for new in self.events():
            ours = encoder.stored_event(
                new.event_class, new.originator_id, new.originator_version, new.fields
            )
            theirs = mapper.to_stored_event(new.to_event())
            assert mapper.to_domain_event(ours) == new.to_event()
            if option == "encrypted":  # a fresh nonce each time: compare what it decrypts to
                assert mapper.to_domain_event(theirs) == mapper.to_domain_event(ours)
                continue
            assert ours == theirs

    def test_a_value_the_plain_encoder_refuses_goes_through_the_transcoder(self) -> None:
        mapper = _library_mapper()
        encoder = compat.StateEncoder(mapper)
        assert encoder.direct
        new = self.events()[1]
        fields = {**new.fields, "overrides": [{"when": datetime(2026, 1, 1, tzinfo=UTC)}]}
        ours = encoder.stored_event(new.event_class, new.originator_id, 2, fields)
        event = new.event_class(originator_id=new.originator_id, originator_version=2, **fields)
        assert ours == mapper.to_stored_event(event)


class TestLargeBatchesSideBySide:
    """Two ledgers (two connections) writing batches of 600 at once: the PostgreSQL COPY
    path under the table lock. Each batch's positions follow its input, no position is
    shared, and on the same workloads the loser of a version race retries on top."""

    @pytest.mark.parametrize("same_workloads", [False, True], ids=["apart", "same"])
    def test_both_batches_land_in_input_order(self, ready_url: str, same_workloads: bool) -> None:
        tenant = f"tenant-{uuid.uuid4().hex[:10]}"
        batches = [
            [
                report(
                    f"rt-{i % 3}" if same_workloads else f"rt-{side}-{i % 3}",
                    tenant=tenant,
                    success=i % 4 != 0,
                    message=f"side {side} message {i}",
                    messageId=f"m-{side}-{i}",
                )
                for i in range(600)
            ]
            for side in range(2)
        ]
        receipts: list[list[Any]] = [[], []]
        errors: list[BaseException] = []

        def write(side: int) -> None:
            try:
                with Ledger.open(ready_url) as ledger:
                    receipts[side] = ledger.record_many(batches[side])
            except BaseException as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=write, args=(side,)) for side in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        for side in range(2):
            positions = [r.position for r in receipts[side]]
            assert positions == sorted(positions)
            assert not any(r.duplicate for r in receipts[side])
        all_positions = [r.position for side in range(2) for r in receipts[side]]
        assert len(set(all_positions)) == 1_200
        with Ledger.open(ready_url) as ledger:
            attempts = sum(
                (ledger.current(tenant, rt) or pytest.fail(rt)).attempts
                for rt in {r.workload_rt_id for side in range(2) for r in receipts[side]}
            )
        assert attempts == 1_200
