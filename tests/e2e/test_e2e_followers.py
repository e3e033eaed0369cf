"""Followers as real processes (issue 3): exactly once under SIGKILL, one leader on PostgreSQL.

`deployledger project --follow` runs as a subprocess. It is killed with SIGKILL at random
moments while writer threads keep recording, then restarted; the view must end up with
exactly the rows a rebuild gives. On PostgreSQL, a second follower waits on the advisory
lock while the first lives, and takes over when the first is killed.
"""

from __future__ import annotations

import random
import signal
import subprocess
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from support import cli_args, cli_env, engine_for, eventually, report, view_rows

from deployledger import Ledger, Receipt
from deployledger.domain.workload.aggregate import workload_id
from deployledger.store.readmodel.runner import FOLLOW_LOCK_KEY, LIVE

TENANTS = ["acme", "globex"]
LEADING = "following (leader); stop with Ctrl-C or SIGTERM"
STANDING_BY = "standing by: another follower is active"
RT_IDS = [f"rt-{n:02d}" for n in range(10)]


class Followers:
    """Starts `deployledger project --follow` children; kills whatever is left at the end."""

    def __init__(self, url: str, folder: Path) -> None:
        self.url = url
        self.folder = folder
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = self.folder / f"follower-{len(self.started)}.log"
        with log.open("wb") as out:
            child = subprocess.Popen(
                cli_args("project", "--follow", "--poll-interval", "0.1", store=self.url),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=cli_env(),
            )
        self.started.append(child)
        return child

    def log(self, child: subprocess.Popen[bytes]) -> str:
        index = self.started.index(child)
        return (self.folder / f"follower-{index}.log").read_text(errors="replace")

    def close(self) -> None:
        for child in self.started:
            if child.poll() is None:
                child.kill()
            child.wait(timeout=30)


@pytest.fixture
def followers(store_url: str, tmp_path: Path) -> Iterator[Followers]:
    with Ledger.open(store_url, create=True):
        pass  # the schema, before any follower opens the store
    made = Followers(store_url, tmp_path)
    yield made
    made.close()


def kill(child: subprocess.Popen[bytes]) -> None:
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL


def stop(child: subprocess.Popen[bytes]) -> int:
    child.send_signal(signal.SIGTERM)
    return child.wait(timeout=30)


class Writers:
    """Threads recording small batches of reports, each with a Ledger of its own."""

    def __init__(self, url: str, count: int) -> None:
        self.url = url
        self.halt = threading.Event()
        self.receipts: list[Receipt] = []
        self.errors: list[BaseException] = []
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(count)
        ]

    def __enter__(self) -> Writers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.halt.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def _run(self, number: int) -> None:
        rng = random.Random(number)
        try:
            with Ledger.open(self.url) as ledger:
                sequence = 0
                while not self.halt.is_set():
                    batch = []
                    for _ in range(rng.randint(1, 6)):
                        sequence += 1
                        tenant, rtid = rng.choice(TENANTS), rng.choice(RT_IDS)
                        batch.append(
                            report(
                                rtid,
                                tenant=tenant,
                                name=f"name-{rtid}",
                                pool="pool-a" if rtid < "rt-05" else None,
                                success=rng.random() < 0.7,
                                message=f"writer {number} report {sequence}",
                            )
                        )
                    receipts = ledger.record_many(batch)
                    with self.lock:
                        self.receipts.extend(receipts)
                    time.sleep(rng.uniform(0, 0.01))
        except BaseException as e:
            self.errors.append(e)


class TestExactlyOnceUnderCrashes:
    @pytest.mark.slow
    def test_sigkilling_the_follower_at_random_moments_loses_and_duplicates_nothing(
        self, store_url: str, followers: Followers
    ) -> None:
        rng = random.Random(20261127)
        positions_at_kill: list[int] = []
        with Ledger.open(store_url) as watcher, Writers(store_url, count=3) as writers:
            child = followers.start()
            for _ in range(2):  # a first follower killed, and one restarted from its position
                # Once the follower is at work, kill it a random moment later.
                seen = positions_at_kill[-1] if positions_at_kill else 0

                def moved(since: int = seen) -> bool:
                    return watcher.read_position() > since

                eventually(moved, 30, "the follower")
                time.sleep(rng.uniform(0, 0.5))
                kill(child)
                positions_at_kill.append(watcher.read_position())
                child = followers.start()
            time.sleep(1.0)
            writers.halt.set()
            for thread in writers.threads:
                thread.join(timeout=60)
            assert writers.errors == []
            # The restarted follower alone brings the view up to date.
            watcher.wait_for(watcher.max_position(), timeout=30)
            assert stop(child) == 0, followers.log(child)
            assert watcher.catch_up() == 0
            final_position = watcher.read_position()

        receipts = writers.receipts
        assert len(receipts) > 50
        assert not any(r.duplicate for r in receipts)
        assert positions_at_kill == sorted(set(positions_at_kill))
        assert final_position == max(r.position for r in receipts)

        with engine_for(store_url) as engine:
            live = view_rows(engine)
            attempt_positions = [row[0] for row in live[1]]
            assert attempt_positions == sorted({r.position for r in receipts})
            per_workload = Counter(workload_id(r.tenant_id, r.workload_rt_id).hex for r in receipts)
            assert {row[2]: row[8] for row in live[0]} == dict(per_workload)

            with Ledger.open(store_url) as ledger:
                result = ledger.rebuild()
            assert result.attempts == len(receipts)
            assert view_rows(engine) == live


def test_a_lone_follower_says_it_leads_and_where_it_stopped(
    followers: Followers, store_url: str
) -> None:
    with Ledger.open(store_url) as ledger:
        receipt = ledger.record(report("rt-00", tenant="acme"))
        child = followers.start()
        eventually(lambda: ledger.read_position() == receipt.position, 30, "the follower")
        eventually(lambda: LEADING in followers.log(child), 30, "the leading line")
    assert stop(child) == 0
    assert followers.log(child).splitlines() == [
        LEADING,
        f"stopped at position {receipt.position}",
    ]


def _lock_key() -> tuple[int, int]:
    key = FOLLOW_LOCK_KEY ^ zlib.crc32(LIVE.encode())
    return key >> 32, key & 0xFFFFFFFF


def _holders(dsn: str) -> list[int]:
    classid, objid = _lock_key()
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 1 "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            (classid, objid),
        ).fetchall()
    return [r[0] for r in rows]


def _waiters(dsn: str, holder: int) -> list[int]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> %s AND query LIKE %s",
            (holder, "SELECT pg_try_advisory_lock%"),
        ).fetchall()
    return [r[0] for r in rows]


@pytest.mark.postgres
class TestOneActiveFollowerOnPostgres:
    def test_a_second_follower_waits_on_the_lock_and_takes_over_when_the_first_is_killed(
        self, fresh_postgres: str, tmp_path: Path
    ) -> None:
        url = fresh_postgres
        with Ledger.open(url, create=True) as ledger:
            followers = Followers(url, tmp_path)
            try:
                first = followers.start()
                holders = eventually(
                    lambda: _holders(url), 30, "the first follower's lock", every=0.05
                )
                assert len(holders) == 1
                leader = holders[0]

                second = followers.start()
                waiting = eventually(
                    lambda: _waiters(url, leader), 30, "a waiting follower", every=0.05
                )
                time.sleep(0.6)  # the second follower retries the lock every 0.5 s
                assert second.poll() is None
                assert _holders(url) == [leader]
                # Each says which it is: the first leads, the second stands by.
                assert followers.log(first).splitlines() == [LEADING]
                eventually(lambda: followers.log(second), 30, "the standing-by line")
                assert followers.log(second).splitlines() == [STANDING_BY]

                before = ledger.record(
                    report("rt-00", tenant="acme", message="while the first leads")
                )
                ledger.wait_for(before.position, timeout=15)

                kill(first)
                takeover = eventually(
                    lambda: [p for p in _holders(url) if p != leader],
                    30,
                    "the takeover",
                    every=0.05,
                )
                assert takeover == [waiting[0]]
                eventually(
                    lambda: LEADING in followers.log(second), 30, "the second's leading line"
                )

                after = ledger.record(
                    report("rt-01", tenant="acme", success=False, message="after the takeover")
                )
                ledger.wait_for(after.position, timeout=15)
                assert stop(second) == 0, followers.log(second)
                assert _holders(url) == []
                assert followers.log(second).splitlines() == [
                    STANDING_BY,
                    LEADING,
                    f"stopped at position {after.position}",
                ]
            finally:
                followers.close()

            page = ledger.audit(tenant_id="acme")
        assert [a.position for a in page.items] == [after.position, before.position]
