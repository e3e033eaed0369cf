"""Backpressure of the group-commit writer, through the HTTP service, on both backends.

While another session holds the write lock, the worker's writer is stuck on its first
batch. `--commit-queue 1` lets one more request wait; every request after it is answered
503 with Retry-After at once (never an unbounded wait), and stores nothing. When the lock
is released, every waiting request is answered 201 after its commit.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from http_support import bearer, in_process, problem_of
from support import is_sqlite, report, sqlite_path

from deployledger import Ledger

MAX_REQUESTS = 10
PENDING = 0.3  # seconds a request waits before the next one is sent


@contextmanager
def writes_blocked(url: str) -> Iterator[None]:
    """Another session holds the store's write lock (reads go on) until the block ends."""
    if is_sqlite(url):
        conn = sqlite3.connect(sqlite_path(url), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    with psycopg.connect(url) as pg:
        pg.execute("LOCK TABLE deployledger_events IN EXCLUSIVE MODE")
        yield
        pg.rollback()


def test_a_full_write_queue_answers_503_at_once_and_stores_nothing(migrated_url: str) -> None:
    answers: dict[int, Any] = {}
    with in_process(migrated_url, group_commit=True, commit_queue=1, commit_wait=0) as (
        client,
        tokens,
    ):

        def post(number: int) -> None:
            body = report(f"rt-{number}", tenant="acme", messageId=f"m-{number}")
            answers[number] = client.post("/v1/reports", json=body, headers=bearer(tokens.acme))

        threads = []
        with writes_blocked(migrated_url):
            for number in range(MAX_REQUESTS):
                thread = threading.Thread(target=post, args=(number,))
                thread.start()
                threads.append(thread)
                thread.join(PENDING)
                if not thread.is_alive():
                    break  # answered while the writer is stuck: the queue is full
            refused = [n for n, a in answers.items() if a.status_code == 503]
            assert refused, f"no 503 within {MAX_REQUESTS} requests: {answers}"
            held_at_release = sorted(n for n in range(len(threads)) if n not in answers)
            time.sleep(0.1)
        for thread in threads:
            thread.join(30)
    problem = problem_of(answers[refused[0]], 503)
    assert "queue is full" in problem["detail"]
    assert int(answers[refused[0]].headers["Retry-After"]) >= 1
    # The writer's batch and the one queued request: no more, no less.
    assert 1 <= len(held_at_release) <= 2, held_at_release
    assert [answers[n].status_code for n in held_at_release] == [201] * len(held_at_release)
    with Ledger.open(migrated_url) as ledger:
        stored = {a.message_id for a in ledger.audit(tenant_id="acme", limit=100).items}
    assert stored == {f"m-{n}" for n in held_at_release}
