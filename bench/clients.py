"""The client processes of the requests/s load (`bench.http`): only the standard library,
so that a spawned client starts in a fraction of the time the service's imports take."""

from __future__ import annotations

import http.client
import json
import random
import time
from collections import Counter
from typing import Any

RPS_WORKLOADS = 500
TENANTS = ("acme", "globex", "initech", "umbrella", "hooli")


def _report(n: int, prefix: str) -> dict[str, Any]:
    """A report of one of `RPS_WORKLOADS` workloads, with a unique messageId."""
    slot = n % RPS_WORKLOADS
    return {
        "tenantId": TENANTS[slot % len(TENANTS)],
        "poolName": f"pool-{slot % 3}",
        "workloadName": f"app-{slot}",
        "workloadRtId": f"rt-{slot:04d}",
        "success": n % 4 != 0,
        "statusMessage": None if n % 4 else "Error: UPGRADE FAILED: timed out waiting",
        "messageId": f"{prefix}-{n}",
    }


def post(
    conn: http.client.HTTPConnection, body: bytes, headers: dict[str, str], timeout: float
) -> tuple[http.client.HTTPConnection, int]:
    """POST one report body on a keep-alive connection: the connection to use next and the
    status, or 0 when the request failed (the connection is then made again)."""
    try:
        conn.request("POST", "/v1/reports", body, headers)
        response = conn.getresponse()
        response.read()
        return conn, response.status
    except (OSError, http.client.HTTPException):
        conn.close()
        return http.client.HTTPConnection(conn.host, conn.port, timeout=timeout), 0


def _client_process(
    port: int, token: str, prefix: str, threads: int, ready: Any, go: Any, window: Any, out: Any
) -> None:
    """`threads` keep-alive connections posting until the window's end; puts the Counter of
    statuses answered within the window on `out`. Says `ready` once started, then waits for
    `go`: the window (monotonic start and stop) is set then, whatever the start-up took."""
    import threading

    counts: Counter[int] = Counter()
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    ready.put(prefix)
    go.wait()
    start_at, stop_at = window[0], window[1]

    def worker(number: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: Counter[int] = Counter()
        n = 0
        offset = random.Random(f"{prefix}-{number}").randrange(RPS_WORKLOADS)
        while True:
            body = json.dumps(_report(offset + n, f"{prefix}-{number}")).encode()
            n += 1
            conn, status = post(conn, body, headers, 60)
            now = time.monotonic()
            if now >= stop_at:
                break
            if now >= start_at:
                mine[status] += 1
        conn.close()
        with lock:
            counts.update(mine)

    workers = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    out.put(dict(counts))
