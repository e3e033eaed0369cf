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

from deployledger import DeployLedgerError, GroupWriter, Ledger, StoreUnavailable
from deployledger.http.settings import ServeSettings

REOPEN_INTERVAL = 1.0


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
                    self._settings.store, create=None, read_model_url=self._settings.read_model
                )
            except DeployLedgerError as e:
                self._error, self._failed_at = e, time.monotonic()
                raise
            if self._settings.group_commit:
                self.writer = ledger.writer(
                    max_batch=self._settings.commit_batch,
                    max_wait=self._settings.commit_wait,
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
    """The app's open ledger (opening it in a worker thread if it is not open yet)."""
    holder = holder_of(request)
    if holder.ledger is not None:
        return holder.ledger
    return await to_thread.run_sync(holder.get)
