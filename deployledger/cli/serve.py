"""`serve`: the HTTP service (FastAPI on uvicorn), over the configured store.

With `--workers N > 1`, uvicorn starts N processes that each build the app from an import
string (`deployledger.http.app:factory`), so the settings travel in environment variables
(`DEPLOYLEDGER_SERVE_*`), and the Prometheus counters of every worker are summed through a
temporary directory (`PROMETHEUS_MULTIPROC_DIR`), removed at exit. A client cannot hold a
connection forever: its request head must arrive within `--head-timeout`, its body within
`--body-timeout` (408), and an idle keep-alive connection is closed after `--keep-alive`
seconds; h11 bounds the size of a request head (64 KiB). SIGTERM (or Ctrl-C)
shuts down gracefully: no new connections, the requests in flight finish (up to
`--graceful-timeout` seconds), then the store is closed.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile

import click

from deployledger import StoreUnavailable, StoreURL
from deployledger.cli import output, render
from deployledger.cli.app import Settings, cli, pass_settings

APP = "deployledger.http.app:factory"
PROTOCOL = "deployledger.http.protocol:GuardedH11Protocol"  # h11, with a request-head deadline
MIB = 1024 * 1024


def _say(text: str) -> None:
    click.echo(f"deployledger: {render.safe(text)}", err=True)


def _check_port(host: str, port: int) -> None:
    """A usage error, before anything starts, when the address cannot be listened on."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as e:
        raise click.UsageError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None


@cli.command(
    epilog=output.examples(
        "deployledger serve",
        "deployledger --store postgresql://app@db:5432/ledger serve --host 0.0.0.0 --workers 4",
        "deployledger serve --no-auth          # loopback only: no token needed",
    )
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="TCP port."
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    metavar="N",
    help="Worker processes (use one with SQLite).",
)
@click.option(
    "--no-auth",
    is_flag=True,
    help="Serve without tokens (every request is an admin). Only on a loopback host.",
)
@click.option(
    "--max-body-bytes",
    type=click.IntRange(min=1024),
    default=8 * MIB,
    show_default=True,
    metavar="BYTES",
    help="Largest request body; a larger one is answered 413.",
)
@click.option(
    "--body-timeout",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="Longest time to receive a request body (408 after it).",
)
@click.option(
    "--head-timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="Close a connection whose request line and headers take longer than this.",
)
@click.option(
    "--keep-alive",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    metavar="SECONDS",
    help="Close an idle keep-alive connection after this long.",
)
@click.option(
    "--graceful-timeout",
    type=click.IntRange(min=1),
    default=30,
    show_default=True,
    metavar="SECONDS",
    help="On SIGTERM, wait at most this long for requests in flight.",
)
@click.option(
    "--ready-max-lag",
    type=click.IntRange(min=0),
    default=10_000,
    show_default=True,
    metavar="EVENTS",
    help="/readyz answers 503 when the read model is further behind than this.",
)
@click.option(
    "--follow/--no-follow",
    default=True,
    show_default=True,
    help="Keep the read model live in each worker (a projection follower).",
)
@click.option(
    "--group-commit/--no-group-commit",
    default=True,
    show_default=True,
    help="Append each worker's POSTs through one writer, many per transaction; each is "
    "answered after its own commit.",
)
@click.option(
    "--commit-batch",
    type=click.IntRange(min=1, max=100_000),
    default=256,
    show_default=True,
    metavar="MESSAGES",
    help="Group commit: a batch closes when it holds this many messages.",
)
@click.option(
    "--commit-wait",
    type=click.FloatRange(min=0, max=10),
    default=0.002,
    show_default=True,
    metavar="SECONDS",
    help="Group commit: a batch closes this long after its first message, at most "
    "(a request with none beside it is committed at once).",
)
@click.option(
    "--commit-queue",
    type=click.IntRange(min=1, max=1_000_000),
    default=1024,
    show_default=True,
    metavar="REQUESTS",
    help="Group commit: at most this many requests wait for the writer; one more is "
    "answered 503 with Retry-After at once.",
)
@click.option(
    "--intake-strict",
    is_flag=True,
    envvar="DEPLOYLEDGER_INTAKE_STRICT",
    help="POST /v1/intake/cloudevents answers 422 for a CloudEvent type it does not take "
    "(default: 202, ignored). Env: DEPLOYLEDGER_INTAKE_STRICT=1.",
)
@click.option(
    "--token-cache",
    type=click.FloatRange(min=0, max=3600),
    default=5.0,
    show_default=True,
    envvar="DEPLOYLEDGER_TOKEN_CACHE",
    metavar="SECONDS",
    help="How long each worker trusts a token it has verified: a revoked token is refused "
    "within this time. 0 checks the store on every request. Env: DEPLOYLEDGER_TOKEN_CACHE.",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
    help="The least severe messages logged (on stderr).",
)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="Log one line per request (on stdout).",
)
@pass_settings
def serve(
    settings: Settings,
    host: str,
    port: int,
    workers: int,
    no_auth: bool,
    max_body_bytes: int,
    body_timeout: float,
    head_timeout: float,
    keep_alive: int,
    graceful_timeout: int,
    ready_max_lag: int,
    follow: bool,
    group_commit: bool,
    commit_batch: int,
    commit_wait: float,
    commit_queue: int,
    intake_strict: bool,
    token_cache: float,
    log_level: str,
    access_log: bool,
) -> None:
    """Serve the HTTP API (and /metrics, /healthz, /readyz) over the store. Every /v1
    request needs a token: `deployledger token create`."""
    import uvicorn

    from deployledger.http.settings import ServeSettings

    try:
        serve_settings = ServeSettings(
            store=settings.store,
            read_model=settings.read_model,
            read_store=settings.read_store,
            read_wait=settings.read_wait,
            auth=not no_auth,
            host=host,
            max_body_bytes=max_body_bytes,
            body_timeout=body_timeout,
            ready_max_lag_events=ready_max_lag,
            follow=follow,
            group_commit=group_commit,
            commit_batch=commit_batch,
            commit_wait=commit_wait,
            commit_queue=commit_queue,
            intake_strict=intake_strict,
            token_cache=token_cache,
        )
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    _check_port(host, port)
    redacted = StoreURL.parse(settings.store).redacted()
    try:
        with settings.ledger(create=None):
            pass
    except StoreUnavailable as e:
        _say(f"{e}; starting anyway: requests answer 503 until it is back")
    if no_auth:
        for line in (
            "WARNING: --no-auth: NO TOKEN IS CHECKED. Every request may read and write",
            f"WARNING: every tenant's data. Only this machine can reach {host}:{port};",
            "WARNING: never run --no-auth where anything else shares the host.",
        ):
            _say(line)
    os.environ.update(serve_settings.to_env())
    os.environ["DEPLOYLEDGER_SERVE_HEAD_TIMEOUT"] = str(head_timeout)
    metrics_dir = None
    if workers > 1:
        metrics_dir = tempfile.mkdtemp(prefix="deployledger-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    if workers > 1 and not StoreURL.parse(settings.store).is_postgres:
        _say("note: SQLite takes one writer at a time; more workers add no write throughput")
    plural = "s" if workers > 1 else ""
    _say(f"serving {redacted} on http://{host}:{port} ({workers} worker{plural})")
    if settings.read_store is not None:
        standby = StoreURL.parse(settings.read_store).redacted()
        _say(f"queries read {standby} (--read-store; minPosition waits {settings.read_wait:g}s)")
    try:
        uvicorn.run(
            APP,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            http=PROTOCOL,
            lifespan="on",
            timeout_keep_alive=keep_alive,
            timeout_graceful_shutdown=graceful_timeout,
            h11_max_incomplete_event_size=64 * 1024,
            log_level=log_level,
            access_log=access_log,
            server_header=False,
            proxy_headers=False,
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
