"""Store URLs: `sqlite:///path.db`, `sqlite:///:memory:`, `postgresql://user[:pw]@host[:port]/db`.

Settings may ride along as query parameters, for example
`postgresql://app@db:5432/ledger?lock_timeout=2&connect_timeout=3&pool_size=4&schema=ops`.

A replicated PostgreSQL takes libpq's multi-host form, every host tried in turn:
`postgresql://app@db-a:5432,db-b:5432/ledger?target_session_attrs=read-write`. Every
connection (event store, read model, follower, `migrate`, `serve`) passes the whole list
and `target_session_attrs` to libpq, so an unreachable host is passed over for the next,
and with `read-write` (or `primary`) a standby is never written to.

`redacted()` is the only form of a URL that may appear in a message or a log.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass, field, replace
from typing import ClassVar, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from deployledger.errors import InvalidStoreURL

DEFAULT_STORE_URL = "sqlite:///deployledger.db"
DEFAULT_LOCK_TIMEOUT = 10.0  # seconds; PostgreSQL's own default of 0 would wait forever
DEFAULT_CONNECT_TIMEOUT = 5.0

_SCHEMES = {"sqlite": "sqlite", "postgresql": "postgres", "postgres": "postgres"}
_SCHEMES["postgresql+psycopg"] = "postgres"
_NUMERIC = {"lock_timeout", "connect_timeout", "pool_size", "max_message_bytes"}
_INTEGER = {"pool_size", "max_message_bytes"}
_ALLOWED = {
    "sqlite": {"lock_timeout", "max_message_bytes"},
    "postgres": _NUMERIC | {"schema", "target_session_attrs"},
}
# libpq's values (PostgreSQL 14+).
SESSION_ATTRS = ("any", "read-write", "read-only", "primary", "standby", "prefer-standby")
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@dataclass(frozen=True)
class StoreURL:
    """A parsed store URL. Never print it; print `redacted()`."""

    backend: Literal["sqlite", "postgres"]
    path: str = ""  # SQLite file, or a shared-cache memory URI
    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    password: str = field(default="", repr=False)
    dbname: str = ""
    schema: str = "public"
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    pool_size: int = 5
    memory: bool = False
    max_message_bytes: int | None = None  # the largest status message kept whole
    # Every (host, port) of a multi-host URL, in order; `host`/`port` are the first.
    hosts: tuple[tuple[str, int], ...] = ()
    target_session_attrs: str = ""  # libpq's; empty: its default, "any"

    DEFAULT: ClassVar[str] = DEFAULT_STORE_URL

    @classmethod
    def parse(cls, url: str) -> StoreURL:
        """Parse a store URL; `InvalidStoreURL` says what is wrong with it."""
        return parse_store_url(url)

    @property
    def is_postgres(self) -> bool:
        return self.backend == "postgres"

    def redacted(self) -> str:
        """The URL with the password masked: safe to show anywhere."""
        if self.backend == "sqlite":
            return "sqlite:///:memory:" if self.memory else f"sqlite:///{self.path}"
        auth = self.user + (":***" if self.password else "")
        hosts = ",".join(f"{_bracketed(h)}:{p}" for h, p in self.all_hosts)
        attrs = f"?target_session_attrs={self.target_session_attrs}"
        return f"postgresql://{auth}@{hosts}/{self.dbname}" + (
            attrs if self.target_session_attrs else ""
        )

    @property
    def all_hosts(self) -> tuple[tuple[str, int], ...]:
        """Every (host, port) to try, in order: one unless the URL listed several."""
        return self.hosts or ((self.host, self.port),)

    @property
    def multi_host(self) -> bool:
        return len(self.all_hosts) > 1

    def scrub(self, text: str) -> str:
        """Remove the password from any text before it is shown."""
        return text.replace(self.password, "***") if self.password else text

    def with_settings(self, **changes: float | int | None) -> StoreURL:
        """A copy with the given settings changed; `None` values are ignored."""
        given = {k: v for k, v in changes.items() if v is not None}
        for key, value in given.items():
            if not math.isfinite(float(value)) or float(value) <= 0:
                raise InvalidStoreURL(f"{key} must be a positive number, got {value}")
        return replace(self, **given)  # type: ignore[arg-type]

    def dsn_kwargs(self) -> dict[str, str | int]:
        """Keyword arguments for `psycopg.connect`."""
        kwargs: dict[str, str | int] = {
            "host": ",".join(h for h, _ in self.all_hosts),
            "port": ",".join(str(p) for _, p in self.all_hosts),
            "user": self.user,
            "password": self.password,
            "dbname": self.dbname,
            "connect_timeout": max(1, round(self.connect_timeout)),
        }
        if self.target_session_attrs:
            kwargs["target_session_attrs"] = self.target_session_attrs
        return kwargs

    def with_target(self, target_session_attrs: str) -> StoreURL:
        """A copy that connects only to a server with `target_session_attrs` (libpq's)."""
        if target_session_attrs not in SESSION_ATTRS:
            raise InvalidStoreURL(
                f"target_session_attrs must be one of {', '.join(SESSION_ATTRS)}, "
                f"got {target_session_attrs!r}"
            )
        return replace(self, target_session_attrs=target_session_attrs)


@dataclass(frozen=True)
class StoreServer:
    """The server that writes go to: its host and port as libpq chose them from the host
    list, and whether it is the primary (a standby, or a demoted primary, is read-only)."""

    host: str
    port: int
    primary: bool

    def __str__(self) -> str:
        role = "primary" if self.primary else "read-only standby"
        return f"{self.host}:{self.port} ({role})"


def parse_store_url(url: str) -> StoreURL:
    """Parse a store URL, or raise `InvalidStoreURL` saying what is wrong with it."""
    if not isinstance(url, str) or "://" not in url:
        raise InvalidStoreURL(
            "store URL must look like sqlite:///path.db or postgresql://user@host:5432/db"
        )
    scheme = url.split("://", 1)[0].lower()
    backend = _SCHEMES.get(scheme)
    if backend is None:
        raise InvalidStoreURL(
            f"unsupported store URL scheme {scheme!r}; use sqlite:/// or postgresql://"
        )
    try:
        parts = urlsplit(url)
    except ValueError as e:
        raise InvalidStoreURL(f"malformed store URL: {_scrub_error(str(e), url)}") from None
    hosts = _hosts(parts.netloc.rpartition("@")[2], url) if backend == "postgres" else ()
    try:
        port = hosts[0][1] if hosts else parts.port
    except ValueError as e:
        raise InvalidStoreURL(f"malformed store URL: {_scrub_error(str(e), url)}") from None
    if port == 0:
        raise InvalidStoreURL("store URL port must be between 1 and 65535, got 0")
    settings = _settings(parts.query, backend)
    if backend == "sqlite":
        if parts.netloc:
            raise InvalidStoreURL("a sqlite URL has three slashes: sqlite:///path/to/ledger.db")
        path = unquote(parts.path[1:]) if parts.path.startswith("/") else ""
        if not path:
            raise InvalidStoreURL("sqlite URL needs a file: sqlite:///path/to/ledger.db")
        if path == ":memory:":
            memory_uri = f"file:deployledger-{uuid.uuid4().hex}?mode=memory&cache=shared"
            return StoreURL("sqlite", path=memory_uri, memory=True, **settings)  # type: ignore[arg-type]
        return StoreURL("sqlite", path=path, **settings)  # type: ignore[arg-type]
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname:
        raise InvalidStoreURL("postgresql URL needs a database: postgresql://user@host:5432/db")
    schema = str(settings.pop("schema", "public"))
    if not _SCHEMA_NAME.match(schema):
        raise InvalidStoreURL(f"schema must be a plain SQL identifier, got {schema!r}")
    target = str(settings.pop("target_session_attrs", ""))
    if target and target not in SESSION_ATTRS:
        raise InvalidStoreURL(
            f"target_session_attrs must be one of {', '.join(SESSION_ATTRS)}, got {target!r}"
        )
    first_host, first_port = hosts[0] if hosts else ("127.0.0.1", 5432)
    return StoreURL(
        "postgres",
        host=first_host,
        port=first_port,
        hosts=hosts if len(hosts) > 1 else (),
        target_session_attrs=target,
        user=unquote(parts.username) if parts.username else "postgres",
        password=unquote(parts.password) if parts.password else "",
        dbname=dbname,
        schema=schema,
        **settings,  # type: ignore[arg-type]
    )


def _hosts(netloc: str, url: str) -> tuple[tuple[str, int], ...]:
    """libpq's host list, `host[:port][,host[:port]...]` (IPv6 in brackets); an empty list
    means 127.0.0.1:5432. A host without a port takes 5432."""
    if not netloc:
        return ()
    found: list[tuple[str, int]] = []
    for item in netloc.split(","):
        match = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[^:\[\]]*)(?::([^:]*))?", item)
        if match is None or not match.group(1):
            shown = _scrub_error(item, url)
            raise InvalidStoreURL(f"malformed store URL: bad host {shown!r} in the host list")
        host, port_text = match.group(1).strip("[]"), match.group(2)
        if port_text is None or port_text == "":
            port = 5432
        elif port_text.isdigit() and int(port_text) == 0:
            raise InvalidStoreURL("store URL port must be between 1 and 65535, got 0")
        elif not port_text.isdigit() or int(port_text) > 65535:
            raise InvalidStoreURL(
                f"malformed store URL: port of {unquote(host)!r} must be a number "
                f"between 1 and 65535, got {port_text!r}"
            )
        else:
            port = int(port_text)
        found.append((unquote(host), port))
    return tuple(found)


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _settings(query: str, backend: str) -> dict[str, float | int | str]:
    out: dict[str, float | int | str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in _ALLOWED[backend]:
            allowed = ", ".join(sorted(_ALLOWED[backend]))
            raise InvalidStoreURL(f"unknown store URL setting {key!r}; known: {allowed}")
        if key in _NUMERIC:
            try:
                number = int(value) if key in _INTEGER else float(value)
            except ValueError:
                raise InvalidStoreURL(f"{key} must be a number, got {value!r}") from None
            if not math.isfinite(number) or number <= 0:
                raise InvalidStoreURL(f"{key} must be a positive number, got {value!r}")
            out[key] = number
        else:
            out[key] = value
    return out


def _scrub_error(text: str, url: str) -> str:
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    return text.replace(password, "***") if password else text
