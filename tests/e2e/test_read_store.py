"""Reads from a standby (issue 21, section 4): `--read-store` on the CLI and `serve` sends
every query to a streaming standby of the primary, which holds the replicated events and
read model; writes stay on the primary. A read with `minPosition` waits (a bounded time)
for the standby to reach that position, then reads from the primary and says so.

One private primary with an asynchronous standby (devtools/replicated_postgres.py) is started
for the whole module; the standby is held back with `pg_wal_replay_pause()`. The CLI
commands run in this process (`run_in_process`: what the installed script runs, without a
start-up of a second or more each).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from http_harness import require
from http_support import Tokens, bearer, in_process
from support import report, run_in_process

from deployledger import Ledger
from devtools.private_postgres import unavailable
from devtools.replicated_postgres import ReplicatedPair

TENANT = "acme"
WAIT = 0.6  # the read wait of these tests, in seconds


@pytest.fixture(scope="module")
def pair() -> Iterator[ReplicatedPair]:
    require(unavailable(), "a private PostgreSQL cluster")
    with ReplicatedPair.start(synchronous=False) as made:
        yield made


class Stores:
    def __init__(self, pair: ReplicatedPair, name: str) -> None:
        self.pair = pair
        pair.create_database(name)
        self.primary = pair.url(name)
        self.standby = pair.standby.url(name)
        with Ledger.open(self.primary, create=True):
            pass

    def record(self, rtid: str, **fields: Any) -> int:
        """Record one report on the primary and project it there; return its position."""
        with Ledger.open(self.primary) as ledger:
            receipt = ledger.record(report(rtid, tenant=TENANT, **fields))
            ledger.catch_up()
        return receipt.position


@pytest.fixture(scope="module")
def stores(pair: ReplicatedPair) -> Stores:
    made = Stores(pair, "reads")
    made.record("64f1c0ffee00000000000001", success=True)
    made.record("64f1c0ffee00000000000002", success=False, message="helm upgrade failed")
    pair.wait_caught_up()
    return made


@pytest.fixture
def paused(pair: ReplicatedPair) -> Iterator[None]:
    pair.pause_replay()
    try:
        yield
    finally:
        pair.resume_replay()
        pair.wait_caught_up()


def _cli(stores: Stores, *args: str, expect: int | None = 0) -> Any:
    return run_in_process(
        "--read-store",
        stores.standby,
        "--read-wait",
        str(WAIT),
        *args,
        store=stores.primary,
        expect=expect,
    )


def _message(stores: Stores, rtid: str, *, read_store: bool = True) -> str | None:
    args = ("show", "--json", TENANT, rtid)
    done = _cli(stores, *args) if read_store else run_in_process(*args, store=stores.primary)
    message: str | None = done.json()["statusMessage"]
    return message


@pytest.mark.postgres
@pytest.mark.slow
def test_cli_queries_answer_from_the_read_store(stores: Stores) -> None:
    status = _cli(stores, "status", "--json").json()
    assert {s["workloadRtId"] for s in status} >= {
        "64f1c0ffee00000000000001",
        "64f1c0ffee00000000000002",
    }
    audit = _cli(stores, "audit", "--json", "--tenant", TENANT).json()
    assert len(audit) >= 2
    failures = _cli(stores, "failures", "--json").json()
    assert any(g["attempts"] >= 1 for g in failures)
    assert _cli(stores, "history", "--json", TENANT, "64f1c0ffee00000000000002").json()
    _cli(stores, "stats", "--json")
    _cli(stores, "overdue", "--json")
    _cli(stores, "audit", "--all", "-o", "csv", "--tenant", TENANT)


@pytest.mark.postgres
@pytest.mark.slow
def test_cli_min_position_waits_then_reads_the_primary(stores: Stores, paused: None) -> None:
    rtid = "64f1c0ffee00000000000003"
    stores.record(rtid, success=False, message="first")
    stores.pair.resume_replay()
    stores.pair.wait_caught_up()
    stores.pair.pause_replay()
    position = stores.record(rtid, success=False, message="second")

    assert _message(stores, rtid) == "first"  # the standby, stale, without a wait
    assert _message(stores, rtid, read_store=False) == "second"

    started = time.monotonic()
    done = _cli(stores, "show", "--json", "--min-position", str(position), TENANT, rtid)
    took = time.monotonic() - started
    assert done.json()["statusMessage"] == "second"
    assert "read from the primary" in done.err
    assert took >= WAIT

    # Reached already: answered by the standby, with no note.
    reached = _cli(stores, "show", "--json", "--min-position", "1", TENANT, rtid)
    assert reached.json()["statusMessage"] == "first"
    assert reached.err == ""


@pytest.mark.postgres
@pytest.mark.slow
def test_cli_writes_go_to_the_primary(stores: Stores, tmp_path: Path) -> None:
    import json

    rtid = "64f1c0ffee00000000000004"
    sent = tmp_path / "r.json"
    sent.write_text(json.dumps(report(rtid, tenant=TENANT, success=True)))
    _cli(stores, "record", str(sent))
    with Ledger.open(stores.primary) as ledger:
        assert ledger.current(TENANT, rtid) is not None
    # project and rebuild run on the primary too (the standby cannot be written)
    _cli(stores, "project")
    stores.pair.wait_caught_up()
    assert _message(stores, rtid) is None


@pytest.mark.postgres
@pytest.mark.slow
def test_cli_refuses_a_bad_min_position(stores: Stores) -> None:
    done = _cli(stores, "status", "--min-position", "-1", expect=2)
    assert "--min-position" in done.err


def test_a_sqlite_read_store_is_refused(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'a.db'}"
    run_in_process("migrate", store=store)
    done = run_in_process(
        "--read-store", f"sqlite:///{tmp_path / 'b.db'}", "status", store=store, expect=2
    )
    assert "streaming standby" in done.err
    assert "Traceback" not in done.err


def _metric(client: TestClient, name: str) -> float:
    text = client.get("/metrics").text
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found is not None, text
    return float(found.group(1))


@pytest.fixture(scope="module")
def api(pair: ReplicatedPair) -> Iterator[tuple[TestClient, Tokens, Stores]]:
    made = Stores(pair, "served")
    made.record("64f1c0ffee00000000000010", success=False, message="first")
    pair.wait_caught_up()
    with in_process(made.primary, read_store=made.standby, read_wait=WAIT) as (client, tokens):
        yield client, tokens, made


def _show(client: TestClient, tokens: Tokens, rtid: str, **params: Any) -> Any:
    return client.get(f"/v1/workloads/{TENANT}/{rtid}", params=params, headers=bearer(tokens.admin))


@pytest.mark.postgres
@pytest.mark.slow
def test_http_reads_with_a_paused_standby(
    api: tuple[TestClient, Tokens, Stores], paused: None
) -> None:
    client, tokens, stores = api
    rtid = "64f1c0ffee00000000000010"
    answer = client.post(
        "/v1/reports",
        json=report(rtid, tenant=TENANT, success=False, message="second"),
        headers=bearer(tokens.admin),
    )
    assert answer.status_code in (200, 201), answer.text
    position = answer.json()["position"]
    with Ledger.open(stores.primary) as ledger:
        ledger.catch_up()

    stale = _show(client, tokens, rtid)
    assert stale.status_code == 200
    assert stale.headers["X-Deployledger-Read-From"] == "standby"
    assert stale.json()["statusMessage"] == "first"

    started = time.monotonic()
    fresh = _show(client, tokens, rtid, minPosition=position)
    took = time.monotonic() - started
    assert fresh.status_code == 200
    assert fresh.headers["X-Deployledger-Read-From"] == "primary"
    assert fresh.json()["statusMessage"] == "second"
    assert WAIT <= took < 2 * WAIT  # one wait per request (not one per dependency)

    audit = client.get("/v1/audit", params={"minPosition": position}, headers=bearer(tokens.admin))
    assert audit.headers["X-Deployledger-Read-From"] == "primary"
    assert audit.json()[0]["statusMessage"] == "second"
    client.cookies.set("deployledger_token", tokens.admin)
    started = time.monotonic()
    page = client.get(f"/workloads/{TENANT}/{rtid}", params={"minPosition": position})
    client.cookies.clear()
    assert page.status_code == 200
    assert page.headers["X-Deployledger-Read-From"] == "primary"
    assert "second" in page.text
    assert WAIT <= time.monotonic() - started < 2 * WAIT  # one wait per request, not two

    assert _metric(client, "deployledger_replica_lag_events") >= 1
    time.sleep(0.2)
    assert _metric(client, "deployledger_replica_lag_seconds") > 0
    ready = client.get("/readyz").json()
    assert ready["replicaLagEvents"] >= 1
    assert ready["replicaLagSeconds"] > 0
    assert ready["readModelLagEvents"] == 0

    stores.pair.resume_replay()
    stores.pair.wait_caught_up()
    started = time.monotonic()
    caught = _show(client, tokens, rtid, minPosition=position)
    assert caught.headers["X-Deployledger-Read-From"] == "standby"
    assert caught.json()["statusMessage"] == "second"
    assert time.monotonic() - started < WAIT
    assert _metric(client, "deployledger_replica_lag_events") == 0
    assert _metric(client, "deployledger_replica_lag_seconds") == 0
    ready = client.get("/readyz").json()
    assert (ready["replicaLagEvents"], ready["replicaLagSeconds"]) == (0, 0)


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.parametrize("value", ["-1", "abc", "1.5", "99999999999999999999"])
def test_http_refuses_a_bad_min_position(
    api: tuple[TestClient, Tokens, Stores], value: str
) -> None:
    client, tokens, _ = api
    answer = client.get(
        "/v1/workloads", params={"minPosition": value}, headers=bearer(tokens.admin)
    )
    assert answer.status_code == 422
    assert "minPosition" in answer.text


def test_without_a_read_store_every_read_is_on_the_store(tmp_path: Path) -> None:
    from deployledger import InvalidQuery

    with Ledger.open(f"sqlite:///{tmp_path / 'l.db'}") as ledger:
        position = ledger.record(report("64f1c0ffee00000000000020", tenant=TENANT)).position
        assert ledger.read_from == "primary"
        assert ledger.replica_lag() is None
        assert ledger.reading(position) is ledger
        assert ledger.reading(position).workloads(TENANT)
        for bad in (-1, True, 1.5, "3"):
            with pytest.raises(InvalidQuery, match="min_position"):
                ledger.reading(bad)  # type: ignore[arg-type]
        for wait in (-1.0, float("nan"), 4000):
            with pytest.raises(InvalidQuery, match="wait"):
                ledger.reading(position, wait=wait)
        with pytest.raises(InvalidQuery, match="read_wait"):
            Ledger.open(f"sqlite:///{tmp_path / 'l.db'}", read_wait=-1)
