"""The service's settings: one frozen value, built by `deployledger serve` (or a test) and,
for `--workers N`, passed to each worker process through environment variables."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

MIB = 1024 * 1024
DEFAULT_MAX_BODY_BYTES = 8 * MIB
LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost", "ip6-loopback"})

# Where `serve` puts each setting for the worker processes (see `to_env` / `from_env`).
ENV_PREFIX = "DEPLOYLEDGER_SERVE_"


def is_loopback(host: str) -> bool:
    """Whether `host` is only reachable from this machine: 127.0.0.0/8, ::1, localhost."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class ServeSettings:
    """Everything `create_app` needs.

    `auth=False` (`serve --no-auth`) gives every request an admin grant; it is refused
    unless `host` is a loopback address. `body_timeout` bounds the time to read a request
    body (an abandoned upload cannot hold a worker); `ready_max_lag_events` is the largest
    read-model lag (in events) at which `/readyz` still answers 200. With `read_store`, every
    query goes to that standby; a read with `minPosition` waits up to `read_wait` seconds for
    it, then reads from the primary. `follow` runs a projection follower in the process, so
    the read model stays live between queries. `group_commit` appends the POSTed messages of
    each worker through one writer, in batches of up to `commit_batch` messages gathered for
    at most `commit_wait` seconds; at most `commit_queue` requests wait for it (one
    more answers 503 with Retry-After). `intake_strict` makes the CloudEvents intake refuse (422)
    the event types it does not take, instead of ignoring them (202). `token_cache` is how
    long each worker answers a verified token from its cache (a revocation takes effect
    within it; 0 checks the store on every request)."""

    store: str
    read_model: str | None = None
    read_store: str | None = None  # a streaming standby every query goes to
    read_wait: float = 2.0  # seconds a read with minPosition waits for it
    auth: bool = True
    host: str = "127.0.0.1"
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    body_timeout: float = 30.0
    ready_max_lag_events: int = 10_000
    follow: bool = True
    poll_interval: float = 1.0
    retry_after: int = 1  # seconds, in the Retry-After of a 503
    group_commit: bool = True  # POSTs appended by one writer per worker, batched
    commit_batch: int = 256  # messages: a batch closes when it holds this many
    commit_wait: float = 0.002  # seconds after a batch's first message, at most
    commit_queue: int = 1024  # requests waiting for the writer; one more answers 503
    intake_strict: bool = False  # CloudEvents intake: 422 for a type it does not take
    token_cache: float = 5.0  # seconds a verified token is answered from the cache

    def __post_init__(self) -> None:
        if not self.auth and not is_loopback(self.host):
            raise ValueError(
                f"--no-auth is only allowed on a loopback host (127.0.0.1, ::1, localhost), "
                f"not {self.host!r}"
            )
        for name in (
            "max_body_bytes",
            "body_timeout",
            "poll_interval",
            "retry_after",
            "commit_batch",
            "commit_queue",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        if not 0 <= self.commit_wait <= 10:
            raise ValueError(f"commit_wait must be 0 to 10 seconds, got {self.commit_wait!r}")
        if not 0 <= self.token_cache <= 3600:
            raise ValueError(
                f"token_cache must be from 0 to 3600 seconds, got {self.token_cache!r}"
            )
        if not 0 <= self.read_wait <= 3600:
            raise ValueError(f"read_wait must be from 0 to 3600 seconds, got {self.read_wait!r}")
        if self.ready_max_lag_events < 0:
            raise ValueError("ready_max_lag_events must not be negative")

    def to_env(self) -> dict[str, str]:
        """The settings as environment variables, for `from_env` in a worker process."""
        env = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if value is None:
                continue
            text = ("1" if value else "0") if isinstance(value, bool) else str(value)
            env[ENV_PREFIX + field.name.upper()] = text
        return env

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServeSettings:
        """The settings `to_env` wrote (missing ones take their defaults)."""
        environ = os.environ if environ is None else environ
        kwargs: dict[str, object] = {}
        for field in fields(cls):
            text = environ.get(ENV_PREFIX + field.name.upper())
            if text is None:
                continue
            kind = field.type if isinstance(field.type, str) else field.type.__name__
            if kind == "bool":
                kwargs[field.name] = text == "1"
            elif kind == "int":
                kwargs[field.name] = int(text)
            elif kind == "float":
                kwargs[field.name] = float(text)
            else:
                kwargs[field.name] = text
        if "store" not in kwargs:
            raise ValueError(
                f"{ENV_PREFIX}STORE is not set: start the service with `deployledger serve`"
            )
        return cls(**kwargs)  # type: ignore[arg-type]
