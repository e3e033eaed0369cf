"""Local HTTP receivers for the notification sinks: on 127.0.0.1, in threads.

A `Receiver` keeps every request it answered with a 2xx (path, headers, JSON body), and can
fail at random: a 500, a timeout (it waits past the client's timeout, then answers 200, so
the sender sees a failure although the receiver took it: a duplicate to come), or a
connection reset (closed with SO_LINGER 0 before answering). `down=True` fails everything.
"""

from __future__ import annotations

import json
import random
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def delivery(self) -> str:
        return self.headers["X-Deployledger-Delivery"]


@dataclass
class Receiver:
    """What one receiver took, and how it fails."""

    fail_rate: float = 0.0
    down: bool = False
    stall: float = 0.5  # seconds a "timeout" waits before answering
    seed: int = 0
    received: list[Received] = field(default_factory=list)
    failed: dict[str, int] = field(default_factory=dict)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def choose(self) -> str:
        with self._lock:
            if self.down:
                return "500"
            roll = self._random.random()
        if roll >= self.fail_rate:
            return "ok"
        return ("500", "timeout", "reset")[int(roll / self.fail_rate * 3) % 3]

    def keep(self, item: Received) -> None:
        with self._lock:
            self.received.append(item)

    def count(self, how: str) -> None:
        with self._lock:
            self.failed[how] = self.failed.get(how, 0) + 1

    def ids(self) -> list[int]:
        with self._lock:
            return [int(r.delivery) for r in self.received]

    def bodies(self) -> list[Any]:
        with self._lock:
            return [r.body for r in self.received]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            how = receiver.choose()
            if how == "reset":
                receiver.count(how)
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.close_connection = True
                self.connection.close()
                return
            if how == "500":
                receiver.count(how)
                self._answer(500)
                return
            if how == "timeout":
                receiver.count(how)
                time.sleep(receiver.stall)
            receiver.keep(Received(self.path, dict(self.headers.items()), json.loads(raw)))
            self._answer(200)

        def _answer(self, status: int) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def receiving(*receivers: Receiver) -> Iterator[tuple[Receiver, ...]]:
    """Serve each receiver on its own port of 127.0.0.1 (its `url`) until the block ends."""
    servers = []
    try:
        for receiver in receivers:
            server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
            server.daemon_threads = True
            receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
            threading.Thread(target=server.serve_forever, daemon=True).start()
            servers.append(server)
        yield receivers
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
