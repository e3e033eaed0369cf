"""Two replicas (issue 9, section 5): two `serve` processes on different ports share one
PostgreSQL database, with one projection follower (`deployledger project --follow`) and a
second one standing by. SIGKILL the active follower: the standby takes over within 5 seconds
(measured from the kill to the read model applying a report written after it, and printed).
Both replicas then answer the same reads.

The replicas run without a follower of their own (`serve --no-follow`), so that only the two
`project --follow` processes keep the read model live while the takeover is measured, and no
read is made in that time (a read catches the read model up by itself).
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from http_harness import TENANTS, Service, admin_token, private_server, running
from support import Cli, cli_args, cli_env, report

from deployledger import Ledger
from devtools.private_postgres import PrivateCluster

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

LEADING = "following (leader)"
STANDING_BY = "standing by: another follower is active"
TAKEOVER_LIMIT = 5.0
REPLICA_FLAGS = ("--no-follow",)


class Follower:
    def __init__(self, url: str, log: Path) -> None:
        self.log_path = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                cli_args("project", "--follow", "--poll-interval", "0.2", store=url),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=cli_env(),
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_line(self, line: str, timeout: float = 30) -> float:
        deadline = time.monotonic() + timeout
        while line not in self.log():
            assert self.proc.poll() is None, f"follower exited:\n{self.log()}"
            assert time.monotonic() < deadline, f"no {line!r} in {timeout}s:\n{self.log()}"
            time.sleep(0.01)
        return time.monotonic()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)


@pytest.fixture
def followers(tmp_path: Path) -> Iterator[list[Follower]]:
    made: list[Follower] = []
    yield made
    for follower in made:
        follower.close()


def post(client: httpx.Client, body: dict[str, object]) -> dict[str, object]:
    response = client.post("/v1/reports", json=body)
    assert response.status_code == 201, response.text
    found = response.json()
    receipt = found[0] if isinstance(found, list) else found.get("receipts", [found])[0]
    assert isinstance(receipt, dict)
    return receipt


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    with private_server() as made:
        yield made


def test_two_replicas_and_a_standby_follower_that_takes_over_within_5_seconds(
    cluster: PrivateCluster, cli: Cli, tmp_path: Path, followers: list[Follower]
) -> None:
    url = cluster.create_database("ledger")
    cli("migrate", store=url)
    token = admin_token(url)
    headers = {"Authorization": f"Bearer {token}"}
    one = Service(url, tmp_path, workers=1, extra=REPLICA_FLAGS, name="replica-1")
    two = Service(url, tmp_path, workers=1, extra=REPLICA_FLAGS, name="replica-2")
    with (
        running(one, two),
        Ledger.open(url) as watcher,
        httpx.Client(base_url=one.url, headers=headers, timeout=30) as c1,
        httpx.Client(base_url=two.url, headers=headers, timeout=30) as c2,
    ):
        followers.append(Follower(url, tmp_path / "follower-a.log"))
        followers[0].wait_for_line(LEADING)
        followers.append(Follower(url, tmp_path / "follower-b.log"))
        followers[1].wait_for_line(STANDING_BY)
        active, standby = followers

        # Both replicas take writes; the active follower keeps the read model live.
        last = 0
        for n in range(120):  # each of the 60 workloads twice, half of them through each replica
            client = (c1, c2)[n % 2]
            rtid = f"rt-{n % 20:02d}"
            tenant = TENANTS[n % 3]
            body = report(rtid, tenant=tenant, success=n % 4 != 0, messageId=f"pre-{n}")
            last = int(post(client, body)["position"])  # type: ignore[call-overload]
        deadline = time.monotonic() + 30
        while watcher.read_position() < last:
            assert time.monotonic() < deadline, "the active follower did not catch up"
            time.sleep(0.02)

        # Kill the active follower while writes go on (one every 20 ms, no reads); time until
        # the read model has applied a report written after the kill.
        stop_writing = threading.Event()
        written: list[tuple[float, int]] = []

        def writer() -> None:
            with httpx.Client(base_url=two.url, headers=headers, timeout=30) as c:
                n = 0
                while not stop_writing.is_set():
                    receipt = post(c, report("rt-live", tenant="acme", messageId=f"live-{n}"))
                    written.append((time.monotonic(), int(receipt["position"])))  # type: ignore[call-overload]
                    n += 1
                    time.sleep(0.02)

        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        try:
            time.sleep(0.5)
            active.proc.send_signal(signal.SIGKILL)
            killed_at = time.monotonic()
            assert active.proc.wait(timeout=30) == -signal.SIGKILL
            deadline = killed_at + 30
            applied_at = None
            while applied_at is None:
                after_kill = [pos for at, pos in list(written) if at > killed_at]
                if after_kill and watcher.read_position() >= after_kill[0]:
                    applied_at = time.monotonic()
                assert time.monotonic() < deadline, f"no takeover in 30 s:\n{standby.log()}"
                time.sleep(0.005)
            leader_at = standby.wait_for_line(LEADING, timeout=1)
        finally:
            stop_writing.set()
            thread.join(timeout=30)
        takeover = applied_at - killed_at
        print(
            f"standby follower took over {takeover:.3f} s after the kill "
            f"(leadership seen in its log after {leader_at - killed_at:.3f} s)"
        )
        assert takeover < TAKEOVER_LIMIT, f"takeover took {takeover:.2f} s"

        # All caught up: both replicas answer the same reads.
        top = watcher.max_position()
        deadline = time.monotonic() + 30
        while watcher.read_position() < top:
            assert time.monotonic() < deadline, "the new follower did not catch up"
            time.sleep(0.02)
        for path in (
            "/v1/workloads",
            "/v1/workloads?state=error",
            "/v1/workloads?tenant=globex",
            "/v1/workloads/acme/rt-live/history",
            "/v1/workloads/globex/rt-01",
            "/v1/workloads/globex/rt-01/history",
            "/v1/workloads/acme/rt-live/history?attempts=true",
            "/v1/audit?limit=500",
        ):
            a, b = c1.get(path), c2.get(path)
            assert a.status_code == b.status_code == 200, (path, a.text, b.text)
            assert a.json() == b.json(), path
        fleet = c1.get("/v1/workloads").json()
        assert len(fleet) == 61  # 20 runtime ids x 3 tenants (each pair, by n mod 60), rt-live
        live = c2.get("/v1/workloads/acme/rt-live").json()
        assert live["attempts"] == len(written)
