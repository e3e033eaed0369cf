"""ASGI middleware: count every HTTP request by route template, method and status."""

from __future__ import annotations

from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deployledger.http.metrics import Metrics


class RequestMetrics:
    """`deployledger_http_requests_total{route,method,status}`; a path no route matched
    counts as route `unmatched` (so unknown paths cannot grow the label set)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) if isinstance(route, BaseRoute) else None
            self.metrics.requests.labels(path or "unmatched", scope["method"], str(status)).inc()
