"""Flaky sinks (issue 23): receivers that fail at random (500, timeout, connection reset)
while outcomes are recorded and the delivering process (`project --follow`) is SIGKILLed
twice. Every matching outcome reaches every sink, in order per workload, each distinct id
once when counting distinct ids; dead letters only for the sink that stays down."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from sink_receivers import Receiver, receiving
from support import cli_args, cli_env, report

from deployledger import Ledger

# As the issue asks: 5,000 outcomes, 22-23 s per backend on a quiet machine (2 cores),
# 37-40 s while other jobs keep it busy. The time is mostly the sequential deliveries and
# the receivers' stalls.
OUTCOMES = 5000
WORKLOADS = 40
CHUNK = 100  # outcomes per record_many
KILL_AT = (OUTCOMES // 4, OUTCOMES // 2)  # the follower is SIGKILLed after these


def _follower(store: str, tmp_path: Path, n: int) -> subprocess.Popen[bytes]:
    # stderr to a file: a dead sink logs each dead letter, and a full pipe would block it
    with (tmp_path / f"follower-{n}.err").open("wb") as err:
        return subprocess.Popen(
            cli_args("project", "--follow", "--poll-interval", "0.1", store=store),
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=cli_env(),
        )


def _first_arrivals(ids: list[int]) -> list[int]:
    seen: set[int] = set()
    out = []
    for i in ids:
        if i not in seen:
            seen.add(i)
            out.append(i)
    return out


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_flaky_sinks_get_every_outcome_once_by_id_in_order_per_workload(
    store: str, tmp_path: Path
) -> None:
    rng = random.Random(23)
    flaky_a = Receiver(fail_rate=0.1, stall=0.08, seed=1)
    flaky_b = Receiver(fail_rate=0.1, stall=0.08, seed=2)
    dead = Receiver(down=True)
    with receiving(flaky_a, flaky_b, dead), Ledger.open(store, create=True) as ledger:
        common: dict[str, Any] = {"max_attempts": 40, "backoff": 0.005, "timeout": 0.04}
        ledger.sinks.add("all", url=flaky_a.url, kind="webhook", **common)
        ledger.sinks.add("deploys", url=flaky_b.url + "/ce", kind="cdevents", **common)
        ledger.sinks.add(
            "down",
            url=dead.url,
            kind="webhook",
            filter="state=error",
            max_attempts=2,
            backoff=0.001,
            timeout=0.1,
        )
        follower = _follower(store, tmp_path, 0)
        sent: list[tuple[int, str, bool]] = []  # position, workload, success
        killed = 0
        try:
            for start in range(0, OUTCOMES, CHUNK):
                batch = []
                for i in range(start, min(start + CHUNK, OUTCOMES)):
                    rt_id = f"64f1c0ffee00000000{rng.randrange(WORKLOADS):06x}"
                    ok = rng.random() < 0.7
                    batch.append(report(rt_id, success=ok, message=None if ok else f"boom {i}"))
                for message, receipt in zip(batch, ledger.record_many(batch), strict=True):
                    sent.append((receipt.position, message["workloadRtId"], message["success"]))
                if killed < len(KILL_AT) and len(sent) >= KILL_AT[killed]:
                    follower.send_signal(signal.SIGKILL)
                    follower.wait(timeout=30)
                    killed += 1
                    follower = _follower(store, tmp_path, killed)
            top = ledger.max_position()
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                if all(s.position >= top for s in ledger.sinks.list()):
                    break
                time.sleep(0.5)
        finally:
            follower.send_signal(signal.SIGTERM)
            follower.wait(timeout=30)
        status = {s.name: s for s in ledger.sinks.list()}
        assert killed == 2
        assert all(s.position >= top for s in status.values()), status

        workload_of = {p: w for p, w, _ in sent}
        expected = {
            "all": [p for p, _, _ in sent],
            "deploys": [p for p, _, ok in sent if ok],
        }
        for name, receiver in (("all", flaky_a), ("deploys", flaky_b)):
            ids = receiver.ids()
            assert sorted(set(ids)) == expected[name], name  # each id, none missing
            firsts = _first_arrivals(ids)
            for workload in set(workload_of.values()):
                mine = [p for p in firsts if workload_of[p] == workload]
                assert mine == sorted(mine), (name, workload)
            assert status[name].dead_letters == 0
        assert sum(flaky_a.failed.values()) > 0
        assert sum(flaky_b.failed.values()) > 0
        errors = [p for p, _, ok in sent if not ok]
        assert status["down"].dead_letters == len(errors)
        assert [d.position for d in ledger.sinks.dead_letters("down")] == errors
        assert dead.received == []
