"""uvicorn's h11 protocol, with a deadline for the request head.

uvicorn closes a keep-alive connection that stays idle after a response
(`timeout_keep_alive`), but a connection that never completes its request line and headers
(a new one that sends nothing, or one that sends a byte now and then) is kept forever. Here
such a connection is closed `head_timeout` seconds after it was made, or after its previous
response. The body has its own deadline in the app (`ServeSettings.body_timeout`, 408).

`serve` names this class by its import string, so every worker loads it; the deadline is
read from `DEPLOYLEDGER_SERVE_HEAD_TIMEOUT` (default 10 seconds).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_TIMEOUT_ENV = "DEPLOYLEDGER_SERVE_HEAD_TIMEOUT"
DEFAULT_HEAD_TIMEOUT = 10.0


class GuardedH11Protocol(H11Protocol):
    """H11Protocol that closes a connection whose request head does not arrive in time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_timeout = float(os.environ.get(HEAD_TIMEOUT_ENV, DEFAULT_HEAD_TIMEOUT))
        self._head_deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._head_deadline = self.loop.call_later(self.head_timeout, self._head_too_late)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_late(self) -> None:
        self._head_deadline = None
        # Only while no request is under way: a request whose head arrived is the app's.
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm()  # the request head is complete

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)
