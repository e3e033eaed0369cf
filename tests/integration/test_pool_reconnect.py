"""The event store's PostgreSQL pool replaces lost connections at least every second, and
says so in the log once per `REPEAT_EVERY` (deployledger.store.events.reconnect).

A pool on a port nothing listens on stands for a server that is down: every try to
connect is refused at once, on the schedule under test.
"""

from __future__ import annotations

import importlib.metadata
import itertools
import logging
import socket
import time
from typing import Any

import pytest
from eventsourcing.postgres import PostgresDatastore

from deployledger.domain.storeurl import parse_store_url
from deployledger.store.events import reconnect
from deployledger.store.events.application import LedgerApplication


def refused_port() -> int:
    with socket.socket() as probe:  # a free port, closed again: connecting is refused
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def reconnect_tries(cap: float | None, seconds: float) -> list[float]:
    """When a one-connection pool on a refused port tried to connect, over `seconds` from
    its opening, with the reconnect delay capped at `cap` (or not)."""
    datastore = PostgresDatastore(
        "none", "127.0.0.1", refused_port(), "postgres", "", connect_timeout=1
    )
    pool = datastore.pool
    if cap is not None:
        assert reconnect.cap_reconnect_delay(pool, cap)
    tries: list[float] = []
    connect = pool._connect

    def counted(timeout: float | None = None) -> Any:
        tries.append(time.monotonic())
        return connect(timeout=timeout)

    pool._connect = counted  # type: ignore[method-assign]
    started = time.monotonic()
    pool.open(wait=False)
    try:
        time.sleep(seconds)
    finally:
        pool.close(timeout=1)
    return [t - started for t in tries if t - started <= seconds]


def test_the_installed_psycopg_pool_is_a_checked_one() -> None:
    version = importlib.metadata.version("psycopg-pool")
    assert tuple(int(p) for p in version.split(".")[:2]) in {(3, 2), (3, 3)}, (
        f"psycopg-pool {version}: re-check deployledger.store.events.reconnect's assumptions"
    )


def test_a_capped_pool_tries_again_at_least_every_cap_seconds() -> None:
    uncapped = reconnect_tries(None, 2.0)  # tries at 0 and about 1 s, then 3 s, 7 s ...
    capped = reconnect_tries(0.1, 2.0)
    assert 1 <= len(uncapped) <= 2, uncapped
    assert len(capped) >= 8, capped
    gaps = [b - a for a, b in itertools.pairwise(capped)]
    assert max(gaps) < 0.8, gaps


def test_a_capped_pool_says_it_cannot_connect_once_per_repeat_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="psycopg.pool")
    tries = reconnect_tries(0.1, 1.0)
    said = [r for r in caplog.records if r.msg == "error connecting in %r: %s"]
    assert len(tries) >= 5
    assert len(said) == 1, [r.getMessage() for r in said]
    caplog.clear()
    uncapped = reconnect_tries(None, 2.0)  # a pool not capped here: every warning goes through
    assert len(uncapped) >= 2
    assert len([r for r in caplog.records if r.msg == "error connecting in %r: %s"]) == len(
        uncapped
    )


@pytest.mark.postgres
def test_the_event_store_pool_is_capped(postgres_ready_url: str) -> None:
    app = LedgerApplication(parse_store_url(postgres_ready_url))
    try:
        pool: Any = app.factory.datastore.pool  # type: ignore[attr-defined]
        assert pool._add_connection.__name__ == "add_connection"
    finally:
        app.close()
