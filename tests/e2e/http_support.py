"""Support for the HTTP service's tests (tests/e2e/test_http_*.py). No fixtures here.

- `Service`: the app in this process (FastAPI's TestClient) with an admin token and
  tenant-bound tokens made on the store;
- `Served`: a real `deployledger serve` subprocess on a free port, and `free_port()`;
- `bearer(token)`: the Authorization header; `problem_of(response)`: a checked problem+json.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import httpx2
from fastapi.testclient import TestClient
from support import CLI, cli_env

from deployledger import Ledger
from deployledger.http import ServeSettings, create_app

PROBLEM = "application/problem+json"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def problem_of(response: httpx.Response | httpx2.Response, status: int) -> dict[str, Any]:
    """The problem+json body of `response`, checked to have the RFC 9457 members."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    body = response.json()
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert body["type"].startswith(("urn:deployledger:problem:", "about:blank"))
    if status == 422:
        assert body["problems"], body
        for item in body["problems"]:
            assert set(item) == {"index", "field", "reason"}
    return dict(body)


@dataclass
class Tokens:
    """Tokens on one store: admin, acme (read+write), acme+globex (read), write-only acme."""

    admin: str
    acme: str
    two: str
    acme_write: str
    acme_read: str
    ids: dict[str, str] = field(default_factory=dict)


def make_tokens(url: str) -> Tokens:
    with Ledger.open(url, create=True) as ledger:
        made = {
            "admin": ledger.tokens.create(admin=True, name="admin"),
            "acme": ledger.tokens.create(tenants=("acme",), name="acme"),
            "two": ledger.tokens.create(tenants=("acme", "globex"), scopes=("read",)),
            "acme_write": ledger.tokens.create(tenants=("acme",), scopes=("write",)),
            "acme_read": ledger.tokens.create(tenants=("acme",), scopes=("read",)),
        }
    secret = {name: secret for name, (_, secret) in made.items()}
    return Tokens(
        admin=secret["admin"],
        acme=secret["acme"],
        two=secret["two"],
        acme_write=secret["acme_write"],
        acme_read=secret["acme_read"],
        ids={name: grant.token_id for name, (grant, _) in made.items()},
    )


@contextmanager
def in_process(url: str, **settings: Any) -> Iterator[tuple[TestClient, Tokens]]:
    """The app on `url` (schema made, tokens made) in this process, started and stopped."""
    tokens = make_tokens(url)
    app = create_app(ServeSettings(store=url, **{"follow": False, **settings}))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, tokens


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Served:
    """A running `deployledger serve`; `url` is its base URL."""

    proc: subprocess.Popen[bytes]
    url: str
    log_path: str

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then wait for a graceful exit; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"serve did not stop in {timeout}s after SIGTERM") from None


@contextmanager
def served(
    store: str, *args: str, log_dir: str, env: dict[str, str] | None = None, ready: bool = True
) -> Iterator[Served]:
    """`deployledger --store STORE serve --port P ARGS...`, waited for (its /healthz answers),
    stopped with SIGTERM afterwards; its output must hold no traceback."""
    port = free_port()
    log_path = os.path.join(log_dir, f"serve-{port}.log")
    argv = [CLI, "--store", store, "serve", "--port", str(port), "--no-access-log", *args]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=cli_env(env)
        )
    running = Served(proc, f"http://127.0.0.1:{port}", log_path)
    try:
        if ready:
            _wait_healthy(running)
        yield running
    finally:
        code = running.stop()
        text = running.log()
        assert "Traceback" not in text, text
        assert code in (0, -signal.SIGTERM), f"serve exited {code}\n{text}"


def _wait_healthy(running: Served, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running.proc.poll() is not None:
            raise AssertionError(f"serve exited {running.proc.returncode}\n{running.log()}")
        try:
            if httpx.get(running.url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"serve did not answer /healthz in {timeout}s\n{running.log()}")
