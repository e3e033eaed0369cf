"""Multi-host store URLs on a replicated PostgreSQL (issue 21, section 1): a primary and an
asynchronous standby, private clusters started once for the module.

- libpq's host list is honoured by every command: a dead host is passed over for the next,
  and with `target_session_attrs=read-write` the standby is passed over for the primary,
  wherever it stands in the list.
- A write that reaches a read-only server (the standby) is retryable: exit 3 on the CLI,
  503 with Retry-After from `serve`, never a 500; `/readyz` says which server writes go to,
  and answers 503 when it is a standby.
- `project --follow` lives through a crash of the primary without being restarted.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from http_harness import Service, admin_token, require, running
from support import Cli, Runner, report, spawn

from deployledger import Ledger
from devtools.private_postgres import free_port, unavailable
from devtools.replicated_postgres import ReplicatedPair

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def pair() -> Iterator[ReplicatedPair]:
    require(unavailable(), "private PostgreSQL clusters")
    with ReplicatedPair.start(synchronous=False) as made:
        url = made.create_database("ledger")
        Runner()("migrate", store=url)
        made.wait_caught_up()
        yield made


def hosts_url(pair: ReplicatedPair, *ports: int, target: str | None = None) -> str:
    hosts = ",".join(f"127.0.0.1:{port}" for port in ports)
    query = f"?target_session_attrs={target}" if target else ""
    return f"postgresql://postgres@{hosts}/ledger{query}"


def test_a_dead_host_and_a_standby_are_passed_over_for_the_primary(
    pair: ReplicatedPair, cli: Cli
) -> None:
    dead = free_port()
    url = hosts_url(pair, dead, pair.standby.port, pair.primary.port, target="read-write")
    done = cli("record", "-", store=url, stdin=_line(report("rt-hosts", messageId="hosts-1")))
    assert "recorded" in done.out + done.err
    status = cli("status", "-o", "json", store=url).json()
    assert any(w["workloadRtId"] == "rt-hosts" for w in status)
    with Ledger.open(url) as ledger:
        server = ledger.store_server()
    assert server is not None
    assert (server.port, server.primary) == (pair.primary.port, True)
    # The redacted URL in messages lists every host.
    bad = cli("show", "t", "nope", store=url, expect=None)
    assert bad.code != 0


def test_a_write_to_a_read_only_server_is_retryable_on_the_cli(
    pair: ReplicatedPair, cli: Cli
) -> None:
    standby_only = hosts_url(pair, pair.standby.port)
    before = _events(pair)
    done = cli("record", "-", store=standby_only, stdin=_line(report("rt-ro")), expect=3)
    assert "read-only" in done.err, done.err
    assert "target_session_attrs=read-write" in done.err, done.err
    assert "Traceback" not in done.err
    assert _events(pair) == before  # nothing stored anywhere


def test_serve_on_a_standby_answers_503_and_readyz_names_the_server(
    pair: ReplicatedPair, tmp_path: Path
) -> None:
    token = admin_token(pair.url("ledger"))
    pair.wait_caught_up()  # the token is on the standby too
    standby_first = hosts_url(pair, pair.standby.port, pair.primary.port, target="any")
    with running(Service(standby_first, tmp_path, extra=("--no-follow",))) as (service,):
        ready = httpx.get(service.url + "/readyz", timeout=10)
        assert ready.status_code == 503, ready.text
        body = ready.json()
        assert body["serverRole"] == "standby"
        assert body["server"] == f"127.0.0.1:{pair.standby.port}"
        assert "no primary is reachable" in body["reason"]
        posted = httpx.post(
            service.url + "/v1/reports",
            json=report("rt-503", messageId="ro-1"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert posted.status_code == 503, posted.text
        assert posted.headers.get("Retry-After", "").isdigit()
        assert "read-only" in posted.text
        assert "Traceback" not in service.log()
    primary_first = pair.url("ledger")
    with running(Service(primary_first, tmp_path, extra=("--no-follow",))) as (service,):
        body = httpx.get(service.url + "/readyz", timeout=10).json()
        assert (body["serverRole"], body["server"]) == (
            "primary",
            f"127.0.0.1:{pair.primary.port}",
        )


def test_project_follow_outlives_a_crash_of_the_primary(
    pair: ReplicatedPair, tmp_path: Path
) -> None:
    url = pair.url("ledger")
    follower = spawn("project", "--follow", store=url)
    try:
        follower.wait_for_stderr("following")
        _record(url, "rt-follow-1")
        _wait_applied(url)
        pair.primary.restart(mode="immediate")  # a crash, recovered from the WAL
        _record(url, "rt-follow-2")
        _wait_applied(url)
    finally:
        follower.send_signal(signal.SIGTERM)
    done = follower.result(expect=0)
    assert "reconnecting" in done.err, done.err
    assert "Traceback" not in done.err


def _line(body: dict[str, object]) -> str:
    import json

    return json.dumps(body) + "\n"


def _events(pair: ReplicatedPair) -> int:
    with psycopg.connect(pair.primary.url("ledger"), autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM deployledger_events").fetchone()
    return int(row[0]) if row else 0


def _record(url: str, rtid: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with Ledger.open(url) as ledger:
                ledger.record(report(rtid, messageId=f"{rtid}-1"))
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _wait_applied(url: str, timeout: float = 60) -> None:
    with Ledger.open(url) as ledger:
        top = ledger.max_position()
        deadline = time.monotonic() + timeout
        while ledger.read_position() < top:
            assert time.monotonic() < deadline, "the follower did not apply the new events"
            time.sleep(0.05)
