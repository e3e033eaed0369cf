"""Load (issue 9, section 5): 50 concurrent keep-alive clients send 2,000 reports over HTTP to
`deployledger serve` (PostgreSQL on a private cluster, 2 workers), spread over 160 workloads,
each with a unique messageId; every other client sends each request twice. Afterwards every
report is stored exactly once, where its receipts say, the attempts of each workload run 1..n
without a gap, and the service answered no 5xx. SQLite, with one worker, takes a smaller load.
(The issue's 20,000 reports took 100 s; 2,000 over fewer workloads, a dozen reports each as
in the issue, each workload reached by several clients at once, race on the same rows just
as often.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from http_harness import (
    Load,
    Service,
    admin_token,
    check_stored,
    peak_connections,
    plan_load,
    private_server,
    run_load,
    running,
)
from support import Cli

from deployledger import Ledger
from devtools.private_postgres import PrivateCluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # thousands of requests

CLIENTS = 50
QUIET = ("--no-access-log",)  # 3,000 access-log lines cost CPU the load needs


def batching(service: Service) -> float:
    """The mean messages per group-commit transaction, from the service's /metrics."""
    text = httpx.get(service.url + "/metrics", timeout=10).text
    values = {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines()
        if line.startswith("deployledger_commit_batch_messages_")
    }
    count = values.get("deployledger_commit_batch_messages_count", 0.0)
    assert count > 0, "no group-commit batch was measured"
    return values["deployledger_commit_batch_messages_sum"] / count


def check_load(url: str, load: Load, service: Service) -> None:
    """No client failed, no 5xx, first sends 201 and repeats 200 (duplicate, same receipt),
    and everything is stored exactly once."""
    print(load.summary())
    assert not load.errors, load.errors[:5]
    server_errors = load.server_errors()
    assert not server_errors, f"{len(server_errors)} 5xx, e.g. {server_errors[:3]}"
    failed = [a for a in load.answers if a.status not in (200, 201)]
    assert not failed, f"{len(failed)} answers were not 200/201, e.g. {failed[:3]}"
    repeats = {p.index for p in load.planned if p.repeat}
    expected = len(load.planned) + len(repeats)
    assert len(load.answers) == expected
    for index, answers in load.acknowledged().items():
        first, *again = sorted(answers, key=lambda a: a.began)
        assert first.status == 201, f"report {index}: first send answered {first.status}"
        assert first.receipt is not None
        assert first.receipt["duplicate"] is False
        assert len(again) == (1 if index in repeats else 0)
        for answer in again:
            assert answer.status == 200, f"report {index}: repeat answered {answer.status}"
            assert answer.receipt is not None
            assert answer.receipt["duplicate"] is True
    check_stored(url, load)
    assert "Traceback" not in service.log(), service.log()[-3000:]


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    with private_server() as made:
        yield made


@pytest.mark.postgres
def test_2000_reports_from_50_clients_on_postgres_with_2_workers_are_stored_exactly_once(
    cluster: PrivateCluster, cli: Cli, tmp_path: Path
) -> None:
    url = cluster.create_database("ledger")
    cli("migrate", store=url)
    token = admin_token(url)
    plans = plan_load(2_000, 160, CLIENTS)
    requests = 2_000 + sum(len(plan) for plan in plans[1::2])  # odd clients send twice
    peak: list[int] = []
    with running(Service(url, tmp_path, workers=2, extra=QUIET)) as (service,):
        load = run_load(
            service.url,
            token,
            plans,
            during=lambda load: peak.append(peak_connections(cluster, "ledger", load, requests)),
        )
        mean = batching(service)
    print(f"at most {peak[0]} connections were open to the database")
    print(f"group commit: {mean:.1f} messages per transaction on average")
    assert mean > 1.2, "50 clients, and the transactions held one message each: no grouping"
    check_load(url, load, service)


def test_800_reports_from_50_clients_on_sqlite_with_1_worker_are_stored_exactly_once(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with Ledger.open(url, create=True):
        pass
    token = admin_token(url)
    plans = plan_load(800, 40, CLIENTS, seed=4)
    with running(Service(url, tmp_path, workers=1, extra=QUIET)) as (service,):
        load = run_load(service.url, token, plans)
        mean = batching(service)
    print(f"group commit: {mean:.1f} messages per transaction on average")
    assert mean > 1.2, "50 clients, and the transactions held one message each: no grouping"
    check_load(url, load, service)
