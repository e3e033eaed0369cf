"""The sink worker's own logic against an in-memory store and sender: when the cursor is
committed, how failures back off and become dead letters."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest

from deployledger import Attempt, DeploymentState
from deployledger.domain.sinks import DeadLetter, DeliveryItem, Outgoing, Sink
from deployledger.service import sinks as service
from deployledger.service.sinks import DeliveryFailed, Sinks, SinkStorePort

pytestmark = pytest.mark.timeout(30)
AT = datetime(2026, 12, 7, tzinfo=UTC)


def _item(position: int) -> DeliveryItem:
    attempt = Attempt(
        tenant_id="t",
        workload_rt_id=f"w{position % 3}",
        attempt=1,
        recorded_at=AT,
        reported_at=None,
        success=True,
        state=DeploymentState.DEPLOYED,
        status_message=None,
        workload_name="w",
        pool_name=None,
        message_id=None,
        position=position,
    )
    return DeliveryItem(position, "t", f"w{position % 3}", "w", None, AT, attempt)


class FakeSinkStore(SinkStorePort):
    def __init__(self, sink: Sink, events: int) -> None:
        self.sink = sink
        self.items = [_item(p) for p in range(1, events + 1)]
        self.calls: list[tuple[Any, ...]] = []
        self.dead_list: list[DeadLetter] = []

    def add(self, sink: Sink) -> None:
        self.sink = sink

    def all(self) -> list[Sink]:
        return [self.sink]

    def get(self, name: str) -> Sink | None:
        return self.sink

    def remove(self, name: str) -> bool:
        return True

    def read_position(self) -> int:
        return len(self.items)

    def pending(self, after: int, upto: int, limit: int) -> tuple[list[DeliveryItem], int]:
        found = [i for i in self.items if after < i.position <= upto][:limit]
        return found, (found[-1].position if len(found) == limit else upto)

    def at(self, positions: list[int]) -> list[DeliveryItem]:
        return [i for i in self.items if i.position in positions]

    def advance(self, name: str, position: int, delivered: int) -> None:
        self.calls.append(("advance", position, delivered))
        if position > self.sink.position:
            self.sink = replace(self.sink, position=position, failures=0, next_try_at=None)

    def failed(
        self,
        name: str,
        position: int,
        delivered: int,
        failures: int,
        error: str,
        retry_at: datetime,
    ) -> None:
        self.calls.append(("failed", position, delivered, failures))
        self.sink = replace(self.sink, position=position, failures=failures)

    def dead(
        self, name: str, item: DeliveryItem, delivered: int, attempts: int, error: str
    ) -> None:
        self.calls.append(("dead", item.position, delivered, attempts))
        self.sink = replace(self.sink, position=item.position, failures=0)
        self.dead_list.append(DeadLetter(name, item.position, "t", "w", attempts, error, AT))

    def dead_letters(
        self, name: str | None = None, *, retry_only: bool = False
    ) -> list[DeadLetter]:
        return [d for d in self.dead_list if d.retry or not retry_only]

    def ask_retry(self, name: str, position: int | None = None) -> int:
        return 0

    def redelivered(self, name: str, position: int) -> None:
        pass

    def still_dead(self, name: str, position: int, attempts: int, error: str) -> None:
        pass

    @contextmanager
    def _lead(self) -> Iterator[bool]:
        yield True

    def lead(self, name: str, stop: threading.Event, *, wait: bool = True) -> Any:
        return self._lead()

    def close(self) -> None:
        pass


class FakeSender:
    """Fails the positions in `failing` that many times each; records what it sent."""

    failing: ClassVar[dict[int, int]] = {}
    sent: ClassVar[list[int]] = []

    def post(self, out: Outgoing, timeout: float) -> int:
        position = int(out.headers["id"])
        if FakeSender.failing.get(position, 0) > 0:
            FakeSender.failing[position] -= 1
            raise DeliveryFailed("HTTP 500")
        FakeSender.sent.append(position)
        return 200

    def close(self) -> None:
        pass


@pytest.fixture
def sender(monkeypatch: pytest.MonkeyPatch) -> type[FakeSender]:
    monkeypatch.setattr(service, "Sender", FakeSender)
    FakeSender.failing, FakeSender.sent = {}, []
    return FakeSender


def _render(sink: Sink, item: DeliveryItem) -> Outgoing:
    return Outgoing(sink.url, b"{}", {"id": str(item.position)})


def _sinks(store: FakeSinkStore) -> Sinks:
    return Sinks(store, lambda: len(store.items))


def test_the_cursor_is_committed_every_hundred_deliveries_not_after_each(
    sender: type[FakeSender],
) -> None:
    store = FakeSinkStore(Sink("s", "webhook", "http://h/"), 250)
    _sinks(store).deliver(_render)
    assert sender.sent == list(range(1, 251))
    advances = [c for c in store.calls if c[0] == "advance"]
    assert len(advances) <= 4
    assert advances[-1][1] == 250
    assert sum(c[2] for c in advances) == 250


def test_a_failing_delivery_backs_off_then_succeeds_in_order(sender: type[FakeSender]) -> None:
    sender.failing = {3: 2}
    store = FakeSinkStore(Sink("s", "webhook", "http://h/", backoff=0.001), 5)
    _sinks(store).deliver(_render)
    assert sender.sent == [1, 2, 3, 4, 5]
    failed = [c for c in store.calls if c[0] == "failed"]
    assert [(c[1], c[3]) for c in failed] == [(2, 1), (2, 2)]  # cursor before 3; 1st, 2nd
    assert store.sink.position == 5
    assert store.dead_list == []


def test_after_max_attempts_a_delivery_is_a_dead_letter_and_the_rest_goes_on(
    sender: type[FakeSender],
) -> None:
    sender.failing = {2: 100}
    store = FakeSinkStore(Sink("s", "webhook", "http://h/", max_attempts=3, backoff=0.001), 4)
    _sinks(store).deliver(_render)
    assert sender.sent == [1, 3, 4]
    # the delivery before it was counted with the first failure, which committed the cursor
    assert [c for c in store.calls if c[0] != "advance"] == [
        ("failed", 1, 1, 1),
        ("failed", 1, 0, 2),
        ("dead", 2, 0, 3),
    ]
    assert [d.position for d in store.dead_list] == [2]
    assert store.sink.position == 4
