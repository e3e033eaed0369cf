"""A real `deployledger serve` on a free port: SQLite with one worker, PostgreSQL with two.
Every status code over a real socket, metrics summed over the workers, tokens made and
revoked with the CLI, readiness without a store, slow and abandoned clients, SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from http_support import bearer, free_port, make_tokens, problem_of, served
from prometheus_client.parser import text_string_to_metric_families
from support import (
    REPO,
    cli_env,
    eventually,
    is_sqlite,
    report,
    request,
    run_cli,
    run_in_process,
)

from deployledger import Ledger

UNREACHABLE = "postgresql://app@127.0.0.1:1/ledger?connect_timeout=2"


def workers(store_url: str) -> list[str]:
    return [] if is_sqlite(store_url) else ["--workers", "2"]


def counter(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def test_serve_answers_every_status_over_a_real_socket(store_url: str, tmp_path: Path) -> None:
    tokens = make_tokens(store_url)
    args = [*workers(store_url), "--max-body-bytes", "65536"]
    with served(store_url, *args, log_dir=str(tmp_path)) as server, server.client() as http:
        acme = bearer(tokens.acme)
        first = http.post(
            "/v1/reports", json=report("a", tenant="acme", messageId="m1"), headers=acme
        )
        assert first.status_code == 201
        again = http.post(
            "/v1/reports", json=report("a", tenant="acme", messageId="m1"), headers=acme
        )
        assert again.status_code == 200
        assert again.json()["duplicate"] is True
        batch = [request("b", tenant="acme"), report("b", tenant="acme", success=False)]
        assert http.post("/v1/reports", json=batch, headers=acme).status_code == 201
        problem_of(http.post("/v1/reports", json=[{"kind": "outcome"}], headers=acme), 422)
        problem_of(http.post("/v1/reports", json=report(tenant="globex"), headers=acme), 404)
        problem_of(http.post("/v1/reports", json=report(tenant="acme")), 401)
        problem_of(
            http.post("/v1/reports", json=report(tenant="acme"), headers=bearer(tokens.acme_read)),
            403,
        )
        problem_of(
            http.post(
                "/v1/reports", content=b"{", headers={**acme, "content-type": "application/json"}
            ),
            400,
        )
        problem_of(
            http.post(
                "/v1/reports", content=b"x=1", headers={**acme, "content-type": "text/plain"}
            ),
            415,
        )
        big = json.dumps(report(tenant="acme", message="x" * 70_000)).encode()
        problem_of(http.post("/v1/reports", content=big, headers=acme), 413)

        def chunks() -> Iterator[bytes]:
            yield big[:1000]
            for start in range(1000, len(big), 4096):
                yield big[start : start + 4096]

        with server.client() as fresh:
            problem_of(fresh.post("/v1/reports", content=chunks(), headers=acme), 413)
        assert http.get("/v1/workloads/acme/a", headers=acme).json()["attempts"] == 1
        problem_of(http.get("/v1/workloads/globex/a", headers=acme), 404)
        history = http.get("/v1/workloads/acme/b/history", headers=acme).json()
        assert [e["kind"] for e in history] == ["outcome", "request"]
        assert {w["workloadRtId"] for w in http.get("/v1/workloads", headers=acme).json()} == {
            "a",
            "b",
        }
        assert len(http.get("/v1/audit", headers=acme).json()) == 2
        assert http.get("/v1/overdue", headers=acme).json() == []
        ready = http.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert http.get("/healthz").json() == {"status": "ok"}
        spec = http.get("/openapi.json").json()
        assert "/v1/reports" in spec["paths"]
        # Separate connections, so that both workers of a PostgreSQL run take some.
        for n in range(20):
            with server.client() as one:
                sent = report(f"w{n}", tenant="acme")
                assert one.post("/v1/reports", json=sent, headers=acme).status_code == 201
        text = http.get("/metrics").text
        received = "deployledger_reports_received_total"
        assert counter(text, received, kind="outcome", outcome="accepted") == 22
        assert counter(text, received, kind="outcome", outcome="duplicate") == 1
        assert counter(text, received, kind="request", outcome="accepted") == 1
        assert counter(text, received, kind="outcome", outcome="rejected") == 2
        requests = "deployledger_http_requests_total"
        assert counter(text, requests, route="/v1/reports", method="POST", status="201") == 22
        assert counter(text, "deployledger_record_duration_seconds_count") == 23
        assert "deployledger_read_model_lag_seconds" in text
    log = server.log()
    assert "serving" in log
    assert ("2 workers" in log) is not is_sqlite(store_url)


def test_sigterm_lets_the_request_in_flight_finish(store_url: str, tmp_path: Path) -> None:
    tokens = make_tokens(store_url)
    with served(store_url, *workers(store_url), log_dir=str(tmp_path)) as server:
        body = json.dumps([report(f"r{n}", tenant="acme") for n in range(50)]).encode()
        head = (
            "POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {tokens.acme}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        port = int(server.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(head + body[:100])
            time.sleep(0.5)  # the request is under way
            server.proc.send_signal(15)
            time.sleep(0.5)
            sock.sendall(body[100:])
            answer = sock.recv(65536).decode()
        assert answer.startswith("HTTP/1.1 201"), answer
        code = server.proc.wait(timeout=30)
        assert code in (0, -15)
    assert workloads_in(store_url) == 50


def workloads_in(url: str) -> int:
    """The number of workloads in the store, read without the service."""
    with Ledger.open(url) as ledger:
        return len(ledger.workloads())


CACHE = 1.0  # seconds: `serve --token-cache` (default 5)


def test_tokens_from_the_cli_and_a_revoked_one_is_401(migrated_url: str, tmp_path: Path) -> None:
    # The token commands run in process (`run_in_process`: a CLI start-up costs a second or
    # more); the service is a real `serve`, with two workers on PostgreSQL.
    store_url = migrated_url
    made = run_in_process(
        "token", "create", "--tenant", "acme", "--scope", "write", store=store_url
    )
    token = made.out.strip()
    assert token.startswith("dlt_")
    assert "shown only this once" in made.err
    listed = run_in_process("token", "list", "-o", "json", store=store_url)
    assert token not in listed.out
    (grant,) = listed.json()
    assert grant["tenants"] == ["acme"]
    assert grant["scopes"] == ["write"]
    assert grant["admin"] is False
    assert grant["tokenId"] in token
    with (
        served(
            store_url, *workers(store_url), "--token-cache", str(CACHE), log_dir=str(tmp_path)
        ) as server,
        server.client() as http,
    ):
        sent = report(tenant="acme")
        assert http.post("/v1/reports", json=sent, headers=bearer(token)).status_code == 201
        problem_of(http.get("/v1/workloads", headers=bearer(token)), 403)
        # Every worker's verification of the token as valid was before now.
        verified = time.monotonic()
        revoked = run_in_process("token", "revoke", grant["tokenId"], store=store_url)
        assert grant["tokenId"] in revoked.out
        at = time.monotonic()

        def refused() -> bool:
            with server.client() as one:  # a new connection: any worker
                answer = one.post("/v1/reports", json=sent, headers=bearer(token))
            return answer.status_code == 401

        # Each worker may answer from its cache of verified tokens for CACHE seconds.
        eventually(refused, timeout=15, what="the revoked token refused", every=0.1)
        assert time.monotonic() - at < CACHE + 3
        listed = run_in_process("token", "list", "--all", "-o", "json", store=store_url).json()
        assert listed[0]["revokedAt"] is not None
        assert run_in_process("token", "list", "-o", "json", store=store_url).json() == []
        # Every worker's cache has let go (CACHE after a verification, and a margin).
        time.sleep(max(0.0, verified + CACHE + 0.3 - time.monotonic()))
        for _ in range(6):
            assert refused()


def test_without_a_store_serve_starts_and_is_not_ready(tmp_path: Path) -> None:
    with served(UNREACHABLE, log_dir=str(tmp_path)) as server, server.client() as http:
        assert http.get("/healthz").status_code == 200
        ready = http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["store"] == "unavailable"
        assert "unavailable" in ready.json()["reason"]
        answer = http.post(
            "/v1/reports", json=report(), headers=bearer("dlt_" + "0" * 12 + "_" + "a" * 43)
        )
        problem_of(answer, 503)
        assert answer.headers["retry-after"] == "1"
        assert "deployledger_store_up 0.0" in http.get("/metrics").text
    assert "starting anyway" in server.log()


def test_no_auth_is_for_loopback_only_and_says_so(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'ledger.db'}"
    # In process (a CLI start-up costs a second or more), on a port held here: a `serve`
    # that did not refuse would fail to listen (and say so without "loopback"), not serve.
    with socket.socket(socket.AF_INET6) as held:
        held.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        held.bind(("::", 0))
        held.listen()
        port = str(held.getsockname()[1])
        for host in ("0.0.0.0", "::", "192.0.2.10", "example.com"):
            args = ("serve", "--no-auth", "--host", host, "--port", port)
            refused = run_in_process(*args, store=store, expect=2)
            assert len(refused.err.strip().splitlines()) == 1
            assert "loopback" in refused.err
    with served(store, "--no-auth", log_dir=str(tmp_path)) as server, server.client() as http:
        assert http.post("/v1/reports", json=report(tenant="anyone")).status_code == 201
        assert http.get("/v1/workloads").json()[0]["tenantId"] == "anyone"
    assert "WARNING: --no-auth: NO TOKEN IS CHECKED" in server.log()


def test_a_token_cache_out_of_bounds_is_a_usage_error(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'ledger.db'}"
    for seconds in ("-1", "3601", "soon"):
        refused = run_in_process("serve", "--token-cache", seconds, store=store, expect=2)
        assert "--token-cache" in refused.err, refused.err
        assert "Traceback" not in refused.err
    assert not (tmp_path / "ledger.db").exists()


def test_a_store_that_must_be_fixed_first_is_one_line_and_exit_2(fresh_postgres: str) -> None:
    missing = fresh_postgres.rsplit("/", 1)[0] + "/no_such_database_here"
    result = run_cli("serve", "--port", str(free_port()), store=missing, expect=2)
    assert "does not exist" in result.err
    assert len(result.err.strip().splitlines()) == 1
    unmigrated = run_cli("serve", "--port", str(free_port()), store=fresh_postgres, expect=2)
    assert "migrate" in unmigrated.err


def test_a_port_in_use_is_said_without_a_traceback(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        store = f"sqlite:///{tmp_path / 'ledger.db'}"
        result = run_cli("serve", "--port", str(port), store=store, expect=2)
        assert f"cannot listen on 127.0.0.1:{port}" in result.err
        assert len(result.err.strip().splitlines()) == 1


def raw(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=15)


def is_closed(sock: socket.socket) -> bool:
    """Whether the server has closed the connection (without waiting)."""
    try:
        return sock.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def closed_after(sock: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and how long that took."""
    started = time.monotonic()
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data, time.monotonic() - started


def test_slow_and_abandoned_clients_cannot_hold_a_connection(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'ledger.db'}"
    tokens = make_tokens(store)
    args = ("--head-timeout", "1.5", "--body-timeout", "1", "--keep-alive", "1")
    with served(store, *args, log_dir=str(tmp_path)) as server:
        port = int(server.url.rsplit(":", 1)[1])
        with raw(port) as silent:  # connects, sends nothing
            data, took = closed_after(silent)
            assert data == b""
            assert 1.0 < took < 5
        with raw(port) as trickle:  # a header byte now and then never completes the head
            trickle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            started = time.monotonic()
            closed = False
            for _ in range(40):
                try:
                    trickle.sendall(b"X")
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                    break
                time.sleep(0.2)
                if is_closed(trickle):
                    closed = True
                    break
            assert closed
            assert 1.2 < time.monotonic() - started < 5
        with raw(port) as abandoned:  # the head, then part of the body, then nothing
            abandoned.sendall(
                b"POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Authorization: Bearer {tokens.acme}\r\n".encode()
                + b'Content-Length: 1000\r\n\r\n{"tenantId": '
            )
            data, took = closed_after(abandoned)
            assert data.startswith(b"HTTP/1.1 408 "), data
            assert b"urn:deployledger:problem:request-timeout" in data
            assert took < 5
        with raw(port) as idle:  # one request, then idle: keep-alive closes it
            idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            data, took = closed_after(idle)
            assert data.startswith(b"HTTP/1.1 200 ")
            assert took < 5
        with raw(port) as huge:  # an unfinished request head over h11's limit (64 KiB)
            huge.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000)
            data, _ = closed_after(huge)
            assert data.startswith(b"HTTP/1.1 400 ")
        # And the service still answers.
        assert httpx.get(server.url + "/healthz").status_code == 200


@pytest.mark.slow
def test_make_serve_serves_the_demo_store_with_a_printed_admin_token(tmp_path: Path) -> None:
    """`make serve` with the venv of this interpreter (not rebuilt: `-o`) on a new store."""
    venv = Path(sys.executable).parent.parent
    port = free_port()
    store = f"sqlite:///{tmp_path / 'demo.db'}"
    argv = [
        *("make", "--no-print-directory", "-C", str(REPO), "serve"),
        *(f"VENV={venv}", f"STORE={store}", f"PORT={port}", "-o", f"{venv}/bin/deployledger"),
    ]
    log = tmp_path / "make-serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=cli_env(), start_new_session=True
        )
    try:

        def token() -> str | None:
            assert proc.poll() is None, log.read_text()
            found = re.search(r"admin token \(shown once\): (dlt_\S+)", log.read_text())
            return found.group(1) if found else None

        admin = eventually(token, timeout=60, what="the admin token", every=0.2)

        def fleet() -> Any:
            try:
                answer = httpx.get(
                    f"http://127.0.0.1:{port}/v1/workloads", headers=bearer(admin), timeout=5
                )
            except httpx.HTTPError:
                return None
            return answer.json() if answer.status_code == 200 else None

        rows = eventually(fleet, timeout=60, what="make serve to answer", every=0.2)
        assert {"acme-prod", "acme-staging"} <= {r["tenantId"] for r in rows}
        assert f"curl -H 'Authorization: Bearer {admin}'" in log.read_text()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # make and the service it started
        proc.wait(timeout=30)
    assert "Traceback" not in log.read_text()
