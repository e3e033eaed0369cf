"""The app's shared state: its settings, and the open `Ledger`.

The ledger is opened when the app starts. If the store cannot be used then (unreachable:
`StoreUnavailable`; or a missing schema ...), the service starts anyway: every request that
needs the store answers 503 with `Retry-After` (500 for a store that must be fixed first),
`/readyz` says why, and a request after `REOPEN_INTERVAL` seconds tries to open it again.
`app.state.ledger` is the open `Ledger`, or None until it could be opened.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from anyio import to_thread
from fastapi import FastAPI, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deployledger import DeployLedgerError, GroupWriter, Ledger, StoreUnavailable
from deployledger.http.settings import ServeSettings

REOPEN_INTERVAL = 1.0
READ_FROM_HEADER = b"x-deployledger-read-from"


class LedgerHolder:
    """Opens the ledger once, retrying while the store is unavailable."""

    def __init__(self, app: FastAPI, settings: ServeSettings) -> None:
        self._app = app
        self._settings = settings
        self._lock = threading.Lock()
        self._failed_at = 0.0
        self._error: DeployLedgerError | None = None
        self.ledger: Ledger | None = None
        self.writer: GroupWriter | None = None  # with group commit, made with the ledger
        self.on_commit: Callable[[int, float], None] | None = None
        self.closed = False

    def get(self) -> Ledger:
        """The open ledger; while it cannot be opened, the reason (`StoreUnavailable`, or
        `SchemaMissing`, `StoreMisconfigured` ...), tried again after `REOPEN_INTERVAL`."""
        ledger = self.ledger
        if ledger is not None:
            return ledger
        with self._lock:
            if self.ledger is not None:
                return self.ledger
            if self.closed:
                raise StoreUnavailable("the service is shutting down")
            if self._error is not None and time.monotonic() - self._failed_at < REOPEN_INTERVAL:
                raise self._error.with_traceback(None)
            try:
                ledger = Ledger.open(
                    self._settings.store,
                    create=None,
                    read_model_url=self._settings.read_model,
                    read_url=self._settings.read_store,
                    read_wait=self._settings.read_wait,
                )
            except DeployLedgerError as e:
                self._error, self._failed_at = e, time.monotonic()
                raise
            ledger.tokens.cache_seconds = self._settings.token_cache
            if self._settings.group_commit:
                self.writer = ledger.writer(
                    max_batch=self._settings.commit_batch,
                    max_wait=self._settings.commit_wait,
                    max_queue=self._settings.commit_queue,
                    on_commit=self.on_commit,
                )
            self.ledger = self._app.state.ledger = ledger
            self._error = None
            return ledger

    def close(self) -> None:
        with self._lock:
            self.closed = True
            if self.writer is not None:
                self.writer.close()
                self.writer = None
            if self.ledger is not None:
                self.ledger.close()
                self.ledger = self._app.state.ledger = None


def holder_of(request: Request) -> LedgerHolder:
    holder: LedgerHolder = request.app.state.holder
    return holder


def settings_of(request: Request) -> ServeSettings:
    settings: ServeSettings = request.app.state.settings
    return settings


async def ledger_of(request: Request) -> Ledger:
    """The app's open ledger (opening it in a worker thread if it is not open yet).

    For a read (a route with the `minPosition` parameter, which marks `request.state`), the
    ledger its queries go to: the read store once it has reached `minPosition`, else the
    primary; `request.state.read_from` says which (the `X-Deployledger-Read-From` header)."""
    holder = holder_of(request)
    ledger = holder.ledger
    if ledger is None:
        ledger = await to_thread.run_sync(holder.get)
    state = request.scope.get("state") or {}
    if not state.get("reads"):
        return ledger
    chosen: Ledger | None = state.get("reading")  # chosen once per request
    if chosen is None:
        chosen = ledger
        minimum = state.get("min_position")
        if minimum is not None and ledger.read_from == "standby":
            chosen = await to_thread.run_sync(ledger.reading, minimum)
        request.state.reading = chosen
        request.state.read_from = chosen.read_from
    return chosen


class ReadSourceHeader:
    """ASGI middleware: `X-Deployledger-Read-From: standby | primary` on every answer to a
    read, naming the database its queries went to."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                source = (scope.get("state") or {}).get("read_from")
                if source is not None:
                    headers = list(message.get("headers", []))
                    headers.append((READ_FROM_HEADER, source.encode("ascii")))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)
