"""How the event store's PostgreSQL pool replaces lost connections, and what it says then.

The pool (psycopg_pool, checked with 3.2 and 3.3) replaces a lost connection in a
background task, `ConnectionPool._add_connection(attempt, growing=...)`, which makes an
`AttemptWithBackoff` when given none and waits `attempt.delay`, set by `update_delay()`,
before each new try: 1 s, doubling, for up to `reconnect_timeout` (5 minutes). After an
outage or a failover of T seconds a read could then wait about T more seconds for a
connection, while the writing connection and the read model reconnect at once.
`cap_reconnect_delay` makes the pool try at least every `cap` seconds.

Each failed try logs a warning ("error connecting in 'pool-1': ..."). At one a second per
lost connection an outage would flood the log, so for the pools capped here that warning
is let through once per `REPEAT_EVERY` seconds.

These are another library's internals: with a psycopg_pool that lacks them, the pool keeps
its own schedule (tests/integration/test_pool_reconnect.py checks the installed one).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import Any

REPEAT_EVERY = 30.0  # seconds between two "error connecting" warnings of one pool
_POOL_LOGGER = "psycopg.pool"
_CONNECT_FAILED = "error connecting in %r: %s"


class _RepeatFilter(logging.Filter):
    """Drops a capped pool's "error connecting" warning when the same pool logged one less
    than `REPEAT_EVERY` seconds ago; lets everything else through."""

    def __init__(self) -> None:
        super().__init__()
        self.pools: weakref.WeakSet[Any] = weakref.WeakSet()
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg != _CONNECT_FAILED or not isinstance(record.args, tuple):
            return True
        name = record.args[0] if record.args else None
        if not any(pool.name == name for pool in list(self.pools)):
            return True
        now = time.monotonic()
        with self._lock:
            last = self._last.get(str(name))
            if last is not None and now - last < REPEAT_EVERY:
                return False
            self._last[str(name)] = now
        return True


_FILTER = _RepeatFilter()
logging.getLogger(_POOL_LOGGER).addFilter(_FILTER)


def cap_reconnect_delay(pool: Any, cap: float) -> bool:
    """Make `pool` (a psycopg_pool `ConnectionPool`) try to replace a lost connection at
    least every `cap` seconds; False if the installed psycopg_pool has no such hook."""
    try:
        from psycopg_pool.base import AttemptWithBackoff
    except ImportError:
        return False
    add = getattr(pool, "_add_connection", None)
    if add is None:
        return False

    def capped_attempt() -> Any:
        attempt = AttemptWithBackoff(timeout=pool.reconnect_timeout)
        update = attempt.update_delay

        def update_delay(now: float) -> None:
            update(now)
            attempt.delay = min(attempt.delay, cap)

        attempt.update_delay = update_delay  # type: ignore[method-assign]
        return attempt

    def add_connection(attempt: Any = None, *args: Any, **kwargs: Any) -> Any:
        return add(capped_attempt() if attempt is None else attempt, *args, **kwargs)

    pool._add_connection = add_connection
    _FILTER.pools.add(pool)
    return True
