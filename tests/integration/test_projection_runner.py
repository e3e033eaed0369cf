"""The projection runner in one process (issue 3): read-your-writes, catch-up, follow, gaps.

- The facade's queries see the process's own writes with no extra call.
- `wait_for(position, timeout)` returns once the view has the position, and raises
  `ProjectionBehind` promptly when nothing catches up.
- `catch_up()` applies in batches of at least 1,000 events by default.
- `follow()` keeps the view live: LISTEN/NOTIFY on PostgreSQL, polling on SQLite.
- Gaps in PostgreSQL notification ids neither stall nor break the runner.
- On PostgreSQL, every write path (the insert function, COPY for a large batch), in any
  schema, NOTIFYs the channel the follower LISTENs on; and an insert that sends no NOTIFY
  (a raw INSERT, as a restore would make) is still applied within the poll interval.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from support import (
    create_database,
    drop_database,
    engine_for,
    projection_runner,
    report,
    reports,
    view_rows,
)

from deployledger import Ledger, ProjectionBehind, StoreUnavailable
from deployledger.domain.storeurl import parse_store_url
from deployledger.store.events.application import events_table
from deployledger.store.events.recorders import COPY_FROM

# For `reports()`: two of every three reports succeed, and each says which one it is.
MIXED: dict[str, Any] = {"success": lambda n, _: n % 3 != 2, "message": lambda n, _: f"report {n}"}


@pytest.fixture
def url(store_url: str) -> str:
    """The test's store, with its schema."""
    with Ledger.open(store_url, create=True):
        pass
    return store_url


class FollowerThread:
    """`Ledger.follow()` in a thread, with a Ledger of its own, stopped and joined on exit."""

    def __init__(self, url: str, poll_interval: float) -> None:
        self.ledger = Ledger.open(url)
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, args=(poll_interval,), daemon=True)

    def _run(self, poll_interval: float) -> None:
        try:
            self.ledger.follow(self.stop, poll_interval=poll_interval)
        except BaseException as e:
            self.errors.append(e)

    def __enter__(self) -> FollowerThread:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=60)
        assert not self.thread.is_alive()
        self.ledger.close()
        assert self.errors == []


class TestReadYourWrites:
    def test_audit_and_workloads_see_the_processs_own_write_with_no_extra_call(
        self, url: str
    ) -> None:
        with Ledger.open(url) as ledger:
            for number in range(3):
                receipt = ledger.record(report("rt-ryw", message=f"report {number}"))

                page = ledger.audit(limit=1)
                fleet = ledger.workloads()

                assert page.items[0].position == receipt.position
                assert page.items[0].attempt == number + 1
                assert [(w.workload_rt_id, w.attempts) for w in fleet] == [("rt-ryw", number + 1)]

    def test_a_second_ledger_in_the_process_sees_the_first_ones_write_at_once(
        self, url: str
    ) -> None:
        with Ledger.open(url) as writer, Ledger.open(url) as reader:
            assert reader.audit().items == []
            receipt = writer.record(report("rt-other", success=False))

            page = reader.audit(success=False)
            fleet = reader.workloads(state="error")

        assert [a.position for a in page.items] == [receipt.position]
        assert [w.workload_rt_id for w in fleet] == ["rt-other"]

    def test_wait_for_raises_projection_behind_quickly_when_nothing_catches_up(
        self, url: str
    ) -> None:
        with Ledger.open(url) as ledger:
            receipt = ledger.record(report("rt-wait"))
            assert ledger.read_position() == 0

            started = time.monotonic()
            with pytest.raises(ProjectionBehind, match=str(receipt.position)):
                ledger.wait_for(receipt.position, timeout=0.3)
            assert time.monotonic() - started < 2.0

            assert ledger.catch_up() == 2  # registration + attempt
            started = time.monotonic()
            ledger.wait_for(receipt.position, timeout=0.3)
            assert time.monotonic() - started < 0.3
            assert ledger.read_position() == receipt.position

    def test_wait_for_returns_as_soon_as_another_thread_catches_up(self, url: str) -> None:
        with Ledger.open(url) as ledger, Ledger.open(url) as other:
            receipt = ledger.record(report("rt-later"))
            catcher = threading.Timer(0.3, other.catch_up)
            catcher.start()
            try:
                started = time.monotonic()
                ledger.wait_for(receipt.position, timeout=10)
                waited = time.monotonic() - started
            finally:
                catcher.join()

        assert 0.2 < waited < 3.0

    def test_catch_up_applies_each_event_once_and_then_nothing(self, url: str) -> None:
        with Ledger.open(url) as ledger:
            receipts = ledger.record_many(reports(10, rtid=lambda n, _: f"rt-{n % 4}", **MIXED))
            assert ledger.catch_up() == 14  # 4 registrations + 10 attempts
            assert ledger.catch_up() == 0
            # One batch is saved workload by workload: the last receipt is not the newest.
            assert ledger.read_position() == max(r.position for r in receipts)
            assert len(ledger.audit(limit=100).items) == 10


class TestBatches:
    def test_catch_up_commits_batches_of_at_least_a_thousand_events_by_default(
        self, url: str
    ) -> None:
        with Ledger.open(url) as ledger:
            for chunk in range(5):
                ledger.record_many(
                    reports(500, rtid=lambda n, _: f"rt-{n}", success=chunk % 3 != 2)
                )
            batches: list[tuple[int, int]] = []
            with engine_for(url) as engine:
                applied = projection_runner(ledger, engine).catch_up(
                    progress=lambda done, position: batches.append((done, position))
                )
            total = ledger.max_position()

        assert applied == total == 3000
        assert [done for done, _ in batches][:-1] == [2000]
        assert all(done >= 1000 for done, _ in batches)
        assert batches[-1][1] == total

    def test_catch_up_until_stops_at_that_position(self, url: str) -> None:
        with Ledger.open(url) as ledger:
            receipts = ledger.record_many(reports(6, rtid="rt-until", **MIXED))
            with engine_for(url) as engine:
                runner = projection_runner(ledger, engine, batch_size=2)
                assert runner.catch_up(until=receipts[2].position) == 4
                assert runner.position() == receipts[2].position
                assert runner.catch_up() == 3


class TestFollow:
    def test_a_follower_thread_keeps_the_view_live_while_writes_arrive(self, url: str) -> None:
        with Ledger.open(url) as writer, FollowerThread(url, poll_interval=0.1):
            for number in range(5):
                receipt = writer.record(report("rt-follow", message=f"report {number}"))
                writer.wait_for(receipt.position, timeout=10)
            assert writer.read_position() == receipt.position

    @pytest.mark.postgres
    def test_on_postgres_notify_wakes_the_follower_long_before_its_poll_interval(
        self, pg_url: str
    ) -> None:
        with waiting_follower(pg_url, poll_interval=15) as (writer, _):
            second = writer.record(report("rt-notify", message="second"))
            started = time.monotonic()
            writer.wait_for(second.position, timeout=10)
            assert time.monotonic() - started < 3

    @pytest.mark.postgres
    def test_on_postgres_setting_stop_ends_follow_within_a_second_whatever_the_poll_interval(
        self, pg_url: str
    ) -> None:
        with waiting_follower(pg_url, poll_interval=30) as (_, follower):
            started = time.monotonic()
            follower.stop.set()
            follower.thread.join(timeout=10)
            stopped_after = time.monotonic() - started
        assert stopped_after < 1.0


@contextmanager
def waiting_follower(url: str, poll_interval: float) -> Iterator[tuple[Ledger, FollowerThread]]:
    """A writer, and a follower thread past its first catch-up, waiting for a notification."""
    with Ledger.open(url) as writer:
        first = writer.record(report("rt-notify"))
        with FollowerThread(url, poll_interval) as follower:
            writer.wait_for(first.position, timeout=10)  # past its first catch-up
            time.sleep(0.3)  # now waiting for a notification
            yield writer, follower


class LockHolder:
    """Another connection holding the projection's lock: SQLite's write lock, or the
    PostgreSQL tracking row (as a rebuild's switch or a long catch-up batch does)."""

    def __init__(self, url: str) -> None:
        parsed = parse_store_url(url)
        self.conn: Any
        if parsed.is_postgres:
            self.conn = psycopg.connect(url)
            self.conn.execute(
                "SELECT position FROM projection_tracking WHERE name = 'read_model' FOR UPDATE"
            )
        else:
            self.conn = sqlite3.connect(parsed.path, isolation_level=None)
            self.conn.execute("BEGIN IMMEDIATE")

    def __enter__(self) -> LockHolder:
        return self

    def __exit__(self, *_: object) -> None:
        self.conn.rollback()
        self.conn.close()


class TestQueriesAndTheProjectionLock:
    def test_a_query_that_must_catch_up_raises_store_unavailable_after_the_lock_timeout(
        self, url: str
    ) -> None:
        with Ledger.open(url, lock_timeout=0.2) as ledger:
            ledger.record(report("rt-first"))
            ledger.catch_up()  # the tracking row exists
            receipt = ledger.record(report("rt-locked"))
            with LockHolder(url):
                for query in (ledger.workloads, ledger.audit):
                    started = time.monotonic()
                    with pytest.raises(StoreUnavailable):
                        query()
                    assert time.monotonic() - started < 2.0
            assert ledger.audit().items[0].position == receipt.position

    def test_a_query_on_an_up_to_date_view_answers_while_the_lock_is_held(self, url: str) -> None:
        with Ledger.open(url, lock_timeout=0.2) as ledger:
            receipt = ledger.record(report("rt-fresh"))
            ledger.catch_up()
            with LockHolder(url):
                fleet = ledger.workloads()
                page = ledger.audit()
        assert [w.workload_rt_id for w in fleet] == ["rt-fresh"]
        assert [a.position for a in page.items] == [receipt.position]


@pytest.fixture
def pg_url(fresh_postgres: str) -> str:
    with Ledger.open(fresh_postgres, create=True):
        pass
    return fresh_postgres


def burn_notification_ids(url: str, count: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(count):
            conn.execute("SELECT nextval('deployledger_events_notification_id_seq')")


def failed_insert(url: str) -> None:
    """An insert that takes a notification id and then fails (duplicate key)."""
    with psycopg.connect(url) as conn:
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(
                "INSERT INTO deployledger_events (originator_id, originator_version, topic, state) "
                "SELECT originator_id, originator_version, topic, state "
                "FROM deployledger_events LIMIT 1"
            )
        conn.rollback()


@pytest.mark.postgres
class TestPostgresNotificationIdGaps:
    def test_catch_up_applies_everything_after_gaps_from_nextval_and_a_failed_insert(
        self, pg_url: str
    ) -> None:
        with Ledger.open(pg_url) as ledger:
            before = ledger.record(report("rt-gap"))
            assert ledger.catch_up() == 2
            burn_notification_ids(pg_url, 3)
            failed_insert(pg_url)

            after = ledger.record_many(reports(3, first=1, rtid="rt-gap", **MIXED))

            assert after[0].position == before.position + 5  # 3 nextval + 1 failed insert
            assert ledger.catch_up() == 3
            assert ledger.read_position() == after[-1].position
            page = ledger.audit(workload_rt_id="rt-gap")
            assert [a.position for a in page.items] == [
                *(r.position for r in reversed(after)),
                before.position,
            ]
            assert [w.attempts for w in ledger.workloads()] == [4]

    def test_a_gap_wider_than_the_batch_size_does_not_stall_catch_up(self, pg_url: str) -> None:
        with Ledger.open(pg_url) as ledger:
            ledger.record(report("rt-wide"))
            with psycopg.connect(pg_url, autocommit=True) as conn:
                conn.execute(
                    "SELECT setval('deployledger_events_notification_id_seq', "
                    "(SELECT max(notification_id) FROM deployledger_events) + 50000)"
                )
            after = ledger.record_many(reports(4, rtid=lambda n, _: f"rt-w{n}", **MIXED))
            with engine_for(pg_url) as engine:
                runner = projection_runner(ledger, engine, batch_size=3)
                assert runner.catch_up() == 2 + 8
                assert runner.position() == after[-1].position > 50000

    def test_a_follower_is_not_stalled_by_a_gap(self, pg_url: str) -> None:
        with Ledger.open(pg_url) as writer, FollowerThread(pg_url, poll_interval=0.2):
            first = writer.record(report("rt-fgap"))
            writer.wait_for(first.position, timeout=10)
            burn_notification_ids(pg_url, 7)
            failed_insert(pg_url)
            second = writer.record(report("rt-fgap", message="report 1"))
            writer.wait_for(second.position, timeout=10)
            assert second.position == first.position + 9


@pytest.mark.postgres
class TestPostgresNotifyReachesTheFollower:
    """Whatever the write path and the schema, the follower hears of new events at once;
    and an insert that sends no NOTIFY waits at most for the next poll."""

    @pytest.mark.parametrize("schema", ["public", "ledger_ops"])
    @pytest.mark.parametrize("batch", [1, COPY_FROM], ids=["insert-function", "copy"])
    def test_every_write_path_wakes_a_waiting_follower_in_any_schema(
        self, fresh_postgres: str, schema: str, batch: int
    ) -> None:
        url = f"{fresh_postgres}?schema={schema}"
        with Ledger.open(url, create=True):
            pass
        # A poll interval far longer than the bound below: only a NOTIFY can wake it.
        with waiting_follower(url, poll_interval=120) as (writer, _):
            sent = reports(batch, rtid=lambda n, _: f"rt-batch-{n % 7}", **MIXED)
            started = time.monotonic()
            last = writer.record_many(sent)[-1]
            writer.wait_for(last.position, timeout=30)
            assert time.monotonic() - started < 15

    @pytest.mark.timeout(120)
    def test_a_follower_applies_events_inserted_without_notify_within_its_poll_interval(
        self, pg_url: str, postgres_admin_dsn: str
    ) -> None:
        poll_interval = 1.0
        elsewhere = create_database(postgres_admin_dsn)
        try:
            rows = stored_rows_of(elsewhere, reports(3, rtid="rt-silent", **MIXED))
        finally:
            drop_database(postgres_admin_dsn, elsewhere)
        channel = events_table(parse_store_url(pg_url))
        with (
            waiting_follower(pg_url, poll_interval=poll_interval) as (writer, _),
            psycopg.connect(pg_url, autocommit=True) as listener,
        ):
            listener.execute(f'LISTEN "{channel}"')
            started = time.monotonic()
            last = insert_without_notify(pg_url, rows)
            # Control: the insert was announced to nobody.
            assert list(listener.notifies(timeout=0.3)) == []
            writer.wait_for(last, timeout=poll_interval + 10)
            assert time.monotonic() - started < poll_interval + 3
            assert "rt-silent" in [w.workload_rt_id for w in writer.workloads()]


def stored_rows_of(url: str, sent: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The stored events that recording `sent` makes, read back from a store at `url`."""
    with Ledger.open(url, create=True) as ledger:
        ledger.record_many(sent)
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT originator_id, originator_version, topic, state "
            "FROM deployledger_events ORDER BY notification_id"
        ).fetchall()


def insert_without_notify(url: str, rows: list[tuple[Any, ...]]) -> int:
    """A plain INSERT of stored events, as a restore would make: no NOTIFY. Returns the
    last new position."""
    with psycopg.connect(url) as conn:
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO deployledger_events "
                "(originator_id, originator_version, topic, state) VALUES (%s, %s, %s, %s)",
                rows,
            )
        row = conn.execute("SELECT max(notification_id) FROM deployledger_events").fetchone()
        assert row is not None
        return int(row[0])


class TestSeparateReadModelDatabase:
    def test_the_view_lives_in_the_read_model_database_and_follows_the_events(
        self, store_url: str, tmp_path: Path
    ) -> None:
        views_url = f"sqlite:///{tmp_path / 'views.db'}"
        with Ledger.open(store_url, create=True, read_model_url=views_url) as ledger:
            receipts = ledger.record_many(reports(5, rtid=lambda n, _: f"rt-{n % 2}", **MIXED))
            page = ledger.audit(limit=10)
            fleet = ledger.workloads()
            result = ledger.rebuild()
            position = ledger.read_position()

        assert sorted(a.position for a in page.items) == sorted(r.position for r in receipts)
        assert [w.attempts for w in fleet] == [3, 2]
        assert (result.workloads, result.attempts) == (2, 5)
        assert position == max(r.position for r in receipts)
        for url, attempts in ((views_url, 5), (store_url, 0)):
            with engine_for(url) as engine:
                assert len(view_rows(engine)[1]) == attempts, url
