"""The FastAPI app of `deployledger serve`.

`create_app(settings)` builds it; `factory()` builds it from the environment variables
`serve` sets, for uvicorn's workers (`deployledger.http.app:factory`, `factory=True`).
The ledger is opened in the lifespan and closed after; a projection follower keeps the
read model live in a background thread (`settings.follow`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from deployledger import DeployLedgerError
from deployledger.http import problems
from deployledger.http.api import failures as routes_failures
from deployledger.http.api import health as routes_health
from deployledger.http.api import insights as routes_insights
from deployledger.http.api import intake as routes_intake
from deployledger.http.api import openapi
from deployledger.http.api import read as routes_read
from deployledger.http.api import reports as routes_reports
from deployledger.http.jsonbody import PlainJSONResponse
from deployledger.http.metrics import Metrics
from deployledger.http.middleware import RequestMetrics
from deployledger.http.settings import ServeSettings
from deployledger.http.state import LedgerHolder, ReadSourceHeader
from deployledger.presentation.sinks import outgoing

log = logging.getLogger("deployledger.http")
DESCRIPTION = """\
Every helm deployment message of a fleet, kept as immutable events: record deploy requests,
progress, outcomes and undeploys; read the fleet, one workload's timeline, the audit trail
and the deploys that never reported back.

Every `/v1` request needs `Authorization: Bearer <token>` (`deployledger token create`).
Errors are RFC 9457 `application/problem+json`.
"""


def _follow(holder: LedgerHolder, stop: threading.Event, poll_interval: float) -> None:
    """Keep the read model live until `stop`; through store outages, retry each second
    (saying so once per distinct reason, not every second)."""
    said = None
    while not stop.is_set():
        try:
            holder.get().follow(
                stop,
                poll_interval=poll_interval,
                on_outage=lambda e: log.warning("read-model follower: %s; reconnecting", e),
            )
        except DeployLedgerError as e:
            if not stop.is_set() and str(e) != said:
                log.warning("read-model follower: %s; retrying every second", e)
                said = str(e)
        except Exception:  # a bug: keep following, and say it in the log
            log.exception("read-model follower failed; retrying every second")
        stop.wait(1.0)


def _deliver(holder: LedgerHolder, stop: threading.Event, poll_interval: float) -> None:
    """Deliver to the notification sinks until `stop` (each sink in its own thread); through
    store outages, retry each second (saying so once per distinct reason)."""
    said = None
    while not stop.is_set():
        try:
            holder.get().sinks.run(
                stop,
                outgoing,
                poll_interval=poll_interval,
                on_error=lambda name, e: log.warning("sink %s: %s", name, e),
            )
        except DeployLedgerError as e:
            if not stop.is_set() and str(e) != said:
                log.warning("sink delivery: %s; retrying every second", e)
                said = str(e)
        except Exception:  # a bug: keep delivering, and say it in the log
            log.exception("sink delivery failed; retrying every second")
        stop.wait(1.0)


def create_app(settings: ServeSettings) -> FastAPI:
    """The service's app over the store of `settings` (opened when the app starts)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        holder: LedgerHolder = app.state.holder
        try:
            holder.get()
        except DeployLedgerError as e:
            log.warning("the store cannot be used (requests fail until it can): %s", e)
        stop = threading.Event()
        follower = delivery = None
        if settings.follow:
            follower = threading.Thread(
                target=_follow,
                args=(holder, stop, settings.poll_interval),
                name="deployledger-follower",
                daemon=True,
            )
            follower.start()
            delivery = threading.Thread(
                target=_deliver,
                args=(holder, stop, settings.poll_interval),
                name="deployledger-sinks",
                daemon=True,
            )
            delivery.start()
        try:
            yield
        finally:
            stop.set()
            if follower is not None:
                follower.join(timeout=10)
            if delivery is not None:
                delivery.join(timeout=10)
            holder.close()

    app = FastAPI(
        title="deployledger",
        version=_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        default_response_class=PlainJSONResponse,
    )
    app.state.settings = settings
    app.state.ledger = None
    app.state.holder = holder = LedgerHolder(app, settings)
    app.state.metrics = metrics = Metrics()
    holder.on_commit = metrics.committed
    problems.install(app, settings.retry_after)
    app.include_router(routes_reports.router)
    app.include_router(routes_intake.router)
    app.include_router(routes_read.router)
    app.include_router(routes_failures.router)
    app.include_router(routes_insights.router)
    app.include_router(routes_health.router)
    from deployledger.http.dashboard import insights as on_call
    from deployledger.http.dashboard import pages as dashboard

    app.include_router(dashboard.router, include_in_schema=False)
    app.include_router(on_call.router, include_in_schema=False)
    app.add_middleware(ReadSourceHeader)
    app.add_middleware(RequestMetrics, metrics=metrics)
    openapi.install(app)
    return app


def factory() -> FastAPI:
    """The app for uvicorn's workers, from the settings `serve` put in the environment."""
    return create_app(ServeSettings.from_env())


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("deployledger")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree
        return "0"
