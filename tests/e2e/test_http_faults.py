"""Faults (issue 9, section 5): nothing acknowledged is lost.

- **Database restart.** A private PostgreSQL cluster, started by the test on a port of its own
  (never the shared server), is restarted (`pg_ctl restart -m fast`) and then crashed
  (`pg_ctl stop -m immediate`) and held down for a few seconds while clients send. During the
  outage the service answers 503 with Retry-After, never 2xx; the clients retry with the same
  Idempotency-Key / messageId; afterwards every acknowledged report is stored exactly once, and
  the same service process answers again without being restarted.
- **Crash.** One worker of `serve --workers 2` gets SIGKILL mid-load (twice); uvicorn's
  supervisor replaces it. Every acknowledged report is stored, and the clients' retries of the
  requests that died with it store nothing twice. With SQLite (one process), `serve` itself
  is killed and started again on the same store.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from http_harness import (
    Load,
    Service,
    admin_token,
    check_stored,
    plan_load,
    private_server,
    run_load,
    running,
)
from support import Cli, report

from deployledger import Ledger
from devtools.private_postgres import PrivateCluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # loads through restarts and crashes

# The service's store URL bounds each wait: a pooled connection within connect_timeout, a
# write's commit within lock_timeout + connect_timeout (the group-commit wait), after which
# it answers 503. Short bounds here, so that requests in flight at the crash are answered
# while the database is still down, however slow the machine.
TIMEOUTS = "lock_timeout=2&connect_timeout=2"
WRITE_BOUND = 4.0  # seconds: lock_timeout + connect_timeout
# Seconds the database stays down after the crash: twice the write bound, so that requests
# sent after the crash are answered inside it too.
OUTAGE = 2 * WRITE_BOUND
RECOVERY_LIMIT = 5.0  # seconds from the database's return to the service's first 2xx (the
# pool tries to replace its lost connections at least every second: RECONNECT_EVERY)


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    with private_server() as made:
        yield made


def wait_until(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.02)


def acked(load: Load) -> int:
    with load.lock:
        return sum(1 for a in load.answers if 200 <= a.status < 300)


def committed_unacknowledged(load: Load) -> int:
    """Reports whose first 2xx says duplicate: an earlier, failed request stored them (its
    commit went through, its answer was lost). Each must have such an earlier request."""
    count = 0
    repeats = {p.index for p in load.planned if p.repeat}
    for index, answers in load.acknowledged().items():
        first = min(answers, key=lambda a: a.began)
        if first.status == 200:
            earlier = [a for a in load.answers if a.index == index and a.ended <= first.began]
            assert earlier, f"report {index}: a duplicate without an earlier request"
            assert all(not 200 <= a.status < 300 for a in earlier)
            count += 1
        elif index not in repeats:
            assert len(answers) == 1
    return count


def around(load: Load, start: float, end: float) -> str:
    """The answers overlapping [start, end], as lines relative to `start` (for a failure)."""
    lines = [
        f"report {a.index}: {a.began - start:+.2f}..{a.ended - start:+.2f} s: {a.status} "
        f"{detail(a.error)}"
        for a in sorted(load.answers, key=lambda a: a.began)
        if a.ended >= start and a.began <= end
    ]
    return "\n".join(lines[:40] + ([f"... {len(lines) - 40} more"] if len(lines) > 40 else []))


def detail(error: str | None) -> str:
    """A problem answer's detail (what the service said), else the error's start."""
    try:
        said = json.loads(error or "")
    except ValueError:
        return (error or "")[:160]
    return str(said.get("detail", said))[:160] if isinstance(said, dict) else str(said)[:160]


def single_post(service: Service, token: str, body: dict[str, object]) -> httpx.Response:
    return httpx.post(
        service.url + "/v1/reports",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


@pytest.mark.postgres
def test_a_database_restart_and_crash_lose_no_acknowledged_report_and_serve_recovers(
    cluster: PrivateCluster, cli: Cli, tmp_path: Path
) -> None:
    url = cluster.create_database("ledger") + "?" + TIMEOUTS
    cli("migrate", store=url)
    token = admin_token(url)
    plans = plan_load(1_000, 120, 20, seed=21, prefix="restart")  # 400 before the crash
    windows: list[tuple[float, float]] = []  # (database surely down from, until)
    timings: dict[str, float] = {}

    def faults(load: Load) -> None:
        wait_until(lambda: acked(load) >= 200, "200 acknowledged reports")
        timings["restart"] = cluster.restart(mode="fast")
        before = acked(load)
        wait_until(lambda: acked(load) >= before + 200, "200 more after the restart")
        cluster.stop(mode="immediate")
        down = time.monotonic()
        time.sleep(OUTAGE)
        windows.append((down, time.monotonic()))
        began = time.monotonic()
        cluster.start_again()
        timings["back"] = time.monotonic()
        timings["start"] = timings["back"] - began

    with running(Service(url, tmp_path, workers=2)) as (service,):
        assert service.proc is not None
        pid = service.proc.pid
        load = run_load(service.url, token, plans, retry=True, during=faults)
        print(load.summary())
        print(
            f"restart took {timings['restart']:.2f} s; "
            f"start after the crash {timings['start']:.2f} s"
        )
        assert not load.errors, load.errors[:5]

        # During the outage: 503 with Retry-After, never a 2xx; nothing else but 200/201.
        unavailable_answers = [a for a in load.answers if a.status == 503]
        assert unavailable_answers, "no 503 during the outage: the fault was not exercised"
        assert all(a.retry_after and a.retry_after.isdigit() for a in unavailable_answers)
        other = {a.status for a in load.answers} - {200, 201, 503}
        assert not other, (
            f"unexpected answers: {other}; {[a for a in load.answers if a.status in other][:3]}"
        )
        # Answered while the database was down (a request whose commit landed just before
        # the crash may still be answered 201 a moment after it: the first second is left
        # out). Each request is answered within the write bound, so some must fall inside.
        down_from, down_until = windows[0]
        during = [a for a in load.answers if down_from + 1.0 <= a.ended <= down_until]
        assert during, "no request was answered while the database was down:\n" + around(
            load, down_from, down_until
        )
        assert all(a.status == 503 for a in during), [a for a in during if a.status != 503][:3]
        sent_during = [a for a in during if a.began >= down_from]
        assert sent_during, (
            "no request sent after the crash was answered before the database "
            "was back:\n" + around(load, down_from, down_until)
        )

        # The service recovered by itself once the database was back.
        recovered = min(
            a.ended for a in load.answers if a.status in (200, 201) and a.ended > timings["back"]
        )
        print(f"first 2xx {recovered - timings['back']:.2f} s after the database was back")
        assert recovered - timings["back"] < RECOVERY_LIMIT

        # Every report was acknowledged in the end, and each is stored exactly once. A report
        # whose first 2xx is a 200 (duplicate) was committed by a request that failed.
        check_stored(url, load)
        print(f"{committed_unacknowledged(load)} report(s) committed by a request answered 503")

        # The same process recovered by itself: ready, and it records and reads again.
        assert service.proc.poll() is None
        assert service.proc.pid == pid
        ready = httpx.get(service.url + "/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        after = single_post(service, token, report("rt-after", tenant="acme", messageId="after-1"))
        assert after.status_code == 201, after.text
        assert "Traceback" not in service.log(), service.log()[-3000:]


def kill_workers(service: Service, times: int, load: Load) -> list[int]:
    """SIGKILL one worker `times` times, each once 250 more reports are acknowledged and the
    supervisor has replaced the previous one; return the killed pids."""
    killed = []
    for _ in range(times):
        floor = acked(load) + 250

        def reached(f: int = floor) -> bool:
            return acked(load) >= f

        wait_until(reached, f"{floor} acknowledged reports")
        workers = service.worker_pids()
        assert len(workers) == 2, f"workers: {workers}"
        victim = workers[0]
        os.kill(victim, signal.SIGKILL)
        killed.append(victim)

        def replaced(v: int = victim) -> bool:
            return v not in service.worker_pids() and len(service.worker_pids()) == 2

        wait_until(replaced, "the supervisor to replace the killed worker")
    return killed


@pytest.mark.postgres
def test_a_worker_killed_mid_load_loses_no_acknowledged_report(
    cluster: PrivateCluster, cli: Cli, tmp_path: Path
) -> None:
    fresh_postgres = cluster.create_database("ledger")
    cli("migrate", store=fresh_postgres)
    token = admin_token(fresh_postgres)
    plans = plan_load(2_000, 100, 20, seed=33, prefix="crash")
    killed: list[int] = []
    with running(Service(fresh_postgres, tmp_path, workers=2)) as (service,):
        load = run_load(
            service.url,
            token,
            plans,
            retry=True,
            during=lambda load: killed.extend(kill_workers(service, 2, load)),
        )
        print(load.summary())
        print(f"killed workers {killed}")
        assert not load.errors, load.errors[:5]
        assert len(killed) == 2
        statuses = {a.status for a in load.answers}
        assert statuses <= {0, 200, 201, 503}, statuses
        check_stored(fresh_postgres, load)
        assert httpx.get(service.url + "/readyz", timeout=10).status_code == 200


def test_serve_killed_mid_load_on_sqlite_loses_no_acknowledged_report(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with Ledger.open(url, create=True):
        pass
    token = admin_token(url)
    plans = plan_load(800, 60, 20, seed=44, prefix="sqlite-crash")
    first = Service(url, tmp_path, workers=1, name="first")
    second = Service(url, tmp_path, workers=1, port=first.port, name="second")

    def crash(load: Load) -> None:
        wait_until(lambda: acked(load) >= 200, "200 acknowledged reports")
        assert first.proc is not None
        first.proc.send_signal(signal.SIGKILL)
        assert first.proc.wait(timeout=30) == -signal.SIGKILL
        second.start()

    with running(first), running_later(second):
        load = run_load(first.url, token, plans, retry=True, during=crash)
    print(load.summary())
    assert not load.errors, load.errors[:5]
    assert any(a.status == 0 for a in load.answers), "no request failed: the kill came too late"
    check_stored(url, load)


class running_later:  # noqa: N801 (a context manager used like `running`)
    """Stops a service on exit that the test starts itself."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def __enter__(self) -> Service:
        return self.service

    def __exit__(self, *_: object) -> None:
        self.service.stop()
