"""The floors of the HTTP write path (`python -m bench http`, measurements `http-floor` and
`http-burst`), the code a careful user would write without deployledger:

- **the floor service** (`python -m bench.floor --store URL --port N --workers N`): a
  minimal FastAPI app on uvicorn, in `serve`'s process model (the same `--workers`, the same
  h11 protocol class, a worker thread per write as `serve` hands its writes to one). `POST
  /v1/reports` reads the body, parses it as JSON, checks it is an object with a `messageId`,
  and does one raw INSERT + COMMIT of it into a simple table (psycopg on PostgreSQL,
  `synchronous_commit=on`; sqlite3 in WAL mode with `synchronous=FULL`), then answers 201
  with the message's id and position. No token, no validation: the HTTP stack's own cost;
- **the raw burst** (`raw_burst`): `threads` threads, each with its own connection, each
  doing one INSERT + COMMIT per report into the same table, with no lock of their own
  (PostgreSQL lets them commit side by side; SQLite's writers queue on its lock through
  `busy_timeout`).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from bench.stores import Store

STORE_ENV = "DLBENCH_FLOOR_STORE"
BUSY_TIMEOUT_MS = 60_000
_SQLITE_TABLE = (
    "CREATE TABLE IF NOT EXISTS floor_reports (position INTEGER PRIMARY KEY, "
    "message_id TEXT NOT NULL UNIQUE, tenant_id TEXT NOT NULL, body BLOB NOT NULL)"
)
_POSTGRES_TABLE = (
    "CREATE TABLE IF NOT EXISTS floor_reports (position bigserial PRIMARY KEY, "
    "message_id text NOT NULL UNIQUE, tenant_id text NOT NULL, body bytea NOT NULL)"
)
_INSERT = "INSERT INTO floor_reports (message_id, tenant_id, body) VALUES ({0}, {0}, {0})"


def create_table(store: Store) -> None:
    """The floor's table, made once before its writers start."""
    if store.backend == "sqlite":
        conn = sqlite3.connect(store.path, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(_SQLITE_TABLE)
        finally:
            conn.close()
        return
    with psycopg.connect(store.url) as pg:
        pg.execute(_POSTGRES_TABLE)


class Writer:
    """One connection doing one INSERT + COMMIT per call (not shared between threads)."""

    def __init__(self, store: Store) -> None:
        self.sqlite = store.backend == "sqlite"
        self.conn: Any
        if self.sqlite:
            self.conn = sqlite3.connect(store.path, isolation_level=None, check_same_thread=False)
            self.conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.insert = _INSERT.format("?")
        else:
            self.conn = psycopg.connect(store.url)
            self.conn.execute("SET synchronous_commit = on")
            self.conn.commit()
            self.insert = _INSERT.format("%s") + " RETURNING position"

    def write(self, message_id: str, tenant_id: str, body: bytes) -> int:
        """Its position, after the commit."""
        if self.sqlite:
            self.conn.execute("BEGIN IMMEDIATE")
            cur = self.conn.execute(self.insert, (message_id, tenant_id, body))
            self.conn.execute("COMMIT")
            return int(cur.lastrowid or 0)
        row = self.conn.execute(self.insert, (message_id, tenant_id, body)).fetchone()
        self.conn.commit()
        return int(row[0])

    def close(self) -> None:
        self.conn.close()


def raw_burst(store: Store, bodies: Sequence[bytes], threads: int) -> tuple[float, list[float]]:
    """Seconds for `threads` threads to write every body (body i by thread i % threads),
    each with its own connection opened before the clock starts; and each write's µs."""
    create_table(store)
    writers = [Writer(store) for _ in range(threads)]
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    ready = threading.Barrier(threads + 1)

    def work(n: int) -> None:
        mine = [(f"raw-{i}", json.loads(bodies[i])) for i in range(n, len(bodies), threads)]
        ready.wait()
        try:
            for (message_id, report), i in zip(mine, range(n, len(bodies), threads), strict=True):
                start = time.perf_counter_ns()
                writers[n].write(message_id, str(report["tenantId"]), bodies[i])
                latencies[n].append((time.perf_counter_ns() - start) / 1_000)
        except BaseException as e:  # reported by the caller
            errors.append(e)

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    try:
        for thread in pool:
            thread.start()
        ready.wait()
        start = time.perf_counter()
        for thread in pool:
            thread.join()
        elapsed = time.perf_counter() - start
    finally:
        for writer in writers:
            writer.close()
    if errors:
        raise errors[0]
    return elapsed, [v for per_thread in latencies for v in per_thread]


# ---------------------------------------------------------------------------------------
# The floor service


def factory() -> Any:
    """The floor app of one uvicorn worker, on the store named by `$DLBENCH_FLOOR_STORE`."""
    backend, url, path = json.loads(os.environ[STORE_ENV])
    store = Store(backend, url, path)
    local = threading.local()
    writers: list[Writer] = []
    lock = threading.Lock()

    def write(message_id: str, tenant_id: str, body: bytes) -> int:
        writer: Writer | None = getattr(local, "writer", None)
        if writer is None:
            writer = local.writer = Writer(store)
            with lock:
                writers.append(writer)
        return writer.write(message_id, tenant_id, body)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        for writer in writers:
            writer.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/reports", status_code=201)
    async def record(request: Request) -> JSONResponse:
        body = await request.body()
        try:
            message = json.loads(body)
        except ValueError:
            return JSONResponse({"detail": "not JSON"}, status_code=400)
        if not isinstance(message, dict) or not isinstance(message.get("messageId"), str):
            return JSONResponse({"detail": "not a message"}, status_code=422)
        message_id, tenant_id = message["messageId"], str(message.get("tenantId"))
        position = await to_thread.run_sync(write, message_id, tenant_id, body)
        return JSONResponse({"messageId": message_id, "position": position}, status_code=201)

    return app


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    from deployledger.cli.serve import PROTOCOL  # serve's own h11 protocol class

    p = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__)
    p.add_argument("--backend", choices=["sqlite", "postgres"], required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--path", default="")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--workers", type=int, default=1)
    a = p.parse_args(argv)
    create_table(Store(a.backend, a.url, a.path))
    os.environ[STORE_ENV] = json.dumps([a.backend, a.url, a.path])
    uvicorn.run(
        "bench.floor:factory",
        factory=True,
        host="127.0.0.1",
        port=a.port,
        workers=a.workers,
        http=PROTOCOL,
        lifespan="on",
        timeout_keep_alive=5,
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
