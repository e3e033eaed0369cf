"""The writing connection outlives the server ending its session.

A restart, a failover or `pg_terminate_backend` ends every session; the writer notices its
idle connection was closed by the server before it writes (one `select` with no wait), and
writes on a new connection: the write succeeds, once, with no error for the caller.
"""

from __future__ import annotations

import psycopg
import pytest
from support import report

from deployledger import Ledger


@pytest.mark.postgres
def test_a_write_after_the_server_ended_every_session_succeeds_once(
    postgres_ready_url: str,
) -> None:
    with Ledger.open(postgres_ready_url) as ledger:
        first = ledger.record(report("rt-term", tenant="term", messageId="t-1"))
        dbname = postgres_ready_url.rsplit("/", 1)[1]
        with psycopg.connect(postgres_ready_url, autocommit=True) as admin:
            ended = admin.execute(
                "SELECT count(pg_terminate_backend(pid, 10000)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (dbname,),
            ).fetchone()
        assert ended is not None
        assert ended[0] >= 1  # the writer's session, at least
        second = ledger.record(report("rt-term", tenant="term", messageId="t-2"))
        assert (first.attempt, second.attempt) == (1, 2)
        assert not second.duplicate
        assert [a.message_id for a in ledger.history("term", "rt-term")] == ["t-2", "t-1"]
